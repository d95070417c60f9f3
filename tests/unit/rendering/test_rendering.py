"""Rendered SQL: plain, valid DuckDB, identical between the CLI and the engine."""

from __future__ import annotations

from datetime import datetime

import pytest

from conftest import require_extra
from rudder_sessions.cli import main
from rudder_sessions.dialects import DIALECTS, DuckDBDialect, get_dialect
from rudder_sessions.engine import SessionRunner
from rudder_sessions.model import PHASES, run_key
from rudder_sessions.plan import RunPlan
from rudder_sessions.rendering import render_phase
from warehouses import make_config

WINDOWS = {
    "full_refresh": {},
    "incremental": {"window_start": datetime(2026, 1, 1), "watermark_before": datetime(2026, 1, 1, 3)},
    "backfill": {"window_start": datetime(2026, 1, 1), "window_end": datetime(2026, 1, 2)},
}


def run_info(run_id="r1", mode="full_refresh"):
    return RunPlan(run_id, mode, mode, state_version=0 if mode == "full_refresh" else 3, **WINDOWS[mode])


@pytest.mark.parametrize("mode", list(WINDOWS))
def test_every_phase_parses_as_duckdb(mode):
    require_extra("sqlglot", "test")  # a test tool, which the lowest-versions job leaves out
    import sqlglot

    config = make_config(flow_length=7, table_prefix="acme_")
    for phase in PHASES:
        sql = render_phase(phase, config, DuckDBDialect(), run_info(mode=mode))
        if phase == "scope" and mode == "full_refresh":
            assert "nothing to scope" in sql
            continue
        statements = sqlglot.parse(sql, read="duckdb", error_level=sqlglot.ErrorLevel.RAISE)
        assert statements, phase
        assert "{{" not in sql and "{%" not in sql


def test_staging_tables_are_run_scoped():
    config = make_config()
    first = render_phase("track_facts", config, DuckDBDialect(), run_info("run-a"))
    second = render_phase("track_facts", config, DuckDBDialect(), run_info("run-b"))
    assert f"__rs_{run_key('run-a')}_track_facts" in first
    assert f"__rs_{run_key('run-b')}_track_facts" in second


def test_flow_length_sets_the_columns():
    sql = render_phase("tracks_flow", make_config(flow_length=3), DuckDBDialect(), run_info())
    assert "AS event_3" in sql and "event_4" not in sql


def test_cli_render_prints_the_engine_sql(capsys):
    code = main(
        [
            "render",
            "--dialect",
            "duckdb",
            "--step",
            "session_tracks",
            "--run-id",
            "r1",
            "--source-schema",
            "rudderstack",
            "--target-schema",
            "sessions",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    config = make_config(name="cli", conn_id="none")
    runner = SessionRunner(config, hook=None, dialect=DuckDBDialect())  # type: ignore[arg-type]
    assert runner.render("session_tracks", run_info("r1")) in out


def test_cli_render_all_phases_in_order(capsys):
    assert main(["render", "--dialect", "duckdb"]) == 0
    out = capsys.readouterr().out
    positions = [out.index(f"-- ===== {phase} =====") for phase in PHASES]
    assert positions == sorted(positions)


def test_identifiers_are_quoted_and_validated():
    sql = render_phase("plan", make_config(source_schema="Raw_Events"), DuckDBDialect(), run_info())
    assert 'FROM "Raw_Events"."tracks"' in sql


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
def test_comments_hold_no_quote_that_a_highlighter_would_take_for_a_string(dialect):
    """The UI's Rendered Template highlighter does not know SQL comments: a lone ' in one colours the rest."""
    config = make_config(flow_length=5)
    texts = []
    for mode in WINDOWS:
        texts += [render_phase(phase, config, get_dialect(dialect), run_info(mode=mode)) for phase in PHASES]
    quoted = [
        line.strip()
        for text in texts
        for line in text.splitlines()
        if "--" in line and any(line.split("--", 1)[1].count(quote) % 2 for quote in "'\"`")
    ]
    assert quoted == []
