"""Golden files: the SQL every warehouse receives, per mode and phase, for a fixed example source.

`make golden` rewrites them (after a deliberate change to the SQL); the tests compare against them,
so a reviewer sees in the diff exactly what each warehouse will run.
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

from rudder_sessions.config import SourceConfig
from rudder_sessions.dialects import DIALECTS, get_dialect
from rudder_sessions.model import MODES, PHASES
from rudder_sessions.plan import RunPlan
from rudder_sessions.rendering import render_phase

GOLDEN = Path(__file__).resolve().parent / "golden"
CONFIG = SourceConfig(
    name="shop", conn_id="warehouse", source_schema="rudderstack", target_schema="sessions", flow_length=5
)
WINDOWS = {
    "full_refresh": {},
    "incremental": {"window_start": datetime(2026, 3, 1, 0, 0), "watermark_before": datetime(2026, 3, 1, 3, 0)},
    "backfill": {"window_start": datetime(2026, 2, 1), "window_end": datetime(2026, 2, 2)},
}


def example_plan(mode: str) -> RunPlan:
    version = 0 if mode == "full_refresh" else 7
    return RunPlan("scheduled__2026-03-02T03:00:00+00:00", mode, mode, state_version=version, **WINDOWS[mode])


def rendered() -> dict[Path, str]:
    """Every golden file's expected content."""
    files = {}
    for dialect in sorted(DIALECTS):
        for mode in MODES:
            for number, phase in enumerate(PHASES):
                sql = render_phase(phase, CONFIG, get_dialect(dialect), example_plan(mode))
                files[GOLDEN / dialect / mode / f"{number}_{phase}.sql"] = sql
    return files


def write() -> None:
    for path, sql in rendered().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(sql)
    print(f"wrote {len(rendered())} golden files under {GOLDEN}")


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python tests/golden.py --write")
    write()
