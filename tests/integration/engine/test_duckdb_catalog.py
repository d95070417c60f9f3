"""A DuckDB file named like a schema the run uses ("sessions.duckdb" with target schema
`sessions`, or like the source schema): every table path names the file's catalog, so DuckDB finds
no ambiguous reference (duckdb.org/docs/stable/sql/statements/attach#name-qualification)."""

from __future__ import annotations

import pytest
from airflow.providers.duckdb.hooks.duckdb import DuckDBHook

from rows import ev
from rudder_sessions.dialects import DuckDBDialect
from rudder_sessions.engine import SessionRunner
from warehouses import DuckDBWarehouse


@pytest.mark.parametrize("file_name", ["sessions.duckdb", "RUDDERSTACK.duckdb", "my-file.v2.duckdb"])
def test_a_file_named_like_a_schema_of_the_run(tmp_path, file_name):
    loading = DuckDBWarehouse(tmp_path / "load.duckdb")
    loading.load_source([ev("e1", "a1", None, 0), ev("e2", "a1", "u1", 10), ev("e3", "a2", None, 50)])
    config = loading.config()
    named = tmp_path / file_name
    (tmp_path / "load.duckdb").rename(named)
    dialect = DuckDBDialect()
    runner = SessionRunner(config, DuckDBHook(database=str(named)), dialect)
    assert dialect.catalog == file_name.split(".")[0]
    runner.run("r1", "incremental")
    runner.run("r2", "incremental")
    named.rename(tmp_path / "load.duckdb")
    loading.assert_matches_spec(config)
