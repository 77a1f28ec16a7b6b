"""The planned needle depth and dispensed volume over time, for plots and checks.

Evaluated in closed form from the program the gun runs (the corrected one on a calibrated
gun) with the phases the firmware uses, at uniform samples plus every phase boundary, so
peaks and corners are exact. Depth and volume are shown as delivered: the commanded motion
scaled through the shot's calibration.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from drivers.mechanics import bore_area_mm2
from drivers.motion import move_position
from injector.planner import Plan


@dataclass(frozen=True, eq=False)
class Timeline:
    time_s: NDArray[np.float64]
    depth_mm: NDArray[np.float64]
    volume_ul: NDArray[np.float64]
    """Cumulative volume delivered since the first shot."""


def shot_profile(plan: Plan, tau_s: NDArray[np.float64]) -> tuple[NDArray, NDArray]:
    """Depth and volume of one shot at times `tau_s` after its start (0 outside the cycle),
    as delivered."""
    program, phases, limits = plan.program, plan.phases, plan.limits
    depth = program.depth_um / 1000
    dose = program.volume_nl / 1000
    accel = limits.depth_accel_mm_s2
    area = bore_area_mm2(plan.syringe.bore_mm)
    inserted = move_position(tau_s, depth, program.insert_speed_um_s / 1000, accel)
    volume = area * move_position(tau_s - phases.dispense_start_s, dose / area,
                                  program.dispense_rate_nl_s / 1000 / area,
                                  phases.plunger_accel_ul_s2 / area)
    if phases.retrograde:
        # The tip withdraws in proportion to the volume laid, spreading it along the track.
        depth_t = np.where(tau_s < phases.dispense_start_s, inserted,
                           depth * (1.0 - volume / dose))
    else:
        retracted = move_position(tau_s - phases.retract_start_s, depth,
                                  program.retract_speed_um_s / 1000, accel)
        depth_t = np.where(tau_s < phases.retract_start_s, inserted, depth - retracted)
    outside = (tau_s < 0) | (tau_s > phases.cycle_s)
    depth_scale = plan.setting.depth_mm / depth
    volume_scale = plan.dose.delivered_nl / program.volume_nl
    return (np.where(outside, 0.0, depth_t) * depth_scale,
            np.where(tau_s < 0, 0.0, volume) * volume_scale)


def phase_boundaries_s(plan: Plan) -> NDArray[np.float64]:
    phases = plan.phases
    return np.array([0.0, phases.insert_s, phases.dispense_start_s,
                     phases.dispense_start_s + phases.dispense_s, phases.retract_start_s,
                     phases.cycle_s])


def timeline(plan: Plan, shots: int = 5, samples_per_shot: int = 400) -> Timeline:
    """The first `shots` shots of the plan, one shot per program period."""
    shots = min(shots, plan.shots)
    period = plan.shot_period_s
    uniform = np.linspace(0.0, period, samples_per_shot, endpoint=False)
    corners = phase_boundaries_s(plan)
    # Rounded to a picosecond so a corner and a uniform sample never make a duplicate time.
    tau = np.unique(np.round(np.concatenate([uniform, corners]), 12))
    tau = tau[tau < period]
    depth, volume = shot_profile(plan, tau)
    per_shot = plan.dose.delivered_nl / 1000
    starts = np.arange(shots)[:, None] * period
    offsets = np.arange(shots)[:, None] * per_shot
    time_s = (starts + tau).ravel()
    return Timeline(time_s=np.append(time_s, shots * period),
                    depth_mm=np.append(np.tile(depth, shots), 0.0),
                    volume_ul=np.append((offsets + volume).ravel(), shots * per_shot))
