"""Replay docs/modbus.md's byte examples, in order, against one simulated gun over real
Modbus TCP and RTU: the doc test compares each answer with the doc, and
`python -m tests.wire.render --write` writes the answers into the doc."""

from __future__ import annotations

import asyncio
import re

import serial

from drivers import modbus_map as mm
from drivers.messages import EVENT_PAYLOADS, DeviceState, MsgType
from simulator.gun import GunOptions, SimulatedGun

EXAMPLE = re.compile(r"<!-- example: (TCP|RTU) (.+?) -->\n```\n(.*?)\nrequest   ([0-9a-f ]+)\n"
                     r"response  ([0-9a-f ]*)\n```")
BOOT_ID = 0x5EED0B07
BUSY = (DeviceState.HOMING, DeviceState.PRIMING, DeviceState.FIRING)
POLL_STATE = bytes.fromhex("ff ff 00 00 00 06 01 04 00 64 00 01")
"""Read the state register, on a transaction id the examples never use."""
"""Before each request the replay waits for what the gun is doing to finish, as a PLC
polling the state register (100) would."""


def examples(doc: str) -> list[tuple[str, str, str, bytes, bytes]]:
    """(kind, name, caption, request, documented response) in the doc's order."""
    return [(kind, name, caption, bytes.fromhex(request), bytes.fromhex(response))
            for kind, name, caption, request, response in EXAMPLE.findall(doc)]


async def replay(doc: str) -> list[bytes]:
    """The simulated gun's answer to each example's request."""
    gun = SimulatedGun(GunOptions(serial_number="SIM-000001", calibrated_s=1_767_225_600,
                                  boot_id=BOOT_ID))
    port = await gun.serve_modbus_tcp()
    rtu_path = await gun.serve_modbus_rtu()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    rtu = serial.Serial(rtu_path, 115_200, timeout=0)
    answers = []
    try:
        async def ask_tcp(request: bytes) -> bytes:
            writer.write(request)
            await writer.drain()
            head = await asyncio.wait_for(reader.readexactly(6), 5)
            return head + await reader.readexactly(int.from_bytes(head[4:6], "big"))

        for kind, _, _, request, expected in examples(doc):
            while gun.firmware.state in BUSY:
                await ask_tcp(POLL_STATE)           # feeds the watchdog, as a PLC would
                await asyncio.sleep(0.05)
            if kind == "TCP":
                answers.append(await ask_tcp(request))
            else:
                rtu.write(request)
                got = b""
                for _ in range(100):
                    await asyncio.sleep(0.01)
                    got += rtu.read(256)
                    if expected and len(got) >= len(expected):
                        break
                answers.append(got)
    finally:
        writer.close()
        rtu.close()
        await gun.aclose()
    return answers


def with_answers(doc: str, answers: list[bytes]) -> str:
    parts = iter(answers)
    return EXAMPLE.sub(lambda m: m.group(0).replace(
        f"response  {m.group(5)}", f"response  {next(parts).hex(' ')}"), doc)


def _time_offsets(msg_type: int) -> range:
    """Where time_ms lies in an event's payload (always its last four bytes)."""
    size = EVENT_PAYLOADS[MsgType(msg_type)].FORMAT.size
    return range(size - 4, size)


def without_times(request: bytes, response: bytes) -> bytes:
    """An answer with the event times zeroed when it is a read of the event window over TCP:
    a replay runs in real time, so those milliseconds are never twice the same; every other
    byte must match."""
    if len(request) < 12 or request[7] != 4 or int.from_bytes(request[8:10], "big") != \
            mm.EVENT_WINDOW:
        return response
    data = bytearray(response)
    base = 9                                    # MBAP (7) + function code + byte count
    for slot in range(mm.EVENT_SLOTS):
        at = base + 2 * slot * mm.EVENT_SLOT_WORDS
        if at + 6 > len(data):
            break
        msg_type = int.from_bytes(data[at + 2:at + 4], "big")
        if msg_type not in (t.value for t in EVENT_PAYLOADS):
            continue
        for offset in _time_offsets(msg_type):
            data[at + 6 + offset] = 0
    return bytes(data)
