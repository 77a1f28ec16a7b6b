"""The phases of one shot, from the program the gun is given and its mechanics.

Shared by the firmware (which runs them) and the planner (which predicts them), so that a
plan's timeline is the gun's to the microsecond: on a calibrated gun the program's depth,
volume and rate are the corrected ones, and so are its phases.
"""

from __future__ import annotations

from dataclasses import dataclass

from drivers.mechanics import MechanicalLimits, bore_area_mm2
from drivers.motion import move_duration_s
from drivers.program import DeliveryCode, ShotProgram


@dataclass(frozen=True)
class ShotPhases:
    """How long each phase of one shot takes. A retrograde shot dispenses while it withdraws,
    so its retract phase is part of the dispense (retract_s 0)."""

    insert_s: float
    dwell_s: float
    dispense_s: float
    retract_s: float
    retrograde: bool
    plunger_accel_ul_s2: float
    """The plunger's ramp: the configured one, or for retrograde delivery no harder than the
    needle can follow (depth_accel * volume / depth)."""

    @property
    def cycle_s(self) -> float:
        return self.insert_s + self.dwell_s + self.dispense_s + self.retract_s

    @property
    def max_rate_hz(self) -> float:
        return 1.0 / self.cycle_s

    @property
    def dispense_start_s(self) -> float:
        """From the shot's start: retrograde dwells at depth first, the others dispense as
        soon as the needle is in."""
        return self.insert_s + (self.dwell_s if self.retrograde else 0.0)

    @property
    def retract_start_s(self) -> float:
        if self.retrograde:
            return self.dispense_start_s
        return self.insert_s + self.dispense_s + self.dwell_s


def shot_phases(program: ShotProgram, limits: MechanicalLimits, bore_mm: float) -> ShotPhases:
    depth_mm = program.depth_um / 1000
    volume_ul = program.volume_nl / 1000
    rate_ul_s = program.dispense_rate_nl_s / 1000
    depth_accel = limits.depth_accel_mm_s2
    plunger_accel_ul = limits.plunger_accel_ul_s2(bore_mm)
    retrograde = program.delivery == DeliveryCode.RETROGRADE
    if retrograde:
        plunger_accel_ul = min(plunger_accel_ul, depth_accel * volume_ul / depth_mm)
    area = bore_area_mm2(bore_mm)
    insert = move_duration_s(depth_mm, program.insert_speed_um_s / 1000, depth_accel)
    # The plunger moves volume/area at rate/area: the same move the firmware makes.
    dispense = move_duration_s(volume_ul / area, rate_ul_s / area, plunger_accel_ul / area)
    retract = 0.0 if retrograde else move_duration_s(depth_mm, program.retract_speed_um_s / 1000,
                                                     depth_accel)
    return ShotPhases(insert_s=insert, dwell_s=program.dwell_ms / 1000, dispense_s=dispense,
                      retract_s=retract, retrograde=retrograde,
                      plunger_accel_ul_s2=plunger_accel_ul)
