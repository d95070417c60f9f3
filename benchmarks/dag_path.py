"""The DAG path: the demo DAG through a real scheduler, and what each task costs beyond its SQL.

    .venv/bin/python benchmarks/dag_path.py [--events 200000] [--default-workers]

Writes the demo's sample data into a fresh DuckDB file, times a full refresh with the CLI on a
copy of it, then starts a local Airflow (the one of `tests/stack.py`: a fresh PostgreSQL metadata
database on the test server, API server, scheduler and DAG processor as processes, LocalExecutor)
and triggers, through the REST API, a full refresh and then an incremental run that changes
nothing. For every task it reads the duration from the API and the SQL's time from the task's
log line (`<phase> of source 'demo': SQL …s`): the rest is orchestration (the task process's
start-up, parsing the DAG file, hook lineage, connecting). `--default-workers` leaves Airflow's
plain fork of a LocalExecutor worker (the stack otherwise preloads Airflow and the package into a
forkserver, as `tests/stack.py` does). Writes `benchmarks/results/<time>_dag-path.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "include"), str(Path(__file__).resolve().parent)]

import duckdb  # noqa: E402
from run import machine  # noqa: E402

from sample_data import write_tracks  # noqa: E402
from stack import AirflowStack, postgres_database, utc  # noqa: E402

DAG_ID = "rudder_sessions__demo"
SQL_LINE = re.compile(r"(\w+) of source 'demo': SQL (\d+\.\d+)s[^(]*\(([^)]*)\)")


def cli_full_refresh(database: Path, workdir: Path) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env |= {
        "AIRFLOW_HOME": str(workdir / "cli-airflow"),
        "AIRFLOW_CONN_RUDDER_DEMO_DUCKDB": json.dumps({"conn_type": "duckdb", "host": str(database)}),
    }
    command = [str(ROOT / ".venv" / "bin" / "rudder-sessions"), "run", "--conn-id", "rudder_demo_duckdb"]
    started = time.perf_counter()
    subprocess.run([*command, "--mode", "full_refresh"], env=env, check=True, capture_output=True)
    return round(time.perf_counter() - started, 2)


def sql_seconds(logs: Path, run_id: str) -> dict[str, tuple[float, str]]:
    """Each task's SQL time and the costs its log names, from its log under the run's directory."""
    found: dict[str, tuple[float, str]] = {}
    for path in logs.rglob("*.log"):
        if f"run_id={run_id}" not in str(path):
            continue
        for match in SQL_LINE.finditer(path.read_text(errors="replace")):
            found[match[1]] = (float(match[2]), match[3])
    return found


def dag_run(airflow: AirflowStack, conf: dict) -> dict:
    triggered = airflow.api(
        "POST", f"/dags/{DAG_ID}/dagRuns", json={"logical_date": datetime.now(UTC).isoformat(), "conf": conf}
    )
    (run,) = airflow.wait_for_runs(DAG_ID, [triggered["dag_run_id"]], timeout=1800)
    tis = airflow.api("GET", f"/dags/{DAG_ID}/dagRuns/{run['dag_run_id']}/taskInstances")["task_instances"]
    sql = sql_seconds(airflow.workdir / "airflow" / "logs", run["dag_run_id"])
    tis = sorted(tis, key=lambda t: utc(t["start_date"]))
    tasks = []
    for ti in tis:
        seconds = (utc(ti["end_date"]) - utc(ti["start_date"])).total_seconds()
        spent, costs = sql.get(ti["task_id"], (0.0, ""))
        tasks.append(
            {
                "task": ti["task_id"],
                "state": ti["state"],
                "seconds": round(seconds, 2),
                "sql_seconds": spent,
                "outside_sql_seconds": round(seconds - spent, 2),
                "named_costs": costs,
            }
        )
    first, last = utc(tis[0]["start_date"]), max(utc(t["end_date"]) for t in tis)
    gaps = [(utc(b["start_date"]) - utc(a["end_date"])).total_seconds() for a, b in pairwise(tis)]
    return {
        "run_id": run["dag_run_id"],
        "seconds": round((utc(run["end_date"]) - utc(run["start_date"])).total_seconds(), 2),
        "first_task_start_to_last_task_end": round((last - first).total_seconds(), 2),
        "sql_seconds": round(sum(t["sql_seconds"] for t in tasks), 2),
        "median_outside_sql_per_task": round(statistics.median(t["outside_sql_seconds"] for t in tasks), 2),
        "max_outside_sql_per_task": max(t["outside_sql_seconds"] for t in tasks),
        "median_gap_between_tasks": round(statistics.median(gaps), 2) if gaps else 0.0,
        "tasks": tasks,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--default-workers", action="store_true", help="no forkserver preload")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dag-path-") as tmp:
        workdir = Path(tmp)
        database = workdir / "demo.duckdb"
        with duckdb.connect(str(database)) as conn:
            write_tracks(conn, schema="rudderstack", table="tracks", events=args.events, seed=42)
        shutil.copy(database, workdir / "cli.duckdb")
        cli = cli_full_refresh(workdir / "cli.duckdb", workdir)
        with postgres_database("rudder_sessions_bench") as sql_alchemy_conn:
            airflow = AirflowStack(workdir, sql_alchemy_conn, database, os.environ)
            if args.default_workers:
                for key in ("AIRFLOW__SCHEDULER__MP_START_METHOD", "AIRFLOW__CORE__MP_FORKSERVER_PRELOAD"):
                    airflow.env.pop(key, None)
            try:
                airflow.prepare()
                airflow.start()
                airflow.wait_for_dag(DAG_ID, timeout=300)
                airflow.api("PATCH", f"/dags/{DAG_ID}", json={"is_paused": False})
                full = dag_run(airflow, {"mode": "full_refresh"})
                noop = dag_run(airflow, {"mode": "incremental"})
            finally:
                airflow.stop()
    stamp = datetime.now(UTC)
    report = {
        "date": stamp.isoformat(timespec="seconds"),
        "machine": machine(),
        "events": args.events,
        "forkserver_preload": not args.default_workers,
        "cli_full_refresh_seconds": cli,
        "dag_full_refresh": full,
        "dag_noop_incremental": noop,
    }
    out = ROOT / "benchmarks" / "results" / f"{stamp:%Y-%m-%dT%H%MZ}_dag-path.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"CLI full refresh: {cli}s")
    for name, run in (("DAG full refresh", full), ("DAG no-op incremental", noop)):
        print(
            f"{name}: {run['seconds']}s (SQL {run['sql_seconds']}s; per task outside the SQL: median "
            f"{run['median_outside_sql_per_task']}s, max {run['max_outside_sql_per_task']}s; median gap between "
            f"tasks {run['median_gap_between_tasks']}s)"
        )
        for task in run["tasks"]:
            print(
                f"  {task['task']:<16} {task['seconds']:>7.2f}s  SQL {task['sql_seconds']:>6.2f}s  "
                f"{task['state']:<8} {task['named_costs']}"
            )
    print(f"written to {out}")


if __name__ == "__main__":
    main()
