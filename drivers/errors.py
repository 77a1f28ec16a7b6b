"""Errors of the bridge layer. Each carries the value and the limit (or the device's code)."""

from __future__ import annotations

from typing import Any


class DriverError(Exception):
    """Base of everything the drivers raise."""


class UnitRangeError(DriverError, ValueError):
    """A host value that does not fit its wire field: never truncated, always refused."""

    def __init__(self, field: str, value: Any, limit: Any, reason: str) -> None:
        self.field = field
        self.value = value
        self.limit = limit
        super().__init__(f"{field} = {value!r}: {reason}")


class DeviceError(DriverError):
    """The device's numbered refusal of a command: nothing was executed."""

    def __init__(self, command: str, code: int, name: str, field: str | None, value: int,
                 limit: int) -> None:
        self.command, self.code, self.name = command, code, name
        self.field, self.value, self.limit = field, value, limit
        detail = f"{field} = {value}, limit {limit}" if field else f"value {value}"
        super().__init__(f"device refused {command}: {name} (0x{code:04X}; {detail})")


class LinkTimeout(DriverError):
    """No answer after every retransmission: the device is absent or the link is dead."""

    def __init__(self, command: str, attempts: int, waited_s: float) -> None:
        self.command, self.attempts, self.waited_s = command, attempts, waited_s
        tries = "1 try" if attempts == 1 else f"{attempts} tries"
        super().__init__(f"no answer to {command} in {max(waited_s * 1000, 1):.0f} ms "
                         f"({tries}): check that the gun is on and connected, and that the "
                         f"port is the gun's")


class IncompatibleDevice(DriverError):
    """The device is not one this driver may talk to."""

    def __init__(self, field: str, value: object, expected: object) -> None:
        self.field, self.value, self.expected = field, value, expected
        super().__init__(f"incompatible device: {field} = {value!r}, expected {expected}")


class LinkClosed(DriverError):
    """The driver was closed, or the link was lost for good."""


class LinkLost(DriverError):
    """Nothing answered for too long, reconnection included: the session cannot go on."""

    def __init__(self, name: str, silent_s: float) -> None:
        self.name, self.silent_s = name, silent_s
        super().__init__(f"link lost: no answer from the gun on {name} for {silent_s:.1f} s "
                         "(cable, power or port); the gun's watchdog has stopped it")


class DifferentDevice(DriverError):
    """The port now leads to another gun (or one whose configuration changed)."""

    def __init__(self, expected: str, found: str, why: str = "") -> None:
        self.expected, self.found = expected, found
        super().__init__(f"a different gun answered: serial {found}, was {expected}"
                         if not why else f"gun {found}: {why}")


class DeviceRebooted(DriverError):
    """The gun answered with another boot id: it reset, and its counters and events began
    again. Never adopted mid-session."""

    def __init__(self, serial: str, was: int, now: int) -> None:
        self.serial, self.was, self.now = serial, was, now
        super().__init__(f"gun {serial} rebooted (boot id {now:08x}, was {was:08x}): its shot "
                         "counter and events began again")
