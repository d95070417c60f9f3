"""Incremental vs full refresh on DuckDB: N days of history plus one new day.

Generates the sample dataset (`include/sample_data.py`) for DAYS + 1 days, publishes the first
DAYS days with a full refresh, lands the new day, then times an incremental run of the new day
and a full refresh of everything (the same source the incremental run ends on). Each measured
run is a fresh process, so its peak RSS is its own.

    .venv/bin/python benchmarks/incremental.py --events 5000000 --days 90 [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
START = datetime(2026, 1, 1)


def measured(args: list[str], env: dict[str, str]) -> dict:
    """Run this script's `step` in a child process; return its timing, peak RSS and summary."""
    done = subprocess.run([sys.executable, __file__, "step", *args], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(done.stdout + done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


def step(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database")
    parser.add_argument("--mode")
    parser.add_argument("--run-id")
    parser.add_argument("--target")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT / "plugins"))
    from airflow.providers.duckdb.hooks.duckdb import DuckDBHook

    from rudder_sessions.config import SourceConfig
    from rudder_sessions.dialects import DuckDBDialect
    from rudder_sessions.engine import SessionRunner

    config = SourceConfig(name="bench", conn_id="unused", source_schema="rudderstack", target_schema=args.target)
    runner = SessionRunner(config, DuckDBHook(database=args.database), DuckDBDialect())
    # Airflow's one-time start-up in a task process (provider discovery on the first hook call)
    # is the same for every run size; it is reported apart from the run.
    started = time.perf_counter()
    runner.hook.get_first("SELECT 1")
    startup = time.perf_counter() - started
    started = time.perf_counter()
    summary = runner.run(args.run_id, args.mode)
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    keys = ("mode", "rows_read", "events_changed", "visitors_affected", "visitors", "sessions", "rows_mapped_tracks")
    phases = {phase: round(t, 2) for phase, t in runner.timings.items()}
    print(
        json.dumps(
            {
                "seconds": round(seconds, 2),
                "startup_seconds": round(startup, 2),
                "peak_rss_mb": round(peak_mb),
                **{k: summary[k] for k in keys},
                "phase_seconds": phases,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5_000_000, help="events over the whole history")
    parser.add_argument("--days", type=int, default=90, help="days of history before the new day")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workdir", type=Path, default=ROOT / "benchmarks" / "data")
    args = parser.parse_args()

    import duckdb

    sys.path.insert(0, str(ROOT / "include"))
    from sample_data import write_tracks

    args.workdir.mkdir(parents=True, exist_ok=True)
    database = args.workdir / f"incremental_{args.events}_{args.days}.duckdb"
    database.unlink(missing_ok=True)
    env = {**os.environ, "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING"}
    new_day = START + timedelta(days=args.days)
    total = args.events * (args.days + 1) // args.days

    started = time.perf_counter()
    with duckdb.connect(str(database)) as conn:
        write_tracks(conn, schema="raw", table="tracks", events=total, seed=args.seed, days=args.days + 1, start=START)
        conn.execute("CREATE SCHEMA rudderstack")
        conn.execute("CREATE TABLE rudderstack.tracks AS SELECT * FROM raw.tracks WHERE received_at < ?", [new_day])
        history = conn.execute("SELECT COUNT(*) FROM rudderstack.tracks").fetchone()[0]
    generate_s = time.perf_counter() - started

    base = measured(
        ["--database", str(database), "--mode", "full_refresh", "--run-id", "history", "--target", "sessions_history"],
        env,
    )
    with duckdb.connect(str(database)) as conn:
        conn.execute("INSERT INTO rudderstack.tracks SELECT * FROM raw.tracks WHERE received_at >= ?", [new_day])
        arrived, visitors, returning = conn.execute(
            """
            WITH day AS (
                SELECT DISTINCT COALESCE(t.user_id, m.dbt_visitor_id, t.anonymous_id) AS visitor
                FROM raw.tracks t
                LEFT JOIN sessions_history.dbt_aliases_mapping m ON m.alias = t.anonymous_id
                WHERE t.received_at >= ?
            )
            SELECT (SELECT COUNT(*) FROM raw.tracks WHERE received_at >= ?), COUNT(*),
                   COUNT(*) FILTER (WHERE visitor IN (SELECT dbt_visitor_id FROM sessions_history.dbt_session_tracks))
            FROM day
            """,
            [new_day, new_day],
        ).fetchone()
        # the incremental target starts as a copy of the published history
        for table in (
            "dbt_aliases_mapping",
            "dbt_mapped_tracks",
            "dbt_session_tracks",
            "dbt_track_facts",
            "dbt_tracks_flow",
            "rudder_sessions_state",
            "rudder_sessions_runs",
        ):
            conn.execute("CREATE SCHEMA IF NOT EXISTS sessions_incremental")
            conn.execute(f"CREATE TABLE sessions_incremental.{table} AS SELECT * FROM sessions_history.{table}")
        conn.execute("CHECKPOINT")
    incremental = measured(
        [
            "--database",
            str(database),
            "--mode",
            "incremental",
            "--run-id",
            "new-day",
            "--target",
            "sessions_incremental",
        ],
        env,
    )
    full = measured(
        [
            "--database",
            str(database),
            "--mode",
            "full_refresh",
            "--run-id",
            "everything",
            "--target",
            "sessions_everything",
        ],
        env,
    )

    result = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
        "command": " ".join(["benchmarks/incremental.py", *sys.argv[1:]]),
        "history_events": history,
        "new_day_events": arrived,
        "new_day_visitors": visitors,
        "new_day_returning_visitors": returning,
        "generate_seconds": round(generate_s, 1),
        "full_refresh_history": base,
        "incremental_new_day": incremental,
        "full_refresh_everything": full,
        "incremental_share_of_full_refresh": round(incremental["seconds"] / full["seconds"], 3),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "step":
        step(sys.argv[2:])
    else:
        main()
