from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from profiles import Catalog, load_catalog

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog()


def run_cli(*args: str, env: dict | None = None, timeout: float = 60.0,
            input: str | None = None) -> subprocess.CompletedProcess:
    """Run the installed command as a user would, capturing both streams."""
    return subprocess.run([sys.executable, "-m", "injector", *args], capture_output=True,
                          text=True, timeout=timeout, env=env, input=input, cwd=REPO)
