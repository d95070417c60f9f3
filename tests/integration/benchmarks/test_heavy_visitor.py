"""`benchmarks/heavy_visitor.py` end to end at a tiny size on DuckDB: the bot's open session is
recomputed whole without the cap and only its last capped session with it, and every incremental
run equals the full refresh. Timings are recorded, never asserted."""

from __future__ import annotations

import json
import subprocess
import sys

from warehouses import ROOT


def test_heavy_visitor_recomputes_the_last_capped_session_only(tmp_path):
    output = tmp_path / "result.json"
    args = ("--events", "2000", "--days", "5", "--bot", "600", "--new", "40", "--caps", "50", "--repeat", "1")
    script = str(ROOT / "benchmarks" / "heavy_visitor.py")
    done = subprocess.run(
        [sys.executable, script, *args, "--output", str(output)], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(output.read_text())
    assert result["data"]["bot_history_events"] == 600 and result["data"]["bot_new_events"] == 40
    duckdb = result["engines"]["duckdb"]
    (plain,), (capped,) = duckdb["none"]["incremental"], duckdb["50"]["incremental"]
    assert plain["differs_from_full_refresh"] == 0 and capped["differs_from_full_refresh"] == 0
    assert plain["rows_mapped_tracks"] >= 640  # the bot's whole open session
    assert capped["rows_mapped_tracks"] <= plain["rows_mapped_tracks"] - 600 + 50
    report = subprocess.run([sys.executable, script, "--report", str(output)], capture_output=True, text=True)
    assert report.returncode == 0 and "| duckdb | 50 |" in report.stdout
