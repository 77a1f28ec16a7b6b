"""Record first, tried as a clinic meets it: a full disk mid-session, a killed controller,
another process holding the record, two guns on one record. No shot the gun gave escapes the
record: the gun is held when the record cannot take a row, and what it did meanwhile is read
back from its event ring at the next connect, marked recovered."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import subprocess
import sys
import threading

import pytest

from drivers.codes import ALARMS
from drivers.messages import AlarmRaised
from injector.controller import Controller
from injector.testing.pty_gun import PtyGun
from injector.session import run_session
from injector.store import Store
from simulator.gun import GunOptions, SimulatedGun, unique_serial
from simulator.serve import Bridges
from drivers.serial_link import serial_driver
from tests.conftest import CHECKLIST, REPO, read_shots, run_cli
from tests.rig import treatment, CATALOG


def gun_status(port: str) -> dict:
    done = run_cli("status", "--port", port, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def run_args(port: str, db, shots: int) -> list[str]:
    return ["run", *CHECKLIST, "--port", port, "--preset", "nappage-superficial", "--zone", "thighs",
            "--needle", "32G-4mm", "--shots", str(shots), "--db", str(db)]


def recorded_shots(db) -> int:
    with sqlite3.connect(db) as raw:
        return raw.execute("SELECT COUNT(*) FROM shots").fetchone()[0]


def with_file_size_limit(size: int, *args: str) -> list[str]:
    """`injector ARGS` in a child that limits the size of the files it writes: a write past
    it fails (Python ignores SIGXFSZ), as on a full disk. Set in the child itself, so no
    preexec_fn runs in this process, whose simulated gun has a thread."""
    return [sys.executable, "-c", "import resource, runpy, sys; "
            f"resource.setrlimit(resource.RLIMIT_FSIZE, ({size}, {size})); "
            "sys.argv[0] = 'injector'; runpy.run_module('injector', run_name='__main__')",
            *args]


def test_a_disk_full_mid_session_holds_the_gun_and_loses_no_shot(injector_sim,
                                                                 injector_record):
    db, port = injector_record, injector_sim
    assert run_cli(*run_args(port, db, 2)).returncode == 0     # the record has a session
    room = db.stat().st_size + 160_000          # room for a few dozen shots, no more
    full = subprocess.run(with_file_size_limit(room, *run_args(port, db, 400)),
                          capture_output=True, text=True, timeout=120, cwd=REPO)
    assert full.returncode == 1, full.stderr
    assert full.stderr.count("\n") == 1 and "Traceback" not in full.stderr
    assert "cannot be written" in full.stderr
    status = gun_status(port)
    assert status["state"] in ("held", "armed", "idle")          # stopped, not firing
    assert status["shots_done"] < 402                            # it did not fire on
    # With room again, the next connect reads back what the record missed.
    listed = run_cli("alarm", "list", "--port", port, "--db", str(db))
    assert listed.returncode == 0, listed.stderr
    assert recorded_shots(db) == gun_status(port)["shots_done"]
    store = Store(db, readonly=True)
    session = store.history()[0]
    assert store.session(session.id)["recovered_shots"] > 0
    assert store.verify().intact


def test_a_killed_controller_leaves_no_shot_out_of_the_record(injector_record):
    # The gun is served here so the test can see its watchdog trip before it connects
    # again: a host that connected first (a gun thread late on a loaded machine) would feed
    # the watchdog itself, and the gun would fire on.
    served = PtyGun(GunOptions(serial_number=unique_serial()), Bridges(serial=True))
    port = served.start().serial
    tripped = threading.Event()

    def heard(seq: int, msg_type: int, payload: bytes) -> None:
        if (msg_type == AlarmRaised.TYPE
                and AlarmRaised.unpack(payload).code == ALARMS["watchdog"].code):
            tripped.set()
    served.gun.firmware.add_listener(heard)
    db = injector_record
    try:
        run = subprocess.Popen([sys.executable, "-m", "injector", *run_args(port, db, 2000),
                                "--events"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, cwd=REPO)
        read_shots(run.stdout, 20)
        run.send_signal(signal.SIGKILL)
        run.wait(timeout=10)
        # The gun fires on until its watchdog stops it; those shots are in its event ring.
        assert tripped.wait(30), "the gun's watchdog never tripped"
        check_recovered(port, db)
    finally:
        served.stop()


def check_recovered(port: str, db) -> None:
    status = gun_status(port)
    assert ALARMS["watchdog"].name in status["alarms"]
    before = recorded_shots(db)
    assert before < status["shots_done"]
    listed = json.loads(run_cli("alarm", "list", "--port", port, "--json", "--db",
                                str(db)).stdout)
    assert [a["name"] for a in listed["alarms"]] == ["watchdog"]
    assert recorded_shots(db) == status["shots_done"]
    store = Store(db, readonly=True)
    (session,) = store.history()
    shown = store.session(session.id)
    assert shown["status"] == "interrupted"
    assert shown["recovered_shots"] == status["shots_done"] - before
    (alarm,) = store.alarms(session.id)
    assert (alarm["name"], alarm["recovered"]) == ("watchdog", 1)
    shown_text = run_cli("session", "show", str(session.id), "--db", str(db)).stdout
    assert "read back from the gun" in shown_text


class LockHolder(threading.Thread):
    """Another process takes the record's write lock for a second, once asked."""

    def __init__(self, path) -> None:
        super().__init__(daemon=True)
        self.path, self.go, self.done = path, threading.Event(), threading.Event()

    def run(self) -> None:
        self.go.wait()
        other = sqlite3.connect(self.path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        threading.Event().wait(1.0)
        other.execute("ROLLBACK")
        other.close()
        self.done.set()


@pytest.mark.looptime(False)
async def test_two_guns_on_one_record_ride_out_a_lock_held_for_a_second(tmp_path):
    # In real time: the old record wrote on the event loop, so a held lock stopped the
    # heartbeats and the gun's watchdog tripped (4 runs in 4).
    db = tmp_path / "record.db"
    guns = [SimulatedGun(), SimulatedGun()]
    stores = [Store(db), Store(db)]
    holder = LockHolder(db)
    holder.start()

    async def session(gun, store):
        controller = Controller(serial_driver(gun.memory_port), store)
        try:
            return await run_session(controller, CATALOG, treatment(
                "nappage-superficial", "face", "32G-4mm", shots=24))
        finally:
            await controller.close()

    async def lock_mid_session():
        while guns[0].firmware.shots_done < 4:
            await asyncio.sleep(0.01)
        holder.go.set()

    try:
        results = await asyncio.gather(*(session(g, s) for g, s in zip(guns, stores)),
                                       lock_mid_session())
    finally:
        for gun in guns:
            await gun.aclose()
        for store in stores:
            store.close()
    assert holder.done.is_set()
    assert [r.status for r in results[:2]] == ["completed", "completed"], results
    for gun in guns:
        assert not gun.firmware.latched
    assert recorded_shots(db) == 48
    assert Store(db, readonly=True).verify().intact
