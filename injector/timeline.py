"""The planned needle depth and dispensed volume over time, for plots and checks.

Evaluated in closed form from the same motion profiles the timing uses, at uniform samples
plus every phase boundary, so peaks and corners are exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from drivers.motion import move_position
from injector.planner import Plan, ShotSetting, ShotTiming
from profiles.model import Delivery


@dataclass(frozen=True, eq=False)
class Timeline:
    time_s: NDArray[np.float64]
    depth_mm: NDArray[np.float64]
    volume_ul: NDArray[np.float64]
    """Cumulative volume dispensed since the first shot."""


def shot_profile(setting: ShotSetting, timing: ShotTiming,
                 tau_s: NDArray[np.float64]) -> tuple[NDArray, NDArray]:
    """Depth and volume of one shot at times `tau_s` after its start (0 outside the cycle)."""
    depth, dose = setting.depth_mm, setting.dose_ul
    axis = (setting.depth_accel_mm_s2,)
    insert_end = timing.insert_s
    inserted = move_position(tau_s, depth, setting.insert_speed_mm_s, *axis)
    if setting.delivery is Delivery.RETROGRADE:
        dispense_start = insert_end + timing.dwell_s
        volume = move_position(tau_s - dispense_start, dose, setting.dispense_rate_ul_s,
                               setting.dispense_accel_ul_s2)
        # The tip withdraws in proportion to the volume laid, spreading it along the track.
        withdrawing = depth * (1.0 - volume / dose)
        depth_t = np.where(tau_s < dispense_start, inserted, withdrawing)
    else:
        dispense_start = insert_end
        volume = move_position(tau_s - dispense_start, dose, setting.dispense_rate_ul_s,
                               setting.dispense_accel_ul_s2)
        retract_start = dispense_start + timing.dispense_s + timing.dwell_s
        retracted = move_position(tau_s - retract_start, depth, setting.retract_speed_mm_s,
                                  *axis)
        depth_t = np.where(tau_s < retract_start, inserted, depth - retracted)
    outside = (tau_s < 0) | (tau_s > timing.cycle_s)
    return np.where(outside, 0.0, depth_t), np.where(tau_s < 0, 0.0, volume)


def phase_boundaries_s(setting: ShotSetting, timing: ShotTiming) -> NDArray[np.float64]:
    if setting.delivery is Delivery.RETROGRADE:
        steps = [timing.insert_s, timing.dwell_s, timing.dispense_s]
    else:
        steps = [timing.insert_s, timing.dispense_s, timing.dwell_s, timing.retract_s]
    return np.cumsum([0.0, *steps])


def timeline(plan: Plan, shots: int = 5, samples_per_shot: int = 400) -> Timeline:
    """The first `shots` shots of the plan, one shot per program period."""
    shots = min(shots, plan.shots)
    period = plan.shot_period_s
    uniform = np.linspace(0.0, period, samples_per_shot, endpoint=False)
    corners = phase_boundaries_s(plan.setting, plan.timing)
    # Rounded to a picosecond so a corner and a uniform sample never make a duplicate time.
    tau = np.unique(np.round(np.concatenate([uniform, corners]), 12))
    tau = tau[tau < period]
    depth, volume = shot_profile(plan.setting, plan.timing, tau)
    starts = np.arange(shots)[:, None] * period
    offsets = np.arange(shots)[:, None] * plan.setting.dose_ul
    time_s = (starts + tau).ravel()
    return Timeline(time_s=np.append(time_s, shots * period),
                    depth_mm=np.append(np.tile(depth, shots), 0.0),
                    volume_ul=np.append((offsets + volume).ravel(), shots * plan.setting.dose_ul))
