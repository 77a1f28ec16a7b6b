"""The shot executor: runs one shot's phases with the firmware's own timing.

A shot is planned on the axes in closed form (`plan`) and concluded at one instant: its end,
or the exact physical moment a fault strikes (an occlusion when the rising pressure crosses
the limit). So a 10,000-shot session costs one timer per shot. An interruption from outside
(hold, e-stop, watchdog) cancels that timer, and `interrupt` accounts, from the schedule,
for what the encoders saw up to that instant.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from enum import Enum
from typing import NamedTuple

from drivers.config import DeviceConfig
from drivers.motion import move_time_at
from drivers.program import ShotProgram
from drivers.shot_timing import shot_phases
from simulator.faults import FaultPlan
from simulator.physics import GunPhysics

PRIME_RATE_UL_S = 50.0
SPRING_RETURN_MM_S = 300.0
SPRING_RETURN_MM_S2 = 200_000.0


class Phase(Enum):
    IDLE = "idle"
    INSERT = "insert"
    DISPENSE = "dispense"
    DWELL = "dwell"
    RETRACT = "retract"


@dataclass(frozen=True)
class ShotResult:
    depth_reached_um: int
    measured_nl: int
    """As the plunger encoder measured it (the device cannot see its own gain error)."""
    peak_pressure_kpa: int
    interrupted: bool


class Abort(Exception):
    """A fault stopped the shot; `alarm` names the alarm to raise."""

    def __init__(self, alarm: str, value: int, result: ShotResult) -> None:
        super().__init__(alarm)
        self.alarm = alarm
        self.value = value
        self.result = result


class ShotSchedule(NamedTuple):
    """When each phase of one shot begins, in loop time, fixed when the shot starts."""

    start_s: float
    dispense_s: float
    dwell_s: float
    retract_s: float
    """The needle starts back (for retrograde delivery, together with the plunger)."""
    dispensed_s: float
    end_s: float
    retrograde: bool

    def phase(self, now: float) -> Phase:
        if now < self.start_s or now >= self.end_s:
            return Phase.IDLE
        if self.retrograde:
            return (Phase.INSERT if now < self.dwell_s else
                    Phase.DWELL if now < self.dispense_s else Phase.DISPENSE)
        return (Phase.INSERT if now < self.dispense_s else
                Phase.DISPENSE if now < self.dwell_s else
                Phase.DWELL if now < self.retract_s else Phase.RETRACT)


class ShotExecutor:
    def __init__(self, physics: GunPhysics, faults: FaultPlan) -> None:
        self.physics = physics
        self.faults = faults
        self._schedule: ShotSchedule | None = None
        self._fault: tuple[str, int, float] | None = None
        """The fault that will end the planned shot: (alarm, value, loop time)."""
        self._plunger_start_mm = 0.0
        self._depth_mm = 0.0
        self._gain: float | None = None
        """The planned shot's true gain, scatter included (physics.next_shot_gain)."""
        self._peak_kpa = 0.0
        self._shot_peak_kpa = 0.0
        self._retract_speed = 150.0
        self._accel = 30_000.0
        self._area_mm2 = 1.0

    @staticmethod
    def _now() -> float:
        return asyncio.get_running_loop().time()

    @property
    def in_shot(self) -> bool:
        """A shot has begun and is not yet accounted for (true even at its very last instant)."""
        return self._schedule is not None and self._now() >= self._schedule.start_s

    def cancel(self) -> None:
        """Forget a shot planned to begin later (the caller stops the axes)."""
        self._schedule = self._fault = None

    @property
    def phase(self) -> Phase:
        return self._schedule.phase(self._now()) if self._schedule else Phase.IDLE

    def plan(self, program: ShotProgram, config: DeviceConfig, shot_number: int,
             start_s: float) -> float:
        """Plan the whole shot on the axes from `start_s` (now or later); returns the loop
        time at which to call `conclude`: the shot's end, or the moment a fault strikes.
        One timer per shot, the wait for its slot included."""
        physics = self.physics
        # The phases are the planner's too (drivers/shot_timing.py): one source of timing.
        phases = shot_phases(program, config.mechanical_limits(), config.syringe_bore_um / 1000)
        # The firmware turns volume into plunger travel with its configured bore; the true
        # bore (and the gain error) decide what really leaves the needle.
        area = self._area_mm2 = config.bore_area_mm2
        depth_mm = program.depth_um / 1000
        depth_accel = config.depth_accel_um_s2 / 1000
        volume_ul = program.volume_nl / 1000
        rate_ul_s = program.dispense_rate_nl_s / 1000
        plunger_accel_ul = phases.plunger_accel_ul_s2
        # The plunger rests until the shot begins: where it is now is where it starts.
        self._plunger_start_mm = physics.plunger.position(self._now())
        self._depth_mm, self._peak_kpa, self._accel = depth_mm, 0.0, depth_accel
        self._retract_speed = config.depth_speed_max_um_s / 1000
        retrograde = phases.retrograde

        physics.depth.move_to(start_s, depth_mm, program.insert_speed_um_s / 1000, depth_accel)
        dispense = start_s + phases.dispense_start_s
        stroke_mm = volume_ul / area
        physics.plunger.move_to(dispense, self._plunger_start_mm + stroke_mm, rate_ul_s / area,
                                plunger_accel_ul / area)
        dispensed = dispense + phases.dispense_s
        end = start_s + phases.cycle_s
        if retrograde:
            scale = depth_mm / volume_ul
            physics.depth.move_to(dispense, 0.0, rate_ul_s * scale, plunger_accel_ul * scale)
        else:
            physics.depth.move_to(start_s + phases.retract_start_s, 0.0,
                                  program.retract_speed_um_s / 1000, depth_accel)
        dwell = start_s + phases.insert_s + (0.0 if retrograde else phases.dispense_s)
        self._schedule = ShotSchedule(start_s, dispense, dwell, start_s + phases.retract_start_s,
                                      dispensed, end, retrograde=retrograde)
        self._shot_peak_kpa = 0.0

        if self.faults.take("occlusion", shot_number):
            physics.occluded = True
        peak_flow = min(rate_ul_s, math.sqrt(volume_ul * plunger_accel_ul))
        resistance = physics.line_resistance()
        base_kpa = physics.pressure_kpa(0.0, in_tissue=True)
        peak_kpa = self._shot_peak_kpa = base_kpa + resistance * peak_flow
        fault = None
        if self.faults.take("motor_stall", shot_number):
            fault = ("motor_stall", 0, start_s + phases.insert_s / 2)
        elif peak_kpa > config.max_pressure_kpa:
            # Flow rises at the plunger's acceleration; the limit is crossed on the ramp.
            trip_s = (config.max_pressure_kpa - base_kpa) / (resistance * plunger_accel_ul)
            fault = ("occlusion", config.max_pressure_kpa, dispense + max(0.0, trip_s))
        elif self.faults.take("plunger_stall", shot_number):
            fault = ("plunger_stall", 0, dispense + phases.dispense_s / 2)
        elif self.faults.take("emergency_stop", shot_number):
            fault = ("emergency_stop", 0, dispense + phases.dispense_s / 2)
        self._gain = physics.next_shot_gain(volume_ul)
        to_end_mm = physics.plunger_travel_left_mm(self._gain)
        if to_end_mm < stroke_mm:
            # The plunger meets the end of the barrel mid-stroke: never a silent dry shot.
            dry_at = dispense + move_time_at(to_end_mm, stroke_mm, rate_ul_s / area,
                                             plunger_accel_ul / area)
            if fault is None or dry_at < fault[2]:
                fault = ("empty_syringe", 0, dry_at)

        self._fault = fault
        return fault[2] if fault is not None else end

    def conclude(self) -> ShotResult:
        """The shot planned last, at the time `plan` gave: its result, or Abort."""
        fault, self._fault = self._fault, None
        if fault is not None:
            alarm, value, _ = fault
            if alarm == "occlusion":
                self._peak_kpa = value
            raise self._abort(alarm, value)
        return self._finish(interrupted=False)

    def interrupt(self, *, spring: bool = False) -> ShotResult:
        """Stop the plunger now and send the needle home; account for what was done."""
        return self._finish(interrupted=True, spring=spring)

    def _abort(self, alarm: str, value: int) -> Abort:
        spring = alarm == "emergency_stop"
        return Abort(alarm, value, self._finish(interrupted=True, spring=spring))

    def _finish(self, *, interrupted: bool, spring: bool = False) -> ShotResult:
        physics, now = self.physics, self._now()
        schedule, self._schedule = self._schedule, None
        phase = schedule.phase(now) if schedule else Phase.IDLE
        if schedule is not None and phase is not Phase.INSERT:
            physics.true_depths_mm.append(physics.insertion_depth_mm(self._depth_mm))
        if schedule is not None and now >= schedule.dispensed_s:
            self._peak_kpa = self._shot_peak_kpa
        travel_mm = physics.plunger.stop(now) - self._plunger_start_mm
        encoder_ul = travel_mm * self._area_mm2
        # Reading the axis also lets it forget the moves this shot has finished with.
        depth_now_mm = physics.depth.position(now)
        reached_mm = depth_now_mm if phase is Phase.INSERT else self._depth_mm
        if interrupted:
            retract(physics, now, spring=spring, speed=self._retract_speed, accel=self._accel)
        physics.deliver(travel_mm, self._gain)
        return ShotResult(depth_reached_um=max(0, round(reached_mm * 1000)),
                          measured_nl=max(0, round(encoder_ul * 1000)),
                          peak_pressure_kpa=round(self._peak_kpa), interrupted=interrupted)


def retract(physics: GunPhysics, now: float, *, spring: bool, speed: float, accel: float) -> float:
    """Send the needle back to the nose: by motor, or by its return spring when motors are cut."""
    if spring:
        return physics.depth.move_to(now, 0.0, SPRING_RETURN_MM_S, SPRING_RETURN_MM_S2)
    return physics.depth.move_to(now, 0.0, speed, accel)
