"""docs/modbus.md is a contract: its tables match the map, and its byte examples, replayed
in order against a simulated gun, get exactly the documented answers."""

from __future__ import annotations

import pytest

from drivers import modbus_map as mm
from tests.conftest import REPO
from tests.wire.modbus_replay import examples, replay, without_times

DOC = (REPO / "docs" / "modbus.md").read_text(encoding="utf-8")
EXAMPLES = [(kind, name, request.hex(), response.hex())
            for kind, name, _, request, response in examples(DOC)]


def crc_modbus(data: bytes) -> int:
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


@pytest.mark.parametrize("layout", ["IDENTITY", "STATUS", "EVENT_INFO", "PROGRAM", "RESULT",
                                    "REFUSAL", "CONFIG"])
def test_every_field_of_the_map_is_in_the_doc_at_its_address(layout):
    for field in getattr(mm, layout):
        address = (f"{field.address}" if field.words == 1
                   else f"{field.address}-{field.address + field.words - 1}")
        assert f"| {address} | {field.name} |" in DOC, field


def test_fixed_addresses_are_in_the_doc():
    for address, name in [(mm.COMMAND_CODE, "command"), (mm.COMMAND_TOKEN, "token"),
                          (mm.EVENT_CURSOR, "event_cursor"), (mm.UNLOCK, "unlock"),
                          (mm.Coil.EMERGENCY_STOP, "emergency_stop"), (mm.Coil.HOLD, "hold")]:
        assert f"| {address} | {name} |" in DOC
    assert "0x55AA then 0xAA55" in DOC and mm.UNLOCK_KEYS == (0x55AA, 0xAA55)


def test_rtu_examples_carry_a_valid_crc():
    rtu = [(bytes.fromhex(q), bytes.fromhex(r)) for kind, _, q, r in EXAMPLES if kind == "RTU"]
    assert rtu
    for frame in (f for pair in rtu for f in pair if f):      # silence has no CRC
        assert crc_modbus(frame[:-2]) == int.from_bytes(frame[-2:], "little")


@pytest.mark.looptime(False)
async def test_byte_examples_replayed_against_the_simulator():
    answers = await replay(DOC)
    for (kind, name, _, request, expected), got in zip(examples(DOC), answers, strict=True):
        assert without_times(request, got) == without_times(request, expected), f"{kind} {name}"
