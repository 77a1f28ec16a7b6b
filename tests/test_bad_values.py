"""Bad values at the command line, as a careless or hostile user types them: every one is
refused in one line naming the value and the limit, with exit 3, before a port is opened,
a simulator built or the record touched. Nothing is fired because nothing is connected.

The in-process cases replace the three doors to the outside (the record, a serial port, the
embedded simulator) with tripwires, so "before anything moves" is checked, not assumed. A
few run as real processes against a real `injector sim`, whose shot counter must not move.
"""

from __future__ import annotations

import json
import math
import re
import signal
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers.values import NumberList, Quantity, Text, ValueRefused
from injector import inputs
from injector.cli import exit_codes, main
from profiles.display import MESSAGE_MAX_CHARS
from tests.conftest import CHECKLIST, REPO, run_cli

PREFIX = "injector: error: "
RUN = ["run", "--port", "sim://", "--preset", "nappage-superficial", "--zone", "face",
       "--needle", "32g-4mm", *CHECKLIST]
PLAN = ["plan", "--preset", "nappage-superficial", "--zone", "face", "--needle", "32g-4mm"]
CALIBRATE = ["calibrate", "dose", "--port", "sim://"]


class Tripwire(Exception):
    """Something outside was about to be opened."""


@pytest.fixture
def cli(capsys, monkeypatch, tmp_path):
    """`injector ARGS` in this process; opening the record, a serial port or a simulator
    raises Tripwire (exit 1 with a line naming it, never a refusal)."""
    opened: list[str] = []

    def tripwire(what):
        def trip(*args, **kwargs):
            opened.append(what)
            raise Tripwire(what)
        return trip

    import injector.store
    monkeypatch.setattr(injector.store.Store, "__init__", tripwire("record"))
    monkeypatch.setattr("drivers.transport.open_serial_port", tripwire("serial port"))
    monkeypatch.setattr("simulator.gun.SimulatedGun.__init__", tripwire("simulator"))
    monkeypatch.setenv("INJECTOR_DB", str(tmp_path / "record.db"))
    monkeypatch.delenv("INJECTOR_PRESETS_DIR", raising=False)

    def run(*args: str) -> tuple[int, str, str, list[str]]:
        opened.clear()
        code = main(list(args))
        captured = capsys.readouterr()
        return code, captured.out, captured.err, list(opened)
    return run


def refused_line(code: int, out: str, err: str, opened: list[str]) -> str:
    assert opened == [], f"opened {opened} before refusing: {err}"
    assert code == exit_codes.REFUSED, err
    assert out == ""
    assert err.startswith(PREFIX) and err.count("\n") == 1, err
    line = err[len(PREFIX):-1]
    assert re.fullmatch(r"[ -~]*", line) and len(line) <= MESSAGE_MAX_CHARS, line
    return line


CORPUS = [
    # (command line, words the one line holds)
    ([*RUN, "--shots", "5", "--prime-ul", "nan"], "--prime-ul nan: is not a finite number"),
    ([*RUN, "--shots", "5", "--prime-ul", "-1"], "--prime-ul -1: below the least, 0 ul"),
    ([*RUN, "--volume-ml", "nan"], "--volume-ml nan: is not a finite number"),
    ([*RUN, "--volume-ml", "0"], "--volume-ml 0: must be over 0 ml"),
    ([*RUN, "--volume-ml", "-1"], "--volume-ml -1: must be over 0 ml"),
    ([*RUN, "--volume-ml", "1e308"], "--volume-ml 1e308: over the most, 1,000 ml"),
    ([*RUN, "--shots", "5", "--budget-ml", "nan"], "--budget-ml nan: is not a finite number"),
    ([*RUN, "--shots", "5", "--budget-ml", "0"], "--budget-ml 0: must be over 0 ml"),
    ([*RUN, "--shots", "0"], "--shots 0: below the least, 1"),
    ([*RUN, "--shots", "2.5"], "--shots 2.5: is not a whole number written in digits"),
    ([*RUN, "--shots", "1e3"], "--shots 1e3: is not a whole number written in digits"),
    ([*RUN, "--volume-ml", "1e-308"], "--volume-ml 1e-308: less than one dose (10 ul"),
    ([*RUN, "--shots", "3", "--budget-ml", "0.02"],
     "--budget-ml 0.02: less than the 0.03 ml the session plans (3 shots of 10 ul)"),
    ([*RUN, "--shots", "3", "--shots", "1000"], None),
    (["run", "--port", "/etc/passwd", *RUN[3:], "--shots", "3"],
     "port '/etc/passwd': not a serial device (a regular file)"),
    (["run", "--port", "/dev/pts/999999", *RUN[3:], "--shots", "3"], "no such device"),
    (["run", "--port", "serial://relative/tty", *RUN[3:], "--shots", "3"],
     "expected serial:///dev/... (an absolute device path"),
    (["run", "--port", "sim://?volume_gain=1&volume_gain=2", *RUN[3:], "--shots", "3"],
     "volume_gain is given twice"),
    (["run", "--port", "sim://user:pw@host", *RUN[3:], "--shots", "3"],
     "sim:// takes no path, port or user"),
    (["run", "--port", "sim:///path", *RUN[3:], "--shots", "3"],
     "sim:// takes no path, port or user"),
    (["run", "--port", "sim://?volume_gian=1.1", *RUN[3:], "--shots", "3"],
     "volume_gian 1.1: is not a simulator parameter; did you mean volume_gain?"),
    (["run", "--port", "sim://?fault=occlusion@", *RUN[3:], "--shots", "3"],
     "fault 'occlusion@': shot '' must be a whole number from 1"),
    (["run", "--port", "sim://?nvram=/etc/passwd", *RUN[3:], "--shots", "3"],
     "simulated gun memory /etc/passwd: "),
    ([*RUN, "--shots", "3", "--db", "/nonexistent-folder/record.db"],
     "the folder /nonexistent-folder does not exist"),
    ([*RUN, "--shots", "3", "--db", ""], "--db '': is empty"),
    ([*PLAN, "--shots", "3", "--plot", "a\nb.png"], "--plot 'a\\nb.png': holds '\\n'"),
    ([*PLAN, "--shots", "3", "--rate-hz", "1e-308"], "--rate-hz 1e-308: below the least, 0.001"),
    (["alarm", "ack", "--port", "sim://", "--person", "X", ""], "alarm '': is empty"),
    ([*CALIBRATE, "--needle", "30g-13mm"],
     "needle 30g-13mm cannot take the calibration shots"),
    ([*CALIBRATE, "--balance", "/etc/passwd"],
     "port '/etc/passwd': not a serial device (a regular file): give the balance's"),
    ([*RUN, "--shots", "9" * 400], "--shots 9999999999999999999999999999999999999...: has 400 characters"),
    ([*RUN, "--shots", "5", "--syringe-ml", "inf"], "--syringe-ml inf: is not a finite"),
    ([*RUN, "--shots", "5", "--person", ""], "--person '': is empty"),
    ([*RUN, "--shots", "5", "--person", "Dr\x1b[31m"], "--person 'Dr\\x1b[31m': holds '\\x1b'"),
    ([*RUN, "--shots", "5", "--person", "a\u202eb"], "holds '\\u202e'"),
    ([*RUN, "--shots", "5", "--calibration-override", "\n"], "--calibration-override '\\n': holds '\\n'"),
    (["run", "--port", "sim://?volume_gain=nan", *RUN[3:], "--shots", "3"],
     "port 'sim://?volume_gain=nan': volume_gain nan: is not a finite number"),
    (["run", "--port", "sim://?backlash_mm=-1", *RUN[3:], "--shots", "3"],
     "backlash_mm -1: below the least, 0 mm"),
    (["run", "--port", "sim://?needle_length_mm=0", *RUN[3:], "--shots", "3"],
     "needle_length_mm 0: below the least, 1 mm"),
    (["run", "--port", "sim://?watchdog_ms=0", *RUN[3:], "--shots", "3"],
     "watchdog_ms 0: below the least, 50 ms"),
    (["run", "--port", "sim://?delay_ms=-5", *RUN[3:], "--shots", "3"],
     "delay_ms -5: below the least, 0 ms"),
    (["run", "--port", "sim://?serial_number=", *RUN[3:], "--shots", "3"],
     "serial_number '': is empty"),
    (["run", "--port", "sim://?serial_number=SIM%0A1", *RUN[3:], "--shots", "3"],
     "serial_number holds a control or non-ASCII character"),
    (["run", "--port", "sim://?seed=nan", *RUN[3:], "--shots", "3"],
     "seed nan: is not a whole number written in digits"),
    (["run", "--port", "sim://?calibrated_s=-1", *RUN[3:], "--shots", "3"],
     "calibrated_s -1: below the least, 0 s"),
    (["run", "--port=--", *RUN[3:], "--shots", "3"], "port '--': not a URL or an absolute"),
    (["run", "--port", "/dev/tty\x1b", *RUN[3:], "--shots", "3"],
     "holds characters a port never has"),
    ([*CALIBRATE, "--volumes", "10,20,1e308"], "--volumes 10,20,1e308: 1e308 over the most"),
    ([*CALIBRATE, "--volumes", "nan"], "--volumes nan: nan is not a finite number"),
    ([*CALIBRATE, "--volumes", "10,,20"], "--volumes 10,,20: '' is not a number"),
    ([*CALIBRATE, "--volumes", "10,10,20"], "--volumes 10,10,20: repeats a value"),
    ([*CALIBRATE, "--volumes", "10,20"], "--volumes 10,20: 2 set values; a calibration takes"),
    ([*CALIBRATE, "--needle", "bogus"], "unknown needle 'bogus'"),
    ([*CALIBRATE, "--density", "0"], "--density 0: below the least, 0.5 g/ml"),
    ([*CALIBRATE, "--density", "nan"], "--density nan: is not a finite number"),
    ([*CALIBRATE, "--shots-each", "0"], "--shots-each 0: below the least, 1"),
    ([*CALIBRATE, "--expires-days", "1000000000"], "--expires-days 1000000000: over the most"),
    ([*CALIBRATE, "--expires-shots", "-1"], "--expires-shots -1: below the least"),
    (["calibrate", "depth", "--port", "sim://", "--depths", "0.1,1,2"],
     "--depths 0.1,1,2: 0.1 below the least, 0.5 mm"),
    ([*PLAN, "--area-cm2", "1e308"], "--area-cm2 1e308: over the most, 20,000 cm2"),
    ([*PLAN, "--shots", "5", "--spacing-mm", "1e308"], "--spacing-mm 1e308: over the most, 50"),
    ([*PLAN, "--shots", "5", "--spacing-mm", "1e-308"], "--spacing-mm 1e-308: below the least"),
    ([*PLAN, "--shots", "5", "--plot", "/nonexistent/plan.png"],
     "plot /nonexistent/plan.png: its folder does not exist"),
    ([*PLAN, "--shots", "5", "--plot", "plan.txt"], "give a file name ending in .png"),
    (["history", "--limit", str(10**23)], "--limit 100000000000000000000000: over the most"),
    (["history", "--limit", "-1"], "--limit -1: below the least, 1 rows"),
    (["session", "show", str(10**23)], "session id 100000000000000000000000: over the most"),
    (["session", "export", "0", "--format", "csv"], "session id 0: below the least, 1"),
    (["calibration", "show", "-5"], "calibration id -5: below the least, 1"),
    (["calibration", "mark-bad", "1", "--reason", ""], "--reason '': is empty"),
    (["alarm", "ack", "--port", "sim://", "--person", " "], "--person ' ': is empty"),
    (["sim", "--serial", "--volume-gain", "nan"], "--volume-gain nan: is not a finite number"),
    (["sim", "--serial", "--watchdog-ms", "0"], "--watchdog-ms 0: below the least, 50 ms"),
    (["sim", "--serial", "--serial-number", ""], "--serial-number '': is empty"),
    (["sim", "--serial", "--seed", "nan"], "--seed nan: is not a whole number written in digits"),
    (["status", "--port", "sim://?volume_gain=-1"], "volume_gain -1: below the least, 0.5"),
    (["demo", "--shots", "0"], "--shots 0: below the least, 1"),
]


@pytest.mark.parametrize("args, words", CORPUS, ids=[" ".join(a)[:60] for a, _ in CORPUS])
def test_a_bad_value_is_refused_in_one_line_before_anything_opens(cli, args, words):
    code, out, err, opened = cli(*args)
    if words is None:                   # a command-line mistake: exit 2, one line
        assert (code, out, opened) == (exit_codes.USAGE, "", []) and err.count("\n") == 1
        return
    line = refused_line(code, out, err, opened)
    assert words in line, line


def test_the_corpus_values_pass_the_tripwires_when_good(cli):
    """The tripwires are live: a good session reaches the port and the record."""
    code, out, err, opened = cli(*RUN, "--shots", "3")
    assert opened and code == exit_codes.FAILED and "Tripwire" in err


def test_a_command_line_mistake_is_one_line_and_exit_2(cli):
    for args, words in ((["run", "--port", "sim://"], "give --plan FILE.json, or --preset"),
                        (["frobnicate"], "invalid choice"),
                        ([*PLAN, "--shots", "3", "--bogus"], "unrecognized arguments: --bogus")):
        code, out, err, opened = cli(*args)
        assert (code, out, opened) == (exit_codes.USAGE, "", [])
        assert err.count("\n") == 1 and words in err and err.endswith("--help)\n"), err


def test_an_unexpected_error_is_one_line_naming_the_log_with_the_whole_trace(
        cli, monkeypatch, tmp_path):
    log = tmp_path / "injector.log"
    monkeypatch.setenv("INJECTOR_LOG", str(log))

    def broken(args):
        raise KeyError("a bug of ours")
    monkeypatch.setattr("injector.cli.catalog_cmds.presets_command", broken)
    code, out, err, opened = cli("presets")
    assert (code, out) == (exit_codes.FAILED, "")
    assert err == (f"{PREFIX}unexpected KeyError: 'a bug of ours' (the whole trace is in "
                   f"{log}; please report it)\n")
    trace = log.read_text()
    assert "Traceback" in trace and "raise KeyError" in trace


OPTIONS = [
    # (command line before the value, option, its definition)
    (RUN + ["--shots", "3"], "--prime-ul", inputs.PRIME_UL),
    (RUN + ["--shots", "3"], "--budget-ml", inputs.BUDGET_ML),
    (RUN, "--volume-ml", inputs.VOLUME_ML),
    (RUN, "--shots", inputs.SHOTS),
    (CALIBRATE, "--density", inputs.DENSITY_G_ML),
    (CALIBRATE, "--shots-each", inputs.SHOTS_EACH),
    (CALIBRATE, "--expires-days", inputs.EXPIRES_DAYS),
]

NUMBERISH = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-10**30, max_value=10**30).map(str),
    st.sampled_from(["", " ", "nan", "-inf", "1e999", "0x10", "1_000", "１２", "3,5", "--"]),
    st.text(max_size=12))


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=st.sampled_from(OPTIONS), raw=NUMBERISH)
def test_any_value_of_a_session_or_calibration_option_reaches_the_gun_only_within_its_limit(
        cli, case, raw):
    """Either the value is within its definition and the command goes on to open the port,
    or it is refused in one line before anything opens."""
    before, option, kind = case
    code, out, err, opened = cli(*before, f"{option}={raw}")
    try:
        kind.check(raw)
    except ValueRefused:
        assert f"{option} " in refused_line(code, out, err, opened)
        return
    if not opened:                      # in range, but not for this session (a budget
        assert f"{option} " in refused_line(code, out, err, opened)     # under its plan)


@settings(max_examples=200, deadline=None)
@given(kind=st.sampled_from([inputs.VOLUME_ML, inputs.SHOTS, inputs.DEPTH_MM, inputs.PRIME_UL,
                             inputs.SPACING_MM, inputs.RATE_HZ]),
       value=st.one_of(st.floats(), st.integers(), st.text(max_size=20), st.booleans(),
                       st.none()))
def test_a_quantity_gives_a_finite_number_in_its_range_or_refuses_naming_it(kind, value):
    try:
        number = kind.check(value)
    except ValueRefused as refused:
        assert refused.value is value and refused.limit == kind.limit
        assert str(refused).startswith(kind.name + " ") and kind.limit in str(refused)
        return
    assert math.isfinite(number) and kind.low <= number <= kind.high
    assert not (kind.above and number == kind.low)
    assert isinstance(number, int) if kind.whole else isinstance(number, float)


def test_text_keeps_any_script_and_refuses_what_breaks_a_line_or_hides_itself():
    assert inputs.PERSON.check("  Dr. Ilić ") == "Dr. Ilić"
    assert inputs.PERSON.check("李小龙") == "李小龙"
    for bad in ("a\nb", "a\u200bb", "a\u202eb", "\x1b[2J", "a\tb", "x" * 81):
        with pytest.raises(ValueRefused):
            inputs.PERSON.check(bad)


def test_a_value_is_shown_cut_to_a_readable_length():
    with pytest.raises(ValueRefused) as refused:
        Quantity("dose", "ul", 1, 2).check("9" * 10_000)
    assert "9" * 37 + "...:" in str(refused.value)
    assert len(str(refused.value)) <= MESSAGE_MAX_CHARS


def test_a_list_names_the_bad_item_and_counts():
    kind = NumberList(Quantity("depth", "mm", 0.5, 13), 1, 3)
    assert kind.check("1,2.5") == (1.0, 2.5)
    with pytest.raises(ValueRefused, match=r"has 4 values; give 1 to 3"):
        kind.check("1,2,3,4")


def test_a_picture_the_folder_refuses_is_one_line(cli):
    """/proc takes no new files, even from root: found only when writing, still one line."""
    code, out, err, opened = cli(*PLAN, "--shots", "5", "--plot", "/proc/plan.png")
    assert (code, out) == (exit_codes.REFUSED, "")
    assert err.startswith(f"{PREFIX}plot /proc/plan.png: cannot be written (") and \
        err.count("\n") == 1


def test_a_simulator_built_in_code_refuses_garbage_too():
    from simulator.gun import GunOptions, SimulatedGun
    with pytest.raises(ValueRefused, match="volume_gain nan"):
        SimulatedGun(GunOptions(volume_gain=float("nan")))
    with pytest.raises(ValueRefused, match="serial_number"):
        SimulatedGun(GunOptions(serial_number="SIM\n2"))
    assert isinstance(Text("x", 3, r"[a-z]+", "a to z").check("abc"), str)


# In real processes, against a real simulated gun: the gun never moves.

class Sim:
    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "injector", "sim", "--serial"], stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, cwd=REPO)
        self.port = self.process.stdout.readline().strip()

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        self.process.wait(timeout=10)


def test_bad_values_against_a_real_gun_fire_nothing_and_write_nothing(tmp_path):
    sim = Sim()
    env_db = str(tmp_path / "record.db")
    try:
        for args in (["--volume-ml", "1e308"], ["--shots", "5", "--prime-ul", "nan"],
                     ["--shots", "5", "--budget-ml", "0"], ["--shots", "5", "--person", ""]):
            done = run_cli("run", "--port", sim.port, *RUN[3:], *args, "--db", env_db)
            assert done.returncode == 3 and done.stderr.count("\n") == 1, done.stderr
            assert "Traceback" not in done.stderr
        done = run_cli("calibrate", "dose", "--port", sim.port, "--balance", "prompt",
                       "--volumes", "10,20,1e308", "--db", env_db)
        assert done.returncode == 3 and "1e308 over the most" in done.stderr
        status = run_cli("status", "--port", sim.port, "--json")
        assert json.loads(status.stdout)["shots_done"] == 0
        assert list(tmp_path.iterdir()) == []
    finally:
        sim.stop()
