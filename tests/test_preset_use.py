"""check_preset_use: a preset on a zone or needle it is not for is said so first, with the
zones or needles it is for, before any of its numbers is looked at."""

from __future__ import annotations

import itertools

import pytest

from injector.errors import PlanError
from injector.planner import Overrides, plan
from profiles import EnvelopeError, PresetUseError, Zone, check_preset_use, load_catalog

CATALOG = load_catalog()


def use(preset: str, zone: str, needle: str, **kwargs) -> None:
    check_preset_use(CATALOG.preset(preset), CATALOG.zone(zone), CATALOG.needle(needle),
                     **kwargs)


def test_a_zone_the_preset_is_not_for_is_named_with_the_zones_it_is_for():
    with pytest.raises(PresetUseError) as refused:
        use("nappage-middle", "eyelids", "32G-4mm")
    assert str(refused.value) == ("preset nappage-middle is not for zone eyelids; it is for "
                                  "face, scalp, hands, abdomen, thighs, buttocks, back")
    assert isinstance(refused.value, EnvelopeError)
    assert (refused.value.field, refused.value.value) == ("zone", "eyelids")
    assert refused.value.limit == list(CATALOG.preset("nappage-middle").zones)


def test_the_zone_comes_before_the_needle():
    with pytest.raises(PresetUseError, match="is not for zone face"):
        use("infiltration", "face", "32g-4mm")


def test_given_the_catalog_the_presets_for_that_zone_are_named_alike_first():
    with pytest.raises(PresetUseError) as refused:
        use("nappage-deep", "face", "32g-4mm", presets=CATALOG.presets.values())
    assert str(refused.value).endswith(
        "; for face: nappage-middle, nappage-superficial, linear-retrograde")
    with pytest.raises(PresetUseError, match="; for eyelids: classical$"):
        use("nappage-middle", "eyelids", "32g-4mm", presets=CATALOG.presets.values())


def test_a_zone_no_preset_is_for_is_said_so():
    nowhere = Zone(name="soles", depth_min_mm=1.0, depth_max_mm=2.0, why="test")
    with pytest.raises(PresetUseError, match="; no preset is for soles$"):
        check_preset_use(CATALOG.preset("classical"), nowhere, CATALOG.needle("32g-4mm"),
                         presets=CATALOG.presets.values())


def test_a_needle_the_preset_is_not_for_is_named_with_the_closest_it_is_for():
    with pytest.raises(PresetUseError) as refused:
        use("pinpoint", "back", "32g-4mm")
    assert str(refused.value) == ("preset pinpoint is not for needle 32g-4mm; it is for "
                                  "30g-6mm, 32g-6mm, 30g-13mm, 32g-13mm; did you mean 32g-6mm?")
    assert (refused.value.field, refused.value.value) == ("needle", "32g-4mm")


def test_exactly_the_listed_zones_and_needles_are_accepted():
    for preset, zone, needle in itertools.product(CATALOG.presets.values(),
                                                  CATALOG.zones.values(),
                                                  CATALOG.needles.values()):
        listed = zone.name in preset.zones and needle.name in preset.needles
        try:
            check_preset_use(preset, zone, needle, presets=CATALOG.presets.values())
        except PresetUseError as refused:
            assert not listed
            assert refused.field == ("zone" if zone.name not in preset.zones else "needle")
        else:
            assert listed


# What the planner does with it.

def test_the_planner_says_the_zone_first():
    with pytest.raises(PresetUseError, match="preset nappage-middle is not for zone eyelids"):
        plan(CATALOG.preset("nappage-middle"), CATALOG.zone("eyelids"),
             CATALOG.needle("32g-4mm"), CATALOG.syringe(10), shots=10)


def test_the_planner_blames_an_overridden_dose_not_the_presets_rate():
    with pytest.raises(PlanError) as refused:
        plan(CATALOG.preset("nappage-superficial"), CATALOG.zone("face"),
             CATALOG.needle("32g-4mm"), CATALOG.syringe(10), shots=10,
             overrides=Overrides(dose_ul=100.0))
    assert refused.value.field == "dose_ul"
