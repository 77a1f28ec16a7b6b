"""Render the generated parts of docs/protocol.md and docs/modbus.md from the wire
definitions: the serial byte examples (from EXAMPLES) and every payload and register table
(tests/wire/doc_tables.py). `python -m tests.wire.render --write` rewrites them in place,
between `<!-- NAME -->` and `<!-- /NAME -->` markers; the doc tests fail while a doc differs
from what this renders."""

from __future__ import annotations

from dataclasses import fields

import asyncio
import sys
from pathlib import Path

from drivers.framing import HEADER, encode_frame
from drivers.messages import COMMAND_PAYLOADS, EVENT_PAYLOADS, OK_PAYLOADS, ErrorBody, MsgType
from drivers.crc import crc16
from tests.wire.doc_tables import TABLES
from tests.wire.examples import EXAMPLES
from tests.wire.modbus_replay import replay, with_answers

REPO = Path(__file__).resolve().parents[2]


def _describe(name: str, frame) -> str:
    msg = MsgType(frame.type)
    if msg is MsgType.OK:
        command = MsgType(frame.payload[0])
        body = frame.payload[1:]
        head = f"OK (0x80) to {command.name}, seq {frame.seq}"
        if not body:
            return head + ", no body"
        return f"{head}: {OK_PAYLOADS[command].unpack(body)!r}"
    if msg is MsgType.ERROR:
        command = MsgType(frame.payload[0])
        return (f"ERROR (0x81) to {command.name}, seq {frame.seq}: "
                f"{ErrorBody.unpack(frame.payload[1:])!r}")
    payload_cls = COMMAND_PAYLOADS.get(msg) or EVENT_PAYLOADS.get(msg)
    head = f"{msg.name} (0x{msg.value:02X}), seq {frame.seq}"
    if payload_cls is None or not fields(payload_cls):
        return head
    return f"{head}: {payload_cls.unpack(frame.payload)!r}"


def block(name: str) -> str:
    frame = EXAMPLES[name]
    body = HEADER.pack(frame.version, frame.type, frame.seq, len(frame.payload)) + frame.payload
    body += crc16(body).to_bytes(2, "little")
    return (f"<!-- example: {name} -->\n```\n{_describe(name, frame)}\n"
            f"frame  {body.hex(' ')}\nwire   {encode_frame(frame).hex(' ')}\n```\n")


def examples() -> str:
    return "\n".join(block(name) for name in EXAMPLES).rstrip("\n")


def sections() -> dict[str, str]:
    """Every generated section, by its marker name."""
    return {"examples": examples()} | {f"table: {name}": render()
                                        for name, render in TABLES.items()}


def rendered(text: str) -> str:
    """`text` with every marked section replaced by what the definitions render now."""
    for name, body in sections().items():
        start, end = f"<!-- {name} -->\n", f"<!-- /{name.split(':')[0]} -->"
        if start not in text:
            continue
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        text = f"{head}{start}{body}\n{end}{tail}"
    return text


DOCS = (REPO / "docs" / "protocol.md", REPO / "docs" / "modbus.md")


def main() -> None:
    write = "--write" in sys.argv[1:]
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        new = rendered(text)
        if path.name == "modbus.md":
            new = with_answers(new, asyncio.run(replay(new)))
        if write and new != text:
            path.write_text(new, encoding="utf-8")
            print(f"rewrote {path.relative_to(REPO)}")
        elif new != text:
            print(f"{path.relative_to(REPO)} differs from the definitions")


if __name__ == "__main__":
    main()
