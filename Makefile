# The two entry points of the README: `make demo` and `make test`. Both bootstrap .venv from the lock.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.8
export AIRFLOW_HOME ?= $(CURDIR)/.airflow
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
export AIRFLOW__CORE__PLUGINS_FOLDER := $(CURDIR)/plugins
export RUDDER_SESSIONS_CONFIG ?= $(CURDIR)/include/sources.yaml

.PHONY: install demo test test-unit test-lowest unit-tests lint lock clean golden standalone bench bqemulator

$(BIN)/uv:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet uv==$(UV_VERSION)

$(VENV)/.installed: $(BIN)/uv requirements.txt pyproject.toml
	$(BIN)/uv pip sync --quiet --compile-bytecode --python $(BIN)/python requirements.txt
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	@# The build's egg-info in the checkout would be a second rudder-sessions to anything started here
	@# (Airflow would then load its plugin twice); the install's own metadata is in the virtualenv.
	rm -rf rudder_sessions.egg-info
	touch $@

install: $(VENV)/.installed

# The BigQuery emulator the suite runs BigQuery's SQL on, in its own virtualenv (.bqemulator-venv,
# from tests/bigquery_emulator/requirements.txt): its pins differ from the project's.
bqemulator: install
	tests/bigquery_emulator/setup.sh

demo: install
	$(BIN)/python include/demo.py

# A local Airflow on the demo source (generated if missing): UI and REST API on http://127.0.0.1:8080
# (no login), scheduler, DAG processor and triggerer; Ctrl-C stops it. Its metadata lives in $(AIRFLOW_HOME).
standalone: install
	$(BIN)/python include/standalone.py

# The suite runs on one pytest-xdist worker per core, each test file on one worker (a file's
# fixtures are set up once); PYTEST_ARGS replaces that (e.g. PYTEST_ARGS="-x tests/unit/cli/test_cli.py").
PYTEST_ARGS ?= -n auto --dist loadfile
test: install bqemulator
	$(BIN)/ruff check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The benchmark (benchmarks/README.md): DuckDB at 1e6 and 1e7 events, PostgreSQL at 1e6; 4 to 13 minutes on 2 cores, by host.
# Writes benchmarks/results/<time>_<sizes>.json and time_vs_events.png; BENCH_ARGS replaces the sizes.
BENCH_ARGS ?= --sizes 1e6 1e7 --postgres-sizes 1e6
bench: install
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)

# The unit lane, tests/unit: the package with DuckDB only, no servers, no emulators, no Airflow task
# runs (under a minute); tests/integration holds the rest. The marks keep the slower lanes out should
# one slip in (collection refuses them in tests/unit anyway).
UNIT_TESTS := tests/unit
test-unit: install
	$(BIN)/python -m pytest -q -n auto $(UNIT_TESTS)

unit-tests:
	@echo $(UNIT_TESTS)

# The wheel with only its duckdb and demo extras, every dependency at its lower bound, on the lowest
# supported Airflow: the CLI, the demo DAG and the unit lane (.ci/lowest; CI runs it after `test`).
test-lowest: install
	.ci/lowest

lint: install
	$(BIN)/ruff check .

# Re-resolve the full lock from pyproject.toml (only when changing a dependency).
lock: $(BIN)/uv
	$(BIN)/uv pip compile pyproject.toml --extra test --extra bench --python-version 3.11 --quiet -o requirements.txt

clean:
	rm -rf $(VENV) .bqemulator-venv .airflow .demo build *.egg-info

# Rewrite tests/golden/ (the SQL each warehouse receives) after a deliberate change to the SQL.
golden: install
	$(BIN)/python tests/golden.py --write
