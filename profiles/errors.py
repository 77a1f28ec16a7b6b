"""Errors raised for presets, zones and needles; each carries what was wrong and the limit.

The message is built here, once, for every error: one line of printable ASCII of at most
`MESSAGE_MAX_CHARS`, whatever the file, the value or the path held (see profiles.display).
The reason and the value come first in the budget; a long path is cut in its middle so that
its file name stays.
"""

from __future__ import annotations

from typing import Any

from profiles.display import MESSAGE_MAX_CHARS, clip_middle, escape, shown

_FIELD_MAX_CHARS = 40
_REASON_MAX_CHARS = 160
_SOURCE_MIN_CHARS = 40


class ProfileError(Exception):
    """A preset, zone, needle or override that cannot be used.

    `source` is the file (or "override", "request") the value came from, so a technician can
    find it; `field`, `value` and `limit` say what was wrong against what. They are kept
    whole for code; only the message is escaped and cut.
    """

    def __init__(self, reason: str, *, source: str | None = None, field: str | None = None,
                 value: Any = None, limit: Any = None) -> None:
        self.reason = reason
        self.source = source
        self.field = field
        self.value = value
        self.limit = limit
        super().__init__(self._message())

    def _subject(self) -> str:
        """What was wrong, before the reason: `field = value: `."""
        if not self.field:
            return ""
        return f"{escape(self.field, _FIELD_MAX_CHARS)} = {shown(self.value)}: "

    def _message(self) -> str:
        subject = self._subject()
        reason = escape(self.reason, _REASON_MAX_CHARS)
        where = ""
        if self.source:
            room = max(MESSAGE_MAX_CHARS - len(subject) - len(reason) - 2, _SOURCE_MIN_CHARS)
            where = f"{clip_middle(self.source, room)}: "
        return escape(where + subject + reason, MESSAGE_MAX_CHARS)


class PresetFileError(ProfileError):
    """A data file that does not parse or does not match the schema."""


class EnvelopeError(ProfileError):
    """A value outside the product's safety envelope, a zone's or a needle's limit."""


class PresetUseError(EnvelopeError):
    """A preset asked for on a zone or needle it is not for.

    Its reason says it all ("preset nappage-middle is not for zone eyelids; it is for ..."):
    a clinician who picked the wrong zone needs that first, not a field and a file.
    """

    def _subject(self) -> str:
        return ""


class UnknownNameError(ProfileError):
    """A preset, zone, needle or syringe that the catalog does not hold.

    With a `kind`, the message leads with the name: "unknown preset 'nappage-midle': did you
    mean nappage-middle?"; `field` then defaults to the kind.
    """

    def __init__(self, reason: str, *, kind: str | None = None, source: str | None = None,
                 field: str | None = None, value: Any = None, limit: Any = None) -> None:
        self.kind = kind
        super().__init__(reason, source=source, field=field or kind, value=value, limit=limit)

    def _subject(self) -> str:
        if self.kind is None:
            return super()._subject()
        return f"unknown {self.kind} {shown(self.value)}: "


class NameRuleError(ProfileError):
    """A name outside the names' alphabet (profiles.names), refused before any lookup."""

    def __init__(self, reason: str, *, kind: str, source: str | None = None,
                 field: str | None = None, value: Any = None, limit: Any = None) -> None:
        self.kind = kind
        super().__init__(reason, source=source, field=field or kind, value=value, limit=limit)

    def _subject(self) -> str:
        return f"{self.kind} name {shown(self.value)}: "
