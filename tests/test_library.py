"""The technique library's hard and soft limits, every boundary of every limit, generated
from the library data: just inside passes, just outside a soft limit needs an override,
just outside a hard one is refused whatever the override. And the checklist, the saved
plan and the record of overrides."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from injector.checklist import QUESTIONS, Checklist, ChecklistError, Kind
from injector.limits import LimitError, Override, check_plan, plan_values
from injector.planner import plan
from injector.store import Store
from profiles.errors import PresetFileError
from profiles.library import Library, Limit, load_library
from tests.conftest import CHECKLIST, run_cli
from tests.rig import CATALOG
from tests.schemas import validate

LIBRARY = load_library()
OVERRIDE = Override("a documented clinical reason", "Dr. A")


def _base_plan(technique: str, zone: str):
    preset = next(p for p in CATALOG.presets.values()
                  if p.technique == technique and zone in p.zones)
    needle = CATALOG.needle(preset.needles[-1])
    return plan(preset, CATALOG.zone(zone), needle, CATALOG.syringe(10), shots=10)


def _cases():
    for technique in LIBRARY.techniques:
        zones = sorted({z for p in CATALOG.presets.values() if p.technique == technique
                        for z in p.zones})
        for zone in zones[:2]:
            for name, limit in LIBRARY.limits_for(technique, zone).items():
                yield technique, zone, name, limit


CASES = list(_cases())


def _at(base, name: str, value: float):
    """The base plan with one of its values set, as the limit check sees it."""
    values = plan_values(base) | {name: value}

    class Probe:
        preset, zone = base.preset, base.zone
        setting = replace(base.setting, depth_mm=values["depth_mm"], dose_ul=values["dose_ul"],
                          shot_rate_hz=values["shot_rate_hz"], spacing_mm=values["spacing_mm"])
        shots = int(values["session_shots"])
        requested_ul = values["session_volume_ml"] * 1000
    return Probe        # each value moved alone: one limit at a time


@pytest.mark.parametrize("technique, zone, name, limit", CASES,
                         ids=[f"{t}-{z}-{n}" for t, z, n, _ in CASES])
def test_every_boundary_of_every_limit(technique, zone, name, limit: Limit):
    base = _base_plan(technique, zone)
    step = limit.step
    soft_low, soft_high = limit.soft
    hard_low, hard_high = limit.hard
    # The base plan keeps every other value inside its soft range.
    assert check_plan(LIBRARY, base, None) == ()
    for inside in (soft_low, soft_high):
        assert check_plan(LIBRARY, _at(base, name, inside), None) == ()
    for outside in (soft_high + step, soft_low - step):
        if hard_low <= outside <= hard_high and outside > 0:
            with pytest.raises(LimitError, match="soft limit"):
                check_plan(LIBRARY, _at(base, name, outside), None)
            (crossing,) = check_plan(LIBRARY, _at(base, name, outside), OVERRIDE)
            assert (crossing.limit, crossing.kind) == (name, "soft")
    for outside in (hard_high + step, hard_low - step):
        if outside > 0:
            with pytest.raises(LimitError, match="hard limit"):
                check_plan(LIBRARY, _at(base, name, outside), OVERRIDE)


def test_every_preset_is_inside_its_soft_limits_on_every_zone_it_is_for():
    for preset in CATALOG.presets.values():
        for zone in preset.zones:
            the_plan = plan(preset, CATALOG.zone(zone), CATALOG.needle(preset.needles[-1]),
                            CATALOG.syringe(10), shots=10)
            assert check_plan(LIBRARY, the_plan, None) == (), (preset.name, zone)


def test_no_hard_limit_is_wider_than_the_envelope_and_soft_lies_inside_hard(monkeypatch):
    for table in (LIBRARY.techniques, LIBRARY.zones):
        for limits in table.values():
            for limit in limits.values():
                assert limit.hard[0] <= limit.soft[0] <= limit.soft[1] <= limit.hard[1]
    from profiles import library as module
    text = (module.BUILT_IN / "limits.toml").read_text()
    wide = text.replace('dose_ul = { soft = [10.0, 20.0], hard = [10.0, 30.0]',
                        'dose_ul = { soft = [10.0, 20.0], hard = [10.0, 130.0]')
    monkeypatch.setattr(module, "read_toml", lambda *a: __import__("tomllib").loads(wide))
    with pytest.raises(PresetFileError, match="wider than the safety envelope"):
        load_library()


def test_the_library_has_a_version_and_a_hash_of_what_plans_depend_on():
    assert LIBRARY.version and len(LIBRARY.hash) == 16
    assert load_library().hash == LIBRARY.hash
    stamp = LIBRARY.stamp()
    assert stamp == {"version": LIBRARY.version, "hash": LIBRARY.hash}


def test_the_eleven_litre_face_plan_is_refused_and_the_library_is_listed():
    done = run_cli("plan", "--preset", "nappage-superficial", "--zone", "face", "--needle",
                   "32g-4mm", "--area-cm2", "10000", "--override", "why not", "--person", "X")
    assert done.returncode == 3 and "hard limit is never passed" in done.stderr
    listed = json.loads(run_cli("library", "--json").stdout)
    validate(listed, "library")
    assert (listed["clinic"], listed["signed"]) == (False, None)
    assert listed["version"] == LIBRARY.version and listed["hash"] == LIBRARY.hash
    kinds = {(r["scope"], r["limit"]) for r in listed["limits"]}
    assert ("zone face", "session_volume_ml") in kinds
    assert all(r["source"] for r in listed["limits"])


# ---- the checklist -------------------------------------------------------------------------

def _answers(**changes):
    return {q.id: q.kind is Kind.CHECK for q in QUESTIONS} | changes


def test_a_contraindication_refuses_unless_overridden_and_a_failed_check_always():
    clear = Checklist(_answers(), "nurse", "file")
    assert clear.check(None) == []
    pregnant = Checklist(_answers(pregnancy_or_lactation=True), "nurse", "file")
    with pytest.raises(ChecklistError, match="pregnancy_or_lactation answered yes"):
        pregnant.check(None)
    assert pregnant.check("benefit discussed, obstetrician agrees") == [
        "pregnancy_or_lactation"]
    old_needle = Checklist(_answers(needle_new_and_sterile=False), "nurse", "file")
    with pytest.raises(ChecklistError, match="no override"):
        old_needle.check("in a hurry")
    with pytest.raises(ChecklistError, match=r"1 question\(s\) not answered \(syringe_checked\)"):
        Checklist({k: v for k, v in _answers().items() if k != "syringe_checked"}, "n", "file")


def test_a_run_without_answers_is_refused_naming_what_is_missing(tmp_path):
    done = run_cli("run", "--port", "sim://", "--preset", "classical", "--zone", "face",
                   "--needle", "32g-4mm", "--shots", "3", "--db", str(tmp_path / "r.db"))
    assert done.returncode == 3 and done.stderr.count("\n") == 1
    assert "checklist is not answered" in done.stderr and "clotting_disorder" in done.stderr
    assert list(tmp_path.iterdir()) == []


# ---- what runs is what was planned ---------------------------------------------------------

def test_a_saved_plan_runs_as_planned_with_its_override_recorded(tmp_path):
    saved, db = tmp_path / "plan.json", str(tmp_path / "r.db")
    made = run_cli("plan", "--preset", "nappage-superficial", "--zone", "face", "--needle",
                   "32g-4mm", "--shots", "20", "--rate-hz", "12", "--override",
                   "wide photo-damage, agreed with the patient", "--person", "Dr. A",
                   "--save", str(saved))
    assert made.returncode == 0, made.stderr
    other = run_cli("run", *CHECKLIST, "--port", "sim://", "--plan", str(saved), "--needle",
                    "30g-4mm", "--db", db)
    assert other.returncode == 3 and "the saved plan is for 32g-4mm" in other.stderr
    done = run_cli("run", *CHECKLIST, "--port", "sim://", "--plan", str(saved), "--person",
                   "Dr. A", "--db", db, "--json", timeout=120)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["shots_done"] == 20 and summary["library"] == LIBRARY.stamp()
    assert summary["override"]["reason"] == "wide photo-damage, agreed with the patient"
    assert [c["limit"] for c in summary["override"]["limits"]] == ["shot_rate_hz"]
    assert summary["checklist"]["answered_by"] == "test nurse"
    history = json.loads(run_cli("history", "--json", "--db", db).stdout)
    assert history["sessions"][0]["override_reason"] == (
        "wide photo-damage, agreed with the patient")
    report = json.loads(run_cli("overrides", "--json", "--db", db).stdout)
    validate(report, "overrides")
    assert [o["session_id"] for o in report["overrides"]] == [summary["session_id"]]
    # A plan made with another library is refused.
    document = json.loads(saved.read_text())
    document["library"]["hash"] = "0" * 16
    saved.write_text(json.dumps(document))
    stale = run_cli("run", *CHECKLIST, "--port", "sim://", "--plan", str(saved), "--db", db)
    assert stale.returncode == 3 and "plan it again" in stale.stderr


def test_run_takes_the_plan_overrides_with_the_same_checks(tmp_path):
    done = run_cli("run", *CHECKLIST, "--port", "sim://", "--preset", "nappage-superficial",
                   "--zone", "face", "--needle", "32g-4mm", "--shots", "5", "--depth-mm", "2",
                   "--rate-hz", "12", "--db", str(tmp_path / "r.db"))
    assert done.returncode == 3 and "shot rate 12 Hz is over the soft limit" in done.stderr
    assert list(tmp_path.iterdir()) in ([], [tmp_path / "r.db"])


def test_library_dataclass_narrowing_keeps_the_tighter_range():
    wide = Limit("session_volume_ml", (0.01, 20.0), (0.01, 100.0), 0.1, "a", "technique t")
    face = Limit("session_volume_ml", (0.01, 5.0), (0.01, 20.0), 0.1, "b", "zone z")
    narrowed = wide.narrowed(face)
    assert (narrowed.soft, narrowed.hard) == ((0.01, 5.0), (0.01, 20.0))
    assert isinstance(LIBRARY, Library)


def test_the_library_table_in_the_docs_is_the_library():
    from pathlib import Path

    from profiles.library import render_markdown
    docs = (Path(__file__).resolve().parents[1] / "docs" / "presets.md").read_text()
    shown = docs.split("<!-- library:begin -->\n")[1].split("<!-- library:end -->")[0]
    assert shown == render_markdown(LIBRARY)


CLINIC = """version = "{version}"
[zone.face]
session_volume_ml = {{ soft = [0.01, 3.0], hard = [0.01, {hard}], step = 0.1, source = "ours" }}
"""


def test_a_clinic_library_narrows_runs_only_once_signed_and_never_widens(tmp_path):
    db = str(tmp_path / "r.db")
    narrow, wide = tmp_path / "clinic.toml", tmp_path / "wide.toml"
    narrow.write_text(CLINIC.format(version="3", hard="10.0"))
    wide.write_text(CLINIC.format(version="4", hard="30.0"))
    refused = run_cli("library", "--sign", str(wide), "--person", "T. Tech", "--db", db)
    assert refused.returncode == 3 and "never widen it" in refused.stderr
    env = dict(__import__("os").environ, INJECTOR_CLINIC_LIMITS=str(narrow))
    run = ["run", *CHECKLIST, "--port", "sim://", "--preset", "nappage-superficial", "--zone",
           "face", "--needle", "32g-4mm", "--shots", "5", "--db", db, "--json"]
    unsigned = run_cli(*run, env=env)
    assert unsigned.returncode == 3 and "is not signed" in unsigned.stderr
    signed = run_cli("library", "--sign", str(narrow), "--person", "T. Tech", "--db", db,
                     "--json")
    assert signed.returncode == 0, signed.stderr
    change = json.loads(signed.stdout)
    validate(change, "library-change")
    assert change["version"] == f"{LIBRARY.version}+clinic.3" and "+version" in change["diff"]
    done = run_cli(*run, env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["library"]["hash"] == change["hash"]
    again = run_cli("library", "--sign", str(narrow), "--person", "Other Tech", "--db", db)
    assert again.returncode == 0 and "was signed already, by T. Tech" in again.stdout
    assert len(Store(db, readonly=True).library_changes()) == 1
    listed = json.loads(run_cli("library", "--json", "--db", db, env=env).stdout)
    assert (listed["clinic"], listed["signed"], listed["hash"]) == (True, True, change["hash"])
    planned = run_cli("plan", "--preset", "nappage-superficial", "--zone", "face", "--needle",
                      "32g-4mm", "--shots", "400", env=env)
    assert planned.returncode == 3 and "0.01 to 3 ml" in planned.stderr


def test_a_run_override_names_the_person_who_takes_it(tmp_path):
    done = run_cli("run", *CHECKLIST, "--port", "sim://", "--preset", "nappage-superficial",
                   "--zone", "face", "--needle", "32g-4mm", "--shots", "5", "--override",
                   "because", "--db", str(tmp_path / "r.db"))
    assert done.returncode == 2 and "needs the person who takes it" in done.stderr


def test_the_clinic_file_in_the_docs_loads_and_narrows(tmp_path):
    from pathlib import Path

    docs = (Path(__file__).resolve().parents[1] / "docs" / "presets.md").read_text()
    shown = docs.split("<!-- clinic-example:begin -->\n```toml\n")[1].split("```")[0]
    clinic = tmp_path / "clinic.toml"
    clinic.write_text(shown)
    narrowed = load_library(clinic=clinic)
    assert narrowed.version == f"{LIBRARY.version}+clinic.2027-01"
    face = narrowed.limits_for("nappage", "face")["session_volume_ml"]
    assert (face.soft, face.hard) == ((0.01, 3.0), (0.01, 10.0))
