"""Heartbeats follow the gun's own watchdog: a quiet host keeps an armed gun armed, at any
configured watchdog, through lost heartbeats, with no more traffic than that needs."""

from __future__ import annotations

import asyncio

import pytest

from drivers.codes import ALARMS
from drivers.messages import DeviceState
from drivers.core import keepalive_period_s
from drivers.serial_link import serial_driver
from simulator.gun import GunOptions, SimulatedGun
from tests.rig import Rig


def losses_tolerated(watchdog_s: float, link_resend_s: float = 0.005) -> int:
    """Keepalives lost in a row after which the next still arrives inside the watchdog."""
    resend = max(link_resend_s, watchdog_s / 20)
    first = keepalive_period_s(watchdog_s, resend)
    lost = 0
    while first + (lost + 1) * resend < watchdog_s:
        lost += 1
    return lost


def test_the_default_watchdog_survives_nine_lost_keepalives_in_a_row():
    # One after half the watchdog, then one every 12.5 ms: 125 + 9 x 12.5 < 250 ms.
    assert keepalive_period_s(0.25, 0.0125) == pytest.approx(0.125)
    assert losses_tolerated(0.25) == 9


@pytest.mark.parametrize("watchdog_ms", [50, 80, 100, 250, 1000, 5000])
def test_every_configurable_watchdog_survives_several_lost_keepalives(watchdog_ms):
    assert losses_tolerated(watchdog_ms / 1000) >= 4
    # Modbus cannot resend before its 60 ms timeout: three tries still fit at 250 ms.
    if watchdog_ms >= 250:
        assert losses_tolerated(watchdog_ms / 1000, link_resend_s=0.06) >= 2


class DropHostFrames:
    """The host's side of an in-memory link that loses the next `drop` frames it sends."""

    def __init__(self, inner, drop: int = 0) -> None:
        self.inner = inner
        self.drop = drop
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
        # A reopened port is the same cable: what the last one dropped, it drops too.
        links.append(DropHostFrames(gun.memory_port(), links[-1].drop if links else 0))
        return links[-1]

    rig = Rig(gun, serial_driver(open_port, name="lossy"))
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


async def test_nine_keepalives_lost_in_a_row_do_not_trip_the_watchdog():
    rig, links = await armed_rig(250)
    try:
        await asyncio.sleep(1.0)
        links[-1].drop = 9
        await asyncio.sleep(2.0)
        assert links[-1].dropped == 9
        assert not watchdog_alarms(rig)
        assert rig.firmware.state is DeviceState.ARMED
    finally:
        await rig.close()


async def test_a_host_that_goes_silent_trips_the_watchdog_within_its_timeout():
    rig, links = await armed_rig(250)
    try:
        await asyncio.sleep(1.0)
        links[-1].drop = 10**9
        dropped_from = rig.now
        await rig.until(lambda: bool(watchdog_alarms(rig)), 2.0, "the watchdog alarm")
        # The last frame the gun heard may have been on its way when the cable went quiet.
        silent_from = rig.firmware._last_rx
        assert silent_from <= dropped_from
        assert rig.now - silent_from == pytest.approx(0.25, abs=1e-6)
        assert rig.firmware.physics.depth.position(rig.now) == 0.0
    finally:
        await rig.close()
