"""The run engine: plans a run and executes its phases against an Airflow DbApiHook.

Shared by the operators and the CLI. Steps write run-scoped staging tables only; `checks` audits
them; `publish` claims the source's state version, replaces the affected rows of the five tables,
advances the watermark and logs the run in one transaction, then drops the staging tables.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing, contextmanager, nullcontext, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
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
    SettingsChanged,
    SourceError,
    StatementRefused,
    WarehouseBusy,
)
from rudder_sessions.model import (
    CHECKS,
    DROP_REASONS,
    PHASES,
    PLAN,
    PUBLISH,
    RUN_LOG_COLUMNS,
    SOURCE_COLUMNS,
    STATE_COLUMNS,
    STEPS,
    TABLES,
    Tables,
    run_key,
    target_table_name,
    typed_columns,
)
from rudder_sessions.plan import BACKFILL, FULL_REFRESH, INCREMENTAL, RunPlan, check_request
from rudder_sessions.rendering import render_phase, render_template
from rudder_sessions.timestamps import naive_utc

if TYPE_CHECKING:
    from airflow.providers.common.sql.hooks.sql import DbApiHook

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PhaseResult:
    phase: str
    seconds: float
    rows: dict[str, int] = field(default_factory=dict)


def runs_as_script(dialect: Dialect, phase: str) -> bool:
    """Whether a phase goes to the warehouse as one script rather than statement by statement (the
    checks are read one by one, publish splits off what must run before its transaction)."""
    return dialect.script_bounds and phase not in (CHECKS, PUBLISH)


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
        conn_type = getattr(getattr(hook, "connection", None), "conn_type", None) or getattr(hook, "conn_type", "")
        if conn_type == "google_cloud_platform":
            raise ConfigError(
                config.name,
                "conn_id",
                f"connection {config.conn_id!r} is of type google_cloud_platform, which gives no SQL hook: "
                "use type gcpbigquery (BigQuery) with the same credentials and a location",
            )
        raise ConfigError(
            config.name, "conn_id", f"connection {config.conn_id!r} does not provide a SQL (DbApiHook) hook"
        )
    check_bigquery_hook(config, hook)
    hook = with_duckdb_limits(config, hook)
    check_duckdb_file(config, hook)
    guard_duckdb_lock(config, hook)
    return hook


# DuckDB's words when another process holds the file (duckdb.org/docs/stable/connect/concurrency).
DUCKDB_LOCK = re.compile(
    r'Could not set lock on file "(?P<file>[^"]+)": Conflicting lock is held in (?P<holder>.*?) \(PID (?P<pid>\d+)\)'
)


def guard_duckdb_lock(config: SourceConfig, hook: DbApiHook) -> None:
    """A DuckDB file holds one writing process at a time: while another (a running task, a CLI
    run, a notebook) has it open, every connection fails. Say so in one line; as a PhaseFailed it
    is a hiccup Airflow retries after its retry delay."""
    if getattr(hook, "conn_type", None) != "duckdb":
        return
    get_conn = hook.get_conn

    def get_conn_or_busy() -> Any:
        try:
            return get_conn()
        except Exception as exc:
            busy = DUCKDB_LOCK.search(str(exc))
            if busy is None:
                raise
            raise WarehouseBusy(
                f"DuckDB file {busy['file']} of source {config.name!r} is in use by another process "
                f"(PID {busy['pid']}, {busy['holder']}): one process at a time can open it; wait for that "
                "one to finish, or give each source its own file"
            ) from None

    hook.get_conn = get_conn_or_busy  # type: ignore[method-assign]


def check_bigquery_hook(config: SourceConfig, hook: DbApiHook) -> None:
    """A BigQuery connection runs the model's GoogleSQL in the connection's location.

    BigQueryHook reads results only with a location (it refuses `get_records` without one), and
    defaults to legacy SQL, which the model is not written in.
    """
    if type(hook).__name__ != "BigQueryHook":
        return
    if not getattr(hook, "location", None):
        raise ConfigError(
            config.name,
            "conn_id",
            f"BigQuery connection {config.conn_id!r} has no location: set 'location' in its extra "
            "(the region of the datasets, e.g. US or europe-west1)",
        )
    hook.use_legacy_sql = False  # type: ignore[attr-defined]


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
        dialect = get_dialect(config.dialect)
    else:
        conn_type = getattr(getattr(hook, "connection", None), "conn_type", None) or getattr(hook, "conn_type", "")
        dialect = get_dialect(dialect_for_conn_type(conn_type))
    dialect.configure(hook)
    return dialect


def from_epoch_us(value: Any) -> datetime | None:
    """A timestamp read as integer epoch microseconds (exact on every driver: BigQuery's DB-API
    returns TIMESTAMP values as float seconds) as naive UTC."""
    if value is None:
        return None
    return EPOCH + timedelta(microseconds=int(value))


EPOCH = datetime(1970, 1, 1)
PUBLISH_REFUSED = "publish refused"  # how publish.sql's ASSERTs begin their messages
TIMESTAMP_COLUMNS = frozenset(c for c, kind in (*STATE_COLUMNS, *RUN_LOG_COLUMNS) if kind == "timestamp")
# A staging table of a run still marked running is left alone this long: the run may be alive.
STALE_STAGE_AGE = timedelta(hours=12)


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
        d = self.dialect
        self._execute(self._statements(render_template("state.sql", self.config, d, tables)))
        columns = self._schema_columns()
        self._add_missing_columns(tables.state_name, STATE_COLUMNS, columns)
        self._add_missing_columns(tables.runs_name, RUN_LOG_COLUMNS, columns)
        targets_exist = all(tables.target_name(step).lower() in columns for step in STEPS)
        for step in STEPS:
            self._add_missing_columns(tables.target_name(step), typed_columns(step, self.config.flow_length), columns)
        if self._published(run_id):
            return RunPlan(run_id, mode, mode, noop=True, reason="this run was already published")
        watermark, version, stored = self._state(tables)
        self._drop_dead_stages(tables, version, columns)

        effective, reason = mode, ""
        changed = settings_changes(stored, self.config.model_settings())
        if mode != FULL_REFRESH and (version == 0 or not targets_exist):
            effective, reason = FULL_REFRESH, "nothing published yet"
        elif mode != FULL_REFRESH and changed:
            if mode == BACKFILL:
                raise SettingsChanged(
                    f"backfill of source {self.config.name!r} refused: {'; '.join(changed)} since the model was "
                    "published, and a backfill rewrites only its window. Run a full refresh (mode full_refresh) first"
                )
            effective, reason = FULL_REFRESH, "; ".join(changed)
        elif mode == INCREMENTAL and watermark is None:
            effective, reason = FULL_REFRESH, "no watermark stored yet"
        if effective == INCREMENTAL:
            start, end = watermark - self.config.lookback_delta, None
        elif effective == FULL_REFRESH:
            start, end = None, None
        plan = RunPlan(
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
        # The run is in the log before it writes a staging table: another run's plan tells its
        # stages from those of a dead run by this row.
        self._log_run(plan)
        return plan

    def _state(self, tables: Tables) -> tuple[datetime | None, int, dict[str, Any] | None]:
        """The stored watermark, version and model settings; duplicate state rows left by two first
        plans racing (no warehouse but PostgreSQL and DuckDB enforces the key) are merged while
        unpublished."""
        d, source = self.dialect, self.dialect.literal(self.config.name)
        rows = self.hook.get_records(
            f"SELECT {d.epoch_us('watermark')}, version, settings FROM {tables.state} WHERE source = {source}"
        )
        if len(rows) > 1 and all(int(r[1]) == 0 for r in rows):
            log.warning("merging %d unpublished state rows of source %r", len(rows), self.config.name)
            self._execute([f"DELETE FROM {tables.state} WHERE source = {source} AND version = 0"], "setup")
            self._execute(self._statements(render_template("state.sql", self.config, d, tables)))
            return self._state(tables)
        if len(rows) != 1:
            raise RudderSessionsError(
                f"source {self.config.name!r} has {len(rows)} rows in {tables.state}: expected one"
            )
        watermark, version, settings = rows[0]
        return from_epoch_us(watermark), int(version), _stored_settings(settings, int(version))

    def _schema_columns(self) -> dict[str, set[str]]:
        """Columns (lower-case) of every table in the target schema, by table name (lower-case)."""
        sql, parameters = self.dialect.schema_columns_query(self.config.target_schema)
        columns: dict[str, set[str]] = {}
        for table, column in self.hook.get_records(sql, parameters=parameters or None):
            columns.setdefault(str(table).lower(), set()).add(str(column).lower())
        return columns

    def _add_missing_columns(
        self, table: str, wanted: tuple[tuple[str, str], ...], columns: dict[str, set[str]]
    ) -> None:
        """Columns an upgrade of the model adds, added to an existing table in place."""
        have = columns.get(table.lower())
        if not have:
            return
        missing = [(name, kind) for name, kind in wanted if name.lower() not in have]
        if missing:
            log.info("adding columns %s to %s", ", ".join(n for n, _ in missing), table)
            target = self.dialect.table(self.config.target_schema, table)
            self._execute([self.dialect.add_column(target, name, kind) for name, kind in missing], "upgrade")

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

    def _drop_dead_stages(self, tables: Tables, version: int, existing: Iterable[str] | None = None) -> None:
        """Staging tables of this source's runs that can no longer publish: runs the log shows
        ended, runs planned on an older state version than `version`, runs marked running for
        longer than STALE_STAGE_AGE (killed), and tables no logged run owns. A run in flight
        (another CLI run, an overlapping backfill) keeps its tables: if it can no longer
        publish, its claim refuses it with a clear message, and the next plan drops them."""
        keys: dict[str, list[str]] = {}
        for name in self._target_schema_tables() if existing is None else existing:
            key = tables.stage_key(name)
            if key is not None and key != tables.key:
                keys.setdefault(key, []).append(name)
        if not keys:
            return
        d = self.dialect
        runs = self.hook.get_records(
            f"SELECT run_id, outcome, state_version, {d.epoch_us('started_at')} FROM {tables.runs} "
            f"WHERE source = {d.literal(self.config.name)}"
        )
        alive = set()
        oldest = naive_utc(datetime.now(UTC)) - STALE_STAGE_AGE
        for run_id, outcome, planned_on, started in runs:
            started_at = from_epoch_us(started)
            if outcome == "running" and planned_on is not None and int(planned_on) >= version:
                if started_at is not None and started_at > oldest:
                    alive.add(run_key(str(run_id)))
        dead = sorted(n for key, names in keys.items() if key not in alive for n in names)
        if dead:
            log.info("dropping %d staging tables of ended runs: %s", len(dead), ", ".join(dead))
            self._execute([d.drop_table(d.table(self.config.target_schema, n)) for n in dead], "cleanup")

    def _log_run(self, plan: RunPlan) -> None:
        """The run's row in the run log, marked running, before it writes any staging table."""
        tables = self.tables(plan.key)
        d = self.dialect
        self._execute(
            [
                f"DELETE FROM {tables.runs} WHERE run_id = {d.literal(plan.run_id)} AND outcome <> 'published'",
                f"INSERT INTO {tables.runs} (run_id, source, mode, requested_mode, window_start, window_end, "
                f"watermark_before, started_at, outcome, state_version, reason) VALUES ({d.literal(plan.run_id)}, "
                f"{d.literal(self.config.name)}, {d.literal(plan.mode)}, {d.literal(plan.requested_mode)}, "
                f"{d.timestamp_literal(plan.window_start)}, {d.timestamp_literal(plan.window_end)}, "
                f"{d.timestamp_literal(plan.watermark_before)}, {d.current_timestamp()}, 'running', "
                f"{int(plan.state_version)}, {d.literal(plan.reason) if plan.reason else 'NULL'})",
            ],
            "run log",
        )

    # -- execution --------------------------------------------------------------------------------

    def _statements(self, sql: str) -> list[str]:
        return [s for s in self.hook.split_sql_string(sql, strip_semicolon=True) if s.strip()]

    @staticmethod
    def _script(statements: list[str]) -> str:
        return ";\n".join(statements) + ";"

    def _execute(self, statements: list[str], phase: str = "setup") -> None:
        if not statements:
            return
        try:
            self.hook.run(statements, autocommit=False)
        except WarehouseBusy:
            raise
        except Exception as exc:
            raise phase_error(phase, self.config.name, exc) from exc

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
            # Script variables live for one script: there, the phase runs whole as one job.
            self._execute([sql] if statements and runs_as_script(self.dialect, phase) else statements, phase)
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
                raise phase_error("checks", self.config.name, exc) from exc
            log.info("check %s: %d failing rows", name, int(failures or 0))
            if int(failures or 0):
                failed.append(f"{name}: {int(failures)} rows")
        if failed:
            raise AuditFailed(f"audit of source {self.config.name!r} failed before publish: {'; '.join(failed)}")

    def _publish(self, statements: list[str], plan: RunPlan, tables: Tables) -> None:
        """All statements in one transaction, committed only if this run still owns the state:
        the claim (the UPDATE of the state row at the planned version) must update exactly one
        row, and the state row must be this run's before the commit."""
        # What comes before the transaction (creating missing targets: DDL) runs on its own.
        opening = next(i for i, s in enumerate(statements) if s == self.dialect.begin() or s.startswith("DECLARE "))
        self._execute(statements[:opening], "publish")
        statements = statements[opening:]
        begin, *body, commit = statements
        claim = f"UPDATE {tables.state} SET"
        with closing(self.hook.get_conn()) as conn, closing(conn.cursor()) as cursor:
            try:
                if self.dialect.script_transactions:
                    self._publish_script(cursor, statements, plan)
                else:
                    cursor.execute(begin)
                    for statement in body:
                        log.info("publish statement: %s", statement)
                        started = time.monotonic()
                        cursor.execute(statement)
                        affected = _affected_rows(cursor)
                        log.info("%s (%.2fs)", _rows_text(affected), time.monotonic() - started)
                        if statement.startswith(claim) and affected is not None and affected != 1:
                            raise self._conflict(plan)
                    cursor.execute(
                        f"SELECT COUNT(*), MAX(last_run_id), MAX(version) FROM {tables.state} "
                        f"WHERE source = {self.dialect.literal(self.config.name)}"
                    )
                    count, owner, version = cursor.fetchone()
                    if int(count) != 1 or owner != plan.run_id or int(version) != plan.state_version + 1:
                        raise self._conflict(plan)
                    cursor.execute(commit)
            except BaseException as exc:
                if not self.dialect.script_transactions:  # a failed script has rolled back already
                    try:
                        cursor.execute(self.dialect.rollback())
                    except Exception:  # the connection may be gone; closing it discards the transaction
                        log.warning("rollback failed", exc_info=True)
                if isinstance(exc, RudderSessionsError):
                    raise
                if isinstance(exc, Exception):
                    raise phase_error("publish", self.config.name, exc) from exc
                raise
            # Published: this run's staging tables go, and those of every run planned on an older
            # state (they can no longer publish). A failure here only leaves them for a later plan.
            try:
                for statement in self._drop_stage_statements(plan):
                    cursor.execute(statement)
            except Exception:
                log.warning("could not drop the staging tables of run %s", plan.run_id, exc_info=True)
        try:  # runs planned on the version this one replaced may still be in flight: they stay
            self._drop_dead_stages(tables, plan.state_version)
        except Exception:
            log.warning("could not drop the staging tables of ended runs", exc_info=True)
        if plan.full and not self.dialect.publish_by_rename:
            self._drop_surplus_flow_columns()

    def _drop_surplus_flow_columns(self) -> None:
        """A full refresh under a shorter flow left the wider table's extra event_<k> columns all
        NULL: they go, so the published table has the model's shape (after the commit: a reader
        sees the old model whole, then the new one). A failure only leaves them NULL."""
        for flow in (t for t in TABLES if t.flow):
            name = target_table_name(self.config, flow.step)
            wanted = {c.lower() for c in flow.column_names(self.config.flow_length)}
            surplus = sorted(
                c for c in self._columns(self.config.target_schema, name) if FLOW_COLUMN.match(c) and c not in wanted
            )
            if not surplus:
                continue
            table = self.dialect.table(self.config.target_schema, name)
            log.info(
                "dropping columns %s of %s: the flow is %d events long now",
                ", ".join(surplus),
                table,
                self.config.flow_length,
            )
            try:
                self._execute([self.dialect.drop_column(table, c) for c in surplus], "cleanup")
            except PhaseFailed:
                log.warning("could not drop columns %s of %s", ", ".join(surplus), table, exc_info=True)

    def _publish_script(self, cursor: Any, statements: list[str], plan: RunPlan) -> None:
        """Warehouses whose transactions live inside one script (BigQuery) get the whole publish,
        its state claim checked by ASSERTs, as one job."""
        try:
            cursor.execute(self._script(statements))
        except Exception as exc:
            # A failed ASSERT fails the job with its message; an error elsewhere that merely
            # echoes the script's text (a syntax error) still quotes the ASSERT itself.
            if PUBLISH_REFUSED in str(exc) and f"AS '{PUBLISH_REFUSED}" not in str(exc):
                raise self._conflict(plan) from exc
            raise

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
        """Mark the run failed in the log (a later successful publish of the run id replaces it)."""
        if plan.noop:
            return
        tables = self.tables(plan.key)
        d = self.dialect
        outcome = f"failed: {type(exc).__name__}: {_first_line(exc)}"[:500]
        self._execute(
            [
                f"UPDATE {tables.runs} SET outcome = {d.literal(outcome)}, finished_at = {d.current_timestamp()} "
                f"WHERE run_id = {d.literal(plan.run_id)} AND outcome <> 'published'"
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
        "reason",
    )

    def summary(self, run_id: str) -> dict[str, Any]:
        """The run log row of a published run, as a dict."""
        tables = self.tables(run_key(run_id))
        row = self.hook.get_first(
            f"SELECT {self._select(self.SUMMARY_COLUMNS)} FROM {tables.runs} "
            f"WHERE run_id = {self.dialect.literal(run_id)} AND outcome = 'published'"
        )
        if row is None:
            raise RudderSessionsError(f"run {run_id!r} has not been published")
        return self._record(self.SUMMARY_COLUMNS, row)

    def _select(self, columns: tuple[str, ...]) -> str:
        """A select list reading the timestamps of the state and run log as epoch microseconds:
        exact on every driver (BigQuery's DB-API returns a TIMESTAMP as float seconds)."""
        return ", ".join(self.dialect.epoch_us(c) if c in TIMESTAMP_COLUMNS else c for c in columns)

    @staticmethod
    def _record(columns: tuple[str, ...], row: Any) -> dict[str, Any]:
        values = dict(zip(columns, row, strict=True))
        return {c: from_epoch_us(v) if c in TIMESTAMP_COLUMNS else v for c, v in values.items()}

    def status(self, limit: int = 10) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        """The stored state of the source and its last runs, newest first."""
        tables = self.tables(run_key("status"))
        if not self._columns(self.config.target_schema, tables.state_name):
            return None, []
        state_columns = ("watermark", "version", "last_run_id", "last_mode", "updated_at")
        state = self.hook.get_first(
            f"SELECT {self._select(state_columns)} FROM {tables.state} "
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
            f"SELECT {self._select(columns)} FROM {tables.runs} "
            f"WHERE source = {self.dialect.literal(self.config.name)} "
            f"ORDER BY COALESCE(finished_at, started_at) DESC LIMIT {int(limit)}"
        )
        return (
            self._record(state_columns, state) if state else None,
            [self._record(columns, r) for r in runs],
        )


class _SharedConnection:
    """A DB-API connection whose close() is left to its owner (`SessionRunner.one_connection`)."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def close(self) -> None:
        pass

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


# Driver errors that a retry cannot fix, by what the warehouse says: DuckDB's exception classes,
# PostgreSQL/Redshift SQLSTATE classes 22 (data), 23 (integrity), 42 (syntax, undefined names,
# www.postgresql.org/docs/current/errcodes-appendix.html), Snowflake's ProgrammingError (SQL
# compilation errors, docs.snowflake.com/en/developer-guide/python-connector/python-connector-api
# #exceptions), and BigQuery's 400 invalidQuery (cloud.google.com/bigquery/docs/error-messages)
# unless it reports a concurrent update, which BigQuery asks to retry.
REFUSED_DUCKDB = {
    "BinderException",
    "CatalogException",
    "ParserException",
    "ConversionException",
    "InvalidInputException",
    "ConstraintException",
    "NotImplementedException",
}
REFUSED_SQLSTATE = ("22", "23", "42")
RETRIED_BIGQUERY = ("concurrent update", "could not serialize access", "ratelimitexceeded", "resources exceeded")


def is_refusal(exc: BaseException) -> bool:
    """Whether the warehouse refused the statement itself (the default, when unsure: a hiccup)."""
    for error in _causes(exc):
        kind, module = type(error).__name__, type(error).__module__
        if module.lstrip("_").startswith("duckdb") and kind in REFUSED_DUCKDB:
            return True
        code = getattr(error, "pgcode", None) or getattr(getattr(error, "diag", None), "sqlstate", None)
        if isinstance(code, str) and code[:2] in REFUSED_SQLSTATE:
            return True
        if module.startswith("snowflake") and kind == "ProgrammingError":
            return True
        if module.startswith("google") and getattr(error, "code", None) == 400:
            return not any(word in str(error).lower() for word in RETRIED_BIGQUERY)
    return False


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def phase_error(phase: str, source: str, exc: BaseException) -> PhaseFailed:
    kind = StatementRefused if is_refusal(exc) else PhaseFailed
    return kind(f"{phase} failed for source {source!r}: {_first_line(exc)}")


FLOW_COLUMN = re.compile(r"\Aevent_[0-9]+\Z")
UNRECORDED = "unrecorded"


def _stored_settings(text: Any, version: int) -> dict[str, Any] | None:
    """None before the first publish; {UNRECORDED: ...} for a model published by a version that
    stored no settings (or stored something unreadable): nothing says what it was built with."""
    if version == 0:
        return None
    try:
        settings = json.loads(text) if text else None
    except ValueError:
        settings = None
    return settings if isinstance(settings, dict) else {UNRECORDED: True}


def settings_changes(stored: dict[str, Any] | None, current: dict[str, Any]) -> list[str]:
    """What differs between the published model's settings and the run's, one phrase each."""
    if stored is None:
        return []
    if UNRECORDED in stored:
        return ["the published model's settings are not recorded (it was published by an older version)"]
    return [
        f"{name} changed {_show(stored.get(name))} -> {_show(value)}"
        for name, value in current.items()
        if stored.get(name) != value
    ]


def _show(value: Any) -> str:
    return "(unset)" if value is None else str(value)


def _affected_rows(cursor: Any) -> int | None:
    """Rows a DML statement changed, where the driver says (DuckDB returns them as a result row)."""
    count = getattr(cursor, "rowcount", -1)
    if isinstance(count, int) and count >= 0:
        return count
    try:
        row = cursor.fetchone()
    except Exception:
        return None
    if row and len(row) == 1 and isinstance(row[0], int):
        return row[0]
    return None


def _rows_text(count: int | None) -> str:
    return "rows affected: unknown" if count is None else f"rows affected: {count}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def format_summary(summary: dict[str, Any], config: SourceConfig) -> str:
    """A short human summary of a run, for the CLI and task logs."""
    dropped = ", ".join(f"{r} {summary[f'dropped_{r}']}" for r in DROP_REASONS)
    mode = summary["mode"]
    if summary["requested_mode"] != mode:
        mode += f" (requested {summary['requested_mode']}"
        mode += f": {summary['reason']})" if summary.get("reason") else ")"
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
