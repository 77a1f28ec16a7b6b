"""The record: one SQLite file (WAL) of devices, calibrations, sessions, shots, alarms and
state changes. Append-only: triggers refuse UPDATE and DELETE, so what was recorded stays as
it was; an ending, an acknowledgement or a superseded calibration is a new row.

Every commit is durable (WAL, synchronous=FULL): it survives a power cut, not only a killed
process. A shot is reported only once committed, so a process killed at any moment leaves
every reported shot on disk; the next start records such a session as interrupted.

Group commit: a shot's row is committed as it is written, unless the last commit was less
than `group_commit_s` (50 ms) ago by the wall clock. A real gun cannot shoot that fast (its
shortest cycle is 55.6 ms), so on a gun every shot gets its own commit. Rows that do arrive
faster (a simulated gun in virtual time, a burst of replayed events after a reconnection)
share the next commit, which every other kind of row, the next shot after the window, and
closing the record make at once.
"""

from __future__ import annotations

import functools
import json
import math
import os
import sqlite3
import socket
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from injector.errors import InjectorError

DB_ENV = "INJECTOR_DB"
GROUP_COMMIT_S = 0.05
APPEND_ONLY = ("devices", "calibrations", "calibration_status", "sessions", "session_ends",
               "shots", "alarms", "alarm_acks", "state_changes")

MIGRATIONS: tuple[str, ...] = (
    # 1: the first schema.
    """
    CREATE TABLE devices (
        serial_number TEXT PRIMARY KEY, model TEXT NOT NULL, firmware TEXT NOT NULL,
        first_seen TEXT NOT NULL);
    CREATE TABLE calibrations (
        id INTEGER PRIMARY KEY, device_serial TEXT NOT NULL, kind TEXT NOT NULL,
        source TEXT NOT NULL, fit TEXT NOT NULL, points TEXT NOT NULL, person TEXT NOT NULL,
        created_at TEXT NOT NULL, expires_at TEXT, expires_after_shots INTEGER);
    CREATE TABLE calibration_status (
        id INTEGER PRIMARY KEY, calibration_id INTEGER NOT NULL REFERENCES calibrations(id),
        status TEXT NOT NULL, reason TEXT NOT NULL, person TEXT NOT NULL, at TEXT NOT NULL);
    CREATE TABLE sessions (
        id INTEGER PRIMARY KEY, device_serial TEXT NOT NULL, preset TEXT NOT NULL,
        zone TEXT NOT NULL, needle TEXT NOT NULL, syringe_ml REAL NOT NULL,
        planned_shots INTEGER NOT NULL, budget_ul REAL NOT NULL, dose_ul REAL NOT NULL,
        drug_loss_fraction REAL NOT NULL, calibration TEXT NOT NULL, started_at TEXT NOT NULL,
        host TEXT NOT NULL, pid INTEGER NOT NULL, plan TEXT NOT NULL);
    CREATE TABLE session_ends (
        session_id INTEGER PRIMARY KEY REFERENCES sessions(id), status TEXT NOT NULL,
        reason TEXT NOT NULL, ended_at TEXT NOT NULL, summary TEXT NOT NULL);
    CREATE TABLE shots (
        id INTEGER PRIMARY KEY, session_id INTEGER NOT NULL REFERENCES sessions(id),
        shot_index INTEGER NOT NULL, depth_um INTEGER NOT NULL, volume_nl INTEGER NOT NULL,
        commanded_nl INTEGER NOT NULL, peak_pressure_kpa INTEGER NOT NULL,
        interrupted INTEGER NOT NULL, device_time_ms INTEGER NOT NULL, recorded_at TEXT NOT NULL,
        UNIQUE (session_id, shot_index));
    CREATE TABLE alarms (
        id INTEGER PRIMARY KEY, session_id INTEGER REFERENCES sessions(id),
        device_serial TEXT NOT NULL, code INTEGER NOT NULL, name TEXT NOT NULL,
        shot_index INTEGER NOT NULL, value INTEGER NOT NULL, device_time_ms INTEGER NOT NULL,
        raised_at TEXT NOT NULL);
    CREATE TABLE alarm_acks (
        id INTEGER PRIMARY KEY, alarm_id INTEGER NOT NULL REFERENCES alarms(id),
        person TEXT NOT NULL, at TEXT NOT NULL);
    CREATE TABLE state_changes (
        id INTEGER PRIMARY KEY, session_id INTEGER REFERENCES sessions(id),
        device_serial TEXT NOT NULL, side TEXT NOT NULL, previous TEXT NOT NULL,
        state TEXT NOT NULL, cause TEXT NOT NULL, at TEXT NOT NULL);
    CREATE INDEX shots_by_session ON shots(session_id, shot_index);
    CREATE INDEX alarms_by_session ON alarms(session_id);
    """,
    # 2: the delivered estimate of each shot, and who ran each session.
    """
    ALTER TABLE shots ADD COLUMN delivered_nl INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE sessions ADD COLUMN person TEXT NOT NULL DEFAULT '';
    """,
)


def _append_only_triggers() -> str:
    return "\n".join(
        f"CREATE TRIGGER IF NOT EXISTS {t}_no_update BEFORE UPDATE ON {t} BEGIN "
        f"SELECT RAISE(ABORT, 'the record is append-only: {t} rows cannot change'); END;\n"
        f"CREATE TRIGGER IF NOT EXISTS {t}_no_delete BEFORE DELETE ON {t} BEGIN "
        f"SELECT RAISE(ABORT, 'the record is append-only: {t} rows cannot be deleted'); END;"
        for t in APPEND_ONLY)


class StoreError(InjectorError):
    """The record cannot be opened or written."""


def default_db_path() -> Path:
    if os.environ.get(DB_ENV):
        return Path(os.environ[DB_ENV])
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "injector" / "injector.db"


@functools.cache
def _insert_sql(table: str, columns: tuple[str, ...]) -> str:
    return (f"INSERT INTO {table} ({', '.join(columns)}) "
            f"VALUES ({', '.join('?' for _ in columns)})")


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class SessionRow:
    id: int
    device_serial: str
    preset: str
    zone: str
    needle: str
    started_at: str
    status: str
    shots_done: int
    volume_measured_ul: float


class Store:
    def __init__(self, path: Path | str | None = None, *,
                 group_commit_s: float = GROUP_COMMIT_S) -> None:
        self.path = Path(path) if path is not None else default_db_path()
        self.group_commit_s = group_commit_s
        self.uncommitted_shots = 0
        """Shot rows written since the last commit: not yet to be reported."""
        self._last_commit = -math.inf
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, isolation_level=None, timeout=10.0)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the record {self.path}: {exc}") from None
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute("PRAGMA foreign_keys=ON")
        self._migrate()
        self.close_orphans()

    # ---- schema --------------------------------------------------------------------------

    @property
    def schema_version(self) -> int:
        return self.db.execute("PRAGMA user_version").fetchone()[0]

    def _migrate(self) -> None:
        version = self.schema_version
        if version > len(MIGRATIONS):
            raise StoreError(f"the record {self.path} has schema version {version}, newer than "
                             f"this program's {len(MIGRATIONS)}")
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            # One transaction per migration, version bump included: all of it or none.
            self.db.executescript(f"BEGIN IMMEDIATE; {script}; PRAGMA user_version = {number}; "
                                  "COMMIT;")
        self.db.executescript(_append_only_triggers())

    def integrity_ok(self) -> bool:
        return self.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    def close(self) -> None:
        self.commit()
        self.db.close()

    def commit(self) -> None:
        """Make every row written so far durable."""
        if self.db.in_transaction:
            try:
                self.db.execute("COMMIT")
            except sqlite3.Error as exc:
                raise StoreError(f"cannot commit the record {self.path}: {exc}") from None
        self.uncommitted_shots = 0
        self._last_commit = time.monotonic()

    # ---- writes (committed at once; shot rows may share a commit) -------------------------

    def _insert(self, table: str, *, group: bool = False, **values: Any) -> int:
        try:
            if not self.db.in_transaction:
                self.db.execute("BEGIN")
            cursor = self.db.execute(_insert_sql(table, tuple(values)), tuple(values.values()))
        except sqlite3.Error as exc:
            raise StoreError(f"cannot record into {table}: {exc}") from None
        if group and time.monotonic() - self._last_commit < self.group_commit_s:
            self.uncommitted_shots += 1
        else:
            self.commit()
        return cursor.lastrowid

    def record_calibration(self, *, device_serial: str, kind: str, fit: dict, points: list,
                           person: str, expires_at: str | None,
                           expires_after_shots: int | None) -> int:
        """A new calibration becomes active; the one it supersedes gets a status row."""
        previous = self.active_calibration(device_serial, kind)
        calibration_id = self._insert(
            "calibrations", device_serial=device_serial, kind=kind, source="technician",
            fit=json.dumps(fit), points=json.dumps(points), person=person, created_at=now_iso(),
            expires_at=expires_at, expires_after_shots=expires_after_shots)
        if previous is not None:
            self.set_calibration_status(previous["id"], "superseded",
                                        f"superseded by calibration {calibration_id}", person)
        self.set_calibration_status(calibration_id, "active", "fit accepted", person)
        return calibration_id

    def set_calibration_status(self, calibration_id: int, status: str, reason: str,
                               person: str) -> None:
        self._insert("calibration_status", calibration_id=calibration_id, status=status,
                     reason=reason, person=person, at=now_iso())

    def calibrations(self, device_serial: str | None = None) -> list[dict]:
        rows = self.db.execute(
            "SELECT c.*, (SELECT status FROM calibration_status s WHERE s.calibration_id = c.id "
            "ORDER BY s.id DESC LIMIT 1) AS status FROM calibrations c "
            + ("WHERE c.device_serial = ? " if device_serial else "") + "ORDER BY c.id DESC",
            (device_serial,) if device_serial else ())
        out = []
        for row in rows:
            item = dict(row)
            item["fit"], item["points"] = json.loads(item["fit"]), json.loads(item["points"])
            item["shots_since"] = self.shots_since(item["device_serial"], item["created_at"])
            out.append(item)
        return out

    def calibration(self, calibration_id: int) -> dict:
        for item in self.calibrations():
            if item["id"] == calibration_id:
                return item
        raise StoreError(f"no calibration {calibration_id} in {self.path}")

    def active_calibration(self, device_serial: str, kind: str) -> dict | None:
        for item in self.calibrations(device_serial):
            if item["kind"] == kind and item["status"] == "active":
                return item
        return None

    def shots_since(self, device_serial: str, since_iso: str) -> int:
        return self.db.execute(
            "SELECT COUNT(*) FROM shots JOIN sessions ON sessions.id = shots.session_id "
            "WHERE sessions.device_serial = ? AND shots.recorded_at > ?",
            (device_serial, since_iso)).fetchone()[0]

    def record_device(self, serial_number: str, model: str, firmware: str) -> None:
        self.db.execute("INSERT OR IGNORE INTO devices VALUES (?, ?, ?, ?)",
                        (serial_number, model, firmware, now_iso()))
        self.commit()

    def start_session(self, *, device_serial: str, preset: str, zone: str, needle: str,
                      syringe_ml: float, planned_shots: int, budget_ul: float, dose_ul: float,
                      drug_loss_fraction: float, calibration: dict, plan: dict,
                      person: str = "") -> int:
        return self._insert(
            "sessions", device_serial=device_serial, preset=preset, zone=zone, needle=needle,
            syringe_ml=syringe_ml, planned_shots=planned_shots, budget_ul=budget_ul,
            dose_ul=dose_ul, drug_loss_fraction=drug_loss_fraction,
            calibration=json.dumps(calibration), started_at=now_iso(),
            host=socket.gethostname(), pid=os.getpid(), plan=json.dumps(plan), person=person)

    def end_session(self, session_id: int, status: str, reason: str, summary: dict) -> None:
        self._insert("session_ends", session_id=session_id, status=status, reason=reason,
                     ended_at=now_iso(), summary=json.dumps(summary))

    def record_shot(self, session_id: int, *, shot_index: int, depth_um: int, volume_nl: int,
                    commanded_nl: int, peak_pressure_kpa: int, interrupted: bool,
                    device_time_ms: int, delivered_nl: int = 0) -> None:
        self._insert("shots", group=True, session_id=session_id, shot_index=shot_index,
                     depth_um=depth_um, volume_nl=volume_nl, commanded_nl=commanded_nl,
                     delivered_nl=delivered_nl,
                     peak_pressure_kpa=peak_pressure_kpa, interrupted=int(interrupted),
                     device_time_ms=device_time_ms, recorded_at=now_iso())

    def record_alarm(self, session_id: int | None, device_serial: str, *, code: int, name: str,
                     shot_index: int, value: int, device_time_ms: int) -> int:
        return self._insert("alarms", session_id=session_id, device_serial=device_serial,
                            code=code, name=name, shot_index=shot_index, value=value,
                            device_time_ms=device_time_ms, raised_at=now_iso())

    def open_alarm(self, device_serial: str, code: int) -> int | None:
        """The newest recorded alarm of this gun and code that nobody acknowledged yet."""
        row = self.db.execute(
            "SELECT a.id FROM alarms a LEFT JOIN alarm_acks k ON k.alarm_id = a.id "
            "WHERE a.device_serial = ? AND a.code = ? AND k.id IS NULL "
            "ORDER BY a.id DESC LIMIT 1", (device_serial, code)).fetchone()
        return row[0] if row else None

    def record_ack(self, alarm_id: int, person: str) -> None:
        self._insert("alarm_acks", alarm_id=alarm_id, person=person, at=now_iso())

    def record_state(self, session_id: int | None, device_serial: str, side: str,
                     previous: str, state: str, cause: str) -> None:
        self._insert("state_changes", session_id=session_id, device_serial=device_serial,
                     side=side, previous=previous, state=state, cause=cause, at=now_iso())

    def close_orphans(self) -> list[int]:
        """Sessions whose process died without ending them are recorded as interrupted."""
        here = socket.gethostname()
        orphans = [row["id"] for row in self.db.execute(
            "SELECT s.id, s.pid, s.host FROM sessions s LEFT JOIN session_ends e "
            "ON e.session_id = s.id WHERE e.session_id IS NULL")
            if row["host"] == here and row["pid"] != os.getpid() and not _pid_alive(row["pid"])]
        for session_id in orphans:
            self.end_session(session_id, "interrupted", "the controller stopped without ending "
                             "the session (killed or crashed)", self.session_summary(session_id))
        return orphans

    # ---- reads ---------------------------------------------------------------------------

    def session_summary(self, session_id: int) -> dict:
        row = self.db.execute(
            "SELECT COUNT(*) AS shots, COALESCE(SUM(volume_nl), 0) AS measured, "
            "COALESCE(SUM(commanded_nl), 0) AS commanded, "
            "COALESCE(SUM(delivered_nl), 0) AS delivered, COALESCE(MAX(shot_index), 0) AS last "
            "FROM shots WHERE session_id = ?", (session_id,)).fetchone()
        alarms = [r["name"] for r in self.db.execute(
            "SELECT name FROM alarms WHERE session_id = ? ORDER BY id", (session_id,))]
        return {"shots_done": row["shots"], "volume_measured_ul": row["measured"] / 1000,
                "volume_commanded_ul": row["commanded"] / 1000,
                "volume_delivered_ul": row["delivered"] / 1000, "alarms": alarms}

    def session(self, session_id: int) -> dict:
        row = self.db.execute("SELECT * FROM sessions WHERE id = ?", (session_id,)).fetchone()
        if row is None:
            raise StoreError(f"no session {session_id} in {self.path}")
        end = self.db.execute("SELECT * FROM session_ends WHERE session_id = ?",
                              (session_id,)).fetchone()
        session = {k: row[k] for k in row.keys() if k not in ("plan", "calibration", "pid",
                                                               "host")}
        session["calibration"] = json.loads(row["calibration"])
        session["status"] = end["status"] if end else "running"
        session["ended_at"] = end["ended_at"] if end else None
        session["end_reason"] = end["reason"] if end else None
        session |= self.session_summary(session_id)
        session["volume_requested_ul"] = session["shots_done"] * row["dose_ul"]
        session["volume_to_skin_estimate_ul"] = (session["volume_delivered_ul"]
                                                 * (1 - row["drug_loss_fraction"]))
        return session

    def shots(self, session_id: int) -> list[dict]:
        return [dict(r) for r in self.db.execute(
            "SELECT shot_index, depth_um, volume_nl, commanded_nl, delivered_nl, peak_pressure_kpa, "
            "interrupted, device_time_ms, recorded_at FROM shots WHERE session_id = ? "
            "ORDER BY shot_index", (session_id,))]

    def alarms(self, session_id: int) -> list[dict]:
        return [dict(r) for r in self.db.execute(
            "SELECT a.id, a.code, a.name, a.shot_index, a.value, a.device_time_ms, a.raised_at, "
            "k.person AS acknowledged_by, k.at AS acknowledged_at FROM alarms a "
            "LEFT JOIN alarm_acks k ON k.alarm_id = a.id WHERE a.session_id = ? ORDER BY a.id",
            (session_id,))]

    def state_changes(self, session_id: int) -> list[dict]:
        return [dict(r) for r in self.db.execute(
            "SELECT side, previous, state, cause, at FROM state_changes WHERE session_id = ? "
            "ORDER BY id", (session_id,))]

    def history(self, limit: int = 50) -> list[SessionRow]:
        rows = self.db.execute(
            "SELECT s.id, s.device_serial, s.preset, s.zone, s.needle, s.started_at, "
            "COALESCE(e.status, 'running') AS status, "
            "(SELECT COUNT(*) FROM shots WHERE session_id = s.id) AS shots_done, "
            "(SELECT COALESCE(SUM(volume_nl), 0) FROM shots WHERE session_id = s.id) AS nl "
            "FROM sessions s LEFT JOIN session_ends e ON e.session_id = s.id "
            "ORDER BY s.id DESC LIMIT ?", (limit,))
        return [SessionRow(r["id"], r["device_serial"], r["preset"], r["zone"], r["needle"],
                           r["started_at"], r["status"], r["shots_done"], r["nl"] / 1000)
                for r in rows]
