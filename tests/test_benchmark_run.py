"""`benchmarks/run.py` end to end at a small size: every case runs on DuckDB and PostgreSQL, and the
harness's own checks hold (the lower bound finds the pipeline's sessions, incremental equals full
refresh). Timings are recorded, never asserted."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import require_postgres
from pipeline import ROOT


def test_benchmark_runs_every_case_and_its_checks_hold(tmp_path):
    require_postgres()
    output = tmp_path / "result.json"
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "run.py"),
            *("--sizes", "2e4", "--postgres-sizes", "2e4", "--days", "10"),
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
    assert (tmp_path / "time_vs_events.png").stat().st_size > 0
