"""Every message of the serial protocol: its type code and its payload.

Commands go host -> device with the host's sequence number; the device answers each with
exactly one OK or ERROR carrying the same number. Events go device -> host unprompted and
carry the device's event sequence number instead, so the host can see a gap and ask for a
replay (GET_EVENTS).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum, IntFlag
from types import MappingProxyType
from typing import ClassVar

from drivers.config import DeviceConfig
from drivers.program import ShotProgram
from drivers.wire import PayloadError, WireStruct


class MsgType(IntEnum):
    IDENTIFY = 0x01
    HEARTBEAT = 0x02
    STATUS = 0x03
    HOME = 0x04
    LOAD_PROGRAM = 0x05
    ARM = 0x06
    DISARM = 0x07
    FIRE = 0x08
    HOLD = 0x09
    RESUME = 0x0A
    ESTOP = 0x0B
    ACK_ALARM = 0x0C
    PRIME = 0x0D
    READ_CONFIG = 0x0E
    WRITE_CONFIG = 0x0F
    GET_EVENTS = 0x10
    SYRINGE_LOADED = 0x11
    UNLOCK_CONFIG = 0x12
    OK = 0x80
    ERROR = 0x81
    EV_SHOT = 0xC0
    EV_ALARM = 0xC1
    EV_STATE = 0xC2


PRIORITY_COMMANDS = frozenset({MsgType.ESTOP, MsgType.HOLD})
"""Handled ahead of anything queued, on both sides of the wire."""
READ_COMMANDS = frozenset({MsgType.IDENTIFY, MsgType.HEARTBEAT, MsgType.STATUS,
                           MsgType.READ_CONFIG, MsgType.GET_EVENTS})
"""Reads without effect: executed afresh on a repeat and never kept in the reply cache, so
an IDENTIFY or STATUS retransmitted later tells how the gun is now."""


class DeviceState(IntEnum):
    LOCKED = 0      # powered, not homed: nothing moves but HOME
    HOMING = 1
    IDLE = 2
    PRIMING = 3
    ARMED = 4
    FIRING = 5
    HELD = 6
    FAULT = 7       # a latched stop alarm waits for acknowledgement
    ESTOP = 8


class StatusFlags(IntFlag):
    HOMED = 0x01
    NEEDLE_PRESENT = 0x02
    SYRINGE_PRESENT = 0x04
    PROGRAM_LOADED = 0x08
    TRIGGER_PRESSED = 0x10


ALARM_BIT_BASE = 0x0101
"""Status.latched_alarms: bit n stands for alarm code ALARM_BIT_BASE + n."""


def latched_codes(mask: int) -> list[int]:
    return [ALARM_BIT_BASE + bit for bit in range(16) if mask >> bit & 1]


def latched_mask(codes) -> int:
    mask = 0
    for code in codes:
        if 0 <= code - ALARM_BIT_BASE < 16:
            mask |= 1 << (code - ALARM_BIT_BASE)
    return mask


class ShotFlags(IntFlag):
    INTERRUPTED = 0x01      # stopped by hold, alarm or e-stop before the full dose


# ---- command payloads --------------------------------------------------------------------

@dataclass(frozen=True)
class Empty(WireStruct):
    FORMAT = struct.Struct("<")


@dataclass(frozen=True)
class Hello(WireStruct):
    FORMAT = struct.Struct("<I")
    session: int
    """Chosen by the host per session and kept across its reconnections: the device clears
    its reply cache only when a new session says hello, so a command retransmitted after a
    reconnection is still answered from the cache."""


@dataclass(frozen=True)
class Fire(WireStruct):
    FORMAT = struct.Struct("<I")
    count: int


@dataclass(frozen=True)
class AckAlarm(WireStruct):
    FORMAT = struct.Struct("<H")
    code: int


@dataclass(frozen=True)
class Prime(WireStruct):
    FORMAT = struct.Struct("<I")
    volume_nl: int


@dataclass(frozen=True)
class GetEvents(WireStruct):
    FORMAT = struct.Struct("<H")
    from_seq: int


@dataclass(frozen=True)
class SyringeLoaded(WireStruct):
    FORMAT = struct.Struct("<I")
    volume_nl: int
    """Drug in the newly mounted syringe, dead volume included."""


@dataclass(frozen=True)
class Unlock(WireStruct):
    FORMAT = struct.Struct("<H")
    key: int
    """UNLOCK_KEYS[0], then UNLOCK_KEYS[1]; 0 locks again at once."""


COMMAND_PAYLOADS: MappingProxyType[MsgType, type[WireStruct]] = MappingProxyType({
    MsgType.IDENTIFY: Hello, MsgType.HEARTBEAT: Empty, MsgType.STATUS: Empty,
    MsgType.HOME: Empty, MsgType.LOAD_PROGRAM: ShotProgram, MsgType.ARM: Empty,
    MsgType.DISARM: Empty, MsgType.FIRE: Fire, MsgType.HOLD: Empty, MsgType.RESUME: Empty,
    MsgType.ESTOP: Empty, MsgType.ACK_ALARM: AckAlarm, MsgType.PRIME: Prime,
    MsgType.READ_CONFIG: Empty, MsgType.WRITE_CONFIG: DeviceConfig,
    MsgType.GET_EVENTS: GetEvents, MsgType.SYRINGE_LOADED: SyringeLoaded,
    MsgType.UNLOCK_CONFIG: Unlock,
})


# ---- answers -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Identity(WireStruct):
    FORMAT = struct.Struct("<16s16sBBBBII")
    model: str
    serial_number: str
    firmware_major: int
    firmware_minor: int
    firmware_patch: int
    protocol_version: int
    config_hash: int
    boot_id: int
    """Drawn at random (never 0) each time the gun powers up or resets: a host that meets
    another boot id than before is talking to a rebooted gun (its counters and events began
    again), never to the one it knew."""

    def pack(self) -> bytes:
        return self.FORMAT.pack(_text16(self.model, "model"),
                                _text16(self.serial_number, "serial_number"),
                                self.firmware_major, self.firmware_minor, self.firmware_patch,
                                self.protocol_version, self.config_hash, self.boot_id)

    @classmethod
    def unpack(cls, payload: bytes) -> Identity:
        if len(payload) != cls.FORMAT.size:
            raise PayloadError(f"Identity payload is {len(payload)} bytes, expected "
                               f"{cls.FORMAT.size}")
        model, serial, *rest = cls.FORMAT.unpack(payload)
        return cls(_untext(model), _untext(serial), *rest)

    @property
    def firmware_version(self) -> str:
        return f"{self.firmware_major}.{self.firmware_minor}.{self.firmware_patch}"


def _text16(value: str, field: str) -> bytes:
    raw = value.encode("ascii")
    if len(raw) > 16:
        raise PayloadError(f"{field} {value!r} is longer than 16 ASCII characters")
    return raw


def _untext(raw: bytes) -> str:
    return raw.rstrip(b"\x00").decode("ascii", errors="replace")


@dataclass(frozen=True)
class Heartbeat(WireStruct):
    FORMAT = struct.Struct("<BHI")
    state: int
    last_event_seq: int
    boot_id: int
    """So a gun that reset behind an unbroken link (a UART) is noticed at the next beat."""


@dataclass(frozen=True)
class Status(WireStruct):
    FORMAT = struct.Struct("<BBHBHiiHIIIIIHI")
    state: int
    flags: int
    active_alarm: int
    """The code of the oldest latched alarm, 0 when none."""
    alarm_count: int
    latched_alarms: int
    """Every latched alarm, one bit each: bit n for alarm code 0x0101 + n."""
    depth_um: int
    plunger_um: int
    pressure_kpa: int
    shots_done: int
    volume_measured_nl: int
    """Since power-on, by shots and primes, as the plunger encoder measured it."""
    volume_delivered_nl: int
    """The same through the stored calibration: the gun's estimate of what left the needle."""
    syringe_remaining_nl: int
    """Drug left in the syringe, dead volume included, in delivered nl: the figure that
    counts (docs/protocol.md, "The drug account")."""
    run_remaining: int
    last_event_seq: int
    boot_id: int


@dataclass(frozen=True)
class EventsReplayed(WireStruct):
    FORMAT = struct.Struct("<H")
    count: int


OK_PAYLOADS: MappingProxyType[MsgType, type[WireStruct]] = MappingProxyType({
    MsgType.IDENTIFY: Identity, MsgType.HEARTBEAT: Heartbeat, MsgType.STATUS: Status,
    MsgType.READ_CONFIG: DeviceConfig, MsgType.GET_EVENTS: EventsReplayed,
})
"""The body of an OK for commands that return data; the rest answer an empty body."""


NO_FIELD = 0xFF


@dataclass(frozen=True)
class ErrorBody(WireStruct):
    FORMAT = struct.Struct("<HBii")
    code: int
    field: int
    """Index of the offending field in the command's payload, NO_FIELD when none."""
    value: int
    limit: int


# ---- events ------------------------------------------------------------------------------

@dataclass(frozen=True)
class ShotDone(WireStruct):
    FORMAT = struct.Struct("<IHIIHBII")
    TYPE: ClassVar[MsgType] = MsgType.EV_SHOT
    shot_index: int
    depth_reached_um: int
    """As the needle encoder measured it (commanded units)."""
    measured_nl: int
    """What the plunger encoder measured: the commanded volume for a whole shot."""
    delivered_nl: int
    """`measured_nl` through the stored calibration: what the syringe gave, by the gun's
    account."""
    peak_pressure_kpa: int
    flags: int
    syringe_remaining_nl: int
    """The drug account after this shot."""
    time_ms: int
    """When the shot ended (needle back at the nose, or the interruption), ms since power-on."""


@dataclass(frozen=True)
class AlarmRaised(WireStruct):
    FORMAT = struct.Struct("<HIiI")
    TYPE: ClassVar[MsgType] = MsgType.EV_ALARM
    code: int
    shot_index: int
    value: int
    time_ms: int


@dataclass(frozen=True)
class StateChanged(WireStruct):
    FORMAT = struct.Struct("<BBHI")
    TYPE: ClassVar[MsgType] = MsgType.EV_STATE
    state: int
    previous: int
    cause: int
    """The alarm code or command type that caused the change."""
    time_ms: int


EVENT_PAYLOADS: MappingProxyType[MsgType, type[WireStruct]] = MappingProxyType({
    MsgType.EV_SHOT: ShotDone, MsgType.EV_ALARM: AlarmRaised, MsgType.EV_STATE: StateChanged,
})
Event = ShotDone | AlarmRaised | StateChanged
