"""Closed-form motion profiles against an independent numerical integration."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.motion import move_duration, move_duration_s, move_position, move_position_at


def velocity_limited(t, total, v_max, a_max):
    """The fastest rest-to-rest velocity within the limits that stops at `total`."""
    return np.minimum.reduce([a_max * t, np.full_like(t, v_max), a_max * (total - t)])


def integrate(total, v_max, a_max, steps=200_000):
    t = np.linspace(0.0, total, steps + 1)
    v = np.clip(velocity_limited(t, total, v_max, a_max), 0.0, None)
    x = np.concatenate([[0.0], np.cumsum(0.5 * (v[1:] + v[:-1]) * np.diff(t))])
    return t, x


@pytest.mark.parametrize("distance, v_max, a_max", [
    (1.0, 100.0, 30_000.0),     # nappage insert: trapezoidal
    (1.0, 150.0, 30_000.0),     # nappage retract: trapezoidal, short cruise
    (0.5, 150.0, 30_000.0),     # triangular: never reaches v_max
    (12.5, 50.0, 30_000.0),     # deep infiltration
    (100.0, 2.0, 165_000.0),    # slow infusion: nearly all cruise
])
def test_closed_form_matches_numerical_integration(distance, v_max, a_max):
    duration = float(move_duration(distance, v_max, a_max))
    t, x = integrate(duration, v_max, a_max)
    # Integrating the speed- and acceleration-limited velocity over the closed-form
    # duration covers exactly the distance, and the closed-form position follows it.
    assert x[-1] == pytest.approx(distance, rel=2e-5)
    assert np.max(np.abs(move_position(t, distance, v_max, a_max) - x)) <= 2e-5 * distance
    # No shorter move within the same limits covers the distance: the profile is the fastest.
    _, x_short = integrate(duration * (1 - 1e-3), v_max, a_max)
    assert x_short[-1] < distance


@settings(max_examples=200, deadline=None)
@given(distance=st.floats(1e-3, 20.0), v_max=st.floats(0.5, 500.0),
       a_max=st.floats(100.0, 1e6))
def test_profile_is_monotonic_and_within_limits(distance, v_max, a_max):
    duration = float(move_duration(distance, v_max, a_max))
    t = np.linspace(0.0, duration, 2001)
    x = move_position(t, distance, v_max, a_max)
    assert x[0] == 0.0 and x[-1] == pytest.approx(distance, rel=1e-9, abs=1e-12)
    velocity = np.diff(x) / np.diff(t)
    assert np.all(velocity >= -1e-9)
    assert velocity.max() <= v_max * (1 + 1e-6)
    # A move cannot beat the triangle bound nor the cruise bound.
    assert duration >= max(distance / v_max, 2 * np.sqrt(distance / a_max)) * (1 - 1e-12)


def test_durations_vectorise_over_a_grid():
    distances = np.array([0.0, 0.5, 1.0, 4.0])
    durations = move_duration(distances, 150.0, 30_000.0)
    assert durations[0] == 0.0
    assert list(durations[1:]) == [pytest.approx(float(move_duration(d, 150.0, 30_000.0)))
                                   for d in distances[1:]]


@settings(max_examples=300, deadline=None)
@given(distance=st.floats(0.0, 20.0), v_max=st.floats(0.5, 500.0),
       a_max=st.floats(100.0, 1e6), fraction=st.floats(-0.1, 1.1))
def test_the_simulators_float_forms_agree_with_the_planners(distance, v_max, a_max, fraction):
    # The simulated firmware uses the plain-float forms; the planner the numpy ones. They must
    # agree, or the gun and the plan would disagree on every shot's timing.
    duration = float(move_duration(distance, v_max, a_max))
    assert move_duration_s(distance, v_max, a_max) == pytest.approx(duration, rel=1e-12)
    t = fraction * duration
    assert move_position_at(t, distance, v_max, a_max) == pytest.approx(
        float(move_position(t, distance, v_max, a_max)), rel=1e-9, abs=1e-12)
