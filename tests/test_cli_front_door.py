"""The whole command line, as a new user meets it: help with examples, one-line errors with
documented exit codes, and the demo."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.schemas import validate

pytestmark = pytest.mark.looptime(False)

COMMANDS = ["presets", "plan", "sim", "status", "run", "calibrate", "calibration", "history",
            "session", "demo"]


def test_every_command_is_listed_with_the_exit_codes():
    done = run_cli("--help")
    assert done.returncode == 0
    for command in COMMANDS:
        assert command in done.stdout
    assert "exit codes: 0 ok, 1 failed while running, 2 bad command line, 3 refused" in done.stdout


@pytest.mark.parametrize("command", COMMANDS + ["session show", "session export",
                                                "calibration list", "calibration mark-bad"])
def test_every_command_has_help_with_an_example(command):
    done = run_cli(*command.split(), "--help")
    assert done.returncode == 0, done.stderr
    assert "example:" in done.stdout


@pytest.mark.parametrize("args, code, words", [
    (["frobnicate"], 2, "invalid choice"),
    (["run", "--port", "sim://"], 2, "give --plan FILE.json, or --preset, --zone, --needle"),
    (["plan", "--preset", "classical", "--zone", "face", "--needle", "32G-4mm", "--shots",
      "-5"], 3, "--shots -5: below the least, 1; give a whole number from 1"),
    (["status", "--port", "bogus://x"], 3,
     "unknown scheme 'bogus' (known: serial://, modbus-tcp://, modbus-rtu://, sim://"),
    (["status", "--port", "sim://?volume_gain=abc"], 3, "volume_gain abc: is not a number"),
    (["session", "show", "999"], 1, "no such file: nothing has been recorded there"),
    (["calibration", "show", "999"], 1, "no such file: nothing has been recorded there"),
    (["sim", "--serial", "--drop-rate", "1.5"], 3,
         "--drop-rate 1.5: over the most, 1; give a number from 0 and up to 1"),
    (["sim"], 2, "give at least one of --serial"),
])
def test_bad_inputs_are_one_line_with_the_documented_exit_code(tmp_path, args, code, words):
    done = run_cli(*args, env={"INJECTOR_DB": str(tmp_path / "r.db"), "PATH": "/usr/bin:/bin"})
    assert done.returncode == code, (done.stdout, done.stderr)
    assert words in done.stderr
    assert "Traceback" not in done.stderr
    if code != 2:                               # argparse prints its usage line as well
        assert done.stderr.count("\n") == 1


def test_the_demo_runs_a_session_records_it_and_draws_it(tmp_path):
    picture = tmp_path / "demo.png"
    done = run_cli("demo", "--shots", "12", "--json", "--plot", str(picture),
                   env={"INJECTOR_DB": str(tmp_path / "r.db"), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    validate(summary, "session-summary")
    assert (summary["shots_done"], summary["alarms"], summary["serial_number"]) == (
        12, [], "SIM-DEMO-01")
    assert Path(summary["plot"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    history = json.loads(run_cli("history", "--json", "--db", str(tmp_path / "r.db")).stdout)
    assert history["sessions"][0]["status"] == "completed"
    assert history["sessions"][0]["shots_done"] == 12


def test_the_demo_over_modbus(tmp_path):
    done = run_cli("demo", "--modbus", "--shots", "6", "--json", "--db", str(tmp_path / "r.db"),
                   "--plot", str(tmp_path / "m.png"))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["shots_done"] == 6


@pytest.mark.parametrize("args, words", [
    (["session", "show", "999"], "no session 999"),
    (["calibration", "show", "999"], "no calibration 999"),
])
def test_asking_for_what_a_record_does_not_hold_is_one_line(tmp_path, args, words):
    from injector.store import Store

    Store(tmp_path / "r.db").close()
    done = run_cli(*args, "--db", str(tmp_path / "r.db"))
    assert (done.returncode, done.stderr.count("\n")) == (1, 1) and words in done.stderr


async def test_a_demo_stopped_like_ctrl_c_records_why(tmp_path):
    # Ctrl-C cancels the demo's task (asyncio.run does): the session is recorded as
    # interrupted by the operator, as `injector run` records it, not as a bare cancel.
    import asyncio

    from injector.cli import build_parser, demo_cmd
    from injector.store import Store

    db = tmp_path / "record.db"
    args = build_parser().parse_args(["demo", "--shots", "400", "--db", str(db), "--json",
                                      "--plot", str(tmp_path / "demo.png")])
    demo = asyncio.create_task(demo_cmd._demo(args))
    while not (db.exists() and Store(db, readonly=True).shots_since("SIM-DEMO-01", "2000")):
        assert not demo.done(), demo
        await asyncio.sleep(0.05)
    demo.cancel()
    with pytest.raises(asyncio.CancelledError):
        await demo
    (row,) = Store(db, readonly=True).history()
    assert row.status == "interrupted"
    assert Store(db, readonly=True).session(row.id)["end_reason"] == (
        "stopped by the operator (Ctrl-C)")
