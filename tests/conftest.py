"""Shared fixtures: an isolated Airflow home, a DuckDB warehouse (`warehouse`) and one of each engine
(`wh`, tests/warehouses.py), and the checks that skip a test (or fail it in CI) when what it needs is missing."""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

# Airflow reads its configuration on first import: point it at a throw-away home first.
_AIRFLOW_HOME = tempfile.mkdtemp(prefix="rudder-sessions-airflow-")
os.environ["AIRFLOW_HOME"] = _AIRFLOW_HOME
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")

import pytest  # noqa: E402

from warehouses import ROOT, DuckDBWarehouse  # noqa: E402

os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "dags")


@pytest.fixture
def warehouse(tmp_path: Path) -> DuckDBWarehouse:
    """A fresh DuckDB database file (`warehouse.path`), with the default schemas."""
    return DuckDBWarehouse(tmp_path / "warehouse.duckdb")


def assert_rows_equal(actual: list[dict], expected: list[dict], table: str) -> None:
    """Row-for-row equality on the expected columns (extras are allowed); floats to 1e-9 relative."""
    assert len(actual) == len(expected), f"{table}: {len(actual)} rows, expected {len(expected)}"
    for index, (got, want) in enumerate(zip(actual, expected, strict=True)):
        assert set(want) <= set(got), f"{table}: columns {sorted(got)} lack {sorted(set(want) - set(got))}"
        for column, value in want.items():
            other = got[column]
            if isinstance(value, float) and isinstance(other, float):
                ok = math.isclose(other, value, rel_tol=1e-9, abs_tol=1e-12)
            else:
                ok = other == value
            assert ok, f"{table} row {index} ({want}): {column} = {other!r}, expected {value!r}"


ENGINES = ["duckdb", "postgres", "snowflake", "bigquery"]


def require(reason: str | None, what: str) -> None:
    """Skip the calling test when `reason` says why `what` is missing; in CI, fail it instead."""
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI=true: {what} tests must run)")
        pytest.skip(reason)


def require_extra(module: str, extra: str) -> None:
    """Skip the calling test when the package's `extra` is absent from an install that left it out
    on purpose (the lowest-versions job names its extras in RUDDER_SESSIONS_EXTRAS); anywhere else a
    missing provider is a broken install, which `require` fails in CI."""
    import importlib.util

    try:
        present = importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        present = False
    if present:
        return
    chosen = os.environ.get("RUDDER_SESSIONS_EXTRAS")
    if chosen is not None and extra not in chosen.split(","):
        pytest.skip(f"the {extra} extra is not installed (RUDDER_SESSIONS_EXTRAS={chosen})")
    require(f"{module} is not installed (extra {extra})", f"the {extra} extra's")


def require_postgres() -> None:
    from warehouses import postgres_available

    require(postgres_available(), "PostgreSQL")


def require_bigquery_emulator() -> None:
    from bigquery_emulator import emulator_available

    require(emulator_available(), "BigQuery emulator")


@pytest.fixture(params=ENGINES)
def wh(request, tmp_path):
    """A warehouse of each engine; PostgreSQL and BigQuery tests skip without their server (and
    emulator), and fail in CI."""
    from warehouses import BigQueryWarehouse, PostgresWarehouse, SnowflakeWarehouse

    if request.param == "postgres":
        require_postgres()
        warehouse = PostgresWarehouse()
    elif request.param == "bigquery":
        require_bigquery_emulator()
        warehouse = BigQueryWarehouse()
    elif request.param == "snowflake":
        warehouse = SnowflakeWarehouse()
    else:
        warehouse = DuckDBWarehouse(tmp_path / "warehouse.duckdb")
    yield warehouse
    warehouse.close()
