"""Ids compare exactly whatever the DuckDB connection's default collation (SPEC "Source"): a
connection whose extra sets `default_collation` to `nocase` or `noaccent` merges nothing."""

from __future__ import annotations

import json

import pytest

from rows import ev
from rudder_sessions.cli import main


@pytest.mark.parametrize("collation", ["nocase", "noaccent", "nocase.noaccent"])
def test_a_case_or_accent_insensitive_connection_merges_no_ids(warehouse, monkeypatch, capsys, collation):
    rows = [
        ev("ev-a", "anon", None, 0, "first"),
        ev("ev-A", "anon", None, 1, "second"),  # another event, not a duplicate of ev-a
        ev("e3", None, "User-1", 2),
        ev("e4", None, "user-1", 3),  # another visitor
        ev("e5", "café", None, 4),
        ev("e6", "cafe", None, 5),  # another visitor
    ]
    warehouse.load_source(rows)
    connection = {
        "conn_type": "duckdb",
        "host": str(warehouse.path),
        "extra": {"settings": {"default_collation": collation}},
    }
    monkeypatch.setenv("AIRFLOW_CONN_WH", json.dumps(connection))
    assert main(["run", "--conn-id", "wh", "--source-schema", "rudderstack", "--target-schema", "sessions"]) == 0
    assert "duplicate 0" in capsys.readouterr().out
    config = warehouse.config()
    actual = warehouse.assert_matches_spec(config)
    assert len(actual["mapped_tracks"]) == 6
    assert {r["dbt_visitor_id"] for r in actual["mapped_tracks"]} == {"anon", "User-1", "user-1", "café", "cafe"}
