"""The test harness: one `Warehouse` per engine (DuckDB, PostgreSQL, Snowflake, BigQuery) behind one
interface, and the checkout's paths.

Each warehouse has its own database objects: a DuckDB file, a fresh pair of schemas on the
PostgreSQL server or in fakesnow, a fresh pair of datasets on the BigQuery emulator. The pipeline
runs through the real Airflow hook of each engine (`runner`). Every warehouse offers:

- `config(**overrides)`: a SourceConfig on its connection and schemas;
- `runner(config)`: a SessionRunner on it;
- `load_source(rows, append=False, aware=False)`: write rows (tests/rows.py) as the source table;
- `query(sql, params)`: rows as dicts (column names lower-case);
- `tables(schema)`: the names of the tables in a schema;
- `snapshot(config)`: every published table exactly, to compare before and after;
- `source_rows()`, `read_tables(config)`: the source and the five published tables as dicts;
- `assert_matches_spec(config)`: the five tables equal the SPEC.md model of the whole source;
- `reset()`, `close()` (also as a context manager).

Only the standard library, duckdb, pyarrow and the package are imported here at import time: the
other engines' clients (psycopg2, fakesnow, google-cloud-bigquery) when a warehouse of theirs is made.
"""

from __future__ import annotations

import importlib.util
import json
import multiprocessing
import os
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from rudder_sessions.config import SourceConfig
from rudder_sessions.engine import SessionRunner
from rudder_sessions.model import STEPS, table, target_table_name

if TYPE_CHECKING:
    from bigquery_emulator import Emulator

ROOT = Path(__file__).resolve().parents[1]
POSTGRES_URI = os.environ.get("RUDDER_SESSIONS_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")

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
AWARE_SOURCE_SCHEMA = pa.schema(
    [f if f.type != pa.timestamp("us") else pa.field(f.name, pa.timestamp("us", tz="UTC")) for f in SOURCE_SCHEMA]
)
COLUMNS = SOURCE_SCHEMA.names
STATE_TABLE = "rudder_sessions_state"


def make_config(**overrides: Any) -> SourceConfig:
    """A SourceConfig on no warehouse in particular (the default schemas, connection `unused`)."""
    settings: dict[str, Any] = {
        "name": "test",
        "conn_id": "unused",
        "source_schema": "rudderstack",
        "target_schema": "sessions",
    }
    settings.update(overrides)
    return SourceConfig(**settings)


def by_key(step: str, rows: Iterable[Mapping[str, Any]]) -> list:
    """Rows of a table sorted by its declared key, to compare tables row for row."""
    key = table(step).key
    return sorted(rows, key=lambda row: tuple(row[column] for column in key))


def published_names(config: SourceConfig) -> list[str]:
    """The tables a snapshot holds: the five published ones and the state."""
    return [target_table_name(config, s) for s in STEPS] + [STATE_TABLE]


def _naive_utc(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def _rows(cursor: Any) -> list[dict]:
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


class Warehouse:
    """What every engine's test warehouse offers (the module doc); the subclasses load and query."""

    name = "base"
    conn_id = "unused"
    source_schema = "rudderstack"
    target_schema = "sessions"

    def config(self, **overrides: Any) -> SourceConfig:
        return make_config(
            **{
                "conn_id": self.conn_id,
                "source_schema": self.source_schema,
                "target_schema": self.target_schema,
                **overrides,
            }
        )

    def runner(self, config: SourceConfig) -> SessionRunner:
        return SessionRunner.connect(config)

    def load_source(self, rows: Iterable[Mapping[str, Any]], append: bool = False, aware: bool = False) -> None:
        """Write rows as the source tracks table (or append them, as a new load would); `aware` makes
        the timestamp columns time-zone aware where the engine has such a type."""
        raise NotImplementedError

    def query(self, sql: str, params: list | None = None) -> list[dict]:
        raise NotImplementedError

    def tables(self, schema: str) -> set[str]:
        raise NotImplementedError

    def snapshot(self, config: SourceConfig) -> dict[str, list[tuple]]:
        """Every published table that exists, exactly (rows in a fixed order), to compare before and after."""
        existing = self.tables(config.target_schema)
        return {
            name: sorted(
                (tuple(r.values()) for r in self.query(f'SELECT * FROM "{config.target_schema}"."{name}"')), key=repr
            )
            for name in published_names(config)
            if name in existing
        }

    def source_rows(self) -> list[dict]:
        """The source as the model reads it (time-zone-aware timestamps as UTC without a zone)."""
        columns = ", ".join(f'"{c}"' for c in COLUMNS)
        rows = self.query(f"SELECT {columns} FROM {self.source_schema}.tracks")
        return [{k: _naive_utc(v) for k, v in row.items()} for row in rows]

    def read_tables(self, config: SourceConfig) -> dict[str, list[dict]]:
        """The five published tables, rows as dicts sorted by natural key."""
        result = {}
        for step in STEPS:
            rows = self.query(f'SELECT * FROM {config.target_schema}."{target_table_name(config, step)}"')
            result[step] = by_key(step, rows)
        return result

    def assert_matches_spec(self, config: SourceConfig) -> dict[str, list[dict]]:
        """The five published tables equal the SPEC.md model over the whole current source."""
        from conftest import assert_rows_equal
        from spec_model import compute

        expected = compute(self.source_rows(), config.timeout_minutes, config.flow_length)
        actual = self.read_tables(config)
        for step in STEPS:
            assert_rows_equal(actual[step], expected.tables[step], step)
        return actual

    def reset(self) -> None:
        """Drop what this warehouse made (its source and target)."""

    def close(self) -> None:
        pass

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- DuckDB ---------------------------------------------------------------------------------------


class DuckDBWarehouse(Warehouse):
    """A DuckDB database file; `read_only` opens it so for reads (e.g. while Airflow owns the file)."""

    name = "duckdb"

    def __init__(
        self,
        path: Path,
        source_schema: str = "rudderstack",
        target_schema: str = "sessions",
        read_only: bool = False,
    ) -> None:
        self.path = Path(path)
        self.source_schema, self.target_schema = source_schema, target_schema
        self.read_only = read_only

    def connect(self, read_only: bool | None = None) -> duckdb.DuckDBPyConnection:
        """A connection of its own to the file (close it, e.g. with `with`)."""
        return duckdb.connect(str(self.path), read_only=self.read_only if read_only is None else read_only)

    def runner(self, config: SourceConfig) -> SessionRunner:
        from airflow.providers.duckdb.hooks.duckdb import DuckDBHook

        from rudder_sessions.dialects import DuckDBDialect

        return SessionRunner(config, DuckDBHook(database=str(self.path)), DuckDBDialect())

    def load_source(
        self,
        rows: Iterable[Mapping[str, Any]],
        append: bool = False,
        aware: bool = False,
        schema: str | None = None,
    ) -> None:
        """Also into another `schema` than the source's, e.g. a second source in the same file."""
        schema = schema or self.source_schema
        arrow_schema = AWARE_SOURCE_SCHEMA if aware else SOURCE_SCHEMA
        data = pa.Table.from_pylist([{k: r.get(k) for k in COLUMNS} for r in rows], arrow_schema)
        with self.connect(read_only=False) as conn:
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            conn.register("source_rows", data)
            if append:
                conn.execute(f"INSERT INTO {schema}.tracks BY NAME SELECT * FROM source_rows")
            else:
                conn.execute(f"CREATE OR REPLACE TABLE {schema}.tracks AS SELECT * FROM source_rows")

    def query(self, sql: str, params: list | None = None) -> list[dict]:
        with self.connect() as conn:
            cursor = conn.execute(sql, params or [])
            return _rows(cursor) if cursor.description else []

    def tables(self, schema: str) -> set[str]:
        with self.connect(read_only=True) as conn:
            rows = conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = ?", [schema]
            ).fetchall()
        return {r[0] for r in rows}

    def snapshot(self, config: SourceConfig) -> dict[str, list[tuple]]:
        result = {}
        with self.connect(read_only=True) as conn:
            existing = {
                r[0]
                for r in conn.execute(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = ?", [config.target_schema]
                ).fetchall()
            }
            for name in published_names(config):
                if name in existing:
                    result[name] = conn.execute(
                        f'SELECT * FROM "{config.target_schema}"."{name}" ORDER BY ALL'
                    ).fetchall()
        return result

    def reset(self) -> None:
        self.path.unlink(missing_ok=True)


# -- PostgreSQL -----------------------------------------------------------------------------------


def postgres_available() -> str | None:
    """None when the server answers, else why not."""
    try:
        import psycopg2

        psycopg2.connect(POSTGRES_URI, connect_timeout=3).close()
    except Exception as exc:
        return f"PostgreSQL at {POSTGRES_URI} is not reachable: {str(exc).strip().splitlines()[0]}"
    return None


class PostgresWarehouse(Warehouse):
    """A fresh pair of schemas on the server at POSTGRES_URI, and an Airflow connection to it."""

    name = "postgres"

    def __init__(self) -> None:
        import psycopg2

        self.conn = psycopg2.connect(POSTGRES_URI)
        self.conn.autocommit = True
        suffix = uuid.uuid4().hex[:10]
        self.source_schema, self.target_schema = f"rs_src_{suffix}", f"rs_out_{suffix}"
        self.conn_id = f"rs_pg_{suffix}"
        os.environ[f"AIRFLOW_CONN_{self.conn_id.upper()}"] = json.dumps(
            {"conn_type": "postgres", "host": "127.0.0.1", "port": 5432, "login": "postgres", "schema": "test"}
        )

    def load_source(self, rows: Iterable[Mapping[str, Any]], append: bool = False, aware: bool = False) -> None:
        from psycopg2.extras import execute_values

        kind = "TIMESTAMPTZ" if aware else "TIMESTAMP"
        with self.conn.cursor() as cur:
            if not append:
                cur.execute(f"DROP SCHEMA IF EXISTS {self.source_schema} CASCADE")
                cur.execute(f"CREATE SCHEMA {self.source_schema}")
                cur.execute(
                    f"CREATE TABLE {self.source_schema}.tracks (id TEXT, anonymous_id TEXT, user_id TEXT, "
                    f"event TEXT, timestamp {kind}, received_at {kind})"
                )
            values = [tuple(r.get(c) for c in COLUMNS) for r in rows]
            if values:
                execute_values(cur, f"INSERT INTO {self.source_schema}.tracks ({', '.join(COLUMNS)}) VALUES %s", values)

    def query(self, sql: str, params: list | None = None) -> list[dict]:
        with self.conn.cursor() as cur:
            cur.execute(sql, params)
            return _rows(cur) if cur.description else []

    def tables(self, schema: str) -> set[str]:
        rows = self.query("SELECT table_name FROM information_schema.tables WHERE table_schema = %s", [schema])
        return {r["table_name"] for r in rows}

    def reset(self) -> None:
        with self.conn.cursor() as cur:
            cur.execute(f"DROP SCHEMA IF EXISTS {self.source_schema} CASCADE")
            cur.execute(f"DROP SCHEMA IF EXISTS {self.target_schema} CASCADE")

    def close(self) -> None:
        self.reset()
        self.conn.close()
        os.environ.pop(f"AIRFLOW_CONN_{self.conn_id.upper()}", None)


# -- Snowflake ------------------------------------------------------------------------------------


class SnowflakeWarehouse(Warehouse):
    """Snowflake emulated by fakesnow (over DuckDB), reached through the real SnowflakeHook."""

    name = "snowflake"

    def __init__(self) -> None:
        import fakesnow

        from snowflake_rules import snowflake_transaction_rules

        self._patch = fakesnow.patch()
        self._patch.__enter__()
        # DDL commits an open transaction, as on Snowflake (fakesnow does so only with AUTOCOMMIT off).
        self._rules = snowflake_transaction_rules()
        self._rules.__enter__()
        suffix = uuid.uuid4().hex[:10]
        self.conn_id = f"rs_sf_{suffix}"
        os.environ[f"AIRFLOW_CONN_{self.conn_id.upper()}"] = json.dumps(
            {
                "conn_type": "snowflake",
                "login": "tester",
                "password": "unused",
                "schema": "PUBLIC",
                "extra": {"account": "fake", "database": "RS_TEST", "warehouse": "WH", "role": "R"},
            }
        )

    def _connect(self):
        import snowflake.connector

        return snowflake.connector.connect(database="RS_TEST", schema="PUBLIC")

    def load_source(self, rows: Iterable[Mapping[str, Any]], append: bool = False, aware: bool = False) -> None:
        """Always TIMESTAMP_NTZ columns: `aware` is not offered on fakesnow."""
        if aware:
            raise NotImplementedError("SnowflakeWarehouse loads TIMESTAMP_NTZ columns only")
        with self._connect() as conn, conn.cursor() as cur:
            if not append:
                cur.execute(f"CREATE SCHEMA IF NOT EXISTS {self.source_schema}")
                cur.execute(
                    f"CREATE OR REPLACE TABLE {self.source_schema}.tracks (id VARCHAR, anonymous_id VARCHAR, "
                    "user_id VARCHAR, event VARCHAR, timestamp TIMESTAMP_NTZ, received_at TIMESTAMP_NTZ)"
                )
            rows = list(rows)
            if rows:
                import pandas as pd
                from snowflake.connector.pandas_tools import write_pandas

                frame = pd.DataFrame([{c.upper(): r.get(c) for c in COLUMNS} for r in rows])
                for column in ("TIMESTAMP", "RECEIVED_AT"):
                    frame[column] = pd.to_datetime(frame[column])
                write_pandas(conn, frame, "TRACKS", schema=self.source_schema.upper(), database="RS_TEST")

    def query(self, sql: str, params: list | None = None) -> list[dict]:
        with self._connect() as conn, conn.cursor() as cur:
            cur.execute(sql.replace('"', ""), params)
            if not cur.description:
                return []
            names = [d[0].lower() for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def tables(self, schema: str) -> set[str]:
        rows = self.query("SELECT table_name FROM information_schema.tables WHERE table_schema = %s", [schema.upper()])
        return {r["table_name"].lower() for r in rows}

    def snapshot(self, config: SourceConfig) -> dict[str, list[tuple]]:
        """Every published table and the state, which must all exist."""
        return {
            name: sorted(
                (tuple(r.values()) for r in self.query(f"SELECT * FROM {config.target_schema}.{name}")), key=repr
            )
            for name in published_names(config)
        }

    def reset(self) -> None:
        with self._connect() as conn, conn.cursor() as cur:
            cur.execute(f"DROP SCHEMA IF EXISTS {self.source_schema} CASCADE")
            cur.execute(f"DROP SCHEMA IF EXISTS {self.target_schema} CASCADE")

    def close(self) -> None:
        self._rules.__exit__(None, None, None)
        self._patch.__exit__(None, None, None)
        os.environ.pop(f"AIRFLOW_CONN_{self.conn_id.upper()}", None)


# -- BigQuery -------------------------------------------------------------------------------------

_QUOTED = re.compile(r'"([A-Za-z_][A-Za-z0-9_]*)"')
LOAD_BATCH = 500  # rows per INSERT of BigQueryWarehouse.load_source


def _utc(value: Any) -> Any:
    return value.replace(tzinfo=UTC) if isinstance(value, datetime) and value.tzinfo is None else value


def _parameter(value: Any):
    from google.cloud import bigquery

    if isinstance(value, bool):
        kind = "BOOL"
    elif isinstance(value, int):
        kind = "INT64"
    elif isinstance(value, float):
        kind = "FLOAT64"
    elif isinstance(value, datetime):
        kind, value = "TIMESTAMP", _utc(value)
    elif isinstance(value, date):
        kind = "DATE"
    else:
        kind = "STRING"
    return bigquery.ScalarQueryParameter(None, kind, value)


class BigQueryWarehouse(Warehouse):
    """The BigQuery emulator (tests/bigquery_emulator) as a test warehouse: fresh datasets, the
    pipeline through the real BigQueryHook; loads and reads go through google-cloud-bigquery."""

    name = "bigquery"

    def __init__(self, emulator: Emulator | None = None, location: str | None = None) -> None:
        from bigquery_emulator import DEFAULT_LOCATION, shared_emulator

        self.emulator = emulator or shared_emulator()
        self.location = location or DEFAULT_LOCATION
        suffix = uuid.uuid4().hex[:10]
        self.source_schema, self.target_schema = f"rs_src_{suffix}", f"rs_out_{suffix}"
        self.conn_id = f"rs_bq_{suffix}"
        self.emulator.set_connection(self.conn_id, self.location)
        self.client = self.emulator.client()

    def hook(self):
        """The real BigQueryHook of this warehouse's connection."""
        from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook

        return BigQueryHook(gcp_conn_id=self.conn_id)

    def create_dataset(self, dataset: str) -> None:
        from google.cloud import bigquery

        ref = bigquery.Dataset(f"{self.emulator.project}.{dataset}")
        ref.location = self.location
        self.client.create_dataset(ref, exists_ok=True)

    def load_source(self, rows: Iterable[Mapping[str, Any]], append: bool = False, aware: bool = False) -> None:
        """BigQuery has one TIMESTAMP type, an instant: naive values are taken as UTC, aware ones
        converted (`aware` changes nothing)."""
        from google.cloud import bigquery

        table_id = f"{self.emulator.project}.{self.source_schema}.tracks"
        schema = [bigquery.SchemaField(c, "STRING") for c in COLUMNS[:4]] + [
            bigquery.SchemaField(c, "TIMESTAMP") for c in COLUMNS[4:]
        ]
        if not append:
            self.create_dataset(self.source_schema)
            self.client.delete_table(table_id, not_found_ok=True)
            self.client.create_table(bigquery.Table(table_id, schema=schema))
        records = [tuple(_naive_utc(row.get(c)) for c in COLUMNS) for row in rows]
        # A parameterized INSERT, not a load job: bqemulator refuses the client's multipart upload
        # ("second part has unsupported Content-Type '*/*'").
        for start in range(0, len(records), LOAD_BATCH):
            batch = records[start : start + LOAD_BATCH]
            values = ", ".join(["(?, ?, ?, ?, ?, ?)"] * len(batch))
            parameters = [
                bigquery.ScalarQueryParameter(None, "STRING" if i < 4 else "TIMESTAMP", _utc(value))
                for row in batch
                for i, value in enumerate(row)
            ]
            self.client.query(
                f"INSERT INTO `{self.source_schema}`.tracks ({', '.join(COLUMNS)}) VALUES {values}",
                job_config=bigquery.QueryJobConfig(query_parameters=parameters),
            ).result()

    def query(self, sql: str, params: list | None = None) -> list[dict]:
        """Rows as dicts (names lower-case, TIMESTAMPs naive UTC). `"name"` becomes `` `name` ``
        (the shared helpers quote the ANSI way; a double-quoted token is a string in GoogleSQL) and
        `%s` a positional parameter."""
        from google.cloud import bigquery

        sql = _QUOTED.sub(r"`\1`", sql).replace("%s", "?")
        config = bigquery.QueryJobConfig(query_parameters=[_parameter(p) for p in params or []])
        result = self.client.query(sql, job_config=config).result()
        names = [f.name.lower() for f in result.schema or []]
        return [{n: _naive_utc(v) for n, v in zip(names, row.values(), strict=True)} for row in result]

    def tables(self, schema: str) -> set[str]:
        return {t.table_id for t in self.client.list_tables(schema)} if self._exists(schema) else set()

    def _exists(self, dataset: str) -> bool:
        from google.api_core.exceptions import NotFound

        try:
            self.client.get_dataset(dataset)
        except NotFound:
            return False
        return True

    def snapshot(self, config: SourceConfig) -> dict[str, list[tuple]]:
        existing = self.tables(config.target_schema)
        rows = {
            n: self.query(f"SELECT * FROM `{config.target_schema}`.`{n}`")
            for n in published_names(config)
            if n in existing
        }
        return {n: sorted((tuple(r.values()) for r in found), key=repr) for n, found in rows.items()}

    def reset(self) -> None:
        for dataset in (self.source_schema, self.target_schema):
            self.client.delete_dataset(dataset, delete_contents=True, not_found_ok=True)

    def close(self) -> None:
        try:
            if self.emulator.alive():
                self.reset()
        finally:
            os.environ.pop(f"AIRFLOW_CONN_{self.conn_id.upper()}", None)


# -- runs on any warehouse ------------------------------------------------------------------------


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


def benchmark_harness() -> ModuleType:
    """`benchmarks/run.py` as a module (it is a script, not part of the package)."""
    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "benchmarks" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def assert_killed_run_changes_nothing(
    warehouse: Warehouse, config: SourceConfig, target: Callable[..., None], args: tuple, timeout: float
) -> None:
    """`target(*args)`, run in a forked child that kills itself (exit 9) partway through a run,
    leaves the published tables as they were; the next incremental run converges to the SPEC model."""
    before = warehouse.snapshot(config)
    process = multiprocessing.get_context("fork").Process(target=target, args=args)
    process.start()
    process.join(timeout)
    assert process.exitcode == 9
    assert warehouse.snapshot(config) == before
    summary = warehouse.runner(config).run("next", "incremental")
    assert summary["mode"] == "incremental"
    warehouse.assert_matches_spec(config)
