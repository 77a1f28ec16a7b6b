"""The conformance suite for gun firmware: the protocol's promises, checked through raw frames
against any gun on a serial port (`injector conformance`, docs/firmware.md)."""

from injector.conformance.checks import CHECK_NAMES, WATCHDOG_TOLERANCE_MS, Check
from injector.conformance.errors import CheckFailed, GunNotReady, MotionNotAllowed
from injector.conformance.runner import Report, run_suite, select

__all__ = ["CHECK_NAMES", "WATCHDOG_TOLERANCE_MS", "Check", "CheckFailed", "GunNotReady",
           "MotionNotAllowed", "Report", "run_suite", "select"]
