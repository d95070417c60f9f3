"""The run engine: plans a run and executes its phases against an Airflow DbApiHook.

Shared by the operators and the CLI. Steps write run-scoped staging tables only; `checks` audits
them; `publish` claims the source's state version, replaces the affected rows of the five tables,
advances the watermark and logs the run in one transaction, then drops the staging tables.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager, nullcontext, suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rudder_sessions.config import SourceConfig
from rudder_sessions.dialects import Dialect, dialect_for_conn_type, get_dialect
from rudder_sessions.errors import (
    AuditFailed,
    ConfigError,
    PhaseFailed,
    PublishConflict,
    RudderSessionsError,
    SourceError,
)
from rudder_sessions.model import (
    CHECKS,
    DROP_REASONS,
    PHASES,
    PLAN,
    PUBLISH,
    SOURCE_COLUMNS,
    STEPS,
    Tables,
    run_key,
    target_table_name,
)
from rudder_sessions.plan import FULL_REFRESH, INCREMENTAL, RunPlan, check_request
from rudder_sessions.rendering import render_phase, render_template

if TYPE_CHECKING:
    from airflow.providers.common.sql.hooks.sql import DbApiHook

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PhaseResult:
    phase: str
    seconds: float
    rows: dict[str, int] = field(default_factory=dict)


def get_hook(config: SourceConfig, connect: Callable[[], Any] | None = None) -> DbApiHook:
    """The connection's own DbApiHook, resolved the Airflow way (env vars, secrets, metadata DB).

    `connect` lets an operator pass its own `get_db_hook`; a missing connection becomes a
    ConfigError naming the source either way.
    """
    from airflow.exceptions import AirflowNotFoundException
    from airflow.providers.common.sql.hooks.sql import DbApiHook
    from airflow.providers.common.sql.operators.sql import BaseSQLOperator

    try:
        hook = connect() if connect else BaseSQLOperator.get_hook(config.conn_id)
    except AirflowNotFoundException:
        raise ConfigError(config.name, "conn_id", f"Airflow connection {config.conn_id!r} does not exist") from None
    if not isinstance(hook, DbApiHook):
        raise ConfigError(
            config.name, "conn_id", f"connection {config.conn_id!r} does not provide a SQL (DbApiHook) hook"
        )
    hook = with_duckdb_limits(config, hook)
    check_duckdb_file(config, hook)
    return hook


def check_duckdb_file(config: SourceConfig, hook: DbApiHook) -> None:
    """A DuckDB file in a missing directory is a configuration mistake, not a warehouse hiccup
    worth retrying: say so instead of letting the first connection fail with an IOException."""
    get_database = getattr(hook, "get_database", None)
    if getattr(hook, "conn_type", None) != "duckdb" or get_database is None:
        return
    database = str(get_database())
    if database.startswith((":", "md:")) or "://" in database:
        return
    if not Path(database).expanduser().parent.is_dir():
        raise SourceError(f"DuckDB database {database} (connection {config.conn_id!r}): its directory does not exist")


# DuckDB sizes itself at 80% of the host's memory, per connection: several tasks on one Airflow
# worker would each claim most of it. A run that sets no limit (neither the source nor the Airflow
# connection's extra) gets this budget, enough for 1e7 events at a few percent more wall time
# (benchmarks/RESULTS.md); DuckDB spills to disk beyond it.
DEFAULT_DUCKDB_MEMORY_LIMIT_BYTES = 3 * 1024**3


DUCKDB_HOOK_SETTINGS = (
    "extension_directory",
    "autoinstall_extensions",
    "autoload_extensions",
    "allow_community_extensions",
    "threads",
    "temp_directory",
    "read_only",
    "settings",
)


def default_duckdb_memory_limit() -> str:
    """3 GiB, or half the machine's memory where that is less."""
    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        physical = 0
    limit = min(DEFAULT_DUCKDB_MEMORY_LIMIT_BYTES, physical // 2) if physical > 0 else DEFAULT_DUCKDB_MEMORY_LIMIT_BYTES
    return f"{max(limit // 1024**2, 256)}MiB"


def with_duckdb_limits(config: SourceConfig, hook: DbApiHook) -> DbApiHook:
    """The source's DuckDB memory limit and threads, on top of the connection's own settings; a
    DuckDB connection without any memory limit gets the default budget."""
    from airflow.providers.duckdb.hooks.duckdb import DuckDBHook

    limits = {"memory_limit": config.duckdb_memory_limit, "threads": config.duckdb_threads}
    limits = {key: value for key, value in limits.items() if value is not None}
    if not isinstance(hook, DuckDBHook):
        if limits:
            field = "duckdb_memory_limit" if "memory_limit" in limits else "duckdb_threads"
            raise ConfigError(config.name, field, f"applies to DuckDB connections only, not {type(hook).__name__}")
        return hook
    if "memory_limit" not in limits and hook.memory_limit is None:
        limits["memory_limit"] = default_duckdb_memory_limit()
    if not limits:
        return hook
    # A hook of the same class with every setting of the given one made explicit, and the limits on top.
    kept = {name: getattr(hook, name) for name in DUCKDB_HOOK_SETTINGS}
    return type(hook)(
        duckdb_conn_id=getattr(hook, hook.conn_name_attr),
        database=hook.database,
        extensions=hook.get_extensions(),
        **{**kept, **limits},
    )


def resolve_dialect(config: SourceConfig, hook: DbApiHook) -> Dialect:
    if config.dialect:
        return get_dialect(config.dialect)
    conn_type = getattr(getattr(hook, "connection", None), "conn_type", None) or getattr(hook, "conn_type", "")
    return get_dialect(dialect_for_conn_type(conn_type))


class SessionRunner:
    """Plans and runs the model's phases for one source through one hook."""

    def __init__(self, config: SourceConfig, hook: DbApiHook, dialect: Dialect | None = None) -> None:
        self.config = config
        self.hook = hook
        self.dialect = dialect or resolve_dialect(config, hook)
        self.timings: dict[str, float] = {}  # seconds per phase of the last `run`

    @classmethod
    def connect(cls, config: SourceConfig) -> SessionRunner:
        return cls(config, get_hook(config))

    def tables(self, key: str) -> Tables:
        return Tables(self.config, self.dialect, key)

    def render(self, phase: str, plan: RunPlan) -> str:
        return render_phase(phase, self.config, self.dialect, plan)

    # -- planning ---------------------------------------------------------------------------------

    def check_source(self) -> tuple[str, ...]:
        """Fail with a message naming what is missing, before any SQL touches the source; return
        the timestamp columns that carry a time zone."""
        cfg = self.config
        types = self._column_types(cfg.source_schema, cfg.source_table)
        where = f"source table {cfg.source_schema}.{cfg.source_table} (connection {cfg.conn_id!r})"
        if not types:
            raise SourceError(f"{where} does not exist")
        needed = dict.fromkeys((*SOURCE_COLUMNS, cfg.watermark_column))
        missing = [c for c in needed if c.lower() not in types]
        if missing:
            raise SourceError(f"{where} has no column(s): {', '.join(missing)}")
        timestamps = dict.fromkeys(("timestamp", "received_at", cfg.watermark_column))
        return tuple(c for c in timestamps if self.dialect.is_time_zone_aware(types[c.lower()]))

    def _column_types(self, schema: str, table: str) -> dict[str, str]:
        sql, parameters = self.dialect.columns_query(schema, table)
        rows = self.hook.get_records(sql, parameters=parameters)
        return {str(r[0]).lower(): str(r[1]) for r in rows}

    def _columns(self, schema: str, table: str) -> set[str]:
        return set(self._column_types(schema, table))

    def plan(
        self,
        run_id: str,
        mode: str = INCREMENTAL,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> RunPlan:
        """Fix the run's mode and window from the request and the stored state."""
        start, end = check_request(mode, start, end)
        aware_columns = self.check_source()
        tables = self.tables(run_key(run_id))
        self._execute(self._statements(render_template("state.sql", self.config, self.dialect, tables)))
        if self._published(run_id):
            return RunPlan(run_id, mode, mode, noop=True, reason="this run was already published")
        state = self.hook.get_first(
            f"SELECT watermark, version FROM {tables.state} WHERE source = {self.dialect.literal(self.config.name)}"
        )
        watermark, version = (state[0], int(state[1])) if state else (None, 0)
        existing = self._target_schema_tables()
        self._drop_stale_stages(tables, existing)
        targets_exist = all(tables.target_name(step).lower() in existing for step in STEPS)

        effective, reason = mode, ""
        if mode != FULL_REFRESH and (state is None or not targets_exist):
            effective, reason = FULL_REFRESH, "nothing published yet"
        elif mode == INCREMENTAL and watermark is None:
            effective, reason = FULL_REFRESH, "no watermark stored yet"
        if effective == INCREMENTAL:
            start, end = watermark - self.config.lookback_delta, None
        elif effective == FULL_REFRESH:
            start, end = None, None
        return RunPlan(
            run_id=run_id,
            mode=effective,
            requested_mode=mode,
            window_start=start,
            window_end=end,
            watermark_before=watermark,
            state_version=version,
            reason=reason,
            aware_columns=aware_columns,
        )

    def _published(self, run_id: str) -> bool:
        tables = self.tables(run_key(run_id))
        row = self.hook.get_first(
            f"SELECT COUNT(*) FROM {tables.runs} "
            f"WHERE run_id = {self.dialect.literal(run_id)} AND outcome = 'published'"
        )
        return bool(row and row[0])

    def _target_schema_tables(self) -> set[str]:
        """Names (lower-case) of the tables in the target schema."""
        sql, parameters = self.dialect.tables_query(self.config.target_schema)
        return {str(r[0]).lower() for r in self.hook.get_records(sql, parameters=parameters or None)}

    def _drop_stale_stages(self, tables: Tables, existing: set[str]) -> None:
        """Staging tables of crashed or killed runs of this source (any key but this run's)."""
        prefix, mine = tables.stage_prefix.lower(), tables.stage_name("").lower()
        stale = sorted(n for n in existing if n.startswith(prefix) and not n.startswith(mine))
        if stale:
            log.info("dropping %d staging tables of earlier runs: %s", len(stale), ", ".join(stale))
            schema = self.dialect.quote(self.config.target_schema)
            self._execute([self.dialect.drop_table(f"{schema}.{self.dialect.quote(n)}") for n in stale])

    # -- execution --------------------------------------------------------------------------------

    def _statements(self, sql: str) -> list[str]:
        return [s for s in self.hook.split_sql_string(sql, strip_semicolon=True) if s.strip()]

    def _execute(self, statements: list[str], phase: str = "setup") -> None:
        if not statements:
            return
        try:
            self.hook.run(statements, autocommit=False)
        except Exception as exc:
            raise PhaseFailed(f"{phase} failed for source {self.config.name!r}: {_first_line(exc)}") from exc

    def execute(self, phase: str, plan: RunPlan, sql: str | None = None) -> PhaseResult:
        """Run one phase. `sql` is the already rendered text (the operators pass their own)."""
        if phase not in PHASES:
            raise ValueError(f"unknown phase {phase!r}")
        started = time.monotonic()
        if plan.noop:
            log.info("%s: %s", phase, plan.describe())
            return PhaseResult(phase, 0.0)
        sql = sql if sql is not None else self.render(phase, plan)
        statements = self._statements(sql)
        tables = self.tables(plan.key)
        rows: dict[str, int] = {}
        if phase == CHECKS:
            self._audit(statements)
        elif phase == PUBLISH:
            if self._published(plan.run_id):
                log.info("run %s was already published; nothing to do", plan.run_id)
                self.drop_stages(plan)
            else:
                self._publish(statements, plan, tables)
        else:
            self._execute(statements, phase)
            if phase in STEPS:
                rows[phase] = self._count(tables.stage(phase))
            elif phase == PLAN:
                rows["events"] = self._count(tables.stage("events"))
        result = PhaseResult(phase, time.monotonic() - started, rows)
        log.info("%s finished in %.2fs %s", phase, result.seconds, rows or "")
        return result

    def _audit(self, statements: list[str]) -> None:
        failed = []
        for statement in statements:
            try:
                name, failures = self.hook.get_first(statement)
            except Exception as exc:
                raise PhaseFailed(f"checks failed for source {self.config.name!r}: {_first_line(exc)}") from exc
            log.info("check %s: %d failing rows", name, int(failures or 0))
            if int(failures or 0):
                failed.append(f"{name}: {int(failures)} rows")
        if failed:
            raise AuditFailed(f"audit of source {self.config.name!r} failed before publish: {'; '.join(failed)}")

    def _publish(self, statements: list[str], plan: RunPlan, tables: Tables) -> None:
        """All statements in one transaction, committed only if this run still owns the state."""
        begin, *body, commit = statements
        claim = (
            f"SELECT last_run_id, version FROM {tables.state} WHERE source = {self.dialect.literal(self.config.name)}"
        )
        with closing(self.hook.get_conn()) as conn, closing(conn.cursor()) as cursor:
            try:
                if self.dialect.script_transactions:
                    self._publish_script(cursor, statements, plan)
                    return
                cursor.execute(begin)
                for statement in body:
                    log.info("publish statement: %s", statement)
                    started = time.monotonic()
                    cursor.execute(statement)
                    log.info("rows affected: %s (%.2fs)", getattr(cursor, "rowcount", -1), time.monotonic() - started)
                cursor.execute(claim)
                owner = cursor.fetchone()
                if owner is None or owner[0] != plan.run_id or int(owner[1]) != plan.state_version + 1:
                    raise self._conflict(plan)
                cursor.execute(commit)
            except BaseException as exc:
                try:
                    cursor.execute(self.dialect.rollback())
                except Exception:  # the connection may be gone; closing it discards the transaction
                    log.warning("rollback failed", exc_info=True)
                if isinstance(exc, RudderSessionsError):
                    raise
                if isinstance(exc, Exception):
                    raise PhaseFailed(f"publish failed for source {self.config.name!r}: {_first_line(exc)}") from exc
                raise
            # Published: the staging tables go on the same connection (one open, one checkpoint).
            # A failure here only leaves them for the next plan to drop.
            try:
                for statement in self._drop_stage_statements(plan):
                    cursor.execute(statement)
            except Exception:
                log.warning("could not drop the staging tables of run %s", plan.run_id, exc_info=True)

    def _publish_script(self, cursor: Any, statements: list[str], plan: RunPlan) -> None:
        """Warehouses whose transactions live inside one script (BigQuery) get the whole publish,
        its state claim checked by an ASSERT, as one statement."""
        try:
            cursor.execute(";\n".join(statements) + ";")
        except Exception as exc:
            if "publish refused" in str(exc):
                raise self._conflict(plan) from exc
            raise
        self.drop_stages(plan)

    def _conflict(self, plan: RunPlan) -> PublishConflict:
        return PublishConflict(
            f"publish of run {plan.run_id} refused: the state of source {self.config.name!r} moved since the plan "
            f"(it was at version {plan.state_version}); another run published first"
        )

    def _drop_stage_statements(self, plan: RunPlan) -> list[str]:
        tables = self.tables(plan.key)
        return [self.dialect.drop_table(tables.stage(n)) for n in tables.all_stages()]

    def drop_stages(self, plan: RunPlan) -> None:
        self._execute(self._drop_stage_statements(plan), "cleanup")

    def run(
        self,
        run_id: str,
        mode: str = INCREMENTAL,
        start: datetime | None = None,
        end: datetime | None = None,
        shared_connection: bool = True,
    ) -> dict[str, Any]:
        """Plan, the steps, checks and publish, in order, on one connection; with
        `shared_connection=False` each phase opens its own, as the DAG's tasks do. Staging is
        dropped if any of them fails."""
        with self.one_connection() if shared_connection else nullcontext():
            started = time.monotonic()
            plan = self.plan(run_id, mode, start, end)
            log.info("%s", plan.describe())
            self.timings = {"plan()": time.monotonic() - started}
            try:
                for phase in PHASES:
                    self.timings[phase] = self.execute(phase, plan).seconds
            except BaseException as exc:
                with suppress(Exception):  # a failed statement may have left its transaction open
                    self.hook.get_conn().rollback()
                try:
                    self.drop_stages(plan)
                    self.record_failure(plan, exc)
                except Exception:  # the original error matters more than a failed cleanup
                    log.warning("could not clean up after run %s", run_id, exc_info=True)
                raise
            return self.summary(run_id)

    @contextmanager
    def one_connection(self) -> Iterator[None]:
        """Serve every hook call from one open connection: no reconnect per statement batch (and on
        DuckDB no checkpoint each time the file is closed). Each phase still commits its own work."""
        conn = self.hook.get_conn()
        for statement in self.dialect.run_session_statements():
            conn.cursor().execute(statement)
        shared = _SharedConnection(conn)
        self.hook.get_conn = lambda: shared  # type: ignore[method-assign]
        try:
            yield
        finally:
            del self.hook.get_conn
            conn.close()

    def record_failure(self, plan: RunPlan, exc: BaseException) -> None:
        """Log a failed run (one row per run id; a later successful publish replaces it)."""
        if plan.noop or self._published(plan.run_id):
            return
        tables = self.tables(plan.key)
        d = self.dialect
        outcome = f"failed: {type(exc).__name__}: {_first_line(exc)}"[:500]
        self._execute(
            [
                f"DELETE FROM {tables.runs} WHERE run_id = {d.literal(plan.run_id)} AND outcome <> 'published'",
                f"INSERT INTO {tables.runs} (run_id, source, mode, requested_mode, window_start, window_end, "
                f"watermark_before, finished_at, outcome) VALUES ({d.literal(plan.run_id)}, "
                f"{d.literal(self.config.name)}, {d.literal(plan.mode)}, {d.literal(plan.requested_mode)}, "
                f"{d.timestamp_literal(plan.window_start)}, {d.timestamp_literal(plan.window_end)}, "
                f"{d.timestamp_literal(plan.watermark_before)}, {d.current_timestamp()}, {d.literal(outcome)})",
            ],
            "record failure",
        )

    # -- reporting --------------------------------------------------------------------------------

    def _count(self, table: str) -> int:
        return int(self.hook.get_first(f"SELECT COUNT(*) FROM {table}")[0])

    SUMMARY_COLUMNS = (
        "run_id",
        "mode",
        "requested_mode",
        "window_start",
        "window_end",
        "watermark_before",
        "watermark_after",
        "rows_read",
        *(f"dropped_{r}" for r in DROP_REASONS),
        "events_changed",
        "visitors_affected",
        "visitors",
        "sessions",
        *(f"rows_{s}" for s in STEPS),
    )

    def summary(self, run_id: str) -> dict[str, Any]:
        """The run log row of a published run, as a dict."""
        tables = self.tables(run_key(run_id))
        row = self.hook.get_first(
            f"SELECT {', '.join(self.SUMMARY_COLUMNS)} FROM {tables.runs} "
            f"WHERE run_id = {self.dialect.literal(run_id)} AND outcome = 'published'"
        )
        if row is None:
            raise RudderSessionsError(f"run {run_id!r} has not been published")
        return dict(zip(self.SUMMARY_COLUMNS, row, strict=True))

    def status(self, limit: int = 10) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        """The stored state of the source and its last runs, newest first."""
        tables = self.tables(run_key("status"))
        if not self._columns(self.config.target_schema, tables.state_name):
            return None, []
        state_columns = ("watermark", "version", "last_run_id", "last_mode", "updated_at")
        state = self.hook.get_first(
            f"SELECT {', '.join(state_columns)} FROM {tables.state} "
            f"WHERE source = {self.dialect.literal(self.config.name)}"
        )
        columns = (
            "run_id",
            "mode",
            "window_start",
            "window_end",
            "watermark_after",
            "rows_read",
            "events_changed",
            "visitors_affected",
            "finished_at",
            "outcome",
        )
        runs = self.hook.get_records(
            f"SELECT {', '.join(columns)} FROM {tables.runs} "
            f"WHERE source = {self.dialect.literal(self.config.name)} ORDER BY finished_at DESC LIMIT {int(limit)}"
        )
        return (
            dict(zip(state_columns, state, strict=True)) if state else None,
            [dict(zip(columns, r, strict=True)) for r in runs],
        )


class _SharedConnection:
    """A DB-API connection whose close() is left to its owner (`SessionRunner.one_connection`)."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def close(self) -> None:
        pass

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def format_summary(summary: dict[str, Any], config: SourceConfig) -> str:
    """A short human summary of a run, for the CLI and task logs."""
    dropped = ", ".join(f"{r} {summary[f'dropped_{r}']}" for r in DROP_REASONS)
    mode = summary["mode"]
    if summary["requested_mode"] != mode:
        mode += f" (requested {summary['requested_mode']})"
    window = ""
    if summary["window_start"] or summary["window_end"]:
        window = f", window [{summary['window_start']}, {summary['window_end'] or '…'})"
    lines = [
        f"run {summary['run_id']}: {mode} of source {config.name!r}{window}",
        f"  rows read         {summary['rows_read']}",
        f"  rows dropped      {sum(summary[f'dropped_{r}'] for r in DROP_REASONS)} ({dropped})",
        f"  events changed    {summary['events_changed']}",
        f"  visitors affected {summary['visitors_affected']}",
        f"  visitors          {summary['visitors']}",
        f"  sessions          {summary['sessions']}",
        f"  watermark         {summary['watermark_before']} -> {summary['watermark_after']}",
        "  rows written:",
        *(f"    {config.target_schema}.{target_table_name(config, s):<28} {summary[f'rows_{s}']}" for s in STEPS),
    ]
    return "\n".join(lines)
