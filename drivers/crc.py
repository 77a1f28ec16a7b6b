"""CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, no final xor.

Check value: crc16(b"123456789") == 0x29B1. This is binascii's CRC-CCITT started at 0xFFFF,
computed in C: every frame in both directions is checked, and a Python loop cost more per
frame than the rest of the codec.
"""

from __future__ import annotations

from binascii import crc_hqx


def crc16(data: bytes, crc: int = 0xFFFF) -> int:
    return crc_hqx(data, crc)
