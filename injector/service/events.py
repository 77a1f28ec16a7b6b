"""The service's events: numbered, kept in a bounded ring, and handed to each subscriber
through a bounded queue of its own.

Every event gets the next number (1, 2, 3, ...; numbers start again when the service
restarts, which the `service` id in each hello says). `publish` never waits: it appends to
the ring and offers the event to each subscriber's queue. A client that stopped reading is
dropped, so no client can slow the others or the guns: when a send to it cannot go out for
SEND_STALL_S (its socket's buffers are full), or when its queue is full. A client that
reconnects with `after=N` gets every event after N from the ring first, then the live ones,
with nothing missed or doubled in between (the ring is read and the subscription made in
one step of the loop); when N is older than the ring, from an earlier run, or newer than
this service's newest, it is told so (a `missed` notice) and gets what the ring holds.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum

RING_SIZE = 4096
"""About four minutes of a session at the gun's fastest, with its progress and syringe."""
CLIENT_QUEUE = 4096
"""Events waiting for one client (about a megabyte); more and it is dropped (it may
reconnect with after=N). Generous, because a commit of a hundred shots arrives at once."""
SEND_STALL_S = 5.0
"""A send to one client that cannot go out for this long (its socket's buffers are full:
it stopped reading) drops the client."""


class EventKind(Enum):
    STATE = "state"
    SHOT = "shot"
    ALARM = "alarm"
    ALARM_ACK = "alarm_ack"
    SYRINGE = "syringe"
    PROGRESS = "progress"
    SESSION = "session"
    LINK = "link"
    CALIBRATION = "calibration"
    VERIFICATION = "verification"


@dataclass(frozen=True)
class Event:
    seq: int
    kind: EventKind
    gun: str | None
    """The gun's serial number, when the event is of one gun."""
    loop_s: float
    data: dict
    text: str = field(default="", compare=False)
    """The event as JSON, made once for every subscriber."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "text", json.dumps(
            {"seq": self.seq, "type": self.kind.value, "gun": self.gun,
             "at": datetime.now(timezone.utc).isoformat(timespec="microseconds"),
             **self.data}, separators=(",", ":")))


class DropReason(Enum):
    QUEUE_FULL = "queue_full"
    STALLED = "stalled"
    CLOSED = "closed"


class Subscriber:
    """One client's queue of events to send."""

    def __init__(self, size: int) -> None:
        self.queue: asyncio.Queue[Event] = asyncio.Queue(size)
        self.dropped: DropReason | None = None
        self.gone = asyncio.Event()
        """Set when the hub drops this subscriber: its sender stops."""

    def offer(self, event: Event) -> bool:
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            return False
        return True

    def drop(self, reason: DropReason) -> None:
        if self.dropped is None:
            self.dropped = reason
            self.gone.set()


@dataclass(frozen=True)
class Missed:
    """What a resuming client cannot have: why, and where the ring starts now."""

    after: int
    oldest: int | None
    newest: int
    reason: str

    def notice(self, service_id: str) -> dict:
        return {"type": "missed", "after": self.after, "oldest": self.oldest,
                "newest": self.newest, "service": service_id, "reason": self.reason}


class EventHub:
    def __init__(self, ring_size: int = RING_SIZE, queue_size: int = CLIENT_QUEUE,
                 first: int | None = None) -> None:
        self.service_id = secrets.token_hex(4)
        self.queue_size = queue_size
        self._ring: deque[Event] = deque(maxlen=ring_size)
        self.first = first if first is not None else time.time_ns() // 1000
        """This run's first event number: the wall clock in microseconds when the service
        started, so a number from an earlier run is always below it (a client resuming
        across a restart is told so) and stays exact in a browser's numbers (< 2**53)."""
        self._seq = self.first - 1
        self._subscribers: set[Subscriber] = set()
        self.dropped = 0
        """Subscribers dropped for not reading, since the service started."""

    @property
    def newest(self) -> int:
        return self._seq

    @property
    def oldest(self) -> int | None:
        return self._ring[0].seq if self._ring else None

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def publish(self, kind: EventKind, gun: str | None, data: dict) -> Event:
        self._seq += 1
        event = Event(self._seq, kind, gun, asyncio.get_running_loop().time(), data)
        self._ring.append(event)
        for subscriber in list(self._subscribers):
            if not subscriber.offer(event):
                self._subscribers.discard(subscriber)
                subscriber.drop(DropReason.QUEUE_FULL)
                self.dropped += 1
        return event

    def subscribe(self, after: int | None) -> tuple[Subscriber, list[Event], Missed | None]:
        """A new subscriber, the events after `after` it must be sent first, and what it
        missed. No await: nothing can be published between the backlog and the live
        events."""
        backlog, missed = self.since(after) if after is not None else ([], None)
        subscriber = Subscriber(self.queue_size)
        self._subscribers.add(subscriber)
        return subscriber, backlog, missed

    def since(self, after: int) -> tuple[list[Event], Missed | None]:
        newest, oldest = self._seq, self.oldest
        if after > newest:
            return list(self._ring), Missed(after, oldest, newest, (
                f"event {after} is newer than this service's newest, {newest}: the service "
                "restarted since; read the state again (GET /api/v1/status)"))
        if after == 0:                  # from the beginning of this run
            after = self.first - 1
        if after < self.first - 1:
            return list(self._ring), Missed(after, oldest, newest, (
                f"event {after} is from an earlier run of the service (this run's events "
                f"begin at {self.first}); read the state again (GET /api/v1/status)"))
        if oldest is None or after >= newest:
            return [], None
        if after < oldest - 1:
            return list(self._ring), Missed(after, oldest, newest, (
                f"events {after + 1} to {oldest - 1} are no longer kept (the ring holds "
                f"{len(self._ring)}); read the state again (GET /api/v1/status)"))
        return list(self._ring)[after - oldest + 1:], None

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.discard(subscriber)
        subscriber.drop(DropReason.CLOSED)

    def stalled(self, subscriber: Subscriber) -> None:
        """The subscriber's client stopped reading (a send could not go out): dropped."""
        if subscriber in self._subscribers:
            self._subscribers.discard(subscriber)
            self.dropped += 1
        subscriber.drop(DropReason.STALLED)
