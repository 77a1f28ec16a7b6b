"""What the conformance suite raises; each carries the offending value."""

from __future__ import annotations

from typing import Any

from drivers.urls import PortURLError
from injector.errors import InjectorError


class ConformanceError(InjectorError):
    """Base of the conformance suite's errors."""


class CheckFailed(ConformanceError):
    """The gun broke a promise: the one-line reason a check reports."""

    def __init__(self, reason: str, value: Any = None) -> None:
        self.reason, self.value = reason, value
        super().__init__(reason)


class GunNotReady(ConformanceError):
    """The suite will not start on this gun as it is (an alarm latched, a run in progress,
    no answer at all); a person sorts it out first."""

    def __init__(self, reason: str, value: Any = None) -> None:
        self.value = value
        super().__init__(reason)


class MotionNotAllowed(PortURLError):
    """Checks that move the gun asked for on a real port without the consent flag: refused
    before the port opens, as a port that cannot be used is."""

    def __init__(self, port: str, checks: tuple[str, ...], flag: str) -> None:
        self.checks, self.flag = checks, flag
        super().__init__(port, f"checks {', '.join(checks)} home the gun and fire test shots: "
                               f"on a real gun give {flag} (mount a needle and a syringe of "
                               "saline or water and point the gun into a waste cup), or choose "
                               "only checks that do not move it with --check")
