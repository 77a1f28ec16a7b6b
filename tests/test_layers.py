"""The layering of docs and GUIDE.md: the core (drivers, profiles, simulator, injector's own
modules) knows nothing of its front ends, and the service is built on the core, not on the
command line. Each checked in a fresh interpreter, by what importing a layer loads."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import pytest

import drivers
import injector
import injector.service
import profiles
import simulator
from tests.conftest import REPO


def _modules(package, skip: tuple[str, ...] = ()) -> list[str]:
    return sorted(m.name for m in pkgutil.walk_packages(package.__path__, package.__name__ + ".")
                  if not m.name.startswith(skip))


def _loaded_after_importing(modules: list[str], prefixes: tuple[str, ...]) -> list[str]:
    code = ("import importlib, json, sys\n"
            f"for name in {modules!r}: importlib.import_module(name)\n"
            f"print(json.dumps(sorted(m for m in sys.modules if m.startswith({prefixes!r}))))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


CORE = (_modules(drivers) + _modules(profiles) + _modules(simulator)
        + _modules(injector, skip=("injector.cli", "injector.service", "injector.__main__",
                                   "injector.testing")))


@pytest.mark.parametrize("layer, modules, forbidden", [
    ("the core", CORE, ("injector.cli", "injector.service")),
    ("the service", _modules(injector.service), ("injector.cli",)),
])
def test_a_layer_loads_nothing_above_it(layer, modules, forbidden):
    assert _loaded_after_importing(modules, forbidden) == [], layer
