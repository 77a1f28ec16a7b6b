"""The calibration seam: what to command so that the gun delivers what is planned.

A calibration fits delivered = gain * commanded + offset per axis; the planner inverts it
when it converts a target depth or volume to device units. The identity is a gun that
delivers exactly what it is told.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from typing import Protocol


class AxisCorrection(Protocol):
    def command_for(self, delivered: float) -> float:
        """The commanded value that delivers `delivered` (host units)."""
        ...


@dataclass(frozen=True)
class LinearCorrection:
    gain: float = 1.0
    offset: float = 0.0

    def command_for(self, delivered: float) -> float:
        return (delivered - self.offset) / self.gain


@dataclass(frozen=True)
class Correction:
    depth_mm: AxisCorrection = LinearCorrection()
    volume_ul: AxisCorrection = LinearCorrection()


IDENTITY = Correction()


@dataclass(frozen=True)
class PiecewiseCorrection:
    """Where a straight line does not fit: straight between measured points, and along the
    end segments beyond them."""

    commanded: tuple[float, ...]
    delivered: tuple[float, ...]

    def command_for(self, delivered: float) -> float:
        xs, ys = self.delivered, self.commanded
        index = max(1, min(len(xs) - 1, bisect_right(xs, delivered)))
        x0, x1, y0, y1 = xs[index - 1], xs[index], ys[index - 1], ys[index]
        return y0 + (delivered - x0) * (y1 - y0) / (x1 - x0)


def correction_from_fit(fit: dict) -> AxisCorrection:
    if fit["kind"] == "linear":
        return LinearCorrection(fit["gain"], fit["offset"])
    return PiecewiseCorrection(tuple(fit["commanded"]), tuple(fit["delivered"]))
