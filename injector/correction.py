"""The calibration seam: what to command so that the gun delivers what is planned.

A calibration fits delivered = gain * commanded + offset per axis; the planner inverts it
when it converts a target depth or volume to device units. The identity is a gun that
delivers exactly what it is told.
"""

from __future__ import annotations

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
