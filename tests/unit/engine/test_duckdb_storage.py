"""DuckDB storage: the staged tables a run drops are written uncompressed (cheaper to write and
read back), while every published table stays compressed, on both publish paths (rename in a full
refresh, insert in an incremental run) and whether phases share a connection (CLI) or not (DAG).
The staged copy is inspected on the DAG's path only: on one connection, at this size, the stages
never leave the write-ahead log, so their storage is never chosen."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest

import sample_data
from rudder_sessions.model import PHASES, PLAN, STEPS, published_columns, target_table_name
from warehouses import DuckDBWarehouse

START = datetime(2026, 5, 1)
CUTOFF = START + timedelta(days=10)
TEXT_COLUMN = "event"  # a handful of names over thousands of rows: always worth a dictionary


def compression(database: Path, schema: str, table: str) -> set[str]:
    """The compression of the checkpointed segments of one text column."""
    with duckdb.connect(str(database), read_only=True) as conn:
        rows = conn.execute(
            "SELECT DISTINCT compression FROM pragma_storage_info(?) "
            "WHERE column_name = ? AND segment_type = 'VARCHAR'",
            [f'"{schema}"."{table}"', TEXT_COLUMN],
        ).fetchall()
    return {r[0] for r in rows}


def published_compression(database: Path, config) -> dict[str, set[str]]:
    return {
        step: compression(database, config.target_schema, target_table_name(config, step))
        for step in STEPS
        if TEXT_COLUMN in published_columns(step, config.flow_length)
    }


def load(database: Path) -> None:
    """Ten days in the source; two more days kept aside for the next load."""
    with duckdb.connect(str(database)) as conn:
        sample_data.write_tracks(conn, schema="rudderstack", table="later", events=6000, seed=11, days=12, start=START)
        conn.execute("CREATE TABLE rudderstack.tracks AS FROM rudderstack.later WHERE received_at < ?", [CUTOFF])
        conn.execute("DELETE FROM rudderstack.later WHERE received_at < ?", [CUTOFF])


def land_later_rows(database: Path) -> None:
    with duckdb.connect(str(database)) as conn:
        conn.execute("INSERT INTO rudderstack.tracks FROM rudderstack.later")


@pytest.mark.parametrize("one_connection", [True, False], ids=["cli", "dag"])
def test_published_tables_compressed_dropped_stages_not(warehouse: DuckDBWarehouse, one_connection):
    database = warehouse.path
    config = warehouse.config()
    stage_compression: dict[str, set[str]] = {}

    def run(run_id: str, mode: str) -> None:
        runner = warehouse.runner(config)
        if one_connection:
            runner.run(run_id, mode)
            return
        # As the DAG's tasks do: every phase opens the file and closes it (a checkpoint) on its own.
        plan = runner.plan(run_id, mode)
        for phase in PHASES:
            runner.execute(phase, plan)
            if phase == PLAN:
                events = runner.tables(plan.key).stage_name("events")
                stage_compression[mode] = compression(database, config.target_schema, events)
        runner.drop_stages(plan)

    load(database)
    run("full", "full_refresh")
    after_full = published_compression(database, config)
    land_later_rows(database)  # two more days: the incremental run inserts into every table
    run("next", "incremental")
    after_incremental = published_compression(database, config)

    for state in (after_full, after_incremental):
        assert all(found and "Uncompressed" not in found for found in state.values()), state
    if not one_connection:
        assert stage_compression == {"full_refresh": {"Uncompressed"}, "incremental": {"Uncompressed"}}
    assert not {t for t in warehouse.tables(config.target_schema) if t.startswith("__rs_")}
