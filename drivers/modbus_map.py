"""The Modbus register map, shared by the simulator's server and the host's Modbus driver.

Derived from the serial protocol's payload structs, so a field (its width, sign and unit) has
one definition for both bridges. 32-bit values take two registers, most significant word
first; signed values are two's complement; text is ASCII, two characters per register, the
first in the high byte, zero-padded. docs/modbus.md is the contract generated from the same
tables and checked by the tests.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from types import MappingProxyType

from drivers import config
from drivers.config import DeviceConfig
from drivers.messages import Identity, MsgType, Status
from drivers.program import ShotProgram
from drivers.wire import WireStruct


@dataclass(frozen=True)
class RegisterField:
    name: str
    address: int
    words: int
    signed: bool = False
    text: bool = False


def _layout(cls: type[WireStruct], base: int) -> tuple[RegisterField, ...]:
    """A struct's fields on consecutive registers from `base`: 8- and 16-bit values take one,
    32-bit values two, text one per two characters."""
    fields, address = [], base
    for field in cls.layout():
        words = field.size // 2 if field.kind == "text" else max(1, field.size // 2)
        fields.append(RegisterField(field.name, address, words, signed=field.signed,
                                    text=field.kind == "text"))
        address += words
    return tuple(fields)


@dataclass(frozen=True)
class CommandResult(WireStruct):
    """The outcome of the last command executed through the command block."""

    FORMAT = struct.Struct("<HHHHii")
    token: int
    command: int
    result: int
    """0 when the command was done, else the error code (drivers/codes.toml)."""
    field: int
    value: int
    limit: int


@dataclass(frozen=True)
class CommandBlock(WireStruct):
    """A command as a client writes it: the token write runs it."""

    FORMAT = struct.Struct("<HIH")
    command: int
    argument: int
    token: int


@dataclass(frozen=True)
class EventInfo(WireStruct):
    FORMAT = struct.Struct("<HHH")
    newest_seq: int
    oldest_seq: int
    held: int
    """How many events the device still holds (0 to 256)."""


@dataclass(frozen=True)
class WriteRefusal(WireStruct):
    """Why the last register write was answered with an exception."""

    FORMAT = struct.Struct("<HHii")
    address: int
    exception: int
    value: int
    limit: int


# ---- input registers (function code 4) ---------------------------------------------------
IDENTITY = _layout(Identity, 0)                 # 0-23
STATUS = _layout(Status, 100)                   # 100-121
EVENT_INFO = _layout(EventInfo, 130)            # 130-132
EVENT_WINDOW = 140
EVENT_SLOT_WORDS = 16
EVENT_SLOTS = 7
"""Each slot: seq, type (0: no event), payload length in bytes, then the payload in 13
registers (the largest event, EV_SHOT, is 25 bytes). The window holds the events from the
cursor on, oldest first; 7 slots of 16 registers fit one read (at most 125 registers)."""

# ---- holding registers (function codes 3, 6, 16) ------------------------------------------
PROGRAM = _layout(ShotProgram, 200)             # 200-212
COMMAND_BLOCK = _layout(CommandBlock, 300)      # 300-303
COMMAND_CODE, COMMAND_ARG, COMMAND_TOKEN = (field.address for field in COMMAND_BLOCK)
EVENT_CURSOR = 310
RESULT = _layout(CommandResult, 320)            # 320-327, read-only
REFUSAL = _layout(WriteRefusal, 330)            # 330-335, read-only
CONFIG = _layout(DeviceConfig, 400)             # 400-472
UNLOCK = 500
"""Write UNLOCK_KEYS to UNLOCK, in that order, to unlock the configuration registers for
UNLOCK_S seconds; write 0 to lock again. Reading UNLOCK gives 1 while unlocked."""
UNLOCK_KEYS, UNLOCK_S = config.UNLOCK_KEYS, config.UNLOCK_S
"""The same technician unlock as the serial bridge's UNLOCK_CONFIG."""

INPUT_BLOCKS = MappingProxyType({"IDENTITY": IDENTITY, "STATUS": STATUS,
                                 "EVENT_INFO": EVENT_INFO})
"""The tables of input registers (function code 4), by name."""
HOLDING_BLOCKS = MappingProxyType({"PROGRAM": PROGRAM, "COMMAND_BLOCK": COMMAND_BLOCK,
                                   "RESULT": RESULT, "REFUSAL": REFUSAL, "CONFIG": CONFIG})
"""The tables of holding registers (function codes 3, 6, 16, 23), by name; EVENT_CURSOR and
UNLOCK are single registers beside them."""

# ---- coils (function codes 1, 5, 15) and discrete inputs (2) -------------------------------


class Coil(IntEnum):
    EMERGENCY_STOP = 0
    HOLD = 1


class DiscreteInput(IntEnum):
    HOMED = 0
    NEEDLE_PRESENT = 1
    SYRINGE_PRESENT = 2
    PROGRAM_LOADED = 3
    TRIGGER_PRESSED = 4
    ALARM_LATCHED = 5
    ARMED = 6
    FIRING = 7


BLOCK_COMMANDS = MappingProxyType({
    # command code -> what its 32-bit argument means ("" for none)
    MsgType.HOME: "", MsgType.LOAD_PROGRAM: "", MsgType.ARM: "", MsgType.DISARM: "",
    MsgType.FIRE: "count", MsgType.HOLD: "", MsgType.RESUME: "", MsgType.ESTOP: "",
    MsgType.ACK_ALARM: "code", MsgType.PRIME: "volume_nl", MsgType.SYRINGE_LOADED: "volume_nl",
})
"""Commands the command block runs (codes as in the serial protocol)."""


def span(fields: tuple[RegisterField, ...]) -> tuple[int, int]:
    """First address and number of registers of a layout."""
    return fields[0].address, fields[-1].address + fields[-1].words - fields[0].address


def words_of(value: int, field: RegisterField) -> list[int]:
    if field.words == 1:
        return [value & 0xFFFF]
    value &= 0xFFFF_FFFF
    return [value >> 16, value & 0xFFFF]


def value_of(words: list[int], field: RegisterField) -> int:
    value = words[0] if field.words == 1 else (words[0] << 16) | words[1]
    bits = 16 * field.words
    if field.signed and value >= 1 << (bits - 1):
        value -= 1 << bits
    return value


def text_words(text: str, words: int) -> list[int]:
    raw = text.encode("ascii").ljust(2 * words, b"\x00")[:2 * words]
    return [(raw[i] << 8) | raw[i + 1] for i in range(0, len(raw), 2)]


def text_of(words: list[int]) -> str:
    raw = b"".join(bytes([w >> 8, w & 0xFF]) for w in words)
    return raw.rstrip(b"\x00").decode("ascii", errors="replace")


def to_registers(obj: WireStruct, fields: tuple[RegisterField, ...]) -> list[int]:
    words: list[int] = []
    for field in fields:
        value = getattr(obj, field.name)
        words += text_words(value, field.words) if field.text else words_of(value, field)
    return words


def from_registers(cls: type[WireStruct], fields: tuple[RegisterField, ...],
                   words: list[int]) -> WireStruct:
    base = fields[0].address
    values = []
    for field in fields:
        chunk = words[field.address - base:field.address - base + field.words]
        values.append(text_of(chunk) if field.text else value_of(chunk, field))
    return cls(*values)


def payload_words(payload: bytes) -> list[int]:
    padded = payload + b"\x00" * (len(payload) % 2)
    return [(padded[i] << 8) | padded[i + 1] for i in range(0, len(padded), 2)]


def words_payload(words: list[int], length: int) -> bytes:
    return b"".join(bytes([w >> 8, w & 0xFF]) for w in words)[:length]
