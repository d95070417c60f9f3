"""Golden files: the SQL every warehouse receives, per mode and phase, for a fixed example source.

`make golden` rewrites them (after a deliberate change to the SQL); the tests compare against them,
so a reviewer sees in the diff exactly what each warehouse will run.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from rudder_sessions.config import SourceConfig
from rudder_sessions.dialects import DIALECTS, get_dialect
from rudder_sessions.model import MODES, PHASES
from rudder_sessions.plan import RunPlan
from rudder_sessions.rendering import render_phase

GOLDEN = Path(__file__).resolve().parent / "golden"
# Three event tables (RudderStack's tracks and pages, and a table of one fixed event name) and every
# session-facts option: the golden files show each part of the SQL they shape.
CONFIG = SourceConfig(
    name="shop",
    conn_id="warehouse",
    source_schema="rudderstack",
    target_schema="sessions",
    flow_length=5,
    event_tables=["tracks", "pages", {"table": "orders", "event_name": "order_completed"}],
    conversion_events=["order_completed", "signed_up"],
    session_first_columns=["context_campaign_source", "context_page_referrer"],
    session_sum_columns=["revenue"],
)
# The same source under the identity graph, with both link tables: its files are under graph/.
GRAPH_CONFIG = replace(CONFIG, identity="graph", identifies_table="identifies", aliases_table="aliases")
GRAPH = "graph"
# The same source with sessions capped at 2,500 events (README "Capping a session's length"): its
# files are under capped/.
CAPPED_CONFIG = replace(CONFIG, max_session_events=2500)
CAPPED = "capped"
# The columns of the example's event tables besides id, anonymous_id, user_id, timestamp and
# received_at; pages has no revenue, orders no referrer: the plan reads NULL for them.
EVENT_COLUMNS = {
    "tracks": {
        "event": "STRING",
        "context_campaign_source": "STRING",
        "context_page_referrer": "STRING",
        "revenue": "FLOAT64",
    },
    "pages": {"name": "STRING", "context_campaign_source": "STRING", "context_page_referrer": "STRING"},
    "orders": {"context_campaign_source": "STRING", "revenue": "NUMERIC"},
}
ABSENT = ("pages.revenue", "orders.context_page_referrer")
WATERMARK = datetime(2026, 3, 1, 3, 0)
WINDOWS = {
    "full_refresh": {},
    "incremental": {
        "window_start": datetime(2026, 3, 1, 0, 0),
        "watermark_before": WATERMARK,
        # orders held no row when the model was published: the run reads all of it
        "watermarks": (
            ("tracks", WATERMARK),
            ("pages", datetime(2026, 3, 1, 2, 0)),
            ("orders", None),
            ("identifies", WATERMARK),
            ("aliases", WATERMARK),
        ),
        "windows": (
            ("tracks", datetime(2026, 3, 1, 0, 0)),
            ("pages", datetime(2026, 2, 28, 23, 0)),
            ("orders", None),
            ("identifies", datetime(2026, 3, 1, 0, 0)),
            ("aliases", datetime(2026, 3, 1, 0, 0)),
        ),
    },
    "backfill": {
        "window_start": datetime(2026, 2, 1),
        "window_end": datetime(2026, 2, 2),
        "watermark_before": WATERMARK,
        "watermarks": (("tracks", WATERMARK), ("pages", WATERMARK), ("orders", None)),
    },
}


def example_plan(mode: str) -> RunPlan:
    version = 0 if mode == "full_refresh" else 7
    return RunPlan(
        "scheduled__2026-03-02T03:00:00+00:00",
        mode,
        mode,
        state_version=version,
        absent_columns=ABSENT,
        **WINDOWS[mode],
    )


def golden_name(phase: str) -> str:
    """A phase's golden file name: numbered in run order, so a directory listing reads as the run."""
    return f"{PHASES.index(phase)}_{phase}.sql"


def golden_dir(dialect: str, mode: str) -> Path:
    """Where a mode's files are: `<dialect>/<mode>`, or `<dialect>/graph/<mode>` for the graph's
    modes (`graph/<mode>`), `<dialect>/capped/<mode>` for the session cap's."""
    return GOLDEN / dialect / mode


def rendered() -> dict[Path, str]:
    """Every golden file's expected content: the example source, and the same under the graph and
    with the session cap."""
    files = {}
    for dialect in sorted(DIALECTS):
        for config, prefix in ((CONFIG, ""), (GRAPH_CONFIG, f"{GRAPH}/"), (CAPPED_CONFIG, f"{CAPPED}/")):
            for mode in MODES:
                for phase in PHASES:
                    sql = render_phase(phase, config, get_dialect(dialect), example_plan(mode))
                    files[golden_dir(dialect, prefix + mode) / golden_name(phase)] = sql
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
