# The same targets for people, CI and hooks. Each installs what it needs into .venv.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: run test lint bench services clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## run: install, migrate the embedded SQLite database and serve the monolith on :8000
run: $(STAMP)
	$(VENV)/bin/carve run monolith

## test: install, make sure PostgreSQL and Redis are up, run every test
test: $(STAMP)
	tools/ci/services.sh
	$(VENV)/bin/ruff check .
	$(VENV)/bin/carve lint
	$(VENV)/bin/lint-imports --no-cache
	$(PY) -m pytest -n 2 $(PYTEST_ARGS)

## lint: style, the modules' boundaries, then the toolkit's own layers and cycles
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/carve lint
	$(VENV)/bin/lint-imports --no-cache

## bench: every benchmark in tools/bench with --quick (each under a minute), in turn
BENCHES := lint events dbsplit bindings gateway gateway_path engine_path
bench: $(STAMP)
	tools/ci/services.sh
	@for name in $(BENCHES); do \
		echo "== python tools/bench/$$name.py --quick"; \
		$(PY) tools/bench/$$name.py --quick || exit 1; \
	done

## services: start PostgreSQL and Redis when they are down
services:
	tools/ci/services.sh

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache carve.db carve.db-wal carve.db-shm
