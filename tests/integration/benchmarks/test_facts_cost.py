"""`benchmarks/facts_cost.py`: its five-table engine is the seven-table one without the facts
tables (the same SQL for every other step, the audit without the facts checks, publish without
their tables), and a small run measures every variant with its checks holding. Timings are
recorded, never asserted."""

from __future__ import annotations

import json
import subprocess
import sys

from small_runs import run_small

from warehouses import ROOT

BENCH = ROOT / "benchmarks"
FACTS_STEPS = ("session_facts", "user_session_facts")

# Every phase's SQL for a full refresh and an incremental run of a source with facts settings,
# rendered by SessionRunner in a fresh process, the model cut to five tables first or not.
RENDER = """
import json, sys
from datetime import datetime
sys.path[:0] = [sys.argv[1]]
import facts_cost
if sys.argv[2] == "cut":
    facts_cost.cut_facts_tables()
from airflow.providers.duckdb.hooks.duckdb import DuckDBHook
from rudder_sessions.config import SourceConfig
from rudder_sessions.dialects import DuckDBDialect
from rudder_sessions.engine import SessionRunner
from rudder_sessions.model import PHASES
from rudder_sessions.plan import RunPlan

config = SourceConfig(name="bench", conn_id="unused", source_schema="rudderstack", target_schema="sessions",
                      **(facts_cost.FACTS if sys.argv[3] == "facts" else {}))
runner = SessionRunner(config, DuckDBHook(database=":memory:"), DuckDBDialect())
plans = {
    "full_refresh": RunPlan("r1", "full_refresh", "full_refresh"),
    "incremental": RunPlan("r1", "incremental", "incremental", window_start=datetime(2026, 1, 1),
                           watermark_before=datetime(2026, 1, 1, 3), state_version=3),
}
print(json.dumps({mode: {phase: runner.render(phase, plan) for phase in PHASES} for mode, plan in plans.items()}))
"""


def rendered(cut: bool, facts: bool) -> dict[str, dict[str, str]]:
    done = subprocess.run(
        [sys.executable, "-c", RENDER, str(BENCH), "cut" if cut else "whole", "facts" if facts else "none"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def statements(sql: str) -> list[str]:
    from airflow.providers.common.sql.hooks.sql import DbApiHook

    return [s for s in DbApiHook.split_sql_string(sql, strip_semicolon=True) if s.strip()]


def test_the_five_table_engine_is_the_engine_without_the_facts_tables():
    whole, cut = rendered(cut=False, facts=False), rendered(cut=True, facts=False)
    for mode in ("full_refresh", "incremental"):
        assert list(cut[mode]) == [phase for phase in whole[mode] if phase not in FACTS_STEPS], mode
        for phase, sql in cut[mode].items():
            if phase not in ("checks", "publish"):
                assert sql == whole[mode][phase], (mode, phase)
        kept = statements(cut[mode]["checks"])
        assert kept == [s for s in statements(whole[mode]["checks"]) if "session_facts" not in s], mode
        assert len(kept) == len(statements(whole[mode]["checks"])) - 2, mode
        assert "session_facts" not in cut[mode]["publish"] and "session_facts" in whole[mode]["publish"], mode


def test_the_facts_settings_change_only_the_steps_that_read_them():
    """What `configured / no_options` measures: the carried columns and the facts computed from them."""
    plain, facts = rendered(cut=False, facts=False), rendered(cut=False, facts=True)
    for mode in ("full_refresh", "incremental"):
        differ = {phase for phase in plain[mode] if plain[mode][phase] != facts[mode][phase]}
        assert {"plan", "mapped_tracks", "track_facts", "session_facts"} <= differ, mode
        assert not differ & {"aliases_mapping", "session_tracks", "tracks_flow"}, mode


def test_facts_cost_runs_every_variant_and_its_checks_hold(tmp_path):
    result, report = run_small("facts_cost.py", tmp_path)
    (run,) = result["runs"]
    assert set(run["cases"]) == {
        f"{variant} {case}"
        for variant in ("five_tables", "no_options", "configured")
        for case in ("full_refresh", "incremental")
    }
    assert all(run["agreement"].values()), run["agreement"]
    for case in ("full_refresh", "incremental"):
        five, plain, configured = (run["cases"][f"{v} {case}"] for v in ("five_tables", "no_options", "configured"))
        assert all(five["rows_written_per_table"][step] == 0 for step in FACTS_STEPS), case
        assert five["rows_written_per_table"]["session_tracks"] > 0, case
        for step in FACTS_STEPS:
            assert configured["rows_written_per_table"][step] == plain["rows_written_per_table"][step] > 0, case
        assert configured["rows_read"] == five["rows_read"], case
        assert not set(five["phase_seconds"]) & set(FACTS_STEPS), case
        assert set(FACTS_STEPS) <= set(configured["phase_seconds"]), case
        assert len(configured["repeat_seconds"]) == 2, case
        assert "met_in_every_repeat" in result["targets"][case]
    assert len(run["ratios_per_repeat"]) == 2
    assert "configured / five tables" in report
