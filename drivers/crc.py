"""CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, no final xor.

Check value: crc16(b"123456789") == 0x29B1. This is binascii's CRC-CCITT started at 0xFFFF,
computed in C: every frame in both directions is checked, and a Python loop cost more per
frame than the rest of the codec. The parameters are named so that the firmware's header
states them (drivers/c_header.py); tests/test_codec.py checks them against crc16 bit by bit.
"""

from __future__ import annotations

from binascii import crc_hqx

CRC16_POLY = 0x1021
CRC16_INIT = 0xFFFF
CRC16_XOROUT = 0x0000
CRC16_REFLECTED = False
CRC16_CHECK = 0x29B1
"""The CRC of the ASCII bytes 123456789."""


def crc16(data: bytes, crc: int = CRC16_INIT) -> int:
    return crc_hqx(data, crc)
