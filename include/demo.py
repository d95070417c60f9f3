"""The demo behind `make demo`: sample data → one real Airflow DAG run → what it produced.

Generates a RudderStack tracks table in a local DuckDB file, runs the `rudder_sessions__demo`
DAG once through Airflow itself (`airflow dags test`, every task a real task run), then prints
the run's counts and a few sessions and flows.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rudder_sessions.model import STEPS
from sample_data import write_events

ROOT = Path(__file__).resolve().parents[1]
DAG_ID = "rudder_sessions__demo"
CONN_ENV = "AIRFLOW_CONN_RUDDER_DEMO_DUCKDB"


def airflow(args: list[str], env: dict[str, str], log: Path) -> None:
    with log.open("a") as out:
        done = subprocess.run([sys.executable, "-m", "airflow", *args], env=env, stdout=out, stderr=out)
    if done.returncode != 0:
        tail = log.read_text().splitlines()[-40:]
        sys.exit(f"`airflow {' '.join(args)}` failed (exit {done.returncode}); end of {log}:\n" + "\n".join(tail))


def show(conn: duckdb.DuckDBPyConnection, title: str, sql: str) -> None:
    cursor = conn.execute(sql)
    names = [d[0] for d in cursor.description]
    rows = cursor.fetchall()
    print(f"\n{title}")
    widths = [max(len(str(v)) for v in [n, *(r[i] for r in rows)]) for i, n in enumerate(names)]
    print("  " + "  ".join(n.ljust(w) for n, w in zip(names, widths, strict=True)))
    for row in rows:
        print("  " + "  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000, help="sample events to generate")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workdir", type=Path, default=ROOT / ".demo", help="where the DuckDB file goes")
    args = parser.parse_args()

    args.workdir.mkdir(parents=True, exist_ok=True)
    database = args.workdir / "demo.duckdb"
    log = args.workdir / "airflow.log"
    log.write_text("")
    env = dict(os.environ)
    env.setdefault("AIRFLOW_HOME", str(args.workdir / "airflow"))
    env.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    env.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(ROOT / "dags"))
    env.setdefault("RUDDER_SESSIONS_CONFIG", str(ROOT / "include" / "sources.yaml"))
    env[CONN_ENV] = json.dumps({"conn_type": "duckdb", "host": str(database)})

    started = time.monotonic()
    database.unlink(missing_ok=True)
    with duckdb.connect(str(database)) as conn:
        counts = write_events(conn, schema="rudderstack", events=args.events, seed=args.seed)
    written = ", ".join(f"{rows} {table}" for table, rows in counts.items())
    print(f"1. generated {written} rows in {database} ({time.monotonic() - started:.1f}s)")

    started = time.monotonic()
    airflow(["db", "migrate"], env, log)
    # Registers the DAGs and their table Assets, as a DAG processor would: Airflow 3.0's `dags test`
    # refuses a task whose outlets are Assets no DAG processor has seen.
    airflow(["dags", "reserialize"], env, log)
    airflow(["dags", "test", DAG_ID], env, log)
    print(f"2. ran DAG {DAG_ID} through Airflow ({time.monotonic() - started:.1f}s; log: {log})")

    print("3. what it produced:")
    with duckdb.connect(str(database), read_only=True) as conn:
        show(
            conn,
            "last run (rudder_sessions.rudder_sessions_runs)",
            "SELECT mode, rows_read, dropped_null_id, dropped_null_timestamp, dropped_no_identifier, "
            "dropped_duplicate, visitors, sessions FROM rudder_sessions.rudder_sessions_runs "
            "ORDER BY finished_at DESC LIMIT 1",
        )
        show(
            conn,
            "rows per table",
            " UNION ALL ".join(
                f"SELECT '{t}' AS table_name, COUNT(*) AS rows FROM rudder_sessions.{t}"
                for t in (f"dbt_{step}" for step in STEPS)
            ),
        )
        show(
            conn,
            "a few sessions (dbt_session_tracks)",
            "SELECT * FROM rudder_sessions.dbt_session_tracks WHERE dbt_visitor_id IN "
            "(SELECT dbt_visitor_id FROM rudder_sessions.dbt_session_tracks ORDER BY dbt_visitor_id LIMIT 1) "
            "ORDER BY session_sequence_number LIMIT 5",
        )
        show(
            conn,
            "a few flows (dbt_tracks_flow, session starts)",
            "SELECT session_id, event, event_2, event_3, event_4, event_5 "
            "FROM rudder_sessions.dbt_tracks_flow "
            "WHERE track_sequence_number = 1 AND event_3 IS NOT NULL "
            "ORDER BY session_id LIMIT 5",
        )
        show(
            conn,
            "the converted sessions of a few visitors (dbt_session_facts)",
            "SELECT session_id, duration_seconds, event_count, first_event, last_event, conversion_count, "
            "first_context_campaign_source, total_revenue FROM rudder_sessions.dbt_session_facts "
            "WHERE converted ORDER BY session_id LIMIT 5",
        )
        show(
            conn,
            "visitors (dbt_user_session_facts)",
            "SELECT COUNT(*) AS visitors, SUM(session_count) AS sessions, "
            "SUM(CASE WHEN converted_session_count > 0 THEN 1 ELSE 0 END) AS converted_visitors "
            "FROM rudder_sessions.dbt_user_session_facts",
        )


if __name__ == "__main__":
    main()
