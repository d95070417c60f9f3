"""User mistakes end in one clear line naming what is wrong, never in a traceback."""

from __future__ import annotations

import json
import os
from datetime import datetime

import pytest

from conftest import require_extra
from rows import ev
from rudder_sessions.cli import main

ROW = ev("e1", "a1", None, datetime(2026, 1, 1), "x")


@pytest.fixture
def conn_env(warehouse, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_WH", json.dumps({"conn_type": "duckdb", "host": str(warehouse.path)}))
    return warehouse


def run_cli(capsys, *args):
    code = main(["run", "--conn-id", "wh", "--target-schema", "sessions", *args])
    out, err = capsys.readouterr()
    return code, out, err.strip()


def test_missing_source_table(conn_env, capsys):
    conn_env.load_source([ROW])
    code, _, err = run_cli(capsys, "--source-schema", "rudderstack", "--source-table", "trackz")
    assert code == 1
    assert err == "rudder-sessions: error: source table rudderstack.trackz (connection 'wh') does not exist"


def test_missing_source_schema(conn_env, capsys):
    conn_env.load_source([ROW])
    code, _, err = run_cli(capsys, "--source-schema", "nowhere")
    assert code == 1
    assert "source table nowhere.tracks" in err and "does not exist" in err


def test_missing_column(conn_env, capsys):
    with conn_env.connect() as conn:
        conn.execute("CREATE SCHEMA rudderstack")
        conn.execute(
            "CREATE TABLE rudderstack.tracks (id VARCHAR, anonymous_id VARCHAR, event VARCHAR, timestamp TIMESTAMP)"
        )
    code, _, err = run_cli(capsys, "--source-schema", "rudderstack")
    assert code == 1
    assert err.endswith("has no column(s): user_id, received_at")


@pytest.mark.parametrize(("flag", "value"), [("--source-schema", "bad-schema"), ("--target-schema", "x y")])
def test_bad_schema_name(conn_env, capsys, flag, value):
    args = ["--source-schema", "rudderstack"]
    code = main(["run", "--conn-id", "wh", "--target-schema", "sessions", *args, flag, value])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith(f"rudder-sessions: error: {flag}: {value!r} is not a valid identifier")


def test_bad_timeout(conn_env, capsys):
    code, _, err = run_cli(capsys, "--source-schema", "rudderstack", "--timeout-minutes", "0")
    assert code == 2
    assert err == "rudder-sessions: error: --timeout-minutes: must be > 0, got 0"


def test_missing_connection(capsys):
    code = main(["run", "--conn-id", "does_not_exist", "--source-schema", "s", "--target-schema", "t"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err == "rudder-sessions: error: --conn-id: Airflow connection 'does_not_exist' does not exist"


def test_failed_run_leaves_no_staging_and_publishes_nothing(conn_env, capsys):
    # two revenues whose exact sum overflows DECIMAL(38, 9): the run fails mid-way, in session_facts
    conn_env.load_source([{**ROW, "revenue": 9e28}, {**ROW, "id": "e2", "revenue": 9e28}])
    code, _, err = run_cli(capsys, "--source-schema", "rudderstack", "--session-sum-columns", "revenue")
    with conn_env.connect(read_only=True) as conn:
        tables = {r[0] for r in conn.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        (outcome,) = conn.execute("SELECT outcome FROM sessions.rudder_sessions_runs").fetchone()
    assert outcome.startswith("failed: ") and "session_facts failed for source 'cli'" in outcome
    # the run state, no model, no staging
    assert tables == {
        "tracks",
        "rudder_sessions_state",
        "rudder_sessions_watermarks",
        "rudder_sessions_counted",
        "rudder_sessions_runs",
    }
    assert code == 1 and err.startswith("rudder-sessions: error: session_facts failed for source 'cli': ")


NOW = datetime(2026, 11, 27, 12, 0)


@pytest.mark.parametrize(
    ("mode", "start", "end", "message"),
    [
        ("sometimes", None, None, "mode 'sometimes' is not one of incremental, backfill, full_refresh"),
        ("backfill", datetime(2026, 1, 1), None, "a backfill needs a start and an end"),
        ("full_refresh", None, datetime(2026, 1, 1), "start and end apply to mode backfill only, not to full_refresh"),
        ("backfill", datetime(2026, 1, 2), datetime(2026, 1, 2), "backfill end 2026-01-02 00:00:00 must be after"),
        ("backfill", datetime(206, 1, 1), datetime(2026, 1, 2), "backfill start 0206-01-01 00:00:00 is before 2000"),
        ("backfill", datetime(2062, 1, 1), datetime(2062, 1, 2), "backfill start 2062-01-01 00:00:00 is in the futu"),
        ("backfill", datetime(2026, 1, 1), datetime(2260, 1, 2), "backfill end 2260-01-02 00:00:00 is more than a y"),
    ],
)
def test_run_requests_that_make_no_sense_are_refused(mode, start, end, message):
    from rudder_sessions.errors import RudderSessionsError
    from rudder_sessions.plan import check_request

    with pytest.raises(RudderSessionsError) as error:
        check_request(mode, start, end, now=NOW)
    assert str(error.value).startswith(message)


def test_a_backfill_up_to_tomorrow_is_fine_and_normalised_to_utc():
    from datetime import timedelta, timezone

    from rudder_sessions.plan import check_request

    paris = timezone(timedelta(hours=1))
    start, end = check_request("backfill", datetime(2026, 11, 26, 1, tzinfo=paris), datetime(2026, 11, 28), now=NOW)
    assert (start, end) == (datetime(2026, 11, 26, 0, 0), datetime(2026, 11, 28))
    assert check_request("incremental", None, None, now=NOW) == (None, None)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"duckdb_memory_limit": "lots"}, "source 'shop': duckdb_memory_limit: 'lots' is not a size like '3GB'"),
        ({"duckdb_threads": 0}, "source 'shop': duckdb_threads: must be between 1 and 1024, got 0"),
    ],
)
def test_bad_duckdb_limits_name_the_field(settings, message):
    from rudder_sessions.config import SourceConfig
    from rudder_sessions.errors import ConfigError

    with pytest.raises(ConfigError) as error:
        SourceConfig(name="shop", conn_id="wh", source_schema="s", target_schema="t", **settings)
    assert str(error.value) == message


def test_duckdb_limits_reach_the_engine(conn_env, capsys):
    """The limits are set on the run's DuckDB connection (read back from DuckDB itself)."""
    from rudder_sessions.config import SourceConfig
    from rudder_sessions.hooks import get_hook

    config = SourceConfig(
        name="shop",
        conn_id="wh",
        source_schema="s",
        target_schema="t",
        duckdb_memory_limit="1GB",
        duckdb_threads=1,
    )
    conn_env.load_source([ROW])
    hook = get_hook(config)
    limit, threads = hook.get_first("SELECT current_setting('memory_limit'), current_setting('threads')")
    assert (limit, int(threads)) == ("953.6 MiB", 1)
    code, _, err = run_cli(capsys, "--source-schema", "rudderstack", "--duckdb-threads", "1")
    assert code == 0, err


def test_duckdb_gets_a_memory_budget_unless_one_is_set(warehouse, monkeypatch):
    """Without a limit from the source or the connection, a run gets the default budget (not
    DuckDB's 80% of the host); a limit in the connection's extra wins, its other settings stay."""
    from rudder_sessions.config import SourceConfig
    from rudder_sessions.hooks import default_duckdb_memory_limit, get_hook

    def settings(extra: dict) -> tuple:
        connection = {"conn_type": "duckdb", "host": str(warehouse.path), "extra": extra}
        monkeypatch.setenv("AIRFLOW_CONN_WH", json.dumps(connection))
        hook = get_hook(SourceConfig(name="shop", conn_id="wh", source_schema="s", target_schema="t"))
        return hook.get_first("SELECT current_setting('memory_limit'), current_setting('threads')")

    warehouse.connect().close()  # an empty database file
    physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    expected_mib = min(3 * 1024, physical // 2 // 1024**2)
    assert default_duckdb_memory_limit() == f"{expected_mib}MiB"
    limit, _ = settings({})
    assert limit == (f"{expected_mib / 1024:.1f} GiB" if expected_mib >= 1024 else f"{expected_mib:.1f} MiB")
    assert settings({"memory_limit": "1GB", "threads": 1}) == ("953.6 MiB", 1)

    # a 4 GiB machine: half of it
    pages = {"SC_PAGE_SIZE": 4096, "SC_PHYS_PAGES": 4 * 1024**3 // 4096}
    monkeypatch.setattr("rudder_sessions.hooks.os.sysconf", pages.__getitem__)
    assert default_duckdb_memory_limit() == "2048MiB"


def test_duckdb_limits_on_another_warehouse_are_refused(monkeypatch):
    require_extra("airflow.providers.postgres", "postgres")
    from rudder_sessions.config import SourceConfig
    from rudder_sessions.errors import ConfigError
    from rudder_sessions.hooks import get_hook

    monkeypatch.setenv("AIRFLOW_CONN_PG", json.dumps({"conn_type": "postgres", "host": "127.0.0.1", "login": "x"}))
    config = SourceConfig(name="shop", conn_id="pg", source_schema="s", target_schema="t", duckdb_threads=2)
    with pytest.raises(ConfigError, match="duckdb_threads: applies to DuckDB connections only, not PostgresHook"):
        get_hook(config)


def test_duckdb_file_in_a_missing_directory(tmp_path, monkeypatch, capsys):
    missing = tmp_path / "no_such_dir" / "warehouse.duckdb"
    monkeypatch.setenv("AIRFLOW_CONN_WH", json.dumps({"conn_type": "duckdb", "host": str(missing)}))
    code, _, err = run_cli(capsys, "--source-schema", "rudderstack")
    assert code == 1
    assert err == (f"rudder-sessions: error: DuckDB database {missing} (connection 'wh'): its directory does not exist")
    assert not missing.parent.exists()


# -- issue 19: what the warehouse or a number says about a mistake, in one line --------------------


def test_duckdb_path_that_is_a_directory(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AIRFLOW_CONN_WH", json.dumps({"conn_type": "duckdb", "host": str(tmp_path)}))
    code, _, err = run_cli(capsys, "--source-schema", "rudderstack")
    assert code == 1
    assert err == f"rudder-sessions: error: DuckDB database {tmp_path} (connection 'wh') is a directory, not a file"


def test_duckdb_path_that_is_not_a_duckdb_file(tmp_path, monkeypatch, capsys):
    text = tmp_path / "notes.duckdb"
    text.write_text("not a database\n" * 1000)
    monkeypatch.setenv("AIRFLOW_CONN_WH", json.dumps({"conn_type": "duckdb", "host": str(text)}))
    code, _, err = run_cli(capsys, "--source-schema", "rudderstack")
    assert code == 1
    assert err == (
        f"rudder-sessions: error: DuckDB database {text} (connection 'wh') cannot be opened: "
        f'IO Error: The file "{text}" exists, but it is not a valid DuckDB database file!'
    )
    assert text.read_text() == "not a database\n" * 1000


@pytest.mark.parametrize("command", ["run", "status"])
def test_a_missing_duckdb_file_is_refused_not_created_empty(tmp_path, monkeypatch, capsys, command):
    """The source is read from the file: a path with a typo used to create an empty database."""
    missing = tmp_path / "warehous.duckdb"
    monkeypatch.setenv("AIRFLOW_CONN_WH", json.dumps({"conn_type": "duckdb", "host": str(missing)}))
    code = main([command, "--conn-id", "wh", "--source-schema", "rudderstack", "--target-schema", "sessions"])
    err = capsys.readouterr().err.strip()
    assert code == 1
    assert err == (
        f"rudder-sessions: error: DuckDB database {missing} (connection 'wh') does not exist: "
        "check the path (DuckDB would create an empty database there)"
    )
    assert not missing.exists()


def test_a_connection_of_an_unsupported_type(monkeypatch, capsys):
    monkeypatch.setenv("AIRFLOW_CONN_WH", json.dumps({"conn_type": "mysql", "host": "127.0.0.1"}))
    code, _, err = run_cli(capsys, "--source-schema", "rudderstack")
    assert code == 2
    assert err == (
        "rudder-sessions: error: --conn-id: connection 'wh' is of type 'mysql', which rudder-sessions cannot "
        'use (Unknown hook type "mysql"); supported types: duckdb, gcpbigquery, postgres, redshift, snowflake'
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--timeout-minutes", "inf"), "--timeout-minutes: must be a finite number, got inf"),
        (("--timeout-minutes", "1e400"), "--timeout-minutes: must be a finite number, got inf"),
        (("--lookback", "99999999999 days"), "--lookback: '99999999999 days' is longer than 36500 days (100 years)"),
        (("--lookback", "9" * 5000 + " minutes"), "--lookback: '99999999999999999999…' is longer than 36500 days"),
        (("--lookback", "36501 days"), "--lookback: '36501 days' is longer than 36500 days (100 years)"),
        (("--max-session-events", "1"), "--max-session-events: must be an integer of at least 2, got 1"),
    ],
)
def test_numbers_out_of_range_are_one_line(conn_env, capsys, args, message):
    conn_env.load_source([ROW])
    code, _, err = run_cli(capsys, "--source-schema", "rudderstack", *args)
    assert code == 2
    assert err.startswith(f"rudder-sessions: error: {message}") and "\n" not in err


def test_an_incremental_lookback_reaching_before_the_calendar(conn_env, capsys):
    """The window start is the watermark minus the lookback: 999999 days is before year 1."""
    conn_env.load_source([ROW])
    assert run_cli(capsys, "--source-schema", "rudderstack")[0] == 0
    incremental = ("--source-schema", "rudderstack", "--mode", "incremental", "--lookback")
    code, _, err = run_cli(capsys, *incremental, "999999 days")
    assert code == 2
    assert err == "rudder-sessions: error: --lookback: '999999 days' is longer than 36500 days (100 years)"
    assert run_cli(capsys, *incremental, "36500 days")[0] == 0


def test_a_memory_limit_too_small_to_open_the_database(conn_env, capsys):
    conn_env.load_source([ROW])
    code, _, err = run_cli(capsys, "--source-schema", "rudderstack", "--duckdb-memory-limit", "1KB")
    assert code == 2
    assert err.startswith(
        "rudder-sessions: error: --duckdb-memory-limit: '1KB' is too little for DuckDB to open the database "
        "(Out of Memory Error: "
    )
    assert "\n" not in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--source-name", "Shop"),
            "--source-name: 'Shop' is not a source name: use lower-case letters, digits and _, starting with a letter",
        ),
        (
            ("--duckdb-threads", "0", "--flow-length", "0"),
            "--flow-length: must be between 1 and 50, got 0; --duckdb-threads: must be between 1 and 1024, got 0",
        ),
        (
            ("--duckdb-memory-limit", "lots", "--lookback", "soon"),
            "--lookback: 'soon' is not a duration like '3 hours', '90 minutes' or '1 day'; "
            "--duckdb-memory-limit: 'lots' is not a size like '3GB'",
        ),
    ],
)
def test_every_problem_names_its_flag(conn_env, capsys, args, message):
    code, _, err = run_cli(capsys, "--source-schema", "rudderstack", *args)
    assert code == 2
    assert err == f"rudder-sessions: error: {message}"
