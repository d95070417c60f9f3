"""DAG integrity and provider registration, through Airflow's own loaders."""

from __future__ import annotations

import itertools
import subprocess
import sys
import textwrap

import pytest

from pipeline import ROOT
from rudder_sessions.model import PHASES, STEPS

DAG_FILE = ROOT / "dags" / "rudder_sessions_dags.py"


def dagbag(monkeypatch, config_path=None):
    from airflow.dag_processing.dagbag import DagBag

    if config_path:
        monkeypatch.setenv("RUDDER_SESSIONS_CONFIG", str(config_path))
    else:
        monkeypatch.delenv("RUDDER_SESSIONS_CONFIG", raising=False)
    return DagBag(dag_folder=str(DAG_FILE), safe_mode=True)


def test_demo_dag_imports_and_chains_the_five_steps(monkeypatch):
    bag = dagbag(monkeypatch)
    assert bag.import_errors == {}
    dag = bag.dags["rudder_sessions__demo"]
    assert dag is not None
    assert [t.task_id for t in dag.topological_sort()] == list(PHASES)
    for upstream, downstream in itertools.pairwise(PHASES):
        assert dag.get_task(downstream).upstream_task_ids == {upstream}
    assert [p for p in PHASES if p in STEPS] == list(STEPS)
    assert dag.max_active_runs == 1
    assert dag.catchup is False
    assert "rudder-sessions" in dag.tags
    assert "dbt_session_tracks" in dag.doc_md


def test_nightly_schedule_with_data_intervals(monkeypatch):
    from airflow.timetables.interval import CronDataIntervalTimetable

    dag = dagbag(monkeypatch).dags["rudder_sessions__demo"]
    assert isinstance(dag.timetable, CronDataIntervalTimetable)
    assert dag.timetable.summary == "0 3 * * *"


def test_one_dag_per_source(monkeypatch, tmp_path):
    path = tmp_path / "sources.yaml"
    path.write_text(
        textwrap.dedent(
            """
            sources:
              shop_eu: {conn_id: wh, source_schema: eu, target_schema: eu_sessions}
              shop_us: {conn_id: wh, source_schema: us, target_schema: us_sessions, schedule: "30 1 * * *"}
            """
        )
    )
    bag = dagbag(monkeypatch, path)
    assert bag.import_errors == {}
    assert sorted(bag.dag_ids) == ["rudder_sessions__shop_eu", "rudder_sessions__shop_us"]


def test_bad_entry_is_an_import_error_naming_source_and_field(monkeypatch, tmp_path):
    path = tmp_path / "sources.yaml"
    path.write_text("sources:\n  shop: {conn_id: wh, source_schema: eu, target_schema: eu, flowlength: 3}\n")
    bag = dagbag(monkeypatch, path)
    (error,) = bag.import_errors.values()
    assert "source 'shop': flowlength: unknown key" in error


def test_bad_cron_names_the_field(monkeypatch, tmp_path):
    path = tmp_path / "sources.yaml"
    path.write_text("sources:\n  shop: {conn_id: wh, source_schema: eu, target_schema: eu, schedule: 'at noon'}\n")
    bag = dagbag(monkeypatch, path)
    (error,) = bag.import_errors.values()
    assert "source 'shop': schedule: 'at noon' is not a valid cron expression" in error


@pytest.mark.airflow
def test_provider_is_registered():
    out = subprocess.run(
        [sys.executable, "-m", "airflow", "providers", "list", "--output", "json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert '"rudder-sessions"' in out


def test_operator_names_a_missing_connection():
    from pipeline import make_config
    from rudder_sessions.errors import ConfigError
    from rudder_sessions.operators import RudderSessionsPhaseOperator

    op = RudderSessionsPhaseOperator(task_id="plan", source=make_config(conn_id="not_there"), phase="plan")
    with pytest.raises(ConfigError, match=r"^source 'test': conn_id: Airflow connection 'not_there' does not exist$"):
        _ = op.runner
