"""The machine output: every JSON document the command line prints or writes, built here so
that each carries `schema_version` and one name per concept, as published in docs/schemas/:
a session is `session_id`, a gun is `serial_number`, an alarm's row is `alarm_id`."""

from __future__ import annotations

from dataclasses import fields
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

from drivers.codes import alarm_name
from drivers.messages import DeviceState, Identity, Status, StatusFlags
from injector.events import EndEvent, Event
from injector.planner import Plan
from injector.session import SessionResult
from injector.store import SessionRow, VerifyReport
from profiles import Preset
from profiles.library import Library, limit_rows

if TYPE_CHECKING:                       # the simulator is composed in by the command line
    from simulator.serve import ServedPorts

SCHEMA_VERSION = 1
"""Raised when a document changes incompatibly (a key renamed, removed or retyped); a new
key is not a new version."""

RECORD_NAMES = {"id": "session_id", "device_serial": "serial_number"}
"""The record's column names, as the documents name the same concepts."""
CALIBRATION_NAMES = {"id": "calibration_id", "device_serial": "serial_number"}


def _document(fields: dict) -> dict:
    return {"schema_version": SCHEMA_VERSION} | fields


def status(identity: Identity, status: Status) -> dict:
    """`injector status --json`: who the gun is and how it is."""
    flags = StatusFlags(status.flags)
    return _document({
        "serial_number": identity.serial_number, "model": identity.model,
        "firmware_version": identity.firmware_version,
        "protocol_version": identity.protocol_version,
        "config_hash": f"{identity.config_hash:08x}", "boot_id": f"{identity.boot_id:08x}",
        "state": DeviceState(status.state).name.lower(),
        "homed": StatusFlags.HOMED in flags,
        "needle_present": StatusFlags.NEEDLE_PRESENT in flags,
        "syringe_present": StatusFlags.SYRINGE_PRESENT in flags,
        "program_loaded": StatusFlags.PROGRAM_LOADED in flags,
        "alarms": [alarm_name(status.active_alarm)] if status.active_alarm else [],
        "alarm_count": status.alarm_count,
        "depth_mm": status.depth_um / 1000, "plunger_mm": status.plunger_um / 1000,
        "pressure_kpa": status.pressure_kpa, "shots_done": status.shots_done,
        "volume_measured_ul": status.volume_measured_nl / 1000,
        "volume_delivered_ul": status.volume_delivered_nl / 1000,
        "syringe_remaining_ul": status.syringe_remaining_nl / 1000,
    })


def plan(result: Plan, picture: Path | None = None, extra: dict | None = None) -> dict:
    """`injector plan --json`: the plan, the library it was checked against and the soft
    limits it passes."""
    return _document(result.summary() | ({"plot": str(picture)} if picture else {})
                     | (extra or {}))


def session_summary(result: SessionResult, picture: Path | None = None) -> dict:
    """`injector run --json` and `injector demo --json`: how the session ended, its volumes
    along the chain of quantities."""
    return _document(result.summary | ({"plot": str(picture)} if picture else {}))


def history(rows: list[SessionRow]) -> dict:
    """`injector history --json`: the recorded sessions, newest first."""
    return _document({"sessions": [{
        "session_id": row.id, "serial_number": row.device_serial, "preset": row.preset,
        "zone": row.zone, "needle": row.needle, "person": row.person,
        "started_at": row.started_at, "status": row.status, "shots_done": row.shots_done,
        "volume_delivered_ul": row.volume_delivered_ul,
        "override_reason": row.override_reason} for row in rows]})


def _named(row: dict, names: dict = RECORD_NAMES) -> dict:
    return {names.get(key, key): value for key, value in row.items()}


def session(record: dict, alarms: list[dict], state_changes: list[dict],
            gaps: list[dict]) -> dict:
    """`injector session show --json`: one recorded session, its alarms (with who
    acknowledged them), state changes and the gaps the record knows it has."""
    return _document(_named(record) | {
        "alarms": [{"alarm_id" if key == "id" else key: value for key, value in alarm.items()}
                   for alarm in alarms],
        "state_changes": state_changes, "gaps": gaps})


def session_export(record: dict, alarms: list[dict], state_changes: list[dict],
                   gaps: list[dict], shots: list[dict]) -> dict:
    """`injector session export --format json`: the session as `session show` gives it,
    and every shot."""
    return session(record, alarms, state_changes, gaps) | {"shots": shots}


def preset(preset: Preset) -> dict:
    """A technique preset as `presets --json` and `GET /api/v1/presets` list it."""
    return {
        "name": preset.name, "technique": preset.technique, "summary": preset.summary,
        "delivery": preset.delivery.value, "depth_mm": preset.depth_mm,
        "spacing_mm": preset.spacing_mm, "dose_ul": preset.dose_ul,
        "angle_deg": preset.angle_deg, "insert_speed_mm_s": preset.insert_speed_mm_s,
        "dispense_rate_ul_s": preset.dispense_rate_ul_s, "dwell_s": preset.dwell_s,
        "shot_rate_hz": preset.shot_rate_hz, "drug_loss_fraction": preset.drug_loss_fraction,
        "zones": list(preset.zones), "needles": list(preset.needles),
        "source": [{"seed": s.seed, "quote": s.quote} for s in preset.sources],
        "notes": preset.notes, "file": preset.path, "builtin": preset.builtin,
    }


def presets(listed: list[dict]) -> dict:
    """`injector presets --json`: the technique presets, by name."""
    return _document({"presets": listed})


def library(the_library: Library, signed: bool | None) -> dict:
    """`injector library --json`, `GET /api/v1/library`: the library in force, its version
    and hash, whether a clinic's file narrows it and whether that file is signed (`signed`
    None when there is no clinic file), and every limit with its source."""
    return _document({"version": the_library.version, "hash": the_library.hash,
                      "clinic": the_library.clinic_text is not None, "signed": signed,
                      "limits": limit_rows(the_library)})


def library_change(change: dict) -> dict:
    """`injector library --sign --json`, `POST /api/v1/library/sign`: a clinic's library
    signed, by whom, with the diff from the one signed before."""
    return _document({"change_id": change["id"], "version": change["version"],
                      "hash": change["library_hash"], "person": change["person"],
                      "at": change["at"], "diff": change["diff"]})


def overrides(items: list[dict]) -> dict:
    """`injector overrides --json`, `GET /api/v1/overrides`: every session that passed a
    soft limit or a contraindication, who took it and why, newest first."""
    return _document({"overrides": [_named(item) for item in items]})


def calibration_result(result: dict) -> dict:
    """`injector calibrate dose|depth --json`: the calibration recorded and stored on the
    gun: its fit, the measured points, its expiry."""
    return _document(result)


def verification(result: dict) -> dict:
    """`injector calibrate verify --json`: each point judged against its tolerance, and the
    calibration that was in force."""
    return _document(result)


def calibrations(items: list[dict]) -> dict:
    """`injector calibration list --json`: every recorded calibration, newest first."""
    return _document({"calibrations": [_named(item, CALIBRATION_NAMES) for item in items]})


def calibration(item: dict) -> dict:
    """`injector calibration show --json`: one recorded calibration."""
    return _document(_named(item, CALIBRATION_NAMES))


VERIFICATION_NAMES = {"id": "verification_id", "device_serial": "serial_number",
                      "created_at": "at"}


def verifications(items: list[dict]) -> dict:
    """`injector calibration verifications --json`, `GET /api/v1/verifications`: every
    recorded verification, newest first, with its points and verdict."""
    return _document({"verifications": [_named(item, VERIFICATION_NAMES) for item in items]})


def devices(guns: list[dict]) -> dict:
    """`injector devices --json`, `GET /api/v1/devices`: every gun the record knows, each
    axis's calibration and when it is due, and the last verification."""
    def one(gun: dict) -> dict:
        last = gun["last_verification"]
        return gun | {"last_verification": None if last is None else _named(
            last, VERIFICATION_NAMES)}
    return _document({"devices": [one(gun) for gun in guns]})


def alarms(latched: list[dict]) -> dict:
    """`injector alarm list --json`: a gun's latched alarms, with what to do."""
    return _document({"alarms": latched})


def acknowledgement(result: dict) -> dict:
    """`injector alarm ack --json`: what was acknowledged, by whom, and what stays."""
    return _document(result)


def record_check(path: Path, report: VerifyReport) -> dict:
    """`injector record verify --json`: whether the record is whole and unchanged, and the
    first thing that breaks it."""
    problem = report.problem
    return _document({"record": str(path), "intact": report.intact, "rows": report.rows,
                      "tables": report.tables,
                      "problem": None if problem is None else {
                          "table": problem.table, "row": problem.rowid, "what": problem.what}})


def event(happened: Event, started_s: float) -> dict:
    """One line of `injector run --events`: its type, its session (null before the session
    is recorded), when on the wall clock (`at`) and in seconds since the run started on the
    session's own clock (`elapsed_s`: virtual in tests), and what happened."""
    details = {f.name: getattr(happened, f.name) for f in fields(happened)
               if f.name not in ("session_id", "loop_s", "at")}
    details = {name: value.value if isinstance(value, Enum) else value
               for name, value in details.items()}
    if isinstance(happened, EndEvent):
        details["summary"] = _document(happened.summary)
    return _document({"type": happened.type.value, "session_id": happened.session_id,
                      "at": happened.at.isoformat(timespec="milliseconds"),
                      "elapsed_s": round(happened.loop_s - started_s, 3)} | details)


def error(kind: str, exit_code: int, message: str, *, value: object = None,
          limit: str | None = None, session_id: int | None = None,
          log: str | None = None) -> dict:
    """Under --json, an error on standard error instead of its line: what kind (the exit
    code's meaning), the line's message, and what it carries: the value refused and its
    limit, the session that ended, the log holding an unexpected error's trace."""
    carried = {"value": value, "limit": limit, "session_id": session_id, "log": log}
    return _document({"type": "error", "exit_code": exit_code, "kind": kind,
                      "message": message}
                     | {name: v for name, v in carried.items() if v is not None})


def sim_ready(ports: ServedPorts, pid: int) -> dict:
    """`injector sim --ready-file`: each port as the URL `--port` takes (the instruments as
    the paths `--balance` and `--gauge` take), None for a port not served. The RTU pty is
    8N1 (a pty has no parity to set, simulator/modbus_server.py), so its URL says so."""
    return _document({
        "serial_number": ports.serial_number,
        "pid": pid,
        "serial": ports.serial,
        "modbus_rtu": f"modbus-rtu://{ports.modbus_rtu}?parity=N" if ports.modbus_rtu else None,
        "modbus_tcp": f"modbus-tcp://{ports.modbus_tcp}" if ports.modbus_tcp else None,
        "balance": ports.balance,
        "gauge": ports.gauge,
    })
