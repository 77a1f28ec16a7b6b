"""A careless or hostile user at the command line: bad names and bad preset files.

For each: exit 3, one line on stderr of printable ASCII, no traceback, nothing on stdout and
nothing written (no plot, no record). Most cases run `injector.cli.main` in this process,
the very function `python -m injector` calls; those that would hang or exhaust memory if
they regressed (a FIFO, a link to /dev/zero, deep nesting) run in a real subprocess with a
timeout and a memory limit, so a regression fails the test instead of the suite.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import resource
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from injector.cli import exit_codes, main
from profiles.display import MESSAGE_MAX_CHARS
from tests.conftest import CHECKLIST, REPO, run_cli
from tests.test_profile_files import preset_text
from tests.test_profile_names import BAD_NAMES

PREFIX = "injector: error: "
GOOD_ARGS = {"--preset": "classical", "--zone": "face", "--needle": "32G-4mm"}


def options(args: dict[str, str]) -> list[str]:
    """`--preset=NAME`: a name starting with a hyphen reaches the rule, not argparse."""
    return [f"{option}={value}" for option, value in args.items()]


def assert_refused_in_one_line(code: int, out: str, err: str) -> str:
    assert code == exit_codes.REFUSED, err
    assert out == ""
    assert err.startswith(PREFIX) and err.endswith("\n") and err.count("\n") == 1, err
    line = err[len(PREFIX):-1]
    assert re.fullmatch(r"[ -~]*", line) and len(line) <= MESSAGE_MAX_CHARS, line
    return line


@pytest.fixture
def cli(capsys, monkeypatch, tmp_path):
    """`injector ARGS` in this process, with no preset directory or record from outside."""
    monkeypatch.delenv("INJECTOR_PRESETS_DIR", raising=False)
    monkeypatch.setenv("INJECTOR_DB", str(tmp_path / "env.db"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))

    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        captured = capsys.readouterr()
        return code, captured.out, captured.err
    return run


def nothing_written(tmp_path: Path, *before: str) -> None:
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(before)


# Every bad name as a preset; zones and needles go through the same lookup (resolve_name,
# tested for every kind in test_profile_names), so a sample of them is enough here.
PLAN_CASES = [("--preset", case) for case in sorted(BAD_NAMES)] + [
    ("--zone", "newline"), ("--zone", "right-to-left override"), ("--zone", "huge"),
    ("--needle", "cyrillic a"), ("--needle", "ansi escape"), ("--needle", "leading hyphen")]


@pytest.mark.parametrize("option, case", PLAN_CASES)
def test_a_bad_name_in_a_plan_is_refused_in_one_line_and_nothing_is_drawn(cli, tmp_path,
                                                                         option, case):
    name, words = BAD_NAMES[case]
    args = GOOD_ARGS | {option: name}
    code, out, err = cli("plan", *options(args), "--shots", "10",
                         "--plot", str(tmp_path / "plan.png"))
    line = assert_refused_in_one_line(code, out, err)
    assert line.startswith(f"{option[2:]} name ") and words in line
    nothing_written(tmp_path)


@pytest.mark.parametrize("case", ["cyrillic a", "newline", "ansi escape", "path"])
def test_a_bad_name_for_a_session_is_refused_before_the_record_or_the_port(cli, tmp_path, case):
    name, words = BAD_NAMES[case]
    code, out, err = cli("run", *CHECKLIST, "--port", "sim://", "--db", str(tmp_path / "r.db"),
                         f"--preset={name}", "--zone", "face", "--needle", "32g-4mm",
                         "--shots", "3")
    assert words in assert_refused_in_one_line(code, out, err)
    nothing_written(tmp_path)


def test_a_lone_double_dash_as_a_name_or_a_directory_is_refused(cli):
    """argparse would turn `--preset=--` into an empty list; it stays the text "--"."""
    code, out, err = cli("plan", "--preset=--", "--zone", "face", "--needle", "32g-4mm",
                         "--shots", "1")
    assert assert_refused_in_one_line(code, out, err).startswith(
        "preset name '--': it starts or ends with a hyphen")
    code, out, err = cli("presets", "--presets-dir=--")
    assert assert_refused_in_one_line(code, out, err) == "--: does not exist (or is a broken link)"


def test_a_close_miss_is_answered_with_the_name(cli):
    code, out, err = cli("plan", "--preset", "nappage-midle", "--zone", "FACE", "--needle",
                         "32G-4mm", "--shots", "10")
    assert assert_refused_in_one_line(code, out, err) == (
        "unknown preset 'nappage-midle': did you mean nappage-middle?")


def test_a_case_difference_plans_as_the_catalogs_name(cli):
    code, out, err = cli("plan", "--preset", "Nappage-Superficial", "--zone", "FACE",
                         "--needle", "32G-4mm", "--shots", "10")
    assert code == 0, err
    assert out.startswith("nappage-superficial on face with 32g-4mm, 10 ml syringe")


@settings(max_examples=40, deadline=None)
@given(name=st.text(max_size=45))
def test_any_preset_name_plans_or_is_refused_in_one_line(name):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["plan", f"--preset={name}", "--zone", "face", "--needle", "32g-4mm",
                     "--shots", "2"])
    if code == 0:
        assert name.lower() in {"classical", "pigmentation", "nappage-superficial",
                                "nappage-middle", "papular", "linear-retrograde"}
    else:
        assert_refused_in_one_line(code, out.getvalue(), err.getvalue())


BAD_DIRECTORIES = {
    "huge file": (lambda d: os.truncate(_touch(d / "huge.toml"), 10 << 20),
                  "huge.toml: is 10485760 bytes, over the 65536-byte limit"),
    "link to /dev/zero": (lambda d: (d / "zero.toml").symlink_to("/dev/zero"),
                          "zero.toml: is a character device; only regular files are read"),
    "non-UTF-8": (lambda d: (d / "latin.toml").write_bytes(b"name = '\xe9'"),
                  "latin.toml: is not UTF-8 text: byte 0xe9 at offset 8"),
    "huge integer": (lambda d: (d / "custom-one.toml").write_text(
        preset_text(depth_mm=f"depth_mm = {'9' * 400}")),
                     "depth_mm = 999999999...(400 digits): outside (0, 1e+06] mm"),
    "bad file name": (lambda d: (d / "Nappage Deep.toml").write_text("x"),
                      "preset file name 'Nappage Deep': character 1 is 'N', uppercase"),
    "too many entries": (lambda d: [(d / f"{i}.txt").touch() for i in range(300)],
                         "holds more than 256 entries"),
    "a preset that reads like a built-in": (
        lambda d: (d / "pinp0int.toml").write_text(preset_text("pinp0int")),
        "name = 'pinp0int': reads like the preset pinpoint"),
}


def _touch(path: Path) -> Path:
    path.touch()
    return path


@pytest.mark.parametrize("case", sorted(BAD_DIRECTORIES))
def test_a_bad_preset_directory_is_refused_in_one_line(cli, tmp_path, case, monkeypatch):
    make, words = BAD_DIRECTORIES[case]
    directory = tmp_path / "mine"
    directory.mkdir()
    make(directory)
    before = sorted(p.name for p in directory.iterdir())
    code, out, err = cli("presets", "--presets-dir", str(directory))
    assert words in assert_refused_in_one_line(code, out, err)
    # The same through the environment variable, to `plan`.
    monkeypatch.setenv("INJECTOR_PRESETS_DIR", str(directory))
    code, out, err = cli("plan", *options(GOOD_ARGS), "--shots", "1")
    assert words in assert_refused_in_one_line(code, out, err)
    assert sorted(p.name for p in directory.iterdir()) == before
    nothing_written(tmp_path, "mine")


def test_the_table_marks_a_technicians_own_presets(cli, tmp_path):
    (tmp_path / "my-nappage.toml").write_text(preset_text("my-nappage"))
    code, out, err = cli("presets", "--presets-dir", str(tmp_path))
    assert code == 0, err
    rows = {line.split()[0]: line for line in out.splitlines()[2:]}
    assert "  custom  " in rows["my-nappage"] and "  built-in  " in rows["classical"]


# In a real process, bounded: what would hang or eat the memory if it regressed.

def _user_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("INJECTOR_PRESETS_DIR", "INJECTOR_DB")}
    return env | {"HOME": str(tmp_path / "home"), "XDG_DATA_HOME": str(tmp_path / "data")}


def _memory_capped(limit: int = 512 << 20) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def test_a_fifo_in_the_preset_directory_is_refused_without_waiting(tmp_path):
    directory = tmp_path / "mine"
    directory.mkdir()
    os.mkfifo(directory / "pipe.toml")
    done = run_cli("presets", "--presets-dir", str(directory), env=_user_env(tmp_path),
                   timeout=30)
    line = assert_refused_in_one_line(done.returncode, done.stdout, done.stderr)
    assert line.endswith("pipe.toml: is a FIFO; only regular files are read")
    nothing_written(tmp_path, "mine")


def test_a_link_to_dev_zero_is_refused_within_bounded_memory(tmp_path):
    directory = tmp_path / "mine"
    directory.mkdir()
    (directory / "zero.toml").symlink_to("/dev/zero")
    done = subprocess.run([sys.executable, "-m", "injector", "presets", "--presets-dir",
                           str(directory)], capture_output=True, text=True, timeout=30,
                          env=_user_env(tmp_path), cwd=REPO, preexec_fn=_memory_capped)
    line = assert_refused_in_one_line(done.returncode, done.stdout, done.stderr)
    assert line.endswith("zero.toml: is a character device; only regular files are read")
    nothing_written(tmp_path, "mine")


def test_nesting_that_exhausted_the_interpreters_stack_is_one_line(tmp_path):
    """RecursionError depends on the real interpreter's stack, so in a real process.
    (The 400-digit integer, the other crash, is in the directory corpus above.)"""
    directory = tmp_path / "mine"
    directory.mkdir()
    (directory / "custom-one.toml").write_text(
        preset_text(depth_mm=f"depth_mm = {'[' * 30_000}{']' * 30_000}"))
    done = run_cli("plan", "--presets-dir", str(directory), "--preset", "custom-one",
                   "--zone", "face", "--needle", "32g-4mm", "--shots", "1", "--plot",
                   str(tmp_path / "plan.png"), env=_user_env(tmp_path), timeout=30)
    line = assert_refused_in_one_line(done.returncode, done.stdout, done.stderr)
    assert line.endswith("custom-one.toml: nested deeper than 8 levels")
    nothing_written(tmp_path, "mine")


def test_a_homoglyph_session_writes_no_record(tmp_path):
    done = run_cli("run", *CHECKLIST, "--port", "sim://", "--preset", "n\u0430ppage-superficial",
                   "--zone", "face", "--needle", "32G-4mm", "--shots", "3",
                   env=_user_env(tmp_path), timeout=30)
    line = assert_refused_in_one_line(done.returncode, done.stdout, done.stderr)
    assert line.startswith("preset name 'n\\u0430ppage-superficial': character 2 is '\\u0430'")
    assert "did you mean nappage-superficial?" in line
    nothing_written(tmp_path)
