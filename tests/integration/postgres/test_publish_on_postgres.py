"""Publish on a real PostgreSQL server (the rest of the publish rules run on DuckDB, in
tests/unit/engine/test_publish_rules.py): published tables keep their views and grants, and run-log
times are UTC whatever the session's time zone."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta

import pytest

from conftest import require_postgres
from rows import FIRST, SECOND


@pytest.fixture
def pg():
    require_postgres()
    from warehouses import PostgresWarehouse

    warehouse = PostgresWarehouse()
    yield warehouse
    warehouse.close()


@pytest.mark.postgres
def test_published_tables_keep_their_views_and_grants(pg):
    """DROP TABLE of a target with a dependent view fails (RESTRICT), and DROP + RENAME loses
    grants: a full refresh over a dashboard's view used to fail."""
    config = pg.config()
    pg.load_source(FIRST)
    pg.runner(config).run("first", "full_refresh")
    role = f"rs_reader_{uuid.uuid4().hex[:8]}"
    schema = config.target_schema
    pg.query(
        f"CREATE VIEW {schema}.dashboard AS "
        f"SELECT dbt_visitor_id, COUNT(*) AS n FROM {schema}.dbt_session_tracks GROUP BY 1"
    )
    pg.query(f"CREATE ROLE {role}")
    try:
        pg.query(f"GRANT SELECT ON {schema}.dbt_track_facts TO {role}")
        pg.load_source(SECOND, append=True)
        pg.runner(config).run("second", "full_refresh")
        grants = pg.query(
            "SELECT privilege_type FROM information_schema.role_table_grants "
            "WHERE grantee = %s AND table_schema = %s AND table_name = 'dbt_track_facts'",
            [role, schema],
        )
        assert [g["privilege_type"] for g in grants] == ["SELECT"]
        sessions = pg.query(f"SELECT SUM(n) AS total FROM {schema}.dashboard")[0]["total"]
        assert sessions == pg.query(f"SELECT COUNT(*) AS c FROM {schema}.dbt_session_tracks")[0]["c"]
        pg.assert_matches_spec(config)
    finally:
        pg.query(f"DROP VIEW IF EXISTS {schema}.dashboard")
        pg.query(f"REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM {role}")
        pg.query(f"DROP ROLE {role}")


@pytest.mark.postgres
def test_run_log_times_are_utc_whatever_the_session_time_zone(pg, monkeypatch):
    """CURRENT_TIMESTAMP is a timestamptz: stored in a timestamp column it took the session's zone."""
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{pg.conn_id.upper()}",
        json.dumps(
            {
                "conn_type": "postgres",
                "host": "127.0.0.1",
                "port": 5432,
                "login": "postgres",
                "schema": "test",
                "extra": {"options": "-c timezone=Pacific/Kiritimati"},  # UTC+14
            }
        ),
    )
    config = pg.config()
    pg.load_source(FIRST)
    before = datetime.utcnow().replace(microsecond=0) - timedelta(seconds=1)
    pg.runner(config).run("first", "full_refresh")
    after = datetime.utcnow() + timedelta(seconds=1)
    run = pg.query(f"SELECT started_at, finished_at FROM {config.target_schema}.rudder_sessions_runs")[0]
    state = pg.query(f"SELECT updated_at FROM {config.target_schema}.rudder_sessions_state")[0]
    for value in (run["started_at"], run["finished_at"], state["updated_at"]):
        assert before <= value <= after, f"{value} is not between {before} and {after} (UTC)"
