"""Device figures: sustained shot rate per nappage preset, emergency-stop latency, watchdog
trip time, and a 10,000-shot session under virtual time (speed-up and peak memory).

Run: python bench/device_bench.py
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import looptime

from drivers.messages import DeviceState, ShotDone
from drivers.serial_link import serial_driver
from drivers.transport import open_serial_port
from injector.controller import Controller
from injector.planner import Overrides, plan
from injector.checklist import for_simulated_patient
from injector.session import SessionRequest, run_session
from injector.store import Store
from profiles import load_catalog
from simulator.gun import SimulatedGun

CATALOG = load_catalog()
RATE_SHOTS = 150
SESSION_SHOTS = int(os.environ.get("BENCH_SESSION_SHOTS", 10_000))
SESSION_RUNS = 3


def _program(preset: str, rate_hz: float | None = None, zone: str = "thighs",
             needle: str = "30G-4mm"):
    return plan(CATALOG.preset(preset), CATALOG.zone(zone), CATALOG.needle(needle),
                CATALOG.syringe(10), shots=1,
                overrides=Overrides(shot_rate_hz=rate_hz)).program


def _max_rate(preset: str) -> float:
    fastest = plan(CATALOG.preset(preset), CATALOG.zone("thighs"), CATALOG.needle("30G-4mm"),
                   CATALOG.syringe(10), shots=1).max_rate_hz
    return math.floor(fastest * 1000) / 1000


async def _ready(driver, gun, program) -> None:
    await driver.connect()
    await driver.home()
    while gun.firmware.state is not DeviceState.IDLE:
        await asyncio.sleep(0.01)
    await driver.load_program(program)
    await driver.arm()


async def sustained_rate(preset: str) -> tuple[float, float]:
    """Shots per second the host sees arrive at the gun's mechanical limit, in real time."""
    gun = SimulatedGun()
    driver = serial_driver(gun.memory_port)
    limit = _max_rate(preset)
    program = _program(preset, limit)
    await _ready(driver, gun, program)
    loop = asyncio.get_running_loop()
    start = loop.time()
    await driver.fire(RATE_SHOTS)
    done = 0
    async for event in driver.events():
        done += isinstance(event, ShotDone)
        if done == RATE_SHOTS:
            break
    elapsed = loop.time() - start
    await driver.close()
    await gun.aclose()
    return RATE_SHOTS / elapsed, 1000 / program.shot_period_ms


async def estop_and_watchdog() -> tuple[float, float]:
    """Over a real pty: from the emergency_stop() call to the plunger stopped, and from the
    last frame the gun heard to its watchdog trip, both in the gun's own (loop) time."""
    gun = SimulatedGun()
    path = gun.serve_pty()
    driver = serial_driver(lambda: open_serial_port(path))
    await _ready(driver, gun, _program("continuous-infusion", zone="back", needle="30G-6mm"))
    loop = asyncio.get_running_loop()
    await driver.fire(1)
    while not gun.firmware.physics.plunger.moving(loop.time()):
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.5)
    called = loop.time()
    await driver.emergency_stop()
    estop_ms = (gun.firmware.physics.plunger.stopped_at - called) * 1000
    await driver.acknowledge(0x0108)
    await _ready_again(driver, gun)
    await driver.fire(1)
    while not gun.firmware.physics.plunger.moving(loop.time()):
        await asyncio.sleep(0.01)
    await driver.close()                                      # the host falls silent
    while gun.firmware.state is not DeviceState.FAULT:
        await asyncio.sleep(0.001)
    trip_ms = (gun.firmware.physics.plunger.stopped_at - gun.firmware._last_rx) * 1000
    await gun.aclose()
    return estop_ms, trip_ms


async def _ready_again(driver, gun) -> None:
    await driver.home()
    while gun.firmware.state is not DeviceState.IDLE:
        await asyncio.sleep(0.01)
    await driver.arm()


def virtual_session() -> tuple[float, float, float]:
    """A 10,000-shot session, the whole stack and a durable record on disk, on a
    virtual-time loop. Returns (virtual/real, virtual seconds, peak RSS in MB)."""
    # noop_cycles=0: virtual time moves only when nothing at all is runnable. That is exact
    # here, where every byte goes through loop callbacks (the in-memory link) and nothing
    # waits on real I/O; the figure is identical with looptime's pytest default, only slower.
    loop = looptime.new_event_loop(start=0.0, noop_cycles=0)
    asyncio.set_event_loop(loop)

    async def session() -> float:
        gun = SimulatedGun()
        with tempfile.TemporaryDirectory() as folder:
            store = Store(Path(folder) / "record.db")
            controller = Controller(serial_driver(gun.memory_port), store)
            result = await run_session(controller, CATALOG, SessionRequest(
                "nappage-superficial", "thighs", "30G-4mm", shots=SESSION_SHOTS,
                checklist=for_simulated_patient("bench"),
                override_reason="benchmark: one long session on a simulated gun"))
            await controller.close()
            store.close()
        await gun.aclose()
        assert result.status == "completed", result.reason
        assert result.summary["shots_done"] == SESSION_SHOTS
        return asyncio.get_running_loop().time()

    real_start = time.perf_counter()
    virtual = loop.run_until_complete(session())       # new_event_loop() is already virtual
    real = time.perf_counter() - real_start
    loop.close()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return virtual / real, virtual, peak_mb


def gun_and_driver_only(shots: int = 900) -> float:
    """The floor under the session's figure: the simulated gun and the host's driver alone
    (no controller, session or record), firing runs of 100 shots at the session's 8 shots/s
    on the same virtual-time loop, and reading every event. Virtual over real time."""
    loop = looptime.new_event_loop(start=0.0, noop_cycles=0)
    asyncio.set_event_loop(loop)

    async def runs() -> float:
        gun = SimulatedGun()
        driver = serial_driver(gun.memory_port)
        await _ready(driver, gun, _program("nappage-superficial", 8.0))
        events = driver.events()
        started, real_start = loop.time(), time.perf_counter()
        for _ in range(shots // 100):
            await driver.fire(100)
            given = 0
            while given < 100:
                given += isinstance(await anext(events), ShotDone)
        real = time.perf_counter() - real_start
        virtual = loop.time() - started
        await events.aclose()
        await driver.close()
        await gun.aclose()
        return virtual / real

    speedup = loop.run_until_complete(runs())
    loop.close()
    asyncio.set_event_loop(None)
    return speedup


def virtual_sessions(runs: int = SESSION_RUNS) -> dict:
    """The session in fresh processes, so its peak memory is its own and one run's heap does
    not slow the next; the median speed-up of `runs` (this machine's speed varies)."""
    results = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, __file__, "--virtual-session"], check=True,
                             capture_output=True, text=True).stdout
        results.append(json.loads(out.splitlines()[-1]))
    speedups = sorted(r["speedup"] for r in results)
    return {"virtual_time_speedup": statistics.median(speedups),
            "virtual_time_speedup_runs": speedups,
            "virtual_session_s": results[0]["virtual_s"],
            "session_peak_rss_mb": max(r["peak_mb"] for r in results),
            "virtual_time_speedup_gun_and_driver": statistics.median(
                gun_and_driver_only() for _ in range(runs))}


def main() -> dict:
    figures = {}
    for preset in ("nappage-superficial", "nappage-middle", "nappage-deep"):
        rate, limit = asyncio.run(sustained_rate(preset))
        key = preset.replace("-", "_")
        figures[f"shots_per_s_{key}"] = rate
        figures[f"mechanical_limit_hz_{key}"] = limit
    figures["estop_latency_ms"], figures["watchdog_trip_ms"] = asyncio.run(estop_and_watchdog())
    figures |= virtual_sessions()
    speedup, virtual_s = figures["virtual_time_speedup"], figures["virtual_session_s"]
    peak_mb = figures["session_peak_rss_mb"]
    runs = ", ".join(f"{x:.0f}" for x in figures["virtual_time_speedup_runs"])
    for preset in ("superficial", "middle", "deep"):
        key = f"nappage_{preset}"
        print(f"  nappage {preset}: {figures[f'shots_per_s_{key}']:.1f} shots/s sustained, "
              f"mechanical limit {figures[f'mechanical_limit_hz_{key}']:.1f}")
    print(f"  emergency stop: plunger stopped {figures['estop_latency_ms']:.2f} ms after the "
          f"call (pty); watchdog tripped {figures['watchdog_trip_ms']:.1f} ms after the last "
          "frame")
    print(f"  {SESSION_SHOTS} shots ({virtual_s:.0f} s of device time) ran {speedup:.0f}x "
          f"faster than real time (median of {runs}); peak memory {peak_mb:.0f} MB")
    print(f"  the simulated gun and the driver alone: "
          f"{figures['virtual_time_speedup_gun_and_driver']:.0f}x")
    return figures


if __name__ == "__main__":
    if sys.argv[1:] == ["--virtual-session"]:
        speedup, virtual_s, peak_mb = virtual_session()
        print(json.dumps({"speedup": speedup, "virtual_s": virtual_s, "peak_mb": peak_mb}))
    else:
        main()
