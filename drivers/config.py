"""The device configuration record: mechanics, syringe, limits and the stored calibration.

Read and written whole (READ_CONFIG / WRITE_CONFIG); its CRC-32 is the configuration hash the
device reports at IDENTIFY, so a host can tell that a gun's configuration changed.
"""

from __future__ import annotations

import math
import struct
import zlib
from dataclasses import dataclass, fields
from types import MappingProxyType

from drivers.mechanics import MechanicalLimits
from drivers.wire import WireStruct

PPM = 1_000_000


@dataclass(frozen=True)
class DeviceConfig(WireStruct):
    FORMAT = struct.Struct("<IIHIIHIIIIHHIiIiI")

    depth_steps_per_mm: int
    plunger_steps_per_mm: int
    syringe_bore_um: int
    syringe_capacity_nl: int
    dead_volume_nl: int
    depth_travel_um: int
    depth_speed_max_um_s: int
    depth_accel_um_s2: int
    plunger_speed_max_um_s: int
    plunger_accel_um_s2: int
    max_pressure_kpa: int
    watchdog_ms: int
    cal_depth_gain_ppm: int
    """Stored calibration: delivered = gain * commanded + offset, gain in parts per million."""
    cal_depth_offset_um: int
    cal_volume_gain_ppm: int
    cal_volume_offset_nl: int
    cal_time_s: int
    """Unix time the stored calibration was made (0: never calibrated)."""

    def config_hash(self) -> int:
        return zlib.crc32(self.pack())

    def mechanical_limits(self) -> MechanicalLimits:
        return MechanicalLimits(
            depth_travel_mm=self.depth_travel_um / 1000,
            depth_speed_max_mm_s=self.depth_speed_max_um_s / 1000,
            depth_accel_mm_s2=self.depth_accel_um_s2 / 1000,
            plunger_speed_max_mm_s=self.plunger_speed_max_um_s / 1000,
            plunger_accel_mm_s2=self.plunger_accel_um_s2 / 1000)

    @property
    def bore_area_mm2(self) -> float:
        return math.pi * (self.syringe_bore_um / 2000) ** 2

    def range_violation(self) -> tuple[str, int, int] | None:
        """The first field outside CONFIG_RANGES as (field, value, limit), or None."""
        for name, (low, high) in CONFIG_RANGES.items():
            value = getattr(self, name)
            if value < low:
                return name, value, low
            if value > high:
                return name, value, high
        return None


UNLOCK_KEYS = (0x55AA, 0xAA55)
"""The technician unlock, the same on every bridge: these two keys, in this order, open the
configuration for writing. It guards against a host writing the gun's calibration and limits
by mistake, not against someone who means to (that is the technician's role, on the host)."""
UNLOCK_S = 60.0
"""How long an unlock lasts."""

CONFIG_RANGES = MappingProxyType({
    # What the firmware accepts on WRITE_CONFIG; the host checks the same before sending.
    "depth_steps_per_mm": (100, 100_000),
    "plunger_steps_per_mm": (100, 100_000),
    "syringe_bore_um": (2_000, 30_000),
    "syringe_capacity_nl": (500_000, 10_000_000),
    "dead_volume_nl": (0, 1_000_000),
    "depth_travel_um": (5_000, 20_000),
    "depth_speed_max_um_s": (1_000, 500_000),
    "depth_accel_um_s2": (100_000, 100_000_000),
    "plunger_speed_max_um_s": (100, 100_000),
    "plunger_accel_um_s2": (10_000, 20_000_000),
    "max_pressure_kpa": (50, 2_000),
    "watchdog_ms": (50, 5_000),
    "cal_depth_gain_ppm": (800_000, 1_200_000),
    "cal_depth_offset_um": (-1_000, 1_000),
    "cal_volume_gain_ppm": (800_000, 1_200_000),
    "cal_volume_offset_nl": (-5_000, 5_000),
    "cal_time_s": (0, 0xFFFF_FFFF),
})
assert tuple(CONFIG_RANGES) == tuple(f.name for f in fields(DeviceConfig))


def factory_config(limits: MechanicalLimits = MechanicalLimits(), *,
                   syringe_bore_mm: float = 14.5, syringe_capacity_ml: float = 10.0,
                   dead_volume_ul: float = 80.0, cal_time_s: int = 0) -> DeviceConfig:
    """A gun as it leaves the factory: 10 ml syringe, 250 ms watchdog, 800 kPa occlusion
    limit, and an identity calibration stamped `cal_time_s`."""
    return DeviceConfig(
        depth_steps_per_mm=6400, plunger_steps_per_mm=6400,
        syringe_bore_um=round(syringe_bore_mm * 1000),
        syringe_capacity_nl=round(syringe_capacity_ml * 1_000_000),
        dead_volume_nl=round(dead_volume_ul * 1000),
        depth_travel_um=round(limits.depth_travel_mm * 1000),
        depth_speed_max_um_s=round(limits.depth_speed_max_mm_s * 1000),
        depth_accel_um_s2=round(limits.depth_accel_mm_s2 * 1000),
        plunger_speed_max_um_s=round(limits.plunger_speed_max_mm_s * 1000),
        plunger_accel_um_s2=round(limits.plunger_accel_mm_s2 * 1000),
        max_pressure_kpa=800, watchdog_ms=250,
        cal_depth_gain_ppm=PPM, cal_depth_offset_um=0, cal_volume_gain_ppm=PPM,
        cal_volume_offset_nl=0, cal_time_s=cal_time_s)
