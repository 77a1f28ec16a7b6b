"""Heartbeats follow the gun's own watchdog: a quiet host keeps an armed gun armed, at any
configured watchdog, through lost heartbeats, with no more traffic than that needs."""

from __future__ import annotations

import asyncio

import pytest

from drivers.codes import ALARMS
from drivers.messages import DeviceState
from drivers.serial_driver import SerialDriver, heartbeat_timing
from simulator.gun import GunOptions, SimulatedGun
from tests.rig import Rig


def losses_tolerated(watchdog_s: float, reply_timeout_s: float = 0.05) -> int:
    """Heartbeats lost in a row after which the next still arrives inside the watchdog."""
    period, resend = heartbeat_timing(watchdog_s, reply_timeout_s)
    lost = 0
    while period + (lost + 1) * resend < watchdog_s:
        lost += 1
    return lost


def test_the_default_watchdog_survives_four_lost_heartbeats_in_a_row():
    assert heartbeat_timing(0.25, 0.05) == pytest.approx((0.125, 0.025))
    assert losses_tolerated(0.25) == 4


@pytest.mark.parametrize("watchdog_ms", [50, 80, 100, 250, 1000, 5000])
def test_every_configurable_watchdog_survives_at_least_two_lost_heartbeats(watchdog_ms):
    assert losses_tolerated(watchdog_ms / 1000) >= 2


class DropHostFrames:
    """The host's side of an in-memory link that loses the next `drop` frames it sends."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.drop = 0
        self.dropped = 0

    def start(self, on_data, on_lost) -> None:
        self.inner.start(on_data, on_lost)

    def write(self, data: bytes, *, urgent: bool = False) -> None:
        if self.drop:
            self.drop -= 1
            self.dropped += 1
            return
        self.inner.write(data, urgent=urgent)

    def close(self) -> None:
        self.inner.close()


async def armed_rig(watchdog_ms: int) -> tuple[Rig, list[DropHostFrames]]:
    gun = SimulatedGun(GunOptions(watchdog_ms=watchdog_ms))
    links: list[DropHostFrames] = []

    def open_port():
        links.append(DropHostFrames(gun.memory_port()))
        return links[-1]

    rig = Rig(gun, SerialDriver(open_port, name="lossy"))
    await rig.driver.connect()
    rig.start()
    await rig.ready()
    return rig, links


def watchdog_alarms(rig: Rig) -> list:
    return [a for a in rig.alarms() if a.code == ALARMS["watchdog"].code]


@pytest.mark.parametrize("watchdog_ms", [80, 250, 2000])
async def test_a_quiet_host_keeps_an_armed_gun_armed_at_any_watchdog(watchdog_ms):
    rig, _ = await armed_rig(watchdog_ms)
    try:
        sent = rig.driver.stats.frames_sent
        await asyncio.sleep(20.0)
        assert not watchdog_alarms(rig)
        assert rig.firmware.state is DeviceState.ARMED
        # One heartbeat per half watchdog: 160 in 20 s at 250 ms, where a fixed 50 ms period
        # sent 400.
        beats = rig.driver.stats.frames_sent - sent
        assert beats == pytest.approx(20.0 / (0.5 * watchdog_ms / 1000), rel=0.05)
    finally:
        await rig.close()


async def test_four_heartbeats_lost_in_a_row_do_not_trip_the_watchdog():
    rig, links = await armed_rig(250)
    try:
        await asyncio.sleep(1.0)
        links[-1].drop = 4
        await asyncio.sleep(2.0)
        assert links[-1].dropped == 4
        assert not watchdog_alarms(rig)
        assert rig.firmware.state is DeviceState.ARMED
    finally:
        await rig.close()


async def test_a_host_that_goes_silent_trips_the_watchdog_within_its_timeout():
    rig, links = await armed_rig(250)
    try:
        await asyncio.sleep(1.0)
        links[-1].drop = 10**9
        silent_from = rig.firmware._last_rx
        await rig.until(lambda: bool(watchdog_alarms(rig)), 2.0, "the watchdog alarm")
        assert rig.now - silent_from == pytest.approx(0.25, abs=1e-6)
        assert rig.firmware.physics.depth.position(rig.now) == 0.0
    finally:
        await rig.close()
