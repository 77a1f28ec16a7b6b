"""Consistent Overhead Byte Stuffing: removes every 0x00 from a frame so that 0x00 can
delimit frames. A receiver that joins mid-stream or after garbage resynchronises at the next
0x00. Overhead: one byte per 254, plus one."""

from __future__ import annotations

MAX_RUN = 254
"""The longest run of non-zero bytes one code byte covers; its code, MAX_RUN + 1 (0xFF), is
followed by no implied zero."""
FULL_RUN_CODE = MAX_RUN + 1


class CobsError(ValueError):
    """Bytes that are not a valid COBS encoding."""


def cobs_encode(data: bytes) -> bytes:
    out = bytearray()
    # Each run between zeros becomes a code byte (its length + 1) and the run; a run of 254
    # non-zero bytes or more is cut into blocks of 254 with code 255, which add no zero.
    for run in bytes(data).split(b"\x00"):
        while len(run) >= MAX_RUN:
            out.append(FULL_RUN_CODE)
            out += run[:MAX_RUN]
            run = run[MAX_RUN:]
        out.append(len(run) + 1)
        out += run
    return bytes(out)


def cobs_decode(data: bytes) -> bytes:
    if 0 in data:
        raise CobsError("zero byte inside a COBS block")
    out = bytearray()
    index, size = 0, len(data)
    while index < size:
        code = data[index]
        end = index + code
        if end > size:
            raise CobsError("COBS block runs past the end of the frame")
        out += data[index + 1:end]
        index = end
        if code != FULL_RUN_CODE and index < size:
            out.append(0)
    return bytes(out)
