"""The calibration seam: what to command so that the gun delivers what is asked, and what a
command delivers.

The correction is the gun's own stored calibration (one table per axis, in device units,
drivers/calibration_table.py): the host reads it at connect, plans through it, and estimates
with it exactly as the firmware does, so both sides agree on every shot's delivered volume.
"""

from __future__ import annotations

from dataclasses import dataclass

from drivers.calibration_table import CalibrationTable
from drivers.config import IDENTITY_DEPTH, IDENTITY_VOLUME, DeviceConfig


@dataclass(frozen=True)
class Correction:
    depth: CalibrationTable = IDENTITY_DEPTH
    """Commanded um -> delivered um."""
    volume: CalibrationTable = IDENTITY_VOLUME
    """Commanded nl -> delivered nl."""

    @classmethod
    def of(cls, config: DeviceConfig) -> Correction:
        return cls(depth=config.depth_table, volume=config.volume_table)

    def depth_command_mm(self, depth_mm: float) -> float:
        """The commanded depth (mm, unrounded) that reaches `depth_mm`."""
        return self.depth.command_for(depth_mm * 1000) / 1000

    def volume_command_ul(self, dose_ul: float) -> float:
        """The commanded volume (ul, unrounded) that delivers `dose_ul`."""
        return self.volume.command_for(dose_ul * 1000) / 1000

    def delivered_nl(self, commanded_nl: int) -> int:
        """The gun's estimate of what a stroke of `commanded_nl` delivers (the firmware's own
        arithmetic, so the host's figure and the gun's agree)."""
        return self.volume.delivered_for(commanded_nl) if commanded_nl > 0 else 0

    def delivered_depth_um(self, commanded_um: int) -> int:
        return self.depth.delivered_for(commanded_um)

    def is_identity(self) -> bool:
        return self.depth.is_identity() and self.volume.is_identity()


IDENTITY = Correction()
