"""The driver suite: what the controller relies on, over every bridge, in virtual time."""

from __future__ import annotations

import asyncio

import pytest

from drivers.codes import ALARMS
from drivers.errors import (
    DeviceError, DeviceRebooted, DifferentDevice, IncompatibleDevice, LinkLost,
)
from drivers.messages import DeviceState, MsgType, ShotFlags, StateChanged, StatusFlags
from drivers.program import ShotProgram
from simulator.gun import GunOptions, SimulatedGun
from drivers.serial_link import serial_driver
from tests.rig import program_for


async def test_connect_identifies_the_gun(rig_factory, bridge):
    rig = await rig_factory(bridge)
    identity = rig.driver.identity
    assert (identity.model, identity.protocol_version) == ("MESO-GUN-S1", 2)
    assert identity.boot_id == rig.firmware.boot_id != 0
    assert identity.serial_number == "SIM-000001"
    assert identity.config_hash == rig.firmware.config.config_hash()
    status = await rig.driver.status()
    assert DeviceState(status.state) is DeviceState.LOCKED
    assert not status.flags & StatusFlags.HOMED


async def test_an_unknown_model_is_refused():
    gun = SimulatedGun()
    driver = serial_driver(gun.memory_port, models=frozenset({"OTHER-GUN"}))
    with pytest.raises(IncompatibleDevice, match="model = 'MESO-GUN-S1', expected OTHER-GUN"):
        await driver.connect()
    await driver.close()
    gun.close()


async def test_the_gun_is_locked_until_homed(rig_factory, bridge):
    rig = await rig_factory(bridge)
    await rig.driver.load_program(program_for())
    with pytest.raises(DeviceError, match="ARM: not_homed|ARM: wrong_state"):
        await rig.driver.arm()
    with pytest.raises(DeviceError, match="FIRE: wrong_state"):
        await rig.driver.fire(1)
    await rig.driver.home()
    await rig.until_state(DeviceState.IDLE)
    await rig.driver.arm()
    await rig.until_state(DeviceState.ARMED)


async def test_a_run_fires_each_shot_once_at_the_program_period(rig_factory, bridge):
    rig = await rig_factory(bridge)
    await rig.ready()
    start = rig.now
    await rig.driver.fire(5)
    await rig.until(lambda: len(rig.shots()) == 5 and rig.states()[-1] is DeviceState.ARMED)
    shots = rig.shots()
    assert [s.shot_index for s in shots] == [1, 2, 3, 4, 5]
    assert all((s.depth_reached_um, s.measured_nl, s.flags) == (1000, 10_000, 0) for s in shots)
    gaps = [b.time_ms - a.time_ms for a, b in zip(shots, shots[1:])]
    assert gaps == [125] * 4                            # 8 Hz, timed by the firmware
    assert rig.now - start < 5 * 0.125 + 0.1
    status = await rig.driver.status()
    assert (status.shots_done, status.volume_measured_nl) == (5, 50_000)
    assert rig.firmware.physics.true_dispensed_ul == pytest.approx(50.0, rel=1e-6)


async def test_values_out_of_range_are_refused_and_change_nothing(rig_factory, bridge):
    rig = await rig_factory(bridge)
    await rig.driver.home()
    await rig.until_state(DeviceState.IDLE)
    good = program_for()
    for field, value, limit in [("depth_um", 14_500, 14_000), ("volume_nl", 200_000, 132_000),
                                ("insert_speed_um_s", 900_000, 150_000),
                                ("shot_period_ms", 20, 56)]:
        bad = ShotProgram(**{**good.__dict__, field: value})
        with pytest.raises(DeviceError) as refused:
            await rig.driver.load_program(bad)
        assert (refused.value.name, refused.value.field) == ("out_of_range", field)
        assert (refused.value.value, refused.value.limit) == (value, limit)
    assert not (await rig.driver.status()).flags & StatusFlags.PROGRAM_LOADED
    with pytest.raises(DeviceError, match="FIRE: wrong_state"):
        await rig.driver.fire(1)


async def test_hold_stops_at_once_and_resume_finishes_the_run(rig_factory, bridge):
    rig = await rig_factory(bridge)
    await rig.ready()
    await rig.driver.fire(10)
    await rig.until(lambda: len(rig.shots()) >= 3)
    await rig.driver.hold()
    await rig.until_state(DeviceState.HELD)
    held_at = len(rig.shots())
    await rig.until(lambda: rig.firmware.physics.depth.position(rig.now) == 0.0, 1.0,
                    poll_s=0.005)
    assert (await rig.driver.status()).run_remaining == 10 - held_at
    await rig.driver.resume()
    await rig.until(lambda: rig.states()[-1] is DeviceState.ARMED and len(rig.shots()) == 10)
    assert [s.shot_index for s in rig.shots()] == list(range(1, 11))
    changes = [e for e in rig.events if isinstance(e, StateChanged)]
    resumed = next(c for c in changes if c.previous == DeviceState.HELD)
    assert (resumed.state, resumed.cause) == (DeviceState.FIRING, MsgType.RESUME)
    interrupted = [s for s in rig.shots() if s.flags & ShotFlags.INTERRUPTED]
    assert len(interrupted) <= 1
    full = sum(s.measured_nl for s in rig.shots())
    assert full == rig.firmware.volume_measured_nl


async def test_emergency_stop_halts_the_plunger_at_once(rig_factory, bridge):
    rig = await rig_factory(bridge)
    await rig.ready(program_for("continuous-infusion", zone="back", needle="30G-6mm"))
    await rig.driver.fire(1)
    plunger = rig.firmware.physics.plunger
    await rig.until(lambda: plunger.moving(rig.now), 5.0, "the infusion to flow", poll_s=0.01)
    await rig.driver.emergency_stop()
    stopped_at = plunger.position(rig.now)
    await rig.until_state(DeviceState.ESTOP)
    await rig.until(lambda: rig.firmware.physics.depth.position(rig.now) == 0.0, 1.0,
                    poll_s=0.005)
    assert plunger.position(rig.now) == stopped_at
    assert [ALARMS["emergency_stop"].code] == [a.code for a in rig.alarms()]
    (shot,) = rig.shots()
    assert shot.flags & ShotFlags.INTERRUPTED and 0 < shot.measured_nl < 100_000
    # E-stop cut the motors: the gun must be homed again after acknowledgement.
    await rig.driver.acknowledge(ALARMS["emergency_stop"].code)
    await rig.until_state(DeviceState.LOCKED)
    with pytest.raises(DeviceError, match="not_homed|wrong_state"):
        await rig.driver.arm()


async def test_exactly_1000_shots_under_loss_corruption_and_duplication(rig_factory, bridge):
    rig = await rig_factory(bridge, drop_rate=0.05, corrupt_rate=0.01, duplicate_rate=0.03,
                            delay_rate=0.01, delay_ms=30, seed=7)
    await rig.ready()
    for batch in range(100):
        if batch == 50:
            # 10 ml less the dead volume holds 992 shots: change the syringe halfway.
            await rig.driver.disarm()
            await rig.driver.syringe_loaded(10_000_000)
            await rig.driver.arm()
        before = len(rig.shots())
        await rig.driver.fire(10)
        await rig.until(lambda: len(rig.shots()) == before + 10
                        and rig.states()[-1] is DeviceState.ARMED, 30.0, "10 more shots")
    indices = [s.shot_index for s in rig.shots()]
    assert indices == list(range(1, 1001))
    assert rig.firmware.shots_done == 1000
    assert rig.firmware.executed[MsgType.FIRE] == 100
    assert rig.firmware.physics.true_dispensed_ul == pytest.approx(10_000.0, rel=1e-6)
    # The link really was bad, and the device really did get commands twice.
    assert rig.driver.stats.retransmits > 0
    assert rig.firmware.duplicates_answered > 0


STOP_FAULTS = {
    # fault -> (alarm, state after, gun must be homed again)
    "occlusion": ("occlusion", DeviceState.FAULT, False),
    "motor_stall": ("motor_stall", DeviceState.FAULT, True),
    "plunger_stall": ("plunger_stall", DeviceState.FAULT, True),
    "empty_syringe": ("empty_syringe", DeviceState.FAULT, False),
    "needle_removed": ("needle_removed", DeviceState.FAULT, False),
    "syringe_removed": ("syringe_removed", DeviceState.FAULT, False),
    "emergency_stop": ("emergency_stop", DeviceState.ESTOP, True),
}


@pytest.mark.parametrize("fault", sorted(STOP_FAULTS))
async def test_each_fault_raises_its_alarm_and_retracts(rig_factory, bridge, fault):
    alarm, state, rehome = STOP_FAULTS[fault]
    rig = await rig_factory(bridge, faults=[f"{fault}@3"])
    await rig.ready()
    await rig.driver.fire(6)
    await rig.until_state(state)
    assert [a.code for a in rig.alarms()] == [ALARMS[alarm].code]
    assert rig.alarms()[0].shot_index == 3
    await rig.until(lambda: rig.firmware.physics.depth.position(rig.now) == 0.0, 1.0,
                    "needle retracted", poll_s=0.005)
    # The record is consistent: every shot the device started was reported once.
    assert [s.shot_index for s in rig.shots()] == list(range(1, rig.firmware.shots_done + 1))
    assert sum(s.measured_nl for s in rig.shots()) == rig.firmware.volume_measured_nl
    assert rig.firmware.shots_done in (2, 3)        # shot 3 started, or was refused at start
    # Latched: nothing moves until a person acknowledges.
    with pytest.raises(DeviceError, match="alarm_active"):
        await rig.driver.arm()
    await rig.driver.acknowledge(ALARMS[alarm].code)
    await rig.until_state(DeviceState.LOCKED if rehome else DeviceState.IDLE)


async def test_home_failed_alarm(rig_factory, bridge):
    rig = await rig_factory(bridge, faults=["home_failed"])
    await rig.driver.home()
    await rig.until_state(DeviceState.FAULT)
    assert [a.code for a in rig.alarms()] == [ALARMS["home_failed"].code]
    await rig.driver.acknowledge(ALARMS["home_failed"].code)
    await rig.until_state(DeviceState.LOCKED)
    await rig.driver.home()
    await rig.until_state(DeviceState.IDLE)


async def test_link_degraded_is_advisory_and_the_run_goes_on(rig_factory, bridge):
    rig = await rig_factory(bridge, faults=["link_degraded@2"])
    await rig.ready()
    await rig.driver.fire(20)
    await rig.until(lambda: len(rig.shots()) == 20 and rig.states()[-1] is DeviceState.ARMED)
    assert [a.code for a in rig.alarms()] == [ALARMS["link_degraded"].code]
    assert ALARMS["link_degraded"].code in rig.firmware.latched      # latched until acked
    await rig.driver.acknowledge(ALARMS["link_degraded"].code)
    assert not rig.firmware.latched


async def test_a_silent_host_trips_the_watchdog_mid_shot(rig_factory, bridge):
    rig = await rig_factory(bridge)
    await rig.ready(program_for("continuous-infusion", zone="back", needle="30G-6mm"))
    await rig.driver.fire(1)
    physics = rig.firmware.physics
    await rig.until(lambda: physics.plunger.moving(rig.now), 5.0, "the infusion", poll_s=0.01)
    await rig.driver.close()                    # the host falls silent mid-dispense
    closed_at = rig.now
    timeout_s = rig.firmware.config.watchdog_ms / 1000
    await rig.until(lambda: rig.firmware.state is DeviceState.FAULT, 1.0, poll_s=0.001)
    tripped = rig.now
    # The last frame the gun heard may be a request already on its way when the host closed.
    silent_from = rig.firmware._last_rx
    assert silent_from <= closed_at + 0.06
    assert silent_from + timeout_s <= tripped <= silent_from + timeout_s + 0.002
    assert not physics.plunger.moving(tripped)
    await rig.until(lambda: physics.depth.position(rig.now) == 0.0, 0.2, poll_s=0.001)
    assert rig.now - silent_from <= timeout_s + 0.05            # retracted soon after the trip
    assert ALARMS["watchdog"].code in rig.firmware.latched
    alarm, shot, state = rig.firmware.event_log()[-3:]
    assert alarm.code == ALARMS["watchdog"].code and alarm.value == 250
    assert shot.flags & ShotFlags.INTERRUPTED and 0 < shot.measured_nl < 100_000
    assert DeviceState(state.state) is DeviceState.FAULT


async def test_the_watchdog_ignores_a_silent_host_when_nothing_can_move(rig_factory, bridge):
    rig = await rig_factory(bridge)
    await rig.driver.home()
    await rig.until_state(DeviceState.IDLE)
    await rig.driver.close()
    await asyncio.sleep(1.0)
    assert rig.firmware.state is DeviceState.IDLE and not rig.firmware.latched


# ---- the same gun, the same boot, a link that fails fast (issue 13) -----------------------

async def test_a_rebooted_gun_is_refused_never_adopted(rig_factory, bridge):
    rig = await rig_factory(bridge)
    await rig.ready()
    await rig.driver.fire(3)
    await rig.until(lambda: len(rig.shots()) == 3)
    was = rig.driver.identity.boot_id
    rig.gun.power_cycle()                       # a reset behind an unbroken link
    with pytest.raises(DeviceRebooted) as refused:
        await rig.until(lambda: False, 2.0, "the driver to notice")
    assert (refused.value.was, refused.value.now) == (was, rig.firmware.boot_id)
    assert "rebooted" in str(refused.value)
    with pytest.raises(DeviceRebooted):
        await rig.driver.status()               # the driver is done with this gun


async def test_a_rebooted_gun_met_on_reconnection_is_refused(rig_factory, bridge):
    rig = await rig_factory(bridge)
    await rig.ready()
    rig.gun.unplug()
    rig.gun.power_cycle()                       # the cable pulled, and the gun reset
    with pytest.raises(DeviceRebooted):
        await rig.until(lambda: False, 2.0, "the driver to notice")


async def test_another_gun_behind_the_same_cable_is_refused(rig_factory, bridge):
    rig = await rig_factory(bridge, serial_number="SIM-A")
    await rig.ready()
    await rig.swap_gun(SimulatedGun(GunOptions(serial_number="SIM-B")))
    with pytest.raises(DifferentDevice, match="serial SIM-B, was SIM-A"):
        await rig.until(lambda: False, 2.0, "the driver to notice")


async def test_another_gun_with_the_same_serial_is_refused_by_its_boot(rig_factory, bridge):
    # Two simulated guns with the default serial: only the boot id tells them apart.
    rig = await rig_factory(bridge)
    await rig.ready()
    await rig.swap_gun(SimulatedGun(GunOptions()))
    with pytest.raises(DeviceRebooted):
        await rig.until(lambda: False, 2.0, "the driver to notice")


async def test_a_pulled_cable_ends_the_driver_within_a_second_of_the_last_answer(
        rig_factory, bridge):
    rig = await rig_factory(bridge)
    await rig.ready()
    await rig.driver.fire(1000)                 # a long run: its length must not matter
    await rig.until(lambda: len(rig.shots()) >= 3)
    rig.gun.modbus.unplug(cut_s=3600.0)         # Modbus lines dead, TCP dropped
    rig.gun.unplug()
    rig.gun.firmware.link_silent_until = rig.now + 3600.0      # and nothing gets through
    pulled = rig.now
    with pytest.raises(LinkLost):
        await rig.until(lambda: False, 5.0, "the driver to give up")
    assert rig.now - pulled < 1.0
    assert rig.firmware.state is DeviceState.FAULT              # its watchdog stopped it
    assert rig.firmware.physics.depth.position(rig.now) == 0.0


async def test_a_noisy_cable_losing_a_fifth_of_its_frames_never_trips_the_watchdog(
        rig_factory):
    # Keepalives go on while a command is retransmitted: ten sessions of 300 shots over a
    # cable that loses 20% of the frames each way, and the gun's watchdog never trips.
    for seed in range(10):
        rig = await rig_factory("serial-memory", drop_rate=0.2, seed=seed)
        await rig.ready()
        given = 0
        while given < 300:
            batch = min(50, 300 - given)
            before = len(rig.shots())
            await rig.driver.fire(batch)
            await rig.until(lambda: len(rig.shots()) == before + batch
                            and rig.states()[-1] is DeviceState.ARMED, 60.0, "a batch")
            given += batch
        assert not any(a.code == ALARMS["watchdog"].code for a in rig.alarms()), seed
        assert [s.shot_index for s in rig.shots()] == list(range(1, 301))
        await rig.close()


async def test_keepalives_follow_the_watchdog_and_stay_out_of_the_round_trips(rig_factory,
                                                                              bridge):
    # An armed, idle gun: one keepalive every half watchdog on every bridge (Modbus once
    # polled at a fixed 50 ms), counted apart from the commands' round trips.
    rig = await rig_factory(bridge)
    await rig.ready()
    commands, round_trips = rig.driver.stats.commands, len(rig.driver.stats.rtt_s)
    keepalives = rig.driver.stats.keepalives
    await asyncio.sleep(10.0)
    stats = rig.driver.stats
    assert (stats.commands, len(stats.rtt_s)) == (commands, round_trips)
    assert stats.keepalives - keepalives == pytest.approx(10.0 / rig.driver.keepalive_s, rel=0.1)
    assert rig.firmware.state is DeviceState.ARMED


async def test_an_answered_keepalive_costs_one_wake_up(rig_factory, bridge):
    # Answered at once, a keepalive's resend timer is moved to the next keepalive: the loop
    # wakes once a keepalive, not also for a resend no longer needed.
    rig = await rig_factory(bridge)
    await rig.ready()
    driver = rig.driver
    wake_ups = 0
    due = driver._keepalive_due

    def counted() -> None:
        nonlocal wake_ups
        wake_ups += 1
        due()
    driver._keepalive_due = counted
    driver._arm_keepalive(driver._loop.time())
    keepalives = driver.stats.keepalives
    await asyncio.sleep(10.0)
    assert driver.stats.keepalives - keepalives == pytest.approx(10.0 / driver.keepalive_s,
                                                                 rel=0.1)
    assert wake_ups <= driver.stats.keepalives - keepalives + 1
