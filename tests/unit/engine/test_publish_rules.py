"""Publish under the rules of warehouses that forgive less than DuckDB: the state is claimed by
one checked UPDATE, and concurrent runs keep their staging tables (on DuckDB). Views, grants and
time zones of a real PostgreSQL server: tests/integration/postgres/test_publish_on_postgres.py."""

from __future__ import annotations

import json

import pytest

from conftest import require_extra
from rows import FIRST, SECOND
from rudder_sessions.errors import ConfigError, PublishConflict
from rudder_sessions.model import PHASES, PUBLISH
from warehouses import DuckDBWarehouse, make_config, publish_after_another


def stages(warehouse: DuckDBWarehouse, key: str) -> set[str]:
    return {n for n in warehouse.tables("sessions") if n.startswith(f"__rs_{key}_")}


def test_a_run_in_flight_keeps_its_staging_tables_when_another_plans(warehouse):
    """Before, every plan dropped the staging tables of every other run of the source."""
    config = warehouse.config()
    warehouse.load_source(FIRST)
    warehouse.runner(config).run("first")
    warehouse.load_source(SECOND, append=True)
    a, b = warehouse.runner(config), warehouse.runner(config)
    plan_a = a.plan("run-a", "incremental")
    for phase in PHASES[: PHASES.index("checks")]:
        a.execute(phase, plan_a)
    b.plan("run-b", "incremental")  # e.g. a CLI run started while the nightly one is at its checks
    assert stages(warehouse, plan_a.key)
    for phase in PHASES[PHASES.index("checks") :]:
        a.execute(phase, plan_a)
    warehouse.assert_matches_spec(config)
    assert not stages(warehouse, plan_a.key)


def test_stages_of_ended_and_long_dead_runs_are_dropped(warehouse):
    config = warehouse.config()
    warehouse.load_source(FIRST)
    runner = warehouse.runner(config)
    runner.run("first")
    failed, killed = runner.plan("failed", "incremental"), runner.plan("killed", "incremental")
    for plan in (failed, killed):
        runner.execute("plan", plan)
    runner.record_failure(failed, RuntimeError("boom"))
    runner.plan("third", "incremental")
    assert not stages(warehouse, failed.key), "a failed run's stages are dead"
    assert stages(warehouse, killed.key), "a run marked running on the current version may be alive"
    with warehouse.connect() as conn:  # its start long enough ago: killed, not slow
        conn.execute(
            "UPDATE sessions.rudder_sessions_runs SET started_at = started_at - INTERVAL 13 HOUR "
            "WHERE run_id = 'killed'"
        )
    runner.plan("fourth", "incremental")
    assert not stages(warehouse, killed.key)


def test_two_first_runs_cannot_both_publish(warehouse):
    """No warehouse but PostgreSQL and DuckDB enforces the state's primary key: a first publish
    that inserted its state row unconditionally could publish twice. Both claim version 0 now."""
    config = warehouse.config()
    warehouse.load_source(FIRST)
    a, b = warehouse.runner(config), warehouse.runner(config)
    after_first, after_refusal = publish_after_another(a, b, "full_refresh", lambda: warehouse.snapshot(config))
    assert after_refusal == after_first
    assert after_first["rudder_sessions_state"][0][2] == 1  # the version: published once


def test_unpublished_duplicate_state_rows_are_merged(warehouse):
    """Two first plans racing on a warehouse without enforced keys may both seed the state."""
    config = warehouse.config()
    warehouse.load_source(FIRST)
    runner = warehouse.runner(config)
    runner.plan("probe", "full_refresh")
    with warehouse.connect() as conn:
        conn.execute("CREATE TABLE sessions.copy AS SELECT * FROM sessions.rudder_sessions_state")
        conn.execute("DROP TABLE sessions.rudder_sessions_state")
        conn.execute("ALTER TABLE sessions.copy RENAME TO rudder_sessions_state")
        conn.execute("INSERT INTO sessions.rudder_sessions_state (source, version) VALUES ('test', 0)")
    summary = runner.run("first", "full_refresh")
    assert summary["mode"] == "full_refresh"
    with warehouse.connect() as conn:
        assert conn.execute("SELECT version FROM sessions.rudder_sessions_state").fetchall() == [(1,)]


def test_a_claim_that_changes_two_state_rows_is_refused(warehouse):
    config = warehouse.config()
    warehouse.load_source(FIRST)
    runner = warehouse.runner(config)
    runner.run("first")
    with warehouse.connect() as conn:
        conn.execute("CREATE TABLE sessions.copy AS SELECT * FROM sessions.rudder_sessions_state")
        conn.execute("DROP TABLE sessions.rudder_sessions_state")
        conn.execute("ALTER TABLE sessions.copy RENAME TO rudder_sessions_state")
    plan = runner.plan("second", "full_refresh")
    for phase in PHASES[:-1]:
        runner.execute(phase, plan)
    with warehouse.connect() as conn:  # a second row at the same version appears
        conn.execute("INSERT INTO sessions.rudder_sessions_state SELECT * FROM sessions.rudder_sessions_state")
    before = warehouse.snapshot(config)
    with pytest.raises(PublishConflict):
        runner.execute(PUBLISH, plan)
    assert warehouse.snapshot(config) == before


def test_an_upgrade_adds_new_run_log_columns_in_place(warehouse):
    """A run log created by an older version lacks `state_version`: publish must not fail on it."""
    config = warehouse.config()
    warehouse.load_source(FIRST)
    warehouse.runner(config).run("first")
    with warehouse.connect() as conn:
        conn.execute("ALTER TABLE sessions.rudder_sessions_runs DROP COLUMN state_version")
        conn.execute("ALTER TABLE sessions.dbt_mapped_tracks DROP COLUMN starts_session")
    warehouse.load_source(SECOND, append=True)
    summary = warehouse.runner(config).run("second", "incremental")
    assert summary["mode"] == "incremental"
    with warehouse.connect() as conn:
        columns = {r[0] for r in conn.execute("DESCRIBE sessions.rudder_sessions_runs").fetchall()}
        mapped = {r[0] for r in conn.execute("DESCRIBE sessions.dbt_mapped_tracks").fetchall()}
    assert "state_version" in columns
    assert "starts_session" in mapped


def test_google_cloud_platform_connections_are_refused_with_the_type_to_use(monkeypatch):
    require_extra("airflow.providers.google", "bigquery")
    from rudder_sessions.hooks import get_hook

    monkeypatch.setenv("AIRFLOW_CONN_GCP_PLAIN", json.dumps({"conn_type": "google_cloud_platform"}))
    with pytest.raises(ConfigError, match="use type gcpbigquery"):
        get_hook(make_config(conn_id="gcp_plain"))


def test_bigquery_connections_need_a_location(monkeypatch):
    require_extra("airflow.providers.google", "bigquery")
    from rudder_sessions.hooks import get_hook

    monkeypatch.setenv("AIRFLOW_CONN_BQ_NOWHERE", json.dumps({"conn_type": "gcpbigquery", "extra": {"project": "p"}}))
    with pytest.raises(ConfigError, match="has no location"):
        get_hook(make_config(conn_id="bq_nowhere"))
