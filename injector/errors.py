"""Errors of the controller layer; each carries the offending value and the limit."""

from __future__ import annotations

from typing import Any


class InjectorError(Exception):
    """Base of the controller's own errors."""


class PlanError(InjectorError, ValueError):
    """A preset that cannot be turned into a program the gun can execute as asked."""

    def __init__(self, field: str, value: Any, limit: Any, reason: str) -> None:
        self.field = field
        self.value = value
        self.limit = limit
        super().__init__(f"{field} = {value!r}: {reason}")
