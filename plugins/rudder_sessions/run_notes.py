"""The run's summary as its DAG run note, where the UI shows it on the run's page.

A task cannot write its DAG run's note (the task SDK has no such call), so each task leaves its
part as an XCom under `NOTE_KEY` (the plan: mode and window; publish: the summary; a failing
task: its one-line reason), and this listener, run by the scheduler when the run ends, joins
them into the note, the outcome first: the run's page shows the note's first line. A note
someone already wrote is kept. Airflow loads it through the package's `airflow.plugins` entry
point.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from airflow.listeners import hookimpl
from airflow.plugins_manager import AirflowPlugin

from rudder_sessions.notes import NOTE_KEY, join_parts

log = logging.getLogger(__name__)


def note_parts(session: Any, dag_id: str, run_id: str) -> list[str]:
    from airflow.models.xcom import XComModel
    from sqlalchemy import select

    rows = session.scalars(
        select(XComModel)
        .where(XComModel.dag_id == dag_id, XComModel.run_id == run_id, XComModel.key == NOTE_KEY)
        .order_by(XComModel.timestamp.desc())
    )
    return [str(value) for value in map(XComModel.deserialize_value, rows) if value]


def write_note(dag_run: Any) -> None:
    """Never fails the scheduler: a note that cannot be written is logged and left out."""
    try:
        from sqlalchemy.orm import object_session

        session = object_session(dag_run)
        if session is not None:  # the scheduler's run, row-locked in its session: write there
            _write(session, dag_run)
            return
        # `airflow dags test` hands over a run detached from any session.
        from airflow.models.dagrun import DagRun
        from airflow.utils.session import create_session

        with create_session() as own:
            _write(own, own.get(DagRun, dag_run.id))
    except Exception:
        log.warning("could not write the note of DAG run %s", getattr(dag_run, "run_id", "?"), exc_info=True)


def _write(session: Any, dag_run: Any) -> None:
    if dag_run is None or dag_run.note:  # a note someone wrote stays
        return
    note = join_parts(note_parts(session, dag_run.dag_id, dag_run.run_id))
    if note:
        dag_run.note = note


@hookimpl
def on_dag_run_success(dag_run: Any, msg: str) -> None:
    write_note(dag_run)


@hookimpl
def on_dag_run_failed(dag_run: Any, msg: str) -> None:
    write_note(dag_run)


class RunNotesPlugin(AirflowPlugin):
    name = "rudder_sessions_run_notes"
    listeners = [sys.modules[__name__]]
