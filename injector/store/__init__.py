"""The record: one SQLite file (WAL) of devices, calibrations, sessions, shots, alarms and
state changes, which only this program writes, only by appending, with a hash on every row
chained to the one before (injector/store/chain.py), so whatever else changed it shows.

Writes go through one writer thread (injector/store/writer.py): a write returns a future at
once and is durable (WAL, synchronous=FULL) when the future resolves; nothing on the event
loop ever waits for the disk or for another process's lock. Reports follow commits:
`committed_shots(session)` and the commit listeners say what a power cut would leave. When a
write fails (disk full, I/O error, a lock held past the busy timeout, a read-only file) the
store stops, tells its failure listeners once, and every later write fails the same way: the
caller holds the gun.

Read-only commands open the record read-only: they never create it or its folder.
"""

from __future__ import annotations

import asyncio
import difflib
import json
import os
import socket
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from injector.errors import InjectorError
from injector.store.chain import GENESIS, chained, rows
from injector.store.schema import (
    APPEND_ONLY, APPLICATION_ID, MIGRATIONS, all_triggers, migrate,
)
from injector.store.writer import Writer

DB_ENV = "INJECTOR_DB"
BUSY_TIMEOUT_S = 10.0
"""How long a write waits for another process's lock before the record counts as failed."""
OUR_V1_TABLES = {"devices", "calibrations", "sessions", "shots", "alarms"}
READABLE_FROM = 2
"""Read-only commands read a record from this version on; tables newer than the record read
as empty (a record is migrated only by a command that writes)."""


class StoreError(InjectorError):
    """The record cannot be opened or written; says which file and why, in one line."""

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path, self.reason = path, reason
        super().__init__(f"the record {path}: {reason}")


class RecordRefused(StoreError):
    """A path that is not, and cannot become, a record of ours: refused before anything
    runs, the file left untouched."""


class NotInRecord(StoreError):
    """A session or calibration number the record does not hold."""

    def __init__(self, path: Path | str, kind: str, number: int) -> None:
        self.kind, self.number = kind, number
        super().__init__(path, f"no {kind} {number}")


def default_db_path() -> Path:
    if os.environ.get(DB_ENV):
        return Path(os.environ[DB_ENV])
    # The XDG specification: a relative XDG_DATA_HOME is invalid and is ignored.
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".local" / "share"
    return base / "injector" / "injector.db"


def check_record_path(path: Path, *, given: bool) -> None:
    """Refuse a record path that cannot be ours, before anything opens it: a path the user
    gave must be in a folder that exists (a typo is not a reason to create folders), and
    must not be another program's file."""
    if given and not path.parent.is_dir():
        raise RecordRefused(path, f"the folder {path.parent} does not exist; give a path in "
                                  "an existing folder")
    _check_ours(path)


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
    volume_delivered_ul: float
    person: str
    override_reason: str | None = None
    """Why soft limits or contraindications were passed, when they were."""


@dataclass(frozen=True)
class Problem:
    table: str
    rowid: int | None
    what: str


@dataclass(frozen=True)
class VerifyReport:
    rows: int
    tables: int
    problem: Problem | None
    """The first thing that breaks the record's guarantees, or None."""

    @property
    def intact(self) -> bool:
        return self.problem is None


def _check_ours(path: Path) -> None:
    """Refuse, before SQLite touches it, a file that is not a record of ours."""
    if not path.exists():
        return
    if not path.is_file():
        raise RecordRefused(path, "not a regular file")
    if path.stat().st_size == 0:
        return
    # Read through SQLite, never with open(): closing any descriptor of the file drops every
    # POSIX lock this process holds on it, the writer's included, and another process's
    # last close would then delete the write-ahead log under the writer (SQLite's "How To
    # Corrupt", 2.2). Read-only, SQLite writes nothing to a file that is not a database.
    try:
        probe = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True,
                                isolation_level=None)
        try:
            # One read transaction: a snapshot, not the mark from before another process's
            # migration and the tables from after it (which read as another program's file).
            probe.execute("BEGIN")
            application_id = probe.execute("PRAGMA application_id").fetchone()[0]
            version = probe.execute("PRAGMA user_version").fetchone()[0]
            tables = {row[0] for row in probe.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
        finally:
            probe.close()
    except sqlite3.Error as exc:
        if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_NOTADB:
            raise RecordRefused(path, "not an injector record (not a SQLite database); "
                                      "left untouched") from None
        raise StoreError(path, f"cannot be read: {exc}") from None
    if application_id == APPLICATION_ID:
        if version > len(MIGRATIONS):
            raise RecordRefused(path, f"schema version {version} is newer than this "
                                      f"program's {len(MIGRATIONS)}: update injector")
        return
    if application_id == 0 and (not tables or (OUR_V1_TABLES <= tables and version == 1)):
        return                          # new, or a record from before we marked ours
    raise RecordRefused(path, "another program's database, not an injector record; left "
                              "untouched")


class Store:
    def __init__(self, path: Path | str | None = None, *, readonly: bool = False,
                 busy_timeout_s: float = BUSY_TIMEOUT_S) -> None:
        self.path = Path(path) if path is not None else default_db_path()
        self.readonly = readonly
        self.failure: StoreError | None = None
        self._commit_listeners: list[Callable[[], None]] = []
        self._failure_listeners: list[Callable[[StoreError], None]] = []
        self._row_listeners: list[Callable[[list[tuple[str, dict]]], None]] = []
        self._committed_shots: Counter[int] = Counter()
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None
        self._writer: Writer | None = None
        _check_ours(self.path)
        if readonly:
            self._open_readonly()
        else:
            self._open_writable(busy_timeout_s)

    def _open_readonly(self) -> None:
        if not self.path.exists():
            raise StoreError(self.path, "no such file: nothing has been recorded there")
        try:
            self.db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True,
                                      isolation_level=None, timeout=BUSY_TIMEOUT_S)
            self.db.row_factory = sqlite3.Row
            self.db.execute("PRAGMA user_version").fetchone()
        except sqlite3.Error as exc:
            raise StoreError(self.path, f"cannot be read: {exc}") from None
        if self.schema_version == 0:
            raise RecordRefused(self.path, "not an injector record (empty); left untouched")
        if self.schema_version < READABLE_FROM:
            raise StoreError(self.path, f"schema version {self.schema_version} is older than "
                                        "this program reads: open it once for writing (a "
                                        "run or a calibration does; history does not)")

    def _open_writable(self, busy_timeout_s: float) -> None:
        deadline = time.monotonic() + busy_timeout_s
        while True:
            db = None
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                db = sqlite3.connect(self.path, isolation_level=None, timeout=busy_timeout_s)
                db.row_factory = sqlite3.Row
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=FULL")
                db.execute("PRAGMA foreign_keys=ON")
                migrate(db)
                self.db = db
                break
            except (OSError, sqlite3.Error) as exc:
                if db is not None:
                    db.close()
                # Switching a new file to WAL while another process migrates it is refused
                # at once rather than waited for: try again, within the busy timeout.
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise StoreError(self.path, f"cannot be opened for writing: {exc}") from None
                time.sleep(0.01)
        self._writer = Writer(self.path, busy_timeout_s, self._on_commit, self._on_failure)
        if self._writer.failure is not None:
            raise StoreError(self.path, f"cannot be written: {self._writer.failure}")
        self.close_orphans()

    # ---- schema --------------------------------------------------------------------------

    @property
    def schema_version(self) -> int:
        return self.db.execute("PRAGMA user_version").fetchone()[0]

    def integrity_ok(self) -> bool:
        return self.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    def verify(self) -> VerifyReport:
        """Every guarantee of the record, checked: ours, current, every append-only trigger
        in place as written, every table's chain whole. The first problem is named."""
        counted, problem = 0, None
        application_id = self.db.execute("PRAGMA application_id").fetchone()[0]
        if application_id != APPLICATION_ID:
            problem = Problem("-", None, f"application_id is {application_id}, not ours")
        elif self.schema_version != len(MIGRATIONS):
            problem = Problem("-", None, f"schema version {self.schema_version}, expected "
                                         f"{len(MIGRATIONS)}")
        if problem is None:
            triggers = {row[0]: row[1] for row in self.db.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")}
            for name, sql in all_triggers().items():
                if triggers.get(name) != sql:
                    table = name.rsplit("_no_", 1)[0]
                    problem = Problem(table, None, f"trigger {name} is "
                                                   f"{'missing' if name not in triggers else 'altered'}")
                    break
        for table in APPEND_ONLY:
            previous, expected_rowid = GENESIS, 1
            for rowid, row, stored in rows(self.db, table):
                counted += 1
                if problem is not None:
                    continue
                if rowid != expected_rowid:
                    problem = Problem(table, rowid, f"rows before it are missing (expected "
                                                    f"rowid {expected_rowid})")
                    continue
                previous = chained(previous, table, rowid, row)
                if stored != previous:
                    problem = Problem(table, rowid, "its content or the rows before it "
                                                    "changed: the hash chain breaks here")
                expected_rowid = rowid + 1
        return VerifyReport(rows=counted, tables=len(APPEND_ONLY), problem=problem)

    # ---- the writer ----------------------------------------------------------------------

    def add_commit_listener(self, listener: Callable[[], None]) -> None:
        self._commit_listeners.append(listener)

    def add_failure_listener(self, listener: Callable[[StoreError], None]) -> None:
        self._failure_listeners.append(listener)

    def add_row_listener(self, listener: Callable[[list[tuple[str, dict]]], None]) -> None:
        """`listener(rows)` gets each committed batch's (table, row) pairs, on the loop, in
        commit order: what a live view may show, since a power cut would leave it."""
        self._row_listeners.append(listener)

    def remove_listener(self, listener: Callable) -> None:
        """Stop calling `listener` (a commit, failure or row listener): a controller that
        closes must not hear of, or hold a gun for, a record it no longer writes."""
        for listeners in (self._commit_listeners, self._failure_listeners,
                          self._row_listeners):
            while listener in listeners:
                listeners.remove(listener)

    def committed_shots(self, session_id: int) -> int:
        """Shots of this session that this store has committed: what may be reported."""
        return self._committed_shots[session_id]

    def _in_loop(self, callback: Callable, *args) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(callback, *args)
                return
            except RuntimeError:
                pass
        callback(*args)

    def _on_commit(self, appended: list[tuple[str, dict]]) -> None:
        self._in_loop(self._committed, appended)

    def _committed(self, appended: list[tuple[str, dict]]) -> None:
        for table, row in appended:
            if table == "shots":
                self._committed_shots[row["session_id"]] += 1
        for listener in list(self._commit_listeners):
            listener()
        for listener in list(self._row_listeners):
            listener(appended)

    def _on_failure(self, exc: Exception) -> None:
        self.failure = StoreError(self.path, f"cannot be written: {exc}")
        self._in_loop(self._failed, self.failure)

    def _failed(self, error: StoreError) -> None:
        for listener in list(self._failure_listeners):
            listener(error)

    def _write(self, work: Callable) -> Future:
        if self._writer is None:
            raise StoreError(self.path, "opened read-only")
        future = self._writer.submit(work)
        return _StoreFuture.wrap(future, self)

    def append(self, table: str, **values: Any) -> Future:
        """One row, durable when the future resolves (with its row id)."""
        return self._write(lambda append: append(table, values))

    def flush(self, timeout: float | None = None) -> None:
        """Wait until every row written so far is durable; the failure, if it failed."""
        if self._writer is not None:
            self._writer.flush(timeout)
        if self.failure is not None:
            raise self.failure

    def close(self) -> None:
        if self._writer is not None:
            self._writer.flush()
            self._writer.close()
        self.db.close()

    # ---- writes (each a future of its row id) --------------------------------------------

    def record_calibration(self, *, device_serial: str, kind: str, fit: dict, points: list,
                           person: str, expires_at: str | None,
                           expires_after_shots: int | None, conditions: dict | None = None,
                           instruments: list | None = None, replicates: int = 0) -> Future:
        """A new calibration becomes active, with what it was measured with and under; the
        one it supersedes gets a status row; all in one transaction."""
        def work(append):
            previous = self._writer.db.execute(
                "SELECT c.id FROM calibrations c WHERE c.device_serial = ? AND c.kind = ? AND "
                "(SELECT status FROM calibration_status s WHERE s.calibration_id = c.id ORDER "
                "BY s.id DESC LIMIT 1) = 'active'", (device_serial, kind)).fetchone()
            calibration_id = append("calibrations", dict(
                device_serial=device_serial, kind=kind, source="technician",
                fit=json.dumps(fit), points=json.dumps(points), person=person,
                created_at=now_iso(), expires_at=expires_at,
                expires_after_shots=expires_after_shots))
            if previous is not None:
                append("calibration_status", dict(
                    calibration_id=previous[0], status="superseded",
                    reason=f"superseded by calibration {calibration_id}", person=person,
                    at=now_iso()))
            append("calibration_status", dict(calibration_id=calibration_id, status="active",
                                              reason="fit accepted", person=person,
                                              at=now_iso()))
            append("calibration_context", dict(
                calibration_id=calibration_id, conditions=json.dumps(conditions or {}),
                instruments=json.dumps(instruments or []), replicates=replicates))
            return calibration_id
        return self._write(work)

    def record_verification(self, *, device_serial: str, session_id: int | None, person: str,
                            calibrations: dict, conditions: dict | None, instruments: list,
                            points: list, passed: bool) -> Future:
        return self.append("verifications", device_serial=device_serial,
                           session_id=session_id, person=person, created_at=now_iso(),
                           calibrations=json.dumps(calibrations),
                           conditions=json.dumps(conditions or {}),
                           instruments=json.dumps(instruments), points=json.dumps(points),
                           **{"pass": int(passed)})

    def record_library_change(self, *, library_hash: str, version: str, text: str,
                              person: str) -> Future:
        """A clinic's library signed by a technician, with the diff from the last one; a
        library signed already (by another request at the same moment) keeps its first
        signature, whose id this answers."""
        def work(append):
            signed = self._writer.db.execute(
                "SELECT id FROM library_changes WHERE library_hash = ?",
                (library_hash,)).fetchone()
            if signed is not None:
                return signed[0]
            last = self._writer.db.execute(
                "SELECT text FROM library_changes ORDER BY id DESC LIMIT 1").fetchone()
            diff = "".join(difflib.unified_diff(
                (last[0] if last else "").splitlines(keepends=True),
                text.splitlines(keepends=True), "signed before", "signed now"))
            return append("library_changes", dict(library_hash=library_hash, version=version,
                                                   text=text, diff=diff, person=person,
                                                   at=now_iso()))
        return self._write(work)

    def library_changes(self) -> list[dict]:
        if not self._has_table("library_changes"):
            return []
        return [{k: row[k] for k in row.keys() if k != "row_hash"} for row in self.db.execute(
            "SELECT * FROM library_changes ORDER BY id DESC")]

    def library_signed(self, library_hash: str) -> bool:
        return self._has_table("library_changes") and self.db.execute(
            "SELECT 1 FROM library_changes WHERE library_hash = ?",
            (library_hash,)).fetchone() is not None

    def _has_table(self, name: str) -> bool:
        return self.db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                               (name,)).fetchone() is not None

    def verifications(self, device_serial: str | None = None) -> list[dict]:
        """Every verification, newest first, with its points and verdict."""
        if not self._has_table("verifications"):
            return []
        rows_ = self.db.execute(
            "SELECT * FROM verifications " + ("WHERE device_serial = ? " if device_serial
                                              else "") + "ORDER BY id DESC",
            (device_serial,) if device_serial else ())
        out = []
        for row in rows_:
            item = {k: row[k] for k in row.keys() if k != "row_hash"}
            for key in ("calibrations", "conditions", "instruments", "points"):
                item[key] = json.loads(item[key])
            item["pass"] = bool(item["pass"])
            out.append(item)
        return out

    def set_calibration_status(self, calibration_id: int, status: str, reason: str,
                               person: str) -> Future:
        return self.append("calibration_status", calibration_id=calibration_id, status=status,
                           reason=reason, person=person, at=now_iso())

    def record_device(self, serial_number: str, model: str, firmware: str) -> Future:
        """The gun, the first time the record meets it."""
        def work(append):
            known = self._writer.db.execute("SELECT rowid FROM devices WHERE serial_number = ?",
                                            (serial_number,)).fetchone()
            if known is not None:
                return known[0]
            return append("devices", dict(serial_number=serial_number, model=model,
                                          firmware=firmware, first_seen=now_iso()))
        return self._write(work)

    def start_session(self, *, device_serial: str, preset: str, zone: str, needle: str,
                      syringe_ml: float, planned_shots: int, budget_ul: float, dose_ul: float,
                      drug_loss_fraction: float, calibration: dict, plan: dict,
                      person: str = "") -> Future:
        return self.append(
            "sessions", device_serial=device_serial, preset=preset, zone=zone, needle=needle,
            syringe_ml=syringe_ml, planned_shots=planned_shots, budget_ul=budget_ul,
            dose_ul=dose_ul, drug_loss_fraction=drug_loss_fraction,
            calibration=json.dumps(calibration), started_at=now_iso(),
            host=socket.gethostname(), pid=os.getpid(), plan=json.dumps(plan), person=person)

    def end_session(self, session_id: int, status: str, reason: str, summary: dict) -> Future:
        return self.append("session_ends", session_id=session_id, status=status,
                           reason=reason, ended_at=now_iso(), summary=json.dumps(summary))

    def record_shot(self, session_id: int, *, shot_index: int, depth_um: int, volume_nl: int,
                    commanded_nl: int, peak_pressure_kpa: int, interrupted: bool,
                    device_time_ms: int, delivered_nl: int = 0, boot_id: int | None = None,
                    event_seq: int | None = None, recovered: bool = False) -> Future:
        return self.append("shots", session_id=session_id, shot_index=shot_index,
                           depth_um=depth_um, volume_nl=volume_nl, commanded_nl=commanded_nl,
                           delivered_nl=delivered_nl, peak_pressure_kpa=peak_pressure_kpa,
                           interrupted=int(interrupted), device_time_ms=device_time_ms,
                           recorded_at=now_iso(), boot_id=boot_id, event_seq=event_seq,
                           recovered=int(recovered))

    def record_alarm(self, session_id: int | None, device_serial: str, *, code: int, name: str,
                     shot_index: int, value: int, device_time_ms: int,
                     boot_id: int | None = None, event_seq: int | None = None,
                     recovered: bool = False) -> Future:
        return self.append("alarms", session_id=session_id, device_serial=device_serial,
                           code=code, name=name, shot_index=shot_index, value=value,
                           device_time_ms=device_time_ms, raised_at=now_iso(),
                           boot_id=boot_id, event_seq=event_seq, recovered=int(recovered))

    def record_ack(self, alarm_id: int | Future, person: str) -> Future:
        """A person's acknowledgement of an alarm (its row id, or the future of it)."""
        if isinstance(alarm_id, Future):
            alarm_id = alarm_id.result()
        return self.append("alarm_acks", alarm_id=alarm_id, person=person, at=now_iso())

    def record_state(self, session_id: int | None, device_serial: str, side: str,
                     previous: str, state: str, cause: str, *, boot_id: int | None = None,
                     event_seq: int | None = None, recovered: bool = False) -> Future:
        return self.append("state_changes", session_id=session_id,
                           device_serial=device_serial, side=side, previous=previous,
                           state=state, cause=cause, at=now_iso(), boot_id=boot_id,
                           event_seq=event_seq, recovered=int(recovered))

    def record_gap(self, device_serial: str, session_id: int | None, reason: str, *,
                   boot_id: int | None = None, from_seq: int | None = None,
                   to_seq: int | None = None) -> Future:
        """A part of a gun's history the record knows it does not hold, and why."""
        return self.append("record_gaps", device_serial=device_serial, session_id=session_id,
                           reason=reason, boot_id=boot_id, from_seq=from_seq, to_seq=to_seq,
                           at=now_iso())

    def record_action(self, *, user: str, role: str, via: str, address: str | None,
                      action: str, target: str | None, outcome: str,
                      detail: str = "") -> Future:
        """Who did what through the service (or the command line's user management), and
        what came of it: every action is recorded with its user."""
        return self.append("actions", at=now_iso(), user=user, role=role, via=via,
                           address=address, action=action, target=target, outcome=outcome,
                           detail=detail)

    def actions(self, limit: int = 100) -> list[dict]:
        """The newest recorded actions first."""
        if not self._has_table("actions"):
            return []
        return [{k: row[k] for k in row.keys() if k != "row_hash"} for row in self.db.execute(
            "SELECT * FROM actions ORDER BY id DESC LIMIT ?", (limit,))]

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
        self.flush()
        return orphans

    # ---- reads about devices -------------------------------------------------------------

    def open_alarm(self, device_serial: str, code: int) -> int | None:
        """The newest recorded alarm of this gun and code that nobody acknowledged yet."""
        row = self.db.execute(
            "SELECT a.id FROM alarms a LEFT JOIN alarm_acks k ON k.alarm_id = a.id "
            "WHERE a.device_serial = ? AND a.code = ? AND k.id IS NULL "
            "ORDER BY a.id DESC LIMIT 1", (device_serial, code)).fetchone()
        return row[0] if row else None

    def last_device_event(self, device_serial: str) -> tuple[int, int] | None:
        """(boot id, event number) of the newest event of this gun the record holds: where a
        read-back of the gun's event ring starts after a crash. The newest boot is the one
        recorded last; within it the newest number (numbers wrap at 65536)."""
        candidates = []
        for table, stamp, where in (
                ("shots", "t.recorded_at", "JOIN sessions s ON s.id = t.session_id "
                                           "WHERE s.device_serial = ?"),
                ("alarms", "t.raised_at", "WHERE t.device_serial = ?"),
                ("state_changes", "t.at", "WHERE t.device_serial = ? AND t.side = 'device'")):
            row = self.db.execute(
                f"SELECT {stamp}, t.boot_id, t.event_seq FROM {table} t {where} AND "
                "t.boot_id IS NOT NULL ORDER BY t.id DESC LIMIT 1", (device_serial,)).fetchone()
            if row is not None:
                candidates.append(tuple(row))
        if not candidates:
            return None
        boot = max(candidates)[1]
        seqs = [seq for _, b, seq in candidates if b == boot]
        newest = seqs[0]
        for seq in seqs[1:]:
            if 0 < (seq - newest) % 0x10000 < 0x8000:
                newest = seq
        return boot, newest

    def has_shot(self, session_id: int, shot_index: int) -> bool:
        return self.db.execute("SELECT 1 FROM shots WHERE session_id = ? AND shot_index = ?",
                               (session_id, shot_index)).fetchone() is not None

    def planned_volume_nl(self, session_id: int) -> int | None:
        """The commanded volume per shot of a session's program, as planned."""
        row = self.db.execute("SELECT plan FROM sessions WHERE id = ?", (session_id,)).fetchone()
        program = json.loads(row[0]).get("program", {}) if row else {}
        return program.get("volume_nl")

    def last_session(self, device_serial: str) -> int | None:
        row = self.db.execute("SELECT id FROM sessions WHERE device_serial = ? ORDER BY id DESC "
                              "LIMIT 1", (device_serial,)).fetchone()
        return row[0] if row else None

    def devices(self) -> list[dict]:
        """Every gun the record has met, with its last session."""
        rows_ = self.db.execute(
            "SELECT d.serial_number, d.model, d.firmware, d.first_seen, (SELECT MAX("
            "started_at) FROM sessions s WHERE s.device_serial = d.serial_number) AS "
            "last_session FROM devices d ORDER BY d.serial_number")
        return [dict(row) for row in rows_]

    def calibrations(self, device_serial: str | None = None) -> list[dict]:
        rows_ = self.db.execute(
            "SELECT c.*, (SELECT status FROM calibration_status s WHERE s.calibration_id = c.id "
            "ORDER BY s.id DESC LIMIT 1) AS status FROM calibrations c "
            + ("WHERE c.device_serial = ? " if device_serial else "") + "ORDER BY c.id DESC",
            (device_serial,) if device_serial else ())
        out = []
        for row in rows_:
            item = {k: row[k] for k in row.keys() if k != "row_hash"}
            item["fit"], item["points"] = json.loads(item["fit"]), json.loads(item["points"])
            item["shots_since"] = self.shots_since(item["device_serial"], item["created_at"])
            context = self.db.execute(
                "SELECT conditions, instruments, replicates FROM calibration_context WHERE "
                "calibration_id = ?", (item["id"],)).fetchone() if self._has_table(
                    "calibration_context") else None
            item["conditions"] = json.loads(context[0]) if context else {}
            item["instruments"] = json.loads(context[1]) if context else []
            item["replicates"] = context[2] if context else None
            out.append(item)
        return out

    def calibration(self, calibration_id: int) -> dict:
        for item in self.calibrations():
            if item["id"] == calibration_id:
                return item
        raise NotInRecord(self.path, "calibration", calibration_id)

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

    # ---- reads ---------------------------------------------------------------------------

    def session_summary(self, session_id: int) -> dict:
        row = self.db.execute(
            "SELECT COUNT(*) AS shots, COALESCE(SUM(volume_nl), 0) AS measured, "
            "COALESCE(SUM(commanded_nl), 0) AS commanded, "
            "COALESCE(SUM(delivered_nl), 0) AS delivered, COALESCE(MAX(shot_index), 0) AS last, "
            "COALESCE(SUM(recovered), 0) AS recovered "
            "FROM shots WHERE session_id = ?", (session_id,)).fetchone()
        alarms = [r["name"] for r in self.db.execute(
            "SELECT name FROM alarms WHERE session_id = ? ORDER BY id", (session_id,))]
        return {"shots_done": row["shots"], "volume_measured_ul": row["measured"] / 1000,
                "volume_commanded_ul": row["commanded"] / 1000,
                "volume_delivered_ul": row["delivered"] / 1000, "alarms": alarms,
                "recovered_shots": row["recovered"]}

    def session(self, session_id: int) -> dict:
        row = self.db.execute("SELECT * FROM sessions WHERE id = ?", (session_id,)).fetchone()
        if row is None:
            raise NotInRecord(self.path, "session", session_id)
        end = self.db.execute("SELECT * FROM session_ends WHERE session_id = ?",
                              (session_id,)).fetchone()
        session = {k: row[k] for k in row.keys() if k not in ("plan", "calibration", "pid",
                                                               "host", "row_hash")}
        session["calibration"] = json.loads(row["calibration"])
        plan = json.loads(row["plan"])
        for key in ("library", "checklist", "override"):
            session[key] = plan.get(key)
        session["status"] = end["status"] if end else "running"
        session["ended_at"] = end["ended_at"] if end else None
        session["end_reason"] = end["reason"] if end else None
        session |= self.session_summary(session_id)
        session["volume_requested_ul"] = session["shots_done"] * row["dose_ul"]
        session["volume_to_skin_estimate_ul"] = (session["volume_delivered_ul"]
                                                 * (1 - row["drug_loss_fraction"]))
        return session

    def overrides(self) -> list[dict]:
        """Every session that passed a soft limit or a contraindication: the report a clinic
        reviews (who, why, what), newest first."""
        out = []
        for row in self.db.execute("SELECT id, device_serial, preset, zone, started_at, "
                                   "person, plan FROM sessions ORDER BY id DESC"):
            override = json.loads(row["plan"]).get("override")
            if override:
                out.append({"session_id": row["id"], "device_serial": row["device_serial"],
                            "preset": row["preset"], "zone": row["zone"],
                            "started_at": row["started_at"], **override})
        return out

    def shots(self, session_id: int) -> list[dict]:
        return [dict(r) for r in self.db.execute(
            "SELECT shot_index, depth_um, volume_nl, commanded_nl, delivered_nl, "
            "peak_pressure_kpa, interrupted, recovered, device_time_ms, recorded_at FROM shots "
            "WHERE session_id = ? ORDER BY shot_index", (session_id,))]

    def alarms(self, session_id: int) -> list[dict]:
        return [dict(r) for r in self.db.execute(
            "SELECT a.id, a.code, a.name, a.shot_index, a.value, a.device_time_ms, a.raised_at, "
            "a.recovered, k.person AS acknowledged_by, k.at AS acknowledged_at FROM alarms a "
            "LEFT JOIN alarm_acks k ON k.alarm_id = a.id WHERE a.session_id = ? ORDER BY a.id",
            (session_id,))]

    def state_changes(self, session_id: int) -> list[dict]:
        return [dict(r) for r in self.db.execute(
            "SELECT side, previous, state, cause, at FROM state_changes WHERE session_id = ? "
            "ORDER BY id", (session_id,))]

    def history(self, limit: int = 50) -> list[SessionRow]:
        rows_ = self.db.execute(
            "SELECT s.id, s.device_serial, s.preset, s.zone, s.needle, s.started_at, s.person, "
            "s.plan, "
            "COALESCE(e.status, 'running') AS status, "
            "(SELECT COUNT(*) FROM shots WHERE session_id = s.id) AS shots_done, "
            "(SELECT COALESCE(SUM(delivered_nl), 0) FROM shots WHERE session_id = s.id) AS nl "
            "FROM sessions s LEFT JOIN session_ends e ON e.session_id = s.id "
            "ORDER BY s.id DESC LIMIT ?", (limit,))
        return [SessionRow(r["id"], r["device_serial"], r["preset"], r["zone"], r["needle"],
                           r["started_at"], r["status"], r["shots_done"], r["nl"] / 1000,
                           r["person"], (json.loads(r["plan"]).get("override") or {}).get(
                               "reason"))
                for r in rows_]

    def gaps(self, session_id: int) -> list[dict]:
        return [dict(r) for r in self.db.execute(
            "SELECT reason, boot_id, from_seq, to_seq, at FROM record_gaps WHERE session_id = ? "
            "ORDER BY id", (session_id,))]

async def written(write: Future) -> Any:
    """A record write's result once it is durable, awaited without blocking the loop.

    The wait goes through the loop's executor interface, so a virtual-time loop (looptime)
    sees a wait on another thread and waits for it in real time, as for any executor's work,
    before moving its clock (it moves on only when the write takes longer than most of the
    time to the next timer). Awaited with asyncio.wrap_future, the clock jumped from timer
    to timer at once while the disk worked: a session's time depended on the disk's speed."""
    return await asyncio.get_running_loop().run_in_executor(_WRITES, lambda: write)


class _QueuedWrites(Executor):
    """The executor of work already queued on the record's writer: `submit` hands back that
    write's future (see `written`)."""

    def submit(self, fn: Callable[[], Future], /, *args: Any, **kwargs: Any) -> Future:
        return fn(*args, **kwargs)


_WRITES = _QueuedWrites()


class _StoreFuture(Future):
    """A write's future whose failure is the store's one-line StoreError."""

    @classmethod
    def wrap(cls, inner: Future, store: Store) -> Future:
        outer = cls()

        def done(future: Future) -> None:
            error = future.exception()
            if error is None:
                outer.set_result(future.result())
            else:
                outer.set_exception(StoreError(store.path, f"cannot be written: {error}"))
        inner.add_done_callback(done)
        return outer
