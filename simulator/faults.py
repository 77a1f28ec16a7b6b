"""Faults on demand: device faults tied to a shot, and link faults at a rate.

A device fault is named after the alarm it produces (drivers/codes.toml), so `occlusion@12`
blocks the line during shot 12 (counting from 1 since power-on) and the device raises alarm
`occlusion`. Without @SHOT the fault is present from the start.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from drivers.codes import ALARMS

DEVICE_FAULTS = frozenset({
    "occlusion", "motor_stall", "plunger_stall", "empty_syringe", "needle_removed",
    "syringe_removed", "watchdog", "home_failed", "link_degraded", "emergency_stop",
})
"""What each fault does: occlusion blocks the line; motor_stall and plunger_stall jam an
axis halfway through its move; empty_syringe leaves less than one dose; needle_removed and
syringe_removed pull the part; watchdog cuts the link (the device stops hearing the host for
LINK_SILENT_S); home_failed breaks the home switch; link_degraded corrupts a burst of frames;
emergency_stop presses the gun's own stop button."""
assert DEVICE_FAULTS <= set(ALARMS)

LINK_SILENT_S = 2.0


class FaultSpecError(ValueError):
    def __init__(self, spec: str, reason: str) -> None:
        self.spec = spec
        super().__init__(f"fault {spec!r}: {reason}")


MAX_FAULT_SHOT = 10_000_000
"""As many shots as one plan may hold."""


@dataclass(frozen=True)
class FaultAt:
    name: str
    shot: int | None
    """1-based shot number since power-on at which it strikes; None: from power-on."""

    @classmethod
    def parse(cls, spec: str) -> FaultAt:
        name, at, shot = spec.partition("@")
        if name not in DEVICE_FAULTS:
            raise FaultSpecError(spec, f"unknown fault {name!r} (known: "
                                       f"{', '.join(sorted(DEVICE_FAULTS))})")
        if not at:
            return cls(name, None)
        if not (shot.isascii() and shot.isdigit()) or not 1 <= int(shot) <= MAX_FAULT_SHOT:
            raise FaultSpecError(spec, f"shot {shot!r} must be a whole number from 1 to "
                                       f"{MAX_FAULT_SHOT:,}; NAME alone strikes at once")
        return cls(name, int(shot))


@dataclass
class FaultPlan:
    faults: list[FaultAt] = field(default_factory=list)

    @classmethod
    def parse(cls, specs: list[str]) -> FaultPlan:
        return cls([FaultAt.parse(s) for s in specs])

    def take(self, name: str, shot: int) -> bool:
        """True once when fault `name` is due at or before `shot`; it is then spent."""
        for fault in self.faults:
            if fault.name == name and (fault.shot is None or fault.shot <= shot):
                self.faults.remove(fault)
                return True
        return False

    def due(self, shot: int) -> bool:
        """Some fault would strike at or before `shot`."""
        return any(f.shot is None or f.shot <= shot for f in self.faults)

    def pending(self, name: str) -> bool:
        return any(f.name == name for f in self.faults)


@dataclass
class LinkFaults:
    """Per-frame misfortune on the wire, applied in both directions."""

    drop_rate: float = 0.0
    corrupt_rate: float = 0.0
    duplicate_rate: float = 0.0
    delay_rate: float = 0.0
    delay_s: float = 0.02
    seed: int = 1

    def __post_init__(self) -> None:
        for name in ("drop_rate", "corrupt_rate", "duplicate_rate", "delay_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise FaultSpecError(f"{name}={value!r}", "must be a probability from 0 to 1")
        self._rng = random.Random(self.seed)
        self.dropped = self.corrupted = self.duplicated = self.delayed = 0

    @property
    def active(self) -> bool:
        return any((self.drop_rate, self.corrupt_rate, self.duplicate_rate, self.delay_rate))

    def apply(self, frame: bytes) -> list[tuple[float, bytes]]:
        """What reaches the other end for one frame: (delay in seconds, bytes) pairs."""
        if not (self.drop_rate or self.corrupt_rate or self.delay_rate or self.duplicate_rate):
            return [(0.0, frame)]
        rng = self._rng
        if rng.random() < self.drop_rate:
            self.dropped += 1
            return []
        if rng.random() < self.corrupt_rate:
            self.corrupted += 1
            frame = self.corrupt(frame)
        delay = 0.0
        if rng.random() < self.delay_rate:
            self.delayed += 1
            delay = self.delay_s
        copies = [(delay, frame)]
        if rng.random() < self.duplicate_rate:
            self.duplicated += 1
            copies.append((delay, frame))
        return copies

    def corrupt(self, frame: bytes) -> bytes:
        data = bytearray(frame)
        index = self._rng.randrange(max(1, len(data) - 1))      # keep the delimiter
        data[index] ^= 1 << self._rng.randrange(8)
        return bytes(data)
