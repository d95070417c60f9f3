"""The run state and the run log: every read and write of `rudder_sessions_state` and
`rudder_sessions_runs` (outside the publish transaction's own SQL, `sql/publish.sql`).

The state row holds the source's watermark, its version (claimed by each publish) and the
settings the published model was built with; the run log holds one row per run, marked running
from its plan on, so another run tells a live run's staging tables from a dead one's.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import Any

from rudder_sessions.config import SourceConfig
from rudder_sessions.driver_errors import first_line
from rudder_sessions.errors import PhaseFailed, RudderSessionsError, WarehouseBusy
from rudder_sessions.model import (
    DROP_REASONS,
    IDENTITY_COUNTS,
    RUN_LOG_COLUMNS,
    STATE_COLUMNS,
    STEPS,
    Tables,
    run_key,
    target_table_name,
)
from rudder_sessions.plan import RunPlan
from rudder_sessions.rendering import render_template
from rudder_sessions.settings import BY_NAME
from rudder_sessions.sql_session import SqlSession

log = logging.getLogger(__name__)

EPOCH = datetime(1970, 1, 1)
TIMESTAMP_COLUMNS = frozenset(c for c, kind in (*STATE_COLUMNS, *RUN_LOG_COLUMNS) if kind == "timestamp")
UNRECORDED = "unrecorded"
SUMMARY_COLUMNS = (
    "run_id",
    "mode",
    "requested_mode",
    "window_start",
    "window_end",
    "watermark_before",
    "watermark_after",
    "rows_read",
    "rows_new",
    "future_watermark",
    *(f"dropped_{r}" for r in DROP_REASONS),
    "events_changed",
    "visitors_affected",
    "visitors",
    "sessions",
    *(f"rows_{s}" for s in STEPS),
    "reason",
    *IDENTITY_COUNTS,
)


def from_epoch_us(value: Any) -> datetime | None:
    """A timestamp read as integer epoch microseconds (exact on every driver: BigQuery's DB-API
    returns TIMESTAMP values as float seconds) as naive UTC."""
    if value is None:
        return None
    return EPOCH + timedelta(microseconds=int(value))


# Idempotent set-up (CREATE ... IF NOT EXISTS, the state row's INSERT ... WHERE NOT EXISTS) still
# fails when another run makes the same object at the same moment: PostgreSQL's catalog keys
# (`pg_namespace_nspname_index`, `pg_type_typname_nsp_index`) and the state row's primary key refuse
# the second of two concurrent first runs. That error comes once the other's transaction committed,
# so the set-up run again finds the objects and goes on.
IDEMPOTENT_ATTEMPTS = 3


def execute_idempotent(session: SqlSession, statements: list[str], phase: str) -> None:
    """Run statements that make what is missing, again when a concurrent run made it first."""
    for attempt in range(1, IDEMPOTENT_ATTEMPTS + 1):
        try:
            session.execute(statements, phase)
            return
        except WarehouseBusy:
            raise
        except PhaseFailed as exc:
            if attempt == IDEMPOTENT_ATTEMPTS:
                raise
            log.info(
                "%s of source %r: %s; again, as another run may have made the same objects",
                phase,
                session.config.name,
                exc,
            )
            session.end_failed_transaction()


class RunLog:
    def __init__(self, session: SqlSession) -> None:
        self.session = session

    @property
    def _source(self) -> str:
        return self.session.dialect.literal(self.session.config.name)

    # -- state --------------------------------------------------------------------------------------

    def create(self, tables: Tables) -> None:
        """The target schema, the state and run-log tables, and the source's state row, where missing."""
        session = self.session
        statements = session.statements(render_template("state.sql", session.config, session.dialect, tables))
        execute_idempotent(session, statements, "setup")

    def other_sources(self, tables: Tables) -> list[str]:
        """The sources other than this one with a state row in the target's state table."""
        session = self.session
        if not session.columns(session.config.target_schema, tables.state_name):
            return []
        rows = session.records(f"SELECT DISTINCT source FROM {tables.state} WHERE source <> {self._source}")
        return sorted(str(row[0]) for row in rows)

    def state(self, tables: Tables) -> tuple[datetime | None, int, dict[str, Any] | None]:
        """The stored watermark, version and model settings; duplicate state rows left by two first
        plans racing (no warehouse but PostgreSQL and DuckDB enforces the key) are merged while
        unpublished."""
        session, d = self.session, self.session.dialect
        rows = session.records(
            f"SELECT {d.epoch_us('watermark')}, version, settings FROM {tables.state} WHERE source = {self._source}"
        )
        if len(rows) > 1 and all(int(r[1]) == 0 for r in rows):
            log.warning("merging %d unpublished state rows of source %r", len(rows), session.config.name)
            session.execute([f"DELETE FROM {tables.state} WHERE source = {self._source} AND version = 0"], "setup")
            self.create(tables)
            return self.state(tables)
        if len(rows) != 1:
            raise RudderSessionsError(
                f"source {session.config.name!r} has {len(rows)} rows in {tables.state}: expected one"
            )
        watermark, version, settings = rows[0]
        return from_epoch_us(watermark), int(version), stored_settings(settings, int(version))

    def watermarks(self, tables: Tables) -> dict[str, datetime | None]:
        """Each event table's stored watermark (lower-case names as the state keeps them)."""
        d = self.session.dialect
        rows = self.session.records(
            f"SELECT event_table, {d.epoch_us('watermark')} FROM {tables.watermarks} WHERE source = {self._source}"
        )
        return {str(table): from_epoch_us(at) for table, at in rows}

    def ownership_query(self, tables: Tables) -> str:
        """The state row's count, owner and version, checked inside publish's transaction."""
        return f"SELECT COUNT(*), MAX(last_run_id), MAX(version) FROM {tables.state} WHERE source = {self._source}"

    # -- runs -----------------------------------------------------------------------------------------

    def published(self, run_id: str) -> bool:
        tables = self.session.tables(run_key(run_id))
        row = self.session.first(
            f"SELECT COUNT(*) FROM {tables.runs} "
            f"WHERE run_id = {self.session.dialect.literal(run_id)} AND outcome = 'published'"
        )
        return bool(row and row[0])

    def start(self, plan: RunPlan) -> None:
        """The run's row, marked running, before it writes any staging table."""
        tables = self.session.tables(plan.key)
        d = self.session.dialect
        self.session.execute(
            [
                f"DELETE FROM {tables.runs} WHERE run_id = {d.literal(plan.run_id)} AND outcome <> 'published'",
                f"INSERT INTO {tables.runs} (run_id, source, mode, requested_mode, window_start, window_end, "
                f"watermark_before, started_at, outcome, state_version, reason) VALUES ({d.literal(plan.run_id)}, "
                f"{self._source}, {d.literal(plan.mode)}, {d.literal(plan.requested_mode)}, "
                f"{d.timestamp_literal(plan.window_start)}, {d.timestamp_literal(plan.window_end)}, "
                f"{d.timestamp_literal(plan.watermark_before)}, {d.current_timestamp()}, 'running', "
                f"{int(plan.state_version)}, {d.literal(plan.reason) if plan.reason else 'NULL'})",
            ],
            "run log",
        )

    def record_failure(self, plan: RunPlan, exc: BaseException) -> None:
        """Mark the run failed (a later successful publish of the run id replaces it)."""
        if plan.noop:
            return
        tables = self.session.tables(plan.key)
        d = self.session.dialect
        outcome = f"failed: {type(exc).__name__}: {first_line(exc)}"[:500]
        self.session.execute(
            [
                f"UPDATE {tables.runs} SET outcome = {d.literal(outcome)}, finished_at = {d.current_timestamp()} "
                f"WHERE run_id = {d.literal(plan.run_id)} AND outcome <> 'published'"
            ],
            "record failure",
        )

    def runs_of_source(self, tables: Tables) -> list[tuple[str, str, int | None, datetime | None]]:
        """(run id, outcome, state version planned on, started at) of every logged run of the source."""
        d = self.session.dialect
        rows = self.session.records(
            f"SELECT run_id, outcome, state_version, {d.epoch_us('started_at')} FROM {tables.runs} "
            f"WHERE source = {self._source}"
        )
        return [
            (str(run_id), outcome, None if planned_on is None else int(planned_on), from_epoch_us(started))
            for run_id, outcome, planned_on, started in rows
        ]

    # -- reporting ------------------------------------------------------------------------------------

    def summary(self, run_id: str) -> dict[str, Any]:
        """The run log row of a published run, as a dict."""
        tables = self.session.tables(run_key(run_id))
        row = self.session.first(
            f"SELECT {self._select(SUMMARY_COLUMNS)} FROM {tables.runs} "
            f"WHERE run_id = {self.session.dialect.literal(run_id)} AND outcome = 'published'"
        )
        if row is None:
            raise RudderSessionsError(f"run {run_id!r} has not been published")
        return _record(SUMMARY_COLUMNS, row)

    def status(self, limit: int = 10) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        """The stored state of the source and its last runs, newest first."""
        session = self.session
        tables = session.tables(run_key("status"))
        if not session.columns(session.config.target_schema, tables.state_name):
            return None, []
        state_columns = ("watermark", "version", "last_run_id", "last_mode", "updated_at")
        state = session.first(f"SELECT {self._select(state_columns)} FROM {tables.state} WHERE source = {self._source}")
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
        runs = session.records(
            f"SELECT {self._select(columns)} FROM {tables.runs} WHERE source = {self._source} "
            f"ORDER BY COALESCE(finished_at, started_at) DESC LIMIT {int(limit)}"
        )
        return (_record(state_columns, state) if state else None, [_record(columns, r) for r in runs])

    def _select(self, columns: tuple[str, ...]) -> str:
        """A select list reading the timestamps of the state and run log as epoch microseconds:
        exact on every driver (BigQuery's DB-API returns a TIMESTAMP as float seconds)."""
        return ", ".join(self.session.dialect.epoch_us(c) if c in TIMESTAMP_COLUMNS else c for c in columns)


def _record(columns: tuple[str, ...], row: Any) -> dict[str, Any]:
    values = dict(zip(columns, row, strict=True))
    return {c: from_epoch_us(v) if c in TIMESTAMP_COLUMNS else v for c, v in values.items()}


# -- the settings the published model was built with ---------------------------------------------------


def stored_settings(text: Any, version: int) -> dict[str, Any] | None:
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
    # A setting the stored model does not name did not exist when it was published: the model was
    # built as its default builds it (an upgrade adds settings whose defaults keep the old model).
    # A setting stored only when set (config.STORED_WHEN_SET) that the run leaves unset has its
    # default, and is compared like the others.
    names = [*current, *(n for n in stored if n not in current and n in BY_NAME and BY_NAME[n].shapes_model)]
    defaults = {name: _stored_default(name) for name in names}
    return [
        f"{name} changed {_show(stored.get(name, defaults[name]))} -> {_show(current.get(name, defaults[name]))}"
        for name in names
        if stored.get(name, defaults[name]) != current.get(name, defaults[name])
    ]


def _stored_default(name: str) -> Any:
    default = BY_NAME[name].default
    return list(default) if isinstance(default, tuple) else default


def _show(value: Any) -> str:
    return "(unset)" if value is None else str(value)


def _dropped(summary: dict[str, Any]) -> str:
    reasons = ", ".join(f"{r} {summary[f'dropped_{r}']}" for r in DROP_REASONS)
    return f"{sum(summary[f'dropped_{r}'] for r in DROP_REASONS)} ({reasons})"


def _read(summary: dict[str, Any]) -> str:
    """Rows read, and how many of them no earlier run read (the dropped counts count only those)."""
    read, new = summary["rows_read"], summary.get("rows_new")
    if new is None or new == read:
        return f"{read:,}"
    return f"{read:,} ({new:,} new; the others an earlier run read and counted)"


def _future(summary: dict[str, Any]) -> str | None:
    """Rows stamped after the run's start (a clock error upstream): worth a line of their own."""
    count = summary.get("future_watermark") or 0
    if not count:
        return None
    return f"{count} rows with a watermark value in the future: processed, read again until their time has passed"


def _identity(summary: dict[str, Any]) -> str | None:
    """What the identity graph did in the run (None under the last touch, which records nothing)."""
    if summary.get("identity_iterations") is None:
        return None
    return (
        f"identity graph: {summary['identity_iterations']} propagation steps, "
        f"{summary['identity_merged']} visitors merged, {summary['identity_remapped']} identifiers remapped, "
        f"{summary['identity_hub_ids']} hub ids (max_users_per_anonymous_id), "
        f"{summary['identity_excluded']} junk ids read as NULL (identity_exclude)"
    )


def format_note(summary: dict[str, Any], config: SourceConfig, announced: bool = True) -> str:
    """The published run's counts as Markdown for the DAG run's note, below the plan's line
    (mode, why it differs from the requested one, window)."""
    written = " · ".join(f"`{target_table_name(config, s)}` {summary[f'rows_{s}']:,}" for s in STEPS)
    outcome = "published" if announced else "nothing changed"
    return "\n".join(
        [
            f"**{summary['mode']}, {outcome}**: {summary['events_changed']:,} events changed, "
            f"{summary['visitors']:,} visitors, {summary['sessions']:,} sessions",
            "",
            f"- rows read {_read(summary)}, dropped {_dropped(summary)}",
            *([f"- {future}"] if (future := _future(summary)) else []),
            f"- visitors affected {summary['visitors_affected']:,}",  # the headline has the other counts
            *([f"- {identity}"] if (identity := _identity(summary)) else []),
            f"- watermark {summary['watermark_before']} → {summary['watermark_after']}",
            f"- rows written: {written}",
            "- published; asset events sent" if announced else "- no event changed: no asset events",
        ]
    )


def format_summary(summary: dict[str, Any], config: SourceConfig) -> str:
    """A short human summary of a run, for the CLI and task logs."""
    mode = summary["mode"]
    if summary["requested_mode"] != mode:
        mode += f" (requested {summary['requested_mode']}"
        mode += f": {summary['reason']})" if summary.get("reason") else ")"
    window = ""
    if summary["window_start"] or summary["window_end"]:
        window = f", window [{summary['window_start']}, {summary['window_end'] or '…'})"
    lines = [
        f"run {summary['run_id']}: {mode} of source {config.name!r}{window}",
        f"  rows read         {_read(summary)}",
        f"  rows dropped      {_dropped(summary)}",
        *([f"  {future}"] if (future := _future(summary)) else []),
        f"  events changed    {summary['events_changed']}",
        f"  visitors affected {summary['visitors_affected']}",
        f"  visitors          {summary['visitors']}",
        f"  sessions          {summary['sessions']}",
        *([f"  {identity}"] if (identity := _identity(summary)) else []),
        f"  watermark         {summary['watermark_before']} -> {summary['watermark_after']}",
        "  rows written:",
        *(f"    {config.target_schema}.{target_table_name(config, s):<28} {summary[f'rows_{s}']}" for s in STEPS),
    ]
    return "\n".join(lines)
