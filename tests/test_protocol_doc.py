"""docs/protocol.md is a contract: its byte examples and code tables must match the code."""

from __future__ import annotations

import re
import struct

import pytest

from drivers.codes import ALARMS, ERRORS
from drivers.crc import crc16
from drivers.framing import PROTOCOL_VERSION, FrameDecoder, encode_frame
from drivers.messages import COMMAND_PAYLOADS, MsgType
from tests.conftest import REPO
from tests.wire.examples import EXAMPLES

DOC = (REPO / "docs" / "protocol.md").read_text(encoding="utf-8")
BLOCKS = {name: (bytes.fromhex(frame), bytes.fromhex(wire))
          for name, (frame, wire) in
          ((m[0], m[1:]) for m in re.findall(
              r"<!-- example: (.+?) -->\n```\n.*?\nframe  ([0-9a-f ]+)\nwire   ([0-9a-f ]+)\n```",
              DOC))}


def test_every_example_in_the_doc_is_checked_and_every_message_has_one():
    assert set(BLOCKS) == set(EXAMPLES)
    shown = {frame.type for frame in EXAMPLES.values()}
    assert set(COMMAND_PAYLOADS) | {MsgType.OK, MsgType.ERROR, MsgType.EV_SHOT,
                                    MsgType.EV_ALARM, MsgType.EV_STATE} <= shown


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_doc_example_encodes_and_decodes(name):
    frame_bytes, wire_bytes = BLOCKS[name]
    expected = EXAMPLES[name]
    assert encode_frame(expected) == wire_bytes
    (crc,) = struct.unpack("<H", frame_bytes[-2:])
    assert crc == crc16(frame_bytes[:-2])
    assert frame_bytes[0] == PROTOCOL_VERSION and frame_bytes[4] == len(frame_bytes) - 7
    assert FrameDecoder().feed(wire_bytes) == [expected]


def _table_rows(heading: str) -> list[list[str]]:
    section = DOC.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    return [[c.strip() for c in line.strip("|").split("|")]
            for line in section.splitlines() if re.match(r"\| 0x[0-9A-F]{4} \|", line)]


def test_alarm_table_matches_codes_toml():
    rows = {int(r[0], 16): r for r in _table_rows("Alarm codes")}
    assert set(rows) == {a.code for a in ALARMS.values()}
    for alarm in ALARMS.values():
        code, name, severity, homing, text = rows[alarm.code]
        assert (name, severity, homing, text) == (
            alarm.name, alarm.severity.value, "yes" if alarm.forces_homing else "no", alarm.text)


def test_error_table_matches_codes_toml():
    rows = {int(r[0], 16): r for r in _table_rows("Error codes")}
    assert {code: (r[1], r[2]) for code, r in rows.items()} == {
        e.code: (e.name, e.text) for e in ERRORS.values()}


def test_message_table_lists_every_type_with_its_code():
    listed = dict(re.findall(r"^\| 0x([0-9A-F]{2}) \| (\w+) \|", DOC, flags=re.M))
    assert {int(code, 16): name for code, name in listed.items()} == {
        t.value: t.name for t in MsgType}


@pytest.mark.parametrize("doc", ["protocol.md", "modbus.md"])
def test_generated_tables_and_examples_match_the_wire_definitions(doc):
    from tests.wire.render import rendered

    text = (REPO / "docs" / doc).read_text(encoding="utf-8")
    assert rendered(text) == text, f"docs/{doc} is stale: python -m tests.wire.render --write"
