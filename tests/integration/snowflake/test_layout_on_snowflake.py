"""A published-table layout set in the source config (tests/unit/config/test_layout.py) runs on
Snowflake (fakesnow)."""

from __future__ import annotations

# A layout of both kinds, as in tests/unit/config/test_layout.py: one table partitioned and clustered,
# one with neither.
LAYOUT = {
    "mapped_tracks": {"partition_by": "received_at", "cluster_by": ["dbt_visitor_id", "event_id"]},
    "tracks_flow": {"partition_by": None, "cluster_by": []},
}


def test_a_configured_layout_runs_on_snowflake():
    from rows import FIRST
    from warehouses import SnowflakeWarehouse

    wh = SnowflakeWarehouse()
    try:
        config = wh.config(layout=LAYOUT)
        wh.load_source(FIRST)
        wh.runner(config).run("first", "full_refresh")
        wh.assert_matches_spec(config)
    finally:
        wh.reset()
        wh.close()
