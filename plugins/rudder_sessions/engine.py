"""The run engine: executes plan, the five steps and publish against an Airflow DbApiHook.

Shared by the operators and the CLI. Steps write run-scoped staging tables only; `publish`
replaces the five tables and records the run in one transaction, then drops the staging tables.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rudder_sessions.config import SourceConfig
from rudder_sessions.dialects import Dialect, dialect_for_conn_type, get_dialect
from rudder_sessions.errors import ConfigError, PhaseFailed, RudderSessionsError, SourceError
from rudder_sessions.model import (
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
from rudder_sessions.rendering import RunInfo, render_phase

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
        raise ConfigError(
            config.name, "conn_id", f"Airflow connection {config.conn_id!r} does not exist"
        ) from None
    if not isinstance(hook, DbApiHook):
        raise ConfigError(
            config.name, "conn_id", f"connection {config.conn_id!r} does not provide a SQL (DbApiHook) hook"
        )
    return hook


def resolve_dialect(config: SourceConfig, hook: DbApiHook) -> Dialect:
    if config.dialect:
        return get_dialect(config.dialect)
    conn_type = getattr(getattr(hook, "connection", None), "conn_type", None) or getattr(
        hook, "conn_type", ""
    )
    return get_dialect(dialect_for_conn_type(conn_type))


class SessionRunner:
    """Runs the model's phases for one source through one hook."""

    def __init__(self, config: SourceConfig, hook: DbApiHook, dialect: Dialect | None = None) -> None:
        self.config = config
        self.hook = hook
        self.dialect = dialect or resolve_dialect(config, hook)

    @classmethod
    def connect(cls, config: SourceConfig) -> SessionRunner:
        return cls(config, get_hook(config))

    def run_info(self, run_id: str, mode: str) -> RunInfo:
        return RunInfo(
            key=run_key(run_id),
            run_id_sql=self.dialect.literal(run_id),
            mode_sql=self.dialect.literal(mode),
        )

    def render(self, phase: str, run: RunInfo) -> str:
        return render_phase(phase, self.config, self.dialect, run)

    # -- checks -----------------------------------------------------------------------------------

    def check_source(self) -> None:
        """Fail with a message naming what is missing, before any SQL touches the source."""
        cfg = self.config
        rows = self.hook.get_records(
            self.dialect.columns_query(), parameters=(cfg.source_schema, cfg.source_table)
        )
        present = {str(r[0]).lower() for r in rows}
        where = f"source table {cfg.source_schema}.{cfg.source_table} (connection {cfg.conn_id!r})"
        if not present:
            raise SourceError(f"{where} does not exist")
        missing = [c for c in SOURCE_COLUMNS if c not in present]
        if missing:
            raise SourceError(f"{where} has no column(s): {', '.join(missing)}")

    # -- execution --------------------------------------------------------------------------------

    def execute(self, phase: str, run: RunInfo, sql: str | None = None) -> PhaseResult:
        """Run one phase. `sql` is the already rendered text (the operators pass their own)."""
        if phase not in PHASES:
            raise ValueError(f"unknown phase {phase!r}")
        started = time.monotonic()
        if phase == PLAN:
            self.check_source()
        sql = sql if sql is not None else self.render(phase, run)
        statements = [s for s in self.hook.split_sql_string(sql, strip_semicolon=True) if s.strip()]
        try:
            self.hook.run(statements, autocommit=False)
        except RudderSessionsError:
            raise
        except Exception as exc:
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise PhaseFailed(f"{phase} failed for source {self.config.name!r}: {first_line}") from exc
        rows: dict[str, int] = {}
        tables = Tables(self.config, self.dialect, run.key)
        if phase in STEPS:
            rows[phase] = self._count(tables.stage(phase))
        elif phase == PLAN:
            rows["events"] = self._count(tables.stage("events"))
        elif phase == PUBLISH:
            self.drop_stages(run)
        result = PhaseResult(phase, time.monotonic() - started, rows)
        log.info("%s finished in %.2fs %s", phase, result.seconds, rows or "")
        return result

    def drop_stages(self, run: RunInfo) -> None:
        tables = Tables(self.config, self.dialect, run.key)
        self.hook.run([self.dialect.drop_table(tables.stage(n)) for n in tables.all_stages()])

    def run(self, run_id: str, mode: str = "full_refresh") -> dict[str, Any]:
        """Plan, the five steps and publish, in order; staging is dropped if any of them fails."""
        run = self.run_info(run_id, mode)
        try:
            for phase in PHASES:
                self.execute(phase, run)
        except BaseException:
            try:
                self.drop_stages(run)
            except Exception:  # the original error matters more than a failed cleanup
                log.warning("could not drop the staging tables of run %s", run_id, exc_info=True)
            raise
        return self.summary(run_id)

    # -- reporting --------------------------------------------------------------------------------

    def _count(self, table: str) -> int:
        return int(self.hook.get_first(f"SELECT COUNT(*) FROM {table}")[0])

    def summary(self, run_id: str) -> dict[str, Any]:
        """The run log row of a finished run, as a dict."""
        tables = Tables(self.config, self.dialect, run_key(run_id))
        columns = [
            "run_id",
            "mode",
            "rows_read",
            *(f"dropped_{r}" for r in DROP_REASONS),
            "visitors",
            "sessions",
            *(f"rows_{s}" for s in STEPS),
        ]
        row = self.hook.get_first(
            f"SELECT {', '.join(columns)} FROM {tables.runs} WHERE run_id = {self.dialect.literal(run_id)}"
        )
        if row is None:
            raise RudderSessionsError(f"run {run_id!r} has not been published")
        return dict(zip(columns, row, strict=True))


def format_summary(summary: dict[str, Any], config: SourceConfig) -> str:
    """A short human summary of a run, for the CLI and task logs."""
    dropped = ", ".join(f"{r} {summary[f'dropped_{r}']}" for r in DROP_REASONS)
    lines = [
        f"run {summary['run_id']} ({summary['mode']}) of source {config.name!r}",
        f"  rows read      {summary['rows_read']}",
        f"  rows dropped   {sum(summary[f'dropped_{r}'] for r in DROP_REASONS)} ({dropped})",
        f"  visitors       {summary['visitors']}",
        f"  sessions       {summary['sessions']}",
        "  rows written:",
        *(
            f"    {config.target_schema}.{target_table_name(config, s):<28} {summary[f'rows_{s}']}"
            for s in STEPS
        ),
    ]
    return "\n".join(lines)
