# Two commands on a fresh clone: `make run` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test bench chaos campaign install clean header firmware tools

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall whenever the package's metadata changes.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# The main job, no hardware: a simulated gun, a recorded nappage session, its picture.
run: $(STAMP)
	$(BIN)/injector demo

# System packages the tests need (mbpoll, socat, cc, chromium): apt-installed when missing.
tools:
	.ci/system-tools

test: $(STAMP) tools
	$(BIN)/python -m pytest -n auto

# The reliability suite at full size (CI runs its short size inside `make test`).
chaos: $(STAMP)
	INJECTOR_CHAOS=full $(BIN)/python -m pytest -n auto tests/test_chaos.py --durations=0

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

# A dose-accuracy campaign on three simulated guns (docs/calibration.md shows its table).
campaign: $(STAMP)
	$(BIN)/python bench/calibration_campaign.py

# The firmware kit: the C header and the doc's byte examples as C arrays, rendered from the
# wire definitions (a test fails while the committed files are stale), and the C test.
header: $(STAMP)
	$(BIN)/python -m drivers.c_header -o firmware/injector_protocol.h
	$(BIN)/python -m tests.wire.c_examples -o firmware/protocol_examples.h

firmware:
	$(MAKE) -C firmware test

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis firmware/test_protocol
