"""Two sources on one DuckDB file, on a real local Airflow (LocalExecutor, which runs tasks of
different DAGs side by side): both DAGs triggered at once must both publish, each equal to its own
SPEC model, without a single retry, because the one-slot pool the sources share makes their tasks
take turns on the file instead of colliding on its lock.
"""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import pairwise

import duckdb
import pytest
import yaml

from conftest import require_postgres
from rudder_sessions.config import load_config
from rudder_sessions.dag_factory import dag_id
from sample_data import write_tracks
from stack import RUN_TIMEOUT, running_stack, utc
from warehouses import DuckDBWarehouse

pytestmark = [pytest.mark.airflow, pytest.mark.stack]

POOL = "rudder_sessions_duckdb"
SOURCES = {
    "shop": {"source_schema": "shop_events", "target_schema": "shop_sessions", "timeout_minutes": 30},
    "app": {"source_schema": "app_events", "target_schema": "app_sessions", "timeout_minutes": 10, "flow_length": 3},
}


@pytest.fixture
def shared(tmp_path):
    require_postgres()
    database = tmp_path / "shared.duckdb"
    with duckdb.connect(str(database)) as conn:
        for seed, entry in enumerate(SOURCES.values(), start=11):
            write_tracks(conn, schema=entry["source_schema"], table="tracks", events=1500, seed=seed, days=3)
    config = tmp_path / "sources.yaml"
    config.write_text(
        yaml.safe_dump(
            {"sources": {name: {"conn_id": "rudder_demo_duckdb", "pool": POOL, **e} for name, e in SOURCES.items()}}
        )
    )
    with running_stack(tmp_path, database, config) as airflow:
        yield airflow, database, config


def test_two_sources_on_one_duckdb_file_take_turns(shared):
    airflow, database, config_path = shared
    sources = load_config(config_path).sources
    pool = airflow.api("GET", f"/pools/{POOL}")
    assert pool["slots"] == 1 and "shop" in pool["description"] and "app" in pool["description"], pool

    dags = [dag_id(source) for source in sources.values()]
    for dag in dags:
        airflow.wait_for_dag(dag)
        airflow.api("PATCH", f"/dags/{dag}", json={"is_paused": False})
    triggered = {
        dag: airflow.api(
            "POST",
            f"/dags/{dag}/dagRuns",
            json={"logical_date": datetime.now(UTC).isoformat(), "conf": {"mode": "full_refresh"}},
        )["dag_run_id"]
        for dag in dags
    }
    # wait_for_runs fails at the first task up for retry: a collision on the file's lock would be one.
    for dag, run_id in triggered.items():
        airflow.wait_for_runs(dag, [run_id], timeout=2 * RUN_TIMEOUT)

    spans = []
    for dag, run_id in triggered.items():
        tis = airflow.api("GET", f"/dags/{dag}/dagRuns/{run_id}/taskInstances")["task_instances"]
        assert {ti["pool"] for ti in tis} == {POOL}, tis
        assert all(ti["try_number"] == 1 for ti in tis), [(ti["task_id"], ti["try_number"]) for ti in tis]
        spans += [(utc(ti["start_date"]), utc(ti["end_date"]), f"{dag}.{ti['task_id']}") for ti in tis]
    spans.sort()
    for (_, end, first), (start, _, second) in pairwise(spans):
        assert end <= start, f"{first} (until {end}) and {second} (from {start}) ran at the same time"

    for name, source in sources.items():
        warehouse = DuckDBWarehouse(database, source.source_schema, read_only=True)
        published = warehouse.assert_matches_spec(source)
        assert published["mapped_tracks"], f"source {name} produced no events"

    # A pool someone resized is theirs: preparing the deployment again keeps its slots.
    airflow.airflow("pools", "set", POOL, "3", "resized by hand")
    airflow.prepare()
    assert airflow.api("GET", f"/pools/{POOL}")["slots"] == 3
