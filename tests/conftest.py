"""Shared fixtures: an isolated Airflow home, a DuckDB warehouse (`warehouse`) and one of each engine
(`wh`, tests/warehouses.py), and the checks that skip a test (or fail it in CI) when what it needs is
missing. The suite is two trees: tests/unit (DuckDB only: no servers, emulators or Airflow task runs,
and none of the other engines' clients imported) and tests/integration; collection holds tests/unit
to that."""

from __future__ import annotations

import math
import os
import sys
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

UNIT = Path(__file__).resolve().parent / "unit"
# What tests/unit never needs: the markers of the slower lanes, and the clients of the other engines.
NOT_UNIT_MARKS = ("postgres", "stack", "airflow")
NOT_UNIT_MODULES = (
    "fakesnow",
    "snowflake.connector",
    "airflow.providers.snowflake",
    "zetasql",
    "googlesql",
    "google.cloud.bigquery",
    "google.api_core",
    "airflow.providers.google",
)


def _in_unit(item: pytest.Item) -> bool:
    return UNIT in Path(item.path).resolve().parents


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    marked = [f"{i.nodeid} ({m})" for i in items if _in_unit(i) for m in NOT_UNIT_MARKS if i.get_closest_marker(m)]
    if marked:
        raise pytest.UsageError(
            f"tests/unit holds tests of the slower lanes (move them to tests/integration): {marked}"
        )


def pytest_collection_finish(session: pytest.Session) -> None:
    """Collecting tests/unit alone imports no other engine's client (the lowest-versions job has none)."""
    if not session.items or not all(_in_unit(i) for i in session.items):
        return
    loaded = [p for p in NOT_UNIT_MODULES if any(m == p or m.startswith(f"{p}.") for m in sys.modules)]
    if loaded:
        raise pytest.UsageError(f"collecting tests/unit imported {loaded}: such tests belong in tests/integration")


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
