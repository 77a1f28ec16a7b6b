# Two commands on a fresh clone: `make run` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test bench install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall whenever the package's metadata changes.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/injector presets
	@echo
	$(BIN)/injector plan --preset nappage-superficial --zone face --needle 32G-4mm --area-cm2 100

test: $(STAMP)
	$(BIN)/python -m pytest -n auto

bench: $(STAMP)
	$(BIN)/python bench/plan_bench.py
	$(BIN)/python bench/serial_bench.py
	$(BIN)/python bench/modbus_bench.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
