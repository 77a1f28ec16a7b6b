"""The payload and register tables of docs/protocol.md and docs/modbus.md, rendered from the
wire definitions themselves (the structs, the register map, the configuration's ranges), so a
field cannot change without its documentation. `python -m tests.wire.render --write` puts
them into the docs between `<!-- table: NAME -->` and `<!-- /table -->`; the doc tests check
that the docs hold exactly what this renders."""

from __future__ import annotations

from drivers import modbus_map as mm
from drivers.config import CONFIG_RANGES, DeviceConfig
from drivers.messages import (
    AlarmRaised, DeviceState, Heartbeat, Identity, ShotDone, StateChanged, Status,
)
from drivers.program import ShotProgram
from drivers.wire import WireStruct

STATES = ", ".join(f"{s.value} {s.name}" for s in DeviceState)

MEANINGS: dict[str, str] = {
    # identity
    "model": "ASCII, zero-padded",
    "serial_number": "ASCII, zero-padded",
    "firmware_major": "", "firmware_minor": "", "firmware_patch": "",
    "protocol_version": "2",
    "config_hash": "CRC-32 (zlib) of the configuration record as READ_CONFIG sends it",
    "boot_id": "drawn at random at every power-up or reset, never 0: another value than "
               "before means the gun rebooted",
    # heartbeat, status
    "state": STATES,
    "last_event_seq": "number of the newest event",
    "flags": "bit 0 homed, 1 needle present, 2 syringe present, 3 program loaded, "
             "4 trigger pressed",
    "active_alarm": "code of the oldest latched alarm, 0 if none",
    "alarm_count": "latched alarms",
    "latched_alarms": "every latched alarm, one bit each: bit n for alarm code 0x0101 + n",
    "depth_um": "needle position",
    "ShotProgram.depth_um": "commanded depth (through the depth calibration)",
    "plunger_um": "plunger position",
    "pressure_kpa": "line pressure",
    "shots_done": "index of the last shot started since power-up",
    "volume_measured_nl": "shots and primes since power-up, as the plunger encoder measured",
    "volume_delivered_nl": "the same through the stored calibration",
    "syringe_remaining_nl": "the drug account: drug left in the syringe, dead volume "
                            "included, in delivered nl",
    "run_remaining": "shots left in the run",
    # program
    "delivery": "0 at-depth, 1 retrograde, 2 infusion",
    "insert_speed_um_s": "", "retract_speed_um_s": "",
    "dwell_ms": "at depth after the dispense (retrograde: before it)",
    "volume_nl": "commanded stroke, as the plunger encoder counts it",
    "dispense_rate_nl_s": "",
    "shot_period_ms": "from one shot's start to the next in a run",
    # events
    "shot_index": "1 for the first shot since power-up, never reused",
    "depth_reached_um": "as the needle encoder measured it",
    "measured_nl": "what the plunger encoder measured",
    "delivered_nl": "measured_nl through the stored calibration: what the syringe gave",
    "peak_pressure_kpa": "",
    "time_ms": "ms since power-up",
    "ShotDone.time_ms": "ms since power-up when the shot ended (needle back at the nose, or "
                        "the interruption)",
    "ShotDone.flags": "bit 0 interrupted: cut short by a hold, an alarm, an emergency stop or "
                      "the syringe's end, with the stroke measured so far",
    "AlarmRaised.shot_index": "the shot it struck during (occlusion, stalls, e-stop, the "
                              "syringe's end), the shot that could not start (interlocks, "
                              "empty_syringe), else the last shot begun",
    "code": "alarm code",
    "value": "the alarm's measurement (see the alarm table)",
    "CommandResult.value": "the offending value",
    "WriteRefusal.value": "the offending value; after exception 1, the gun's state when it was "
                          "busy, 0 when locked",
    "WriteRefusal.limit": "the limit it broke, in the register's own units; 0 after exception "
                          "1",
    "previous": "the state before",
    "cause": "the alarm code or command type that made the change",
    # modbus blocks
    "token": "token of the last command executed",
    "command": "its code",
    "result": "0 done (or, for a command that starts something, started), else the error "
              "code",
    "field": "index of the offending field in the command's payload, 255 none",
    "limit": "the limit it broke",
    "address": "the register of the offending field",
    "exception": "the exception code answered",
    "newest_seq": "number of the newest event",
    "oldest_seq": "oldest event still held",
    "held": "events held, up to 256",
    # configuration
    "depth_steps_per_mm": "", "plunger_steps_per_mm": "",
    "syringe_bore_um": "inner diameter of the barrel",
    "syringe_capacity_nl": "", "dead_volume_nl": "drug a full stroke leaves in tip and hub",
    "depth_travel_um": "needle axis travel from its home switch",
    "depth_speed_max_um_s": "", "depth_accel_um_s2": "",
    "plunger_speed_max_um_s": "", "plunger_accel_um_s2": "",
    "max_pressure_kpa": "occlusion limit",
    "watchdog_ms": "",
    "min_depth_um": "clinical envelope: shallowest delivered depth",
    "max_depth_um": "clinical envelope: deepest delivered depth",
    "min_dose_nl": "clinical envelope: smallest delivered dose per shot",
    "max_dose_nl": "clinical envelope: largest delivered dose per shot",
    "min_shot_period_ms": "clinical envelope: the highest shot rate, as a period",
    "depth_cal_time_s": "Unix time the depth table was made, 0 never",
    "depth_cal_due_s": "Unix time it is due again",
    "volume_cal_time_s": "Unix time the volume table was made, 0 never",
    "volume_cal_due_s": "Unix time it is due again",
    "depth_cal_points": "points used in the depth table",
    "volume_cal_points": "points used in the volume table",
}
for _axis, _unit in (("depth", "um"), ("volume", "nl")):
    for _i in range(1, 7):
        MEANINGS[f"{_axis}_cal_commanded_{_unit}_{_i}"] = f"point {_i}: commanded"
        MEANINGS[f"{_axis}_cal_delivered_{_unit}_{_i}"] = f"point {_i}: delivered"

def _codes(cls: type[WireStruct]) -> list[tuple[str, int, str]]:
    """(type, size in bytes, name) for each field of a struct, in order."""
    return [(f"{f.size} bytes" if f.kind == "text" else f.kind, f.size, f.name)
            for f in cls.layout()]


def _range(name: str) -> str:
    if name in CONFIG_RANGES:
        low, high = CONFIG_RANGES[name]
        return f"{low} to {high}"
    return ""


def meaning(cls: type[WireStruct], name: str) -> str:
    return MEANINGS.get(f"{cls.__name__}.{name}", MEANINGS[name])


def serial_table(cls: type[WireStruct], *, ranges: bool = False) -> str:
    head = "| offset | field | type | meaning |" + (" range |" if ranges else "")
    rule = "|---|---|---|---|" + ("---|" if ranges else "")
    rows, offset = [head, rule], 0
    for kind, size, name in _codes(cls):
        row = f"| {offset} | {name} | {kind} | {meaning(cls, name)} |"
        rows.append(row + (f" {_range(name)} |" if ranges else ""))
        offset += size
    return "\n".join(rows)


def unit_of(name: str) -> str:
    for suffix, unit in (("_um_s2", "um/s^2"), ("_um_s", "um/s"), ("_nl_s", "nl/s"),
                         ("_per_mm", "steps per mm"), ("_um", "um (micrometres)"),
                         ("_nl", "nl (nanolitres)"), ("_ms", "ms"), ("_kpa", "kPa"),
                         ("_time_s", "s (Unix time)"), ("_due_s", "s (Unix time)")):
        if name.endswith(suffix):
            return unit
    for infix, unit in (("_um_", "um (micrometres)"), ("_nl_", "nl (nanolitres)")):
        if infix in name:
            return unit
    return ""


def register_table(fields: tuple[mm.RegisterField, ...], cls: type[WireStruct]) -> str:
    rows = ["| address | name | type | unit | meaning / range |", "|---|---|---|---|---|"]
    for field in fields:
        address = (f"{field.address}" if field.words == 1
                   else f"{field.address}-{field.address + field.words - 1}")
        kind = ("text" if field.text else
                ("i" if field.signed else "u") + ("32" if field.words == 2 else "16"))
        described = meaning(cls, field.name)
        bounds = _range(field.name)
        text = "; ".join(part for part in (described, bounds) if part)
        rows.append(f"| {address} | {field.name} | {kind} | {unit_of(field.name)} | {text} |")
    return "\n".join(rows)


def payload_size(cls: type[WireStruct]) -> int:
    return cls.FORMAT.size


TABLES = {
    "serial ShotProgram": lambda: serial_table(ShotProgram),
    "serial Identity": lambda: serial_table(Identity),
    "serial Heartbeat": lambda: serial_table(Heartbeat),
    "serial Status": lambda: serial_table(Status),
    "serial DeviceConfig": lambda: serial_table(DeviceConfig, ranges=True),
    "serial ShotDone": lambda: serial_table(ShotDone),
    "serial AlarmRaised": lambda: serial_table(AlarmRaised),
    "serial StateChanged": lambda: serial_table(StateChanged),
    "modbus IDENTITY": lambda: register_table(mm.IDENTITY, Identity),
    "modbus STATUS": lambda: register_table(mm.STATUS, Status),
    "modbus EVENT_INFO": lambda: register_table(mm.EVENT_INFO, mm.EventInfo),
    "modbus PROGRAM": lambda: register_table(mm.PROGRAM, ShotProgram),
    "modbus RESULT": lambda: register_table(mm.RESULT, mm.CommandResult),
    "modbus REFUSAL": lambda: register_table(mm.REFUSAL, mm.WriteRefusal),
    "modbus CONFIG": lambda: register_table(mm.CONFIG, DeviceConfig),
}
