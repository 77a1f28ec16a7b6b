"""The conformance suite: it passes against the simulated gun, in virtual time and through the
command line against `injector sim` in its own process, and each check fails against a
simulated firmware that breaks the promise it covers."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import sys

import pytest

import drivers.framing
from drivers.cobs import cobs_decode
from drivers.crc import crc16
from drivers.framing import CRC, HEADER, PROTOCOL_VERSION, Frame
from drivers.messages import DeviceState, Fire, MsgType
from injector.conformance import CHECK_NAMES, GunNotReady, run_suite, select
from simulator import firmware as firmware_module
from simulator import serial_adapter
from simulator.firmware import Firmware
from simulator.gun import GunOptions, SimulatedGun
from simulator.serial_adapter import SerialAdapter
from tests.conftest import REPO, run_cli


async def conform(gun: SimulatedGun, names=None):
    try:
        return await run_suite(gun.memory_port, "sim://", select(names))
    finally:
        await gun.aclose()


def by_name(report) -> dict:
    return {result.name: result for result in report.results}


async def test_the_simulated_gun_keeps_every_promise():
    gun = SimulatedGun()
    firmware = gun.firmware
    report = await conform(gun)
    assert report.passed, report.as_text()
    assert tuple(by_name(report)) == CHECK_NAMES
    results = by_name(report)
    # In virtual time the watchdog trips exactly at its configured 250 ms.
    assert "tripped the watchdog 250 ms after the last frame" in results["watchdog"].reason
    # One test shot, the smallest dose at the shallowest depth the envelope allows.
    assert firmware.shots_done == 1
    assert firmware.volume_measured_nl == firmware.config.min_dose_nl
    assert firmware.executed[MsgType.FIRE] == 1
    # And the gun is left disarmed with nothing latched.
    assert firmware.state in (DeviceState.IDLE, DeviceState.LOCKED) and not firmware.latched
    assert report.gun.serial_number == "SIM-000001"
    assert report.as_json()["passed"] is True


async def test_the_checks_that_do_not_move_the_gun_never_home_or_fire_it():
    gun = SimulatedGun()
    firmware = gun.firmware
    still = [c.name for c in select(None) if not c.moves]
    report = await conform(gun, still)
    assert report.passed, report.as_text()
    assert not {MsgType.HOME, MsgType.ARM, MsgType.FIRE, MsgType.PRIME} & set(firmware.executed)
    assert firmware.state is DeviceState.LOCKED


def _blind_decode_body(stuffed: bytes) -> Frame | None:
    """A receiver that forgot its CRC check: COBS and the length field only."""
    try:
        body = cobs_decode(stuffed)
    except ValueError:
        return None
    if len(body) < HEADER.size + CRC.size:
        return None
    version, msg_type, seq, length = HEADER.unpack_from(body)
    if len(body) != HEADER.size + length + CRC.size:
        return None
    return Frame(msg_type, seq, body[HEADER.size:-CRC.size], version)


def _lengthless_decode_body(stuffed: bytes) -> Frame | None:
    """A receiver that takes the payload as whatever lies between header and CRC, whatever
    the length field says."""
    try:
        body = cobs_decode(stuffed)
    except ValueError:
        return None
    if len(body) < HEADER.size + CRC.size or crc16(body[:-CRC.size]) != CRC.unpack(
            body[-CRC.size:])[0]:
        return None
    version, msg_type, seq, _ = HEADER.unpack_from(body)
    return Frame(msg_type, seq, body[HEADER.size:-CRC.size], version)


_handle = SerialAdapter._handle
_dispatch = Firmware._dispatch


def _state_before_length(firmware: Firmware, msg_type: int, payload: bytes):
    """A firmware that looks at its state before the payload's length."""
    if msg_type == MsgType.FIRE and firmware.state is not DeviceState.ARMED:
        payload = Fire(1).pack()
    return _dispatch(firmware, msg_type, payload)


def _any_version(adapter: SerialAdapter, frame: Frame) -> None:
    """A firmware that executes a frame of any protocol version."""
    _handle(adapter, frame._replace(version=PROTOCOL_VERSION))


BREAKAGES = {
    # the check that must fail: how the simulated firmware is broken to break its promise
    "exactly_once": lambda mp: mp.setattr(firmware_module, "REPLY_CACHE", 0),
    # Shared by both ends in this process; the gun's own frames are intact, so only the
    # gun's side of the wire is blind in effect.
    "crc": lambda mp: mp.setattr(drivers.framing, "decode_body", _blind_decode_body),
    "stop_first": lambda mp: mp.setattr(serial_adapter, "PRIORITY_COMMANDS", frozenset()),
    "watchdog": lambda mp: mp.setattr(firmware_module, "SUPERVISED",
                                      firmware_module.SUPERVISED - {DeviceState.ARMED}),
    "event_replay": lambda mp: mp.setattr(Firmware, "events_from",
                                          lambda self, from_seq, limit=None: []),
    "limits": lambda mp: mp.setattr(Firmware, "_envelope_limit", lambda self, name, value: None),
    "link_monitor": lambda mp: mp.setattr(Firmware, "note_bad_frame", lambda self: None),
    "version": lambda mp: mp.setattr(SerialAdapter, "_handle", _any_version),
    "framing": lambda mp: mp.setattr(drivers.framing, "decode_body", _lengthless_decode_body),
    "answers": lambda mp: mp.setattr(Firmware, "_dispatch", _state_before_length),
}


@pytest.mark.parametrize("broken", sorted(BREAKAGES))
async def test_a_firmware_that_breaks_a_promise_fails_that_check(broken, monkeypatch):
    BREAKAGES[broken](monkeypatch)
    report = await conform(SimulatedGun())
    failed = [r.name for r in report.results if not r.passed]
    assert failed == [broken], report.as_text()
    assert "promise:" in report.as_text()


async def test_a_gun_whose_boot_id_is_zero_fails_boot_identity():
    report = await conform(SimulatedGun(GunOptions(boot_id=0)), ["boot_identity", "framing"])
    results = by_name(report)
    assert not results["boot_identity"].passed and results["framing"].passed
    assert "boot_id is 0" in results["boot_identity"].reason


async def test_the_suite_does_not_start_on_a_gun_with_a_latched_alarm():
    gun = SimulatedGun()
    gun.firmware.raise_alarm("occlusion")
    with pytest.raises(GunNotReady, match="occlusion latched: a person acknowledges it first"):
        await conform(gun)
    assert gun.firmware.executed.get(MsgType.ACK_ALARM) is None


async def test_interrupted_mid_shot_the_gun_is_held_and_disarmed():
    gun = SimulatedGun()
    firmware = gun.firmware
    suite = asyncio.create_task(run_suite(gun.memory_port, "sim://", select(["exactly_once"])))
    async with asyncio.timeout(5):
        while firmware.state is not DeviceState.FIRING:
            await asyncio.sleep(0.001)
    suite.cancel()
    with pytest.raises(asyncio.CancelledError):
        await suite
    await asyncio.sleep(2 * firmware.config.watchdog_ms / 1000)
    assert firmware.state is DeviceState.IDLE and not firmware.latched
    await gun.aclose()


# ---- through the command line, in real time -------------------------------------------

FLAG = "--i-understand-this-moves-the-gun"


@pytest.mark.looptime(False)
def test_the_command_passes_against_injector_sim_in_its_own_process():
    sim = subprocess.Popen([sys.executable, "-m", "injector", "sim", "--serial"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        port = sim.stdout.readline().strip()
        refused = run_cli("conformance", "--port", port)
        assert refused.returncode == 3 and refused.stderr.count("\n") == 1
        assert FLAG in refused.stderr and "home the gun and fire test shots" in refused.stderr
        # The simulator is a process on a machine that may be loaded: its timer can run late
        # by the scheduler's delay. The exact figure is checked in virtual time above.
        done = run_cli("conformance", "--port", port, FLAG, "--json",
                       "--watchdog-tolerance-ms", "200")
        assert done.returncode == 0, done.stdout + done.stderr
        report = json.loads(done.stdout)
        assert report["passed"] and report["schema_version"] == 1
        assert [c["name"] for c in report["checks"]] == list(CHECK_NAMES)
        assert all(c["passed"] for c in report["checks"])
        again = run_cli("conformance", "--port", port, "--check", "framing", "--check", "crc")
        assert again.returncode == 0, again.stdout + again.stderr
        assert again.stdout.splitlines()[-1] == "2 checks: 2 passed, 0 failed"
    finally:
        sim.send_signal(signal.SIGINT)
        sim.wait(timeout=10)


def test_the_help_says_the_suite_moves_the_gun_and_how_to_allow_it(capsys):
    from injector.cli import main

    with pytest.raises(SystemExit):
        main(["conformance", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "THE SUITE MOVES THE GUN: it homes it and fires single test shots" in text
    assert f"On a real port those checks run only with {FLAG}" in text
    assert "sim:// needs no flag" in text
    for name in CHECK_NAMES:
        assert f" {name}" in text


def test_every_check_names_a_section_of_the_protocol_doc():
    headings = set(re.findall(r"^## (.+)$", (REPO / "docs" / "protocol.md").read_text(
        encoding="utf-8"), flags=re.M))
    assert {check.section for check in select(None)} <= headings


@pytest.mark.looptime(False)
def test_the_command_against_sim_needs_no_flag_and_exits_1_on_a_failure():
    done = run_cli("conformance", "--port", "sim://?boot_id=0", "--check", "boot_identity",
                   "--check", "version")
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[1].startswith("  FAIL  boot_identity  IDENTIFY's boot_id is 0")
    assert 'promise: IDENTIFY names the gun' in lines[2] and '"Boot identity"' in lines[2]
    assert lines[3].startswith("  pass  version ")
    assert lines[-1] == "2 checks: 1 passed, 1 failed"


@pytest.mark.looptime(False)
@pytest.mark.parametrize("args, code, says", [
    (["--port", "modbus-tcp://127.0.0.1:1502"], 3, "speaks the serial protocol"),
    (["--port", "serial:///dev/null?retries=3"], 3, "unknown parameter 'retries'"),
    (["--port", "sim://", "--check", "nonsense"], 2, "invalid choice"),
    (["--port", "sim://", "--watchdog-tolerance-ms", "-5"], 3, "--watchdog-tolerance-ms"),
])
def test_a_bad_command_line_is_one_line(args, code, says):
    done = run_cli("conformance", *args)
    assert done.returncode == code and done.stderr.count("\n") == 1, done.stderr
    assert says in done.stderr and done.stdout == ""
