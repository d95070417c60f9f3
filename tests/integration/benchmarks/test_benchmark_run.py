"""`benchmarks/run.py` end to end at a small size: every case runs on DuckDB and PostgreSQL, and the
harness's own checks hold (the lower bound finds the pipeline's sessions, incremental equals full
refresh); repeated cases start from the same published history. Timings are recorded, never
asserted."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import require_postgres
from warehouses import ROOT, benchmark_harness


def test_benchmark_runs_every_case_and_its_checks_hold(tmp_path):
    require_postgres()
    output = tmp_path / "result.json"
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "run.py"),
            *("--sizes", "2e4", "--postgres-sizes", "2e4", "--days", "10", "--repeat", "2"),
            *("--workdir", str(tmp_path / "data"), "--output", str(output)),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(output.read_text())
    runs = {run["engine"]: run for run in result["runs"]}
    assert set(runs["duckdb"]["cases"]) == {
        "full_refresh",
        "incremental",
        "incremental_tasks",
        "backfill",
        "lower_bound",
        "original",
    }
    assert set(runs["postgres"]["cases"]) == {"full_refresh", "incremental", "backfill"}
    duck = runs["duckdb"]["agreement"]
    assert duck["lower_bound_agrees"] and duck["incremental_equals_full_refresh"]
    assert duck["incremental_tasks_equals_full_refresh"]
    assert duck["lower_bound_events"] == duck["pipeline_events_plus_duplicates"]
    assert runs["postgres"]["agreement"]["incremental_equals_full_refresh"]
    for run in runs.values():
        incremental, full = run["cases"]["incremental"], run["cases"]["full_refresh"]
        assert 0 < incremental["rows_read"] < full["rows_read"]
        assert run["data"]["new_day_returning_share"] >= 0.5
    for name, case in runs["duckdb"]["cases"].items():
        assert len(case["repeat_seconds"]) == 2, name
        assert case["seconds"] in case["repeat_seconds"], name
    assert len(runs["duckdb"]["ratios_per_repeat"]) == 2
    assert "met_in_every_repeat" in result["targets"]["incremental_over_full_refresh"]
    assert (tmp_path / "time_vs_events.png").stat().st_size > 0


def case(seconds: float, rows_read: int = 10, peak: int = 100) -> dict:
    return {"seconds": seconds, "rows_read": rows_read, "rows_written": 30, "peak_rss_mb": peak, "phase_seconds": {}}


def test_repeats_report_the_median_run_and_every_wall_time():
    harness = benchmark_harness()
    repeats = [
        ({"incremental": case(3.0, peak=120)}, {"incremental_equals_full_refresh": True, "sessions": 5}),
        ({"incremental": case(1.0, peak=90)}, {"incremental_equals_full_refresh": False, "sessions": 5}),
        ({"incremental": case(2.0, peak=100)}, {"incremental_equals_full_refresh": True, "sessions": 5}),
    ]
    cases, agreement = harness.combine_repeats(repeats)
    assert cases["incremental"]["seconds"] == 2.0
    assert cases["incremental"]["repeat_seconds"] == [3.0, 1.0, 2.0]
    assert cases["incremental"]["peak_rss_mb"] == 120  # the highest of the repeats
    assert agreement == {"incremental_equals_full_refresh": False, "sessions": 5}  # a check must hold every time


def test_ratios_of_repeats_are_the_medians_of_each_repeats_own():
    harness = benchmark_harness()
    run = {
        "cases": {},
        "ratios_per_repeat": [
            {"full_refresh_over_lower_bound": 2.2, "original_over_full_refresh": None},
            {"full_refresh_over_lower_bound": 1.8, "original_over_full_refresh": None},
            {"full_refresh_over_lower_bound": 1.9, "original_over_full_refresh": None},
        ],
    }
    assert harness.combined_ratios(run) == {"full_refresh_over_lower_bound": 1.9, "original_over_full_refresh": None}


def test_a_target_met_by_the_median_but_missed_in_a_repeat_says_so():
    harness = benchmark_harness()
    per_repeat = [
        {"full_refresh_over_lower_bound": r, "original_over_full_refresh": 0.8, "incremental_over_full_refresh": 0.05}
        for r in (1.9, 2.2, 1.8)
    ]
    cases = {c: {"peak_rss_mb": 100} for c in harness.ENGINE_CASES}
    run = {"engine": "duckdb", "events": 10, "cases": cases, "ratios_per_repeat": per_repeat}
    run["ratios"] = harness.combined_ratios(run)
    targets = harness.check_targets([run])
    assert targets["full_refresh_over_lower_bound"] == {"value": 1.9, "met": True, "met_in_every_repeat": False}
    assert targets["incremental_over_full_refresh"]["met_in_every_repeat"] is True
    assert not targets["original_over_full_refresh"]["met"]
    assert harness._met(targets["full_refresh_over_lower_bound"]) == "by the median only"
    assert harness._ratio(run, "full_refresh_over_lower_bound") == "1.90 (1.80 to 2.20)"


def test_repeats_that_did_different_work_are_refused():
    harness = benchmark_harness()
    repeats = [({"incremental": case(1.0, rows_read=10)}, {}), ({"incremental": case(1.0, rows_read=4)}, {})]
    with pytest.raises(RuntimeError, match="did different work"):
        harness.combine_repeats(repeats)
