"""`injector sim` as a CI script runs it: a serial number of its own, a ready file naming
every port, and a clean stop on Ctrl-C or SIGTERM, even as a background job of a script."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys

import pytest

from injector.cli import main
from injector.cli.common import Parser
from injector.cli.sim_cmd import register as register_sim
from injector.cli.sim_cmd import sim_options
from injector.ports import open_driver
from tests.conftest import CHECKLIST, REPO, run_cli
from tests.schemas import validate

SIM = f"{sys.executable} -m injector sim"
SERIAL = r"SIM-[0-9A-F]{8}"


def parsed_sim_args(*args: str):
    parser = Parser(prog="injector")
    register_sim(parser.add_subparsers(dest="command"))
    return parser.parse_args(["sim", "--serial", *args])


def test_every_simulator_draws_a_serial_number_of_its_own_unless_given_one():
    drawn = {sim_options(parsed_sim_args()).serial_number for _ in range(3)}
    assert len(drawn) == 3 and all(re.fullmatch(SERIAL, s) for s in drawn)
    assert sim_options(parsed_sim_args("--serial-number", "SIM-BENCH-2")).serial_number == \
        "SIM-BENCH-2"


async def test_every_sim_port_is_a_gun_of_its_own_unless_the_url_names_a_serial():
    serials = []
    for url in ("sim://", "sim://", "sim://?serial_number=SIM-KEPT-1"):
        driver, gun = open_driver(url)
        try:
            serials.append((await driver.connect()).serial_number)
        finally:
            await driver.close()
            await gun.aclose()
    assert serials[0] != serials[1] and serials[2] == "SIM-KEPT-1"


@pytest.mark.looptime(False)
def test_two_sim_sessions_on_one_record_are_two_guns_not_one_rebooted(tmp_path):
    # With one serial for every sim://, the second session's gun looked like the first one
    # rebooted: a gap was recorded, and the first gun's calibrations applied to the second.
    db = str(tmp_path / "record.db")
    run = ["run", *CHECKLIST, "--port", "sim://", "--preset", "pinpoint", "--zone", "back", "--needle",
           "30g-6mm", "--shots", "2", "--json", "--db", db]
    first, second = json.loads(run_cli(*run).stdout), json.loads(run_cli(*run).stdout)
    assert first["serial_number"] != second["serial_number"]
    shown = json.loads(run_cli("session", "show", str(second["session_id"]), "--json", "--db",
                               db).stdout)
    assert shown["gaps"] == []


def test_a_ready_file_where_it_cannot_be_written_is_refused_before_anything_is_served(
        tmp_path, capsys):
    for path, problem in ((tmp_path / "missing" / "sim.json", "does not exist"),
                          (tmp_path, "is there and is not a regular file")):
        assert main(["sim", "--serial", "--ready-file", str(path)]) == 3
        out, err = capsys.readouterr()
        assert out == "" and err.count("\n") == 1
        assert err.startswith("injector: error: --ready-file /") and problem in err
    assert list(tmp_path.iterdir()) == []


def wait_until_ready(stream) -> list[str]:
    """The simulator's standard error up to its last line, which it prints once ready."""
    lines = []
    for line in stream:
        lines.append(line)
        if line.startswith("stop it with"):
            return lines
    raise AssertionError(f"the simulator ended before it was ready: {lines}")


@pytest.mark.looptime(False)
def test_the_ready_file_names_every_port_and_goes_when_sigterm_stops_it(tmp_path):
    ready = tmp_path / "sim.json"
    sim = subprocess.Popen([sys.executable, "-m", "injector", "sim", "--serial", "--modbus-tcp",
                            "0", "--modbus-rtu", "--balance", "--gauge", "--ready-file",
                            str(ready)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, cwd=REPO)
    try:
        said = wait_until_ready(sim.stderr)
        ports = json.loads(ready.read_text())
        validate(ports, "sim-ready")
        assert ports["pid"] == sim.pid
        assert f"stop it with Ctrl-C or SIGTERM (kill {sim.pid})\n" == said[-1]
        for url in (ports["serial"], ports["modbus_tcp"], ports["modbus_rtu"]):
            status = run_cli("status", "--port", url, "--json")
            assert status.returncode == 0, (url, status.stderr)
            assert json.loads(status.stdout)["serial_number"] == ports["serial_number"]
        printed = [sim.stdout.readline().strip() for _ in range(5)]
        assert printed == [ports["serial"], ports["modbus_rtu"].split("://")[1].split("?")[0],
                           ports["modbus_tcp"].split("://")[1], ports["balance"],
                           ports["gauge"]]
        assert [p.name for p in tmp_path.iterdir()] == ["sim.json"]   # no temporary left
    finally:
        sim.send_signal(signal.SIGTERM)
        code = sim.wait(timeout=10)
    assert code == 0 and "Traceback" not in sim.stderr.read()
    assert not ready.exists()
    host, _, port = ports["modbus_tcp"].split("://")[1].rpartition(":")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((host, int(port)), timeout=5).close()


@pytest.mark.looptime(False)
def test_ctrl_c_stops_it_as_a_background_job_of_a_script(tmp_path):
    # A non-interactive shell starts a background job with SIGINT ignored; the simulator
    # takes SIGINT back, so the Ctrl-C its last line offers really stops it.
    ready = tmp_path / "sim.json"
    script = (f"{SIM} --serial --ready-file {ready} &\n"
              "wait $!\n"
              "echo \"sim exited $?\"\n")
    shell = subprocess.Popen(["sh", "-c", script], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        wait_until_ready(shell.stderr)
        pid = json.loads(ready.read_text())["pid"]
        with open(f"/proc/{pid}/status") as status:
            caught = next(int(line.split()[1], 16) for line in status
                          if line.startswith("SigCgt:"))
        assert caught & (1 << (signal.SIGINT - 1))
        os.kill(pid, signal.SIGINT)
        out, err = shell.communicate(timeout=10)
    finally:
        if shell.poll() is None:
            shell.kill()
    assert out.splitlines()[-1] == "sim exited 0"
    assert not ready.exists() and "Traceback" not in err
