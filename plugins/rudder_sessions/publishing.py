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
from rudder_sessions.model import TABLES, Tables, target_table_name
from rudder_sessions.plan import RunPlan
from rudder_sessions.planning import drop_dead_stages, drop_stage_statements
from rudder_sessions.run_log import RunLog
from rudder_sessions.sql_session import SqlSession

log = logging.getLogger(__name__)

FLOW_COLUMN = re.compile(r"\Aevent_[0-9]+\Z")


class Publisher:
    def __init__(self, session: SqlSession, run_log: RunLog) -> None:
        self.session = session
        self.run_log = run_log

    def publish(self, statements: list[str], plan: RunPlan, tables: Tables) -> None:
        """The claim (the UPDATE of the state row at the planned version) must update exactly one
        row, and the state row must be this run's before the commit."""
        session, d = self.session, self.session.dialect
        # What comes before the transaction (creating missing targets: DDL) runs on its own.
        opening = next(i for i, s in enumerate(statements) if s == d.begin() or s.startswith("DECLARE "))
        session.execute(statements[:opening], "publish")
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
            except Exception:
                log.warning("could not drop the staging tables of run %s", plan.run_id, exc_info=True)
        try:  # runs planned on the version this one replaced may still be in flight: they stay
            drop_dead_stages(session, self.run_log, tables, plan.state_version)
        except Exception:
            log.warning("could not drop the staging tables of ended runs", exc_info=True)
        if plan.full and not d.publish_by_rename:
            self.drop_surplus_flow_columns()

    def drop_surplus_flow_columns(self) -> None:
        """A full refresh under a shorter flow left the wider table's extra event_<k> columns all
        NULL: they go, so the published table has the model's shape (after the commit: a reader
        sees the old model whole, then the new one). A failure only leaves them NULL."""
        session, config = self.session, self.session.config
        for flow in (t for t in TABLES if t.flow):
            name = target_table_name(config, flow.step)
            wanted = {c.lower() for c in flow.column_names(config.flow_length)}
            surplus = sorted(
                c for c in session.columns(config.target_schema, name) if FLOW_COLUMN.match(c) and c not in wanted
            )
            if not surplus:
                continue
            table = session.dialect.table(config.target_schema, name)
            log.info(
                "dropping columns %s of %s: the flow is %d events long now",
                ", ".join(surplus),
                table,
                config.flow_length,
            )
            try:
                session.execute([session.dialect.drop_column(table, c) for c in surplus], "cleanup")
            except PhaseFailed:
                log.warning("could not drop columns %s of %s", ", ".join(surplus), table, exc_info=True)

    def conflict(self, plan: RunPlan) -> PublishConflict:
        return PublishConflict(
            f"publish of run {plan.run_id} refused: the state of source {self.session.config.name!r} moved since "
            f"the plan (it was at version {plan.state_version}); another run published first"
        )
