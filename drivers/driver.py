"""The Driver interface the controller talks to, whatever the bridge (serial, Modbus).

Values are in device units (the wire's integers); the controller converts. Every call that
commands the device either returns when the device accepted it or raises: DeviceError (the
device's numbered refusal), LinkTimeout (no answer after every retry) or LinkClosed.
Motion outcomes (shots, alarms, state changes) arrive through `events()`, in order, each
exactly once.
"""

from __future__ import annotations

import asyncio
import statistics
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Protocol

from drivers.config import DeviceConfig
from drivers.errors import DriverError
from drivers.messages import Event, Identity, Status
from drivers.program import ShotProgram

SUPPORTED_MODELS = frozenset({"MESO-GUN-S1"})


@dataclass
class LinkStats:
    commands: int = 0
    retransmits: int = 0
    timeouts: int = 0
    late_replies: int = 0
    """Replies to a command already answered (a retransmission crossed the first reply)."""
    frames_sent: int = 0
    frames_received: int = 0
    frames_bad: int = 0
    events: int = 0
    duplicate_events: int = 0
    replays: int = 0
    reconnects: int = 0
    keepalives: int = 0
    """Keepalive exchanges begun (heartbeats, or status reads on Modbus); their round trips
    are not in rtt_s, which is for commands."""
    rtt_s: deque = field(default_factory=lambda: deque(maxlen=10_000))

    def rtt_percentile_ms(self, fraction: float) -> float | None:
        if not self.rtt_s:
            return None
        ordered = sorted(self.rtt_s)
        index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
        return ordered[index] * 1000

    def summary(self) -> dict:
        return {
            "commands": self.commands, "retransmits": self.retransmits,
            "timeouts": self.timeouts, "late_replies": self.late_replies,
            "frames_sent": self.frames_sent, "frames_received": self.frames_received,
            "frames_bad": self.frames_bad, "events": self.events,
            "duplicate_events": self.duplicate_events, "replays": self.replays,
            "reconnects": self.reconnects, "keepalives": self.keepalives,
            "rtt_p50_ms": self.rtt_percentile_ms(0.5), "rtt_p99_ms": self.rtt_percentile_ms(0.99),
            "rtt_mean_ms": statistics.fmean(self.rtt_s) * 1000 if self.rtt_s else None,
        }


async def event_stream(queue: asyncio.Queue, on_yield=None) -> AsyncIterator[Event]:
    """A driver's events in order; an error put on the queue is raised to the reader, so a
    gap in the record or a lost link cannot pass unnoticed. Items may be (number, event):
    `on_yield(number)` is told the number of each event just before it is yielded."""
    while True:
        item = await queue.get()
        if isinstance(item, DriverError):
            raise item
        if isinstance(item, tuple):
            number, item = item
            if on_yield is not None:
                on_yield(number)
        yield item


class Driver(Protocol):
    identity: Identity | None
    stats: LinkStats
    event_seq: int | None
    """The gun's number of the event `events()` yielded last."""
    history_end: int | None
    """After connect(resume_from=...): the newest event the gun held at connect; events up
    to it are history (what happened before this connection), later ones are live."""
    history_gap: tuple[int, int] | None
    """After connect(resume_from=...): (first asked, oldest held) when the gun no longer
    held all of the history asked for."""

    async def connect(self, resume_from: Callable[[Identity], int | None] | None = None
                      ) -> Identity: ...
    async def home(self) -> None: ...
    async def load_program(self, program: ShotProgram) -> None: ...
    async def arm(self) -> None: ...
    async def disarm(self) -> None: ...
    async def fire(self, count: int) -> None: ...
    async def hold(self) -> None: ...
    async def resume(self) -> None: ...
    async def emergency_stop(self) -> None: ...
    async def acknowledge(self, alarm_code: int) -> None: ...
    async def prime(self, volume_nl: int) -> None: ...
    async def syringe_loaded(self, volume_nl: int) -> None: ...
    async def read_config(self) -> DeviceConfig: ...
    async def write_config(self, config: DeviceConfig) -> None: ...
    async def status(self) -> Status: ...
    def events(self) -> AsyncIterator[Event]: ...
    async def close(self) -> None: ...
