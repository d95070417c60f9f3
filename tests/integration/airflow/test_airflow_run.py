"""The demo DAG runs through Airflow itself (real task runs): a first run that publishes the
five tables, then an incremental run and a backfill chosen by the trigger parameters."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import datetime, timedelta

import duckdb
import pytest

from rows import ev
from rudder_sessions.config import load_config
from rudder_sessions.model import PHASES, STEPS
from warehouses import ROOT, DuckDBWarehouse

pytestmark = pytest.mark.airflow
DAG_ID = "rudder_sessions__demo"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("demo")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env["AIRFLOW_HOME"] = str(workdir / "airflow")
    # As in a deployment: the repository's plugins/ is Airflow's plugins folder.
    env["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(ROOT / "plugins")
    done = subprocess.run(
        [sys.executable, str(ROOT / "include" / "demo.py"), "--events", "5000", "--workdir", str(workdir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"ran DAG {DAG_ID} through Airflow" in done.stdout
    env["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "dags")
    env["AIRFLOW_CONN_RUDDER_DEMO_DUCKDB"] = json.dumps({"conn_type": "duckdb", "host": str(workdir / "demo.duckdb")})
    return workdir, env


def dags_test(env, conf, dag_id=DAG_ID, expect_success=True):
    done = subprocess.run(
        [sys.executable, "-m", "airflow", "dags", "test", dag_id, "-c", json.dumps(conf)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = done.stdout + done.stderr
    if expect_success:
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return output


def runs(database):
    with duckdb.connect(str(database), read_only=True) as conn:
        return conn.execute(
            "SELECT run_id, mode, requested_mode, rows_read, window_start, window_end "
            "FROM rudder_sessions.rudder_sessions_runs ORDER BY finished_at"
        ).fetchall()


def test_first_run_publishes_the_model(demo):
    workdir, _ = demo
    database = workdir / "demo.duckdb"
    config = load_config(ROOT / "include" / "sources.yaml").sources["demo"]
    warehouse = DuckDBWarehouse(database, config.source_schema)
    (run,) = runs(database)
    assert run[0].startswith("manual__")  # an Airflow DAG run, not a direct call
    assert run[1:3] == ("full_refresh", "incremental")  # nothing published yet: the first run rebuilds
    warehouse.assert_matches_spec(config)
    with duckdb.connect(str(database), read_only=True) as conn:
        leftovers = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name LIKE '\\_\\_rs\\_%' ESCAPE '\\'"
        ).fetchone()[0]
    assert leftovers == 0
    log = (workdir / "airflow.log").read_text()
    for task in PHASES:
        assert f"{task} of source 'demo' took" in log
        # The SQL's time apart from what the task spent outside it, with the known costs named.
        timing = re.search(rf"{task} of source 'demo': SQL (\d+\.\d+)s; task so far (\d+\.\d+)s, outside", log)
        assert timing and float(timing[1]) <= float(timing[2]), task
        assert "hook-lineage set-up" in log[timing.end() : timing.end() + 300]
    # The run's page says what it did: mode and why, counts, rows written per table.
    (note,) = run_notes(workdir)
    assert note.startswith("**full_refresh, published**: ")  # the first line, which the run's page shows
    assert "\n\nfull_refresh (requested incremental: nothing published yet)" in note
    assert f"rows read {run[3]:,}, dropped" in note
    assert "`dbt_track_facts` " in note and "published; asset events sent" in note
    assert not re.search(r"rows affected: -1", log, re.IGNORECASE)  # counts the driver cannot give say so


def test_incremental_then_backfill_from_trigger_parameters(demo):
    workdir, env = demo
    database = workdir / "demo.duckdb"
    config = load_config(ROOT / "include" / "sources.yaml").sources["demo"]
    warehouse = DuckDBWarehouse(database, config.source_schema)
    with duckdb.connect(str(database), read_only=True) as conn:
        latest, anon = conn.execute(
            "SELECT max(received_at), min(anonymous_id) FROM rudderstack.tracks WHERE anonymous_id LIKE 'anon-%'"
        ).fetchone()
    arrivals = [
        ev(
            f"new-{i}",
            anon,
            "user-airflow" if i == 2 else None,
            5 * i,
            "page_viewed",
            base=latest,
            received_delay=timedelta(seconds=1),
        )
        for i in range(4)
    ]
    warehouse.load_source(arrivals, append=True)
    log = dags_test(env, {"mode": "incremental"})
    assert "incremental" in log
    last = runs(database)[-1]
    assert last[1] == "incremental" and last[3] < 1000  # read the window, not the history
    warehouse.assert_matches_spec(config)

    start = datetime(2026, 1, 10)
    dags_test(env, {"mode": "backfill", "start": start.isoformat(), "end": (start + timedelta(days=1)).isoformat()})
    last = runs(database)[-1]
    assert last[1] == "backfill" and (last[4], last[5]) == (start, start + timedelta(days=1))
    warehouse.assert_matches_spec(config)


def run_notes(workdir, dag_id=DAG_ID) -> list[str]:
    """The DAG runs' notes, oldest run first (None where a run has none)."""
    import sqlite3

    with sqlite3.connect(workdir / "airflow" / "airflow.db") as db:
        rows = db.execute(
            "SELECT dag_run_note.content FROM dag_run LEFT JOIN dag_run_note ON dag_run_note.dag_run_id = dag_run.id "
            "WHERE dag_run.dag_id = ? ORDER BY dag_run.id",
            (dag_id,),
        ).fetchall()
    return [content for (content,) in rows]


def asset_event_count(workdir) -> int:
    import sqlite3

    with sqlite3.connect(workdir / "airflow" / "airflow.db") as db:
        return db.execute(
            "SELECT COUNT(*) FROM asset_event JOIN asset ON asset.id = asset_event.asset_id "
            "WHERE asset.name LIKE 'rudder_sessions.demo.%'"
        ).fetchone()[0]


def test_an_incremental_run_that_changes_nothing_announces_nothing(demo):
    workdir, env = demo
    before = asset_event_count(workdir)
    output = dags_test(env, {"mode": "incremental"})
    with duckdb.connect(str(workdir / "demo.duckdb"), read_only=True) as conn:
        mode, outcome, changed = conn.execute(
            "SELECT mode, outcome, events_changed FROM rudder_sessions.rudder_sessions_runs "
            "ORDER BY finished_at DESC LIMIT 1"
        ).fetchone()
    assert (mode, outcome, changed) == ("incremental", "published", 0)
    assert "no event changed: the tables are as they were; no asset events" in output
    assert "no event changed: no asset events" in run_notes(workdir)[-1]
    assert asset_event_count(workdir) == before  # downstream DAGs are not triggered for nothing


def test_publish_updates_the_table_assets_with_the_run(demo):
    import sqlite3

    workdir, _ = demo
    with sqlite3.connect(workdir / "airflow" / "airflow.db") as db:
        events = db.execute(
            "SELECT asset.name, asset_event.extra FROM asset_event JOIN asset ON asset.id = asset_event.asset_id"
        ).fetchall()
    events = [(name, extra) for name, extra in events if name.startswith("rudder_sessions.demo.")]
    names = {name for name, _ in events}
    assert names == {f"rudder_sessions.demo.dbt_{step}" for step in STEPS}
    for _, extra in events:
        meta = json.loads(extra)
        assert meta["mode"] in ("full_refresh", "incremental", "backfill")
        assert meta["run_id"].startswith("manual__") and meta["rows_written"] >= 0


ONBOARDING = {"conn_id": "rudder_demo_duckdb", "source_schema": "onboarding", "target_schema": "onboarding_sessions"}


def test_adhoc_dag_runs_a_schema_named_at_trigger_time(demo):
    import sqlite3

    from rudder_sessions.config import SourceConfig
    from sample_data import write_tracks

    workdir, env = demo
    database = workdir / "demo.duckdb"
    with duckdb.connect(str(database)) as conn:
        write_tracks(conn, schema="onboarding", table="tracks", events=2000, seed=7)
    dags_test(env, {**ONBOARDING, "mode": "full_refresh", "flow_length": 3}, dag_id="rudder_sessions__adhoc")
    config = SourceConfig(name="onboarding", flow_length=3, **ONBOARDING)
    published = DuckDBWarehouse(database, config.source_schema).assert_matches_spec(config)
    with duckdb.connect(str(database), read_only=True) as conn:
        flow_columns = {row[0] for row in conn.execute("DESCRIBE onboarding_sessions.dbt_tracks_flow").fetchall()}
        (run,) = conn.execute("SELECT source, mode FROM onboarding_sessions.rudder_sessions_runs").fetchall()
    assert "event_3" in flow_columns and "event_4" not in flow_columns
    assert run == ("onboarding", "full_refresh")
    with sqlite3.connect(workdir / "airflow" / "airflow.db") as db:
        events = dict(
            db.execute(
                "SELECT asset.name, asset_event.extra FROM asset_event JOIN asset ON asset.id = asset_event.asset_id "
                "WHERE asset.name LIKE 'rudder_sessions.onboarding.%'"
            ).fetchall()
        )
    assert set(events) == {f"rudder_sessions.onboarding.dbt_{step}" for step in STEPS}
    facts = json.loads(events["rudder_sessions.onboarding.dbt_track_facts"])
    assert facts["mode"] == "full_refresh" and facts["rows_written"] == len(published["track_facts"])


def test_adhoc_dag_names_a_missing_connection(demo):
    _, env = demo
    output = dags_test(env, {**ONBOARDING, "conn_id": "not_a_connection"}, "rudder_sessions__adhoc", False)
    assert "source 'onboarding': conn_id: Airflow connection 'not_a_connection' does not exist" in output
    assert "AirflowFailException is deprecated" not in output  # raised from the task SDK's own module
    assert "state=failed" in output
    note = run_notes(demo[0], "rudder_sessions__adhoc")[-1]
    missing = "source 'onboarding': conn_id: Airflow connection 'not_a_connection' does not exist"
    assert note == f"**failed at plan**: {missing}"
