"""DAG integrity through Airflow's own loaders (the provider's registration with Airflow:
tests/integration/airflow/test_provider_registration.py)."""

from __future__ import annotations

import copy
import itertools
import textwrap

import pytest

from rudder_sessions.config import load_config
from rudder_sessions.model import MODES, PHASES, STEPS
from warehouses import ROOT

DAGS = ROOT / "dags"
CHECK_FILE = "rudder_sessions_config_check.py"
ADHOC = "rudder_sessions__adhoc"


def dagbag(monkeypatch, config_path=None):
    """The bundle's dags/ folder as the DAG processor sees it (every file, safe mode)."""
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 3.0
        from airflow.models.dagbag import DagBag

    if config_path:
        monkeypatch.setenv("RUDDER_SESSIONS_CONFIG", str(config_path))
    else:
        monkeypatch.delenv("RUDDER_SESSIONS_CONFIG", raising=False)
    return DagBag(dag_folder=str(DAGS), safe_mode=True)


def write_config(tmp_path, text):
    path = tmp_path / "sources.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def only_import_error(bag) -> str:
    """The one import error of the bundle, which must come from the config-check file."""
    assert len(bag.import_errors) == 1, bag.import_errors
    ((path, error),) = bag.import_errors.items()
    assert path.endswith(CHECK_FILE)
    return error


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
    path = write_config(
        tmp_path,
        """
        sources:
          shop_us: {conn_id: wh, source_schema: us, target_schema: us_sessions, schedule: "30 1 * * *"}
          shop_eu: {conn_id: wh, source_schema: eu, target_schema: eu_sessions}
        """,
    )
    bag = dagbag(monkeypatch, path)
    assert bag.import_errors == {}
    assert sorted(bag.dag_ids) == ["rudder_sessions__adhoc", "rudder_sessions__shop_eu", "rudder_sessions__shop_us"]
    assert bag.dags["rudder_sessions__shop_us"].timetable.summary == "30 1 * * *"
    assert "source:shop_eu" in bag.dags["rudder_sessions__shop_eu"].tags


def test_a_source_pool_holds_every_task_of_its_dag(monkeypatch, tmp_path):
    path = write_config(
        tmp_path,
        """
        sources:
          local: {conn_id: wh, source_schema: a, target_schema: a_sessions, pool: rudder_sessions_duckdb}
          cloud: {conn_id: wh, source_schema: b, target_schema: b_sessions}
        """,
    )
    bag = dagbag(monkeypatch, path)
    assert bag.import_errors == {}
    local, cloud = bag.dags["rudder_sessions__local"], bag.dags["rudder_sessions__cloud"]
    assert {(task.pool, task.pool_slots) for task in local.tasks} == {("rudder_sessions_duckdb", 1)}
    assert {task.pool for task in cloud.tasks} == {"default_pool"}
    assert "pool `rudder_sessions_duckdb`" in local.doc_md and "pool `" not in cloud.doc_md


def test_a_broken_entry_fails_that_source_only(monkeypatch, tmp_path):
    path = write_config(
        tmp_path,
        """
        sources:
          good: {conn_id: wh, source_schema: eu, target_schema: eu_sessions}
          typo: {conn_id: wh, source_schema: eu, target_schema: eu, flowlength: 3}
          cron: {conn_id: wh, source_schema: us, target_schema: us, schedule: 'at noon'}
          also_good: {conn_id: wh, source_schema: us, target_schema: us_sessions}
        """,
    )
    bag = dagbag(monkeypatch, path)
    assert sorted(bag.dag_ids) == [ADHOC, "rudder_sessions__also_good", "rudder_sessions__good"]
    error = only_import_error(bag)
    assert "2 rudder-sessions source(s) without a DAG until fixed" in error
    assert "source 'typo': flowlength: unknown key" in error
    assert "source 'cron': schedule: 'at noon' is not a valid cron expression" in error
    assert "'good'" not in error and "also_good" not in error


def test_an_unreadable_config_keeps_the_adhoc_dag(monkeypatch, tmp_path):
    path = write_config(tmp_path, "sources:\n  demo: {conn_id: wh\n")
    bag = dagbag(monkeypatch, path)
    assert bag.dag_ids == [ADHOC]
    assert f"config file: {path} is not valid YAML" in only_import_error(bag)


def serialized(dag):
    """The DAG as the API server holds it: trigger requests are validated against this form."""
    try:
        from airflow.serialization.serialized_objects import DagSerialization
    except ImportError:  # Airflow 3.0
        from airflow.serialization.serialized_objects import SerializedDAG as DagSerialization

    return DagSerialization.from_dict(DagSerialization.to_dict(dag))


def trigger_error(dag, conf) -> str | None:
    """What Airflow answers a trigger with this conf (the API's 400 message), None if accepted."""
    from airflow.exceptions import ParamValidationError

    params = serialized(dag).params
    try:
        if hasattr(params, "deep_merge"):
            merged = params.deep_merge(conf)
        else:  # Airflow 3.0: a copy of the DAG's params with the conf's values set (validated as set)
            merged = copy.deepcopy(params)
            for key, value in (conf or {}).items():
                merged[key] = value
        merged.validate()
    except ParamValidationError as exc:
        return str(exc)
    return None


def test_trigger_form_accepts_the_documented_values(monkeypatch):
    dag = dagbag(monkeypatch).dags["rudder_sessions__demo"]
    assert trigger_error(dag, {}) is None
    assert trigger_error(dag, {"mode": "full_refresh"}) is None
    for start, end in [("2026-01-10", "2026-01-11"), ("2026-01-10T00:00:00+00:00", "2026-01-11T06:30:00Z")]:
        assert trigger_error(dag, {"mode": "backfill", "start": start, "end": end}) is None
    params = serialized(dag).params
    assert params.get_param("mode").schema["enum"] == list(MODES)
    assert params.get_param("start").schema["format"] == "date-time"  # the form shows a date picker


@pytest.mark.parametrize(
    ("conf", "message"),
    [
        ({"mode": "sometimes"}, "Invalid input for param mode: 'sometimes' is not one of"),
        ({"mode": "backfill", "start": "yesterday"}, "Invalid input for param start: 'yesterday' does not match"),
        ({"mode": "backfill", "end": "1/2/2026"}, "Invalid input for param end: '1/2/2026' does not match"),
        ({"start": 20260101}, "Invalid input for param start: 20260101 is not of type 'null', 'string'"),
        # Dates that look right and do not exist (the form's date picker would show 2026-13-45 as 2027-02-14).
        ({"mode": "backfill", "start": "2026-13-45"}, "Invalid input for param start: '2026-13-45' does not match"),
        ({"mode": "backfill", "start": "2026-02-30"}, "Invalid input for param start: '2026-02-30' does not match"),
        ({"mode": "backfill", "end": "2026-04-31"}, "Invalid input for param end: '2026-04-31' does not match"),
        ({"mode": "backfill", "end": "2026-01-01T24:00"}, "Invalid input for param end: '2026-01-01T24:00' does not"),
        ({"mode": "backfill", "end": "2026-01-01T10:60:00"}, "Invalid input for param end: '2026-01-01T10:60:00'"),
    ],
)
def test_trigger_form_rejects_bad_values(monkeypatch, conf, message):
    dag = dagbag(monkeypatch).dags["rudder_sessions__demo"]
    assert message in (trigger_error(dag, conf) or "accepted")


def test_every_real_date_passes_the_form(monkeypatch):
    from datetime import date, timedelta

    dag = dagbag(monkeypatch).dags["rudder_sessions__demo"]
    day = date(2024, 1, 1)
    while day < date(2025, 1, 1):  # a leap year: every day of every month
        assert trigger_error(dag, {"mode": "backfill", "start": day.isoformat()}) is None, day
        day += timedelta(days=1)
    for stamp in ("2026-06-30T23:59:59.999999Z", "2026-06-30 00:00", "2026-06-30T12:30:00-05:30"):
        assert trigger_error(dag, {"mode": "backfill", "end": stamp}) is None, stamp


def test_the_form_says_the_window_is_for_triggered_backfills_only(monkeypatch):
    params = serialized(dagbag(monkeypatch).dags["rudder_sessions__demo"]).params
    for name in ("start", "end"):
        description = params.get_param(name).schema.get("description") or params.get_param(name).description
        assert (
            "Only for mode backfill" in description and "ignored" in description and "Airflow backfills" in description
        )


def test_dags_tasks_and_assets_say_what_they_are(monkeypatch):
    from rudder_sessions.assets import ASSET_GROUP
    from rudder_sessions.model import TABLES

    bag = dagbag(monkeypatch)
    dag = bag.dags["rudder_sessions__demo"]
    demo = load_config(ROOT / "include" / "sources.yaml").sources["demo"]
    assert dag.description and "rudderstack.tracks" in dag.description and "rudder_sessions" in dag.description
    assert "Unpausing schedules the latest nightly interval at once" in dag.doc_md
    assert bag.dags[ADHOC].description
    names = [dag.get_task(phase).task_display_name for phase in PHASES]
    assert len(set(names)) == len(PHASES) and not any("Operator" in name for name in names)
    for step in STEPS:
        assert f"rudder_sessions.dbt_{step}" in dag.get_task(step).doc_md
    assert all(dag.get_task(phase).doc_md for phase in PHASES)
    outlets = dag.get_task("publish").outlets
    assert {asset.group for asset in outlets} == {ASSET_GROUP}
    by_table = {asset.extra["table"]: asset.extra for asset in outlets}
    for table in TABLES:
        extra = by_table[f"rudder_sessions.dbt_{table.step}"]
        assert table.grain in extra["description"] and extra["key"] == list(table.key)
        assert [c["name"] for c in extra["columns"]] == list(table.column_names(demo.shape))
    (alias,) = bag.dags[ADHOC].get_task("publish").outlets
    assert alias.group == ASSET_GROUP


def test_adhoc_form_requires_a_connection_and_valid_identifiers(monkeypatch):
    dag = dagbag(monkeypatch).dags[ADHOC]
    good = {"conn_id": "warehouse", "source_schema": "shop_eu", "target_schema": "shop_eu_sessions"}
    assert trigger_error(dag, good) is None
    assert dag.schedule is None and dag.max_active_runs == 1
    for field, value, message in [
        ("conn_id", None, "Invalid input for param conn_id: None is not of type 'string'"),
        ("source_schema", "eu; drop table x", "Invalid input for param source_schema: 'eu; drop table x' does not"),
        ("target_schema", "1st", "Invalid input for param target_schema: '1st' does not match"),
        ("flow_length", 0, "Invalid input for param flow_length: 0 is less than the minimum of 1"),
        ("timeout_minutes", 0, "Invalid input for param timeout_minutes: 0 is less than or equal to the minimum"),
    ]:
        assert message in (trigger_error(dag, {**good, field: value}) or "accepted"), field
    assert "Invalid input for param conn_id" in (trigger_error(dag, {}) or "accepted")


def test_operator_names_a_missing_connection():
    from rudder_sessions.errors import ConfigError
    from rudder_sessions.operators import RudderSessionsPhaseOperator
    from warehouses import make_config

    op = RudderSessionsPhaseOperator(task_id="plan", source=make_config(conn_id="not_there"), phase="plan")
    with pytest.raises(ConfigError, match=r"^source 'test': conn_id: Airflow connection 'not_there' does not exist$"):
        _ = op.runner


def test_rendering_the_plan_task_touches_no_warehouse(tmp_path, monkeypatch):
    """`airflow tasks render` (any caller of render_template_fields) used to run the plan: state
    tables created, another run's staging tables dropped. The plan task plans in execute."""
    import json

    from airflow.providers.common.sql.hooks.sql import DbApiHook

    from rudder_sessions.operators import PLAN_NOT_YET, RudderSessionsPhaseOperator
    from warehouses import DuckDBWarehouse, make_config

    warehouse = DuckDBWarehouse(tmp_path / "warehouse.duckdb")
    warehouse.load_source([])
    monkeypatch.setenv("AIRFLOW_CONN_WH", json.dumps({"conn_type": "duckdb", "host": str(warehouse.path)}))
    calls = []
    for name in ("get_conn", "run", "get_records", "get_first"):
        monkeypatch.setattr(DbApiHook, name, lambda *args, _name=name, **kwargs: calls.append(_name))
    op = RudderSessionsPhaseOperator(task_id="plan", source=make_config(conn_id="wh"), phase="plan")
    op.render_template_fields({"params": {}, "run_id": "manual__render", "dag_run": None})
    assert calls == []
    assert op.sql == PLAN_NOT_YET and op.plan is None
    assert op.overwrite_rtif_after_execution  # the tab shows the SQL the task ran
