"""The physics behind the simulated firmware, in closed form so time can be fast-forwarded.

Motors follow the same trapezoidal profiles as the planner; positions are evaluated at the
loop's time, never ticked. What the firmware's encoders read and what really happens differ
by the device's imperfections (volume gain, depth offset, backlash), which is what a
calibration has to find.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

from drivers.motion import move_duration_s, move_position_at

WATER_VISCOSITY_MPA_S = 1.0
TISSUE_BACK_PRESSURE_KPA = 15.0
"""Intradermal back-pressure once the tip is in tissue; small beside the needle's drop."""


class Move(NamedTuple):
    """One planned move (immutable; a NamedTuple because a shot builds several)."""

    start_s: float
    start_mm: float
    distance_mm: float
    """Signed: positive moves outwards (deeper, or plunger forwards)."""
    speed: float
    accel: float

    @property
    def duration_s(self) -> float:
        return move_duration_s(abs(self.distance_mm), self.speed, self.accel)

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s

    def position(self, now: float) -> float:
        covered = move_position_at(now - self.start_s, abs(self.distance_mm), self.speed,
                                   self.accel)
        return self.start_mm + math.copysign(covered, self.distance_mm)

    def velocity(self, now: float, dt: float = 1e-6) -> float:
        return (self.position(now + dt) - self.position(now - dt)) / (2 * dt)


class Axis:
    """One motor as its encoder sees it: a position that follows its moves.

    Moves may be planned ahead (a whole shot at once, so a shot costs one timer); the
    position at any instant is the latest move begun by then, held at its end point until
    the next begins. Queries come at the loop's time, which never goes back, so a move is
    forgotten once its successor has begun.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._rest_mm = 0.0
        self._moves: list[Move] = []
        self.stopped_at: float | None = None
        """Loop time of the last stop: when a hold, alarm or e-stop braked the motor."""

    def _current(self, now: float) -> Move | None:
        moves = self._moves
        while len(moves) > 1 and moves[1].start_s <= now:
            del moves[0]
        if moves and moves[0].start_s <= now:
            return moves[0]
        return None

    def position(self, now: float) -> float:
        move = self._current(now)
        return move.position(now) if move else self._rest_mm

    def velocity(self, now: float) -> float:
        move = self._current(now)
        return move.velocity(now) if move and now < move.end_s else 0.0

    def moving(self, now: float) -> bool:
        move = self._current(now)
        return move is not None and now < move.end_s

    def move_to(self, start_s: float, target_mm: float, speed: float, accel: float) -> float:
        """Plan a move that begins at `start_s` (now or later) from wherever the axis will be
        then; moves planned to begin later are dropped. Returns its duration."""
        moves = [move for move in self._moves if move.start_s < start_s]
        begin = moves[-1].position(start_s) if moves else self._rest_mm
        move = Move(start_s, begin, target_mm - begin, speed, accel)
        self._moves = moves + [move]
        return move.duration_s

    def stop(self, now: float) -> float:
        """Stop dead (motor braked): the position stays where it is now, plans are dropped."""
        self._rest_mm = self.position(now)
        self._moves = []
        self.stopped_at = now
        return self._rest_mm

    def set_position(self, position_mm: float) -> None:
        self._rest_mm = position_mm
        self._moves = []


def needle_resistance_kpa_per_ul_s(inner_diameter_mm: float, length_mm: float,
                                   viscosity_mpa_s: float) -> float:
    """Hagen-Poiseuille: dP = 8 mu L Q / (pi r^4), in kPa per (ul/s)."""
    radius_m = inner_diameter_mm / 2000.0
    resistance_si = 8 * viscosity_mpa_s * 1e-3 * (length_mm / 1000.0) / (math.pi * radius_m**4)
    return resistance_si * 1e-9 / 1e3


@dataclass
class Imperfections:
    """Per-device errors between command and reality. 1.07 delivers 7% more than commanded."""

    volume_gain: float = 1.0
    depth_offset_mm: float = 0.0
    """The tip sits this much deeper than the encoder says."""
    backlash_mm: float = 0.0
    """Lost motion when the needle axis reverses: every insertion falls short by this."""


@dataclass
class Needle:
    inner_diameter_mm: float = 0.159
    length_mm: float = 4.0


class GunPhysics:
    """The mechanical gun: needle axis, plunger, syringe, line pressure and sensors."""

    def __init__(self, *, bore_mm: float, capacity_ul: float, dead_volume_ul: float,
                 imperfections: Imperfections = Imperfections(), needle: Needle = Needle(),
                 viscosity_mpa_s: float = WATER_VISCOSITY_MPA_S) -> None:
        self.depth = Axis("needle")
        self.plunger = Axis("plunger")
        self.bore_mm = bore_mm
        self.capacity_ul = capacity_ul
        self.dead_volume_ul = dead_volume_ul
        self.imperfections = imperfections
        self.needle = needle
        self.viscosity_mpa_s = viscosity_mpa_s
        self.needle_present = True
        self.syringe_present = True
        self.trigger_pressed = False
        self.occluded = False
        self.syringe_ul = capacity_ul
        """Drug in the syringe, dead volume included (true volume, not the encoder's)."""
        self.true_dispensed_ul = 0.0
        """Everything that left the needle since power-on: what a balance would weigh."""
        self.true_depths_mm: list[float] = []
        """Where the tip really went on each insertion: what a depth gauge would read."""

    @property
    def bore_area_mm2(self) -> float:
        return math.pi * (self.bore_mm / 2) ** 2

    def line_resistance(self) -> float:
        """kPa per ul/s through the needle; an occlusion multiplies it fifty-fold."""
        base = needle_resistance_kpa_per_ul_s(self.needle.inner_diameter_mm,
                                              self.needle.length_mm, self.viscosity_mpa_s)
        return base * (50.0 if self.occluded else 1.0)

    def pressure_kpa(self, flow_ul_s: float, in_tissue: bool) -> float:
        return flow_ul_s * self.line_resistance() + (TISSUE_BACK_PRESSURE_KPA if in_tissue else 0)

    def true_depth_mm(self, encoder_mm: float) -> float:
        """Where the tip really is for an encoder reading (0 at the nose)."""
        if encoder_mm <= 0:
            return 0.0
        return max(0.0, encoder_mm + self.imperfections.depth_offset_mm
                   - self.imperfections.backlash_mm)

    @property
    def true_ul_per_mm(self) -> float:
        """Drug that one millimetre of plunger travel really pushes out."""
        return self.bore_area_mm2 * self.imperfections.volume_gain

    def pushable_ul(self) -> float:
        """Drug the plunger can still push before it meets the end of the barrel: what the
        syringe holds less its dead volume (the drug left in the tip and hub)."""
        return max(0.0, self.syringe_ul - self.dead_volume_ul)

    def plunger_travel_left_mm(self) -> float:
        return self.pushable_ul() / self.true_ul_per_mm

    def deliver(self, travel_mm: float) -> float:
        """The plunger advanced `travel_mm`: the true bore and the gain error decide what left.
        Callers stop the plunger at the barrel's end, so nothing is pushed past it."""
        true_ul = min(max(0.0, travel_mm) * self.true_ul_per_mm, self.pushable_ul())
        self.syringe_ul -= true_ul
        self.true_dispensed_ul += true_ul
        return true_ul
