"""The record's committed rows, as events: what a live view shows is what a power cut would
leave (record first), in the order the record took it.

Each committed batch of rows becomes its events (a shot, an alarm, a state change, a
session's start and end, calibrations and verifications), then, once per batch, each
running session's progress and each gun's syringe figure when it changed: those two are
derived, so a burst of rows gives one of each, not one per row.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from drivers.codes import ALARMS, alarm_name
from injector.service.events import EventHub, EventKind
from injector.store import Store


@dataclass
class _Session:
    gun: str
    planned_shots: int
    delivered_nl: int = 0
    shots: int = 0


class RecordFeed:
    def __init__(self, store: Store, hub: EventHub,
                 syringe_ul: Callable[[str], float | None]) -> None:
        self.store, self.hub, self.syringe_ul = store, hub, syringe_ul
        self._running: dict[int, _Session] = {}
        self._alarm_guns: dict[int, str] = {}
        self._syringe: dict[str, float | None] = {}

    def on_rows(self, rows: list[tuple[str, dict]]) -> None:
        touched: dict[int, _Session] = {}
        guns: set[str] = set()
        for table, row in rows:
            handler = getattr(self, f"_{table}", None)
            if handler is not None:
                gun = handler(row, touched)
                if gun:
                    guns.add(gun)
        for session_id, session in touched.items():
            self.hub.publish(EventKind.PROGRESS, session.gun, {
                "session_id": session_id, "shots_done": self.store.committed_shots(session_id),
                "planned_shots": session.planned_shots,
                "delivered_ul": session.delivered_nl / 1000})
        for gun in sorted(guns):
            self.syringe_changed(gun)

    def syringe_changed(self, gun: str) -> None:
        """Publish the gun's syringe figure if it moved since the last one published."""
        figure = self.syringe_ul(gun)
        if figure is not None and self._syringe.get(gun) != figure:
            self._syringe[gun] = figure
            self.hub.publish(EventKind.SYRINGE, gun, {"remaining_ul": figure})

    def _gun_of_session(self, session_id: int | None) -> str | None:
        if session_id is None:
            return None
        if session_id in self._running:
            return self._running[session_id].gun
        row = self.store.db.execute("SELECT device_serial FROM sessions WHERE id = ?",
                                    (session_id,)).fetchone()
        return row[0] if row else None

    # ---- one handler per table: its event, and the gun it is of ---------------------------

    def _sessions(self, row: dict, touched) -> str:
        gun = row["device_serial"]
        self._running[row["id"]] = _Session(gun, row["planned_shots"])
        self.hub.publish(EventKind.SESSION, gun, {
            "session_id": row["id"], "status": "running", "preset": row["preset"],
            "zone": row["zone"], "needle": row["needle"], "person": row["person"],
            "planned_shots": row["planned_shots"], "dose_ul": row["dose_ul"]})
        return gun

    def _session_ends(self, row: dict, touched) -> str | None:
        gun = self._gun_of_session(row["session_id"])
        session = self._running.pop(row["session_id"], None)
        touched.pop(row["session_id"], None)
        summary = json.loads(row["summary"]) if row["summary"] else {}
        self.hub.publish(EventKind.SESSION, gun, {
            "session_id": row["session_id"], "status": row["status"], "reason": row["reason"],
            "shots_done": summary.get("shots_done", session.shots if session else None),
            "delivered_ul": summary.get("delivered_ul")})
        return gun

    def _shots(self, row: dict, touched) -> str | None:
        session_id = row["session_id"]
        gun = self._gun_of_session(session_id)
        self.hub.publish(EventKind.SHOT, gun, {
            "session_id": session_id, "shot_index": row["shot_index"],
            "depth_mm": row["depth_um"] / 1000, "delivered_ul": row["delivered_nl"] / 1000,
            "commanded_ul": row["commanded_nl"] / 1000,
            "measured_ul": row["volume_nl"] / 1000,
            "peak_pressure_kpa": row["peak_pressure_kpa"],
            "interrupted": bool(row["interrupted"]), "recovered": bool(row["recovered"])})
        session = self._running.get(session_id)
        if session is not None:
            session.shots += 1
            session.delivered_nl += row["delivered_nl"]
            touched[session_id] = session
        return gun

    def _alarms(self, row: dict, touched) -> str:
        gun = row["device_serial"]
        self._alarm_guns[row["id"]] = gun
        known = ALARMS.get(alarm_name(row["code"]))
        self.hub.publish(EventKind.ALARM, gun, {
            "alarm_id": row["id"], "code": f"0x{row['code']:04X}", "name": row["name"],
            "severity": known.severity.value if known else "stop",
            "text": known.text if known else "an alarm this program does not know",
            "action": known.action if known else "see the gun's manual, then acknowledge",
            "session_id": row["session_id"], "shot_index": row["shot_index"],
            "recovered": bool(row["recovered"])})
        return gun

    def _alarm_acks(self, row: dict, touched) -> str | None:
        gun = self._alarm_guns.get(row["alarm_id"])
        if gun is None:
            found = self.store.db.execute("SELECT device_serial FROM alarms WHERE id = ?",
                                          (row["alarm_id"],)).fetchone()
            gun = found[0] if found else None
        self.hub.publish(EventKind.ALARM_ACK, gun, {"alarm_id": row["alarm_id"],
                                                    "person": row["person"]})
        return gun

    def _state_changes(self, row: dict, touched) -> str:
        gun = row["device_serial"]
        self.hub.publish(EventKind.STATE, gun, {
            "side": row["side"], "previous": row["previous"], "state": row["state"],
            "cause": row["cause"], "session_id": row["session_id"],
            "recovered": bool(row["recovered"])})
        return gun

    def _calibrations(self, row: dict, touched) -> str:
        self.hub.publish(EventKind.CALIBRATION, row["device_serial"], {
            "calibration_id": row["id"], "kind": row["kind"], "status": "active",
            "person": row["person"]})
        return row["device_serial"]

    def _calibration_status(self, row: dict, touched) -> None:
        if row["status"] != "active":
            self.hub.publish(EventKind.CALIBRATION, None, {
                "calibration_id": row["calibration_id"], "status": row["status"],
                "reason": row["reason"], "person": row["person"]})

    def _verifications(self, row: dict, touched) -> str:
        self.hub.publish(EventKind.VERIFICATION, row["device_serial"], {
            "verification_id": row["id"], "pass": bool(row["pass"]),
            "person": row["person"]})
        return row["device_serial"]
