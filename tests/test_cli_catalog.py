"""`injector presets` and `injector plan` driven as a user would, in a subprocess."""

from __future__ import annotations

import json

import pytest

from tests.conftest import run_cli


def test_presets_json_lists_every_preset_with_its_source():
    done = run_cli("presets", "--json")
    assert done.returncode == 0, done.stderr
    presets = {p["name"]: p for p in json.loads(done.stdout)["presets"]}
    assert "nappage-superficial" in presets and "continuous-infusion" in presets
    pinpoint = presets["pinpoint"]
    for key in ("name", "technique", "depth_mm", "spacing_mm", "dose_ul", "angle_deg", "zones",
                "source"):
        assert key in pinpoint
    assert (pinpoint["depth_mm"], pinpoint["angle_deg"]) == (4.0, 90.0)
    assert pinpoint["source"][0]["seed"].startswith("000")


def test_presets_table_is_readable():
    done = run_cli("presets")
    assert done.returncode == 0
    header, rule, *rows = done.stdout.splitlines()
    assert header.split()[:3] == ["preset", "technique", "depth"]
    assert any(row.startswith("nappage-deep ") for row in rows)


def test_plan_json_has_the_totals():
    done = run_cli("plan", "--preset", "nappage-superficial", "--zone", "thighs", "--needle",
                   "32G-4mm", "--area-cm2", "100", "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["shots"], summary["requested_ul"], summary["refills"]) == (1156, 11560.0, 1)
    assert summary["max_rate_hz"] == pytest.approx(17.98, abs=0.01)
    assert summary["duration_s"] == pytest.approx(144.43, abs=0.01)


def test_plan_text_and_plot(tmp_path):
    png = tmp_path / "plan.png"
    done = run_cli("plan", "--preset", "pinpoint", "--zone", "back", "--needle", "30G-6mm",
                   "--shots", "40", "--syringe-ml", "3", "--plot", str(png))
    assert done.returncode == 0, done.stderr
    assert "shots       40" in done.stdout and str(png) in done.stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("args, words", [
    (["--preset", "infiltration", "--zone", "eyelids", "--needle", "30G-13mm"],
     "preset infiltration is not for zone eyelids; it is for abdomen, thighs, buttocks, back"),
    (["--preset", "infiltration", "--zone", "thighs", "--needle", "32G-4mm"],
     "preset infiltration is not for needle 32g-4mm; it is for 30g-13mm, 32g-13mm"),
    (["--preset", "nappage-middle", "--zone", "face", "--needle", "32G-4mm", "--depth-mm",
      "2.5"], "deeper than zone face's maximum, 2 mm"),
    (["--preset", "nappage-deep", "--zone", "thighs", "--needle", "32G-4mm", "--depth-mm",
      "3.8"], "deeper than needle 32g-4mm (4 mm) less the 0.5 mm margin, 3.5 mm"),
    (["--preset", "nappage-ultra", "--zone", "face", "--needle", "32G-4mm"], "unknown preset"),
    (["--preset", "classical", "--zone", "face", "--needle", "32G-4mm", "--dose-ul", "150"],
     "--dose-ul 150: over the most, 100 ul; give a number from 10 and up to 100 ul"),
    (["--preset", "nappage-superficial", "--zone", "face", "--needle", "32G-4mm",
      "--rate-hz", "19"], "shot_rate_hz = 19.0: the mechanics reach at most"),
    (["--preset", "nappage-superficial", "--zone", "face", "--needle", "32G-4mm",
      "--rate-hz", "25"], "--rate-hz 25: over the most, 20 Hz"),
    (["--preset", "classical", "--zone", "face", "--needle", "32G-4mm", "--syringe-ml", "7"],
     "no syringe of that size"),
])
def test_a_refused_plan_is_one_line_on_stderr_and_exit_3(args, words):
    done = run_cli("plan", *args, "--shots", "10")
    assert done.returncode == 3
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert words in done.stderr


def test_a_bad_custom_preset_directory_is_refused_in_one_line(tmp_path):
    (tmp_path / "broken.toml").write_text("name = 'broken'\ndepth_mm = [\n")
    done = run_cli("presets", "--presets-dir", str(tmp_path))
    assert done.returncode == 3
    assert f"{tmp_path / 'broken.toml'}: not valid TOML" in done.stderr
    assert done.stderr.count("\n") == 1
