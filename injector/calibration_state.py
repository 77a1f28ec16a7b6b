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


TECHNICIAN_VALID_DAYS = 90
TECHNICIAN_VALID_SHOTS = 20_000


def in_force(store, serial_number: str, config: DeviceConfig,
             now: datetime | None = None) -> ActiveCalibration | None:
    """The technician's active calibrations where there are some, else the gun's own.

    A technician calibration of one kind (dose or depth) replaces that axis of the factory
    calibration; the result expires when its first part does (by date, or by shots fired
    since it was made)."""
    from injector.correction import correction_from_fit

    now = now or datetime.now(timezone.utc)
    factory = from_device_config(config)
    parts = {kind: store.active_calibration(serial_number, kind) for kind in ("dose", "depth")}
    if not any(parts.values()):
        return factory
    base = factory.correction if factory else Correction()
    depth = correction_from_fit(parts["depth"]["fit"]) if parts["depth"] else base.depth_mm
    volume = correction_from_fit(parts["dose"]["fit"]) if parts["dose"] else base.volume_ul
    expiries = [factory.expires_at] if factory and not all(parts.values()) else []
    made = []
    for part in filter(None, parts.values()):
        made.append(datetime.fromisoformat(part["created_at"]))
        if part["expires_at"]:
            expiries.append(datetime.fromisoformat(part["expires_at"]))
        limit = part["expires_after_shots"]
        if limit is not None and part["shots_since"] >= limit:
            expiries.append(now)
    return ActiveCalibration("technician", Correction(depth_mm=depth, volume_ul=volume),
                             max(made), min(expiries) if expiries else None)
