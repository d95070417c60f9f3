"""End to end on a real local Airflow: PostgreSQL metadata database, API server, scheduler and DAG
processor as separate processes (LocalExecutor), the demo DAG driven only through the public REST API.

A triggered full refresh and a two-day Airflow backfill must leave the five tables equal to the SPEC
model, log each run with its mode and window, and emit one event per published table and run.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import duckdb
import pytest

from conftest import require_postgres
from rudder_sessions.assets import table_assets
from rudder_sessions.config import load_config
from sample_data import write_events
from stack import RUN_TIMEOUT, running_stack, utc
from warehouses import ROOT, DuckDBWarehouse

pytestmark = [pytest.mark.airflow, pytest.mark.stack]

DAG_ID = "rudder_sessions__demo"
DATA_START = datetime(2026, 1, 1, tzinfo=UTC)  # events fall in [2026-01-01, 2026-01-08)
DATA_DAYS = 7
# Runs whose logical date (the start of the nightly 03:00 UTC interval) is in [from, to]: the
# intervals 2026-01-03 03:00 → 01-04 03:00 and 01-04 03:00 → 01-05 03:00.
BACKFILL_FROM, BACKFILL_TO = "2026-01-03T00:00:00Z", "2026-01-05T00:00:00Z"


@pytest.fixture
def stack(tmp_path):
    require_postgres()
    database = tmp_path / "demo.duckdb"
    with duckdb.connect(str(database)) as conn:
        write_events(conn, schema="rudderstack", events=3000, seed=7, days=DATA_DAYS, start=DATA_START)
    with running_stack(tmp_path, database) as airflow:
        yield airflow, database


def test_trigger_and_backfill_through_the_rest_api(stack):
    airflow, database = stack
    config = load_config(ROOT / "include" / "sources.yaml").sources["demo"]
    warehouse = DuckDBWarehouse(database, config.source_schema, read_only=True)
    timings: dict[str, float] = {}
    began = time.monotonic()

    dag = airflow.wait_for_dag(DAG_ID)
    assert dag["is_paused"]  # new DAGs start paused
    assert airflow.api("PATCH", f"/dags/{DAG_ID}", json={"is_paused": False})["is_paused"] is False
    timings["parsed and unpaused"] = time.monotonic() - began

    # 1. A run triggered with the parameter mode = full_refresh.
    mark = time.monotonic()
    triggered = airflow.api(
        "POST",
        f"/dags/{DAG_ID}/dagRuns",
        json={"logical_date": datetime.now(UTC).isoformat(), "conf": {"mode": "full_refresh"}},
    )
    (full,) = airflow.wait_for_runs(DAG_ID, [triggered["dag_run_id"]], timeout=RUN_TIMEOUT)
    assert full["run_type"] == "manual"
    log = warehouse.query(
        "SELECT run_id, mode, requested_mode, outcome FROM rudder_sessions.rudder_sessions_runs ORDER BY finished_at"
    )
    assert log == [
        {"run_id": full["dag_run_id"], "mode": "full_refresh", "requested_mode": "full_refresh", "outcome": "published"}
    ]
    published = warehouse.assert_matches_spec(config)
    assert published["mapped_tracks"], "the demo source produced no events"
    timings["full refresh"] = time.monotonic() - mark

    # 2. An Airflow backfill of two nightly intervals: each run is a backfill of its data interval.
    mark = time.monotonic()
    backfill = airflow.api(
        "POST",
        "/backfills",
        json={
            "dag_id": DAG_ID,
            "from_date": BACKFILL_FROM,
            "to_date": BACKFILL_TO,
            "reprocess_behavior": "none",
            "max_active_runs": 1,
        },
    )
    listed = airflow.api("GET", f"/dags/{DAG_ID}/dagRuns", params={"run_type": "backfill", "limit": 10})
    run_ids = sorted(run["dag_run_id"] for run in listed["dag_runs"])
    assert len(run_ids) == 2, listed
    backfilled = airflow.wait_for_runs(DAG_ID, run_ids, timeout=RUN_TIMEOUT)
    # (The backfill's own completed_at is set by a scheduler timer every 30 s: not waited for.)
    assert (backfill["max_active_runs"], backfill["reprocess_behavior"]) == (1, "none"), backfill
    intervals = {
        run["dag_run_id"]: (utc(run["data_interval_start"]), utc(run["data_interval_end"])) for run in backfilled
    }
    assert sorted(intervals.values()) == [
        (datetime(2026, 1, 3, 3), datetime(2026, 1, 4, 3)),
        (datetime(2026, 1, 4, 3), datetime(2026, 1, 5, 3)),
    ]
    log = warehouse.query(
        "SELECT run_id, mode, window_start, window_end, outcome FROM rudder_sessions.rudder_sessions_runs "
        "WHERE mode = 'backfill' ORDER BY window_start"
    )
    assert len(log) == 2, log
    for row in log:
        assert row["outcome"] == "published"
        assert (row["window_start"], row["window_end"]) == intervals[row["run_id"]], row
    assert warehouse.assert_matches_spec(config) == published  # the source did not change: neither do the tables
    timings["backfill of two days"] = time.monotonic() - mark

    # 3. Every publish emitted an event for each of the five table Assets, carrying the run's metadata.
    runs = {full["dag_run_id"]: ("full_refresh", None, None)} | {
        run_id: ("backfill", *interval) for run_id, interval in intervals.items()
    }
    assets = airflow.api("GET", "/assets", params={"uri_prefix_pattern": f"x-rudder-sessions://{config.name}/"})
    ids = {asset["uri"]: asset["id"] for asset in assets["assets"]}
    for step, asset in table_assets(config).items():
        assert asset.uri in ids, f"asset {asset.uri} not registered: {sorted(ids)}"
        events = airflow.api("GET", "/assets/events", params={"asset_id": ids[asset.uri], "limit": 100})
        by_run = {event["source_run_id"]: event for event in events["asset_events"]}
        assert len(events["asset_events"]) == 3 and set(by_run) == set(runs), (asset.uri, events)
        for run_id, (mode, start, end) in runs.items():
            event = by_run[run_id]
            assert (event["source_dag_id"], event["source_task_id"]) == (DAG_ID, "publish")
            extra = event["extra"]
            assert extra["run_id"] == run_id and extra["mode"] == mode, extra
            window = tuple(utc(extra[k]) if extra[k] else None for k in ("window_start", "window_end"))
            assert window == (start, end), extra
            if mode == "full_refresh":
                assert extra["rows_written"] == len(published[step]), extra
            else:  # the rows of the visitors with events in the window
                assert 0 < extra["rows_written"] <= len(published[step]), extra

    timings["total"] = time.monotonic() - began
    print("stack e2e timings: " + ", ".join(f"{k} {v:.1f}s" for k, v in timings.items()))
