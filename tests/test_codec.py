"""The frame codec: round trips, and nothing corrupted or truncated is ever accepted."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.cobs import CobsError, cobs_decode, cobs_encode
from drivers.crc import (
    CRC16_CHECK, CRC16_INIT, CRC16_POLY, CRC16_REFLECTED, CRC16_XOROUT, crc16,
)
from drivers.framing import MAX_PAYLOAD, PROTOCOL_VERSION, Frame, FrameDecoder, encode_frame

frames = st.builds(Frame, type=st.integers(0, 255), seq=st.integers(0, 0xFFFF),
                   payload=st.binary(max_size=MAX_PAYLOAD), version=st.just(PROTOCOL_VERSION))


def test_crc16_ccitt_false_check_value():
    assert crc16(b"123456789") == CRC16_CHECK == 0x29B1
    assert crc16(b"") == CRC16_INIT == 0xFFFF
    assert (CRC16_POLY, CRC16_XOROUT, CRC16_REFLECTED) == (0x1021, 0, False)


def bitwise_crc16(data: bytes) -> int:
    """The definition from the named parameters (what the firmware's header publishes), one
    bit at a time: an independent check on binascii's C implementation."""
    crc = CRC16_INIT
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ CRC16_POLY) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc ^ CRC16_XOROUT


@given(st.binary(max_size=300))
def test_crc16_matches_the_bitwise_definition(data):
    assert crc16(data) == bitwise_crc16(data)


@pytest.mark.parametrize("data, stuffed", [
    (b"\x00", b"\x01\x01"),
    (b"\x00\x00", b"\x01\x01\x01"),
    (b"\x11\x22\x00\x33", b"\x03\x11\x22\x02\x33"),
    (b"\x11\x22\x33\x44", b"\x05\x11\x22\x33\x44"),
    (b"\x11\x00\x00\x00", b"\x02\x11\x01\x01\x01"),
    (bytes(range(1, 255)), b"\xff" + bytes(range(1, 255)) + b"\x01"),
    (bytes(range(0, 255)), b"\x01\xff" + bytes(range(1, 255)) + b"\x01"),
    (bytes(range(1, 256)), b"\xff" + bytes(range(1, 255)) + b"\x02\xff"),
])
def test_cobs_encodes_the_published_examples(data, stuffed):
    # Cheshire and Baker's examples; a run of exactly 254 at the end is closed by an empty
    # block (0x01), which every COBS decoder reads back as nothing.
    assert cobs_encode(data) == stuffed
    assert cobs_decode(stuffed) == data


@given(st.binary(max_size=1200))
def test_cobs_round_trip_and_no_zero_inside(data):
    stuffed = cobs_encode(data)
    assert 0 not in stuffed
    assert cobs_decode(stuffed) == data
    assert len(stuffed) <= len(data) + len(data) // 254 + 1


def test_cobs_refuses_a_block_past_the_end():
    try:
        cobs_decode(b"\x05\x01\x02")
    except CobsError:
        pass
    else:
        raise AssertionError("accepted a truncated block")


@given(frames)
def test_frame_round_trip(frame):
    wire = encode_frame(frame)
    assert wire.endswith(b"\x00") and 0 not in wire[:-1]
    assert FrameDecoder().feed(wire) == [frame]


@settings(max_examples=300)
@given(st.lists(frames, min_size=1, max_size=8), st.data())
def test_any_chunking_of_a_stream_gives_the_same_frames(sent, data):
    stream = b"".join(encode_frame(f) for f in sent)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    decoder = FrameDecoder()
    received = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)]):
        received += decoder.feed(stream[start:end])
    assert received == sent and decoder.frames_bad == 0


@settings(max_examples=500)
@given(frames, st.data())
def test_a_corrupted_frame_is_rejected_and_the_next_one_still_arrives(frame, data):
    wire = bytearray(encode_frame(frame))
    index = data.draw(st.integers(0, len(wire) - 2))        # any byte but the delimiter
    wire[index] ^= data.draw(st.integers(1, 255))
    follower = Frame(type=0x02, seq=7)
    decoder = FrameDecoder()
    got = decoder.feed(bytes(wire) + encode_frame(follower))
    # A flipped byte may split the frame at a new 0x00; no piece of it is ever accepted.
    assert got[-1] == follower
    assert all(f == follower for f in got)
    assert decoder.frames_bad >= 1


@settings(max_examples=300)
@given(frames, st.data())
def test_a_truncated_frame_is_rejected(frame, data):
    wire = encode_frame(frame)
    cut = data.draw(st.integers(1, len(wire) - 2))     # lose at least one byte before 0x00
    decoder = FrameDecoder()
    assert decoder.feed(wire[:cut] + b"\x00") == []
    assert decoder.frames_bad == 1
    assert decoder.feed(wire) == [frame]


@settings(max_examples=300)
@given(st.binary(max_size=3000), frames)
def test_garbage_before_a_frame_is_skipped(garbage, frame):
    decoder = FrameDecoder()
    got = decoder.feed(garbage + b"\x00" + encode_frame(frame))
    # Garbage may, by chance, hold a valid frame: vanishingly rare with a CRC-16 plus length
    # check, and never the one we sent afterwards.
    assert got[-1] == frame


def test_an_endless_run_without_delimiter_is_dropped_then_resynchronised():
    frame = Frame(type=0x08, seq=1, payload=b"\x01\x00\x00\x00")
    decoder = FrameDecoder()
    assert decoder.feed(b"\x55" * 5000) == []
    assert decoder.feed(b"\x55\x00" + encode_frame(frame)) == [frame]
    assert decoder.frames_bad >= 1


def test_a_length_field_that_disagrees_is_rejected():
    body = bytes([1, 0x08, 1, 0, 9]) + b"\x01\x00\x00\x00"          # says 9, carries 4
    body += struct.pack("<H", crc16(body))
    assert FrameDecoder().feed(cobs_encode(body) + b"\x00") == []
