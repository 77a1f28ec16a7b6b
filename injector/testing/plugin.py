"""pytest fixtures for testing against a simulated gun, in this repository or any other:

- `injector_sim`: the port of a fresh simulated gun served on a pty by a thread of the test's
  process, in real time (as `injector sim --serial` serves it): for the command line, in
  this process or a child, and for synchronous code.
- `injector_sim_ports`: that gun's ports: serial, balance and gauge ptys, serial number.
- `injector_sim_memory`: the `sim://NAME` port of a fresh gun on the test's own event loop,
  reached in memory: it runs in the test's time, virtual under looptime, so a thousand shots
  take a moment. For async tests (pytest-asyncio).
- `injector_record`: the path of a fresh, empty record in tmp_path; $INJECTOR_DB names it for
  the test, so nothing a test runs writes to the user's own record.

Every gun has a serial number of its own. `@pytest.mark.injector_sim(fault="occlusion@3",
volume_gain=1.07, ...)` sets its options: any simulator parameter (simulator/gun.py).
The module imports the package only when a fixture is used: loading the plugin costs
nothing to a test run that does not.
"""

from __future__ import annotations

import gc
import inspect
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

try:
    import pytest_asyncio
except ImportError:                     # the in-memory gun needs it; the others do not
    pytest_asyncio = None

MARKER = "injector_sim"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARKER}(**options): options of the injector_sim fixtures' simulated "
                   "gun, any simulator parameter, e.g. fault='occlusion@3', volume_gain=1.07")


def gun_options(request: pytest.FixtureRequest):
    """The test's gun: its marker's options, checked, and a serial number of its own."""
    from simulator.gun import GunOptions, unique_serial

    marker = request.node.get_closest_marker(MARKER)
    if marker is not None and marker.args:
        pytest.fail(f"@pytest.mark.{MARKER} takes options by name, e.g. "
                    f"{MARKER}(fault='occlusion@3')", pytrace=False)
    return GunOptions.from_values(marker.kwargs if marker else {},
                                  serial_number=unique_serial())


def in_virtual_time(request: pytest.FixtureRequest) -> bool:
    """Whether the test is a coroutine that looptime runs in virtual time (its own rule:
    the --looptime flag, then the test's looptime markers, the nearest last)."""
    if not inspect.iscoroutinefunction(getattr(request, "function", None)):
        return False
    try:
        flag = request.config.getoption("looptime")
    except ValueError:                  # looptime is not installed
        return False
    markers = list(request.node.iter_markers("looptime"))
    enabled = bool((markers or flag is True) and flag is not False)
    for marker in reversed(markers):
        enabled = bool(marker.args[0]) if marker.args else enabled
    return enabled


@pytest.fixture
def injector_sim_ports(request: pytest.FixtureRequest):
    """The ports of a fresh simulated gun served on ptys by a thread, in real time."""
    if in_virtual_time(request):
        pytest.fail("injector_sim serves its gun in real time, and under looptime the "
                    "test's clock would run ahead of it: use injector_sim_memory in an async "
                    "test, or mark it @pytest.mark.looptime(False)", pytrace=False)
    from injector.testing.pty_gun import PtyGun
    from simulator.serve import Bridges

    gun = PtyGun(gun_options(request), Bridges(serial=True, balance=True, gauge=True))
    ports = gun.start()
    try:
        yield ports
    finally:
        gun.stop()


@pytest.fixture
def injector_sim(injector_sim_ports) -> str:
    """The serial port of a fresh simulated gun, as `--port` takes it."""
    return injector_sim_ports.serial


if pytest_asyncio is not None:
    @pytest_asyncio.fixture
    async def injector_sim_memory(request: pytest.FixtureRequest) -> AsyncIterator[str]:
        """`sim://NAME` of a fresh gun made on the test's loop at its first connection."""
        from injector.named_guns import NAMED_GUNS

        options = gun_options(request)
        url = NAMED_GUNS.add(options.serial_number, options)
        try:
            yield url
        finally:
            await NAMED_GUNS.remove(options.serial_number)
            # A session task the test left behind, failed and never awaited, is collected
            # here, its error logged in this test, not at a random later moment: CPython
            # 3.11.7 crashes pytest when that moment falls inside its assertion rewriting.
            gc.collect()


@pytest.fixture
def injector_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh record, made empty at the current version, named by $INJECTOR_DB."""
    from injector.store import Store

    path = tmp_path / "injector.db"
    Store(path).close()
    monkeypatch.setenv("INJECTOR_DB", str(path))
    return path


@pytest.fixture
def injector_checklist(tmp_path: Path) -> Path:
    """A pre-treatment checklist answered for a simulated patient (no contraindication, a new
    needle, a checked syringe), as the file `injector run --checklist` takes. In process,
    `injector.checklist.for_simulated_patient("CI")` is the same answers as a value."""
    import json

    from injector.checklist import QUESTIONS, Kind

    path = tmp_path / "checklist.json"
    path.write_text(json.dumps({"answered_by": "CI (a simulated patient)",
                                "answers": {q.id: q.kind is Kind.CHECK for q in QUESTIONS}}))
    return path
