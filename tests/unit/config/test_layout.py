"""The published tables' layout: warehouse defaults, what the source config can set, and its
validation (a typo is one line naming the source and the field)."""

from __future__ import annotations

import pytest

from rudder_sessions.config import SourceConfig
from rudder_sessions.dialects import get_dialect
from rudder_sessions.errors import ConfigError
from warehouses import make_config

LAYOUT = {
    "mapped_tracks": {"partition_by": "received_at", "cluster_by": ["dbt_visitor_id", "event_id"]},
    "tracks_flow": {"partition_by": None, "cluster_by": []},
}


def test_defaults_by_warehouse():
    bigquery, redshift, snowflake = (get_dialect(n) for n in ("bigquery", "redshift", "snowflake"))
    assert bigquery.table_layout("mapped_tracks") == "PARTITION BY DATE(`timestamp`)\nCLUSTER BY `dbt_visitor_id`"
    assert bigquery.table_layout("aliases_mapping") == "CLUSTER BY `alias`"
    assert redshift.table_layout("session_tracks") == (
        'DISTKEY ("dbt_visitor_id") COMPOUND SORTKEY ("dbt_visitor_id", "session_start_at")'
    )
    assert snowflake.table_layout("mapped_tracks") == ""  # automatic clustering costs credits: opt in
    assert get_dialect("postgres").table_layout("mapped_tracks") == ""


def test_the_source_config_sets_the_layout():
    config = make_config(layout=LAYOUT)
    mapped, flow = config.layout_of("mapped_tracks"), config.layout_of("tracks_flow")
    bigquery, redshift, snowflake = (get_dialect(n) for n in ("bigquery", "redshift", "snowflake"))
    assert bigquery.table_layout("mapped_tracks", mapped) == (
        "PARTITION BY DATE(`received_at`)\nCLUSTER BY `dbt_visitor_id`, `event_id`"
    )
    assert bigquery.table_layout("tracks_flow", flow) == ""
    assert snowflake.table_layout("mapped_tracks", mapped) == (
        'CLUSTER BY (TO_DATE("RECEIVED_AT"), "DBT_VISITOR_ID", "EVENT_ID")'
    )
    assert redshift.table_layout("mapped_tracks", mapped) == (
        'DISTKEY ("dbt_visitor_id") COMPOUND SORTKEY ("dbt_visitor_id", "event_id", "received_at")'
    )
    assert config.layout_of("track_facts") is None


@pytest.mark.parametrize(
    ("layout", "field", "message"),
    [
        ({"sessions": {}}, "layout.sessions", "unknown table"),
        ({"mapped_tracks": {"partition": "timestamp"}}, "layout.mapped_tracks", "partition_by and/or cluster_by"),
        ({"mapped_tracks": {"partition_by": "event"}}, "layout.mapped_tracks.partition_by", "'event' is not one of"),
        ({"session_tracks": {"cluster_by": ["event_id"]}}, "layout.session_tracks.cluster_by", "not a column"),
        ({"mapped_tracks": {"cluster_by": ["event"] * 2}}, "layout.mapped_tracks.cluster_by", "at most 4 distinct"),
        (["mapped_tracks"], "layout", "must map table steps"),
    ],
)
def test_bad_layouts_name_the_field(layout, field, message):
    with pytest.raises(ConfigError) as error:
        entry = {"conn_id": "c", "source_schema": "s", "target_schema": "t", "layout": layout}
        SourceConfig.from_mapping("shop", entry)
    assert f"source 'shop': {field}: " in str(error.value) and message in str(error.value)
