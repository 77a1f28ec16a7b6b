"""The record's schema: its tables, the migrations that build them, and the triggers that keep
every table append-only.

Migrations run in one exclusive transaction, the version read inside it, so any number of
processes may open a new or old record at once: the first migrates, the others find it done.
The file is marked as ours (PRAGMA application_id) so another program's database is never
taken for a record.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

APPLICATION_ID = 0x494E4A52
"""'INJR': PRAGMA application_id of every record this program writes."""
APPEND_ONLY = ("devices", "calibrations", "calibration_status", "sessions", "session_ends",
               "shots", "alarms", "alarm_acks", "state_changes", "record_gaps",
               "calibration_context", "verifications", "library_changes", "actions")
UNIQUE_KEYS: dict[str, tuple[tuple[str, ...], ...]] = {
    # Every key a new row could collide with, besides the rowid: INSERT OR REPLACE and
    # UPSERT would otherwise delete or rewrite the row it collides with.
    "devices": (("serial_number",),),
    "session_ends": (("session_id",),),
    "shots": (("session_id", "shot_index"),),
    "calibration_context": (("calibration_id",),),
}

V1 = """
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
"""

V2 = """
ALTER TABLE shots ADD COLUMN delivered_nl INTEGER NOT NULL DEFAULT 0;
ALTER TABLE shots ADD COLUMN boot_id INTEGER;
ALTER TABLE shots ADD COLUMN event_seq INTEGER;
ALTER TABLE shots ADD COLUMN recovered INTEGER NOT NULL DEFAULT 0;
ALTER TABLE alarms ADD COLUMN boot_id INTEGER;
ALTER TABLE alarms ADD COLUMN event_seq INTEGER;
ALTER TABLE alarms ADD COLUMN recovered INTEGER NOT NULL DEFAULT 0;
ALTER TABLE state_changes ADD COLUMN boot_id INTEGER;
ALTER TABLE state_changes ADD COLUMN event_seq INTEGER;
ALTER TABLE state_changes ADD COLUMN recovered INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN person TEXT NOT NULL DEFAULT '';
CREATE TABLE record_gaps (
    id INTEGER PRIMARY KEY, device_serial TEXT NOT NULL, session_id INTEGER
    REFERENCES sessions(id), reason TEXT NOT NULL, boot_id INTEGER, from_seq INTEGER,
    to_seq INTEGER, at TEXT NOT NULL);
CREATE INDEX device_events ON shots(boot_id, event_seq);
CREATE TABLE session_ends_v2 (
    id INTEGER PRIMARY KEY, session_id INTEGER NOT NULL UNIQUE REFERENCES sessions(id),
    status TEXT NOT NULL, reason TEXT NOT NULL, ended_at TEXT NOT NULL, summary TEXT NOT NULL);
INSERT INTO session_ends_v2 (session_id, status, reason, ended_at, summary)
    SELECT session_id, status, reason, ended_at, summary FROM session_ends ORDER BY rowid;
DROP TABLE session_ends;
ALTER TABLE session_ends_v2 RENAME TO session_ends;
"""
"""Version 2: what each shot delivered; the gun's boot and event number on every device row,
so the gun's event ring can be read back after a crash; recovered rows; who ran a session;
the gaps the record knows it has; session ends numbered in the order they were written (their
session id was their rowid, so the hash chain could not follow insertion); and (below) a
hash on every row."""


V3 = """
CREATE TABLE calibration_context (
    id INTEGER PRIMARY KEY, calibration_id INTEGER NOT NULL UNIQUE REFERENCES calibrations(id),
    conditions TEXT NOT NULL, instruments TEXT NOT NULL, replicates INTEGER NOT NULL,
    row_hash TEXT);
CREATE TABLE verifications (
    id INTEGER PRIMARY KEY, device_serial TEXT NOT NULL, session_id INTEGER
    REFERENCES sessions(id), person TEXT NOT NULL, created_at TEXT NOT NULL,
    calibrations TEXT NOT NULL, conditions TEXT NOT NULL, instruments TEXT NOT NULL,
    points TEXT NOT NULL, pass INTEGER NOT NULL, row_hash TEXT);
CREATE INDEX verifications_by_device ON verifications(device_serial, id)
"""
"""Version 3: what each calibration was measured with and under (instruments, temperature,
liquid), and every verification with its points and verdict. New tables rather than new
columns, so no row already hashed changes."""


V4 = """
CREATE TABLE library_changes (
    id INTEGER PRIMARY KEY, library_hash TEXT NOT NULL, version TEXT NOT NULL,
    text TEXT NOT NULL, diff TEXT NOT NULL, person TEXT NOT NULL, at TEXT NOT NULL,
    row_hash TEXT)
"""
"""Version 4: a clinic's library, signed: who, when, the whole file and the diff from the
one signed before it."""


V5 = """
CREATE TABLE actions (
    id INTEGER PRIMARY KEY, at TEXT NOT NULL, user TEXT NOT NULL, role TEXT NOT NULL,
    via TEXT NOT NULL, address TEXT, action TEXT NOT NULL, target TEXT,
    outcome TEXT NOT NULL, detail TEXT NOT NULL, row_hash TEXT);
CREATE INDEX actions_by_user ON actions(user, id)
"""
"""Version 5: every action taken through the service (and every user or key made on the
command line) with its user, role, how they signed in, from where, and what came of it."""


def _add_row_hashes(db: sqlite3.Connection) -> None:
    from injector.store.chain import rehash_table

    for table in APPEND_ONLY[:10]:
        db.execute(f"ALTER TABLE {table} ADD COLUMN row_hash TEXT")
        rehash_table(db, table)


MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (
    lambda db: _run_script(db, V1),
    lambda db: (_run_script(db, V2), _add_row_hashes(db)),
    lambda db: _run_script(db, V3),
    lambda db: _run_script(db, V4),
    lambda db: _run_script(db, V5),
)


def _run_script(db: sqlite3.Connection, script: str) -> None:
    for statement in filter(str.strip, script.split(";")):
        db.execute(statement)


def trigger_sql(table: str) -> dict[str, str]:
    """The triggers that keep `table` append-only, by name: no UPDATE, no DELETE, and no
    INSERT that collides with a row already there (which REPLACE or UPSERT would rewrite)."""
    collide = [f"EXISTS (SELECT 1 FROM {table} WHERE rowid = NEW.rowid)"]
    for key in UNIQUE_KEYS.get(table, ()):
        match = " AND ".join(f"{column} = NEW.{column}" for column in key)
        collide.append(f"EXISTS (SELECT 1 FROM {table} WHERE {match})")
    return {
        f"{table}_no_update": f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
                              f"BEGIN SELECT RAISE(ABORT, 'the record is append-only: {table} "
                              f"rows cannot change'); END",
        f"{table}_no_delete": f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
                              f"BEGIN SELECT RAISE(ABORT, 'the record is append-only: {table} "
                              f"rows cannot be deleted'); END",
        f"{table}_no_replace": f"CREATE TRIGGER {table}_no_replace BEFORE INSERT ON {table} "
                               f"WHEN {' OR '.join(collide)} BEGIN SELECT RAISE(ABORT, 'the "
                               f"record is append-only: {table} rows cannot be replaced'); END",
    }


def all_triggers() -> dict[str, str]:
    return {name: sql for table in APPEND_ONLY for name, sql in trigger_sql(table).items()}


def install_triggers(db: sqlite3.Connection) -> None:
    for name, sql in all_triggers().items():
        db.execute(f"DROP TRIGGER IF EXISTS {name}")
        db.execute(sql)


def drop_triggers(db: sqlite3.Connection) -> None:
    for name in all_triggers():
        db.execute(f"DROP TRIGGER IF EXISTS {name}")
    for old in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        db.execute(f"DROP TRIGGER IF EXISTS {old[0]}")


def migrate(db: sqlite3.Connection) -> None:
    """Bring the record to the current version in one exclusive transaction."""
    db.execute("BEGIN EXCLUSIVE")
    try:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version < len(MIGRATIONS):
            drop_triggers(db)
            for number, step in enumerate(MIGRATIONS[version:], start=version + 1):
                step(db)
                db.execute(f"PRAGMA user_version = {number}")
            install_triggers(db)
            db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
