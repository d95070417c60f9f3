"""OpenLineage: the operators report the model's lineage (tracks → five tables) in each warehouse's
naming, and Airflow's OpenLineage listener emits it from real task runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from rudder_sessions.model import PLAN, PUBLISH, STEPS, target_table_name
from rudder_sessions.operators import RudderSessionsPhaseOperator
from warehouses import ROOT

# What each engine's hook makes of the test connections (tests/warehouses.py); Snowflake adds its default region.
NAMESPACES = {
    "postgres": "postgres://127.0.0.1:5432",
    "snowflake": "snowflake://fake.us-west-1.aws",
    "bigquery": "bigquery",  # OpenLineage's BigQuery naming: namespace bigquery, name project.dataset.table
}


def lineage(wh, config, phase):
    op = RudderSessionsPhaseOperator(task_id=phase, source=config, phase=phase)
    op.runner = wh.runner(config)
    return op.get_openlineage_facets_on_complete(None)


def names(datasets):
    return [(d.namespace, d.name) for d in datasets]


def test_lineage_in_each_warehouse_naming(wh):
    config = wh.config(table_prefix="web_")
    plan, publish, step = (lineage(wh, config, phase) for phase in (PLAN, PUBLISH, "session_tracks"))
    if wh.name == "duckdb":  # its hook offers no OpenLineage database info: nothing, not parsed staging tables
        assert (plan.inputs, plan.outputs, publish.inputs, publish.outputs) == ([], [], [], [])
        return
    namespace = NAMESPACES[wh.name]

    def name(schema, table):
        if wh.name == "bigquery":
            return (namespace, f"{wh.emulator.project}.{schema}.{table}")
        full = f"test.{schema}.{table}" if wh.name == "postgres" else f"RS_TEST.{schema}.{table}".upper()
        return (namespace, full)

    tracks = name(config.source_schema, "tracks")
    assert names(plan.inputs) == [tracks] and plan.outputs == []
    assert names(publish.inputs) == [tracks]
    assert names(publish.outputs) == [name(config.target_schema, f"web_dbt_{s}") for s in STEPS]
    assert (step.inputs, step.outputs) == ([], [])  # staging tables are internal to the run


@pytest.mark.airflow
@pytest.mark.postgres
def test_airflow_emits_the_lineage_of_a_postgres_run(tmp_path):
    """A real DAG run on PostgreSQL with the OpenLineage file transport: the plan and publish tasks'
    COMPLETE events carry the source and the five tables."""
    from conftest import require_postgres
    from warehouses import PostgresWarehouse

    require_postgres()
    wh = PostgresWarehouse()
    try:
        wh.load_source(
            [
                {"id": f"e{i}", "anonymous_id": "a1", "event": "page", "timestamp": t, "received_at": t}
                for i, t in enumerate(["2026-01-01 10:00", "2026-01-01 10:05", "2026-01-01 12:00"])
            ]
        )
        config_file = tmp_path / "sources.yaml"
        config_file.write_text(
            textwrap.dedent(
                f"""
                sources:
                  pg: {{conn_id: {wh.conn_id}, source_schema: {wh.source_schema}, target_schema: {wh.target_schema}}}
                """
            )
        )
        events_file = tmp_path / "openlineage.jsonl"
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        env |= {
            "AIRFLOW_HOME": str(tmp_path / "airflow"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(
                {"type": "file", "log_file_path": str(events_file), "append": True}
            ),
            "RUDDER_SESSIONS_CONFIG": str(config_file),
            f"AIRFLOW_CONN_{wh.conn_id.upper()}": os.environ[f"AIRFLOW_CONN_{wh.conn_id.upper()}"],
        }
        for args in (["db", "migrate"], ["dags", "test", "rudder_sessions__pg"]):
            done = subprocess.run(
                [sys.executable, "-m", "airflow", *args], env=env, capture_output=True, text=True, timeout=600
            )
            assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    finally:
        wh.close()
    events = [json.loads(line) for line in events_file.read_text().splitlines() if line.strip()]
    complete = {e["job"]["name"].rsplit(".", 1)[-1]: e for e in events if e["eventType"] == "COMPLETE"}
    assert {PLAN, PUBLISH} <= set(complete), sorted(complete)
    namespace = NAMESPACES["postgres"]
    tracks = {"namespace": namespace, "name": f"test.{wh.source_schema}.tracks"}
    config = wh.config()
    tables = [
        {"namespace": namespace, "name": f"test.{wh.target_schema}.{target_table_name(config, s)}"} for s in STEPS
    ]

    def ids(datasets):
        return [{"namespace": d["namespace"], "name": d["name"]} for d in datasets]

    assert ids(complete[PLAN]["inputs"]) == [tracks]
    assert ids(complete[PUBLISH]["inputs"]) == [tracks]
    assert ids(complete[PUBLISH]["outputs"]) == tables
