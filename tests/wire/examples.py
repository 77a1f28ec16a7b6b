"""The frames docs/protocol.md shows as byte examples, built from the codec's own types.

The doc is the contract a firmware team builds against; test_protocol_doc checks that every
example there encodes and decodes to exactly these frames.
"""

from __future__ import annotations

from drivers.config import factory_config
from drivers.framing import Frame
from drivers.messages import (
    AckAlarm, AlarmRaised, DeviceState, ErrorBody, EventsReplayed, Fire, GetEvents, Heartbeat,
    Hello, Identity, MsgType, NO_FIELD, Prime, ShotDone, StateChanged, Status, SyringeLoaded,
    Unlock,
)
from drivers.program import DeliveryCode, ShotProgram

CONFIG = factory_config(cal_time_s=1_767_225_600)       # 2026-01-01T00:00:00Z
BOOT_ID = 0x5EED0B07
NAPPAGE = ShotProgram(DeliveryCode.AT_DEPTH, 1000, 100_000, 150_000, 5, 10_000, 400_000, 125)


def _ok(command: MsgType, seq: int, body: bytes = b"") -> Frame:
    return Frame(MsgType.OK, seq, bytes([command]) + body)


EXAMPLES: dict[str, Frame] = {
    "IDENTIFY": Frame(MsgType.IDENTIFY, 1, Hello(0x12345678).pack()),
    "OK IDENTIFY": _ok(MsgType.IDENTIFY, 1, Identity(
        "MESO-GUN-S1", "SIM-000001", 1, 4, 2, 2, CONFIG.config_hash(), BOOT_ID).pack()),
    "HEARTBEAT": Frame(MsgType.HEARTBEAT, 2),
    "OK HEARTBEAT": _ok(MsgType.HEARTBEAT, 2, Heartbeat(DeviceState.IDLE, 5, BOOT_ID).pack()),
    "STATUS": Frame(MsgType.STATUS, 3),
    "OK STATUS": _ok(MsgType.STATUS, 3, Status(
        state=DeviceState.ARMED, flags=0x0F, active_alarm=0, alarm_count=0, latched_alarms=0,
        depth_um=0,
        plunger_um=484, pressure_kpa=0, shots_done=3, volume_measured_nl=80_000,
        volume_delivered_nl=80_000, syringe_remaining_nl=9_920_000, run_remaining=0,
        last_event_seq=10, boot_id=BOOT_ID).pack()),
    "HOME": Frame(MsgType.HOME, 4),
    "OK HOME": _ok(MsgType.HOME, 4),
    "LOAD_PROGRAM": Frame(MsgType.LOAD_PROGRAM, 5, NAPPAGE.pack()),
    "ARM": Frame(MsgType.ARM, 6),
    "FIRE": Frame(MsgType.FIRE, 7, Fire(3).pack()),
    "OK FIRE": _ok(MsgType.FIRE, 7),
    "HOLD": Frame(MsgType.HOLD, 8),
    "RESUME": Frame(MsgType.RESUME, 9),
    "DISARM": Frame(MsgType.DISARM, 10),
    "ESTOP": Frame(MsgType.ESTOP, 11),
    "ACK_ALARM": Frame(MsgType.ACK_ALARM, 12, AckAlarm(0x0101).pack()),
    "PRIME": Frame(MsgType.PRIME, 13, Prime(50_000).pack()),
    "READ_CONFIG": Frame(MsgType.READ_CONFIG, 14),
    "OK READ_CONFIG": _ok(MsgType.READ_CONFIG, 14, CONFIG.pack()),
    "WRITE_CONFIG": Frame(MsgType.WRITE_CONFIG, 15, CONFIG.pack()),
    "GET_EVENTS": Frame(MsgType.GET_EVENTS, 16, GetEvents(10).pack()),
    "OK GET_EVENTS": _ok(MsgType.GET_EVENTS, 16, EventsReplayed(2).pack()),
    "SYRINGE_LOADED": Frame(MsgType.SYRINGE_LOADED, 17, SyringeLoaded(10_000_000).pack()),
    "UNLOCK_CONFIG": Frame(MsgType.UNLOCK_CONFIG, 18, Unlock(0x55AA).pack()),
    "ERROR WRITE_CONFIG": Frame(MsgType.ERROR, 15, bytes([MsgType.WRITE_CONFIG]) + ErrorBody(
        0x000D, NO_FIELD, 0, 0).pack()),
    "ERROR LOAD_PROGRAM": Frame(MsgType.ERROR, 5, bytes([MsgType.LOAD_PROGRAM]) + ErrorBody(
        0x0003, 1, 14_500, 14_000).pack()),
    "EV_SHOT": Frame(MsgType.EV_SHOT, 9, ShotDone(42, 1000, 10_000, 10_000, 117, 0, 9_530_000,
                                                  5230).pack()),
    "EV_ALARM": Frame(MsgType.EV_ALARM, 10, AlarmRaised(0x0101, 12, 800, 9000).pack()),
    "EV_STATE": Frame(MsgType.EV_STATE, 11, StateChanged(DeviceState.FAULT, DeviceState.FIRING,
                                                          0x0101, 9000).pack()),
}
