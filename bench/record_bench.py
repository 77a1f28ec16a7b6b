"""Heartbeats while the record is blocked: two guns, one record, another process holding the
record's write lock for a second, three times, in real time.

Run: python bench/record_bench.py
Prints the lateness of every keepalive timer (from when it was due to when it ran: the
heartbeat's send-time jitter), its 99th percentile and maximum, with and without the lock,
and whether either gun's watchdog tripped. Record writes run on a writer thread
(injector/store/writer.py); a write on the event loop would show here as a second of
lateness and a watchdog trip.
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from drivers.core import DriverCore
from drivers.serial_link import serial_driver
from injector.controller import Controller
from injector.checklist import for_simulated_patient
from injector.session import SessionRequest, run_session
from injector.store import Store
from profiles import load_catalog
from simulator.gun import SimulatedGun

CATALOG = load_catalog()
SHOTS = 160                 # 20 s of superficial nappage at 8 shots/s
LOCKS = 3
LOCK_S = 1.0

HOLD_LOCK = """
import sqlite3, sys, time
other = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
other.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
other.execute("ROLLBACK")
"""


class KeepaliveClock:
    """Wraps one driver's keepalive timer: how late each one ran after it was due."""

    def __init__(self, driver: DriverCore) -> None:
        self.late_ms: list[float] = []
        self._due = 0.0
        loop = asyncio.get_running_loop()
        arm, fire = driver._arm_keepalive, driver._keepalive_due

        def arm_at(at: float) -> None:
            self._due = at
            arm(at)

        def due() -> None:
            self.late_ms.append((loop.time() - self._due) * 1000)
            fire()

        driver._arm_keepalive, driver._keepalive_due = arm_at, due


async def _hold_lock(db: Path) -> None:
    holder = await asyncio.create_subprocess_exec(
        sys.executable, "-c", HOLD_LOCK, str(db), str(LOCK_S), stdout=subprocess.PIPE)
    await holder.stdout.readline()          # locked from here
    await holder.wait()


async def _sessions(db: Path, lock: bool) -> dict:
    guns = [SimulatedGun(), SimulatedGun()]
    stores = [Store(db), Store(db)]
    clocks: list[KeepaliveClock] = []

    async def session(gun, store):
        driver = serial_driver(gun.memory_port)
        clocks.append(KeepaliveClock(driver))
        controller = Controller(driver, store)
        try:
            return await run_session(controller, CATALOG, SessionRequest(
                "nappage-superficial", "face", "32G-4mm", shots=SHOTS,
                checklist=for_simulated_patient("bench")))
        finally:
            await controller.close()

    async def locks():
        if not lock:
            return
        for n in range(LOCKS):
            while guns[0].firmware.shots_done < (n + 1) * SHOTS // (LOCKS + 1):
                await asyncio.sleep(0.01)
            await _hold_lock(db)

    try:
        results = await asyncio.gather(*(session(g, s) for g, s in zip(guns, stores)), locks())
        tripped = sum(bool(g.firmware.latched) for g in guns)
    finally:
        for gun in guns:
            await gun.aclose()
        for store in stores:
            store.close()
    late = sorted(ms for clock in clocks for ms in clock.late_ms)
    return {"late_p99_ms": late[int(0.99 * (len(late) - 1))], "late_max_ms": late[-1],
            "late_median_ms": statistics.median(late), "keepalives": len(late),
            "watchdog_trips": tripped,
            "completed": sum(r.status == "completed" for r in results[:2])}


def main() -> dict:
    figures = {}
    for lock in (False, True):
        with tempfile.TemporaryDirectory() as folder:
            got = asyncio.run(_sessions(Path(folder) / "record.db", lock))
        label = f"{LOCKS} locks of {LOCK_S:g} s" if lock else "no lock"
        print(f"two guns, one record, {SHOTS} shots each, {label}: {got['keepalives']} "
              f"keepalive timers, late by median {got['late_median_ms']:.2f} ms, p99 "
              f"{got['late_p99_ms']:.2f} ms, max {got['late_max_ms']:.2f} ms; sessions "
              f"completed {got['completed']} of 2, watchdog trips {got['watchdog_trips']}")
        prefix = "heartbeat_locked" if lock else "heartbeat_free"
        figures |= {f"{prefix}_p99_ms": got["late_p99_ms"],
                    f"{prefix}_max_ms": got["late_max_ms"],
                    f"{prefix}_watchdog_trips": got["watchdog_trips"]}
    return figures


if __name__ == "__main__":
    main()
