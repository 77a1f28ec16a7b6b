"""Which calibration is in force for a gun, and whether it still is.

The calibration in force is the one the gun stores (one table per axis, with when it was
made and when it is due): the host plans through it and the firmware accounts with it, so it
lives in the one place both read. The record adds what the gun cannot know: which technician
calibration a table came from, the shots fired since (a calibration is also due after a
number of shots), and a technician's verdict that it is bad.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from drivers.calibration_table import CalibrationTable
from drivers.config import DeviceConfig
from injector.correction import Correction

TECHNICIAN_VALID_DAYS = 90
TECHNICIAN_VALID_SHOTS = 20_000
AXES = (("depth", "depth"), ("dose", "volume"))
"""(the record's kind, the configuration's axis)."""


def _time(seconds: int) -> datetime | None:
    return datetime.fromtimestamp(seconds, timezone.utc) if seconds else None


@dataclass(frozen=True)
class AxisCalibration:
    kind: str
    """"dose" or "depth"."""
    table: CalibrationTable
    made_at: datetime | None
    """None: the gun was never calibrated on this axis."""
    due_at: datetime | None
    record_id: int | None = None
    """The technician calibration in the record this table came from, if any."""
    record_status: str | None = None
    shots_since: int = 0
    shots_limit: int | None = None
    newer_record_id: int | None = None
    """A technician calibration in the record, of this gun and axis, newer than the table the
    gun holds: the gun lost it (reset, restored, or another gun behind the same serial)."""

    @property
    def source(self) -> str:
        return "technician" if self.record_id is not None else "gun"

    def problem(self, now: datetime) -> str | None:
        """Why this axis may not be used to treat, or None."""
        if self.made_at is None:
            return f"the gun has no {self.kind} calibration"
        if self.newer_record_id is not None:
            return (f"the gun holds an older {self.kind} calibration than calibration "
                    f"{self.newer_record_id} in the record (was it reset?): calibrate again, "
                    f"or mark {self.newer_record_id} bad")
        if self.record_status == "bad":
            return f"{self.kind} calibration {self.record_id} was marked bad"
        if self.due_at is not None and now >= self.due_at:
            return f"the {self.kind} calibration expired on {self.due_at:%Y-%m-%d}"
        if self.shots_limit is not None and self.shots_since >= self.shots_limit:
            return (f"the {self.kind} calibration is due after {self.shots_limit} shots "
                    f"({self.shots_since} fired since)")
        return None


@dataclass(frozen=True)
class ActiveCalibration:
    depth: AxisCalibration
    dose: AxisCalibration

    @property
    def correction(self) -> Correction:
        return Correction(depth=self.depth.table, volume=self.dose.table)

    @property
    def axes(self) -> tuple[AxisCalibration, AxisCalibration]:
        return self.dose, self.depth

    @property
    def source(self) -> str:
        sources = {axis.source for axis in self.axes}
        return sources.pop() if len(sources) == 1 else "technician and gun"

    @property
    def expires_at(self) -> datetime | None:
        dues = [axis.due_at for axis in self.axes if axis.due_at is not None]
        return min(dues) if dues else None

    def problem(self, now: datetime) -> str | None:
        for axis in self.axes:
            if (why := axis.problem(now)) is not None:
                return why
        return None

    def expired(self, now: datetime) -> bool:
        return self.problem(now) is not None

    def describe(self) -> dict:
        return {axis.kind: {
            "source": axis.source, "record_id": axis.record_id,
            "made_at": axis.made_at.isoformat() if axis.made_at else None,
            "due_at": axis.due_at.isoformat() if axis.due_at else None,
            "table": {"commanded": list(axis.table.commanded),
                      "delivered": list(axis.table.delivered)},
            "shots_since": axis.shots_since, "shots_limit": axis.shots_limit,
        } for axis in self.axes}


def _record_row(store, serial_number: str, kind: str, made_s: int,
                table: CalibrationTable) -> dict | None:
    """The technician calibration the gun's table was written from: same gun, same kind,
    same time stamp and the same points."""
    for item in store.calibrations(serial_number):
        stored = item["fit"].get("table")
        if (item["kind"] == kind and item["fit"].get("made_s") == made_s and stored
                and tuple(stored["commanded"]) == table.commanded
                and tuple(stored["delivered"]) == table.delivered):
            return item
    return None


def _newer_record(store, serial_number: str, kind: str, made_s: int) -> int | None:
    for item in store.calibrations(serial_number):
        if (item["kind"] == kind and item["status"] == "active"
                and item["fit"].get("made_s", 0) > made_s):
            return item["id"]
    return None


def in_force(store, serial_number: str, config: DeviceConfig) -> ActiveCalibration:
    """The gun's stored calibration, with what the record knows of it."""
    axes = {}
    for kind, axis in AXES:
        table = getattr(config, f"{axis}_table")
        made_s = getattr(config, f"{axis}_cal_time_s")
        row = _record_row(store, serial_number, kind, made_s, table) if made_s else None
        axes[kind] = AxisCalibration(
            kind=kind, table=table, made_at=_time(made_s),
            due_at=_time(getattr(config, f"{axis}_cal_due_s")),
            record_id=row["id"] if row else None, record_status=row["status"] if row else None,
            shots_since=row["shots_since"] if row else 0,
            shots_limit=row["expires_after_shots"] if row else None,
            newer_record_id=_newer_record(store, serial_number, kind, made_s))
    return ActiveCalibration(depth=axes["depth"], dose=axes["dose"])
