"""`injector run`, `history` and `session` as a user runs them, and a session killed with
SIGKILL: the record survives whole."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys

import pytest

from injector.store import Store
from tests.conftest import CHECKLIST, REPO, read_shots, run_cli
from tests.schemas import validate

pytestmark = pytest.mark.looptime(False)


def env_with(db) -> dict:
    return {**os.environ, "INJECTOR_DB": str(db)}


def test_run_json_history_show_and_export(tmp_path):
    db = tmp_path / "record.db"
    done = run_cli("run", *CHECKLIST, "--port", "sim://", "--preset", "nappage-superficial", "--zone",
                   "face", "--needle", "32G-4mm", "--shots", "12", "--json", env=env_with(db))
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    for key in ("session_id", "shots_done", "requested_ul", "delivered_ul",
                "to_skin_estimate_ul", "commanded_ul", "measured_ul", "alarms"):
        assert key in summary
    assert (summary["shots_done"], summary["requested_ul"], summary["delivered_ul"],
            summary["alarms"]) == (12, 120.0, 120.0, [])
    history = json.loads(run_cli("history", "--json", env=env_with(db)).stdout)
    assert history["sessions"][0]["session_id"] == summary["session_id"]
    assert history["sessions"][0]["status"] == "completed"
    shown = json.loads(run_cli("session", "show", str(summary["session_id"]), "--json",
                               "--db", str(db)).stdout)
    assert shown["shots_done"] == 12 and shown["status"] == "completed"
    csv = run_cli("session", "export", str(summary["session_id"]), "--format", "csv",
                  env=env_with(db)).stdout.splitlines()
    assert csv[0].startswith("session_id,shot_index,depth_um,volume_nl")
    assert len(csv) == 13
    exported = json.loads(run_cli("session", "export", str(summary["session_id"]), "--format",
                                  "json", env=env_with(db)).stdout)
    assert [s["shot_index"] for s in exported["shots"]] == list(range(1, 13))


def test_an_alarm_mid_session_ends_with_one_line_and_exit_1(tmp_path):
    # The alarm under test is the occlusion: a 2 s watchdog, so that a loaded machine pausing
    # the process does not raise another one first (seen once).
    done = run_cli("run", *CHECKLIST, "--port", "sim://?fault=occlusion@4&watchdog_ms=2000",
                   "--preset", "nappage-superficial", "--zone", "face", "--needle", "32G-4mm",
                   "--shots", "10", "--db", str(tmp_path / "r.db"))
    assert done.returncode == 1
    assert "alarm occlusion" in done.stdout
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "needle is retracted" in done.stderr


def test_an_absent_device_is_one_line_and_exit_1(tmp_path):
    master, slave = os.openpty()
    try:
        done = run_cli("run", *CHECKLIST, "--port", os.ttyname(slave), "--preset", "classical", "--zone",
                       "face", "--needle", "32G-4mm", "--shots", "3", "--db",
                       str(tmp_path / "r.db"))
    finally:
        os.close(master)
        os.close(slave)
    assert done.returncode == 1
    assert done.stderr.startswith("injector: error: no answer to IDENTIFY")
    assert done.stderr.count("\n") == 1


def test_a_refused_preset_is_exit_3(tmp_path):
    done = run_cli("run", *CHECKLIST, "--port", "sim://", "--preset", "infiltration", "--zone", "eyelids",
                   "--needle", "30G-13mm", "--shots", "3", "--db", str(tmp_path / "r.db"))
    assert done.returncode == 3
    assert "preset infiltration is not for zone eyelids; it is for abdomen" in done.stderr


def start_long_run(db, *options: str) -> subprocess.Popen:
    """`injector run` of 2000 shots, printing its events as JSON lines."""
    return subprocess.Popen(
        [sys.executable, "-m", "injector", "run", *CHECKLIST, "--port", "sim://", "--preset",
         "nappage-superficial", "--zone", "thighs", "--needle", "32G-4mm", "--shots", "2000",
         "--events", "--db", str(db), *options], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, cwd=REPO)


def test_a_session_killed_mid_run_leaves_a_whole_record(tmp_path):
    db = tmp_path / "record.db"
    proc = start_long_run(db)
    reported = read_shots(proc.stdout, 25)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    raw = sqlite3.connect(db)
    assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    raw.close()
    store = Store(db)                       # the next start closes the orphan
    session_id = reported[0]["session_id"]
    session = store.session(session_id)
    assert session["status"] == "interrupted"
    recorded = [s["shot_index"] for s in store.shots(session_id)]
    # Every shot reported before the kill is recorded, in order, with nothing missing.
    assert len(recorded) >= reported[-1]["shots_done"]
    assert recorded == list(range(1, len(recorded) + 1))
    history = json.loads(run_cli("history", "--json", "--db", str(db)).stdout)
    assert history["sessions"][0]["status"] == "interrupted"


@pytest.mark.parametrize("sig, code, words", [
    (signal.SIGINT, 130, "Ctrl-C"),
    (signal.SIGTERM, 143, "stopped by SIGTERM"),     # a service manager, a CI timeout
    (signal.SIGHUP, 129, "stopped by SIGHUP"),       # the terminal closed
])
def test_a_stop_signal_holds_the_gun_and_records_the_session_as_interrupted(tmp_path, sig,
                                                                              code, words):
    db = tmp_path / "record.db"
    proc = start_long_run(db)
    read_shots(proc.stdout, 10)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == code
    assert "session interrupted: gun held, needle retracted" in err and "Traceback" not in err
    store = Store(db)
    (row,) = store.history()
    assert row.status == "interrupted"
    assert words in store.session(row.id)["end_reason"]
    assert store.session(row.id)["ended_at"] is not None        # recorded at once, not later


def test_a_stop_signal_under_json_ends_the_events_and_writes_one_error_document(tmp_path):
    proc = start_long_run(tmp_path / "record.db", "--json")
    read_shots(proc.stdout, 5)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    end = json.loads(out.splitlines()[-1])
    validate(end, "event")
    assert (end["type"], end["status"]) == ("end", "interrupted")
    error = json.loads(err)
    validate(error, "error")
    assert (proc.returncode, error["exit_code"], error["kind"]) == (143, 143, "interrupted")
    assert error["message"] == "session interrupted: gun held, needle retracted"


def test_a_dead_link_ends_the_run_failed_within_a_second(tmp_path):
    # The simulated link falls silent at shot 5: the gun stops itself, and the run ends
    # "failed: link lost" at once rather than waiting out the batch.
    db = tmp_path / "r.db"
    done = run_cli("run", *CHECKLIST, "--port", "sim://?fault=watchdog@5", "--preset",
                   "nappage-superficial", "--zone", "face", "--needle", "32G-4mm", "--shots",
                   "500", "--json", "--db", str(db))
    assert done.returncode == 1
    summary = json.loads(done.stdout)
    assert (summary["status"], summary["reason"][:9]) == ("failed", "link lost")
    # Home, prime (1 s), 5 shots and under a second of silence: far from the 72 s that
    # waiting out the batch of 500 (and its 10 s margin) would take.
    assert summary["duration_s"] < 10.0
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


@pytest.mark.injector_sim(fault="occlusion@3")
def test_a_latched_alarm_refuses_the_next_run_until_a_person_acknowledges_it(injector_sim,
                                                                             injector_record):
    db, port = injector_record, injector_sim
    run = ["run", *CHECKLIST, "--port", port, "--preset", "nappage-superficial", "--zone", "face",
           "--needle", "32G-4mm", "--shots", "5", "--db", str(db)]
    first = run_cli(*run)
    assert first.returncode == 1 and "alarm occlusion" in first.stderr
    # The gun stays latched: the next run is refused in one line that says what to do,
    # and nothing is recorded for it.
    refused = run_cli(*run)
    assert refused.returncode == 1
    assert refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr
    assert "alarm occlusion latched" in refused.stderr
    assert f"injector alarm ack --port {port} --person NAME" in refused.stderr
    assert len(Store(db).history()) == 1
    listed = json.loads(run_cli("alarm", "list", "--port", port, "--json", "--db",
                                str(db)).stdout)
    assert [a["name"] for a in listed["alarms"]] == ["occlusion"]
    acked = run_cli("alarm", "ack", "--port", port, "--person", "Dr. A. Ilić", "--db",
                    str(db))
    assert acked.returncode == 0, acked.stderr
    assert "acknowledged occlusion (recorded: Dr. A. Ilić)" in acked.stdout
    store = Store(db)
    (alarm,) = store.alarms(store.history()[-1].id)
    assert (alarm["name"], alarm["acknowledged_by"]) == ("occlusion", "Dr. A. Ilić")
    again = run_cli(*run)
    assert again.returncode == 0, again.stderr


def test_acknowledging_an_alarm_that_is_not_latched_is_one_line(injector_sim, injector_record):
    done = run_cli("alarm", "ack", "--port", injector_sim, "--person", "Dr. X", "occlusion")
    assert done.returncode == 1
    assert done.stderr == ("injector: error: alarm 'occlusion' is not latched on this gun "
                           "(latched: none)\n")
