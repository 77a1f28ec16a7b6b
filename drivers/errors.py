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
