"""Property tests: nothing outside the safety envelope is accepted, everything inside is."""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from injector.planner import Overrides, plan
from profiles import ENVELOPE, EnvelopeError, ProfileError, load_catalog
from tests.conftest import REPO

CATALOG = load_catalog()
PRESETS = sorted(CATALOG.presets)
ZONES = sorted(CATALOG.zones)
NEEDLES = sorted(CATALOG.needles)
# Slow enough that the mechanics never bind, so only the envelope decides.
SLOW = 0.01


def inside(preset, zone, needle, depth_mm, dose_ul) -> bool:
    """The envelope written out independently of the code under test."""
    return (
        zone.name in preset.zones and needle.name in preset.needles
        and 0.5 <= depth_mm <= 13.0
        and depth_mm <= needle.length_mm - 0.5
        and zone.depth_min_mm <= depth_mm <= zone.depth_max_mm
        and 10.0 <= dose_ul <= 100.0
    )


numbers = st.one_of(st.floats(-5.0, 200.0, allow_nan=False),
                    st.sampled_from([float("nan"), float("inf"), -float("inf"), 0.0,
                                     0.5, 1.0, 2.0, 3.5, 4.0, 5.5, 10.0, 12.5, 13.0, 13.0001,
                                     100.0, 100.0001, 9.9999]))


@settings(max_examples=600, deadline=None)
@given(preset=st.sampled_from(PRESETS), zone=st.sampled_from(ZONES),
       needle=st.sampled_from(NEEDLES), depth_mm=numbers, dose_ul=numbers)
def test_a_plan_is_accepted_exactly_inside_the_envelope(preset, zone, needle, depth_mm, dose_ul):
    preset, zone, needle = CATALOG.preset(preset), CATALOG.zone(zone), CATALOG.needle(needle)
    overrides = Overrides(depth_mm=depth_mm, dose_ul=dose_ul, shot_rate_hz=SLOW)
    expected = (math.isfinite(depth_mm) and math.isfinite(dose_ul)
                and inside(preset, zone, needle, depth_mm, dose_ul))
    try:
        result = plan(preset, zone, needle, CATALOG.syringe(10), shots=3, overrides=overrides)
    except EnvelopeError:
        assert not expected
    else:
        assert expected
        assert result.setting.depth_mm == depth_mm and result.setting.dose_ul == dose_ul


@settings(max_examples=300, deadline=None)
@given(preset=st.sampled_from(PRESETS), data=st.data())
def test_every_point_inside_the_envelope_is_accepted(preset, data):
    preset = CATALOG.preset(preset)
    zone = CATALOG.zone(data.draw(st.sampled_from(preset.zones)))
    needle = CATALOG.needle(data.draw(st.sampled_from(preset.needles)))
    low = max(ENVELOPE.depth_min_mm, zone.depth_min_mm)
    high = ENVELOPE.max_depth_mm(zone, needle)
    assume(low <= high)
    depth_mm = data.draw(st.floats(low, high))
    dose_ul = data.draw(st.floats(10.0, 100.0))
    result = plan(preset, zone, needle, CATALOG.syringe(10), shots=2,
                  overrides=Overrides(depth_mm=depth_mm, dose_ul=dose_ul, shot_rate_hz=SLOW))
    assert result.program.depth_um == round(depth_mm * 1000)
    assert result.program.volume_nl == round(dose_ul * 1000)


@settings(max_examples=200, deadline=None)
@given(field=st.sampled_from(["spacing_mm", "shot_rate_hz"]),
       value=st.one_of(st.floats(max_value=0.0), st.just(float("nan")), st.just(float("inf"))))
def test_spacing_and_rate_must_be_positive_and_finite(field, value):
    with pytest.raises(EnvelopeError) as refused:
        plan(CATALOG.preset("classical"), CATALOG.zone("face"), CATALOG.needle("32G-4mm"),
             CATALOG.syringe(10), shots=1, overrides=Overrides(**{field: value}))
    assert refused.value.field == field and refused.value.source == "override"


def test_no_preset_file_can_widen_the_envelope(tmp_path):
    # A 14 mm preset on 13 mm needles and body zones is refused whatever the file says.
    source = (REPO / "profiles" / "presets" / "infiltration.toml").read_text(encoding="utf-8")
    (tmp_path / "deeper.toml").write_text(
        source.replace('"infiltration"', '"deeper"', 1).replace("depth_mm = 6.0", "depth_mm = 14.0"))
    with pytest.raises(ProfileError, match=r"depth_mm = 14.0: deeper than the safety envelope's maximum, 13 mm"):
        load_catalog([tmp_path])


def test_the_gun_and_the_product_store_the_same_envelope():
    from drivers.config import ClinicalEnvelope, factory_config
    from profiles.envelope import ENVELOPE

    assert ENVELOPE.within_gun(**factory_config().envelope_host_units()) == ENVELOPE
    gun = ClinicalEnvelope()
    assert (gun.min_depth_um, gun.max_depth_um) == (ENVELOPE.depth_min_mm * 1000,
                                                   ENVELOPE.depth_max_mm * 1000)
    assert (gun.min_dose_nl, gun.max_dose_nl) == (ENVELOPE.dose_min_ul * 1000,
                                                 ENVELOPE.dose_max_ul * 1000)
    assert gun.min_shot_period_ms == 1000 / ENVELOPE.shot_rate_max_hz


async def test_a_gun_with_a_wider_envelope_is_refused_at_connect_and_a_narrower_one_obeyed(
        tmp_path):
    from dataclasses import replace

    from injector.controller import Controller
    from injector.planner import Overrides
    from injector.session import run_session
    from injector.store import Store
    from profiles.errors import EnvelopeError
    from tests.rig import treatment, CATALOG, make_rig

    rig = await make_rig("serial-memory", connect=False)
    store = Store(tmp_path / "record.db")
    try:
        rig.firmware.config = replace(rig.firmware.config, max_depth_um=14_000)
        with pytest.raises(EnvelopeError, match="max_depth_mm = 14.0: the gun's stored "
                                                "envelope is wider than the product's"):
            await Controller(rig.driver, store).connect()
        # A technician narrowed this gun to 8 shots a second: the host plans within it.
        rig.firmware.config = replace(rig.firmware.config, max_depth_um=13_000,
                                      min_shot_period_ms=125)
        fast = treatment("nappage-superficial", "face", "32G-4mm", shots=5,
                              overrides=Overrides(shot_rate_hz=10.0))
        controller = Controller(rig.endpoint.driver(True), store)
        with pytest.raises(EnvelopeError, match="shot_rate_hz = 10.0: faster than the "
                                                "safety envelope's 8 shots a second"):
            await run_session(controller, CATALOG, fast)
        await controller.close()
    finally:
        await rig.close()
        store.close()
