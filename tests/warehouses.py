"""The engines the semantic suite runs on, behind one small interface.

Each test gets its own database objects: a DuckDB file, or a fresh pair of schemas on the
PostgreSQL server. The pipeline runs through the real Airflow hook of each engine.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from pipeline import SOURCE_SCHEMA, by_key, load_source, snapshot
from rudder_sessions.config import SourceConfig
from rudder_sessions.engine import SessionRunner
from rudder_sessions.model import STEPS, target_table_name

POSTGRES_URI = os.environ.get("RUDDER_SESSIONS_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
COLUMNS = SOURCE_SCHEMA.names


def _rows(cursor) -> list[dict]:
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


class Warehouse:
    """What every engine's test warehouse offers (see the subclasses for loading and querying)."""

    name = "base"
    conn_id = "unused"
    source_schema = "rudderstack"
    target_schema = "sessions"

    def config(self, **overrides: Any) -> SourceConfig:
        settings = {
            "name": "test",
            "conn_id": self.conn_id,
            "source_schema": self.source_schema,
            "target_schema": self.target_schema,
            **overrides,
        }
        return SourceConfig(**settings)

    def runner(self, config: SourceConfig) -> SessionRunner:
        return SessionRunner.connect(config)


class DuckDBWarehouse(Warehouse):
    name = "duckdb"

    def __init__(self, path: Path) -> None:
        self.path = path

    def runner(self, config: SourceConfig) -> SessionRunner:
        from airflow.providers.duckdb.hooks.duckdb import DuckDBHook

        from rudder_sessions.dialects import DuckDBDialect

        return SessionRunner(config, DuckDBHook(database=str(self.path)), DuckDBDialect())

    def load_source(self, rows: Iterable[Mapping[str, Any]], append: bool = False, aware: bool = False) -> None:
        load_source(self.path, rows, self.source_schema, append=append, aware=aware)

    def query(self, sql: str, params: list | None = None) -> list[dict]:
        with duckdb.connect(str(self.path)) as conn:
            cursor = conn.execute(sql, params or [])
            return _rows(cursor) if cursor.description else []

    def snapshot(self, config: SourceConfig) -> dict:
        return snapshot(self.path, config)

    def reset(self) -> None:
        self.path.unlink(missing_ok=True)

    def close(self) -> None:
        pass


class PostgresWarehouse(Warehouse):
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

    def snapshot(self, config: SourceConfig) -> dict:
        names = [target_table_name(config, s) for s in STEPS] + ["rudder_sessions_state"]
        existing = {
            r["table_name"]
            for r in self.query(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", [config.target_schema]
            )
        }
        return {
            n: sorted(
                map(tuple, (r.values() for r in self.query(f'SELECT * FROM {config.target_schema}."{n}"'))), key=repr
            )
            for n in names
            if n in existing
        }

    def reset(self) -> None:
        with self.conn.cursor() as cur:
            cur.execute(f"DROP SCHEMA IF EXISTS {self.source_schema} CASCADE")
            cur.execute(f"DROP SCHEMA IF EXISTS {self.target_schema} CASCADE")

    def close(self) -> None:
        self.reset()
        self.conn.close()
        os.environ.pop(f"AIRFLOW_CONN_{self.conn_id.upper()}", None)


def _naive_utc(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def source_rows(wh) -> list[dict]:
    """The source as the model reads it (time-zone-aware timestamps as UTC without a zone)."""
    rows = wh.query(f"SELECT {', '.join(f'{chr(34)}{c}{chr(34)}' for c in COLUMNS)} FROM {wh.source_schema}.tracks")
    return [{k: _naive_utc(v) for k, v in row.items()} for row in rows]


def read_tables(wh, config: SourceConfig) -> dict[str, list[dict]]:
    result = {}
    for step in STEPS:
        rows = wh.query(f'SELECT * FROM {config.target_schema}."{target_table_name(config, step)}"')
        result[step] = by_key(step, rows)
    return result


def assert_matches_spec(wh, config: SourceConfig) -> dict[str, list[dict]]:
    """The five published tables equal the SPEC.md model over the whole current source."""
    from conftest import assert_rows_equal
    from spec_model import compute

    expected = compute(source_rows(wh), config.timeout_minutes, config.flow_length)
    actual = read_tables(wh, config)
    for step in STEPS:
        assert_rows_equal(actual[step], expected.tables[step], step)
    return actual


def postgres_available() -> str | None:
    """None when the server answers, else why not."""
    try:
        import psycopg2

        psycopg2.connect(POSTGRES_URI, connect_timeout=3).close()
    except Exception as exc:
        return f"PostgreSQL at {POSTGRES_URI} is not reachable: {str(exc).strip().splitlines()[0]}"
    return None


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

    def load_source(self, rows: Iterable[Mapping[str, Any]], append: bool = False) -> None:
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

    def snapshot(self, config: SourceConfig) -> dict:
        names = [target_table_name(config, s) for s in STEPS] + ["rudder_sessions_state"]
        return {
            n: sorted(
                map(tuple, (r.values() for r in self.query(f"SELECT * FROM {config.target_schema}.{n}"))), key=repr
            )
            for n in names
        }

    def reset(self) -> None:
        with self._connect() as conn, conn.cursor() as cur:
            cur.execute(f"DROP SCHEMA IF EXISTS {self.source_schema} CASCADE")
            cur.execute(f"DROP SCHEMA IF EXISTS {self.target_schema} CASCADE")

    def close(self) -> None:
        self._rules.__exit__(None, None, None)
        self._patch.__exit__(None, None, None)
        os.environ.pop(f"AIRFLOW_CONN_{self.conn_id.upper()}", None)
