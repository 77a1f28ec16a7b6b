"""A bridge to a gun, as the driver core sees it: how commands, answers, events and keepalives
cross one kind of link (the framed serial protocol, Modbus RTU or TCP).

Everything every bridge promises the controller is written once, in drivers/core.py; a link
only carries messages. A third bridge is one more module implementing this interface.
"""

from __future__ import annotations

from typing import Protocol

from drivers.driver import LinkStats
from drivers.messages import Heartbeat, MsgType
from drivers.wire import WireStruct


class LinkSink(Protocol):
    """What a link tells the core, as it happens (on the loop, never from a thread)."""

    stats: LinkStats

    def on_event(self, seq: int, msg_type: int, payload: bytes) -> None:
        """An event frame or register slot, in whatever order the link met it."""

    def on_confirmed(self, sent_at: float) -> None:
        """An answer arrived to something sent at loop time `sent_at`: the gun heard us
        then, so its watchdog was fed then."""

    def on_keepalive(self, beat: Heartbeat) -> None:
        """The answer to a keepalive: the gun's state, newest event and boot."""

    def on_lost(self, exc: Exception | None) -> None:
        """The port or connection failed under the link."""


class Link(Protocol):
    name: str

    def bind(self, sink: LinkSink) -> None: ...

    @property
    def resend_s(self) -> float:
        """How soon an unanswered keepalive may be sent again on this link."""

    async def open(self) -> None:
        """Open (or reopen) the port or connection; TransportError or LinkTimeout. Until
        `identified()`, nothing but IDENTIFY may cross: a command retransmitted across a
        reconnection must not reach a gun the core has not recognised."""

    def identified(self) -> None:
        """The core recognised the gun: traffic may flow again."""

    def close(self) -> None: ...

    async def exchange(self, command: MsgType, payload: WireStruct, *, urgent: bool = False,
                       attempts: int | None = None) -> bytes:
        """Carry one command until it is answered, exactly once on the gun; the answer's
        body (as the serial protocol's OK carries it after the type byte), or DeviceError,
        LinkTimeout or LinkClosed."""

    def keepalive(self) -> None:
        """Start one keepalive exchange; its answer comes back through on_keepalive."""

    async def request_events(self, from_seq: int) -> None:
        """Have the gun's events from `from_seq` on delivered through on_event, oldest
        first; DeviceError events_lost when the gun no longer holds them."""
