"""A benchmark script run end to end at a tiny size, for the tests of this folder: the size and
the repeats make every case run twice in a few minutes; what it measures is checked, never its
timings."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from warehouses import ROOT

BENCH = ROOT / "benchmarks"


def run_small(script: str, tmp_path: Path) -> tuple[dict[str, Any], str]:
    """`benchmarks/<script>` at 2e4 events over 10 days, every case twice: its result file, and
    the report `--report` prints of it."""
    output = tmp_path / "result.json"
    done = subprocess.run(
        [
            sys.executable,
            str(BENCH / script),
            *("--sizes", "2e4", "--days", "10", "--repeat", "2"),
            *("--workdir", str(tmp_path / "data"), "--output", str(output)),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = subprocess.run(
        [sys.executable, str(BENCH / script), "--report", str(output)], capture_output=True, text=True
    )
    assert report.returncode == 0, report.stderr[-2000:]
    return json.loads(output.read_text()), report.stdout
