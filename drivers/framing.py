"""Frames on a byte stream: header, payload and CRC, COBS-stuffed, ended by 0x00.

Before stuffing a frame is:

    offset  size  field
    0       1     protocol version (PROTOCOL_VERSION)
    1       1     message type
    2       2     sequence number, little-endian
    4       1     payload length N
    5       N     payload (fixed little-endian fields)
    5+N     2     CRC-16/CCITT-FALSE of bytes 0..4+N, little-endian

The decoder never raises on bad input: it drops what does not check out, counts it, and
resynchronises at the next 0x00.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import NamedTuple

from drivers.cobs import MAX_RUN, CobsError, cobs_decode, cobs_encode
from drivers.crc import crc16

PROTOCOL_VERSION = 2
DELIMITER = b"\x00"
HEADER = struct.Struct("<BBHB")
HEADER_FIELDS = ("version", "type", "seq", "length")
CRC = struct.Struct("<H")
MAX_PAYLOAD = 255
MAX_FRAME = HEADER.size + MAX_PAYLOAD + CRC.size
MAX_STUFFED = MAX_FRAME + MAX_FRAME // MAX_RUN + 1
"""The largest frame COBS-stuffed, without its delimiter."""


class Frame(NamedTuple):
    """One frame, decoded. A NamedTuple rather than a frozen dataclass: as immutable, and
    several times cheaper to build, which counts at two frames per command."""

    type: int
    seq: int
    payload: bytes = b""
    version: int = PROTOCOL_VERSION


def encode_frame(frame: Frame) -> bytes:
    if len(frame.payload) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(frame.payload)} bytes exceeds {MAX_PAYLOAD}")
    body = HEADER.pack(frame.version, frame.type, frame.seq & 0xFFFF, len(frame.payload))
    body += frame.payload
    body += CRC.pack(crc16(body))
    return cobs_encode(body) + DELIMITER


def decode_body(stuffed: bytes) -> Frame | None:
    """One frame from its stuffed bytes (without the delimiter), or None if it is invalid."""
    if not stuffed or len(stuffed) > MAX_STUFFED:
        return None
    try:
        body = cobs_decode(stuffed)
    except CobsError:
        return None
    if len(body) < HEADER.size + CRC.size:
        return None
    version, msg_type, seq, length = HEADER.unpack_from(body)
    if len(body) != HEADER.size + length + CRC.size:
        return None
    (crc,) = CRC.unpack_from(body, len(body) - CRC.size)
    if crc != crc16(body[:-CRC.size]):
        return None
    return Frame(type=msg_type, seq=seq, payload=body[HEADER.size:-CRC.size], version=version)


@dataclass
class FrameDecoder:
    """Feed it whatever the port had; it returns the complete valid frames.

    Bytes before the first delimiter after a (re)start may be half a frame, so they are
    treated like any other candidate: kept only if they check out.
    """

    frames_ok: int = 0
    frames_bad: int = 0
    bytes_discarded: int = 0
    _buffer: bytearray = field(default_factory=bytearray)
    _overflowed: bool = False

    def feed(self, data: bytes) -> list[Frame]:
        frames = []
        start = 0
        while (end := data.find(0, start)) != -1:
            chunk = data[start:end]
            start = end + 1
            if self._overflowed:
                self._overflowed = False
                self.bytes_discarded += len(chunk)
                continue
            self._buffer += chunk
            candidate = bytes(self._buffer)
            self._buffer.clear()
            if not candidate:
                continue            # back-to-back delimiters: idle line, not an error
            frame = decode_body(candidate)
            if frame is None:
                self.frames_bad += 1
                self.bytes_discarded += len(candidate) + 1
            else:
                self.frames_ok += 1
                frames.append(frame)
        rest = data[start:]
        if not self._overflowed:
            self._buffer += rest
            if len(self._buffer) > MAX_STUFFED:
                # No delimiter where one must have been: garbage. Skip to the next 0x00.
                self.frames_bad += 1
                self.bytes_discarded += len(self._buffer)
                self._buffer.clear()
                self._overflowed = True
        else:
            self.bytes_discarded += len(rest)
        return frames
