"""The command line: incremental and backfill runs, status, and its error messages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime

import pytest

from rows import ev
from rudder_sessions.cli import CLOSED_PIPE, main
from warehouses import make_config

BASE = datetime(2026, 2, 1, 9, 0)


@pytest.fixture
def wh(warehouse, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_WH", json.dumps({"conn_type": "duckdb", "host": str(warehouse.path)}))
    return warehouse


def cli(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err.strip()


RUN = (
    "run",
    "--conn-id",
    "wh",
    "--source-schema",
    "rudderstack",
    "--target-schema",
    "sessions",
    "--source-name",
    "test",
)


def test_incremental_backfill_and_status(wh, capsys):
    wh.load_source([ev(f"e{i}", "a1", None, 10 * i, base=BASE) for i in range(5)])
    code, out, _ = cli(capsys, *RUN, "--mode", "incremental", "--run-id", "one")
    assert code == 0 and "run one: full_refresh (requested incremental: nothing published yet)" in out
    wh.load_source([ev("login", "a1", "u1", 60, base=BASE)], append=True)
    code, out, _ = cli(capsys, *RUN, "--mode", "incremental", "--lookback", "10 minutes", "--run-id", "two")
    assert code == 0
    assert "run two: incremental" in out and "events changed    1" in out and "visitors affected 2" in out
    code, out, _ = cli(capsys, *RUN, "--mode", "backfill", "--start", "2026-02-01", "--end", "2026-02-02T00:00")
    assert code == 0 and "backfill" in out
    wh.assert_matches_spec(make_config())
    code, out, _ = cli(capsys, "status", "--conn-id", "wh", "--target-schema", "sessions", "--source-name", "test")
    assert code == 0
    assert out.startswith("source 'test': watermark 2026-02-01 10:00:00 (version 3")
    assert out.count("\n") == 4 and "incremental" in out and "two" in out


def test_status_of_an_empty_target(wh, capsys):
    wh.load_source([ev("e1", "a1", None, 0, base=BASE)])
    code, out, _ = cli(capsys, "status", "--conn-id", "wh", "--target-schema", "nothing_here")
    assert code == 0 and "nothing published in nothing_here yet" in out


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("--mode", "backfill"), 1, "rudder-sessions: error: a backfill needs a start and an end"),
        (("--start", "2026-01-01"), 1, "rudder-sessions: error: start and end apply to mode backfill only, not to"),
        (
            ("--mode", "backfill", "--start", "1926-01-01", "--end", "2026-01-01"),
            1,
            "rudder-sessions: error: backfill start 1926-01-01 00:00:00 is before 2000-01-01: check the year",
        ),
        (
            ("--mode", "backfill", "--start", "2026-01-02", "--end", "2026-01-01"),
            1,
            "rudder-sessions: error: backfill end 2026-01-01 00:00:00 must be after its start 2026-01-02 00:00:00",
        ),
        (("--lookback", "3 hourz"), 2, "rudder-sessions: error: --lookback: '3 hourz' is not a duration"),
        (("--watermark-column", "loaded-at"), 2, "rudder-sessions: error: --watermark-column: 'loaded-at' is not"),
        (("--watermark-column", "loaded_at"), 1, "has no column(s): loaded_at"),
    ],
)
def test_run_mistakes(wh, capsys, args, code, message):
    wh.load_source([ev("e1", "a1", None, 0, base=BASE)])
    got, _, err = cli(capsys, *RUN, *args)
    assert got == code
    assert message in err and "\n" not in err


def test_bad_start_is_an_argument_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        main([*RUN, "--mode", "backfill", "--start", "yesterday", "--end", "2026-01-01"])
    assert exit_.value.code == 2
    assert "'yesterday' is not an ISO date or timestamp" in capsys.readouterr().err


@pytest.mark.parametrize("limit", ["-1", "0", "ten"])
def test_a_status_limit_below_one_is_an_argument_error(capsys, limit):
    with pytest.raises(SystemExit) as exit_:
        main(["status", "--conn-id", "wh", "--target-schema", "sessions", "--limit", limit])
    assert exit_.value.code == 2
    assert f"argument --limit: {limit!r} is not a whole number of at least 1" in capsys.readouterr().err


def test_a_duckdb_file_held_by_another_process_is_one_line(wh, capsys):
    """While a task, a CLI run or a notebook holds the embedded file, `run` and `status` say so."""
    wh.load_source([ev("e1", "a1", None, 0, base=BASE)])
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, sys; c = duckdb.connect({str(wh.path)!r}); print('ready', flush=True); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        for args in (RUN, ("status", *RUN[1:])):
            code, _, err = cli(capsys, *args)
            assert code == 1
            assert "\n" not in err and "Traceback" not in err
            assert f"DuckDB file {wh.path} of source 'test' is in use by another process (PID {holder.pid}" in err
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    assert cli(capsys, *RUN)[0] == 0  # free again


def test_event_tables_and_facts_flags(capsys):
    code, out, _ = cli(
        capsys, "render", "--dialect", "duckdb", "--step", "plan", "--event-table", "tracks", "--event-table",
        "clicks:action", "--event-table", "orders=order's placed", "--session-first-columns", "context_campaign_source",
    )  # fmt: skip
    assert code == 0
    assert '"action" AS event' in out and "'order''s placed' AS event" in out
    assert out.count('AS "context_campaign_source"') == 3  # read from each of the three tables
    code, _, err = cli(capsys, "render", "--dialect", "duckdb", "--event-table", "clicks;drop")
    assert code == 2 and err.startswith("rudder-sessions: error: --event-table: ") and "not a valid identifier" in err
    code, _, err = cli(capsys, "render", "--dialect", "duckdb", "--session-sum-columns", "event")
    assert code == 2 and err.startswith("rudder-sessions: error: --session-sum-columns: ")


def test_a_reused_run_id_does_nothing_and_says_so(wh, capsys):
    """A script re-using a run id after new data arrived must not take the old summary for a new run."""
    wh.load_source([ev("e1", "a1", None, 0, base=BASE)])
    assert cli(capsys, *RUN, "--run-id", "R1")[0] == 0
    wh.load_source([ev("e2", "a1", None, 10, base=BASE)], append=True)
    code, out, err = cli(capsys, *RUN, "--mode", "incremental", "--run-id", "R1")
    assert (code, out, err) == (3, "", "rudder-sessions: run R1 was already published; nothing done")
    with wh.connect(read_only=True) as conn:
        events = conn.execute("SELECT event_id FROM sessions.dbt_mapped_tracks").fetchall()
        runs = conn.execute("SELECT run_id, outcome FROM sessions.rudder_sessions_runs").fetchall()
    assert events == [("e1",)] and runs == [("R1", "published")]
    code, out, _ = cli(capsys, *RUN, "--mode", "incremental", "--run-id", "R2")
    assert code == 0 and "run R2: incremental" in out and "events changed    1" in out


def test_run_log_and_state_times_are_utc_in_a_non_utc_duckdb_session(warehouse, monkeypatch, capsys):
    """A DuckDB connection whose TimeZone is New York (UTC-5 in winter): the run log, the state and
    `status` still give UTC."""
    from datetime import UTC, timedelta

    import duckdb

    try:
        duckdb.connect(config={"TimeZone": "America/New_York"}).close()
    except duckdb.InvalidInputException as error:
        # Without ICU (DuckDB 1.2's wheel, offline) no connection can set a time zone: the trap
        # this test guards against cannot occur on such an install.
        pytest.skip(f"DuckDB {duckdb.__version__} here cannot set TimeZone: {error}")
    connection = {
        "conn_type": "duckdb",
        "host": str(warehouse.path),
        "extra": {"settings": {"TimeZone": "America/New_York"}},
    }
    monkeypatch.setenv("AIRFLOW_CONN_WH", json.dumps(connection))
    warehouse.load_source([ev("e1", "a1", None, 0, base=BASE)])
    before = datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=1)
    assert cli(capsys, *RUN, "--run-id", "R1")[0] == 0
    code, out, _ = cli(capsys, "status", "--conn-id", "wh", "--target-schema", "sessions", "--source-name", "test")
    after = datetime.now(UTC).replace(tzinfo=None) + timedelta(seconds=1)
    with warehouse.connect(read_only=True) as conn:
        started, finished = conn.execute("SELECT started_at, finished_at FROM sessions.rudder_sessions_runs").fetchone()
        (updated,) = conn.execute("SELECT updated_at FROM sessions.rudder_sessions_state").fetchone()
    for value in (started, finished, updated):
        assert before <= value <= after, f"{value} is not between {before} and {after} (UTC)"
    assert code == 0 and f"at {updated})" in out and out.splitlines()[1].startswith(f"  {finished}  ")


def _cli_process(*args: str, stdout: int, **env: str) -> subprocess.Popen[bytes]:
    """`python -m rudder_sessions` in a process of its own, its stdout the given pipe."""
    return subprocess.Popen(
        [sys.executable, "-m", "rudder_sessions", *args],
        stdout=stdout,
        stderr=subprocess.PIPE,
        env={**os.environ, **env},
    )


def test_a_reader_that_stops_reading_ends_the_output_quietly():
    """`rudder-sessions render ... | head -1`: more output than the pipe holds, its reader gone
    after one line. No traceback; the exit code is a shell's for a closed pipe (128 + SIGPIPE)."""
    process = _cli_process("render", "--dialect", "duckdb", stdout=subprocess.PIPE)
    assert process.stdout.readline() == b"-- ===== plan =====\n"
    process.stdout.close()  # what `head -1` does after its line
    _, err = process.communicate(timeout=120)
    assert (process.returncode, err.decode()) == (CLOSED_PIPE, "")


@pytest.mark.parametrize("log_level", ["INFO", "DEBUG"])
def test_a_status_written_to_a_pipe_nobody_reads_ends_quietly(wh, log_level):
    """`rudder-sessions status ... | head -1` where the reader is gone before the first write: the
    few lines of `status` reach the pipe only when stdout is flushed, at the end. At DEBUG, Airflow's
    own log lines, written to stdout while the hook works, meet the closed pipe first."""
    wh.load_source([ev("e1", "a1", None, 0, base=BASE)])
    assert main(list(RUN)) == 0
    read_end, write_end = os.pipe()
    os.close(read_end)  # no process holds the read end: every write to the pipe fails
    try:
        process = _cli_process("status", *RUN[1:], stdout=write_end, AIRFLOW__LOGGING__LOGGING_LEVEL=log_level)
    finally:
        os.close(write_end)
    _, err = process.communicate(timeout=120)
    assert (process.returncode, err.decode()) == (CLOSED_PIPE, "")
