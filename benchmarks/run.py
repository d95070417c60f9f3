"""The pipeline's benchmark: our engine against a lower bound and the original dbt models' shape.

For each size it generates the sample dataset (`include/sample_data.py`): DAYS days of history
(about SIZE events) plus one new day. It publishes the history (setup), then times, on the same
data and each in a fresh child process (so the peak RSS is the case's own):

- `full_refresh`: our engine rebuilding everything (history and new day);
- `incremental`: our engine running the new day on top of the published history;
- `incremental_tasks` (DuckDB): the same day with every phase on a connection of its own, as the
  DAG's tasks run them (each opens the file and checkpoints it at close), on a second published
  copy of the history (set up the same way, phase by phase);
- `backfill`: our engine recomputing one day in the middle of the history;
- `lower_bound`: `sql/lower_bound.sql`, one scan and window functions (DuckDB only);
- `original`: `sql/original/*.sql`, the five original dbt models as tables (DuckDB only).

The engine builds its seven tables in every case (the five of the original and the session and
visitor facts, with no facts settings); `facts_cost.py` measures what the two facts tables cost.

    .venv/bin/python benchmarks/run.py --sizes 1e6 1e7 --postgres-sizes 1e6 [--workdir DIR] [--days 90]
    .venv/bin/python benchmarks/run.py --report benchmarks/results/FILE.json   # its tables again

Writes `benchmarks/results/<time>_<sizes>.json` (machine, command, every figure), prints the
figures and the ratios as a markdown table for RESULTS.md, and draws `time_vs_events.png`.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from rudder_sessions.model import STEPS, table

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
RESULTS = BENCH / "results"
LOWER_BOUND_SQL = BENCH / "sql" / "lower_bound.sql"
ORIGINAL_SQL = sorted((BENCH / "sql" / "original").glob("*.sql"))
START = datetime(2026, 1, 1)
POSTGRES_URI = os.environ.get("RUDDER_SESSIONS_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
POSTGRES_CONN_ID = "rudder_sessions_bench_pg"
R = TypeVar("R")

SOURCE_SCHEMA = "rudderstack"  # DuckDB; PostgreSQL gets a fresh schema pair per run
TARGET_SCHEMA = "sessions"
SOURCE_TABLE = "tracks"  # everything, the new day included
HISTORY_SUFFIX = "_history"  # `<table>_history`: the rows of a source table received before the new day
HISTORY_TABLE = SOURCE_TABLE + HISTORY_SUFFIX
LINK_TABLES = ("identifies", "aliases")  # written with `identity_links` (identity: graph), split like tracks
FULL_PREFIX, INCREMENTAL_PREFIX, TASKS_PREFIX = "full_", "incr_", "tasks_"  # targets side by side in one schema
LOWER_BOUND_TABLES = ("lb_events", "lb_sessions", "lb_aliases")
# The original dbt models' tables: one per file, `<n>_<table>.sql` (they are the first five of ours).
ORIGINAL_TABLES = tuple(f.stem.split("_", 1)[1] for f in ORIGINAL_SQL)
ENGINE_CASES = ("full_refresh", "incremental", "incremental_tasks", "backfill")
CASES = (*ENGINE_CASES, "lower_bound", "original")

# Targets of the issue, checked at the largest DuckDB size.
TARGETS = {
    "full_refresh_over_lower_bound_max": 2.0,
    "original_over_full_refresh_min": 3.0,
    "incremental_over_full_refresh_max": 0.10,
    "peak_rss_max_mb": 4096,
}


# -- child processes: each measured case runs alone in one ------------------------------------------


def child(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one piece of work described by `spec` in this (fresh) process; return its figures."""
    sys.path[:0] = [str(ROOT / "plugins"), str(ROOT / "include")]
    kind = spec["kind"]
    if kind == "generate":
        return _generate(spec)
    if kind == "engine":
        return _engine_case(spec)
    if kind == "sql":
        return _sql_case(spec)
    raise ValueError(f"unknown child kind {kind!r}")


def _peak_rss_mb() -> int:
    """This process's own peak RSS: VmHWM of its memory map, which exec made new. Linux keeps
    `ru_maxrss` across fork and exec, so a case would report the parent's peak (its agreement
    queries at 1e7 reach several GB) wherever that is higher than its own."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)  # no /proc: the closest figure


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _generate(spec: dict[str, Any]) -> dict[str, Any]:
    """DAYS + 1 days of sample data: `tracks` holds all of it, `tracks_history` what arrived before day DAYS + 1;
    with `identity_links`, the link tables too, each split the same way (`identifies_history`, ...)."""
    import duckdb

    from sample_data import write_tracks

    days, new_day = spec["days"], datetime.fromisoformat(spec["new_day"])
    total = spec["events"] * (days + 1) // days
    links = LINK_TABLES if spec.get("identity_links") else ()
    started = time.perf_counter()
    with duckdb.connect(spec["database"]) as conn:
        write_tracks(
            conn,
            schema=SOURCE_SCHEMA,
            table=SOURCE_TABLE,
            events=total,
            seed=spec["seed"],
            days=days + 1,
            identity_links=bool(links),
        )
        heavy = spec.get("heavy_visitors", 0)
        if heavy:
            conn.execute(HEAVY_VISITORS_SQL.format(table=f"{SOURCE_SCHEMA}.{SOURCE_TABLE}"), [heavy, START, days + 1])
        for name in (SOURCE_TABLE, *links):
            conn.execute(
                f"CREATE TABLE {SOURCE_SCHEMA}.{name}{HISTORY_SUFFIX} AS "
                f"SELECT * FROM {SOURCE_SCHEMA}.{name} WHERE received_at < ?",
                [new_day],
            )
        conn.execute("CHECKPOINT")
        link_rows = {
            name: conn.execute(f"SELECT COUNT(*) FROM {SOURCE_SCHEMA}.{name}").fetchone()[0]
            for name in (*links, *(f"{name}{HISTORY_SUFFIX}" for name in links))
        }
        rows, history = (
            conn.execute(f"SELECT COUNT(*) FROM {SOURCE_SCHEMA}.{table}").fetchone()[0]
            for table in (SOURCE_TABLE, HISTORY_TABLE)
        )
        heavy_rows = conn.execute(
            f"SELECT COUNT(*) FROM {SOURCE_SCHEMA}.{SOURCE_TABLE} WHERE id LIKE 'heavy-%'"
        ).fetchone()[0]
    return {
        "seconds": round(time.perf_counter() - started, 2),
        "source_rows": rows,
        "history_rows": history,
        "heavy_rows": heavy_rows,
        **({"link_rows": link_rows} if links else {}),
    }


# Server-side visitors (a backend sending with one anonymous id, a bot): a burst of HEAVY_BURST_EVENTS
# events a minute apart every HEAVY_BURST_EVERY_MIN minutes (36 idle minutes between bursts), for the
# whole period, so each has thousands of sessions. The original's range join pairs each of their
# events with each of their sessions; ours does not depend on it.
HEAVY_BURST_EVENTS, HEAVY_BURST_EVERY_MIN = 10, 45
HEAVY_VISITORS_SQL = f"""
INSERT INTO {{table}} (id, anonymous_id, user_id, event, "timestamp", received_at, sent_at)
SELECT
    'heavy-' || visitor || '-' || burst || '-' || step,
    'server-' || visitor,
    NULL,
    'api_call',
    event_at,
    event_at,
    event_at
FROM (
    SELECT visitor, burst, step,
        CAST($2 AS TIMESTAMP) + to_minutes(burst * {HEAVY_BURST_EVERY_MIN} + step + visitor) AS event_at
    FROM range(CAST($1 AS BIGINT)) AS v(visitor),
         range(CAST($3 AS BIGINT) * 24 * 60 // {HEAVY_BURST_EVERY_MIN}) AS b(burst),
         range({HEAVY_BURST_EVENTS}) AS s(step)
) AS bursts
WHERE event_at < CAST($2 AS TIMESTAMP) + to_days(CAST($3 AS BIGINT))
"""


def _engine_case(spec: dict[str, Any]) -> dict[str, Any]:
    """One `SessionRunner.run`, timed without Airflow's one-time start-up in the process."""
    from rudder_sessions.config import SourceConfig
    from rudder_sessions.engine import SessionRunner
    from rudder_sessions.hooks import with_duckdb_limits

    duck = spec["engine"] == "duckdb"
    conn_id = "unused" if duck else POSTGRES_CONN_ID
    config = SourceConfig(
        name="bench",
        conn_id=conn_id,
        source_schema=spec["source_schema"],
        source_table=spec["source_table"],
        target_schema=spec["target_schema"],
        table_prefix=spec["prefix"],
        # the session-facts settings (conversion_events, session_first_columns, session_sum_columns);
        # none by default, as a source that sets none
        **spec.get("facts", {}),
        # the identity settings (identity: graph and its link tables); none: last_touch
        **spec.get("identity", {}),
    )
    if duck:
        from airflow.providers.duckdb.hooks.duckdb import DuckDBHook

        from rudder_sessions.dialects import DuckDBDialect

        # the default settings of a run: with_duckdb_limits gives it the default memory budget
        hook, dialect = with_duckdb_limits(config, DuckDBHook(database=spec["database"])), DuckDBDialect()
    else:
        from airflow.providers.postgres.hooks.postgres import PostgresHook

        from rudder_sessions.dialects import PostgresDialect

        hook, dialect = PostgresHook(postgres_conn_id=POSTGRES_CONN_ID), PostgresDialect()
    runner = SessionRunner(config, hook, dialect)
    # Provider discovery on the first hook call costs the same at every size: reported apart.
    started = time.perf_counter()
    runner.hook.get_first("SELECT 1")
    startup = time.perf_counter() - started
    window = [datetime.fromisoformat(v) if v else None for v in (spec.get("start"), spec.get("end"))]
    cpu, started = _cpu_seconds(), time.perf_counter()
    # tasks: every phase on a connection of its own, as the DAG's tasks (without Airflow around them)
    summary = runner.run(spec["run_id"], spec["mode"], *window, shared_connection=not spec.get("tasks"))
    seconds, cpu = time.perf_counter() - started, _cpu_seconds() - cpu
    rows_written = {step: int(summary.get(f"rows_{step}") or 0) for step in STEPS}
    keys = ("mode", "rows_read", "events_changed", "visitors_affected", "visitors", "sessions")
    dropped = {k.removeprefix("dropped_"): int(v or 0) for k, v in summary.items() if k.startswith("dropped_")}
    return {
        "seconds": round(seconds, 2),
        "cpu_seconds": round(cpu, 2),
        "startup_seconds": round(startup, 2),
        "peak_rss_mb": _peak_rss_mb(),
        "duckdb_memory_limit": getattr(hook, "memory_limit", None),
        **{k: summary.get(k) for k in keys},
        "dropped": dropped,
        "rows_written": sum(rows_written.values()),
        "rows_written_per_table": rows_written,
        "phase_seconds": {phase: round(t, 2) for phase, t in getattr(runner, "timings", {}).items()},
    }


def _sql_case(spec: dict[str, Any]) -> dict[str, Any]:
    """A baseline's SQL files on one DuckDB connection, set up as the engine sets up its own; the
    time runs from connecting to closing the file (its checkpoint writes the tables)."""
    import duckdb

    target, source = spec["target_schema"], f'"{spec["source_schema"]}"."{spec["source_table"]}"'
    scripts = [
        (Path(f).stem, Path(f).read_text().replace("{source}", source).replace("{target}", target))
        for f in spec["files"]
    ]
    phases: dict[str, float] = {}
    cpu, started = _cpu_seconds(), time.perf_counter()
    conn = duckdb.connect(spec["database"])
    conn.execute("SET checkpoint_threshold = '4GB'")  # what the engine's run connection sets (DuckDBDialect)
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {target}")
    for name, sql in scripts:
        began = time.perf_counter()
        conn.execute(sql)
        phases[name] = round(time.perf_counter() - began, 2)
    conn.close()
    seconds, cpu = time.perf_counter() - started, _cpu_seconds() - cpu
    peak = _peak_rss_mb()
    with duckdb.connect(spec["database"], read_only=True) as conn:
        rows = {t: conn.execute(f"SELECT COUNT(*) FROM {target}.{t}").fetchone()[0] for t in spec["tables"]}
    return {
        "seconds": round(seconds, 2),
        "cpu_seconds": round(cpu, 2),
        "peak_rss_mb": peak,
        "rows_written": sum(rows.values()),
        "rows_written_per_table": rows,
        "phase_seconds": phases,
    }


# -- the parent: data, cases, checks, report ---------------------------------------------------------


def duckdb_engine_spec(database: Path, prefix: str, mode: str, run_id: str, **options: Any) -> dict[str, Any]:
    """An engine case on the DuckDB file: `mode` of `tracks` into the targets named `prefix...`;
    `options`: tasks, start/end, facts or identity settings, another source_table."""
    return {
        "kind": "engine",
        "engine": "duckdb",
        "database": str(database),
        "source_schema": SOURCE_SCHEMA,
        "source_table": SOURCE_TABLE,
        "target_schema": TARGET_SCHEMA,
        "prefix": prefix,
        "mode": mode,
        "run_id": run_id,
        **options,
    }


def measured(spec: dict[str, Any], env: dict[str, str], label: str, script: str = __file__) -> dict[str, Any]:
    """Run `child(spec)` in a fresh interpreter (`script _child SPEC`: this file's, or another
    benchmark's that hands the spec on to `child`); its figures plus the load average before it."""
    load = os.getloadavg()[0]
    print(f"  {label} ...", end="", flush=True)
    began = time.perf_counter()
    done = subprocess.run([sys.executable, script, "_child", json.dumps(spec)], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        print()
        sys.exit(f"{label} failed:\n{done.stdout[-4000:]}{done.stderr[-8000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(f" {result['seconds']:.2f} s ({time.perf_counter() - began:.1f} s with start-up)", flush=True)
    return {**result, "load_average_before": round(load, 2)}


def run_duckdb(events: int, args: argparse.Namespace, env: dict[str, str], database: Path) -> dict[str, Any]:
    """All five cases on the DuckDB file of this size (generated already)."""

    def engine(prefix: str, table: str, mode: str, run_id: str, tasks: bool = False, **window: str) -> dict[str, Any]:
        spec = duckdb_engine_spec(database, prefix, mode, run_id, source_table=table, tasks=tasks, **window)
        return measured(spec, env, f"duckdb {size_label(events)} {run_id}")

    def sql(name: str, files: list[Path], tables: tuple[str, ...]) -> dict[str, Any]:
        spec = {
            "kind": "sql",
            "database": str(database),
            "source_schema": SOURCE_SCHEMA,
            "source_table": SOURCE_TABLE,
            "target_schema": name,
            "files": [str(f) for f in files],
            "tables": tables,
        }
        return measured(spec, env, f"duckdb {size_label(events)} {name}")

    def every_case() -> tuple[dict[str, Any], dict[str, Any]]:
        cases = {"full_refresh": engine(FULL_PREFIX, SOURCE_TABLE, "full_refresh", "everything")}
        cases["lower_bound"] = sql("lower_bound", [LOWER_BOUND_SQL], LOWER_BOUND_TABLES)
        cases["original"] = sql("original", ORIGINAL_SQL, ORIGINAL_TABLES)
        agreement = duckdb_agreement(database, cases["full_refresh"])
        cases["incremental"] = engine(INCREMENTAL_PREFIX, SOURCE_TABLE, "incremental", "new-day")
        cases["incremental_tasks"] = engine(TASKS_PREFIX, SOURCE_TABLE, "incremental", "new-day as tasks", tasks=True)
        agreement["incremental_tasks_equals_full_refresh"] = duckdb_same_sessions(database, TASKS_PREFIX)
        start, end = backfill_window(args)
        cases["backfill"] = engine(FULL_PREFIX, SOURCE_TABLE, "backfill", "backfill", start=start, end=end)
        agreement["incremental_equals_full_refresh"] = duckdb_same_sessions(database)
        return cases, agreement

    with history_as_source(duckdb_execute(database), SOURCE_SCHEMA):
        setup = engine(INCREMENTAL_PREFIX, SOURCE_TABLE, "full_refresh", "history")
        setup_tasks = engine(TASKS_PREFIX, SOURCE_TABLE, "full_refresh", "history as tasks", tasks=True)
    day = duckdb_new_day(database, args)
    repeats = from_the_same_file(database, args.repeat, lambda _: every_case())
    cases, agreement = combine_repeats(repeats)
    return {
        "engine": "duckdb",
        "events": events,
        "data": day,
        "setup_history_full_refresh": setup,
        "setup_history_full_refresh_tasks": setup_tasks,
        "cases": cases,
        "agreement": agreement,
        **({"ratios_per_repeat": [ratios(c) for c, _ in repeats]} if len(repeats) > 1 else {}),
    }


def from_the_same_file(database: Path, times: int, once: Callable[[int], R]) -> list[R]:
    """`once(index)` `times` times, every repeat from the same file (the published history and
    nothing else): a copy is taken before the first and restored before each later one."""
    snapshot = database.with_name(f"{database.name}.before-cases") if times > 1 else None
    results = []
    try:
        if snapshot:
            shutil.copyfile(database, snapshot)
        for index in range(times):
            if snapshot:
                if index:
                    shutil.copyfile(snapshot, database)
                print(f"  repeat {index + 1} of {times}:", flush=True)
            results.append(once(index))
    finally:
        if snapshot:
            snapshot.unlink(missing_ok=True)
    return results


def combine_repeats(repeats: list[tuple[dict[str, Any], dict[str, Any]]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """One figure per case from repeated runs on the same data: the run of median wall time (a
    real run, so its phases belong together), every repeat's wall time beside it, and the highest
    peak RSS of the repeats. The agreement checks must hold in every repeat; their counts are the
    same data's each time."""
    if len(repeats) == 1:
        return repeats[0]
    cases: dict[str, Any] = {}
    for name in repeats[0][0]:
        runs = [r[name] for r, _ in repeats]
        work = {(run.get("rows_read"), run["rows_written"]) for run in runs}
        if len(work) > 1:  # each repeat must start from the same published history
            raise RuntimeError(f"the repeats of {name} did different work (rows read, written): {sorted(work)}")
        median = statistics.median_low(run["seconds"] for run in runs)
        chosen = next(run for run in runs if run["seconds"] == median)
        cases[name] = {
            **chosen,
            "repeat_seconds": [run["seconds"] for run in runs],
            "peak_rss_mb": max(run["peak_rss_mb"] for run in runs),
        }
    agreement = dict(repeats[0][1])
    for key, value in agreement.items():
        if isinstance(value, bool):
            agreement[key] = all(a[key] for _, a in repeats)
    return cases, agreement


@contextmanager
def history_as_source(
    execute: Callable[[str], Any], schema: str, tables: tuple[str, ...] = (SOURCE_TABLE,)
) -> Iterator[None]:
    """The history is published from `tracks` while it holds only the history, as in production
    (the source table is a model-shaping setting: publishing from `tracks_history` and running
    incrementally on `tracks` would rebuild everything). `tables`: every table so swapped with its
    `<table>_history` (the link tables of identity: graph are model-shaping settings too)."""
    for name in tables:
        execute(f"ALTER TABLE {schema}.{name} RENAME TO {name}_all")
        execute(f"ALTER TABLE {schema}.{name}{HISTORY_SUFFIX} RENAME TO {name}")
    try:
        yield
    finally:
        for name in tables:
            execute(f"ALTER TABLE {schema}.{name} RENAME TO {name}{HISTORY_SUFFIX}")
            execute(f"ALTER TABLE {schema}.{name}_all RENAME TO {name}")


def duckdb_execute(database: Path) -> Callable[[str], Any]:
    def execute(sql: str) -> None:
        import duckdb

        with duckdb.connect(str(database)) as conn:
            conn.execute(sql)

    return execute


def duckdb_new_day(database: Path, args: argparse.Namespace, prefix: str = INCREMENTAL_PREFIX) -> dict[str, Any]:
    import duckdb

    with duckdb.connect(str(database), read_only=True) as conn:

        def fetch_one(sql: str, params: list[Any]) -> tuple:
            return conn.execute(sql, params).fetchone()

        return new_day(fetch_one, SOURCE_SCHEMA, TARGET_SCHEMA, "?", args, prefix)


def new_day(
    fetch_one: Callable[[str, list[Any]], tuple],
    source_schema: str,
    target_schema: str,
    placeholder: str,
    args: Any,
    prefix: str = INCREMENTAL_PREFIX,
) -> dict[str, Any]:
    """The new day's size, and how many of its visitors already had sessions in the history
    published under `prefix`."""
    source = f"{source_schema}.{SOURCE_TABLE}"
    sql = NEW_DAY_SQL.format(source=source, target=target_schema, prefix=prefix, placeholder=placeholder)
    row = fetch_one(sql, [new_day_start(args)] * 2)
    history = fetch_one(f"SELECT COUNT(*) FROM {source_schema}.{HISTORY_TABLE}", [])[0]
    return new_day_figures(history, row)


NEW_DAY_SQL = """
WITH day AS (
    SELECT DISTINCT COALESCE(t.user_id, m.dbt_visitor_id, t.anonymous_id) AS visitor
    FROM {source} t
    LEFT JOIN {target}.{prefix}dbt_aliases_mapping m ON m.alias = t.anonymous_id
    WHERE t.received_at >= {placeholder}
)
SELECT (SELECT COUNT(*) FROM {source} WHERE received_at >= {placeholder}), COUNT(*),
       COUNT(*) FILTER (WHERE visitor IN (SELECT dbt_visitor_id FROM {target}.{prefix}dbt_session_tracks))
FROM day
"""


def new_day_figures(history: int, row: tuple) -> dict[str, Any]:
    events, visitors, returning = row
    share = returning / visitors if visitors else 0.0
    if share < 0.5:
        print(f"  warning: only {share:.0%} of the new day's visitors are returning (expected at least half)")
    return {
        "history_rows": history,
        "new_day_rows": events,
        "new_day_visitors": visitors,
        "new_day_returning_visitors": returning,
        "new_day_returning_share": round(share, 3),
    }


def duckdb_agreement(database: Path, full: dict[str, Any]) -> dict[str, Any]:
    """Do the baselines compute the same sessions as the pipeline? Counts, and the sessions
    themselves (visitor and start) compared both ways."""
    import duckdb

    ours = f"{TARGET_SCHEMA}.{FULL_PREFIX}dbt_session_tracks"
    with duckdb.connect(str(database), read_only=True) as conn:

        def one(sql: str) -> Any:
            return conn.execute(sql).fetchone()[0]

        def missing(a: str, b: str) -> int:
            return one(
                f"SELECT COUNT(*) FROM (SELECT dbt_visitor_id, session_start_at FROM {a} "
                f"EXCEPT ALL SELECT dbt_visitor_id, session_start_at FROM {b})"
            )

        lb_sessions = one("SELECT COUNT(*) FROM lower_bound.lb_sessions")
        lb_events = one("SELECT COUNT(*) FROM lower_bound.lb_events")
        original_sessions = one("SELECT COUNT(*) FROM original.dbt_session_tracks")
        events_expected = full["rows_written_per_table"]["mapped_tracks"] + full["dropped"].get("duplicate", 0)
        result = {
            "pipeline_sessions": full["sessions"],
            "pipeline_visitors": full["visitors"],
            "lower_bound_sessions": lb_sessions,
            "lower_bound_visitors": one("SELECT COUNT(DISTINCT dbt_visitor_id) FROM lower_bound.lb_sessions"),
            "lower_bound_sessions_not_in_pipeline": missing("lower_bound.lb_sessions", ours),
            "pipeline_sessions_not_in_lower_bound": missing(ours, "lower_bound.lb_sessions"),
            "lower_bound_events": lb_events,
            "pipeline_events_plus_duplicates": events_expected,
            "original_sessions": original_sessions,
            "original_sessions_not_in_pipeline": missing("original.dbt_session_tracks", ours),
            "pipeline_sessions_not_in_original": missing(ours, "original.dbt_session_tracks"),
            # what the original's whole minutes merge: sessions of ours opened after a 30-31 minute gap
            "pipeline_sessions_after_30_to_31_minute_gap": one(
                f"SELECT COUNT(*) FROM {TARGET_SCHEMA}.{FULL_PREFIX}dbt_mapped_tracks "
                "WHERE idle_time_minutes > 30 AND idle_time_minutes < 31"
            ),
        }
    result["lower_bound_agrees"] = (
        lb_sessions == full["sessions"]
        and result["lower_bound_visitors"] == full["visitors"]
        and result["lower_bound_sessions_not_in_pipeline"] == 0
        and result["pipeline_sessions_not_in_lower_bound"] == 0
        and lb_events == events_expected
    )
    return result


def duckdb_same_sessions(database: Path, prefix: str = INCREMENTAL_PREFIX) -> bool:
    import duckdb

    with duckdb.connect(str(database), read_only=True) as conn:
        return conn.execute(sessions_differ_sql(TARGET_SCHEMA, prefix)).fetchone()[0] == 0


def sessions_differ_sql(schema: str, prefix: str = INCREMENTAL_PREFIX) -> str:
    """Sessions of an incremental target and of the full refresh's that the other lacks: 0 when the
    incremental run (and the backfill after it) ended equal to the rebuild."""
    columns = ", ".join(name for name, _ in table("session_tracks").columns)
    a, b = (f"{schema}.{p}dbt_session_tracks" for p in (prefix, FULL_PREFIX))
    return (
        f"SELECT (SELECT COUNT(*) FROM (SELECT {columns} FROM {a} EXCEPT ALL SELECT {columns} FROM {b}) x) "
        f"+ (SELECT COUNT(*) FROM (SELECT {columns} FROM {b} EXCEPT ALL SELECT {columns} FROM {a}) y)"
    )


def run_postgres(events: int, args: argparse.Namespace, env: dict[str, str], database: Path) -> dict[str, Any]:
    """The engine's three cases on PostgreSQL, on the data of the DuckDB file (loaded with COPY, untimed)."""
    import psycopg2

    suffix = uuid.uuid4().hex[:8]
    source_schema, target_schema = f"rs_bench_src_{suffix}", f"rs_bench_out_{suffix}"
    parts = urlsplit(args.postgres_uri)
    env = {
        **env,
        f"AIRFLOW_CONN_{POSTGRES_CONN_ID.upper()}": json.dumps(
            {
                "conn_type": "postgres",
                "host": parts.hostname or "127.0.0.1",
                "port": parts.port or 5432,
                "login": parts.username or "postgres",
                "password": parts.password or "",
                "schema": parts.path.lstrip("/"),
            }
        ),
    }
    conn = psycopg2.connect(args.postgres_uri)
    conn.autocommit = True

    def pg_fetch_one(sql: str, params: list[Any] | None = None) -> tuple:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchone()

    def pg_fetch_none(sql: str) -> None:
        with conn.cursor() as cur:
            cur.execute(sql)

    try:
        load_seconds = postgres_load(conn, database, source_schema, args)

        def engine(prefix: str, table: str, mode: str, run_id: str, **window: str) -> dict[str, Any]:
            spec = {
                "kind": "engine",
                "engine": "postgres",
                "source_schema": source_schema,
                "source_table": table,
                "target_schema": target_schema,
                "prefix": prefix,
                "mode": mode,
                "run_id": run_id,
                **window,
            }
            return measured(spec, env, f"postgres {size_label(events)} {run_id}")

        with history_as_source(pg_fetch_none, source_schema):
            setup = engine(INCREMENTAL_PREFIX, SOURCE_TABLE, "full_refresh", "history")
        day = {**new_day(pg_fetch_one, source_schema, target_schema, "%s", args), "load_seconds": load_seconds}
        server = pg_fetch_one("SELECT version()")[0]
        cases = {"full_refresh": engine(FULL_PREFIX, SOURCE_TABLE, "full_refresh", "everything")}
        cases["incremental"] = engine(INCREMENTAL_PREFIX, SOURCE_TABLE, "incremental", "new-day")
        start, end = backfill_window(args)
        cases["backfill"] = engine(FULL_PREFIX, SOURCE_TABLE, "backfill", "backfill", start=start, end=end)
        same = pg_fetch_one(sessions_differ_sql(target_schema))[0] == 0
    finally:
        with conn.cursor() as cur:
            for schema in (source_schema, target_schema):
                cur.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        conn.close()
    return {
        "engine": "postgres",
        "server": server,
        "events": events,
        "data": day,
        "setup_history_full_refresh": setup,
        "cases": cases,
        "agreement": {"incremental_equals_full_refresh": same},
    }


PG_COLUMNS = {
    "id": "TEXT",
    "anonymous_id": "TEXT",
    "user_id": "TEXT",
    "event": "TEXT",
    "timestamp": "TIMESTAMP",
    "received_at": "TIMESTAMP",
    "sent_at": "TIMESTAMP",
    "context_library_name": "TEXT",
    "context_ip": "TEXT",
    "context_page_path": "TEXT",
    "context_user_agent": "TEXT",
    "context_page_referrer": "TEXT",
    "context_campaign_source": "TEXT",
    "context_campaign_medium": "TEXT",
    "context_campaign_name": "TEXT",
    "context_device_type": "TEXT",
    "revenue": "DOUBLE PRECISION",
}


def postgres_load(conn: Any, database: Path, schema: str, args: argparse.Namespace) -> float:
    """Copy the generated source (every column, in arrival order) through a CSV file; return seconds."""
    import duckdb

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        path = Path(tmp) / "tracks.csv"
        with duckdb.connect(str(database), read_only=True) as source:
            names = [r[0] for r in source.execute(f"DESCRIBE {SOURCE_SCHEMA}.{SOURCE_TABLE}").fetchall()]
            if names != list(PG_COLUMNS):
                raise RuntimeError(f"unexpected sample columns {names}")
            source.execute(f"COPY (SELECT * FROM {SOURCE_SCHEMA}.{SOURCE_TABLE}) TO '{path}' (HEADER, NULLSTR '\\N')")
        with conn.cursor() as cur, path.open() as rows:
            cur.execute(f"CREATE SCHEMA {schema}")
            columns = ", ".join(f'"{c}" {t}' for c, t in PG_COLUMNS.items())
            cur.execute(f"CREATE TABLE {schema}.{SOURCE_TABLE} ({columns})")
            cur.copy_expert(f"COPY {schema}.{SOURCE_TABLE} FROM STDIN WITH (FORMAT csv, HEADER true, NULL '\\N')", rows)
            cur.execute(
                f"CREATE TABLE {schema}.{HISTORY_TABLE} AS "
                f"SELECT * FROM {schema}.{SOURCE_TABLE} WHERE received_at < %s",
                [new_day_start(args)],
            )
            for table in (SOURCE_TABLE, HISTORY_TABLE):
                cur.execute(f"VACUUM ANALYZE {schema}.{table}")
    return round(time.perf_counter() - started, 1)


def new_day_start(args: argparse.Namespace) -> datetime:
    return START + timedelta(days=args.days)


def backfill_window(args: argparse.Namespace) -> tuple[str, str]:
    """One day in the middle of the history."""
    start = START + timedelta(days=args.days // 2)
    return start.isoformat(), (start + timedelta(days=1)).isoformat()


def ratios(cases: dict[str, Any]) -> dict[str, float | None]:
    def ratio(a: str, b: str) -> float | None:
        if a in cases and b in cases and cases[b]["seconds"]:
            return round(cases[a]["seconds"] / cases[b]["seconds"], 3)
        return None

    return {
        "full_refresh_over_lower_bound": ratio("full_refresh", "lower_bound"),
        "original_over_full_refresh": ratio("original", "full_refresh"),
        "incremental_over_full_refresh": ratio("incremental", "full_refresh"),
        "incremental_tasks_over_full_refresh": ratio("incremental_tasks", "full_refresh"),
        "backfill_over_full_refresh": ratio("backfill", "full_refresh"),
    }


def repeat_values(run: dict[str, Any], name: str) -> list[float]:
    """The ratio `name` as measured within each repeat (empty for a run without repeats)."""
    return [r[name] for r in run.get("ratios_per_repeat", []) if r.get(name) is not None]


def combined_ratios(run: dict[str, Any]) -> dict[str, float | None]:
    """The ratios of a run; with repeats, the median of each repeat's own ratio: both cases of a
    repeat ran minutes apart, so a slow spell of a shared host cancels out of them, where a ratio
    of medians could pair figures measured a quarter of an hour apart."""
    if not run.get("ratios_per_repeat"):
        return ratios(run["cases"])
    values = {name: repeat_values(run, name) for name in run["ratios_per_repeat"][0]}
    return {name: round(statistics.median(v), 3) if v else None for name, v in values.items()}


def largest_duckdb_run(runs: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The run the targets are judged on."""
    return max((r for r in runs if r["engine"] == "duckdb"), key=lambda r: r["events"], default=None)


def check_targets(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The issue's targets, at the largest DuckDB size measured: on the median figures, and, with
    repeats, in each repeat (a target met by the median alone is met by chance)."""
    run = largest_duckdb_run(runs)
    if run is None:
        return {}
    cases = run["cases"]
    peak = max(cases[c]["peak_rss_mb"] for c in ENGINE_CASES if c in cases)
    bounds = {
        "full_refresh_over_lower_bound": lambda v: v <= TARGETS["full_refresh_over_lower_bound_max"],
        "original_over_full_refresh": lambda v: v >= TARGETS["original_over_full_refresh_min"],
        "incremental_over_full_refresh": lambda v: v <= TARGETS["incremental_over_full_refresh_max"],
    }

    def verdict(name: str) -> dict[str, Any]:
        value, ok = run["ratios"][name], bounds[name]
        per_repeat = repeat_values(run, name)
        return {
            "value": value,
            "met": bool(value is not None and ok(value)),
            **({"met_in_every_repeat": all(ok(v) for v in per_repeat)} if per_repeat else {}),
        }

    return {
        "events": run["events"],
        **{name: verdict(name) for name in bounds},
        "engine_peak_rss_mb": {"value": peak, "met": peak < TARGETS["peak_rss_max_mb"]},
    }


def code_state() -> dict[str, Any]:
    """The commit measured, and the engine files that differed from it (work in progress is measured too)."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    changed = git("status", "--porcelain", "--", "sql", "plugins", "include/sample_data.py")
    return {"commit": git("rev-parse", "HEAD"), "uncommitted_engine_files": [line[3:] for line in changed.splitlines()]}


def machine() -> dict[str, Any]:
    import duckdb

    def proc(path: str, key: str) -> str | None:
        try:
            for line in Path(path).read_text().splitlines():
                if line.startswith(key):
                    return line.split(":", 1)[1].strip()
        except OSError:
            pass
        return None

    memory = proc("/proc/meminfo", "MemTotal")
    return {
        "cpu": proc("/proc/cpuinfo", "model name") or platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "ram_gib": round(int(memory.split()[0]) / 1024**2, 1) if memory else None,
        "os": platform.platform(),
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
    }


# -- report ------------------------------------------------------------------------------------------


def size_label(events: int) -> str:
    """1000000 -> '1e6', 2500000 -> '2.5e6'."""
    mantissa, exponent = f"{events:e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _seconds(case: dict[str, Any]) -> str:
    """Wall time, and the range over the repeats when there were several."""
    repeats = case.get("repeat_seconds") or []
    spread = f" ({min(repeats):.2f} to {max(repeats):.2f})" if len(repeats) > 1 else ""
    return f"{case['seconds']:.2f} s{spread}"


def _ratio(run: dict[str, Any], name: str, digits: int = 2) -> str:
    """A ratio, and the range of its value within each repeat when there were several."""
    per_repeat = repeat_values(run, name)
    spread = f" ({min(per_repeat):.{digits}f} to {max(per_repeat):.{digits}f})" if len(per_repeat) > 1 else ""
    return f"{_fmt(run['ratios'][name], digits)}{spread}"


def _met(verdict: dict[str, Any]) -> str:
    if not verdict["met"]:
        return "**no**"
    return "by the median only" if verdict.get("met_in_every_repeat") is False else "yes"


def _yes_no(value: bool | None) -> str:
    return "-" if value is None else "yes" if value else "**no**"  # None: not measured (older results)


def markdown(result: dict[str, Any]) -> str:
    """The figures of one run as markdown tables, ready for RESULTS.md."""
    m = result["machine"]
    lines = [
        f"- Date: {result['date']}. Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB, {m['os']}, "
        f"Python {m['python']}, DuckDB {m['duckdb']}.",
        f"- Command: `{result['command']}` ({result['total_seconds'] / 60:.1f} min in all).",
        f"- Raw figures: [`{result['file']}`]({result['file']}).",
        *[
            f"- Data: {heavy} server-side visitors added to the sample data "
            f"({', '.join(_fmt(run['data'].get('heavy_rows')) for run in result['runs'])} events), "
            f"a burst of {HEAVY_BURST_EVENTS} events every {HEAVY_BURST_EVERY_MIN} minutes each."
            for heavy in [result["settings"].get("heavy_visitors")]
            if heavy
        ],
        *[
            f"- Every DuckDB case ran {repeat} times on the same data (the file restored before each repeat): "
            "wall time is the median run's, with the range of the repeats; a ratio is the median of "
            "the ratios within each repeat, with their range."
            for repeat in [result["settings"].get("repeat", 1)]
            if repeat > 1
        ],
        "",
        "| engine | events | case | wall time | CPU time | peak RSS | rows read | rows written | x full refresh |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for run in result["runs"]:
        cases = run["cases"]
        full = cases.get("full_refresh", {}).get("seconds")
        for name in CASES:
            if name not in cases:
                continue
            c = cases[name]
            share = f"{c['seconds'] / full:.3f}" if full else "-"
            lines.append(
                f"| {run['engine']} | {size_label(run['events'])} | {name.replace('_', ' ')} | {_seconds(c)} | "
                f"{_fmt(c.get('cpu_seconds'))} s | {c['peak_rss_mb'] / 1024:.2f} GB | {_fmt(c.get('rows_read'))} | "
                f"{_fmt(c['rows_written'])} | {share} |"
            )
    lines += [
        "",
        "| engine | events | source rows | new day rows (returning visitors) | full refresh / lower bound "
        "| original / full refresh | incremental / full refresh | backfill / full refresh |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for run in result["runs"]:
        d = run["data"]
        lines.append(
            f"| {run['engine']} | {size_label(run['events'])} | {_fmt(d['history_rows'] + d['new_day_rows'])} | "
            f"{_fmt(d['new_day_rows'])} ({d['new_day_returning_share']:.0%}) | "
            f"{_ratio(run, 'full_refresh_over_lower_bound')} | {_ratio(run, 'original_over_full_refresh')} | "
            f"{_ratio(run, 'incremental_over_full_refresh', 3)} | {_ratio(run, 'backfill_over_full_refresh', 3)} |"
        )
    targets = result.get("targets") or {}
    judged = largest_duckdb_run(result["runs"])
    if targets and judged:
        label = size_label(targets["events"])
        lines += [
            "",
            f"Targets of the issue at {label} (DuckDB):",
            "",
            "| target | measured | met |",
            "| --- | ---: | --- |",
            *[
                f"| {text} | {_ratio(judged, name, digits)}{unit} | {_met(targets[name])} |"
                for name, text, digits, unit in (
                    ("full_refresh_over_lower_bound", "full refresh ≤ 2 x lower bound", 2, " x"),
                    ("original_over_full_refresh", "full refresh ≥ 3 x faster than the original shape", 2, " x"),
                    ("incremental_over_full_refresh", "incremental ≤ 10% of full refresh", 3, ""),
                )
            ],
            f"| peak RSS of the engine < 4 GB | {targets['engine_peak_rss_mb']['value'] / 1024:.2f} GB | "
            f"{_met(targets['engine_peak_rss_mb'])} |",
        ]
    agreements = [(run, run["agreement"]) for run in result["runs"] if "lower_bound_sessions" in run["agreement"]]
    if agreements:
        lines += [
            "",
            "| events | sessions: pipeline | lower bound | original | lower bound agrees | original: extra / missing "
            "sessions | 30-31 min gaps | incremental = full refresh | incremental as tasks = full refresh |",
            "| ---: | ---: | ---: | ---: | --- | ---: | ---: | --- | --- |",
        ]
        for run, a in agreements:
            lines.append(
                f"| {size_label(run['events'])} | {_fmt(a['pipeline_sessions'])} | {_fmt(a['lower_bound_sessions'])} | "
                f"{_fmt(a['original_sessions'])} | {'yes' if a['lower_bound_agrees'] else '**no**'} | "
                f"{_fmt(a['original_sessions_not_in_pipeline'])} / {_fmt(a['pipeline_sessions_not_in_original'])} | "
                f"{_fmt(a['pipeline_sessions_after_30_to_31_minute_gap'])} | "
                f"{'yes' if a['incremental_equals_full_refresh'] else '**no**'} | "
                f"{_yes_no(a.get('incremental_tasks_equals_full_refresh'))} |"
            )
    lines += ["", "Seconds per phase (engine) or per SQL file (baselines):", ""]
    for run in result["runs"]:
        for name in CASES:
            c = run["cases"].get(name)
            if c and c.get("phase_seconds"):
                phases = ", ".join(f"{p} {s:.2f}" for p, s in c["phase_seconds"].items())
                lines.append(f"- {run['engine']} {size_label(run['events'])} {name.replace('_', ' ')}: {phases}")
    return "\n".join(lines)


# -- main --------------------------------------------------------------------------------------------


def child_environment(workdir: Path) -> dict[str, str]:
    """The environment of the child processes: Airflow quiet, its home in the workdir."""
    return {
        **os.environ,
        "AIRFLOW__LOGGING__LOGGING_LEVEL": os.environ.get("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING"),
        "AIRFLOW_HOME": os.environ.get("AIRFLOW_HOME", str(workdir / "airflow")),
    }


def parse_size(value: str) -> int:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number like 1e6") from None
    if number < 1000 or number != int(number):
        raise argparse.ArgumentTypeError(f"{value!r}: a size is a whole number of events, at least 1000")
    return int(number)


@contextmanager
def sample_file(
    name: str, events: int, args: argparse.Namespace, env: dict[str, str], script: str = __file__, **options: Any
) -> Iterator[tuple[Path, dict[str, Any]]]:
    """A fresh DuckDB file of this data for `events` in the workdir, generated in a child process
    (`options`: heavy_visitors, identity_links); deleted at the end unless --keep."""
    database = args.workdir / f"{name}_{events}_{args.days}d.duckdb"
    files = (database, Path(f"{database}.wal"))
    for file in files:
        file.unlink(missing_ok=True)
    spec = {
        "kind": "generate",
        "database": str(database),
        "events": events,
        "days": args.days,
        "seed": args.seed,
        "new_day": new_day_start(args).isoformat(),
        **options,
    }
    generated = measured(spec, env, f"generate {size_label(events)}", script=script)
    try:
        yield database, generated
    finally:
        for file in files if not args.keep else ():
            file.unlink(missing_ok=True)


def started(parser: argparse.ArgumentParser, args: argparse.Namespace) -> tuple[dict[str, str], float, datetime, Any]:
    """The options every benchmark of the engine checks (--days, --repeat), its workdir made; the
    child processes' environment, the start (clock and UTC time) and the code measured."""
    if args.days < 2:
        parser.error("--days must be at least 2")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    args.workdir = args.workdir.resolve()
    args.workdir.mkdir(parents=True, exist_ok=True)
    return child_environment(args.workdir), time.perf_counter(), datetime.now(UTC), code_state()


def result_fields(
    script: str, argv: list[str] | None, began: float, stamp: datetime, code: dict[str, Any]
) -> dict[str, Any]:
    """What every result file starts with: when, how long, the command as typed in the checkout, the
    machine and the code measured."""
    command = [".venv/bin/python", f"benchmarks/{Path(script).name}", *(argv if argv is not None else sys.argv[1:])]
    return {
        "date": f"{stamp:%Y-%m-%d}",
        "started_at": stamp.isoformat(timespec="seconds"),
        "total_seconds": round(time.perf_counter() - began, 1),
        "command": shlex.join(command),
        "machine": machine(),
        "code": code,
    }


def result_name(output: Path) -> str:
    """The result file as RESULTS.md links it: relative to benchmarks/ when it is inside."""
    return os.path.relpath(output.resolve(), BENCH) if output.resolve().is_relative_to(BENCH) else str(output)


def write_result(result: dict[str, Any], output: Path, markdown: Callable[[dict[str, Any]], str]) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print()
    print(markdown(result))
    print(f"\nwrote {output}")


def engine_benchmark(
    argv: list[str] | None,
    *,
    script: str,
    name: str,
    description: str,
    markdown: Callable[[dict[str, Any]], str],
    run_size: Callable[[int, argparse.Namespace, dict[str, str], Path, dict[str, Any]], dict[str, Any]],
    check_targets: Callable[[list[dict[str, Any]]], dict[str, Any]],
    settings: dict[str, Any],
    default_sizes: list[int] | None = None,
    identity_links: bool = False,
) -> int:
    """The command line of a benchmark that runs the engine on this data at DuckDB sizes
    (facts_cost.py, identity_cost.py): per size a fresh data file (deleted after unless --keep) and
    `run_size(events, args, env, database, generated)`; then `results/<time>_<name>_duckdb-<sizes>.json`
    (`settings` beside the common ones) and its markdown. `--report FILE` prints an earlier one's."""
    parser = argparse.ArgumentParser(description=description)
    sizes_help = f" (default {' '.join(size_label(s) for s in default_sizes)})" if default_sizes else ""
    parser.add_argument(
        "--sizes", nargs="*", type=parse_size, default=default_sizes or [], help=f"events of history{sizes_help}"
    )
    parser.add_argument("--days", type=int, default=90, help="days of history before the new day (default 90)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workdir", type=Path, default=BENCH / "data", help="where the data files go (deleted)")
    parser.add_argument("--output", type=Path, help=f"result file (default: benchmarks/results/<time>_{name}_...)")
    parser.add_argument("--keep", action="store_true", help="keep the DuckDB files in the workdir")
    parser.add_argument("--repeat", type=int, default=1, help="run every case this many times (default 1)")
    parser.add_argument("--report", type=Path, help="print the tables of an earlier result file; run nothing")
    args = parser.parse_args(argv)
    if args.report:
        print(markdown(json.loads(args.report.read_text())))
        return 0
    if not args.sizes:
        parser.error("give --sizes")
    env, began, stamp, code = started(parser, args)
    runs = []
    for events in sorted(set(args.sizes)):
        links = ", with identity links" if identity_links else ""
        print(f"{size_label(events)} events over {args.days} days + 1 new day{links}:", flush=True)
        file = name.replace("-", "_")
        with sample_file(file, events, args, env, script, identity_links=identity_links) as (database, generated):
            run = run_size(events, args, env, database, generated)
        run["data"]["generate_seconds"] = generated["seconds"]
        runs.append(run)

    sizes = "-".join(size_label(s) for s in sorted(set(args.sizes)))
    output = args.output or RESULTS / f"{stamp:%Y-%m-%dT%H%MZ}_{name}_duckdb-{sizes}.json"
    common = {"days": args.days, "seed": args.seed, "start": START.isoformat()}
    result = {
        **result_fields(script, argv, began, stamp, code),
        "settings": {**common, "new_day": new_day_start(args).isoformat(), "repeat": args.repeat, **settings},
        "file": result_name(output),
        "runs": runs,
        "targets": check_targets(runs),
    }
    write_result(result, output, markdown)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="*", type=parse_size, default=[], help="DuckDB sizes (events of history)")
    parser.add_argument("--postgres-sizes", nargs="*", type=parse_size, default=[], help="PostgreSQL sizes")
    parser.add_argument("--days", type=int, default=90, help="days of history before the new day (default 90)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--heavy-visitors",
        type=int,
        default=0,
        help=f"add this many server-side visitors with a session every {HEAVY_BURST_EVERY_MIN} minutes (default 0)",
    )
    parser.add_argument("--workdir", type=Path, default=BENCH / "data", help="where the data files go (deleted)")
    parser.add_argument("--postgres-uri", default=POSTGRES_URI)
    parser.add_argument("--output", type=Path, help="result file (default: benchmarks/results/<time>_<sizes>.json)")
    parser.add_argument("--keep", action="store_true", help="keep the DuckDB files in the workdir")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run the DuckDB cases this many times on the same data and report the median (default 1)",
    )
    parser.add_argument("--report", type=Path, help="print the tables of an earlier result file; run nothing")
    args = parser.parse_args(argv)

    if args.report:
        print(markdown(json.loads(args.report.read_text())))
        return 0
    if not args.sizes and not args.postgres_sizes:
        parser.error("give --sizes and/or --postgres-sizes")
    if args.heavy_visitors < 0:
        parser.error("--heavy-visitors must not be negative")
    env, began, stamp, code = started(parser, args)
    runs = []
    for events in sorted(set(args.sizes) | set(args.postgres_sizes)):
        print(f"{size_label(events)} events over {args.days} days + 1 new day:", flush=True)
        with sample_file("bench", events, args, env, heavy_visitors=args.heavy_visitors) as (database, generated):
            if events in args.sizes:
                runs.append(run_duckdb(events, args, env, database))
            if events in args.postgres_sizes:
                runs.append(run_postgres(events, args, env, database))
        for run in runs:
            if run["events"] == events:
                run["data"]["generate_seconds"] = generated["seconds"]
                run["data"]["heavy_rows"] = generated["heavy_rows"]
                run["ratios"] = combined_ratios(run)

    sizes = "_".join(
        [f"duckdb-{'-'.join(size_label(s) for s in sorted(args.sizes))}"] * bool(args.sizes)
        + [f"postgres-{'-'.join(size_label(s) for s in sorted(args.postgres_sizes))}"] * bool(args.postgres_sizes)
    )
    output = args.output or RESULTS / f"{stamp:%Y-%m-%dT%H%MZ}_{sizes}.json"
    result = {
        **result_fields(__file__, argv, began, stamp, code),
        "settings": {
            "days": args.days,
            "seed": args.seed,
            "heavy_visitors": args.heavy_visitors,
            "start": START.isoformat(),
            "new_day": new_day_start(args).isoformat(),
            "backfill_window": backfill_window(args),
            "timeout_minutes": 30,
            "flow_length": 5,
            "lookback": "3 hours",
            "repeat": args.repeat,
        },
        "file": result_name(output),
        "runs": runs,
        "targets": check_targets(runs),
    }
    write_result(result, output, markdown)
    if importlib.util.find_spec("matplotlib") is None:  # the `bench` extra (`make install`)
        print("no chart: matplotlib is missing (make install)")
    else:
        from chart import CHART, plot

        print(f"wrote {plot([output], output.parent / CHART.name)}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "_child":
        print(json.dumps(child(json.loads(sys.argv[2])), default=str))
    else:
        sys.exit(main())
