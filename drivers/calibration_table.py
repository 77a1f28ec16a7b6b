"""A stored calibration: what the gun delivers for what it is commanded, as a table.

The gun keeps one table per axis in its configuration (depth in um, volume in nl) and both
sides of the wire evaluate it with this one function, so the host and the firmware agree to
the nanolitre on the drug a shot takes from the syringe and on whether a program stays inside
the clinical envelope.

A table is 2 to MAX_POINTS points (commanded, delivered), strictly increasing in both. Between
points it is a straight line; beyond the first and last points it runs on along the end
segments. A straight-line calibration is therefore exactly two points.

Integer evaluation (what the firmware does, and what docs/protocol.md specifies): with the
segment (c0, d0)-(c1, d1) that covers `c` (the first segment below c1 of the second point, the
last one above the second-to-last point),

    delivered(c) = d0 + round_half_away((c - c0) * (d1 - d0) / (c1 - c0)), at least 0.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass

MAX_POINTS = 6
"""Points per axis the gun stores: enough for a piecewise fit through ISO 8655's three
volumes and the envelope's ends."""
MAX_CORRECTION_PERCENT = 20
"""A point may lie this far from its commanded value (plus the axis's offset allowance):
the largest error a calibration may correct."""


class CalibrationTableError(ValueError):
    """A table the gun must not store: its field, value and limit say why."""

    def __init__(self, field: str, value: int, limit: int, reason: str) -> None:
        self.field, self.value, self.limit = field, value, limit
        super().__init__(f"{field} = {value}: {reason} (limit {limit})")


def _div_round(numerator: int, denominator: int) -> int:
    """numerator / denominator (denominator > 0) rounded to the nearest integer, halves away
    from zero: the same in C and Python, whatever the signs."""
    quotient = (2 * abs(numerator) + denominator) // (2 * denominator)
    return quotient if numerator >= 0 else -quotient


@dataclass(frozen=True)
class CalibrationTable:
    commanded: tuple[int, ...]
    delivered: tuple[int, ...]

    @classmethod
    def identity(cls, low: int, high: int) -> CalibrationTable:
        """A gun that delivers exactly what it is told: the line through (low, low), (high,
        high)."""
        return cls((low, high), (low, high))

    @classmethod
    def line(cls, gain: float, offset: float, low: int, high: int) -> CalibrationTable:
        """delivered = gain * commanded + offset, stored as its points at `low` and `high`."""
        return cls((low, high), (round(gain * low + offset), round(gain * high + offset)))

    def _segment(self, index: int) -> tuple[int, int, int, int]:
        i = max(1, min(len(self.commanded) - 1, index))
        return (self.commanded[i - 1], self.delivered[i - 1], self.commanded[i],
                self.delivered[i])

    def delivered_for(self, commanded: int) -> int:
        """The firmware's estimate, in device units, of what `commanded` delivers."""
        c0, d0, c1, d1 = self._segment(bisect_right(self.commanded, commanded))
        return max(0, d0 + _div_round((commanded - c0) * (d1 - d0), c1 - c0))

    def command_for(self, delivered: float) -> float:
        """The commanded value (device units, not rounded) that delivers `delivered`."""
        c0, d0, c1, d1 = self._segment(bisect_right(self.delivered, delivered))
        return c0 + (delivered - d0) * (c1 - c0) / (d1 - d0)

    def last_command(self, delivered_max: int, at_most: int) -> int:
        """The largest command up to `at_most` that delivers at most `delivered_max`, by the
        table's own integer arithmetic (the inverse alone can be a unit off either way): the
        limit the gun names when a program goes past the envelope's top."""
        command = min(at_most, math.floor(self.command_for(delivered_max)) + 2)
        while command > 0 and self.delivered_for(command) > delivered_max:
            command -= 1
        return command

    def first_command(self, delivered_min: int, at_least: int) -> int:
        """The smallest command from `at_least` that delivers at least `delivered_min`: the
        limit named below the envelope's bottom."""
        command = max(at_least, math.ceil(self.command_for(delivered_min)) - 2)
        while self.delivered_for(command) < delivered_min:
            command += 1
        return command

    def is_identity(self) -> bool:
        return self.commanded == self.delivered

    def check(self, axis: str, max_value: int, max_offset: int) -> None:
        """Refuse a table the gun must not store: too few or too many points, not strictly
        increasing, outside 0..max_value, or a point further from commanded than 20% plus
        `max_offset` (the largest error a calibration may correct; beyond it the gun needs a
        repair, not a calibration)."""
        count = len(self.commanded)
        if not 2 <= count <= MAX_POINTS or len(self.delivered) != count:
            raise CalibrationTableError(f"{axis}_cal_points", count, MAX_POINTS,
                                        f"a table has 2 to {MAX_POINTS} points")
        for index, (c, d) in enumerate(zip(self.commanded, self.delivered), start=1):
            for kind, value in (("commanded", c), ("delivered", d)):
                if not 0 <= value <= max_value:
                    raise CalibrationTableError(f"{axis}_cal_{kind}_{index}", value, max_value,
                                                "outside the axis range")
            allowed = c * MAX_CORRECTION_PERCENT // 100 + max_offset
            if abs(d - c) > allowed:
                raise CalibrationTableError(f"{axis}_cal_delivered_{index}", d, c + allowed
                                            if d > c else c - allowed,
                                            "further from commanded than a calibration may "
                                            "correct (20% plus the offset allowance)")
            if index > 1 and not (c > self.commanded[index - 2]
                                  and d > self.delivered[index - 2]):
                raise CalibrationTableError(f"{axis}_cal_commanded_{index}", c,
                                            self.commanded[index - 2],
                                            "points must increase in commanded and delivered")
