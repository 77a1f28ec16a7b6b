"""Fixed little-endian payloads as frozen dataclasses: one struct format per message."""

from __future__ import annotations

import struct
from dataclasses import fields
from functools import cache
from operator import attrgetter
from typing import ClassVar, Self

from drivers.errors import DriverError


class PayloadError(DriverError, ValueError):
    """A payload of the wrong length, or a value that does not fit its field."""


class WireStruct:
    """Mixin for frozen dataclasses whose fields map one to one onto FORMAT."""

    FORMAT: ClassVar[struct.Struct]

    def pack(self) -> bytes:
        try:
            return self.FORMAT.pack(*_values(self))
        except struct.error as exc:
            raise PayloadError(f"{type(self).__name__}: {exc}: {self!r}") from None

    @classmethod
    def unpack(cls, payload: bytes) -> Self:
        if len(payload) != cls.FORMAT.size:
            raise PayloadError(f"{cls.__name__} payload is {len(payload)} bytes, "
                               f"expected {cls.FORMAT.size}")
        return cls(*cls.FORMAT.unpack(payload))

    @classmethod
    @cache
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))  # type: ignore[arg-type]


@cache
def _getter(cls: type) -> attrgetter:
    return attrgetter(*cls.field_names())


def _values(payload: WireStruct) -> tuple:
    names = type(payload).field_names()
    if len(names) < 2:      # attrgetter returns a bare value for one name, fails for none
        return tuple(getattr(payload, name) for name in names)
    return _getter(type(payload))(payload)
