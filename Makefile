# One command per task. Everything runs from a local virtualenv that these targets create.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
CONFIG ?= config/monitor.toml

.PHONY: run once check-config test lint types pytest bench clean

$(BIN)/monitor: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

## run the daemon on the example config (SQLite under ./data/)
run: $(BIN)/monitor
	$(BIN)/monitor run --config $(CONFIG)

## poll every feed once, deliver, exit
once: $(BIN)/monitor
	$(BIN)/monitor once --config $(CONFIG)

check-config: $(BIN)/monitor
	$(BIN)/monitor check --config $(CONFIG)

## every check: lint, types, tests (what CI runs)
test: lint types pytest

lint: $(BIN)/monitor
	$(BIN)/ruff check monitor tests $(wildcard bench)
	$(BIN)/ruff format --check monitor tests $(wildcard bench)

types: $(BIN)/monitor
	$(BIN)/mypy

pytest: $(BIN)/monitor
	$(BIN)/pytest -q

bench: $(BIN)/monitor
	@for script in bench/*.py; do echo "== $$script"; $(BIN)/python $$script; done

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
