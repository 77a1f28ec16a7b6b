from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import pytest

from profiles import Catalog, load_catalog

REPO = Path(__file__).resolve().parents[1]
CHECKLIST = ["--checklist", str(REPO / "tests" / "data" / "checklist-clear.json")]
"""`injector run` needs the pre-treatment checklist answered: no contraindication."""


@pytest.fixture(autouse=True)
def _logs_in_a_temporary_file(tmp_path_factory, monkeypatch):
    """The command line logs to a file: the tests' logs go to a temporary one."""
    monkeypatch.setenv("INJECTOR_LOG", str(tmp_path_factory.getbasetemp() / "injector.log"))


@pytest.fixture(autouse=True)
def _repeatable_serials(monkeypatch):
    """A simulated gun draws a random serial, and its scatter (dose, depth, the balance) is
    seeded by that serial: a test that met a random gun would pass or fail by chance. Here
    each new gun in a test takes the next of a fixed sequence, in the same format, so every
    run repeats. (A CLI in a subprocess still draws its own.)"""
    numbers = itertools.count(1)

    def next_serial() -> str:
        return f"SIM-{next(numbers):08X}"

    for where in ("simulator.gun", "injector.ports", "injector.cli.sim_cmd"):
        monkeypatch.setattr(f"{where}.unique_serial", next_serial)


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog()


def read_shots(events, count: int) -> list[dict]:
    """The first `count` shot events of `injector run --events` output (an open stream)."""
    shots = []
    for line in events:
        event = json.loads(line)
        if event["type"] == "shot":
            shots.append(event)
            if len(shots) == count:
                return shots
    raise AssertionError(f"the run ended after {len(shots)} shot(s)")


def run_cli(*args: str, env: dict | None = None, timeout: float = 60.0,
            input: str | None = None) -> subprocess.CompletedProcess:
    """Run the installed command as a user would, capturing both streams."""
    return subprocess.run([sys.executable, "-m", "injector", *args], capture_output=True,
                          text=True, timeout=timeout, env=env, input=input, cwd=REPO)


@pytest.fixture(params=["serial-memory", "serial-pty", "modbus-tcp", "modbus-rtu"])
def bridge(request) -> str:
    """Every bridge the driver suite runs over, unchanged."""
    return request.param


@pytest.fixture
async def rig_factory():
    from tests.rig import make_rig

    rigs = []

    async def make(bridge: str, **options):
        rig = await make_rig(bridge, **options)
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        await rig.close()
