"""Publish: every statement of `sql/publish.sql` in one transaction, committed only while this run
still owns the source's state; then the run's staging tables go. How the transaction is sent (a
statement at a time, or one script on BigQuery) is the dialect's `run_transaction`."""

from __future__ import annotations

import logging
import re
from contextlib import closing
from typing import Any

from rudder_sessions.dialects import ClaimLost
from rudder_sessions.driver_errors import phase_error
from rudder_sessions.errors import PhaseFailed, PublishConflict, RudderSessionsError
from rudder_sessions.model import TABLES, Table, Tables, target_table_name
from rudder_sessions.plan import RunPlan
from rudder_sessions.planning import drop_dead_stages, drop_stage_statements
from rudder_sessions.run_log import RunLog, execute_idempotent
from rudder_sessions.sql_session import SqlSession

log = logging.getLogger(__name__)

FLOW_COLUMN = re.compile(r"\Aevent_[0-9]+\Z")
FACT_COLUMN = re.compile(r"\A(first|total)_\w+\Z")


class Publisher:
    def __init__(self, session: SqlSession, run_log: RunLog) -> None:
        self.session = session
        self.run_log = run_log

    def publish(self, statements: list[str], plan: RunPlan, tables: Tables) -> None:
        """The claim (the UPDATE of the state row at the planned version) must update exactly one
        row, and the state row must be this run's before the commit."""
        session, d = self.session, self.session.dialect
        # What comes before the transaction (creating missing targets: DDL) runs on its own; a
        # concurrent first run creating them too makes it fail once.
        opening = next(i for i, s in enumerate(statements) if s == d.begin() or s.startswith("DECLARE "))
        execute_idempotent(session, statements[:opening], "publish")
        claim = f"UPDATE {tables.state} SET"

        def after_statement(statement: str, affected: int | None) -> None:
            if statement.startswith(claim) and affected is not None and affected != 1:
                raise ClaimLost(f"the claim updated {affected} state rows")

        def before_commit(cursor: Any) -> None:
            cursor.execute(self.run_log.ownership_query(tables))
            count, owner, version = cursor.fetchone()
            if int(count) != 1 or owner != plan.run_id or int(version) != plan.state_version + 1:
                raise ClaimLost(f"the state row is at version {version}, run {owner}")

        with closing(session.hook.get_conn()) as conn, closing(conn.cursor()) as cursor:
            try:
                d.run_transaction(cursor, statements[opening:], after_statement, before_commit)
            except ClaimLost:
                raise self.conflict(plan) from None
            except RudderSessionsError:
                raise
            except Exception as exc:
                raise phase_error("publish", session.config.name, exc) from exc
            # Published: this run's staging tables go, and those of every run planned on an older
            # state (they can no longer publish). A failure here only leaves them for a later plan.
            try:
                for statement in drop_stage_statements(session, plan.key):
                    cursor.execute(statement)
                conn.commit()  # a driver that opened a transaction for them would roll them back on close
            except Exception:
                log.warning("could not drop the staging tables of run %s", plan.run_id, exc_info=True)
        try:  # runs planned on the version this one replaced may still be in flight: they stay
            drop_dead_stages(session, self.run_log, tables, plan.state_version)
        except Exception:
            log.warning("could not drop the staging tables of ended runs", exc_info=True)
        if plan.full and not d.publish_by_rename:
            self.drop_surplus_columns(plan)

    def drop_surplus_columns(self, plan: RunPlan) -> None:
        """A full refresh under other settings left columns the model no longer has all NULL: a
        shorter flow's event_<k>, the carried event columns and first_/total_ facts of columns no
        longer configured. They go, so the published tables have the model's shape (after the
        commit: a reader sees the old model whole, then the new one). A failure only leaves them."""
        session, config = self.session, self.session.config
        retired = {c.lower() for c in plan.retired_columns}
        for t in (t for t in TABLES if t.flow or t.facts or t.carries):
            name = target_table_name(config, t.step)
            wanted = {c.lower() for c in t.column_names(config.shape)}
            declared = {c.lower() for c, _ in t.all_typed}

            def surplus(column: str, t: Table = t) -> bool:
                return (
                    (t.flow and FLOW_COLUMN.match(column) is not None)
                    or (t.facts and FACT_COLUMN.match(column) is not None)
                    or (t.carries and column in retired)
                )

            existing = session.columns(config.target_schema, name)
            drop = sorted(c for c in existing if c not in wanted and c not in declared and surplus(c))
            if not drop:
                continue
            table = session.dialect.table(config.target_schema, name)
            log.info("dropping columns %s of %s: the model's settings no longer make them", ", ".join(drop), table)
            try:
                session.execute([session.dialect.drop_column(table, c) for c in drop], "cleanup")
            except PhaseFailed:
                log.warning("could not drop columns %s of %s", ", ".join(drop), table, exc_info=True)

    def overtaken(self, plan: RunPlan, phase: str) -> PublishConflict | None:
        """The conflict, when the source's state moved past the run's plan: another run published,
        so this one can never publish, and the next plan may have dropped its staging tables
        (`drop_dead_stages`) under a phase that then fails on a missing relation. None otherwise
        (this run published itself, or the state cannot be read)."""
        tables = self.session.tables(plan.key)
        try:
            _, owner, version = self.session.first(self.run_log.ownership_query(tables))
        except Exception:
            return None
        if version is None or int(version) <= plan.state_version or owner == plan.run_id:
            return None
        return PublishConflict(
            f"run {plan.run_id} of source {self.session.config.name!r} stopped in {phase}: another run "
            f"published first (run {owner}: the state moved from version {plan.state_version} to {int(version)} "
            "since this run's plan); nothing of this run was published, and the next run starts from the new state"
        )

    def conflict(self, plan: RunPlan) -> PublishConflict:
        return PublishConflict(
            f"publish of run {plan.run_id} refused: the state of source {self.session.config.name!r} moved since "
            f"the plan (it was at version {plan.state_version}); another run published first"
        )
