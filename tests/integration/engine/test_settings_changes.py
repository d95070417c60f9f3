"""Settings that shape the model (SPEC "Settings that shape the model") are stored with the run
state: a run under other values rebuilds everything and says why; a backfill refuses."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rows import BASE, ev
from rudder_sessions.errors import SettingsChanged
from rudder_sessions.run_log import format_summary
from warehouses import DuckDBWarehouse

# One visitor, events 40 minutes apart: 30-minute sessions split them, 60-minute ones do not.
HISTORY = [ev(f"e{i}", "a1", None, 40 * i) for i in range(5)]


def test_a_changed_timeout_rebuilds_and_says_so(wh):
    wh.load_source(HISTORY)
    wh.runner(wh.config(timeout_minutes=30)).run("r1", "full_refresh")
    wh.load_source([ev("e5", "a1", None, 200)], append=True)
    config = wh.config(timeout_minutes=60)
    summary = wh.runner(config).run("r2", "incremental")
    assert (summary["mode"], summary["requested_mode"]) == ("full_refresh", "incremental")
    assert summary["reason"] == "timeout_minutes changed 30 -> 60"
    assert "full_refresh (requested incremental: timeout_minutes changed 30 -> 60)" in format_summary(summary, config)
    assert summary["sessions"] == 1
    wh.assert_matches_spec(config)
    # The new settings are the stored ones now: the next run is incremental again.
    wh.load_source([ev("e6", "a1", None, 300)], append=True)
    assert wh.runner(config).run("r3", "incremental")["mode"] == "incremental"
    wh.assert_matches_spec(config)


@pytest.mark.parametrize("before, after", [(5, 3), (3, 5)])
def test_a_changed_flow_length_rebuilds_in_one_shape(wh, before, after):
    wh.load_source(HISTORY)
    wh.runner(wh.config(flow_length=before)).run("r1", "full_refresh")
    wh.load_source([ev("e5", "a1", None, 200)], append=True)
    config = wh.config(flow_length=after)
    summary = wh.runner(config).run("r2", "incremental")
    assert (summary["mode"], summary["reason"]) == ("full_refresh", f"flow_length changed {before} -> {after}")
    actual = wh.assert_matches_spec(config)  # every column, so no event_<k> of the old shape left
    assert {f"event_{after}"} <= set(actual["tracks_flow"][0]) and f"event_{after + 1}" not in actual["tracks_flow"][0]


def test_a_backfill_under_changed_settings_refuses_and_names_the_fix(warehouse):
    warehouse.load_source(HISTORY)
    warehouse.runner(warehouse.config(timeout_minutes=30)).run("r1", "full_refresh")
    runner = warehouse.runner(warehouse.config(timeout_minutes=45))
    with pytest.raises(SettingsChanged, match=r"timeout_minutes changed 30 -> 45.*Run a full refresh"):
        runner.run("r2", "backfill", BASE, BASE + timedelta(days=1))
    assert runner.run("r3", "full_refresh")["mode"] == "full_refresh"


def test_a_model_published_without_stored_settings_is_rebuilt_once(warehouse):
    """An older version stored no settings: nothing says what the model was built with."""
    config = warehouse.config()
    warehouse.load_source(HISTORY)
    warehouse.runner(config).run("r1", "full_refresh")
    with warehouse.connect() as conn:
        conn.execute("ALTER TABLE sessions.rudder_sessions_state DROP COLUMN settings")
        conn.execute("ALTER TABLE sessions.rudder_sessions_runs DROP COLUMN reason")
    warehouse.load_source([ev("e5", "a1", None, 200)], append=True)
    summary = warehouse.runner(config).run("r2", "incremental")
    assert summary["mode"] == "full_refresh"
    assert "not recorded" in summary["reason"]
    warehouse.load_source([ev("e6", "a1", None, 300)], append=True)
    assert warehouse.runner(config).run("r3", "incremental")["mode"] == "incremental"
    warehouse.assert_matches_spec(config)


def test_a_changed_watermark_column_rebuilds(warehouse):
    warehouse.load_source(HISTORY)
    warehouse.runner(warehouse.config()).run("r1", "full_refresh")
    summary = warehouse.runner(warehouse.config(watermark_column="timestamp")).run("r2", "incremental")
    assert (summary["mode"], summary["reason"]) == ("full_refresh", "watermark_column changed received_at -> timestamp")


def test_another_source_table_rebuilds(warehouse):
    warehouse.load_source(HISTORY)
    warehouse.runner(warehouse.config()).run("r1", "full_refresh")
    with warehouse.connect() as conn:
        conn.execute("CREATE TABLE rudderstack.pages AS SELECT * FROM rudderstack.tracks WHERE id <> 'e0'")
    config = warehouse.config(source_table="pages")
    summary = warehouse.runner(config).run("r2", "incremental")
    assert (summary["mode"], summary["reason"]) == ("full_refresh", "source_table changed tracks -> pages")
    assert summary["rows_mapped_tracks"] == len(HISTORY) - 1


def test_an_upgrade_that_adds_settings_and_columns_keeps_the_model_incremental(warehouse):
    """A model published before event tables and session facts: no stored event_tables or facts
    settings, no event_table column. The upgrade adds the column (every event came from the one
    table) and the settings count as their defaults: the next run stays incremental."""
    config = warehouse.config()
    warehouse.load_source(HISTORY)
    warehouse.runner(config).run("r1", "full_refresh")
    with warehouse.connect() as conn:
        (stored,) = conn.execute("SELECT settings FROM sessions.rudder_sessions_state").fetchone()
        old = {
            k: v
            for k, v in json.loads(stored).items()
            if k in ("source_schema", "source_table", "timeout_minutes", "flow_length", "watermark_column")
        }
        conn.execute("UPDATE sessions.rudder_sessions_state SET settings = ?", [json.dumps(old)])
        conn.execute("DROP TABLE sessions.rudder_sessions_watermarks")
        for table in ("dbt_mapped_tracks", "dbt_track_facts"):
            conn.execute(f"ALTER TABLE sessions.{table} DROP COLUMN event_table")
    warehouse.load_source([ev("e5", "a1", None, 200)], append=True)
    summary = warehouse.runner(config).run("r2", "incremental")
    assert (summary["mode"], summary["reason"]) == ("incremental", None)
    published = warehouse.assert_matches_spec(config)
    assert {row["event_table"] for row in published["mapped_tracks"]} == {"tracks"}


def test_facts_settings_rebuild_and_leave_no_stale_columns(wh):
    warehouse = wh
    rows = [{**row, "context_campaign_source": "ads", "revenue": 2.5} for row in HISTORY]
    warehouse.load_source(rows)
    first = warehouse.config(session_first_columns=["context_campaign_source"], session_sum_columns=["revenue"])
    warehouse.runner(first).run("r1", "full_refresh")
    # revenue moves from summed to first-touch text, the campaign goes: a rebuild in the new shape
    second = warehouse.config(session_first_columns=["revenue"], conversion_events=["view"])
    summary = warehouse.runner(second).run("r2", "incremental")
    assert summary["mode"] == "full_refresh"
    assert "session_first_columns changed ['context_campaign_source'] -> ['revenue']" in summary["reason"]
    assert "conversion_events changed [] -> ['view']" in summary["reason"]
    published = warehouse.assert_matches_spec(second)
    assert "context_campaign_source" not in published["mapped_tracks"][0]
    assert {"first_revenue"} == {c for c in published["session_facts"][0] if c.startswith(("first_", "total_"))} - {
        "first_event"
    }
    assert published["mapped_tracks"][0]["revenue"] == "2.5"
    assert all(row["converted"] for row in published["session_facts"])


SETTINGS = st.fixed_dictionaries(
    {
        "timeout_minutes": st.sampled_from([30, 45, 60]),
        "flow_length": st.integers(2, 4),
        "conversion_events": st.sampled_from([[], ["view"]]),
        "max_session_events": st.sampled_from([None, None, 2, 3]),
    }
)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    runs=st.lists(
        st.tuples(
            SETTINGS,
            st.lists(
                st.tuples(st.integers(0, 9), st.sampled_from(["a1", "a2", "u1"]), st.integers(0, 400)), max_size=6
            ),
        ),
        min_size=2,
        max_size=5,
    )
)
def test_runs_under_changing_settings_always_equal_a_rebuild(tmp_path_factory, runs):
    """Batches arrive, settings change between some runs: after every run, the tables are the
    model of the whole source under the run's settings."""
    database = DuckDBWarehouse(tmp_path_factory.mktemp("settings") / "warehouse.duckdb")
    database.load_source([])
    received = 0
    for number, (chosen, batch) in enumerate(runs):
        received += 500
        rows = [
            ev(f"n{number}-{i}", anon, None, minute, received=received) for i, (_, anon, minute) in enumerate(batch)
        ]
        rows += [
            ev(f"e{i}", anon, "u1" if i % 3 == 0 else None, minute, received=received) for i, anon, minute in batch[:2]
        ]
        database.load_source(rows, append=True)
        config = database.config(lookback="1 hour", **chosen)
        database.runner(config).run(f"run-{number}", "incremental")
        database.assert_matches_spec(config)
