"""Airflow operators for the session model: plan, the modelling steps, scope, checks, publish.

They are thin: a common.sql `BaseSQLOperator` (so the hook comes from the connection id, and
OpenLineage and connection extras work as for any SQL operator) that hands its phase to the
shared run engine. The plan task fixes the run (mode, window, state version) and shares it as
XCom; every task renders its SQL from that plan when it starts, which is what the UI's Rendered
Template tab shows.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import ExitStack
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.sql.operators.sql import BaseSQLOperator

from rudder_sessions.assets import table_assets
from rudder_sessions.config import SourceConfig, source_from_params
from rudder_sessions.engine import SessionRunner
from rudder_sessions.errors import (
    AuditFailed,
    ConfigError,
    PhaseFailed,
    PublishConflict,
    RudderSessionsError,
    SettingsChanged,
    SourceError,
    StatementRefused,
)
from rudder_sessions.hooks import get_hook
from rudder_sessions.model import PHASES, PLAN, PUBLISH, STEPS, target_table_name
from rudder_sessions.notes import NOTE_KEY
from rudder_sessions.plan import BACKFILL, INCREMENTAL, RunPlan
from rudder_sessions.run_log import format_note, format_summary
from rudder_sessions.timestamps import parse_timestamp

try:  # Airflow 3.1+; airflow.exceptions' names are deprecated there
    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException
except ImportError:  # Airflow 3.0
    from airflow.exceptions import AirflowFailException, AirflowSkipException

if TYPE_CHECKING:
    from airflow.sdk import Context

PLAN_NOT_YET = "-- The plan task fixes the mode and window of the run when it runs; the SQL it ran shows here after."

# Mistakes and refusals that a retry cannot fix: fail at once with the message.
FINAL_ERRORS = (ConfigError, SourceError, AuditFailed, PublishConflict, SettingsChanged, StatementRefused)


def _set_up_hook_lineage() -> float:
    """Seconds to create Airflow's hook-lineage collector, which common.sql reports every statement
    to: done before the phase's SQL so that its cost (the collector loads every installed
    provider's asset handlers, even when no lineage reader is registered) is not counted as SQL."""
    started = time.monotonic()
    try:
        from airflow.providers.common.compat.lineage.hook import get_hook_lineage_collector

        get_hook_lineage_collector()
    except Exception:  # lineage must never fail the run
        pass
    return time.monotonic() - started


def _timestamp(value: Any, name: str) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        return parse_timestamp(value)
    except ValueError:
        raise RudderSessionsError(f"parameter {name}: {value!r} is not an ISO date or timestamp") from None


def requested_run(context: Context) -> tuple[str, datetime | None, datetime | None]:
    """Mode and window a DAG run asks for: an Airflow backfill covers its data interval,
    otherwise the trigger parameters decide (scheduled runs are incremental)."""
    dag_run = context.get("dag_run")
    run_type = str(getattr(dag_run, "run_type", "") or "").lower()
    if run_type.endswith("backfill") or run_type.endswith("backfill_job"):
        return BACKFILL, context.get("data_interval_start"), context.get("data_interval_end")
    params = context.get("params") or {}
    mode = params.get("mode") or INCREMENTAL
    return mode, _timestamp(params.get("start"), "start"), _timestamp(params.get("end"), "end")


class RudderSessionsPhaseOperator(BaseSQLOperator):
    """Run one phase of the session model for a source (see `rudder_sessions.model.PHASES`)."""

    template_fields: Sequence[str] = (*BaseSQLOperator.template_fields, "sql")
    template_ext: Sequence[str] = ()
    template_fields_renderers = {"sql": "sql"}
    ui_color = "#d7ecfb"
    # The plan task renders its SQL in execute (planning reads and writes the warehouse, which
    # rendering must not: `airflow tasks render` would run it); the Rendered Template tab then
    # shows the SQL it ran.
    overwrite_rtif_after_execution = True

    def __init__(self, *, source: SourceConfig | None, phase: str, plan_task_id: str = PLAN, **kwargs: Any) -> None:
        """`source=None` takes the source from the run's parameters (the ad-hoc DAG's trigger form)."""
        if phase not in PHASES:
            raise ValueError(f"unknown phase {phase!r}; expected one of {', '.join(PHASES)}")
        super().__init__(conn_id=source.conn_id if source else "{{ params.conn_id }}", **kwargs)
        self.source = source
        self.phase = phase
        self.plan_task_id = plan_task_id
        self.sql: str | None = None
        self.plan: RunPlan | None = None
        self.render_error: RudderSessionsError | None = None

    @cached_property
    def runner(self) -> SessionRunner:
        if self.source is None:
            raise RudderSessionsError("the source is known only once the run's parameters are rendered")
        return SessionRunner(self.source, get_hook(self.source, self.get_db_hook))

    def render_template_fields(self, context: Context, jinja_env: Any = None) -> None:
        """Renders the step's SQL from the run's plan. A mistake found here (a bad trigger form,
        no plan) is kept for `execute` to report: raised while rendering, it would be folded into
        the log's pre-execute group, under a traceback."""
        super().render_template_fields(context, jinja_env)
        self.render_error = None
        try:
            if self.source is None:
                self.source = source_from_params(context.get("params") or {})
            if self.phase == PLAN:
                self.sql = PLAN_NOT_YET
            else:
                self._plan_and_render(context)
        except RudderSessionsError as exc:
            self.render_error = exc

    def _plan_and_render(self, context: Context) -> None:
        self.plan = self._plan(context)
        self.sql = self.runner.render(self.phase, self.plan)

    def _fail_or_retry(self, context: Context, exc: RudderSessionsError) -> None:
        """A warehouse hiccup is raised for Airflow to retry; anything else fails the task at once."""
        if isinstance(exc, PhaseFailed) and not isinstance(exc, FINAL_ERRORS):
            self._note_failure(context, exc, retried=True)
            raise exc
        self._fail(context, exc)

    def _plan(self, context: Context) -> RunPlan:
        """The run's plan: made by the plan task when it runs, read from its XCom by the others."""
        if self.phase == PLAN:
            mode, start, end = requested_run(context)
            plan = self.runner.plan(context["run_id"], mode, start, end)
            self.log.info("%s", plan.describe())
            return plan
        data = context["ti"].xcom_pull(task_ids=self.plan_task_id)
        if not data:
            raise RudderSessionsError(f"no plan from task {self.plan_task_id!r}; clear the whole DAG run")
        return RunPlan.from_dict(data)

    def _describe_asset_events(self, context: Context, summary: dict[str, Any]) -> None:
        """Attach the run's metadata to the event of each published table: directly for the table
        Assets the task declares, through an AssetAlias for tables named only at run time."""
        from airflow.sdk import AssetAlias

        events = context.get("outlet_events")
        if events is None or self.source is None:
            return
        run = {k: summary[k] for k in ("run_id", "mode", "window_start", "window_end", "watermark_after")}
        outlets = list(self.outlets or ())
        aliases = [outlet for outlet in outlets if isinstance(outlet, AssetAlias)]
        for step, asset in table_assets(self.source).items():
            extra = {**run, "source": self.source.name, "rows_written": summary[f"rows_{step}"]}
            if asset in outlets:
                events[asset].extra = extra
            for alias in aliases:
                events[alias].add(asset, extra=extra)

    def get_openlineage_facets_on_start(self) -> Any:
        """Model-level lineage instead of the parsed SQL: the tracks table feeds `plan`, and `publish`
        turns it into the published tables. The run-scoped staging tables in between change name every run
        and would only clutter a lineage graph. Empty where the hook gives no OpenLineage database
        info (DuckDB)."""
        try:
            from airflow.providers.common.compat.openlineage.facet import Dataset
            from airflow.providers.openlineage.extractors import OperatorLineage
            from airflow.providers.openlineage.sqlparser import SQLParser
        except ImportError:
            return None
        if self.source is None or self.phase not in (PLAN, PUBLISH):
            return OperatorLineage()
        try:
            hook = self.runner.hook
            info = hook.get_openlineage_database_info(hook.get_connection(getattr(hook, hook.conn_name_attr)))
        except Exception:  # lineage must never fail the run
            self.log.debug("no OpenLineage database info for source %r", self.source.name, exc_info=True)
            info = None
        if info is None:
            return OperatorLineage()
        namespace = SQLParser.create_namespace(info)

        def dataset(schema: str, table: str) -> Dataset:
            parts = [part for part in (info.database, schema, table) if part]
            return Dataset(
                namespace=namespace, name=".".join(p.upper() if info.is_uppercase_names else p for p in parts)
            )

        # the event tables, and the identity graph's link tables
        events = [dataset(self.source.source_schema, table) for table in self.source.watermarked_tables]
        if self.phase == PLAN:
            return OperatorLineage(inputs=events)
        tables = [dataset(self.source.target_schema, target_table_name(self.source, step)) for step in STEPS]
        return OperatorLineage(inputs=events, outputs=tables)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        return self.get_openlineage_facets_on_start()

    def _fail(self, context: Context, exc: Exception) -> None:
        # A user mistake or a refusal: retrying cannot help, and one clear line says what to fix.
        self.log.error("%s", exc)
        self._note_failure(context, exc)
        raise AirflowFailException(str(exc)) from None

    def _note_failure(self, context: Context, exc: Exception, retried: bool = False) -> None:
        retry = " (Airflow retries it while it has retries)" if retried else ""
        self._note(context, f"**failed at {self.task_id}**{retry}: {exc}")

    def _note(self, context: Context, text: str) -> None:
        """This task's part of the DAG run's note (`rudder_sessions.run_notes` joins the parts)."""
        try:
            context["ti"].xcom_push(key=NOTE_KEY, value=text)
        except Exception:  # the note must never fail the run
            self.log.warning("could not leave this task's part of the run note", exc_info=True)

    def execute(self, context: Context) -> dict[str, Any]:
        """The phase on one connection for the whole task: one open (and, on DuckDB, one
        checkpoint) per task instead of one per statement batch."""
        self.costs = {"hook-lineage set-up": _set_up_hook_lineage()}
        with ExitStack() as stack:
            try:
                if self.render_error is not None:
                    raise self.render_error
                started = time.monotonic()
                stack.enter_context(self.runner.one_connection())
                self.costs["connecting"] = time.monotonic() - started
                if self.phase == PLAN:
                    started = time.monotonic()
                    self._plan_and_render(context)
                    self.costs["planning"] = time.monotonic() - started
            except RudderSessionsError as exc:
                self._fail_or_retry(context, exc)
            return self._run_phase(context)

    def _log_timing(self, context: Context, sql_seconds: float) -> None:
        """The phase's SQL time apart from the rest of the task (Airflow's start-up of the task
        process, hook lineage, connecting): what the warehouse did and what orchestration cost."""
        started = getattr(context.get("ti"), "start_date", None)
        task = (datetime.now(UTC) - started).total_seconds() if isinstance(started, datetime) else None
        parts = ", ".join(f"{name} {seconds:.2f}s" for name, seconds in self.costs.items())
        rest = f"; task so far {task:.2f}s, outside the SQL {task - sql_seconds:.2f}s" if task else ""
        self.log.info("%s of source %r: SQL %.2fs%s (%s)", self.phase, self.source.name, sql_seconds, rest, parts)

    def _run_phase(self, context: Context) -> dict[str, Any]:
        assert self.plan is not None, "templates are rendered before execute"
        try:
            result = self.runner.execute(self.phase, self.plan, sql=self.sql)
        except Exception as exc:
            try:
                self.runner.record_failure(self.plan, exc)
            except Exception:  # the original error matters more
                self.log.warning("could not log the failure of run %s", self.plan.run_id, exc_info=True)
            if isinstance(exc, FINAL_ERRORS):
                self._fail(context, exc)
            self._note_failure(context, exc, retried=True)
            raise
        self.log.info("%s of source %r took %.2fs; rows: %s", self.phase, self.source.name, result.seconds, result.rows)
        self._log_timing(context, result.seconds + self.costs.get("planning", 0.0))
        if self.phase == PLAN:
            self._note(context, self.plan.describe(named=False))
            return self.plan.to_dict()
        if self.phase == PUBLISH:
            if self.plan.noop:
                self._note(context, "nothing published; no asset events")
                raise AirflowSkipException(f"nothing to publish: {self.plan.reason}; no asset events")
            summary = self.runner.summary(self.plan.run_id)
            self.log.info("%s", format_summary(summary, self.source))
            unchanged = self.plan.mode == INCREMENTAL and not summary["events_changed"]
            self._note(context, format_note(summary, self.source, announced=not unchanged))
            if unchanged:
                # Skipped, the task emits no asset events: downstream DAGs wait for a real change.
                # (A backfill or full refresh someone asked for always announces its tables.)
                raise AirflowSkipException("no event changed: the tables are as they were; no asset events")
            plain = {k: v.isoformat() if isinstance(v, datetime) else v for k, v in summary.items()}
            self._describe_asset_events(context, plain)
            return plain
        return {"phase": self.phase, "seconds": round(result.seconds, 3), "rows": result.rows}
