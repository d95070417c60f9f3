"""The benchmark's baselines compute what the pipeline computes, so comparing their times is fair.

`benchmarks/sql/lower_bound.sql` (one scan) must give SPEC.md's sessions, flows, idle times and
mapping wherever deduplication does not apply, and the same sessions even with duplicates.
`benchmarks/sql/original/` (the original dbt models' shape) must give SPEC.md's sessions on clean
data except exactly where its whole minutes differ: a gap of more than 30 and less than 31
minutes, which it leaves inside the session.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from conftest import assert_rows_equal
from sample_data import write_tracks
from spec_model import compute
from warehouses import ROOT, benchmark_harness

SQL = ROOT / "benchmarks" / "sql"
COLUMNS = ", ".join(f'"{c}"' for c in ("id", "anonymous_id", "user_id", "event", "timestamp", "received_at"))
SESSION_COLUMNS = (
    "session_id",
    "dbt_visitor_id",
    "session_start_at",
    "session_sequence_number",
    "next_session_start_at",
)
BLANK = "trim({c}, chr(32) || chr(9) || chr(10) || chr(12) || chr(13)) = ''"


def run_sql(conn: duckdb.DuckDBPyConnection, files: list[Path], source: str, target: str) -> None:
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {target}")
    for path in files:
        conn.execute(path.read_text().replace("{source}", source).replace("{target}", target))


def rows(conn: duckdb.DuckDBPyConnection, sql: str) -> list[dict]:
    cursor = conn.execute(sql)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]


def source_rows(conn: duckdb.DuckDBPyConnection, table: str) -> list[dict]:
    return rows(conn, f"SELECT {COLUMNS} FROM {table}")


@pytest.fixture(scope="module")
def conn() -> duckdb.DuckDBPyConnection:
    """Generated tracks (duplicates, blank and NULL ids), two visitors with gaps around the timeout, cleaner copies."""
    conn = duckdb.connect()
    write_tracks(conn, schema="raw", table="tracks", events=6000, seed=11, days=20)
    # Hand-made visitors: a tie in timestamp (ids out of insertion order), then gaps of 10 s, 10 s, 30:00,
    # 30:00.000001, 30:30, 30:59.999999 and 31:00, so each of the next four events meets an exact 30:00.
    at = datetime(2026, 1, 5, 12)
    minutes_30 = timedelta(minutes=30)
    gaps = [timedelta(0), timedelta(0), timedelta(seconds=10), timedelta(seconds=10), minutes_30]
    gaps += [minutes_30 + timedelta(microseconds=us) for us in (1, 30_000_000, 59_999_999, 60_000_000)]
    for n, anonymous in enumerate(("anon-edge-1", "anon-edge-2")):
        ts = at + timedelta(days=n)
        for k, gap in enumerate(gaps):
            ts += gap
            conn.execute(
                f"INSERT INTO raw.tracks ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    f"edge-{n}-{'a' if k == 1 else chr(98 + k)}",
                    anonymous,
                    "user-edge" if n and k == 3 else None,
                    f"e{k}",
                    ts,
                    ts,
                ],
            )
    # one copy per id: what deduplication would keep is irrelevant here, any single copy will do
    conn.execute(
        "CREATE TABLE raw.deduplicated AS SELECT * FROM raw.tracks "
        "QUALIFY id IS NULL OR row_number() OVER (PARTITION BY id ORDER BY received_at) = 1"
    )
    conn.execute(
        f"""CREATE TABLE raw.clean AS SELECT * FROM raw.deduplicated
        WHERE id IS NOT NULL AND "timestamp" IS NOT NULL
          AND (anonymous_id IS NOT NULL OR user_id IS NOT NULL)
          AND NOT coalesce({BLANK.format(c="anonymous_id")}, FALSE)
          AND NOT coalesce({BLANK.format(c="user_id")}, FALSE)"""
    )
    return conn


def test_lower_bound_equals_spec_without_duplicates(conn):
    run_sql(conn, [SQL / "lower_bound.sql"], "raw.deduplicated", "lb")
    expected = compute(source_rows(conn, "raw.deduplicated")).tables
    assert expected["session_tracks"], "the generated data has sessions"

    sessions = rows(conn, f"SELECT {', '.join(SESSION_COLUMNS)} FROM lb.lb_sessions ORDER BY session_id")
    assert_rows_equal(sessions, expected["session_tracks"], "sessions")
    flows = rows(
        conn,
        "SELECT *, CAST(session_sequence_number AS VARCHAR) || ' - ' || dbt_visitor_id AS session_id "
        "FROM lb.lb_events ORDER BY event_id",
    )
    assert_rows_equal(flows, expected["tracks_flow"], "flows")
    assert_rows_equal(
        flows, [{k: r[k] for k in ("event_id", "idle_time_minutes")} for r in expected["mapped_tracks"]], "idle times"
    )
    aliases = rows(conn, "SELECT alias, dbt_visitor_id FROM lb.lb_aliases ORDER BY alias")
    assert_rows_equal(aliases, expected["aliases_mapping"], "aliases")


def test_lower_bound_counts_the_same_sessions_with_duplicates(conn):
    """Duplicate deliveries add events to the lower bound's table, never sessions."""
    run_sql(conn, [SQL / "lower_bound.sql"], "raw.tracks", "lb_raw")
    spec = compute(source_rows(conn, "raw.tracks"))
    assert spec.dropped["duplicate"] > 0
    sessions = rows(conn, f"SELECT {', '.join(SESSION_COLUMNS)} FROM lb_raw.lb_sessions ORDER BY session_id")
    assert_rows_equal(sessions, spec.tables["session_tracks"], "sessions")
    events = conn.execute("SELECT COUNT(*) FROM lb_raw.lb_events").fetchone()[0]
    assert events == len(spec.tables["mapped_tracks"]) + spec.dropped["duplicate"]


def test_original_shape_equals_spec_but_for_gaps_between_30_and_31_minutes(conn):
    run_sql(conn, sorted((SQL / "original").glob("*.sql")), "raw.clean", "original")
    expected = compute(source_rows(conn, "raw.clean")).tables
    merged = {  # SPEC opens a session there; whole minutes (30) do not
        (r["dbt_visitor_id"], r["timestamp"])
        for r in expected["mapped_tracks"]
        if r["idle_time_minutes"] is not None and 30 < r["idle_time_minutes"] < 31
    }
    assert len(merged) >= 4, "the data has gaps between 30 and 31 minutes"
    spec_starts = {(r["dbt_visitor_id"], r["session_start_at"]) for r in expected["session_tracks"]}
    original_starts = set(
        conn.execute("SELECT dbt_visitor_id, session_start_at FROM original.dbt_session_tracks").fetchall()
    )
    assert original_starts == spec_starts - merged
    assert merged <= spec_starts

    # Visitors without such a gap get exactly SPEC's sessions, and every event the same session.
    touched = {visitor for visitor, _ in merged}
    spec_sessions = [r for r in expected["session_tracks"] if r["dbt_visitor_id"] not in touched]
    original_sessions = [
        r
        for r in rows(conn, f"SELECT {', '.join(SESSION_COLUMNS)} FROM original.dbt_session_tracks ORDER BY session_id")
        if r["dbt_visitor_id"] not in touched
    ]
    assert_rows_equal(original_sessions, spec_sessions, "sessions")
    spec_facts = {r["event_id"]: r["session_id"] for r in expected["track_facts"] if r["dbt_visitor_id"] not in touched}
    original_facts = dict(conn.execute("SELECT event_id, session_id FROM original.dbt_track_facts").fetchall())
    assert {k: original_facts[k] for k in spec_facts} == spec_facts
    assert len(original_facts) == len(expected["track_facts"])

    # The mapping is SPEC's for every identifier (the original adds a row for the NULL alias).
    aliases = rows(
        conn, "SELECT alias, dbt_visitor_id FROM original.dbt_aliases_mapping WHERE alias IS NOT NULL ORDER BY alias"
    )
    assert_rows_equal(aliases, expected["aliases_mapping"], "aliases")


def test_heavy_visitors_have_a_session_per_burst():
    """`run.py --heavy-visitors` adds server-side visitors whose bursts are each one session (SPEC's model)."""
    bench = benchmark_harness()
    conn = duckdb.connect()
    conn.execute("CREATE SCHEMA raw")
    conn.execute(
        "CREATE TABLE raw.tracks (id VARCHAR, anonymous_id VARCHAR, user_id VARCHAR, event VARCHAR, "
        '"timestamp" TIMESTAMP, received_at TIMESTAMP, sent_at TIMESTAMP)'
    )
    conn.execute(bench.HEAVY_VISITORS_SQL.format(table="raw.tracks"), [2, datetime(2026, 1, 1), 1])
    bursts_per_day = 24 * 60 // bench.HEAVY_BURST_EVERY_MIN
    model = compute(source_rows(conn, "raw.tracks"), 30, 5)
    sessions = model.tables["session_tracks"]
    assert len(source_rows(conn, "raw.tracks")) == 2 * bursts_per_day * bench.HEAVY_BURST_EVENTS
    assert {s["dbt_visitor_id"] for s in sessions} == {"server-0", "server-1"}
    assert len(sessions) == 2 * bursts_per_day
