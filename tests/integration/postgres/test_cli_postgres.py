"""The command line against the real PostgreSQL server: a connection the server refuses is one
line, a re-used run id does nothing and exits 3, and the run log's and state's times are UTC in a
session whose time zone is not."""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime, timedelta

import pytest

from conftest import require_postgres
from rows import FIRST, SECOND
from rudder_sessions.cli import main

PG = {"conn_type": "postgres", "host": "127.0.0.1", "port": 5432, "login": "postgres", "schema": "test"}


@pytest.fixture
def pg():
    require_postgres()
    from warehouses import PostgresWarehouse

    warehouse = PostgresWarehouse()
    yield warehouse
    warehouse.close()


def cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err.strip()


def run_args(pg, *extra: str) -> tuple[str, ...]:
    schemas = ("--source-schema", pg.source_schema, "--target-schema", pg.target_schema)
    return ("run", "--conn-id", "cli_pg", *schemas, *extra)


def free_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.postgres
def test_a_refused_connection_is_one_line(pg, monkeypatch, capsys):
    port = free_port()
    monkeypatch.setenv("AIRFLOW_CONN_CLI_PG", json.dumps({**PG, "port": port}))
    code, _, err = cli(capsys, *run_args(pg))
    assert code == 1
    assert err == (
        f"rudder-sessions: error: connection 'cli_pg' (postgres): cannot connect: connection to server at "
        f'"127.0.0.1", port {port} failed: Connection refused'
    )


@pytest.mark.postgres
@pytest.mark.parametrize("command", ["run", "status"])
def test_an_unknown_database_is_one_line(pg, monkeypatch, capsys, command):
    monkeypatch.setenv("AIRFLOW_CONN_CLI_PG", json.dumps({**PG, "schema": "no_such_database"}))
    code, _, err = cli(capsys, command, *run_args(pg)[1:])
    assert code == 1
    assert err == (
        "rudder-sessions: error: connection 'cli_pg' (postgres): cannot connect: connection to server at "
        '"127.0.0.1", port 5432 failed: FATAL:  database "no_such_database" does not exist'
    )


@pytest.mark.postgres
def test_a_reused_run_id_does_nothing_and_exits_3(pg, monkeypatch, capsys):
    monkeypatch.setenv("AIRFLOW_CONN_CLI_PG", json.dumps(PG))
    pg.load_source(FIRST)
    assert cli(capsys, *run_args(pg, "--run-id", "R1"))[0] == 0
    before = pg.snapshot(pg.config())
    pg.load_source(SECOND, append=True)
    code, out, err = cli(capsys, *run_args(pg, "--mode", "incremental", "--run-id", "R1"))
    assert (code, out, err) == (3, "", "rudder-sessions: run R1 was already published; nothing done")
    assert pg.snapshot(pg.config()) == before
    assert cli(capsys, *run_args(pg, "--mode", "incremental", "--run-id", "R2"))[0] == 0
    pg.assert_matches_spec(pg.config())


@pytest.mark.postgres
def test_times_are_utc_in_a_new_york_session(pg, monkeypatch, capsys):
    """The connection sets the session's time zone (libpq `options`, passed on by PostgresHook):
    started_at, finished_at and updated_at are stored and shown in UTC all the same."""
    monkeypatch.setenv("AIRFLOW_CONN_CLI_PG", json.dumps({**PG, "extra": {"options": "-c timezone=America/New_York"}}))
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    assert PostgresHook(postgres_conn_id="cli_pg").get_first("SHOW TimeZone") == ("America/New_York",)
    pg.load_source(FIRST)
    before = datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=1)
    assert cli(capsys, *run_args(pg, "--run-id", "R1"))[0] == 0
    code, out, _ = cli(capsys, "status", "--conn-id", "cli_pg", "--target-schema", pg.target_schema)
    after = datetime.now(UTC).replace(tzinfo=None) + timedelta(seconds=1)
    schema = pg.target_schema
    run = pg.query(f"SELECT started_at, finished_at FROM {schema}.rudder_sessions_runs")[0]
    state = pg.query(f"SELECT updated_at FROM {schema}.rudder_sessions_state")[0]
    for value in (run["started_at"], run["finished_at"], state["updated_at"]):
        assert before <= value <= after, f"{value} is not between {before} and {after} (UTC)"
    assert code == 0
    assert f"at {state['updated_at']})" in out and out.splitlines()[1].startswith(f"  {run['finished_at']}  ")
