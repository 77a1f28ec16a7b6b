"""Replay docs/modbus.md's byte examples, in order, against one simulated gun over real
Modbus TCP and RTU: the doc test compares each answer with the doc, and
`python -m tests.wire.render --write` writes the answers into the doc."""

from __future__ import annotations

import asyncio
import re

import serial

from drivers.messages import DeviceState
from simulator.gun import GunOptions, SimulatedGun

EXAMPLE = re.compile(r"<!-- example: (TCP|RTU) (.+?) -->\n```\n(.*?)\nrequest   ([0-9a-f ]+)\n"
                     r"response  ([0-9a-f ]*)\n```")
BOOT_ID = 0x5EED0B07


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
        for kind, _, _, request, expected in examples(doc):
            while gun.firmware.state is DeviceState.HOMING:
                await asyncio.sleep(0.01)
            if kind == "TCP":
                writer.write(request)
                await writer.drain()
                head = await asyncio.wait_for(reader.readexactly(6), 5)
                answers.append(head + await reader.readexactly(int.from_bytes(head[4:6], "big")))
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
