"""Serial-bridge specifics: exactly-once at the firmware, replays, reconnection, and the
end-to-end path through `injector sim --serial` in its own process."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import replace

import pytest

from drivers.codes import ALARMS, ERRORS
from drivers.config import UNLOCK_KEYS, UNLOCK_S
from drivers.errors import DifferentDevice, LinkLost, DeviceError
from drivers.messages import (
    DeviceState, ErrorBody, Fire, GetEvents, Hello, Identity, MsgType, Unlock,
)
from drivers.serial_link import serial_driver
from simulator.firmware import Firmware
from simulator.gun import GunOptions, SimulatedGun
from tests.conftest import REPO, run_cli
from tests.rig import make_rig, program_for


async def test_a_repeated_sequence_number_is_answered_from_the_cache_not_executed():
    firmware = Firmware()
    firmware.execute("serial", 1, MsgType.IDENTIFY, Hello(5).pack())
    firmware.execute("serial", 2, MsgType.HOME, b"")
    await asyncio.sleep(0.5)
    firmware.execute("serial", 3, MsgType.LOAD_PROGRAM, program_for().pack())
    firmware.execute("serial", 4, MsgType.ARM, b"")
    first = firmware.execute("serial", 5, MsgType.FIRE, Fire(2).pack())
    again = firmware.execute("serial", 5, MsgType.FIRE, Fire(2).pack())
    assert again is first and firmware.duplicates_answered == 1
    await asyncio.sleep(1.0)
    assert firmware.shots_done == 2
    # The same number with another command is a new command (a host that restarted).
    late = firmware.execute("serial", 5, MsgType.FIRE, Fire(3).pack())
    assert late.type == MsgType.OK
    await asyncio.sleep(1.0)
    assert firmware.shots_done == 5
    # A new session clears the cache; the old session's hello does not.
    firmware.execute("serial", 6, MsgType.IDENTIFY, Hello(5).pack())
    assert firmware.execute("serial", 5, MsgType.FIRE, Fire(3).pack()) is late
    firmware.execute("serial", 7, MsgType.IDENTIFY, Hello(6).pack())
    firmware.close()


async def test_a_repeated_read_is_answered_afresh_identify_included():
    # docs/protocol.md: reads take no place in the cache. A host that retransmits IDENTIFY
    # after the configuration changed must learn the new configuration hash, not the old.
    firmware = Firmware()
    hello = Hello(5).pack()
    before = Identity.unpack(firmware.execute("serial", 1, MsgType.IDENTIFY, hello).payload[1:])
    for seq, key in ((2, UNLOCK_KEYS[0]), (3, UNLOCK_KEYS[1])):
        firmware.execute("serial", seq, MsgType.UNLOCK_CONFIG, Unlock(key).pack())
    changed = replace(firmware.config, max_pressure_kpa=600)
    assert firmware.execute("serial", 4, MsgType.WRITE_CONFIG, changed.pack()).type == MsgType.OK
    after = Identity.unpack(firmware.execute("serial", 1, MsgType.IDENTIFY, hello).payload[1:])
    assert before.config_hash != after.config_hash == changed.config_hash()
    assert firmware.duplicates_answered == 0
    firmware.close()


async def test_events_are_replayed_on_request_and_a_lost_range_is_an_error():
    firmware = Firmware()
    for n in range(300):
        firmware.raise_alarm("link_degraded")
        firmware.latched.clear()
    ok = firmware.execute("serial", 1, MsgType.GET_EVENTS, GetEvents(290).pack())
    assert ok.type == MsgType.OK and [seq for seq, *_ in ok.replay] == list(range(290, 301))
    lost = firmware.execute("serial", 2, MsgType.GET_EVENTS, GetEvents(10).pack())
    assert lost.type == MsgType.ERROR
    nothing_new = firmware.execute("serial", 3, MsgType.GET_EVENTS, GetEvents(301).pack())
    assert nothing_new.type == MsgType.OK and nothing_new.replay == ()
    firmware.close()


async def test_the_driver_reconnects_and_loses_no_event():
    rig = await make_rig("serial-memory")
    try:
        await rig.ready()
        await rig.driver.fire(40)
        await rig.until(lambda: len(rig.shots()) >= 5)
        rig.gun.unplug()                    # the cable is pulled mid-run, and put back
        await rig.until(lambda: len(rig.shots()) == 40 and rig.states()[-1] is DeviceState.ARMED,
                        20.0)
        assert [s.shot_index for s in rig.shots()] == list(range(1, 41))
        assert rig.driver.stats.reconnects >= 1
        assert rig.driver.stats.replays >= 1
        await rig.driver.fire(1)            # and the link works again
        await rig.until(lambda: len(rig.shots()) == 41)
    finally:
        await rig.close()


async def test_a_different_gun_after_reconnection_is_refused():
    guns = [SimulatedGun(GunOptions(serial_number="SIM-A")),
            SimulatedGun(GunOptions(serial_number="SIM-B"))]
    ports = iter([guns[0].memory_port, guns[1].memory_port])
    driver = serial_driver(lambda: next(ports)())
    await driver.connect()
    guns[0].unplug()
    with pytest.raises(DifferentDevice, match="a different gun answered: serial SIM-B, was SIM-A"):
        async for _ in driver.events():
            pass
    for gun in guns:
        gun.close()


async def test_a_silent_link_trips_the_watchdog_and_the_host_gives_up_within_a_second():
    rig = await make_rig("serial-memory", faults=["watchdog@3"])
    try:
        await rig.ready()
        await rig.driver.fire(10)
        await rig.until(lambda: rig.firmware.link_silent(), 10.0, "the silence", poll_s=0.001)
        silent_from = rig.now
        with pytest.raises(LinkLost):
            await rig.until(lambda: False, 5.0, "the driver giving up")
        assert rig.now - silent_from < 1.0
        assert rig.firmware.state is DeviceState.FAULT            # the gun stopped itself
        assert ALARMS["watchdog"].code in rig.firmware.latched
        assert rig.firmware.physics.depth.position(rig.now) == 0.0
        # Once the line is back, another host finds the alarm latched, waiting for a person.
        await asyncio.sleep(2.0)
        later = serial_driver(rig.gun.memory_port)
        await later.connect()
        status = await later.status()
        assert status.active_alarm == ALARMS["watchdog"].code
        await later.close()
    finally:
        await rig.close()


async def test_a_device_error_names_the_field_and_the_limit():
    rig = await make_rig("serial-memory")
    try:
        with pytest.raises(DeviceError) as refused:
            await rig.driver.acknowledge(0x0101)
        assert str(refused.value) == ("device refused ACK_ALARM: unknown_alarm "
                                      "(0x000A; code = 257, limit 0)")
    finally:
        await rig.close()


@pytest.mark.looptime(False)
def test_sim_process_served_on_a_pty_answers_injector_status():
    sim = subprocess.Popen([sys.executable, "-m", "injector", "sim", "--serial",
                            "--serial-number", "SIM-E2E-7"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        path = sim.stdout.readline().strip()
        assert path.startswith("/dev/")
        done = run_cli("status", "--port", f"serial://{path}", "--json")
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        assert report["serial_number"] == "SIM-E2E-7"
        assert (report["model"], report["protocol_version"], report["state"]) == (
            "MESO-GUN-S1", 2, "locked")
        assert report["firmware_version"] == "1.4.2"
    finally:
        sim.send_signal(signal.SIGINT)
        assert sim.wait(timeout=10) == 0


@pytest.mark.looptime(False)
def test_status_of_an_absent_device_is_one_line_and_exit_1(tmp_path):
    read_fd, write_fd = os.openpty()           # a port where nothing answers
    try:
        done = run_cli("status", "--port", os.ttyname(write_fd))
    finally:
        os.close(read_fd)
        os.close(write_fd)
    assert done.returncode == 1
    assert done.stderr.startswith("injector: error: no answer to IDENTIFY in ")
    assert "(11 tries): check that the gun is on and connected" in done.stderr
    assert done.stderr.count("\n") == 1


async def test_stop_in_the_same_read_as_fire_is_handled_first():
    from drivers.framing import Frame, encode_frame
    from simulator.serial_adapter import SerialAdapter

    firmware = Firmware()
    sent = []
    adapter = SerialAdapter(firmware, sent.append)
    for seq, (msg_type, payload) in enumerate([
            (MsgType.IDENTIFY, Hello(1).pack()), (MsgType.HOME, b"")], start=1):
        adapter.feed(encode_frame(Frame(msg_type, seq, payload)))
    await asyncio.sleep(0.5)
    adapter.feed(encode_frame(Frame(MsgType.LOAD_PROGRAM, 3, program_for().pack()))
                 + encode_frame(Frame(MsgType.ARM, 4)))
    assert firmware.state is DeviceState.ARMED
    # FIRE and ESTOP arrive in one read: the stop goes first, so no shot ever starts.
    adapter.feed(encode_frame(Frame(MsgType.FIRE, 5, Fire(5).pack()))
                 + encode_frame(Frame(MsgType.ESTOP, 6)))
    await asyncio.sleep(1.0)
    assert firmware.state is DeviceState.ESTOP and firmware.shots_done == 0
    firmware.close()


async def test_imperfections_change_what_really_leaves_the_gun_not_what_it_reports():
    rig = await make_rig("serial-memory", volume_gain=1.07, depth_offset_mm=0.2)
    try:
        await rig.ready()
        await rig.driver.fire(10)
        await rig.until(lambda: len(rig.shots()) == 10)
        assert sum(s.measured_nl for s in rig.shots()) == 100_000     # what the encoder saw
        physics = rig.firmware.physics
        assert physics.true_dispensed_ul == pytest.approx(107.0)    # what a balance weighs
        assert physics.true_depths_mm == pytest.approx([1.2] * 10)  # what a gauge reads
    finally:
        await rig.close()


async def test_the_trigger_fires_one_shot_when_armed():
    rig = await make_rig("serial-memory")
    try:
        assert not rig.firmware.press_trigger()                     # locked: nothing
        await rig.ready()
        assert rig.firmware.press_trigger()
        await rig.until(lambda: len(rig.shots()) == 1 and rig.states()[-1] is DeviceState.ARMED)
    finally:
        await rig.close()


@pytest.mark.looptime(False)
@pytest.mark.skipif(shutil.which("socat") is None, reason="socat not installed (.ci/run installs it)")
def test_socat_talks_to_the_serial_pty_with_the_documented_bytes():
    from drivers.framing import FrameDecoder, encode_frame
    from drivers.messages import Identity
    from tests.wire.examples import EXAMPLES

    sim = subprocess.Popen([sys.executable, "-m", "injector", "sim", "--serial",
                            "--serial-number", "SIM-SOCAT-1"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        path = sim.stdout.readline().strip()
        done = subprocess.run(["socat", "-t", "1", "-T", "1", "-", f"{path},raw,echo=0"],
                              input=encode_frame(EXAMPLES["IDENTIFY"]), capture_output=True,
                              timeout=20)
        frames = FrameDecoder().feed(done.stdout)
        assert [f.type for f in frames] == [MsgType.OK]
        assert frames[0].seq == EXAMPLES["IDENTIFY"].seq
        identity = Identity.unpack(frames[0].payload[1:])
        assert (identity.model, identity.serial_number) == ("MESO-GUN-S1", "SIM-SOCAT-1")
    finally:
        sim.send_signal(signal.SIGINT)
        sim.wait(timeout=10)


async def test_a_shot_planned_for_the_next_slot_counts_only_once_it_begins():
    # The simulator plans each shot at the end of the last; between the two, the gun must
    # still report the shots actually begun, and a hold in the gap must cancel the plan.
    rig = await make_rig("serial-memory")
    try:
        await rig.ready(program_for(shot_rate_hz=1.0))
        await rig.driver.fire(5)
        await rig.until(lambda: len(rig.shots()) == 1, 5.0, "the first shot")
        status = await rig.driver.status()
        assert (status.shots_done, status.run_remaining, status.depth_um) == (1, 4, 0)
        await asyncio.sleep(0.2)                   # still well inside the 1 s slot
        await rig.driver.hold()
        await rig.until_state(DeviceState.HELD)
        await asyncio.sleep(2.0)                   # past where shot 2 would have begun
        status = await rig.driver.status()
        assert (status.shots_done, status.run_remaining) == (1, 4)
        assert [s.shot_index for s in rig.shots()] == [1]
        assert rig.firmware.physics.true_dispensed_ul == pytest.approx(10.0, rel=1e-6)
        await rig.driver.resume()
        await rig.until(lambda: len(rig.shots()) == 5, 10.0, "the rest of the run")
        assert [s.shot_index for s in rig.shots()] == [1, 2, 3, 4, 5]
        assert not any(s.flags for s in rig.shots())
    finally:
        await rig.close()


def _error_code(reply) -> int:
    return ErrorBody.unpack(reply.payload[1:]).code if reply.type == MsgType.ERROR else 0


async def test_the_configuration_is_written_only_after_the_technician_unlock():
    # Same guarantee as the Modbus unlock register: a host cannot change the gun's
    # calibration or limits by a stray WRITE_CONFIG.
    firmware = Firmware()
    changed = replace(firmware.config, max_pressure_kpa=600).pack()
    firmware.execute("serial", 1, MsgType.IDENTIFY, Hello(5).pack())
    locked = ERRORS["locked"].code
    assert _error_code(firmware.execute("serial", 2, MsgType.WRITE_CONFIG, changed)) == locked
    # A wrong key restarts the sequence and names the key expected.
    firmware.execute("serial", 3, MsgType.UNLOCK_CONFIG, Unlock(UNLOCK_KEYS[0]).pack())
    wrong = firmware.execute("serial", 4, MsgType.UNLOCK_CONFIG, Unlock(0x1234).pack())
    assert (ErrorBody.unpack(wrong.payload[1:]).value,
            ErrorBody.unpack(wrong.payload[1:]).limit) == (0x1234, UNLOCK_KEYS[1])
    assert _error_code(firmware.execute("serial", 5, MsgType.UNLOCK_CONFIG,
                                        Unlock(UNLOCK_KEYS[1]).pack())) != 0
    # Both keys in order, on this connection only; one write, then locked again.
    for seq, key in ((6, UNLOCK_KEYS[0]), (7, UNLOCK_KEYS[1])):
        assert firmware.execute("serial", seq, MsgType.UNLOCK_CONFIG, Unlock(key).pack()).type \
            == MsgType.OK
    assert _error_code(firmware.execute("other", 1, MsgType.WRITE_CONFIG, changed)) == locked
    assert firmware.execute("serial", 8, MsgType.WRITE_CONFIG, changed).type == MsgType.OK
    assert firmware.config.max_pressure_kpa == 600
    assert _error_code(firmware.execute("serial", 9, MsgType.WRITE_CONFIG, changed)) == locked
    # An unlock left unused expires.
    for seq, key in ((10, UNLOCK_KEYS[0]), (11, UNLOCK_KEYS[1])):
        firmware.execute("serial", seq, MsgType.UNLOCK_CONFIG, Unlock(key).pack())
    await asyncio.sleep(UNLOCK_S + 1)
    assert _error_code(firmware.execute("serial", 12, MsgType.WRITE_CONFIG, changed)) == locked
    firmware.close()


async def test_the_serial_driver_unlocks_writes_and_leaves_the_gun_locked():
    rig = await make_rig("serial-memory")
    try:
        config = replace(await rig.driver.read_config(), watchdog_ms=400)
        await rig.driver.write_config(config)
        assert rig.firmware.config.watchdog_ms == 400
        assert rig.driver.keepalive_s == pytest.approx(0.2)        # paced by the new watchdog
        with pytest.raises(DeviceError) as refused:
            await rig.driver.link.exchange(MsgType.WRITE_CONFIG, config)
        assert refused.value.name == "locked"
    finally:
        await rig.close()
