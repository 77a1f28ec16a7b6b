"""The record: durable before reported, written off the loop, append-only against any client,
tamper-evident, ours alone, and safe to open from many processes at once."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import resource
import signal
import sqlite3
import subprocess
import sys
import threading
from contextlib import contextmanager

import pytest

from injector.controller import Controller
from injector.session import run_session
from injector.store import Store, StoreError
from injector.store.schema import MIGRATIONS, APPEND_ONLY, APPLICATION_ID, V1
from tests.conftest import CHECKLIST, REPO, run_cli
from tests.rig import treatment, CATALOG, make_rig


def committed_shots(path) -> int:
    """What another process (or the disk after a power cut) sees."""
    with sqlite3.connect(path) as other:
        return other.execute("SELECT COUNT(*) FROM shots").fetchone()[0]


def a_session(store: Store) -> int:
    return store.start_session(device_serial="SIM-1", preset="nappage-superficial",
                               zone="face", needle="32g-4mm", syringe_ml=10.0,
                               planned_shots=3, budget_ul=30.0, dose_ul=10.0,
                               drug_loss_fraction=0.5, calibration={}, plan={}).result()


def shot(store: Store, session_id: int, index: int):
    return store.record_shot(session_id, shot_index=index, depth_um=1000, volume_nl=10_000,
                             commanded_nl=10_000, peak_pressure_kpa=20, interrupted=False,
                             device_time_ms=index * 125, boot_id=7, event_seq=index)


class LockHolder:
    """Another process's write lock on the record, held until released."""

    def __init__(self, path) -> None:
        self.held, self.release = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._hold, args=(path,), daemon=True)
        self._thread.start()
        self.held.wait()

    def _hold(self, path) -> None:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        self.held.set()
        self.release.wait()
        other.execute("ROLLBACK")
        other.close()

    def stop(self) -> None:
        self.release.set()
        self._thread.join()


async def test_a_shot_is_reported_only_once_committed(tmp_path):
    # In virtual time shots arrive microseconds apart; a report must still never be ahead
    # of what another process can read.
    path = tmp_path / "record.db"
    rig = await make_rig("serial-memory", connect=False)
    store = Store(path)
    controller = Controller(rig.driver, store)
    seen: list[tuple[int, int]] = []

    def on_shot(recorded: int, _controller) -> None:
        seen.append((recorded, committed_shots(path)))

    try:
        result = await run_session(controller, CATALOG, treatment(
            "nappage-superficial", "face", "32G-4mm", shots=200), on_shot=on_shot)
    finally:
        await controller.close()
        await rig.close()
        store.close()
    assert result.status == "completed"
    assert [n for n, _ in seen] == list(range(1, 201))
    assert all(committed >= n for n, committed in seen)


@pytest.mark.looptime(False)
async def test_a_write_waits_for_another_processes_lock_off_the_loop(tmp_path):
    path = tmp_path / "record.db"
    store = Store(path)
    session = a_session(store)
    holder = LockHolder(path)
    try:
        written = shot(store, session, 1)
        ticks = 0
        for _ in range(5):                  # the loop goes on while the write waits
            await asyncio.sleep(0.02)
            ticks += 1
        assert ticks == 5 and not written.done()
    finally:
        holder.stop()
    assert await asyncio.wrap_future(written) >= 1
    assert committed_shots(path) == 1
    store.close()


@pytest.mark.looptime(False)
async def test_a_lock_held_past_the_timeout_fails_the_write_and_tells_the_listener_once(
        tmp_path):
    path = tmp_path / "record.db"
    store = Store(path, busy_timeout_s=0.1)
    session = a_session(store)
    failures: list[StoreError] = []
    store.add_failure_listener(failures.append)
    holder = LockHolder(path)
    try:
        with pytest.raises(StoreError, match="cannot be written: database is locked"):
            await asyncio.wrap_future(shot(store, session, 1))
        await asyncio.sleep(0)
        with pytest.raises(StoreError):
            await asyncio.wrap_future(shot(store, session, 2))      # and every later one
    finally:
        holder.stop()
    await asyncio.sleep(0.01)
    assert len(failures) == 1 and store.failure is failures[0]
    store.close()


TAMPERING = [
    "UPDATE {table} SET rowid = rowid",
    "DELETE FROM {table}",
    "INSERT OR REPLACE INTO {table} ({columns}) SELECT {columns} FROM {table} LIMIT 1",
    "INSERT INTO {table} ({columns}) SELECT {columns} FROM {table} LIMIT 1 "
    "ON CONFLICT DO UPDATE SET rowid = excluded.rowid",
]


@pytest.fixture
def full_record(tmp_path):
    """A record with a row in every table, closed."""
    path = tmp_path / "record.db"
    store = Store(path)
    store.record_device("SIM-1", "MESO-GUN-S1", "1.4.2").result()
    session = a_session(store)
    shot(store, session, 1).result()
    alarm = store.record_alarm(session, "SIM-1", code=257, name="occlusion", shot_index=1,
                               value=800, device_time_ms=5, boot_id=7, event_seq=2).result()
    store.record_ack(alarm, "Dr. A").result()
    store.record_state(session, "SIM-1", "device", "armed", "firing", "8", boot_id=7,
                       event_seq=3).result()
    store.record_calibration(device_serial="SIM-1", kind="dose", fit={}, points=[],
                             person="tech", expires_at=None, expires_after_shots=None).result()
    store.record_gap("SIM-1", session, "a test gap").result()
    store.record_verification(device_serial="SIM-1", session_id=session, person="tech",
                              calibrations={}, conditions=None, instruments=[], points=[],
                              passed=False).result()
    store.record_library_change(library_hash="0" * 16, version="1+clinic.1", text="x",
                                person="tech").result()
    store.end_session(session, "completed", "ok", {}).result()
    store.record_action(user="dr-a", role="clinician", via="token", address="127.0.0.1",
                        action="session.start", target="SIM-1", outcome="ok").result()
    store.close()
    return path


@pytest.mark.parametrize("statement", TAMPERING)
@pytest.mark.parametrize("table", APPEND_ONLY)
def test_no_client_can_change_delete_or_replace_a_row(full_record, table, statement):
    raw = sqlite3.connect(full_record)
    columns = ", ".join(row[1] for row in raw.execute(f"PRAGMA table_info({table})")
                        if row[1] != "row_hash")
    before = raw.execute(f"SELECT * FROM {table}").fetchall()
    assert before, f"{table} should hold a row"
    with pytest.raises(sqlite3.IntegrityError, match="the record is append-only"):
        raw.execute(statement.format(table=table, columns=columns))
    assert raw.execute(f"SELECT * FROM {table}").fetchall() == before
    raw.close()
    assert Store(full_record, readonly=True).verify().intact


def test_verify_names_the_first_row_a_tamperer_changed(full_record):
    assert "intact" in run_cli("record", "verify", "--db", str(full_record)).stdout
    raw = sqlite3.connect(full_record)
    raw.execute("DROP TRIGGER shots_no_update")
    raw.execute("UPDATE shots SET volume_nl = 0 WHERE shot_index = 1")
    raw.commit()
    raw.close()
    report = Store(full_record, readonly=True).verify()
    assert (report.problem.table, report.problem.what) == (
        "shots", "trigger shots_no_update is missing")
    done = run_cli("record", "verify", "--db", str(full_record))
    assert done.returncode == 1
    assert done.stdout.strip().endswith("shots: trigger shots_no_update is missing")
    # Put the trigger back as it was: the changed row itself is still caught by its hash.
    raw = sqlite3.connect(full_record)
    from injector.store.schema import trigger_sql
    raw.execute(trigger_sql("shots")["shots_no_update"])
    raw.commit()
    raw.close()
    done = run_cli("record", "verify", "--db", str(full_record), "--json")
    assert done.returncode == 1
    assert '"row": 1' in done.stdout and "the hash chain breaks here" in done.stdout


def test_a_record_of_version_1_is_migrated_with_its_rows_kept_and_hashed(tmp_path):
    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.executescript(V1 + "; PRAGMA user_version = 1;")
    old.execute("INSERT INTO sessions VALUES (1, 'SIM-1', 'pinpoint', 'back', '30G-6mm', 10, "
                "5, 250, 50, 0, '{}', '2026-01-01', 'h', 1, '{}')")
    old.execute("INSERT INTO shots VALUES (1, 1, 1, 4000, 50000, 50000, 12, 0, 100, '2026')")
    old.commit()
    old.close()
    store = Store(path)
    assert store.schema_version == len(MIGRATIONS)
    assert store.db.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    assert [s["shot_index"] for s in store.shots(1)] == [1]
    assert store.session(1)["preset"] == "pinpoint"
    assert store.verify().intact
    store.close()


def _open_new(path: str) -> str:
    try:
        Store(path).close()
        return "ok"
    except Exception as exc:            # noqa: BLE001 - reported to the parent
        return repr(exc)


def test_many_processes_opening_a_new_record_at_once_all_succeed(tmp_path):
    context = multiprocessing.get_context("spawn")
    with context.Pool(8) as pool:
        for attempt in range(3):
            path = str(tmp_path / f"new-{attempt}.db")
            assert pool.map(_open_new, [path] * 8) == ["ok"] * 8
            assert Store(path, readonly=True).verify().intact


@pytest.mark.parametrize("kind", ["text", "foreign", "newer"])
def test_a_file_that_is_not_our_record_is_refused_and_left_untouched(tmp_path, kind):
    path = tmp_path / "other.db"
    if kind == "text":
        path.write_text("shopping list: needles, gauze\n")
    else:
        other = sqlite3.connect(path)
        other.execute("CREATE TABLE accounts (id INTEGER PRIMARY KEY, owner TEXT)")
        other.execute(f"PRAGMA application_id = {APPLICATION_ID if kind == 'newer' else 42}")
        other.execute(f"PRAGMA user_version = {99 if kind == 'newer' else 3}")
        other.commit()
        other.close()
    before = path.read_bytes()
    done = run_cli("run", *CHECKLIST, "--port", "sim://", "--preset", "classical", "--zone", "face",
                   "--needle", "32G-4mm", "--shots", "1", "--db", str(path))
    assert done.returncode == 3 and done.stderr.count("\n") == 1, done.stderr
    assert f"the record {path}: " in done.stderr and "Traceback" not in done.stderr
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.db"]      # no -wal, -journal


@pytest.mark.parametrize("target", ["/dev/null", "directory"])
def test_a_record_path_that_is_not_a_file_is_refused(tmp_path, target):
    path = str(tmp_path) if target == "directory" else target
    done = run_cli("history", "--db", path)
    assert done.returncode == 3 and "not a regular file" in done.stderr
    assert not os.path.exists("/dev/null-journal") and not os.path.exists("/dev/null-wal")


def test_read_only_commands_never_create_a_record_or_its_folder(tmp_path):
    path = tmp_path / "nowhere" / "record.db"
    for args in (["history"], ["session", "show", "1"], ["calibration", "list"],
                 ["record", "verify"]):
        run_cli(*args, "--db", str(path))
    assert not (tmp_path / "nowhere").exists()
    done = run_cli("history", "--db", str(path))
    assert (done.returncode, done.stdout) == (3, "")
    assert f"the folder {path.parent} does not exist" in done.stderr
    done = run_cli("history", "--db", str(tmp_path / "record.db"))
    assert (done.returncode, done.stdout.strip()) == (
        0, f"no sessions recorded (no record at {tmp_path / 'record.db'})")
    assert list(tmp_path.iterdir()) == []


def _no_room_to_write() -> None:
    """A child process's files may not grow: what a full disk looks like to SQLite."""
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


@contextmanager
def read_only_filesystem(folder):
    folder.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(folder)],
                   check=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def test_a_record_on_a_read_only_filesystem_is_one_line(tmp_path):
    with read_only_filesystem(tmp_path / "ro") as folder:
        done = run_cli("run", *CHECKLIST, "--port", "sim://", "--preset", "classical", "--zone", "face",
                       "--needle", "32G-4mm", "--shots", "1", "--db", str(folder / "r.db"))
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert "cannot be opened for writing" in done.stderr and "Traceback" not in done.stderr


def test_a_full_disk_at_start_is_one_line(tmp_path):
    done = subprocess.run([sys.executable, "-m", "injector", "run", *CHECKLIST, "--port", "sim://",
                           "--preset", "classical", "--zone", "face", "--needle", "32G-4mm",
                           "--shots", "1", "--db", str(tmp_path / "r.db")],
                          capture_output=True, text=True, timeout=60, cwd=REPO,
                          preexec_fn=_no_room_to_write)
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert "the record" in done.stderr and "Traceback" not in done.stderr


_OTHER_PROCESS_OPENS_AND_CLOSES = """
import sqlite3, sys
other = sqlite3.connect(sys.argv[1])
other.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
other.close()
"""


def test_a_read_in_the_same_process_keeps_the_writers_locks(tmp_path):
    """POSIX drops every lock a process holds on a file when any of its descriptors of that
    file closes: a header check with open() would leave the writer unlocked, and another
    process's last close would then checkpoint and delete the write-ahead log under it (a
    running service, `injector user add` beside it: the record's newest rows lost)."""
    path = tmp_path / "record.db"
    store = Store(path)
    try:
        session_id = a_session(store)
        shot(store, session_id, 1).result()
        reader = Store(path, readonly=True)         # a service's read of its own record
        reader.close()
        subprocess.run([sys.executable, "-c", _OTHER_PROCESS_OPENS_AND_CLOSES, str(path)],
                       check=True)
        assert (tmp_path / "record.db-wal").exists(), "the write-ahead log was deleted"
        shot(store, session_id, 2).result()
        assert committed_shots(path) == 2
    finally:
        store.close()
    assert Store(path, readonly=True).verify().intact


def test_a_library_signed_twice_at_once_keeps_one_signature(tmp_path):
    """Two technicians signing the same clinic file at the same moment: both checked
    'not signed yet' before either wrote; the record keeps the first signature only."""
    store = Store(tmp_path / "record.db")
    try:
        first = store.record_library_change(library_hash="ab" * 8, version="1+clinic.1",
                                            text="version = '1'\n", person="T. One")
        second = store.record_library_change(library_hash="ab" * 8, version="1+clinic.1",
                                             text="version = '1'\n", person="T. Two")
        assert first.result() == second.result()
        assert [c["person"] for c in store.library_changes()] == ["T. One"]
    finally:
        store.close()
