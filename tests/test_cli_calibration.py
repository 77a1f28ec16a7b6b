"""Calibration from the command line, with the simulator and its instruments in another
process on their own ptys."""

from __future__ import annotations

import json
from datetime import date, timedelta
import signal
import subprocess
import sys

import pytest

from tests.conftest import REPO, run_cli

pytestmark = pytest.mark.looptime(False)


@pytest.fixture
def sim_with_instruments():
    proc = subprocess.Popen([sys.executable, "-m", "injector", "sim", "--serial", "--balance",
                             "--gauge", "--depth-offset-mm", "0.2", "--volume-gain", "1.07"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        yield [proc.stdout.readline().strip() for _ in range(3)]
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)


def test_calibrate_depth_and_verify_through_the_instrument_ports(sim_with_instruments, tmp_path):
    port, balance, gauge = sim_with_instruments
    db = str(tmp_path / "record.db")
    common = ["--port", port, "--db", db, "--person", "tech A. Novak"]
    due = (date.today() + timedelta(days=200)).isoformat()
    gauge_id = ["--gauge-serial", "MIT-543-0042", "--gauge-due", due]
    done = run_cli("calibrate", "depth", *common, "--gauge", gauge, *gauge_id, "--depths",
                   "1,2,3", "--shots-each", "1", "--json", timeout=120)
    assert done.returncode == 0, done.stderr
    fit = json.loads(done.stdout)["fit"]
    assert fit["kind"] == "linear" and fit["offset"] == pytest.approx(0.2, abs=0.01)
    verified = run_cli("calibrate", "verify", *common, "--balance", balance, "--balance-due",
                       due, "--gauge", gauge, *gauge_id, "--volumes", "10", "--depths", "2",
                       "--shots-each", "3", "--json", timeout=120)
    result = json.loads(verified.stdout)
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
    assert [(c["kind"], c["status"], c["person"]) for c in listed] == [
        ("depth", "active", "tech A. Novak")]
    marked = run_cli("calibration", "mark-bad", str(listed[0]["id"]), "--reason",
                     "gauge not zeroed", "--db", db)
    assert marked.returncode == 0
    assert json.loads(run_cli("calibration", "show", str(listed[0]["id"]), "--json", "--db",
                              db).stdout)["status"] == "bad"


def test_dose_calibration_without_a_balance_is_refused(tmp_path):
    done = run_cli("calibrate", "dose", "--port", "/dev/null", "--db", str(tmp_path / "r.db"))
    assert done.returncode == 1 and done.stderr.count("\n") == 1
    assert "dose calibration needs --balance URL or --balance prompt" in done.stderr
