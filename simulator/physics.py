"""The physics behind the simulated firmware, in closed form so time can be fast-forwarded.

Motors follow the same trapezoidal profiles as the planner; positions are evaluated at the
loop's time, never ticked. What the firmware's encoders read and what really happens differ
by the device's imperfections (docs/calibration.md, "The simulated gun"), which is what a
calibration has to find and a verification has to catch.
"""

from __future__ import annotations

import math
import random
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


REFERENCE_TEMPERATURE_C = 20.0
NONLINEARITY_SPAN_UL = (10.0, 100.0)
"""`volume_nonlinearity` is the change of gain from the first of these volumes to the last."""


@dataclass
class Imperfections:
    """Per-device errors between command and reality, as data (docs/calibration.md, "The
    simulated gun"). The defaults are a good gun: small random errors, no systematic ones."""

    volume_gain: float = 1.0
    """True volume over commanded: 1.07 delivers 7% more (a bore 3.4% wider than configured)."""
    volume_nonlinearity: float = 0.0
    """Change of the gain from a 10 ul to a 100 ul stroke (0.04: 4% more at 100 ul than at 10
    ul): back-pressure and seal friction grow with flow, so a line does not fit every gun."""
    dose_cv: float = 0.003
    """Random error of one shot, as a coefficient of variation (0.003: 0.3%), from seal
    stick-slip and the drop that hangs at the tip."""
    drift_per_1000_shots: float = 0.0
    """Gain change per thousand shots since power-up (seal wear, a loosening plunger clamp)."""
    temperature_c: float = 22.0
    """Fluid and room temperature: sets the water's density the balance sees, and the gain
    through `gain_per_c`."""
    gain_per_c: float = 0.0
    """Gain change per degree from 20 C (the syringe's and the fluid's expansion)."""
    first_shot_deficit_ul: float = 0.0
    """Air or syringe compliance: the first shot after a prime or a syringe change delivers
    this much less."""
    plunger_backlash_mm: float = 0.0
    """Lost motion of the plunger drive after it reverses (a syringe change): the first this
    much of its travel pushes nothing; the prime takes it up."""
    depth_offset_mm: float = 0.0
    """The tip sits this much deeper than the encoder says."""
    backlash_mm: float = 0.0
    """Lost motion of the needle axis on reversal. Every insertion follows a retraction, so
    every insertion falls short by this: the depth calibration's offset absorbs it."""
    depth_noise_mm: float = 0.003
    """Random error of one insertion's depth (standard deviation): skin gives under the nose."""


@dataclass
class Needle:
    inner_diameter_mm: float = 0.159
    length_mm: float = 4.0


class GunPhysics:
    """The mechanical gun: needle axis, plunger, syringe, line pressure and sensors."""

    def __init__(self, *, bore_mm: float, capacity_ul: float, dead_volume_ul: float,
                 imperfections: Imperfections = Imperfections(), needle: Needle = Needle(),
                 viscosity_mpa_s: float = WATER_VISCOSITY_MPA_S, seed: int = 0) -> None:
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
        self.rng = random.Random(seed)
        """The gun's own randomness (dose and depth scatter): seeded, so a run can be redone."""
        self.shots_since_power_up = 0
        self._plunger_slack_mm = imperfections.plunger_backlash_mm
        self._air_ul = imperfections.first_shot_deficit_ul

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
        """Where the tip really is for an encoder reading (0 at the nose), without scatter."""
        if encoder_mm <= 0:
            return 0.0
        return max(0.0, encoder_mm + self.imperfections.depth_offset_mm
                   - self.imperfections.backlash_mm)

    def insertion_depth_mm(self, encoder_mm: float) -> float:
        """Where the tip really went on one insertion: the systematic error and the scatter."""
        depth = self.true_depth_mm(encoder_mm)
        if depth > 0 and self.imperfections.depth_noise_mm:
            depth = max(0.0, depth + self.rng.gauss(0.0, self.imperfections.depth_noise_mm))
        return depth

    def pushable_ul(self) -> float:
        """Drug the plunger can still push before it meets the end of the barrel: what the
        syringe holds less its dead volume (the drug left in the tip and hub)."""
        return max(0.0, self.syringe_ul - self.dead_volume_ul)

    def plunger_travel_left_mm(self, gain: float | None = None) -> float:
        """Plunger travel to the end of the barrel, at `gain` (default: a prime's)."""
        gain = gain if gain is not None else self.gain(0.0)
        return self._plunger_slack_mm + self.pushable_ul() / (self.bore_area_mm2 * gain)

    def gain(self, stroke_ul: float) -> float:
        """True over commanded for a stroke, without scatter: the gain, its nonlinearity,
        drift and temperature. A prime (stroke 0) takes the gain at the low end."""
        imp = self.imperfections
        low, high = NONLINEARITY_SPAN_UL
        shape = 1 + imp.volume_nonlinearity * (max(stroke_ul, low) - low) / (high - low)
        drift = 1 + imp.drift_per_1000_shots * self.shots_since_power_up / 1000
        warm = 1 + imp.gain_per_c * (imp.temperature_c - REFERENCE_TEMPERATURE_C)
        return imp.volume_gain * shape * drift * warm

    def next_shot_gain(self, stroke_ul: float) -> float:
        """The gain of the shot about to be fired, its scatter drawn now, so that the barrel's
        end is known before the shot starts (never a silent short shot)."""
        gain = self.gain(stroke_ul)
        self.shots_since_power_up += 1
        if self.imperfections.dose_cv:
            gain *= max(0.01, 1 + self.rng.gauss(0.0, self.imperfections.dose_cv))
        return gain

    def syringe_changed(self) -> None:
        """A new syringe: the drive reversed to load it (its slack is back) and the line may
        hold air until the first shot after the prime."""
        self._plunger_slack_mm = self.imperfections.plunger_backlash_mm
        self._air_ul = self.imperfections.first_shot_deficit_ul

    def deliver(self, travel_mm: float, shot_gain: float | None = None) -> float:
        """The plunger advanced `travel_mm`: what really left the needle. `shot_gain` is the
        shot's from `next_shot_gain` (None for a prime, which leaves the air for the first
        shot). Callers stop the plunger at the barrel's end, so nothing is pushed past it."""
        travel_mm = max(0.0, travel_mm)
        slack = min(travel_mm, self._plunger_slack_mm)
        self._plunger_slack_mm -= slack
        gain = shot_gain if shot_gain is not None else self.gain(0.0)
        pushed_ul = min((travel_mm - slack) * self.bore_area_mm2 * gain, self.pushable_ul())
        self.syringe_ul -= pushed_ul
        out_ul = pushed_ul
        if shot_gain is not None and self._air_ul:
            held = min(self._air_ul, out_ul)
            self._air_ul, out_ul = self._air_ul - held, out_ul - held
        self.true_dispensed_ul += out_ul
        return out_ul
