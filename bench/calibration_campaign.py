"""A dose-accuracy campaign on three simulated guns, as docs/calibration.md reports it.

Run: python bench/calibration_campaign.py   (or `make campaign`)

Each gun is verified as found, calibrated (dose, 3 replicates at 10, 25, 50 and 100 ul) and
verified as left with 10 replicates per volume, all through the real controller, driver,
firmware and virtual balance, on looptime's virtual-time loop (a campaign takes seconds).
For each gun and volume it prints the mean, the standard deviation, the CV and the share of
single shots within the systematic limit, as found and as left.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

import looptime

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from drivers.instruments import Balance  # noqa: E402
from drivers.serial_link import serial_driver  # noqa: E402
from injector.calibration import calibrate, verify  # noqa: E402
from injector.controller import Controller  # noqa: E402
from injector.metrology import Conditions, Limits  # noqa: E402
from injector.store import Store  # noqa: E402
from profiles import load_catalog  # noqa: E402
from simulator.gun import GunOptions, SimulatedGun  # noqa: E402

GUNS = {
    "SIM-GOOD": dict(),
    "SIM-RICH": dict(volume_gain=1.06, volume_nonlinearity=0.02, dose_cv=0.006),
    "SIM-WORN": dict(volume_gain=0.94, dose_cv=0.012, first_shot_deficit_ul=1.0,
                     drift_per_1000_shots=0.002),
}
"""A good gun (the simulator's defaults), one 6% rich and slightly curved, one 6% lean,
worn (1.2% scatter, drifting) with air after a syringe change."""


async def campaign_for(serial: str, options: dict, folder: Path) -> dict:
    catalog = load_catalog()
    gun = SimulatedGun(GunOptions(serial_number=serial, seed=2026, **options))
    store = Store(folder / f"{serial}.db")
    balance = Balance(gun.balance().answer)
    conditions = Conditions.of(gun.options.temperature_c, "balance", None)

    async def step(work, **kwargs):
        controller = Controller(serial_driver(gun.memory_port), store)
        try:
            return await work(controller, catalog, person="campaign", balance=balance,
                              conditions=conditions, **kwargs)
        finally:
            await controller.close()
    try:
        found = await step(verify, gauge=None)
        await step(calibrate, kind="dose")
        left = await step(verify, gauge=None)
    finally:
        await gun.aclose()
        store.close()
    return {"found": found, "left": left}


def rows(result: dict) -> list[tuple]:
    out = []
    for stage in ("found", "left"):
        for p in result[stage]["points"]:
            limit = Limits.dose(p["set"]).systematic
            within = sum(abs(r - p["set"]) <= limit for r in p["readings"]) / p["n"]
            out.append((stage, p["set"], p["mean"], p["sd"], p["cv"], within, p["pass"]))
    return out


def main() -> None:
    loop = looptime.new_event_loop(start=0.0, noop_cycles=0)
    asyncio.set_event_loop(loop)
    with tempfile.TemporaryDirectory() as folder:
        results = {serial: loop.run_until_complete(campaign_for(serial, options, Path(folder)))
                   for serial, options in GUNS.items()}
    loop.close()
    print("| gun | stage | set ul | mean ul | SD ul | CV | within limit | verdict |")
    print("|---|---|---|---|---|---|---|---|")
    for serial, result in results.items():
        for stage, set_ul, mean, sd, cv, within, passed in rows(result):
            print(f"| {serial} | as {stage} | {set_ul:g} | {mean:.3f} | {sd:.3f} | "
                  f"{cv * 100:.2f}% | {within:.0%} | {'pass' if passed else 'FAIL'} |")


if __name__ == "__main__":
    main()
