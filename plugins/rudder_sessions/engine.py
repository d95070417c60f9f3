"""The run engine: plans a run and executes its phases against an Airflow DbApiHook.

Shared by the operators and the CLI. Steps write run-scoped staging tables only; `checks` audits
them; `publish` claims the source's state version, replaces the affected rows of the published tables,
advances the watermark and logs the run in one transaction, then drops the staging tables.
`SessionRunner` puts together what lives in its own module: the hook (hooks.py), planning
(planning.py), publish (publishing.py) and the state and run log (run_log.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rudder_sessions.config import SourceConfig
from rudder_sessions.dialects import Dialect
from rudder_sessions.driver_errors import phase_error
from rudder_sessions.errors import AuditFailed, GraphDidNotConverge, PhaseFailed, PublishConflict
from rudder_sessions.hooks import get_hook, resolve_dialect
from rudder_sessions.model import CHECKS, GRAPH_ITERATIONS, PHASES, PLAN, PUBLISH, STEPS, Tables
from rudder_sessions.plan import INCREMENTAL, RunPlan
from rudder_sessions.planning import Planner, drop_stage_statements
from rudder_sessions.publishing import Publisher
from rudder_sessions.rendering import render_phase
from rudder_sessions.run_log import RunLog
from rudder_sessions.sql_session import SqlSession

if TYPE_CHECKING:
    from airflow.providers.common.sql.hooks.sql import DbApiHook

log = logging.getLogger(__name__)

# The lines around the part of a phase's SQL that repeats (sql/identity_graph.sql).
REPEAT_START = "-- @repeat until it counts 0"
REPEAT_END = "-- @end repeat"


@dataclass(frozen=True)
class PhaseResult:
    phase: str
    seconds: float
    rows: dict[str, int] = field(default_factory=dict)


def runs_as_script(dialect: Dialect, phase: str) -> bool:
    """Whether a phase goes to the warehouse as one script rather than statement by statement (the
    checks are read one by one, publish splits off what must run before its transaction)."""
    return dialect.script_bounds and phase not in (CHECKS, PUBLISH)


class SessionRunner:
    """Plans and runs the model's phases for one source through one hook."""

    def __init__(self, config: SourceConfig, hook: DbApiHook, dialect: Dialect | None = None) -> None:
        self.config = config
        self.hook = hook
        if dialect is not None:
            dialect.configure(hook)  # what its SQL takes from the connection, as resolve_dialect does
        self.dialect = dialect or resolve_dialect(config, hook)
        self.session = SqlSession(config, hook, self.dialect)
        self.run_log = RunLog(self.session)
        self.planner = Planner(self.session, self.run_log)
        self.publisher = Publisher(self.session, self.run_log)
        self.timings: dict[str, float] = {}  # seconds per phase of the last `run`

    @classmethod
    def connect(cls, config: SourceConfig) -> SessionRunner:
        return cls(config, get_hook(config))

    def tables(self, key: str) -> Tables:
        return self.session.tables(key)

    def render(self, phase: str, plan: RunPlan) -> str:
        return render_phase(phase, self.config, self.dialect, plan)

    def plan(
        self,
        run_id: str,
        mode: str = INCREMENTAL,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> RunPlan:
        """Fix the run's mode and window from the request and the stored state."""
        return self.planner.plan(run_id, mode, start, end)

    def execute(self, phase: str, plan: RunPlan, sql: str | None = None) -> PhaseResult:
        """Run one phase. `sql` is the already rendered text (the operators pass their own)."""
        if phase not in PHASES:
            raise ValueError(f"unknown phase {phase!r}")
        started = time.monotonic()
        if plan.noop:
            log.info("%s: %s", phase, plan.describe())
            return PhaseResult(phase, 0.0)
        sql = sql if sql is not None else self.render(phase, plan)
        try:
            rows = self._execute_phase(phase, plan, sql)
        except PhaseFailed as exc:
            conflict = self._overtaken(plan, phase)
            if conflict is None:
                raise
            log.info("%s failed after another run published: %s", phase, exc)
            raise conflict from exc
        result = PhaseResult(phase, time.monotonic() - started, rows)
        log.info("%s finished in %.2fs %s", phase, result.seconds, rows or "")
        return result

    def _overtaken(self, plan: RunPlan, phase: str) -> PublishConflict | None:
        """A phase that failed because another run published meanwhile (the next plan drops the
        staging tables of a run that can no longer publish) reports that, not the missing table."""
        self.session.end_failed_transaction()
        return self.publisher.overtaken(plan, phase)

    def _execute_phase(self, phase: str, plan: RunPlan, sql: str) -> dict[str, int]:
        """The phase's SQL; the rows of the tables it staged."""
        statements = self.session.statements(sql)
        tables = self.tables(plan.key)
        rows: dict[str, int] = {}
        if phase == CHECKS:
            self._audit(statements)
        elif phase == PUBLISH:
            if self.run_log.published(plan.run_id):
                log.info("run %s was already published; nothing to do", plan.run_id)
                self.drop_stages(plan)
            else:
                self.publisher.publish(statements, plan, tables)
        elif REPEAT_START in sql:
            self._execute_repeating(sql, phase, tables)
            rows[phase] = self.session.count(tables.stage(phase))
        else:
            self._execute_part(sql, phase)
            if phase in STEPS:
                rows[phase] = self.session.count(tables.stage(phase))
            elif phase == PLAN:
                rows["events"] = self.session.count(tables.stage("events"))
        return rows

    def _execute_part(self, sql: str, phase: str) -> None:
        # Script variables live for one script: there, the phase runs whole as one job.
        statements = self.session.statements(sql)
        self.session.execute([sql] if statements and runs_as_script(self.dialect, phase) else statements, phase)

    def _execute_repeating(self, sql: str, phase: str, tables: Tables) -> None:
        """A phase with a repeated part (the identity graph's label propagation): the part between
        its markers runs again until its last statement counts 0, at most GRAPH_ITERATIONS times; a
        part still changing then fails the run rather than publish a partial graph."""
        before, rest = sql.split(REPEAT_START, 1)
        body, after = rest.split(REPEAT_END, 1)
        body = body.split("\n", 1)[1]  # the marker's line ends with its bound
        *steps, counting = self.session.statements(body)
        self._execute_part(before, phase)
        for iteration in range(1, GRAPH_ITERATIONS + 1):
            self.session.execute(steps, phase)
            try:
                changed = int(self.hook.get_first(counting)[0] or 0)
            except Exception as exc:
                raise phase_error(phase, self.config.name, exc) from exc
            log.info("%s: step %d changed %d labels", phase, iteration, changed)
            if changed == 0:
                break
        else:
            raise GraphDidNotConverge(
                f"identity graph of source {self.config.name!r}: labels still changed after {GRAPH_ITERATIONS} "
                "steps of label propagation; nothing was published. A chain of links this long is most "
                "likely junk: find the identifier with the most links and add it to identity_exclude"
            )
        self._execute_part(after, phase)
        self.session.execute([f"UPDATE {tables.stage('run')} SET identity_iterations = {iteration} WHERE TRUE"], phase)

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

    def drop_stages(self, plan: RunPlan) -> None:
        self.session.execute(drop_stage_statements(self.session, plan.key), "cleanup")

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
                self.session.end_failed_transaction()
                # The run log first, each on its own: a stage that cannot be dropped (an object the
                # warehouse refuses to drop) must not leave the run logged as running. The original
                # error matters more than either failing.
                try:
                    self.record_failure(plan, exc)
                except Exception:
                    log.warning("could not log the failure of run %s", run_id, exc_info=True)
                try:
                    self.drop_stages(plan)
                except Exception:
                    log.warning("could not drop the staging tables of run %s", run_id, exc_info=True)
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
        self.run_log.record_failure(plan, exc)

    def summary(self, run_id: str) -> dict[str, Any]:
        """The run log row of a published run, as a dict."""
        return self.run_log.summary(run_id)

    def status(self, limit: int = 10) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        """The stored state of the source and its last runs, newest first."""
        return self.run_log.status(limit)


class _SharedConnection:
    """A DB-API connection whose close() is left to its owner (`SessionRunner.one_connection`)."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def close(self) -> None:
        pass

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)
