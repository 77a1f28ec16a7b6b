"""Which calibration is in force for a gun, and whether it still is.

A gun leaves the factory with a calibration stored in its configuration; the controller
reads it at connect and accepts it until it expires or a technician's calibration supersedes
it. A technician may also override an expired calibration explicitly; the override, its
reason and its author are recorded with the session.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from drivers.config import PPM, DeviceConfig
from injector.correction import Correction, LinearCorrection

FACTORY_VALID_DAYS = 365
"""A stored calibration is trusted for a year after it was made."""


@dataclass(frozen=True)
class ActiveCalibration:
    source: str
    """"factory" (stored in the gun) or "technician" (in the record)."""
    correction: Correction
    made_at: datetime
    expires_at: datetime | None

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and now >= self.expires_at

    def describe(self) -> dict:
        depth, volume = self.correction.depth_mm, self.correction.volume_ul
        return {"source": self.source, "made_at": self.made_at.isoformat(),
                "expires_at": self.expires_at.isoformat() if self.expires_at else None,
                "depth_gain": getattr(depth, "gain", None),
                "depth_offset_mm": getattr(depth, "offset", None),
                "volume_gain": getattr(volume, "gain", None),
                "volume_offset_ul": getattr(volume, "offset", None)}


def from_device_config(config: DeviceConfig,
                       valid_days: int = FACTORY_VALID_DAYS) -> ActiveCalibration | None:
    """The calibration stored in the gun, or None if it was never calibrated."""
    if config.cal_time_s == 0:
        return None
    made = datetime.fromtimestamp(config.cal_time_s, timezone.utc)
    correction = Correction(
        depth_mm=LinearCorrection(config.cal_depth_gain_ppm / PPM,
                                  config.cal_depth_offset_um / 1000),
        volume_ul=LinearCorrection(config.cal_volume_gain_ppm / PPM,
                                   config.cal_volume_offset_nl / 1000))
    return ActiveCalibration("factory", correction, made, made + timedelta(days=valid_days))
