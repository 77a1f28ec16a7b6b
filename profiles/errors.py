"""Errors raised for presets, zones and needles; each carries what was wrong and the limit."""

from __future__ import annotations

from typing import Any


class ProfileError(Exception):
    """A preset, zone, needle or override that cannot be used.

    `source` is the file (or "override", "request") the value came from, so a technician can
    find it; `field`, `value` and `limit` say what was wrong against what.
    """

    def __init__(self, reason: str, *, source: str | None = None, field: str | None = None,
                 value: Any = None, limit: Any = None) -> None:
        self.reason = reason
        self.source = source
        self.field = field
        self.value = value
        self.limit = limit
        super().__init__(self._message())

    def _message(self) -> str:
        where = f"{self.source}: " if self.source else ""
        what = f"{self.field} = {self.value!r}: " if self.field else ""
        return f"{where}{what}{self.reason}"


class PresetFileError(ProfileError):
    """A data file that does not parse or does not match the schema."""


class EnvelopeError(ProfileError):
    """A value outside the product's safety envelope, a zone's or a needle's limit."""


class UnknownNameError(ProfileError):
    """A preset, zone or needle name that the catalog does not hold."""
