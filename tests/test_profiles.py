"""The catalog: every technique, its numbers against the seeds, and bad files refused."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from profiles import Delivery, PresetFileError, ProfileError, UnknownNameError, load_catalog
from tests.conftest import REPO

SEEDS = Path(os.environ.get("INJECTOR_SEEDS_DIR", REPO.parent / "shared" / "seeds"))

# What the seeds say, as (low, high) per field, and the words of the sentence it comes from.
SEED_FACTS = {
    "nappage-superficial": ({"depth_mm": (1, 4), "spacing_mm": (3, 3)}, "depth of 1 to 4 mm"),
    "nappage-middle": ({"depth_mm": (1, 4), "spacing_mm": (3, 3)}, "depth of 1 to 4 mm"),
    "nappage-deep": ({"depth_mm": (1, 4), "spacing_mm": (3, 3)}, "depth of 1 to 4 mm"),
    "pinpoint": ({"depth_mm": (4, 4), "spacing_mm": (15, 20), "angle_deg": (90, 90)},
                 "right angle to a depth of 4 mm at a distance of 1.5-2 cm"),
    "classical": ({"depth_mm": (1, 1), "spacing_mm": (5, 10), "dose_ul": (10, 30),
                   "angle_deg": (45, 60)}, "from 0.01 to 0.03 ml"),
    "papular": ({"depth_mm": (1, 2)}, "depth of 1-2 mm to form small papules"),
    "infiltration": ({"depth_mm": (4.0001, 13), "spacing_mm": (20, 25), "dose_ul": (100, 100)},
                     "up to 13 mm every 2-2.5 cm"),
    "pigmentation": ({"depth_mm": (1, 1)}, "(about 1 mm), recommended needle: 32G-4mm/13mm"),
}


def test_every_technique_of_the_guide_is_a_preset(catalog):
    assert {"nappage-superficial", "nappage-middle", "nappage-deep", "pinpoint", "classical",
            "papular", "linear-retrograde", "infiltration", "continuous-infusion"} <= set(
        catalog.presets)
    assert catalog.preset("linear-retrograde").delivery is Delivery.RETROGRADE
    assert catalog.preset("continuous-infusion").delivery is Delivery.INFUSION


def test_nappage_depths_step_through_the_skin_layers(catalog):
    depths = [catalog.preset(f"nappage-{v}").depth_mm for v in ("superficial", "middle", "deep")]
    assert depths == sorted(depths) and len(set(depths)) == 3
    assert all(1.0 <= d <= 4.0 for d in depths)
    # Deep nappage is too deep for the face (1-2 mm) and is refused there by its zone list.
    assert "face" not in catalog.preset("nappage-deep").zones


@pytest.mark.parametrize("name", sorted(SEED_FACTS))
def test_seed_numbers(catalog, name):
    facts, words = SEED_FACTS[name]
    preset = catalog.preset(name)
    for field, (low, high) in facts.items():
        assert low <= getattr(preset, field) <= high, field
    assert any(words in s.quote for s in preset.sources)


def test_nappage_loss_and_infiltration_dose_come_from_seed_001(catalog):
    nappage = catalog.preset("nappage-superficial")
    assert nappage.drug_loss_fraction == 0.5
    assert any("(up to 50%)" in s.quote and s.seed.startswith("001") for s in nappage.sources)
    infiltration = catalog.preset("infiltration")
    assert any("increased to 0.1 ml" in s.quote for s in infiltration.sources)


def test_zone_limits_from_seed_001(catalog):
    assert (catalog.zone("face").depth_min_mm, catalog.zone("face").depth_max_mm) == (1.0, 2.0)
    for name in ("eyelids", "neck", "decollete"):
        assert catalog.zone(name).depth_max_mm == 1.0
    assert max(z.depth_max_mm for z in catalog.zones.values()) == 13.0


def test_needles_are_30g_and_32g_of_4_6_13_mm(catalog):
    assert set(catalog.needles) == {f"{g}g-{l}mm" for g in (30, 32) for l in (4, 6, 13)}
    # The usual spelling with a capital G still names the same needle.
    assert catalog.needle("32G-4mm") is catalog.needle("32g-4mm")


@pytest.mark.skipif(not SEEDS.is_dir(), reason=f"seed articles not found at {SEEDS}")
@pytest.mark.parametrize("name", ["nappage-superficial", "nappage-middle", "nappage-deep",
                                  "pinpoint", "classical", "papular", "linear-retrograde",
                                  "infiltration", "continuous-infusion", "pigmentation"])
def test_every_source_quote_is_verbatim_in_its_seed(catalog, name):
    def squash(text: str) -> str:
        return re.sub(r"\s+", " ", text)

    for source in catalog.preset(name).sources:
        assert squash(source.quote) in squash((SEEDS / source.seed).read_text(encoding="utf-8"))


GOOD = (REPO / "profiles" / "presets" / "classical.toml").read_text(encoding="utf-8")


def _write(tmp_path: Path, text: str, name: str = "custom-one") -> Path:
    directory = tmp_path / "mine"
    directory.mkdir(exist_ok=True)
    (directory / f"{name}.toml").write_text(text.replace('"classical"', f'"{name}"', 1),
                                            encoding="utf-8")
    return directory


def test_a_custom_preset_loads_beside_the_built_ins(tmp_path):
    catalog = load_catalog([_write(tmp_path, GOOD.replace("dose_ul = 20.0", "dose_ul = 25.0"))])
    assert catalog.preset("custom-one").dose_ul == 25.0
    assert catalog.preset("custom-one").path.endswith("custom-one.toml")


BAD_FILES = [
    ("syntax error", lambda t: t.replace("depth_mm = 1.0", "depth_mm = = 1.0"), None, None,
     "not valid TOML"),
    ("unknown field", lambda t: "colour = 'red'\n" + t, "colour", "red", "unknown field"),
    ("missing field", lambda t: t.replace("dwell_s = 0.2\n", ""), "dwell_s", None, "missing"),
    ("wrong type", lambda t: t.replace("dose_ul = 20.0", 'dose_ul = "twenty"'), "dose_ul",
     "twenty", "must be a number"),
    ("NaN", lambda t: t.replace("depth_mm = 1.0", "depth_mm = nan"), "depth_mm", "nan",
     "finite"),
    ("bool", lambda t: t.replace("dwell_s = 0.2", "dwell_s = true"), "dwell_s", True, "number"),
    ("dose over the envelope", lambda t: t.replace("dose_ul = 20.0", "dose_ul = 150.0"),
     "dose_ul", 150.0, "10 to 100 ul"),
    ("dose under the envelope", lambda t: t.replace("dose_ul = 20.0", "dose_ul = 5"),
     "dose_ul", 5.0, "10 to 100 ul"),
    ("too deep for a zone it lists", lambda t: t.replace("depth_mm = 1.0", "depth_mm = 1.5"),
     "depth_mm", 1.5, "zone eyelids's maximum, 1 mm"),
    ("negative rate", lambda t: t.replace("dispense_rate_ul_s = 100.0",
                                          "dispense_rate_ul_s = -1.0"),
     "dispense_rate_ul_s", -1.0, "outside (0, 1e+06] ul/s"),
    ("rate past the sane range", lambda t: t.replace("dispense_rate_ul_s = 100.0",
                                                     "dispense_rate_ul_s = 1e9"),
     "dispense_rate_ul_s", 1e9, "outside (0, 1e+06] ul/s"),
    ("infinite spacing", lambda t: t.replace("spacing_mm = 8.0", "spacing_mm = inf"),
     "spacing_mm", "inf", "finite"),
    ("unknown zone", lambda t: t.replace('"hands"]', '"elbows"]'), "zones", "elbows",
     "unknown zone 'elbows': known: abdomen, back,"),
    ("unknown needle", lambda t: t.replace('"32g-4mm"]', '"27G-4mm"]'), "needles", "27G-4mm",
     "unknown needle '27G-4mm': did you mean"),
    ("zone twice, in two spellings", lambda t: t.replace('"hands"]', '"hands", "Hands"]'),
     "zones", "Hands", "lists the zone hands twice"),
    ("misspelt field", lambda t: t.replace("dose_ul =", "dose_ml ="), "dose_ml", 20.0,
     "unknown field; did you mean dose_ul?"),
    ("unknown delivery", lambda t: t.replace('"at-depth"', '"sideways"'), "delivery",
     "sideways", "unknown delivery"),
    ("source without quote", lambda t: t.replace("quote = ", "words = "), "source[0]", None,
     "seed and quote"),
]


@pytest.mark.parametrize("case, edit, field, value, words", BAD_FILES,
                         ids=[c[0] for c in BAD_FILES])
def test_a_bad_preset_file_is_refused_with_file_field_value_and_limit(
        tmp_path, case, edit, field, value, words):
    directory = _write(tmp_path, edit(GOOD))
    with pytest.raises(ProfileError) as refused:
        load_catalog([directory])
    message = str(refused.value)
    # A long path is cut in its middle to keep the line short; the file name stays.
    assert message.startswith("/") and "/mine/custom-one.toml: " in message
    assert words in message
    if field is not None:
        assert refused.value.field == field
    if value is not None:
        assert str(value) in message
        assert refused.value.limit is not None


def test_a_custom_preset_may_not_take_a_built_in_name(tmp_path):
    directory = tmp_path / "mine"
    directory.mkdir()
    (directory / "classical.toml").write_text(GOOD, encoding="utf-8")
    with pytest.raises(PresetFileError, match="already defined in profiles/presets/classical.toml"):
        load_catalog([directory])


def test_the_name_must_match_the_file(tmp_path):
    directory = tmp_path / "mine"
    directory.mkdir()
    (directory / "other.toml").write_text(GOOD.replace('"classical"', '"custom-two"', 1))
    with pytest.raises(PresetFileError, match="must match the file name 'other'"):
        load_catalog([directory])


def test_a_missing_preset_directory_is_an_error(tmp_path):
    with pytest.raises(PresetFileError, match="does not exist"):
        load_catalog([tmp_path / "nowhere"])


def test_a_syringe_dead_volume_override_is_checked(catalog):
    assert catalog.syringe(5, 100.0).dead_volume_ul == 100.0
    with pytest.raises(PresetFileError, match="dead_volume_ul = 5000.0"):
        catalog.syringe(5, 5000.0)
    with pytest.raises(UnknownNameError, match="no syringe of that size"):
        catalog.syringe(4)
