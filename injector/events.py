"""What happens in a session, as typed events that any interface passes on (the command
line's `run --events` lines, a service's subscribers) without a second copy of the session's
logic: the controller publishes its state changes, the gun's alarms, syringe changes and
holds as they happen, each shot once the record has it (record first), and the end.

Shots wait for the record while the rest do not, so a shot's event can come after a state
or alarm event that happened after it; `shots_done` orders the shots.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import ClassVar

from drivers.codes import Severity

log = logging.getLogger("injector.events")


class EventType(Enum):
    STATE = "state"
    SHOT = "shot"
    ALARM = "alarm"
    REFILL = "refill"
    HOLD = "hold"
    END = "end"


@dataclass(frozen=True)
class Event:
    session_id: int | None
    """None before the session is in the record (connecting, checking the gun)."""
    loop_s: float
    """When, on the asyncio loop's clock: the clock the session runs by (virtual in tests)."""
    at: datetime
    """When, on the wall clock (UTC)."""

    type: ClassVar[EventType]


@dataclass(frozen=True)
class StateEvent(Event):
    """The controller's state machine moved (docs/state-machine.md)."""

    previous: str
    state: str
    cause: str
    type: ClassVar[EventType] = EventType.STATE


@dataclass(frozen=True)
class ShotEvent(Event):
    """The n-th shot of the session is in the record."""

    shots_done: int
    shot_index: int
    """The gun's own count since it powered up."""
    depth_mm: float
    delivered_ul: float
    session_delivered_ul: float
    """The session's delivered volume up to and including this shot."""
    syringe_remaining_ul: float
    interrupted: bool
    type: ClassVar[EventType] = EventType.SHOT


@dataclass(frozen=True)
class AlarmEvent(Event):
    """The gun raised an alarm; it stays latched until a person acknowledges it."""

    code: int
    name: str
    severity: Severity
    shot_index: int
    type: ClassVar[EventType] = EventType.ALARM


@dataclass(frozen=True)
class RefillEvent(Event):
    """A full new syringe was confirmed and the count goes on."""

    refills: int
    syringe_ul: float
    type: ClassVar[EventType] = EventType.REFILL


@dataclass(frozen=True)
class HoldEvent(Event):
    """The controller told the gun to hold: stop, retract, wait."""

    reason: str
    type: ClassVar[EventType] = EventType.HOLD


@dataclass(frozen=True)
class EndEvent(Event):
    """The session ended and its ending is in the record; always the last."""

    status: str
    reason: str
    summary: dict
    type: ClassVar[EventType] = EventType.END


Listener = Callable[[Event], None]


class Publisher:
    """Passes each event to every listener, in order, up to the session's end: nothing
    follows an EndEvent (the controller disconnecting after it is not the session's). A
    listener that fails (a reader that went away) is dropped and logged: it never stops a
    session halfway."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self._streams: list[EventStream] = []
        self.ended = False

    def add(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def stream(self, most: int = 100_000) -> EventStream:
        """The events from now on as an async iterator that ends after the EndEvent, or when
        no more can come (`finish`): what a Python program watching a session writes
        `async for event in ...` over."""
        stream = EventStream(self, most)
        self._streams.append(stream)
        return stream

    def finish(self) -> None:
        """No event will come: the session ended, was refused before it began, or the
        controller closed. Every stream ends once it has given what it holds."""
        self.ended = True
        for stream in self._streams:
            stream.end()
        self._streams.clear()

    def __bool__(self) -> bool:
        return bool(self._listeners) and not self.ended

    def publish(self, event: Event) -> None:
        if self.ended:
            return
        self.ended = isinstance(event, EndEvent)
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:           # noqa: BLE001 - the session goes on without it
                log.exception("event listener %r failed; dropped", listener)
                self._listeners.remove(listener)


class EventStream:
    """`async for event in controller.events.stream():` each event once, in order, ending
    after the session's EndEvent. Bounded: a reader that falls `most` events behind is
    dropped by the publisher (logged), never slowing the session; its iteration then ends
    with EventStreamOverflow."""

    def __init__(self, publisher: Publisher, most: int) -> None:
        self._queue: asyncio.Queue[Event] = asyncio.Queue(most)
        self._done = False
        self._ended = False
        self._overflowed = False
        publisher.add(self._put)

    def end(self) -> None:
        """Nothing more will come: iteration stops once the queue is read."""
        self._ended = True
        try:
            self._queue.put_nowait(_END)
        except asyncio.QueueFull:
            pass                        # a reader that far behind ends by overflow

    def _put(self, event: Event) -> None:
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self._overflowed = True
            raise

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> Event:
        if self._done:
            raise StopAsyncIteration
        if self._overflowed and self._queue.empty():
            raise EventStreamOverflow(self._queue.maxsize)
        if self._ended and self._queue.empty():
            self._done = True
            raise StopAsyncIteration
        event = await self._queue.get()
        if event is _END:
            self._done = True
            raise StopAsyncIteration
        self._done = isinstance(event, EndEvent)
        return event


_END = object()
"""What a stream is given when nothing more will come."""


class EventStreamOverflow(Exception):
    """A reader fell too far behind a session's events; it missed some."""

    def __init__(self, most: int) -> None:
        self.most = most
        super().__init__(f"the reader fell {most} events behind and was dropped")
