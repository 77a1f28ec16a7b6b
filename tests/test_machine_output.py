"""What the commands print for a machine: every document valid by its published schema
(docs/schemas/), each with schema_version 1, and one name per concept across commands."""

from __future__ import annotations

import json
import os

import pytest

from injector.cli import main
from tests.conftest import CHECKLIST
from tests.schemas import SCHEMAS, validate

RUN = ["--preset", "nappage-superficial", "--zone", "face", "--needle", "32g-4mm"]
OLD_NAMES = {"id", "device", "device_serial"}
"""What the commands called a session and a gun before: `session_id` and `serial_number`
now, everywhere (an alarm's row is `alarm_id`)."""


@pytest.fixture
def cli(capsys):
    """`injector ARGS` in this process: (exit code, standard output as JSON)."""
    def run(*args: str) -> tuple[int, object]:
        code = main(list(args))
        return code, json.loads(capsys.readouterr().out)
    return run


def keys(document: object) -> set[str]:
    """Every key at any depth of a document."""
    if isinstance(document, dict):
        return set(document) | {k for value in document.values() for k in keys(value)}
    if isinstance(document, list):
        return {k for value in document for k in keys(value)}
    return set()


def test_every_schema_is_a_valid_draft_2020_12_schema_with_an_id():
    from jsonschema import Draft202012Validator

    names = sorted(path.stem for path in SCHEMAS.glob("*.json"))
    assert names == ["alarm-ack", "alarms", "calibration", "calibration-result",
                     "calibrations", "common", "devices", "error", "event", "history",
                     "library", "library-change", "overrides", "plan", "presets",
                     "record-verify", "session", "session-export", "session-summary",
                     "sim-ready", "status", "verification", "verifications"]
    for name in names:
        schema = json.loads((SCHEMAS / f"{name}.json").read_text())
        Draft202012Validator.check_schema(schema)
        assert schema["$id"] == f"urn:injector:schema:{name}"


@pytest.mark.looptime(False)
def test_status_and_plan_validate(cli):
    code, status = cli("status", "--port", "sim://?serial_number=SIM-SCHEMA-1", "--json")
    assert code == 0
    validate(status, "status")
    assert status["serial_number"] == "SIM-SCHEMA-1"
    code, planned = cli("plan", *RUN, "--shots", "40", "--json")
    assert code == 0
    validate(planned, "plan")
    for document in (status, planned):
        assert document["schema_version"] == 1 and not keys(document) & OLD_NAMES


@pytest.mark.looptime(False)
def test_a_session_summary_history_show_and_export_validate_and_name_alike(cli,
                                                                          injector_record):
    code, completed = cli("run", *CHECKLIST, "--port", "sim://", *RUN, "--shots", "4", "--json")
    assert code == 0
    code, aborted = cli("run", *CHECKLIST, "--port", "sim://?fault=occlusion@2", *RUN, "--shots", "4",
                        "--json")
    assert code == 1
    for summary in (completed, aborted):
        validate(summary, "session-summary")
    assert (completed["status"], aborted["status"]) == ("completed", "aborted")
    code, history = cli("history", "--json")
    validate(history, "history")
    assert [s["session_id"] for s in history["sessions"]] == [aborted["session_id"],
                                                             completed["session_id"]]
    assert [s["serial_number"] for s in history["sessions"]] == [aborted["serial_number"],
                                                                completed["serial_number"]]
    code, shown = cli("session", "show", str(aborted["session_id"]), "--json")
    validate(shown, "session")
    assert (shown["session_id"], shown["serial_number"]) == (aborted["session_id"],
                                                            aborted["serial_number"])
    assert [a["name"] for a in shown["alarms"]] == ["occlusion"]
    code, exported = cli("session", "export", str(completed["session_id"]), "--format", "json")
    validate(exported, "session-export")
    assert [s["shot_index"] for s in exported["shots"]] == [1, 2, 3, 4]
    for document in (completed, aborted, history, shown, exported):
        assert document["schema_version"] == 1 and not keys(document) & OLD_NAMES


@pytest.mark.looptime(False)
def test_history_of_a_record_not_made_yet_is_an_empty_document(cli, tmp_path):
    code, history = cli("history", "--json", "--db", str(tmp_path / "none.db"))
    validate(history, "history")
    assert (code, history["sessions"]) == (0, [])


def error_of(capsys, *args: str) -> tuple[int, dict]:
    """`injector ARGS`: its exit code and the one JSON document on standard error."""
    code = main(list(args))
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    document = json.loads(err)
    validate(document, "error")
    assert document["exit_code"] == code
    return code, document


@pytest.mark.looptime(False)
@pytest.mark.parametrize("args, code, kind, carried", [
    (["plan", *RUN, "--shots", "-5", "--json"], 3, "refused",
     {"value": "-5", "limit": "a whole number from 1 and up to 10,000,000"}),
    (["status", "--port", "bogus://x", "--json"], 3, "refused", {}),
    (["run", *CHECKLIST, "--port", "sim://", "--json"], 2, "usage", {}),
    (["frobnicate", "--json"], 2, "usage", {}),
    (["session", "show", "7", "--json", "--db", "/nonexistent/r.db"], 3, "refused", {}),
])
def test_under_json_an_error_is_one_document_on_standard_error(capsys, injector_record, args,
                                                               code, kind, carried):
    exit_code, document = error_of(capsys, *args)
    assert (exit_code, document["kind"]) == (code, kind)
    assert {name: document[name] for name in carried} == carried


@pytest.mark.looptime(False)
def test_a_session_that_ends_early_names_itself_in_its_error(capsys, injector_record):
    code, document = error_of(capsys, "run", *CHECKLIST, "--port", "sim://?fault=occlusion@2", *RUN,
                              "--shots", "4", "--json")
    assert (code, document["kind"]) == (1, "failed")
    assert document["message"].startswith(f"session {document['session_id']} aborted: alarm "
                                           "occlusion")


@pytest.mark.looptime(False)
def test_an_unexpected_error_under_json_names_the_log(capsys, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("a fault of this program")
    monkeypatch.setattr("injector.plan_request.plan", broken)
    code, document = error_of(capsys, "plan", *RUN, "--shots", "4", "--json")
    assert (code, document["kind"]) == (1, "unexpected")
    assert document["message"].startswith("unexpected RuntimeError: a fault of this program")
    assert document["log"] == os.environ["INJECTOR_LOG"]


@pytest.mark.looptime(False)
def test_without_json_an_error_stays_one_line_of_text(capsys):
    assert main(["plan", *RUN, "--shots", "-5"]) == 3
    assert capsys.readouterr().err.startswith("injector: error: --shots -5: below the least")


@pytest.mark.looptime(False)
def test_presets_and_record_verify_validate(cli, injector_record):
    code, listed = cli("presets", "--json")
    validate(listed, "presets")
    assert "nappage-superficial" in [p["name"] for p in listed["presets"]]
    code, checked = cli("record", "verify", "--json")
    validate(checked, "record-verify")
    assert (code, checked["intact"], checked["problem"]) == (0, True, None)


@pytest.mark.looptime(False)
@pytest.mark.injector_sim(fault="occlusion@2")
def test_alarm_list_and_acknowledgement_validate(cli, injector_sim, injector_record, capsys):
    assert main(["run", *CHECKLIST, "--port", injector_sim, *RUN, "--shots", "3"]) == 1
    capsys.readouterr()
    code, latched = cli("alarm", "list", "--port", injector_sim, "--json")
    validate(latched, "alarms")
    assert [a["name"] for a in latched["alarms"]] == ["occlusion"]
    code, acknowledged = cli("alarm", "ack", "--port", injector_sim, "--person", "CI", "--json")
    validate(acknowledged, "alarm-ack")
    assert ([a["name"] for a in acknowledged["acknowledged"]], acknowledged["by"],
            acknowledged["still_latched"]) == (["occlusion"], "CI", [])
