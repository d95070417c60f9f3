"""A heavy visitor in one open session: the incremental run that extends it, against a full refresh,
without and with the session cap (`max_session_events`, README "Capping a session's length").

The data: the sample generator's tracks (`--events`, default 100,000, over `--days` days) plus one
bot (`anonymous_id` `bot-1`) sending an event every `--every` seconds without a pause, `--bot`
events (default 200,000) up to the new day: one gap session of them all. The new day adds
`--new` (default 5,000) more bot events, continuing that session, and the generator's events of
that day. Per engine (DuckDB; PostgreSQL with `--postgres`) and per cap (none, and each of
`--caps`, default 2500), each repeat:

- publishes the history (the rows received before the new day) into fresh targets (untimed);
- adds the new day and times the incremental run;
- times a full refresh of everything into other targets, and checks that both give the same
  tables (the incremental run equals the rebuild).

The wall time is `SessionRunner.run`, in this process, after one untimed warm-up query per
connection. Rows written and the rows `mapped_tracks` recomputed come from the run summary.

    .venv/bin/python benchmarks/heavy_visitor.py [--postgres] [--repeat 3] [--caps 2500]

Writes `benchmarks/results/<time>_heavy-visitor.json` and prints markdown for RESULTS.md.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import run as bench  # benchmarks/run.py: the machine, the code state, the result paths

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "include"))

from sample_data import write_tracks  # noqa: E402  (include/ is put on the path above)

SOURCE_SCHEMA, SOURCE_TABLE = "rudderstack", "tracks"
COLUMNS = ("id", "anonymous_id", "user_id", "event", "timestamp", "received_at")
START = datetime(2026, 1, 1)
PG_CONN_ID = "rudder_sessions_heavy_pg"


def generate(database: Path, args: argparse.Namespace) -> tuple[list[tuple], list[tuple], dict[str, Any]]:
    """(history rows, new-day rows, figures): the generator's rows and the bot's, split by receipt."""
    import duckdb

    new_day = START + timedelta(days=args.days)
    bot_start = new_day - timedelta(seconds=args.every * args.bot)
    with duckdb.connect(str(database)) as conn:
        write_tracks(conn, schema=SOURCE_SCHEMA, table=SOURCE_TABLE, events=args.events, seed=42, days=args.days + 1)
        conn.execute(
            f"""
            INSERT INTO {SOURCE_SCHEMA}.{SOURCE_TABLE} (id, anonymous_id, user_id, event, "timestamp", received_at)
            SELECT 'bot-' || n, 'bot-1', NULL, 'api_call', sent, sent + INTERVAL 5 SECOND
            FROM (SELECT n, CAST(? AS TIMESTAMP) + to_seconds(n * ?) AS sent FROM range(?) AS r(n))
            """,
            [bot_start, args.every, args.bot + args.new],
        )
        conn.execute(f"CREATE TABLE {SOURCE_SCHEMA}.generated AS SELECT * FROM {SOURCE_SCHEMA}.{SOURCE_TABLE}")
        columns = ", ".join(f'"{c}"' for c in COLUMNS)
        rows = conn.execute(f"SELECT {columns} FROM {SOURCE_SCHEMA}.{SOURCE_TABLE}").fetchall()
    history = [r for r in rows if r[5] is not None and r[5] < new_day]
    day = [r for r in rows if r[5] is None or r[5] >= new_day]
    figures = {
        "history_rows": len(history),
        "new_day_rows": len(day),
        "bot_history_events": sum(1 for r in history if r[1] == "bot-1"),
        "bot_new_events": sum(1 for r in day if r[1] == "bot-1"),
    }
    return history, day, figures


class Engine:
    """One warehouse: load the source, make a runner, read a published table."""

    name = ""
    source_schema, target_schema = SOURCE_SCHEMA, "sessions"

    def load(self, rows: list[tuple], append: bool = False) -> None:
        raise NotImplementedError

    def runner(self, config: Any) -> Any:
        raise NotImplementedError

    def differs(self, prefix_a: str, prefix_b: str) -> int:
        """Rows of track_facts and session_tracks in one target and not in the other (both ways)."""
        total = 0
        for table in ("dbt_track_facts", "dbt_session_tracks", "dbt_tracks_flow", "dbt_session_facts"):
            a, b = f"{self.target_schema}.{prefix_a}{table}", f"{self.target_schema}.{prefix_b}{table}"
            total += self.count(f"SELECT COUNT(*) FROM (SELECT * FROM {a} EXCEPT SELECT * FROM {b}) AS d")
            total += self.count(f"SELECT COUNT(*) FROM (SELECT * FROM {b} EXCEPT SELECT * FROM {a}) AS d")
        return total

    def count(self, sql: str) -> int:
        raise NotImplementedError


class DuckDB(Engine):
    name = "duckdb"

    def __init__(self, database: Path, days: int, history_rows: int) -> None:
        self.database, self.days, self.history_rows = database, days, history_rows

    def load(self, rows: list[tuple], append: bool = False) -> None:
        """The rows are the history's or the new day's: copied from the generated table by receipt."""
        import duckdb

        new_day = START + timedelta(days=self.days)
        history = not append
        with duckdb.connect(str(self.database)) as conn:
            if history:
                conn.execute(f"DELETE FROM {SOURCE_SCHEMA}.{SOURCE_TABLE}")
            receipt = "received_at < ?" if history else "(received_at IS NULL OR received_at >= ?)"
            conn.execute(
                f"INSERT INTO {SOURCE_SCHEMA}.{SOURCE_TABLE} SELECT * FROM {SOURCE_SCHEMA}.generated WHERE {receipt}",
                [new_day],
            )
            loaded = conn.execute(f"SELECT COUNT(*) FROM {SOURCE_SCHEMA}.{SOURCE_TABLE}").fetchone()[0]
            assert loaded == (len(rows) if history else self.history_rows + len(rows)), loaded
            conn.execute("CHECKPOINT")

    def runner(self, config: Any) -> Any:
        from airflow.providers.duckdb.hooks.duckdb import DuckDBHook

        from rudder_sessions.dialects import DuckDBDialect
        from rudder_sessions.engine import SessionRunner
        from rudder_sessions.hooks import with_duckdb_limits

        hook = with_duckdb_limits(config, DuckDBHook(database=str(self.database)))
        return SessionRunner(config, hook, DuckDBDialect())

    def count(self, sql: str) -> int:
        import duckdb

        with duckdb.connect(str(self.database)) as conn:
            return int(conn.execute(sql).fetchone()[0])


class Postgres(Engine):
    name = "postgres"

    def __init__(self, uri: str) -> None:
        from urllib.parse import urlsplit

        import psycopg2

        parts = urlsplit(uri)
        os.environ[f"AIRFLOW_CONN_{PG_CONN_ID.upper()}"] = json.dumps(
            {
                "conn_type": "postgres",
                "host": parts.hostname or "127.0.0.1",
                "port": parts.port or 5432,
                "login": parts.username or "postgres",
                "password": parts.password or "",
                "schema": parts.path.lstrip("/"),
            }
        )
        self.conn = psycopg2.connect(uri)
        self.conn.autocommit = True
        # Schemas of its own (the server is shared with the test suites), dropped by close().
        suffix = uuid.uuid4().hex[:8]
        self.source_schema, self.target_schema = f"rs_heavy_src_{suffix}", f"rs_heavy_out_{suffix}"
        with self.conn.cursor() as cur:
            cur.execute(
                f"CREATE SCHEMA {self.source_schema}; CREATE TABLE {self.source_schema}.{SOURCE_TABLE} (id TEXT, "
                'anonymous_id TEXT, user_id TEXT, event TEXT, "timestamp" TIMESTAMP, received_at TIMESTAMP)'
            )

    def close(self) -> None:
        with self.conn.cursor() as cur:
            cur.execute(f"DROP SCHEMA IF EXISTS {self.source_schema} CASCADE")
            cur.execute(f"DROP SCHEMA IF EXISTS {self.target_schema} CASCADE")
        self.conn.close()

    def load(self, rows: list[tuple], append: bool = False) -> None:
        buffer = io.StringIO()
        for row in rows:
            buffer.write("\t".join("\\N" if v is None else str(v).replace("\t", " ") for v in row) + "\n")
        buffer.seek(0)
        with self.conn.cursor() as cur:
            if not append:
                cur.execute(f"TRUNCATE {self.source_schema}.{SOURCE_TABLE}")
            cur.copy_expert(f"COPY {self.source_schema}.{SOURCE_TABLE} FROM STDIN", buffer)
            cur.execute(f"ANALYZE {self.source_schema}.{SOURCE_TABLE}")

    def runner(self, config: Any) -> Any:
        from airflow.providers.postgres.hooks.postgres import PostgresHook

        from rudder_sessions.dialects import PostgresDialect
        from rudder_sessions.engine import SessionRunner

        return SessionRunner(config, PostgresHook(postgres_conn_id=PG_CONN_ID), PostgresDialect())

    def count(self, sql: str) -> int:
        with self.conn.cursor() as cur:
            cur.execute(sql)
            return int(cur.fetchone()[0])


def timed(engine: Engine, prefix: str, cap: int | None, mode: str, run_id: str) -> dict[str, Any]:
    from rudder_sessions.config import SourceConfig

    config = SourceConfig(
        name=f"heavy_{prefix.rstrip('_')}",
        conn_id=PG_CONN_ID if engine.name == "postgres" else "unused",
        source_schema=engine.source_schema,
        target_schema=engine.target_schema,
        table_prefix=prefix,
        max_session_events=cap,
    )
    runner = engine.runner(config)
    runner.hook.get_first("SELECT 1")  # the connection and provider discovery, untimed
    started = time.perf_counter()
    summary = runner.run(run_id, mode)
    seconds = time.perf_counter() - started
    assert summary["mode"] == mode, summary
    return {
        "seconds": round(seconds, 3),
        "rows_read": summary.get("rows_read"),
        "sessions": summary.get("sessions"),
        "rows_mapped_tracks": summary.get("rows_mapped_tracks"),
        "events_changed": summary.get("events_changed"),
    }


def measure(engine: Engine, history: list[tuple], day: list[tuple], caps: list[int | None], repeat: int) -> dict:
    results: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for index in range(repeat):
        for cap in caps:
            label = "none" if cap is None else str(cap)
            tag = f"{'n' if cap is None else f'k{cap}'}_{index}"
            engine.load(history)
            timed(engine, f"inc_{tag}_", cap, "full_refresh", f"history-{tag}")  # the published history
            engine.load(day, append=True)
            incremental = timed(engine, f"inc_{tag}_", cap, "incremental", f"new-day-{tag}")
            full = timed(engine, f"full_{tag}_", cap, "full_refresh", f"everything-{tag}")
            incremental["differs_from_full_refresh"] = engine.differs(f"inc_{tag}_", f"full_{tag}_")
            cases = results.setdefault(label, {"incremental": [], "full_refresh": []})
            cases["incremental"].append(incremental)
            cases["full_refresh"].append(full)
            print(f"{engine.name} cap {label} repeat {index + 1}: incremental {incremental['seconds']} s, "
                  f"full refresh {full['seconds']} s", flush=True)  # fmt: skip
    return results


def median(runs: list[dict[str, Any]]) -> float:
    return statistics.median(r["seconds"] for r in runs)


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "| engine | cap (max_session_events) | incremental (new day) | full refresh | incremental / full "
        "| mapped_tracks rows recomputed | sessions | incremental = rebuild |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for engine, caps in result["engines"].items():
        for cap, cases in caps.items():
            inc, full = cases["incremental"], cases["full_refresh"]
            spread = lambda runs: f"{min(r['seconds'] for r in runs):.2f} to {max(r['seconds'] for r in runs):.2f}"  # noqa: E731
            lines.append(
                f"| {engine} | {cap} | {median(inc):.2f} s ({spread(inc)}) | {median(full):.2f} s ({spread(full)}) "
                f"| {median(inc) / median(full):.2f} | {inc[0]['rows_mapped_tracks']:,} | {full[0]['sessions']:,} "
                f"| {'yes' if all(r['differs_from_full_refresh'] == 0 for r in inc) else 'NO'} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000, help="the generator's events (default 100,000)")
    parser.add_argument("--days", type=int, default=30, help="days of history before the new day (default 30)")
    parser.add_argument("--bot", type=int, default=200_000, help="the bot's events before the new day")
    parser.add_argument("--new", type=int, default=5_000, help="the bot's events on the new day")
    parser.add_argument("--every", type=int, default=10, help="seconds between the bot's events (default 10)")
    parser.add_argument("--caps", type=int, nargs="*", default=[2500], help="caps to measure besides none")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL too (RUDDER_SESSIONS_TEST_POSTGRES)")
    parser.add_argument("--output", type=Path, help="result file (default: results/<time>_heavy-visitor.json)")
    parser.add_argument("--report", type=Path, help="print the table of an earlier result file; run nothing")
    args = parser.parse_args(argv)
    if args.report:
        print(markdown(json.loads(args.report.read_text())))
        return 0
    logging.disable(logging.INFO)  # the hooks log every statement
    began = datetime.now(UTC)
    caps: list[int | None] = [None, *args.caps]
    with tempfile.TemporaryDirectory() as workdir:
        database = Path(workdir) / "heavy.duckdb"
        history, day, figures = generate(database, args)
        duck = DuckDB(database, args.days, len(history))
        engines = {"duckdb": measure(duck, history, day, caps, args.repeat)}
        if args.postgres:
            postgres = Postgres(bench.POSTGRES_URI)
            try:
                engines["postgres"] = measure(postgres, history, day, caps, args.repeat)
            finally:
                postgres.close()
    result = {
        "script": "benchmarks/heavy_visitor.py",
        "argv": sys.argv[1:] if argv is None else argv,
        "started_at": began.isoformat(),
        "machine": bench.machine(),
        "code": bench.code_state(),
        "settings": {k: v for k, v in vars(args).items() if k not in ("report", "output")},
        "data": figures,
        "engines": engines,
    }
    output = args.output or bench.RESULTS / f"{began:%Y-%m-%dT%H%MZ}_heavy-visitor.json"
    output.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"wrote {output}")
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
