"""Each published table is declared once (model.TABLES): the README, the DAG docs, the targets'
columns and layout, publish and the audit follow the declarations, and the reference model
computes their SPEC columns."""

from __future__ import annotations

import dataclasses
import re
from datetime import datetime, timedelta

import pytest

from rudder_sessions.dialects import Dialect, get_dialect
from rudder_sessions.errors import RudderSessionsError
from rudder_sessions.model import (
    BY_ALIAS,
    BY_VISITOR,
    BY_WHOLE_VISITOR,
    STEPS,
    TABLES,
    Table,
    audited_by_key,
    column_type,
    published_columns,
    table,
    tables_table,
    typed_columns,
)
from rudder_sessions.plan import RunPlan
from rudder_sessions.rendering import render_phase
from spec_model import compute
from warehouses import ROOT, make_config


def test_the_readme_shows_the_declared_tables():
    readme = (ROOT / "README.md").read_text()
    shown = re.search(r"<!-- tables:start -->\n(.*?)\n<!-- tables:end -->", readme, re.S)
    assert shown and shown.group(1) == tables_table(), "README out of date: paste model.tables_table()"
    for t in TABLES:
        assert f"`dbt_{t.step}` | {t.grain} |" in shown.group(1)


def test_steps_columns_and_types_come_from_the_declarations():
    assert STEPS == tuple(t.step for t in TABLES)
    for t in TABLES:
        names = published_columns(t.step, 3)
        assert names[: len(t.columns)] == tuple(name for name, _ in t.columns)  # SPEC's columns first
        assert typed_columns(t.step, 3) == tuple((name, column_type(name)) for name in names)
        assert set(t.key) <= set(names)
    flow = published_columns("tracks_flow", 3)
    assert flow[-2:] == ("event_2", "event_3") and column_type("event_3") == "text"
    assert not [c for c in published_columns("tracks_flow", 1) if re.fullmatch(r"event_\d+", c)]


def test_the_reference_model_computes_the_declared_spec_columns():
    t0 = datetime(2026, 3, 1)
    rows = [
        {"id": "e1", "anonymous_id": "a1", "user_id": None, "event": "view", "timestamp": t0, "received_at": t0},
        {
            "id": "e2",
            "anonymous_id": "a1",
            "user_id": "u1",
            "event": "login",
            "timestamp": t0 + timedelta(hours=2),
            "received_at": t0 + timedelta(hours=2),
        },
    ]
    expected = compute(rows, flow_length=4)
    assert set(expected.tables) == set(STEPS)
    for t in TABLES:
        assert expected.tables[t.step], t.step
        spec_columns = [name for name, _ in t.typed_columns(4) if (name, column_type(name)) not in t.extras]
        for row in expected.tables[t.step]:  # SPEC's columns in the declared order, then declared extras
            assert list(row)[: len(spec_columns)] == spec_columns, t.step
            assert set(row) <= set(published_columns(t.step, 4)), t.step


def test_the_dag_docs_list_every_table_with_its_grain():
    from rudder_sessions.dag_factory import build_dag

    config = make_config(table_prefix="eu_", timeout_minutes=45, flow_length=3)
    doc = build_dag(config).doc_md
    for t in TABLES:
        assert re.search(rf"^\| `eu_dbt_{t.step}` \| {t.grain} \| [^|{{]+ \|$", doc, re.M), t.step
    assert "45 minutes" in doc and "the 2 events that follow it" in doc


def test_default_layouts_follow_the_declared_time_column_and_clustering():
    for t in TABLES:
        layout = Dialect.default_layout(t.step)
        assert (layout.partition_by, layout.cluster_by) == (t.time_column, t.cluster_by)
    bigquery = get_dialect("bigquery")
    assert bigquery.table_layout("session_tracks") == (
        "PARTITION BY DATE(`session_start_at`)\nCLUSTER BY `dbt_visitor_id`"
    )


def plan(mode: str) -> RunPlan:
    return RunPlan(
        "r", mode, mode, window_start=datetime(2026, 3, 1), watermark_before=datetime(2026, 3, 1), state_version=3
    )


@pytest.mark.parametrize("dialect", ["duckdb", "bigquery", "redshift"])
def test_publish_replaces_each_tables_affected_rows_as_declared(dialect):
    d = get_dialect(dialect)
    sql = render_phase("publish", make_config(), d, plan("incremental"))
    for t in TABLES:
        target = d.table("sessions", f"dbt_{t.step}")
        statements = ["\n".join(line for line in s.splitlines() if not line.startswith("--")) for s in sql.split(";")]
        deletes = [s for s in statements if s.strip().startswith(f"DELETE FROM {target}")]
        assert len(deletes) == 1, t.step
        if t.found_by == BY_ALIAS:
            assert "alias IN (SELECT alias FROM" in deletes[0] and "touched" in deletes[0]
        elif t.found_by == BY_WHOLE_VISITOR:
            assert "dbt_visitor_id IN (SELECT dbt_visitor_id FROM" in deletes[0] and "affected" in deletes[0]
        else:
            assert f"affected.{t.since} IS NULL" in deletes[0]
            assert f".{d.quote(t.time_column) if t.time_column == 'timestamp' else t.time_column} >= " in deletes[0]
        assert f"INSERT INTO {target} (" in sql


def test_the_audit_checks_one_table_per_key_against_its_published_rows():
    audited = audited_by_key()
    assert [t.step for t in audited] == ["mapped_tracks", "session_tracks"]
    assert all(t.found_by == BY_VISITOR for t in audited)
    sql = render_phase("checks", make_config(), get_dialect("duckdb"), plan("incremental"))
    for t in audited:
        assert f"'staged {t.plural} not already published outside the reopened part'" in sql
        assert f'JOIN "sessions"."dbt_{t.step}" AS published ON published.{t.key[0]} = staged.{t.key[0]}' in sql
    full = render_phase("checks", make_config(), get_dialect("duckdb"), plan("full_refresh"))
    assert "not already published" not in full


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"key": ("nope",)}, "'nope' (key, cluster) is not a column"),
        ({"time_column": "session_id"}, "time column 'session_id' is not a timestamp column"),
        ({"since": None}, "found by visitor: needs"),
        ({"found_by": BY_ALIAS}, "found by alias without an alias column"),
        ({"columns": (("session_id", "uuid"),)}, "unknown type 'uuid'"),
        ({"extras": (("session_id", "text"),)}, "column 'session_id' twice"),
    ],
)
def test_a_declaration_publish_could_not_follow_is_refused(change, problem):
    with pytest.raises(RudderSessionsError, match=re.escape(problem)):
        dataclasses.replace(table("session_tracks"), **change)


def test_a_declared_table_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        table("session_tracks").key = ("x",)  # type: ignore[misc]
    assert isinstance(table("tracks_flow"), Table) and table("tracks_flow").flow
