"""Technician calibration against the simulated gun, balance and gauge, in virtual time."""

from __future__ import annotations

import math

import pytest

from drivers.calibration_table import CalibrationTable
from drivers.instruments import Balance, DepthGauge, InstrumentError
from drivers.serial_link import serial_driver
from injector.calibration import CalibrationError, Series, calibrate, fit_series, verify
from injector.controller import Controller
from injector.session import run_session
from injector.store import Store
from simulator.gun import GunOptions, SimulatedGun
from tests.rig import treatment, CATALOG


class Bench:
    """A simulated gun with its balance and gauge, and the technician's record."""

    def __init__(self, tmp_path, **options) -> None:
        self.gun = SimulatedGun(GunOptions(**options))
        self.store = Store(tmp_path / "record.db")
        self.balance = Balance(self.gun.balance().answer)
        self.gauge = DepthGauge(self.gun.gauge().answer)

    async def controller(self):
        controller = Controller(serial_driver(self.gun.memory_port), self.store)
        return controller

    async def step(self, work, **kwargs):
        controller = await self.controller()
        try:
            return await work(controller, CATALOG, person="tech A. Novak", **kwargs)
        finally:
            await controller.close()

    async def close(self):
        await self.gun.aclose()


@pytest.fixture
async def bench(tmp_path):
    bench = Bench(tmp_path, volume_gain=1.07, depth_offset_mm=0.2)
    yield bench
    await bench.close()


async def test_a_miscalibrated_gun_fails_verification_until_calibrated(bench):
    before = await bench.step(verify, balance=bench.balance, gauge=bench.gauge)
    assert not before["pass"]
    dose_before = [p for p in before["points"] if p["kind"] == "dose"]
    assert all(not p["pass"] for p in dose_before)          # 7% over at every volume
    assert dose_before[0]["error"] == pytest.approx(0.7, abs=0.05)
    depth_before = [p for p in before["points"] if p["kind"] == "depth"]
    assert all(p["error"] == pytest.approx(0.2, abs=0.01) for p in depth_before)

    dose = await bench.step(calibrate, kind="dose", balance=bench.balance)
    assert dose["fit"]["kind"] == "linear"
    assert dose["fit"]["gain"] == pytest.approx(1.07, abs=0.005)   # 0.3% scatter, 12 shots
    depth = await bench.step(calibrate, kind="depth", gauge=bench.gauge)
    assert depth["fit"]["offset"] == pytest.approx(0.2, abs=0.005)

    after = await bench.step(verify, balance=bench.balance, gauge=bench.gauge)
    assert after["pass"], after["points"]
    for point in after["points"]:
        if point["kind"] == "dose":
            assert abs(point["error"]) <= max(0.02 * point["set"], 0.5)
        else:
            assert abs(point["error"]) <= 0.05
    assert after["calibration"]["dose"]["source"] == "technician"
    assert after["calibration"]["depth"]["source"] == "technician"
    # The calibration lives in the gun, which now accounts its syringe with it.
    table = bench.gun.firmware.config.volume_table
    assert table.delivered_for(10_000) == pytest.approx(10_700, abs=50)     # 0.5%
    assert bench.gun.firmware.config.depth_table.delivered_for(2_000) == pytest.approx(
        2_200, abs=10)
    # The record: the calibrations are active, and every shot fired is in it.
    kinds = {c["kind"]: c["status"] for c in bench.store.calibrations("SIM-000001")}
    assert kinds == {"dose": "active", "depth": "active"}


async def test_a_new_calibration_supersedes_and_mark_bad_removes(bench):
    first = await bench.step(calibrate, kind="dose", balance=bench.balance)
    second = await bench.step(calibrate, kind="dose", balance=bench.balance)
    statuses = {c["id"]: c["status"] for c in bench.store.calibrations()}
    assert statuses == {first["calibration_id"]: "superseded",
                        second["calibration_id"]: "active"}
    bench.store.set_calibration_status(second["calibration_id"], "bad", "balance was not level",
                                       "tech B").result()
    assert bench.store.active_calibration("SIM-000001", "dose") is None


def series(*points):
    return [Series(v, v, tuple(readings)) for v, readings in points]


@pytest.mark.parametrize("points, words", [
    (series((10, [10.7, -1.0, 10.7]), (25, [26.7] * 3), (50, [53.5] * 3)), "not a positive"),
    (series((10, [10.7, math.nan]), (25, [26.7] * 2), (50, [53.5] * 2)), "not a positive"),
    (series((10, [10.7] * 3), (25, [26.7] * 3)), "at least 3 different"),
    (series((10, [10.7] * 3), (25, [26.7, 22.0, 31.0]), (50, [53.5] * 3)), "not repeatable"),
    (series((10, [10.7] * 3), (25, [26.7] * 3), (50, [61.2] * 3), (100, [107.0] * 3)),
     "series at 50 ul gave 61.200 ul"),
    (series((10, [15.0] * 3), (25, [37.5] * 3), (50, [75.0] * 3)), "outside plausible bounds"),
])
def test_bad_measurements_are_refused_with_what_to_redo(points, words):
    with pytest.raises(CalibrationError, match=words):
        fit_series("dose", points)


def test_a_curve_gets_a_piecewise_fit_that_inverts_exactly():
    points = series((10, [10.0] * 3), (25, [26.2] * 3), (50, [51.0] * 3), (100, [100.0] * 3))
    fit = fit_series("dose", points)
    assert fit["kind"] == "piecewise"
    table = CalibrationTable(tuple(fit["table"]["commanded"]), tuple(fit["table"]["delivered"]))
    assert table.command_for(26_200) == pytest.approx(25_000)
    assert table.command_for(38_600) == pytest.approx(37_500)
    assert table.delivered_for(25_000) == 26_200


async def test_a_refused_calibration_keeps_the_one_in_force(bench, tmp_path):
    await bench.step(calibrate, kind="dose", balance=bench.balance)
    active = bench.store.active_calibration("SIM-000001", "dose")

    async def bad_balance(command: str) -> str:
        return "S S     -0.0012 g" if command == "S" else "T S      0.0000 g"

    with pytest.raises(CalibrationError, match="not a positive"):
        await bench.step(calibrate, kind="dose", balance=Balance(bad_balance))
    assert bench.store.active_calibration("SIM-000001", "dose")["id"] == active["id"]


async def test_an_expired_technician_calibration_blocks_arming(bench):
    await bench.step(calibrate, kind="dose", balance=bench.balance, expires_shots=5)

    async def session(shots):
        controller = await bench.controller()
        try:
            return await run_session(controller, CATALOG, treatment(
                "nappage-superficial", "face", "32G-4mm", shots=shots))
        finally:
            await controller.close()

    assert (await session(6)).status == "completed"        # within its life when armed
    blocked = await session(3)                               # 6 shots since: past 5
    assert blocked.status == "aborted" and "calibration_valid" in blocked.reason
    assert blocked.summary["shots_done"] == 0


async def test_the_balance_protocol_refuses_what_it_cannot_read():
    async def overloaded(command):
        return "S +"

    async def garbage(command):
        return "hello"

    with pytest.raises(InstrumentError, match="over its range"):
        await Balance(overloaded).stable_weight_g()
    with pytest.raises(InstrumentError, match="answered 'hello'"):
        await Balance(garbage).stable_weight_g()
