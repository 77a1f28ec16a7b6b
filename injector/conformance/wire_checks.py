"""The promises of the line itself (docs/protocol.md, "Framing", "Messages", "Priority,
heartbeat and watchdog"): what a damaged, foreign or garbled frame gets, which is nothing,
or the one refusal the protocol names for it. None of these move the gun."""

from __future__ import annotations

import asyncio

from drivers.codes import ALARMS, ERRORS
from drivers.framing import PROTOCOL_VERSION, Frame, encode_frame
from drivers.messages import (
    COMMAND_PAYLOADS, AckAlarm, DeviceState, ErrorBody, Fire, MsgType, latched_codes,
)
from drivers.program import ShotProgram
from injector.conformance.bench import Bench, describe_error
from injector.conformance.common import alarm_in, bad_cobs, expect, round_trip, unanswered
from injector.conformance.link import flipped_payload_frame, raw_frame

# ---- framing -----------------------------------------------------------------------------

async def framing(bench: Bench) -> str:
    link = bench.link
    damaged: list[tuple[str, int]] = []

    seq = link.next_seq()
    link.write(bad_cobs(MsgType.STATUS, seq))
    damaged.append(("a frame whose COBS code byte points past its end", seq))

    seq = link.next_seq()
    link.write(raw_frame(MsgType.STATUS, seq, length=1))
    damaged.append(("a frame whose length field says 1 for an empty payload", seq))

    seq = link.next_seq()
    link.write(b"\x13\x37garbage" + encode_frame(Frame(MsgType.STATUS, seq)))
    damaged.append(("a frame preceded by garbage with no delimiter between", seq))

    link.write(b"\x55" * 300 + b"\x00")                 # longer than any frame
    await round_trip(bench, "garbage, a bad COBS code and a bad length field")
    for what, seq in damaged:
        unanswered(bench, seq, what)

    link.write(b"\x00\x00\x00")                         # idle line
    seq = link.next_seq()
    future = link.expect(seq)
    whole = encode_frame(Frame(MsgType.HEARTBEAT, seq))
    await bench.silence()                               # no heartbeat between the pieces
    try:
        for chunk in (whole[:2], whole[2:5], whole[5:]):    # one frame in three writes
            link.write(chunk)
            await asyncio.sleep(0.005)
    finally:
        bench.keep_alive()
    await link.answer(future, "a HEARTBEAT written in three pieces after idle zeros")
    return ("dropped a bad COBS code, a bad length field, garbage and a 300-byte run "
            "silently; idle zeros and a frame in three writes answered")


# ---- CRC ---------------------------------------------------------------------------------

async def crc(bench: Bench) -> str:
    link = bench.link
    ack = AckAlarm(ALARMS["occlusion"].code).pack()     # harmless: not latched
    payload_seq, crc_seq = link.next_seq(), link.next_seq()
    link.write(flipped_payload_frame(MsgType.ACK_ALARM, payload_seq, ack))
    link.write(raw_frame(MsgType.ACK_ALARM, crc_seq, ack, crc_xor=0x0100))
    await round_trip(bench, "two frames with a wrong CRC")
    unanswered(bench, payload_seq, "a frame with a payload bit flipped after its CRC")
    unanswered(bench, crc_seq, "a frame with a bit of its CRC flipped")
    future = link.expect(payload_seq)
    link.write(raw_frame(MsgType.ACK_ALARM, payload_seq, ack))
    answer = await link.answer(future, "the same ACK_ALARM with its CRC right")
    expect(answer.type == MsgType.ERROR
           and ErrorBody.unpack(answer.payload[1:]).code == ERRORS["unknown_alarm"].code,
           "ACK_ALARM of an alarm not latched is not answered unknown_alarm", answer)
    expect(link.bad_frames_from_gun == 0,
           f"{link.bad_frames_from_gun} frame(s) from the gun failed COBS, length or CRC",
           link.bad_frames_from_gun)
    return ("dropped a flipped payload bit and a flipped CRC bit silently, answered the frame "
            "intact; every frame from the gun checked out")


# ---- protocol version --------------------------------------------------------------------

async def version(bench: Bench) -> str:
    link = bench.link
    old = PROTOCOL_VERSION - 1
    seq = link.next_seq()
    future = link.expect(seq)
    link.write(raw_frame(MsgType.STATUS, seq, version=old))
    answer = await link.answer(future, f"a version-{old} STATUS")
    expect(answer.type == MsgType.ERROR, f"a version-{old} frame was executed", answer)
    body = ErrorBody.unpack(answer.payload[1:])
    expect(body.code == ERRORS["unsupported_version"].code,
           f"a version-{old} frame is answered {describe_error(answer)}, not "
           "unsupported_version", body.code)
    expect((body.value, body.limit) == (old, PROTOCOL_VERSION),
           f"unsupported_version says value {body.value} limit {body.limit}, expected "
           f"{old} and {PROTOCOL_VERSION}", body)
    expect(answer.version == PROTOCOL_VERSION and answer.payload[0] == MsgType.STATUS,
           "the refusal is not a version-2 frame naming STATUS", answer)
    return f"a version-{old} frame answered unsupported_version (value {old}, limit 2)"


# ---- refusals in the documented order ------------------------------------------------------

async def answers(bench: Bench) -> str:
    link = bench.link
    unknown = max(COMMAND_PAYLOADS) + 1
    cases = ((unknown, b"", "unknown_command", unknown, 0),
             # FIRE needs ARMED: the length is refused before the state is looked at.
             (MsgType.FIRE, b"\x01\x00\x00", "bad_length", 3, Fire.FORMAT.size),
             (MsgType.LOAD_PROGRAM, bytes(ShotProgram.FORMAT.size - 1), "bad_length",
              ShotProgram.FORMAT.size - 1, ShotProgram.FORMAT.size))
    seqs = []
    for msg_type, payload, error, value, limit in cases:
        what = f"type 0x{msg_type:02X} with {len(payload)} payload bytes"
        answer = await link.request(msg_type, payload)
        seqs.append(answer.seq)
        expect(answer.type == MsgType.ERROR, f"{what} was executed", answer)
        body = ErrorBody.unpack(answer.payload[1:])
        expect(body.code == ERRORS[error].code and answer.payload[0] == msg_type,
               f"{what} is answered {describe_error(answer)}, not {error}", body.code)
        expect((body.value, body.limit) == (value, limit),
               f"{error} says value {body.value} limit {body.limit}, expected {value} and "
               f"{limit}", body)
    await round_trip(bench, "three refused frames")
    repeated = [seq for seq in seqs if len(link.answered(seq)) != 1]
    expect(not repeated, f"commands {repeated} got more than one answer", repeated)
    return (f"type 0x{unknown:02X} refused unknown_command; FIRE and LOAD_PROGRAM a byte short "
            "refused bad_length before any state check; one answer each")


# ---- the link monitor --------------------------------------------------------------------

async def link_monitor(bench: Bench) -> str:
    link, code = bench.link, ALARMS["link_degraded"].code
    before = await bench.status()
    first = len(link.events)
    link.write(b"".join(bad_cobs(MsgType.HEARTBEAT, link.next_seq()) for _ in range(5)))
    await round_trip(bench, "five damaged frames")
    await link.wait_for(lambda: alarm_in(link.events[first:], code) is not None, 1.0,
                        "alarm link_degraded after five damaged frames in one write")
    raised = alarm_in(link.events[first:], code)
    after = await bench.status()
    expect(after.state == before.state,
           f"link_degraded changed the state to {DeviceState(after.state).name}: it is "
           "advisory", after.state)
    expect(code in latched_codes(after.latched_alarms), "link_degraded is not latched", after)
    expect(raised.value >= 5, f"link_degraded counts {raised.value} invalid frames, sent 5",
           raised.value)
    return f"five damaged frames latched advisory link_degraded (value {raised.value})"
