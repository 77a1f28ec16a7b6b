"""The planner: hand-computed totals, mechanics refused, the calibration seam, the timeline."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from drivers.errors import UnitRangeError
from drivers.mechanics import MechanicalLimits
from drivers.program import DeliveryCode
from drivers.calibration_table import CalibrationTable
from injector.correction import Correction
from injector.errors import PlanError
from injector.planner import Overrides, plan
from injector.timeline import timeline


def nappage_face(catalog, **kwargs):
    if "shots" not in kwargs:
        kwargs["area_cm2"] = 100.0
    return plan(catalog.preset("nappage-superficial"), catalog.zone("face"),
                catalog.needle("32G-4mm"), catalog.syringe(10), **kwargs)


def test_superficial_nappage_on_100_cm2_by_hand(catalog):
    result = nappage_face(catalog)
    # 100 cm2 is a 100 mm square; at 3 mm spacing, ceil(100 / 3) = 34 points a side.
    assert result.shots == 34 * 34 == 1156
    assert result.requested_ul == result.delivered_ul == 11_560.0
    assert result.to_skin_estimate_ul == 5_780.0              # nappage loses up to half
    # Insert 1 mm at 100 mm/s, 30000 mm/s^2: 1/100 + 100/30000 s (trapezoidal).
    assert result.phases.insert_s == pytest.approx(0.01 + 100 / 30_000)
    # Dispense 10 ul at 400 ul/s; the 10 ml syringe (bore 14.5 mm) ramps at
    # 4000 mm/s^2 * pi * 7.25^2 mm^2 = 660 520 ul/s^2: 10/400 + 400/660520 s.
    accel_ul = 4000 * math.pi * 7.25**2
    assert result.phases.dispense_s == pytest.approx(10 / 400 + 400 / accel_ul)
    # Retract 1 mm at the axis maximum 150 mm/s: 1/150 + 150/30000 s.
    assert result.phases.retract_s == pytest.approx(1 / 150 + 150 / 30_000)
    cycle = 0.01 + 100 / 30_000 + 10 / 400 + 400 / accel_ul + 0.005 + 1 / 150 + 150 / 30_000
    assert result.phases.cycle_s == pytest.approx(cycle)
    assert result.phases.max_rate_hz == pytest.approx(1 / cycle)
    assert result.phases.max_rate_hz > 15.0
    # 8 Hz is a 125 ms period: 1155 periods then one last cycle.
    assert result.program.shot_period_ms == 125
    assert result.duration_s == pytest.approx(1155 * 0.125 + cycle)
    # 10 ml less 80 ul dead volume, 50 ul prime and a 100 ul reserve (1%) = 9770 ul: 977
    # shots a fill, so one refill.
    assert (result.shots_per_fill, result.refills) == (977, 1)
    assert list(np.bincount(result.fill_index)) == [977, 179]


def test_infiltration_by_shot_count_with_a_small_syringe(catalog):
    result = plan(catalog.preset("infiltration"), catalog.zone("thighs"),
                  catalog.needle("30G-13mm"), catalog.syringe(1), shots=25)
    # 1 ml less 40 ul dead volume, 50 ul prime, 10 ul reserve: nine 100 ul shots a fill.
    assert (result.shots_per_fill, result.refills) == (9, 2)
    assert result.requested_ul == 2500.0
    assert result.program.depth_um == 6000 and result.program.volume_nl == 100_000
    assert result.program.shot_period_ms == 2000
    assert result.grid.columns == 5


def test_program_is_in_device_units(catalog):
    program = nappage_face(catalog, shots=1).program
    assert program.delivery is DeliveryCode.AT_DEPTH
    assert (program.depth_um, program.volume_nl, program.dispense_rate_nl_s) == (1000, 10_000,
                                                                               400_000)
    assert (program.insert_speed_um_s, program.retract_speed_um_s) == (100_000, 150_000)
    assert program.dwell_ms == 5


def test_a_rate_the_mechanics_cannot_reach_is_an_error_not_a_slow_down(catalog):
    with pytest.raises(PlanError, match=r"shot_rate_hz = 20.0: the mechanics reach at most 17.98 Hz"):
        nappage_face(catalog, overrides=Overrides(shot_rate_hz=20.0))
    # A deeper, bigger shot at the preset's 8 Hz no longer fits its cycle either: the
    # override is blamed, not the rate the clinician did not touch.
    with pytest.raises(PlanError, match="dose_ul = 100.0: one shot then takes 347.3 ms"):
        plan(catalog.preset("nappage-superficial"), catalog.zone("thighs"),
             catalog.needle("30G-6mm"), catalog.syringe(10), shots=10,
             overrides=Overrides(depth_mm=5.0, dose_ul=100.0))


def test_a_dispense_faster_than_the_plunger_is_refused(catalog):
    fast = replace(catalog.preset("classical"), dispense_rate_ul_s=500.0)
    with pytest.raises(PlanError, match=r"faster than the plunger can push a 1ml syringe, 448.6 ul/s"):
        plan(fast, catalog.zone("face"), catalog.needle("32G-4mm"), catalog.syringe(1), shots=1)
    slow_axis = MechanicalLimits(depth_speed_max_mm_s=40.0)
    with pytest.raises(PlanError, match="insert_speed_mm_s = 100.0: faster than the needle axis"):
        nappage_face(catalog, shots=1, limits=slow_axis)


def test_retrograde_withdraws_while_dispensing(catalog):
    result = plan(catalog.preset("linear-retrograde"), catalog.zone("face"),
                  catalog.needle("32G-4mm"), catalog.syringe(3), shots=2)
    assert result.program.delivery is DeliveryCode.RETROGRADE
    assert result.phases.retract_s == 0.0
    line = timeline(result, shots=1)
    dispensing = (line.volume_ul > 0) & (line.volume_ul < 20.0)
    # While the plunger runs, the tip is where the remaining volume is still to be laid.
    assert dispensing.any()
    np.testing.assert_allclose(line.depth_mm[dispensing],
                               2.0 * (1 - line.volume_ul[dispensing] / 20.0), atol=1e-9)
    # A withdrawal too fast for the needle axis is refused.
    with pytest.raises(PlanError, match="withdraws the needle at"):
        plan(replace(catalog.preset("linear-retrograde"), dispense_rate_ul_s=2000.0),
             catalog.zone("face"), catalog.needle("32G-4mm"), catalog.syringe(10), shots=1)


def test_timeline_peaks_at_depth_and_adds_up_the_volume(catalog):
    result = nappage_face(catalog, shots=10)
    line = timeline(result, shots=4)
    assert np.all(np.diff(line.time_s) > 0)
    assert line.depth_mm.max() == pytest.approx(1.0)
    assert line.depth_mm.min() == 0.0
    assert line.volume_ul[-1] == pytest.approx(40.0)
    assert np.all(np.diff(line.volume_ul) >= -1e-12)
    # Each shot is back at the surface before the next starts.
    for k in range(1, 4):
        assert line.depth_mm[np.searchsorted(line.time_s, k * 0.125)] == 0.0


def test_calibration_seam_commands_what_delivers_the_plan(catalog):
    # A gun that delivers 7% more and drives 0.2 mm too deep is told less.
    correction = Correction(depth=CalibrationTable.line(1.0, 200, 1_000, 13_000),
                            volume=CalibrationTable.line(1.07, 0, 10_000, 100_000))
    result = nappage_face(catalog, shots=1, correction=correction)
    assert result.program.depth_um == 800
    assert result.program.volume_nl == round(10_000 / 1.07) == 9346
    assert result.program.dispense_rate_nl_s == round(400_000 / 1.07)
    # The chain: asked 10 ul, told 9.346 ul, which the gun's calibration says delivers 10 ul.
    assert (result.dose.requested_ul, result.dose.commanded_nl, result.dose.delivered_nl) == (
        10.0, 9346, 10_000)
    assert result.requested_ul == result.delivered_ul == 10.0
    # The timing is the corrected program's: a shorter stroke and a shallower insertion.
    uncorrected = nappage_face(catalog, shots=1)
    assert result.phases.insert_s < uncorrected.phases.insert_s
    assert result.phases.cycle_s != uncorrected.phases.cycle_s
    deep = Correction(depth=CalibrationTable.line(0.5, 0, 1_000, 13_000))
    with pytest.raises(PlanError, match="outside the needle axis travel"):
        plan(catalog.preset("infiltration"), catalog.zone("thighs"), catalog.needle("30G-13mm"),
             catalog.syringe(10), shots=1, overrides=Overrides(depth_mm=12.0), correction=deep)


def test_grid_is_a_serpentine_at_the_spacing(catalog):
    grid = nappage_face(catalog, shots=9).grid
    assert list(zip(grid.x_mm, grid.y_mm)) == [
        (1.5, 1.5), (4.5, 1.5), (7.5, 1.5), (7.5, 4.5), (4.5, 4.5), (1.5, 4.5),
        (1.5, 7.5), (4.5, 7.5), (7.5, 7.5)]


@pytest.mark.parametrize("kwargs, field", [
    ({"shots": 0}, "shots"), ({"shots": 10**8}, "shots"), ({"area_cm2": -1.0}, "area_cm2"),
    ({"area_cm2": float("nan")}, "area_cm2"), ({"area_cm2": 1e9}, "area_cm2"),
    ({"shots": 1, "area_cm2": 1.0}, "shots"), ({}, "shots"),
])
def test_bad_sizes_are_refused(catalog, kwargs, field):
    with pytest.raises(PlanError) as refused:
        plan(catalog.preset("classical"), catalog.zone("face"), catalog.needle("32G-4mm"),
             catalog.syringe(10), **kwargs)
    assert refused.value.field == field


def test_a_dose_larger_than_the_syringe_holds_is_refused(catalog):
    syringe = catalog.syringe(1, 950.0)
    with pytest.raises(PlanError, match="more than the 1ml syringe gives past its dead volume"):
        plan(catalog.preset("infiltration"), catalog.zone("thighs"), catalog.needle("30G-13mm"),
             syringe, shots=1)


def test_a_period_beyond_the_wire_field_is_refused(catalog):
    with pytest.raises(PlanError, match="does not fit its wire field"):
        nappage_face(catalog, shots=1, overrides=Overrides(shot_rate_hz=1e-7))


def test_units_refuse_what_does_not_fit():
    from drivers.units import mm_to_um, ul_to_nl

    assert mm_to_um(0.0015, "depth_mm") == 2 and mm_to_um(0.0005, "depth_mm") == 0
    with pytest.raises(UnitRangeError, match="depth_mm = 70.0: above the wire field's maximum 65.535"):
        mm_to_um(70.0, "depth_mm", 0xFFFF)
    with pytest.raises(UnitRangeError, match="must be finite"):
        ul_to_nl(float("inf"), "dose_ul")
    with pytest.raises(UnitRangeError, match="must not be negative"):
        ul_to_nl(-1.0, "dose_ul")
