"""Fixed little-endian payloads as frozen dataclasses: one struct format per message."""

from __future__ import annotations

import struct
from dataclasses import dataclass, fields
from functools import cache
from operator import attrgetter
from typing import ClassVar, Self

from drivers.errors import DriverError


class PayloadError(DriverError, ValueError):
    """A payload of the wrong length, or a value that does not fit its field."""


@dataclass(frozen=True)
class FieldLayout:
    """Where one field of a payload sits: what the docs' tables and the firmware's C header
    are rendered from, so neither can drift from the struct format."""

    name: str
    offset: int
    size: int
    kind: str
    """u8, u16, u32, i8, i16, i32, or text (ASCII, zero-padded to `size` bytes)."""

    @property
    def signed(self) -> bool:
        return self.kind.startswith("i")


_KINDS = {"B": ("u8", 1), "H": ("u16", 2), "I": ("u32", 4),
          "b": ("i8", 1), "h": ("i16", 2), "i": ("i32", 4)}


def field_layout(format: struct.Struct, names: tuple[str, ...]) -> tuple[FieldLayout, ...]:
    """Each field of a little-endian struct format, named in order, with its offset."""
    layout, offset, count = [], 0, ""
    named = iter(names)
    for code in format.format.lstrip("<"):
        if code.isdigit():
            count += code
            continue
        if code == "s":
            kind, size = "text", int(count)
        else:
            kind, size = _KINDS[code]
        layout.append(FieldLayout(next(named), offset, size, kind))
        offset += size
        count = ""
    if offset != format.size or next(named, None) is not None:
        raise ValueError(f"struct format {format.format!r} does not match names {names}")
    return tuple(layout)


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

    @classmethod
    @cache
    def layout(cls) -> tuple[FieldLayout, ...]:
        return field_layout(cls.FORMAT, cls.field_names())


@cache
def _getter(cls: type) -> attrgetter:
    return attrgetter(*cls.field_names())


def _values(payload: WireStruct) -> tuple:
    names = type(payload).field_names()
    if len(names) < 2:      # attrgetter returns a bare value for one name, fails for none
        return tuple(getattr(payload, name) for name in names)
    return _getter(type(payload))(payload)
