"""Test helpers: load source rows into DuckDB, run the model, read the five tables back."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from rudder_sessions.config import SourceConfig
from rudder_sessions.dialects import DuckDBDialect
from rudder_sessions.engine import SessionRunner
from rudder_sessions.model import STEPS, table, target_table_name

ROOT = Path(__file__).resolve().parents[1]

SOURCE_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("anonymous_id", pa.string()),
        ("user_id", pa.string()),
        ("event", pa.string()),
        ("timestamp", pa.timestamp("us")),
        ("received_at", pa.timestamp("us")),
    ]
)


def by_key(step: str, rows: Iterable[Mapping[str, Any]]) -> list:
    """Rows of a table sorted by its declared key, to compare tables row for row."""
    key = table(step).key
    return sorted(rows, key=lambda row: tuple(row[column] for column in key))


AWARE_SOURCE_SCHEMA = pa.schema(
    [f if f.type != pa.timestamp("us") else pa.field(f.name, pa.timestamp("us", tz="UTC")) for f in SOURCE_SCHEMA]
)


def load_source(
    database: Path,
    rows: Iterable[Mapping[str, Any]],
    schema: str = "rudderstack",
    append: bool = False,
    aware: bool = False,
) -> None:
    """Write rows as the source tracks table (or append them, as a new load would); `aware` makes the
    timestamp columns TIMESTAMP WITH TIME ZONE."""
    arrow_schema = AWARE_SOURCE_SCHEMA if aware else SOURCE_SCHEMA
    table = pa.Table.from_pylist([{k: r.get(k) for k in SOURCE_SCHEMA.names} for r in rows], arrow_schema)
    with duckdb.connect(str(database)) as conn:
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        conn.register("source_rows", table)
        if append:
            conn.execute(f"INSERT INTO {schema}.tracks BY NAME SELECT * FROM source_rows")
        else:
            conn.execute(f"CREATE OR REPLACE TABLE {schema}.tracks AS SELECT * FROM source_rows")


def source_rows(database: Path, schema: str = "rudderstack") -> list[dict]:
    from warehouses import DuckDBWarehouse, source_rows

    warehouse = DuckDBWarehouse(database)
    warehouse.source_schema = schema
    return source_rows(warehouse)


def make_config(**overrides: Any) -> SourceConfig:
    settings: dict[str, Any] = {
        "name": "test",
        "conn_id": "unused",
        "source_schema": "rudderstack",
        "target_schema": "sessions",
    }
    settings.update(overrides)
    return SourceConfig(**settings)


def duckdb_runner(database: Path, config: SourceConfig) -> SessionRunner:
    from airflow.providers.duckdb.hooks.duckdb import DuckDBHook

    return SessionRunner(config, DuckDBHook(database=str(database)), DuckDBDialect())


def read_tables(database: Path, config: SourceConfig) -> dict[str, list[dict]]:
    """The five published tables, rows as dicts sorted by natural key."""
    from warehouses import DuckDBWarehouse, read_tables

    return read_tables(DuckDBWarehouse(database), config)


def table_names(database: Path, schema: str) -> set[str]:
    with duckdb.connect(str(database), read_only=True) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = ?", [schema]
        ).fetchall()
    return {r[0] for r in rows}


def assert_matches_spec(database: Path, config: SourceConfig) -> dict[str, list[dict]]:
    """The five published tables equal the SPEC.md model over the whole current source."""
    from warehouses import DuckDBWarehouse, assert_matches_spec

    warehouse = DuckDBWarehouse(database)
    warehouse.source_schema = config.source_schema
    return assert_matches_spec(warehouse, config)


def snapshot(database: Path, config: SourceConfig) -> dict[str, list[tuple]]:
    """Every published table, exactly, to compare before and after."""
    names = [target_table_name(config, s) for s in STEPS] + ["rudder_sessions_state"]
    result = {}
    with duckdb.connect(str(database), read_only=True) as conn:
        existing = {
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = ?", [config.target_schema]
            ).fetchall()
        }
        for name in names:
            if name in existing:
                result[name] = conn.execute(f'SELECT * FROM "{config.target_schema}"."{name}" ORDER BY ALL').fetchall()
    return result


def benchmark_harness() -> Any:
    """`benchmarks/run.py` as a module (it is a script, not part of the package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "benchmarks" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def publish_after_another(
    first: SessionRunner, second: SessionRunner, mode: str, published: Callable[[], Any]
) -> tuple[Any, Any]:
    """Two runs planned on one state version: the first runs through, the second stages and tries
    to publish, which must be refused. The published tables after the first run, and after the
    refusal (they must be equal)."""
    import pytest

    from rudder_sessions.errors import PublishConflict
    from rudder_sessions.model import PHASES, PUBLISH

    plan_a, plan_b = first.plan("run-a", mode), second.plan("run-b", mode)
    assert plan_a.state_version == plan_b.state_version
    for phase in PHASES:
        first.execute(phase, plan_a)
    after_first = published()
    for phase in PHASES[:-1]:
        second.execute(phase, plan_b)
    with pytest.raises(PublishConflict, match="another run published first"):
        second.execute(PUBLISH, plan_b)
    return after_first, published()
