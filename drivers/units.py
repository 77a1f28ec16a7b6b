"""Host units (mm, ul, s) to device integers (um, nl, ms) and back: the one place it happens.

Rounding is to the nearest device unit, ties to even (Python's round), so 0.0005 mm is 0 um
and 0.0015 mm is 2 um. A value that is not finite, is negative, or does not fit the wire
field's width is refused with the field and the limit; nothing is clamped.
"""

from __future__ import annotations

import math

from drivers.errors import UnitRangeError

U8_MAX = 0xFF
U16_MAX = 0xFFFF
U32_MAX = 0xFFFF_FFFF

UM_PER_MM = 1000
NL_PER_UL = 1000
MS_PER_S = 1000


def to_device(value: float, scale: int, field: str, max_device: int = U32_MAX) -> int:
    """`value` in host units times `scale`, rounded, checked against 0..max_device."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UnitRangeError(field, value, "a number", "must be a number")
    if not math.isfinite(value):
        raise UnitRangeError(field, value, "finite", "must be finite")
    device = round(value * scale)
    if device < 0:
        raise UnitRangeError(field, value, 0, "must not be negative")
    if device > max_device:
        raise UnitRangeError(field, value, max_device / scale,
                             f"above the wire field's maximum {max_device / scale:g}")
    return device


def mm_to_um(value_mm: float, field: str, max_um: int = U32_MAX) -> int:
    return to_device(value_mm, UM_PER_MM, field, max_um)


def ul_to_nl(value_ul: float, field: str, max_nl: int = U32_MAX) -> int:
    return to_device(value_ul, NL_PER_UL, field, max_nl)


def s_to_ms(value_s: float, field: str, max_ms: int = U32_MAX) -> int:
    return to_device(value_s, MS_PER_S, field, max_ms)


def um_to_mm(value_um: int) -> float:
    return value_um / UM_PER_MM


def nl_to_ul(value_nl: int) -> float:
    return value_nl / NL_PER_UL


def ms_to_s(value_ms: int) -> float:
    return value_ms / MS_PER_S
