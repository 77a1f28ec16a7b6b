"""Calibration from the command line, with the simulator and its instruments on their own
ptys (the plugin's injector_sim_ports)."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from tests.conftest import run_cli
from tests.schemas import validate

pytestmark = pytest.mark.looptime(False)


# Real time over ptys: a watchdog of 2 s (the default is 250 ms) so that a loaded CI machine
# pausing a process is not what the test measures; the instruments are.
@pytest.mark.injector_sim(depth_offset_mm=0.2, volume_gain=1.07, watchdog_ms=2000)
def test_calibrate_depth_and_verify_through_the_instrument_ports(injector_sim_ports,
                                                                 injector_record):
    ports = injector_sim_ports
    port, balance, gauge = ports.serial, ports.balance, ports.gauge
    db = str(injector_record)
    common = ["--port", port, "--db", db, "--person", "tech A. Novak"]
    due = (date.today() + timedelta(days=200)).isoformat()
    gauge_id = ["--gauge-serial", "MIT-543-0042", "--gauge-due", due]
    done = run_cli("calibrate", "depth", *common, "--gauge", gauge, *gauge_id, "--depths",
                   "1,2,3", "--shots-each", "1", "--json", timeout=120)
    assert done.returncode == 0, done.stderr
    validate(json.loads(done.stdout), "calibration-result")
    fit = json.loads(done.stdout)["fit"]
    assert fit["kind"] == "linear" and fit["offset"] == pytest.approx(0.2, abs=0.01)
    verified = run_cli("calibrate", "verify", *common, "--balance", balance, "--balance-due",
                       due, "--gauge", gauge, *gauge_id, "--volumes", "10", "--depths", "2",
                       "--shots-each", "3", "--json", timeout=120)
    result = json.loads(verified.stdout)
    validate(result, "verification")
    by_kind = {p["kind"]: p for p in result["points"]}
    assert by_kind["depth"]["pass"] and abs(by_kind["depth"]["error"]) <= 0.05
    assert not by_kind["dose"]["pass"]                   # dose not calibrated yet: 7% over
    assert (verified.returncode, result["pass"]) == (1, False)
    for key in ("set", "mean", "error", "sd", "cv", "systematic_limit", "random_limit", "pass"):
        assert key in by_kind["dose"]
    # The balance said who it is and how warm the water is; both are recorded.
    balance_id = next(i for i in result["instruments"] if i["kind"] == "balance")
    assert balance_id["serial_number"].endswith("-BAL") and balance_id["due"] == due
    assert result["conditions"]["temperature_source"] == "balance"
    listed = json.loads(run_cli("calibration", "list", "--json", "--db", db).stdout)
    validate(listed, "calibrations")
    (made,) = listed["calibrations"]
    assert (made["kind"], made["status"], made["person"], made["serial_number"]) == (
        "depth", "active", "tech A. Novak", ports.serial_number)
    marked = run_cli("calibration", "mark-bad", str(made["calibration_id"]), "--reason",
                     "gauge not zeroed", "--db", db)
    assert marked.returncode == 0
    shown = json.loads(run_cli("calibration", "show", str(made["calibration_id"]), "--json",
                               "--db", db).stdout)
    validate(shown, "calibration")
    assert shown["status"] == "bad"


def test_dose_calibration_without_a_balance_is_refused(tmp_path):
    done = run_cli("calibrate", "dose", "--port", "/dev/null", "--db", str(tmp_path / "r.db"))
    assert done.returncode == 1 and done.stderr.count("\n") == 1
    assert "dose calibration needs --balance URL or --balance prompt" in done.stderr


@pytest.mark.parametrize("what, options", [
    ("depth", ["--depths", "1,2,4"]),
    ("verify", ["--volumes", "10", "--depths", "4"]),
])
def test_a_depth_the_needle_cannot_reach_is_refused_before_any_reading(tmp_path, what, options):
    # Found at the touchscreen: a depth calibration to 4 mm on a 4 mm needle asked for
    # every reading, then ended aborted at the 4 mm shots.
    db = tmp_path / "r.db"
    done = run_cli("calibrate", what, "--port", "sim://", "--needle", "30G-4mm", *options,
                   "--db", str(db), "--gauge", "prompt", "--balance", "prompt")
    assert done.returncode == 3, done.stderr
    assert "depths 4: depth_mm = 4.0: deeper than needle 30g-4mm" in done.stderr
    assert done.stderr.count("\n") == 1 and not db.exists()       # nothing asked, nothing made
