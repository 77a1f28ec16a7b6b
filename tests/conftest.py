from __future__ import annotations

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
