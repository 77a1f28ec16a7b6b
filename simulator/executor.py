"""The shot executor: runs one shot's phases with the firmware's own timing.

Each phase is one asyncio sleep for its closed-form duration, so a 10,000-shot session costs
a few sleeps per shot. A fault strikes at its exact physical moment (an occlusion when the
rising pressure crosses the limit); an interruption from outside (hold, e-stop, watchdog)
cancels the sleep, and `interrupt` accounts for what the encoders saw up to that instant.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from enum import Enum

from drivers.config import DeviceConfig
from drivers.program import DeliveryCode, ShotProgram
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
    volume_nl: int
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


class ShotExecutor:
    def __init__(self, physics: GunPhysics, faults: FaultPlan) -> None:
        self.physics = physics
        self.faults = faults
        self.phase = Phase.IDLE
        self._plunger_start_mm = 0.0
        self._depth_mm = 0.0
        self._peak_kpa = 0.0
        self._retract_speed = 150.0
        self._accel = 30_000.0
        self._area_mm2 = 1.0

    @staticmethod
    def _now() -> float:
        return asyncio.get_running_loop().time()

    async def shot(self, program: ShotProgram, config: DeviceConfig, shot_number: int) -> ShotResult:
        physics, now = self.physics, self._now()
        # The firmware turns volume into plunger travel with its configured bore; the true
        # bore (and the gain error) decide what really leaves the needle.
        area = self._area_mm2 = config.bore_area_mm2
        depth_mm = program.depth_um / 1000
        depth_accel = config.depth_accel_um_s2 / 1000
        volume_ul = program.volume_nl / 1000
        rate_ul_s = program.dispense_rate_nl_s / 1000
        plunger_accel_ul = config.plunger_accel_um_s2 / 1000 * area
        self._plunger_start_mm = physics.plunger.position(now)
        self._depth_mm, self._peak_kpa, self._accel = depth_mm, 0.0, depth_accel
        self._retract_speed = config.depth_speed_max_um_s / 1000

        self.phase = Phase.INSERT
        duration = physics.depth.move_to(now, depth_mm, program.insert_speed_um_s / 1000,
                                         depth_accel)
        if self.faults.take("motor_stall", shot_number):
            await asyncio.sleep(duration / 2)
            raise self._abort("motor_stall", 0)
        await asyncio.sleep(duration)
        physics.true_depths_mm.append(physics.true_depth_mm(depth_mm))

        retrograde = program.delivery == DeliveryCode.RETROGRADE
        if retrograde:
            # Ramp no harder than the needle can follow (the planner applies the same rule).
            plunger_accel_ul = min(plunger_accel_ul, depth_accel * volume_ul / depth_mm)
            self.phase = Phase.DWELL
            await asyncio.sleep(program.dwell_ms / 1000)

        self.phase = Phase.DISPENSE
        if self.faults.take("occlusion", shot_number):
            physics.occluded = True
        now = self._now()
        duration = physics.plunger.move_to(now, self._plunger_start_mm + volume_ul / area,
                                           rate_ul_s / area, plunger_accel_ul / area)
        if retrograde:
            scale = depth_mm / volume_ul
            physics.depth.move_to(now, 0.0, rate_ul_s * scale, plunger_accel_ul * scale)
        peak_flow = min(rate_ul_s, math.sqrt(volume_ul * plunger_accel_ul))
        resistance = physics.line_resistance()
        base_kpa = physics.pressure_kpa(0.0, in_tissue=True)
        peak_kpa = base_kpa + resistance * peak_flow
        if peak_kpa > config.max_pressure_kpa:
            # Flow rises at the plunger's acceleration; the limit is crossed on the ramp.
            trip_s = (config.max_pressure_kpa - base_kpa) / (resistance * plunger_accel_ul)
            await asyncio.sleep(max(0.0, trip_s))
            self._peak_kpa = config.max_pressure_kpa
            raise self._abort("occlusion", config.max_pressure_kpa)
        if self.faults.take("plunger_stall", shot_number):
            await asyncio.sleep(duration / 2)
            raise self._abort("plunger_stall", 0)
        if self.faults.take("emergency_stop", shot_number):
            await asyncio.sleep(duration / 2)
            raise self._abort("emergency_stop", 0)
        await asyncio.sleep(duration)
        self._peak_kpa = peak_kpa

        if not retrograde:
            self.phase = Phase.DWELL
            await asyncio.sleep(program.dwell_ms / 1000)
            self.phase = Phase.RETRACT
            duration = physics.depth.move_to(self._now(), 0.0, program.retract_speed_um_s / 1000,
                                             depth_accel)
            await asyncio.sleep(duration)
        return self._finish(interrupted=False)

    def interrupt(self, *, spring: bool = False) -> ShotResult:
        """Stop the plunger now and send the needle home; account for what was done."""
        return self._finish(interrupted=True, spring=spring)

    def _abort(self, alarm: str, value: int) -> Abort:
        spring = alarm == "emergency_stop"
        return Abort(alarm, value, self._finish(interrupted=True, spring=spring))

    def _finish(self, *, interrupted: bool, spring: bool = False) -> ShotResult:
        physics, now = self.physics, self._now()
        travel_mm = physics.plunger.stop(now) - self._plunger_start_mm
        encoder_ul = travel_mm * self._area_mm2
        reached_mm = physics.depth.position(now) if self.phase is Phase.INSERT else self._depth_mm
        if interrupted:
            retract(physics, now, spring=spring, speed=self._retract_speed, accel=self._accel)
        physics.deliver(travel_mm)
        self.phase = Phase.IDLE
        return ShotResult(depth_reached_um=max(0, round(reached_mm * 1000)),
                          volume_nl=max(0, round(encoder_ul * 1000)),
                          peak_pressure_kpa=round(self._peak_kpa), interrupted=interrupted)


def retract(physics: GunPhysics, now: float, *, spring: bool, speed: float, accel: float) -> float:
    """Send the needle back to the nose: by motor, or by its return spring when motors are cut."""
    if spring:
        return physics.depth.move_to(now, 0.0, SPRING_RETURN_MM_S, SPRING_RETURN_MM_S2)
    return physics.depth.move_to(now, 0.0, speed, accel)
