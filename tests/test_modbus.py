"""Modbus specifics: bad writes change nothing, the configuration is write-protected, a
token executes once, unknown registers, the priority of the stop coil, and mbpoll."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from dataclasses import replace

import pytest
import serial

from drivers import modbus_map as mm
from drivers.codes import ALARMS
from drivers.errors import DeviceError
from drivers.messages import DeviceState
from drivers.modbus_link import PriorityGate
from simulator.gun import GunOptions, SimulatedGun
from tests.conftest import REPO
from tests.rig import make_rig, raw_modbus_tcp


@pytest.fixture
async def gun_and_client():
    gun = SimulatedGun(GunOptions())
    client = await raw_modbus_tcp(gun)
    yield gun, client
    client.close()
    await gun.aclose()


async def test_an_out_of_range_write_is_exception_3_and_changes_nothing(gun_and_client):
    gun, client = gun_and_client
    assert not (await client.write_registers(200, [0, 1500], device_id=1)).isError()
    refused = await client.write_registers(200, [0, 20_000], device_id=1)
    assert refused.isError() and refused.exception_code == 3
    assert (await client.read_holding_registers(200, count=2, device_id=1)).registers == [0, 1500]
    why = (await client.read_holding_registers(330, count=6, device_id=1)).registers
    assert mm.from_registers(mm.WriteRefusal, mm.REFUSAL, why) == mm.WriteRefusal(201, 3, 20_000,
                                                                                  14_000)
    # A 32-bit field is checked whole: a shot period of 70000 ms is fine (high word 1).
    assert not (await client.write_registers(211, [1, 4464], device_id=1)).isError()


async def test_the_configuration_is_write_protected_until_the_unlock(gun_and_client):
    gun, client = gun_and_client
    start = mm.CONFIG[0].address
    config = gun.firmware.config
    lowered = mm.to_registers(replace(config, max_pressure_kpa=600), mm.CONFIG)
    locked = await client.write_registers(start, lowered, device_id=1)
    assert locked.isError() and locked.exception_code == 1
    assert gun.firmware.config.max_pressure_kpa == 800
    wrong = await client.write_register(mm.UNLOCK, 0x1234, device_id=1)
    assert wrong.isError() and wrong.exception_code == 3
    for key in mm.UNLOCK_KEYS:
        assert not (await client.write_register(mm.UNLOCK, key, device_id=1)).isError()
    assert (await client.read_holding_registers(mm.UNLOCK, count=1, device_id=1)).registers == [1]
    bad = list(lowered)
    bad[20] = 5                                     # max_pressure_kpa = 5: below 50
    refused = await client.write_registers(start, bad, device_id=1)
    assert refused.isError() and refused.exception_code == 3
    assert gun.firmware.config.max_pressure_kpa == 800
    assert not (await client.write_registers(start, lowered, device_id=1)).isError()
    assert gun.firmware.config.max_pressure_kpa == 600
    assert not (await client.write_register(mm.UNLOCK, 0, device_id=1)).isError()
    relocked = await client.write_registers(start, lowered, device_id=1)
    assert relocked.isError() and relocked.exception_code == 1


async def test_the_unlock_expires(gun_and_client):
    gun, client = gun_and_client
    for key in mm.UNLOCK_KEYS:
        await client.write_register(mm.UNLOCK, key, device_id=1)
    await asyncio.sleep(mm.UNLOCK_S + 1)
    assert (await client.read_holding_registers(mm.UNLOCK, count=1, device_id=1)).registers == [0]


async def test_unknown_registers_are_exception_2(gun_and_client):
    _, client = gun_and_client
    for response in [await client.read_input_registers(50, count=1, device_id=1),
                     await client.read_holding_registers(250, count=1, device_id=1),
                     await client.write_register(250, 1, device_id=1),
                     await client.write_register(320, 1, device_id=1),      # read-only result
                     await client.read_coils(5, count=1, device_id=1),
                     await client.write_coils(1, [True, True], device_id=1),
                     await client.read_discrete_inputs(8, count=1, device_id=1)]:
        assert response.isError() and response.exception_code == 2


async def test_a_command_written_twice_executes_once(gun_and_client):
    gun, client = gun_and_client
    block = [0x04, 0, 0, 41]                        # HOME, token 41
    await client.write_registers(300, block, device_id=1)
    await asyncio.sleep(0.5)
    assert gun.firmware.state is DeviceState.IDLE
    await client.write_registers(300, block, device_id=1)
    await asyncio.sleep(0.5)
    assert gun.firmware.executed[0x04] == 1 and gun.firmware.duplicates_answered == 1
    prime_zero = await client.write_registers(300, [0x0D, 0, 0, 42], device_id=1)   # PRIME 0 nl
    assert prime_zero.isError() and prime_zero.exception_code == 3
    unknown = await client.write_registers(300, [0x01, 0, 0, 43], device_id=1)   # IDENTIFY
    assert unknown.isError() and unknown.exception_code == 3


async def test_a_refused_command_reports_its_error_code_and_the_write_succeeds(gun_and_client):
    gun, client = gun_and_client
    response = await client.readwrite_registers(read_address=320, read_count=8,
                                                write_address=300, values=[0x06, 0, 0, 9],
                                                device_id=1)                    # ARM, locked
    result = mm.from_registers(mm.CommandResult, mm.RESULT, response.registers)
    assert (result.token, result.command, result.result) == (9, 0x06, 0x0004)   # wrong_state


async def test_the_stop_coil_takes_the_next_turn_on_the_line():
    gate = PriorityGate()
    order: list[str] = []

    async def request(name: str, urgent: bool = False) -> None:
        async with gate.turn(urgent):
            order.append(name)
            await asyncio.sleep(0.01)

    first = asyncio.create_task(request("poll"))
    await asyncio.sleep(0)
    queued = [asyncio.create_task(request(f"command {i}")) for i in range(3)]
    await asyncio.sleep(0)
    stop = asyncio.create_task(request("stop", urgent=True))
    await asyncio.gather(first, *queued, stop)
    assert order[:2] == ["poll", "stop"]


async def test_estop_and_hold_coils_reflect_the_state():
    rig = await make_rig("modbus-tcp")
    try:
        await rig.ready()
        await rig.driver.fire(50)
        await rig.until(lambda: len(rig.shots()) >= 2)
        await rig.driver.hold()
        await rig.until_state(DeviceState.HELD)
        client = rig.driver.link._client
        assert (await client.read_coils(0, count=2, device_id=1)).bits[:2] == [False, True]
        await rig.driver.emergency_stop()
        await rig.until_state(DeviceState.ESTOP)
        assert (await client.read_coils(0, count=2, device_id=1)).bits[:2] == [True, False]
        await rig.driver.acknowledge(ALARMS["emergency_stop"].code)
        with pytest.raises(DeviceError, match="ARM: (wrong_state|not_homed)"):
            await rig.driver.arm()
    finally:
        await rig.close()


MBPOLL = shutil.which("mbpoll")


@pytest.fixture
def sim_process():
    """`injector sim --modbus-tcp 0 --modbus-rtu` in its own process: (rtu path, tcp port)."""
    proc = subprocess.Popen([sys.executable, "-m", "injector", "sim", "--modbus-rtu",
                             "--modbus-tcp", "0", "--serial-number", "SIM-MBPOLL-1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        rtu_path = proc.stdout.readline().strip()
        tcp = proc.stdout.readline().strip()
        yield rtu_path, int(tcp.rpartition(":")[2])
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def mbpoll(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([MBPOLL, "-a", "1", "-0", "-1", *args], capture_output=True,
                          text=True, timeout=20)


def values(output: str) -> dict[int, int]:
    found = {}
    for line in output.splitlines():
        if line.startswith("[") and "]:" in line:
            address, value = line[1:].split("]:")
            found[int(address)] = int(value.split()[0])
    return found


@pytest.mark.looptime(False)
@pytest.mark.skipif(MBPOLL is None, reason="mbpoll not installed (.ci/run installs it)")
def test_mbpoll_reads_identity_and_status_over_tcp_and_rtu(sim_process):
    rtu_path, tcp_port = sim_process
    for link in (["-m", "tcp", "-p", str(tcp_port)], ["-m", "rtu", "-b", "115200", "-P", "none"]):
        target = "127.0.0.1" if link[1] == "tcp" else rtu_path
        identity = mbpoll(*link, "-t", "3", "-r", "0", "-c", "24", target)
        assert identity.returncode == 0, identity.stderr
        regs = values(identity.stdout)
        assert mm.text_of([regs[i] for i in range(0, 8)]) == "MESO-GUN-S1"
        assert mm.text_of([regs[i] for i in range(8, 16)]) == "SIM-MBPOLL-1"
        assert [regs[i] for i in (16, 17, 18, 19)] == [1, 4, 2, 2]
        status = mbpoll(*link, "-t", "3", "-r", "100", "-c", "23", target)
        assert status.returncode == 0, status.stderr
        regs = values(status.stdout)
        assert regs[100] == DeviceState.LOCKED and regs[101] == 0b110   # needle, syringe
        assert (regs[116] << 16 | regs[117]) == 10_000_000                # 10 ml loaded


@pytest.mark.looptime(False)
@pytest.mark.skipif(MBPOLL is None, reason="mbpoll not installed (.ci/run installs it)")
def test_mbpoll_out_of_range_write_gets_exception_3(sim_process):
    rtu_path, tcp_port = sim_process
    for link, target in ((["-m", "tcp", "-p", str(tcp_port)], "127.0.0.1"),
                         (["-m", "rtu", "-b", "115200", "-P", "none"], rtu_path)):
        write = mbpoll(*link, "-t", "4", "-r", "201", target, "--", "20000")
        assert write.returncode != 0
        assert "Illegal data value" in write.stdout + write.stderr
        check = mbpoll(*link, "-t", "4", "-r", "201", "-c", "1", target)
        assert values(check.stdout)[201] == 0                             # unchanged


# ---- conformance to the Modbus specification (issue 13) -----------------------------------

def _crc(frame: bytes) -> bytes:
    crc = 0xFFFF
    for byte in frame:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return frame + crc.to_bytes(2, "little")


async def _rtu_exchange(path: str, request: bytes, wait_s: float = 0.2) -> bytes:
    line = serial.Serial(path, 115_200, timeout=0)
    try:
        line.write(_crc(request))
        got = b""
        for _ in range(round(wait_s / 0.01)):
            await asyncio.sleep(0.01)
            got += line.read(256)
        return got
    finally:
        line.close()


async def _tcp_exchange(port: int, unit: int, pdu: bytes, transaction: int = 1) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(transaction.to_bytes(2, "big") + b"\x00\x00"
                     + (len(pdu) + 1).to_bytes(2, "big") + bytes([unit]) + pdu)
        await writer.drain()
        try:
            head = await asyncio.wait_for(reader.readexactly(7), 0.5)
        except TimeoutError:
            return b""
        return head[6:7] + await reader.readexactly(int.from_bytes(head[4:6], "big") - 1)
    finally:
        writer.close()


@pytest.mark.looptime(False)
async def test_rtu_answers_only_its_own_unit_and_obeys_broadcasts():
    gun = SimulatedGun(GunOptions(modbus_unit=7))
    try:
        path = await gun.serve_modbus_rtu()
        read_status = bytes([4, 0, 100, 0, 1])
        assert (await _rtu_exchange(path, bytes([7]) + read_status))[:3] == bytes([7, 4, 2])
        assert await _rtu_exchange(path, bytes([1]) + read_status) == b""     # not ours: silent
        assert await _rtu_exchange(path, bytes([8]) + read_status) == b""
        # A broadcast (unit 0) write is executed and never answered: the emergency stop coil.
        assert await _rtu_exchange(path, bytes([0, 5, 0, 0, 0xFF, 0])) == b""
        assert gun.firmware.state is DeviceState.ESTOP
    finally:
        await gun.aclose()


@pytest.mark.looptime(False)
@pytest.mark.parametrize("kind", ["tcp", "rtu"])
async def test_unsupported_functions_and_bad_counts_get_the_specified_exceptions(kind):
    gun = SimulatedGun()
    try:
        if kind == "tcp":
            port = await gun.serve_modbus_tcp()

            async def ask(pdu: bytes) -> bytes:
                return (await _tcp_exchange(port, 1, pdu))[1:]
        else:
            path = await gun.serve_modbus_rtu()

            async def ask(pdu: bytes) -> bytes:
                return (await _rtu_exchange(path, b"\x01" + pdu))[1:-2]
        # pymodbus's own stock answers are off: every code outside the map is exception 1
        # under its own function code (FC7 exception status, FC8 diagnostics, FC11/12 event
        # counters, FC17 server id, FC20/21 file records, FC22 mask write, FC24 FIFO, FC43
        # device identification), and so is a code pymodbus does not know.
        for code, body in [(7, b""), (8, b"\x00\x00\x12\x34"), (11, b""), (17, b""),
                           (22, b"\x00\xc8\xff\xff\x00\x00"), (24, b"\x00\x00"),
                           (43, b"\x0e\x01\x00"), (65, b"")]:
            assert await ask(bytes([code]) + body) == bytes([code | 0x80, 1]), code
        # A count outside the specification: exception 3 under the request's own code.
        assert await ask(b"\x03\x00\x64\x00\x00") == b"\x83\x03"          # 0 registers
        assert await ask(b"\x04\x00\x00\x00\x7e") == b"\x84\x03"          # 126 registers
        # A coil takes only 0x0000 and 0xFF00.
        assert await ask(b"\x05\x00\x01\x12\x34") == b"\x85\x03"
        assert gun.firmware.state is DeviceState.LOCKED
        # And the map still answers after all that.
        assert (await ask(b"\x04\x00\x64\x00\x01"))[:2] == b"\x04\x02"
    finally:
        await gun.aclose()


@pytest.mark.looptime(False)
async def test_tcp_reaches_the_gun_at_its_unit_and_at_0_and_255_only():
    gun = SimulatedGun(GunOptions(modbus_unit=9))
    try:
        port = await gun.serve_modbus_tcp()
        for unit in (9, 0, 255):
            assert (await _tcp_exchange(port, unit, b"\x04\x00\x64\x00\x01"))[:3] == bytes(
                [unit, 4, 2])
        assert await _tcp_exchange(port, 1, b"\x04\x00\x64\x00\x01") == b""
    finally:
        await gun.aclose()


async def test_modbus_urls_take_the_line_settings_with_the_specifications_default():
    from drivers.urls import PortURLError, open_url_driver

    parent, child = os.openpty()        # a device path that exists; nothing is opened
    tty = os.ttyname(child)
    try:
        _check_line_settings(tty, PortURLError, open_url_driver)
    finally:
        os.close(parent)
        os.close(child)


def _check_line_settings(tty, PortURLError, open_url_driver):
    driver = open_url_driver(f"modbus-rtu://{tty}")
    client = driver.link._make_client()
    params = client.comm_params
    assert (params.baudrate, params.parity, params.stopbits, driver.link.unit) == (
        115_200, "E", 1, 1)
    driver = open_url_driver(f"modbus-rtu://{tty}?parity=n&stopbits=2&unit=17&baud=19200")
    params = driver.link._make_client().comm_params
    assert (params.baudrate, params.parity, params.stopbits, driver.link.unit) == (
        19_200, "N", 2, 17)
    for bad in (f"modbus-rtu://{tty}?parity=X", f"modbus-rtu://{tty}?stopbits=3",
                f"modbus-rtu://{tty}?unit=0", f"modbus-rtu://{tty}?unit=248",
                "modbus-tcp://127.0.0.1:1502?parity=E", "modbus-rtu:///dev/ttyUSB9"):
        with pytest.raises(PortURLError):
            open_url_driver(bad)


@pytest.mark.looptime(False)
async def test_a_coil_write_is_answered_with_its_echo_whatever_the_state_after():
    gun = SimulatedGun()
    try:
        port = await gun.serve_modbus_tcp()
        # Hold during PRIMING leaves the gun IDLE (the coil then reads 0): still an echo.
        gun.firmware.state = DeviceState.PRIMING
        assert await _tcp_exchange(port, 1, b"\x05\x00\x01\xff\x00") == b"\x01\x05\x00\x01\xff\x00"
        assert await _tcp_exchange(port, 1, b"\x05\x00\x01\x00\x00") == b"\x01\x05\x00\x01\x00\x00"
        assert await _tcp_exchange(port, 1, b"\x01\x00\x00\x00\x02") == b"\x01\x01\x01\x00"
    finally:
        await gun.aclose()
