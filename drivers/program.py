"""The shot program: one shot's phases in device units, as the firmware executes them.

The planner produces it, the serial and Modbus bridges carry it (it is LOAD_PROGRAM's
payload, 25 bytes), the firmware checks and runs it. Accelerations are not part of it: they
belong to the device's configuration.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from types import MappingProxyType

from drivers.units import U16_MAX, U32_MAX
from drivers.wire import WireStruct


class DeliveryCode(IntEnum):
    AT_DEPTH = 0
    RETROGRADE = 1
    INFUSION = 2


@dataclass(frozen=True)
class ShotProgram(WireStruct):
    FORMAT = struct.Struct("<BHIIHIII")

    delivery: int
    """A DeliveryCode."""
    depth_um: int
    insert_speed_um_s: int
    retract_speed_um_s: int
    dwell_ms: int
    volume_nl: int
    dispense_rate_nl_s: int
    shot_period_ms: int
    """The firmware starts one shot per period in an automated run (fire N)."""


PROGRAM_FIELD_MAX = MappingProxyType({
    "depth_um": U16_MAX, "insert_speed_um_s": U32_MAX, "retract_speed_um_s": U32_MAX,
    "dwell_ms": U16_MAX, "volume_nl": U32_MAX, "dispense_rate_nl_s": U32_MAX,
    "shot_period_ms": U32_MAX,
})
"""The width of each field on the wire; a value beyond it is refused, never truncated."""
