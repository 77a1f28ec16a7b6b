"""Closed-form point-to-point motion: trapezoidal, or triangular when the move is too short
to reach the speed limit. Shared by the planner and the firmware, as they must agree on it;
vectorised over numpy arrays so a grid of moves costs one call."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray


def _peak_speed(distance: NDArray, v_max: float, a_max: float) -> NDArray:
    # Triangular moves peak at sqrt(d*a); longer ones cruise at v_max.
    return np.minimum(v_max, np.sqrt(distance * a_max))


def move_duration(distance: ArrayLike, v_max: float, a_max: float) -> NDArray:
    """Time to travel `distance` from rest to rest: d/v_peak + v_peak/a."""
    d = np.asarray(distance, dtype=float)
    v_peak = _peak_speed(d, v_max, a_max)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(d > 0, d / v_peak + v_peak / a_max, 0.0)


def move_position(t: ArrayLike, distance: float, v_max: float, a_max: float) -> NDArray:
    """Distance covered at time `t` after the start (clipped to the move's own span)."""
    t = np.asarray(t, dtype=float)
    if distance <= 0:
        return np.zeros_like(t)
    v_peak = float(_peak_speed(np.asarray(distance), v_max, a_max))
    t_ramp = v_peak / a_max
    total = distance / v_peak + t_ramp
    t = np.clip(t, 0.0, total)
    accel = 0.5 * a_max * t**2
    cruise = 0.5 * a_max * t_ramp**2 + v_peak * (t - t_ramp)
    decel = distance - 0.5 * a_max * (total - t) ** 2
    return np.where(t < t_ramp, accel, np.where(t <= total - t_ramp, cruise, decel))


def move_duration_s(distance: float, v_max: float, a_max: float) -> float:
    """`move_duration` for one move, in plain floats: the simulator evaluates it per shot,
    where numpy's call overhead is most of the cost."""
    if distance <= 0:
        return 0.0
    v_peak = min(v_max, math.sqrt(distance * a_max))
    return distance / v_peak + v_peak / a_max


def move_position_at(t: float, distance: float, v_max: float, a_max: float) -> float:
    """`move_position` for one instant, in plain floats."""
    if distance <= 0:
        return 0.0
    v_peak = min(v_max, math.sqrt(distance * a_max))
    t_ramp = v_peak / a_max
    total = distance / v_peak + t_ramp
    t = min(max(t, 0.0), total)
    if t < t_ramp:
        return 0.5 * a_max * t * t
    if t <= total - t_ramp:
        return 0.5 * a_max * t_ramp * t_ramp + v_peak * (t - t_ramp)
    return distance - 0.5 * a_max * (total - t) ** 2


def move_time_at(reached: float, distance: float, v_max: float, a_max: float) -> float:
    """The inverse of `move_position_at`: when a move of `distance` has covered `reached`
    (0 <= reached <= distance). The simulator uses it for the instant a plunger meets the
    end of its syringe."""
    if distance <= 0 or reached <= 0:
        return 0.0
    reached = min(reached, distance)
    v_peak = min(v_max, math.sqrt(distance * a_max))
    t_ramp = v_peak / a_max
    total = distance / v_peak + t_ramp
    ramp = 0.5 * a_max * t_ramp * t_ramp
    if reached <= ramp:
        return math.sqrt(2.0 * reached / a_max)
    if reached <= distance - ramp:
        return t_ramp + (reached - ramp) / v_peak
    return total - math.sqrt(max(0.0, 2.0 * (distance - reached) / a_max))
