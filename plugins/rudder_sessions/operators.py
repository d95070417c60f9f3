"""Airflow operators for the session model: plan, one per modelling step, publish.

They are thin: a common.sql `BaseSQLOperator` (so the hook comes from the connection id, and
OpenLineage and connection extras work as for any SQL operator) that hands its phase to the
shared run engine. The SQL is rendered when the task starts, from the connection's dialect and
the run id, and is what the UI's Rendered Template tab shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.sql.operators.sql import BaseSQLOperator

from rudder_sessions.config import SourceConfig
from rudder_sessions.engine import SessionRunner, format_summary, get_hook
from rudder_sessions.errors import ConfigError, SourceError
from rudder_sessions.model import PHASES, PUBLISH

if TYPE_CHECKING:
    from airflow.sdk import Context


class RudderSessionsPhaseOperator(BaseSQLOperator):
    """Run one phase (`plan`, a modelling step, or `publish`) of the session model for a source."""

    template_fields: Sequence[str] = (*BaseSQLOperator.template_fields, "sql")
    template_ext: Sequence[str] = ()
    template_fields_renderers = {"sql": "sql"}
    ui_color = "#d7ecfb"

    def __init__(
        self, *, source: SourceConfig, phase: str, mode: str = "full_refresh", **kwargs: Any
    ) -> None:
        if phase not in PHASES:
            raise ValueError(f"unknown phase {phase!r}; expected one of {', '.join(PHASES)}")
        super().__init__(conn_id=source.conn_id, **kwargs)
        self.source = source
        self.phase = phase
        self.mode = mode
        self.sql: str | None = None

    @cached_property
    def runner(self) -> SessionRunner:
        return SessionRunner(self.source, get_hook(self.source, self.get_db_hook))

    def render_template_fields(self, context: Context, jinja_env: Any = None) -> None:
        super().render_template_fields(context, jinja_env)
        try:
            self.sql = self.runner.render(self.phase, self._run(context))
        except ConfigError as exc:
            self._fail(exc)

    def _run(self, context: Context):
        return self.runner.run_info(context["run_id"], self.mode)

    def _fail(self, exc: Exception) -> None:
        from airflow.exceptions import AirflowFailException

        # A user mistake: retrying cannot help, and one clear line says what to fix.
        raise AirflowFailException(str(exc)) from None

    def execute(self, context: Context) -> dict[str, Any]:
        try:
            result = self.runner.execute(self.phase, self._run(context), sql=self.sql)
        except (ConfigError, SourceError) as exc:
            self._fail(exc)
        self.log.info(
            "%s of source %r took %.2fs; rows: %s", self.phase, self.source.name, result.seconds, result.rows
        )
        if self.phase == PUBLISH:
            summary = self.runner.summary(context["run_id"])
            self.log.info("%s", format_summary(summary, self.source))
            return summary
        return {"phase": self.phase, "seconds": round(result.seconds, 3), "rows": result.rows}
