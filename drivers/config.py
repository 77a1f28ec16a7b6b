"""The device configuration record: mechanics, syringe, the clinical envelope, and the
stored calibration.

Read and written whole (READ_CONFIG / WRITE_CONFIG, or the Modbus configuration registers);
its CRC-32 is the configuration hash the device reports at IDENTIFY, so a host can tell that
a gun's configuration changed. Writing it is a technician's act (the unlock below).

The envelope is the product's hard limits as the gun itself enforces them: the firmware
refuses a program whose depth or dose, as its stored calibration says it will deliver, or
whose shot rate, falls outside. So a client talking straight to the gun (a PLC over Modbus)
cannot pass them either.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, fields, replace
from functools import cached_property
from types import MappingProxyType

from drivers.calibration_table import MAX_POINTS, CalibrationTable, CalibrationTableError
from drivers.mechanics import MechanicalLimits, bore_area_mm2
from drivers.wire import WireStruct

DAY_S = 86_400
FACTORY_VALID_DAYS = 365
"""A factory calibration is due again a year after it was made."""
DEPTH_AXIS_MAX_UM = 20_000
VOLUME_AXIS_MAX_NL = 200_000
DEPTH_CAL_OFFSET_UM = 1_000
VOLUME_CAL_OFFSET_NL = 5_000
"""The largest offset a calibration may correct beyond 20% of the commanded value."""


def _table_format(code: str) -> str:
    return code * (2 * MAX_POINTS)


@dataclass(frozen=True)
class DeviceConfig(WireStruct):
    FORMAT = struct.Struct("<IIHIIHIIIIHH" + "HHIIH" + "IIIIBB" + _table_format("H")
                           + _table_format("I"))

    depth_steps_per_mm: int
    plunger_steps_per_mm: int
    syringe_bore_um: int
    """Inner diameter of the syringe barrel."""
    syringe_capacity_nl: int
    dead_volume_nl: int
    depth_travel_um: int
    depth_speed_max_um_s: int
    depth_accel_um_s2: int
    plunger_speed_max_um_s: int
    plunger_accel_um_s2: int
    max_pressure_kpa: int
    watchdog_ms: int
    # -- the clinical envelope, in delivered units (through the stored calibration) --------
    min_depth_um: int
    max_depth_um: int
    min_dose_nl: int
    max_dose_nl: int
    min_shot_period_ms: int
    """The highest shot rate, as the shortest period between shot starts."""
    # -- the stored calibration: one table per axis (drivers/calibration_table.py) ---------
    depth_cal_time_s: int
    """Unix time the depth table was made (0: never calibrated)."""
    depth_cal_due_s: int
    """Unix time the depth table is due again."""
    volume_cal_time_s: int
    volume_cal_due_s: int
    depth_cal_points: int
    volume_cal_points: int
    depth_cal_commanded_um_1: int
    depth_cal_delivered_um_1: int
    depth_cal_commanded_um_2: int
    depth_cal_delivered_um_2: int
    depth_cal_commanded_um_3: int
    depth_cal_delivered_um_3: int
    depth_cal_commanded_um_4: int
    depth_cal_delivered_um_4: int
    depth_cal_commanded_um_5: int
    depth_cal_delivered_um_5: int
    depth_cal_commanded_um_6: int
    depth_cal_delivered_um_6: int
    volume_cal_commanded_nl_1: int
    volume_cal_delivered_nl_1: int
    volume_cal_commanded_nl_2: int
    volume_cal_delivered_nl_2: int
    volume_cal_commanded_nl_3: int
    volume_cal_delivered_nl_3: int
    volume_cal_commanded_nl_4: int
    volume_cal_delivered_nl_4: int
    volume_cal_commanded_nl_5: int
    volume_cal_delivered_nl_5: int
    volume_cal_commanded_nl_6: int
    volume_cal_delivered_nl_6: int

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
        return bore_area_mm2(self.syringe_bore_um / 1000)

    def envelope_host_units(self) -> dict[str, float]:
        """The stored clinical envelope in mm, ul and shots a second."""
        return {"min_depth_mm": self.min_depth_um / 1000,
                "max_depth_mm": self.max_depth_um / 1000,
                "min_dose_ul": self.min_dose_nl / 1000, "max_dose_ul": self.max_dose_nl / 1000,
                "shot_rate_max_hz": 1000 / self.min_shot_period_ms}

    # ---- the stored calibration ----------------------------------------------------------

    def _table(self, axis: str, unit: str) -> CalibrationTable:
        count = getattr(self, f"{axis}_cal_points")
        return CalibrationTable(
            tuple(getattr(self, f"{axis}_cal_commanded_{unit}_{i}") for i in range(1, count + 1)),
            tuple(getattr(self, f"{axis}_cal_delivered_{unit}_{i}") for i in range(1, count + 1)))

    # A configuration is frozen, so each table is built once: the firmware evaluates the
    # volume table twice a shot.

    @cached_property
    def depth_table(self) -> CalibrationTable:
        return self._table("depth", "um")

    @cached_property
    def volume_table(self) -> CalibrationTable:
        return self._table("volume", "nl")

    def with_depth_calibration(self, table: CalibrationTable, made_s: int,
                               due_s: int) -> DeviceConfig:
        return replace(self, depth_cal_time_s=made_s, depth_cal_due_s=due_s,
                       **_table_fields("depth", "um", table))

    def with_volume_calibration(self, table: CalibrationTable, made_s: int,
                                due_s: int) -> DeviceConfig:
        return replace(self, volume_cal_time_s=made_s, volume_cal_due_s=due_s,
                       **_table_fields("volume", "nl", table))

    def range_violation(self) -> tuple[str, int, int] | None:
        """The first field outside its range or inconsistent with the others, as (field,
        value, limit); None when the gun may store this configuration."""
        for name, (low, high) in CONFIG_RANGES.items():
            value = getattr(self, name)
            if value < low:
                return name, value, low
            if value > high:
                return name, value, high
        for name, value, limit in (
                ("max_depth_um", self.max_depth_um, self.depth_travel_um),
                ("min_depth_um", self.min_depth_um, self.max_depth_um),
                ("min_dose_nl", self.min_dose_nl, self.max_dose_nl),
                ("dead_volume_nl", self.dead_volume_nl, self.syringe_capacity_nl - 1)):
            if value > limit:
                return name, value, limit
        for axis, unit, axis_max, offset in (("depth", "um", DEPTH_AXIS_MAX_UM,
                                              DEPTH_CAL_OFFSET_UM),
                                             ("volume", "nl", VOLUME_AXIS_MAX_NL,
                                              VOLUME_CAL_OFFSET_NL)):
            count = getattr(self, f"{axis}_cal_points")
            for index in range(count + 1, MAX_POINTS + 1):
                for kind in ("commanded", "delivered"):
                    name = f"{axis}_cal_{kind}_{unit}_{index}"
                    if getattr(self, name):
                        return name, getattr(self, name), 0      # unused points are zero
            try:
                self._table(axis, unit).check(axis, axis_max, offset)
            except CalibrationTableError as exc:
                return _table_field_name(exc.field, unit), exc.value, exc.limit
        return None


def _table_fields(axis: str, unit: str, table: CalibrationTable) -> dict[str, int]:
    values = {f"{axis}_cal_points": len(table.commanded)}
    for index in range(1, MAX_POINTS + 1):
        used = index <= len(table.commanded)
        values[f"{axis}_cal_commanded_{unit}_{index}"] = table.commanded[index - 1] if used else 0
        values[f"{axis}_cal_delivered_{unit}_{index}"] = table.delivered[index - 1] if used else 0
    return values


def _table_field_name(field: str, unit: str) -> str:
    """CalibrationTable names a point `depth_cal_delivered_3`; the record calls it
    `depth_cal_delivered_um_3`."""
    head, _, index = field.rpartition("_")
    return f"{head}_{unit}_{index}" if index.isdigit() else field


UNLOCK_KEYS = (0x55AA, 0xAA55)
"""The technician unlock, the same on every bridge: these two keys, in this order, open the
configuration for writing. It guards against a host writing the gun's calibration and limits
by mistake, not against someone who means to (that is the technician's role, on the host)."""
UNLOCK_S = 60.0
"""How long an unlock lasts."""

_TABLE_RANGES = {
    **{f"depth_cal_{kind}_um_{i}": (0, DEPTH_AXIS_MAX_UM)
       for i in range(1, MAX_POINTS + 1) for kind in ("commanded", "delivered")},
    **{f"volume_cal_{kind}_nl_{i}": (0, VOLUME_AXIS_MAX_NL)
       for i in range(1, MAX_POINTS + 1) for kind in ("commanded", "delivered")},
}

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
    "min_depth_um": (200, DEPTH_AXIS_MAX_UM),
    "max_depth_um": (200, DEPTH_AXIS_MAX_UM),
    "min_dose_nl": (1_000, VOLUME_AXIS_MAX_NL),
    "max_dose_nl": (1_000, VOLUME_AXIS_MAX_NL),
    "min_shot_period_ms": (1, 60_000),
    "depth_cal_time_s": (0, 0xFFFF_FFFF),
    "depth_cal_due_s": (0, 0xFFFF_FFFF),
    "volume_cal_time_s": (0, 0xFFFF_FFFF),
    "volume_cal_due_s": (0, 0xFFFF_FFFF),
    "depth_cal_points": (2, MAX_POINTS),
    "volume_cal_points": (2, MAX_POINTS),
    **_TABLE_RANGES,
})
assert tuple(CONFIG_RANGES) == tuple(f.name for f in fields(DeviceConfig))

IDENTITY_DEPTH = CalibrationTable.identity(1_000, 13_000)
IDENTITY_VOLUME = CalibrationTable.identity(10_000, 100_000)
"""A gun that delivers what it is told, over the envelope's ranges."""


@dataclass(frozen=True)
class ClinicalEnvelope:
    """The product's hard limits in device units, as the factory stores them in every gun
    (profiles/envelope.py holds the same in host units; a test keeps the two equal)."""

    min_depth_um: int = 500
    max_depth_um: int = 13_000
    min_dose_nl: int = 10_000
    max_dose_nl: int = 100_000
    min_shot_period_ms: int = 50
    """20 shots per second: above the 9/s of the field's automated guns and the 15/s a
    superficial nappage run is held to, below the fastest mechanical cycle's rounding."""


def factory_config(limits: MechanicalLimits = MechanicalLimits(), *,
                   syringe_bore_mm: float = 14.5, syringe_capacity_ml: float = 10.0,
                   dead_volume_ul: float = 80.0, cal_time_s: int = 0,
                   envelope: ClinicalEnvelope = ClinicalEnvelope()) -> DeviceConfig:
    """A gun as it leaves the factory: 10 ml syringe, 250 ms watchdog, 800 kPa occlusion
    limit, the product's envelope, and identity tables stamped `cal_time_s` (0: never
    calibrated), due a year later."""
    due = cal_time_s + FACTORY_VALID_DAYS * DAY_S if cal_time_s else 0
    config = DeviceConfig(
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
        min_depth_um=envelope.min_depth_um, max_depth_um=envelope.max_depth_um,
        min_dose_nl=envelope.min_dose_nl, max_dose_nl=envelope.max_dose_nl,
        min_shot_period_ms=envelope.min_shot_period_ms,
        depth_cal_time_s=0, depth_cal_due_s=0, volume_cal_time_s=0, volume_cal_due_s=0,
        **_table_fields("depth", "um", IDENTITY_DEPTH),
        **_table_fields("volume", "nl", IDENTITY_VOLUME))
    return replace(config, depth_cal_time_s=cal_time_s, depth_cal_due_s=due,
                   volume_cal_time_s=cal_time_s, volume_cal_due_s=due)
