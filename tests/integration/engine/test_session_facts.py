"""Several event tables and the session and visitor facts, on every engine: the published tables
equal the SPEC.md reference model on hand-written edge cases, in a full refresh and after
incremental runs, and the facts hold the values worked out by hand below."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from rows import ev
from rudder_sessions.errors import SourceError

T0 = datetime(2026, 4, 1, 9, 0, 0)
FACTS = {
    "event_tables": ["tracks", "pages", {"table": "orders", "event_name": "order_completed"}],
    "conversion_events": ["order_completed", "signed_up"],
    "session_first_columns": ["context_campaign_source", "context_page_referrer"],
    "session_sum_columns": ["revenue"],
}
# orders has no event column: its rows' events are the fixed name
EVENT_COLUMNS = {"tracks": "event", "pages": "name", "orders": None}


def _row(table, id, anon, user, minutes, event, received=None, **columns):
    at = T0 + timedelta(minutes=minutes)
    row = ev(id, anon, user, at, event, received=received or at + timedelta(minutes=1), **columns)
    return {**row, "event_table": table}


def track(id, anon, user, minutes, event, source=None, referrer=None, revenue=None, received=None):
    columns = {"context_campaign_source": source, "context_page_referrer": referrer, "revenue": revenue}
    return _row("tracks", id, anon, user, minutes, event, received, **columns)


def page(id, anon, user, minutes, name, source=None, referrer=None, received=None):
    # pages has no revenue column
    columns = {"context_campaign_source": source, "context_page_referrer": referrer}
    return _row("pages", id, anon, user, minutes, name, received, **columns)


def order(id, anon, user, minutes, source=None, revenue=None):
    # orders has no event column (its events are all 'order_completed') and no referrer column
    columns = {"context_campaign_source": source, "revenue": revenue}
    return _row("orders", id, anon, user, minutes, "order_completed", **columns)


def sources():
    """Every edge case of issue and SPEC, each on its own visitor."""
    return [
        # a one-event session: duration 0, first event = last event
        track("one-1", "a-one", None, 0, "view", source="ads"),
        # conversion as the first event (an order) and as the last (a track), in two sessions
        order("conv-1", None, "u-conv", 0, source="mail", revenue=19.99),
        track("conv-2", None, "u-conv", 5, "view", source=None, referrer="x.com", revenue=None),
        track("conv-3", None, "u-conv", 120, "view", source="  ", referrer="", revenue=None),
        track("conv-4", None, "u-conv", 125, "signed_up", source="ads", referrer=None, revenue=5.01),
        # first-touch values NULL or blank in the first events: the first non-blank one counts
        page("ft-1", "a-ft", None, 0, "Home", source=None, referrer="\t"),
        page("ft-2", "a-ft", None, 1, "Product", source="", referrer=" "),
        track("ft-3", "a-ft", None, 2, "view", source="news"),
        page("ft-4", "a-ft", None, 3, "Cart", source="later", referrer="ref.org"),
        # one event id in tracks and pages: one event, the copy received first (pages, here)
        track("both-1", "a-both", None, 0, "view", source="t", revenue=1.5, received=T0 + timedelta(minutes=10)),
        page("both-1", "a-both", None, 0, "Home", source="p", referrer="q", received=T0 + timedelta(minutes=2)),
        track("both-2", "a-both", None, 4, "view"),
        # sums: NULL when every value is NULL, exact otherwise (0.1 + 0.2 is 0.3)
        track("sum-1", None, "u-sum", 0, "view", source=None, referrer=None, revenue=0.1),
        order("sum-2", None, "u-sum", 1, revenue=0.2),
        track("sum-3", None, "u-sum", 90, "view"),
    ]  # fmt: skip


@pytest.fixture
def loaded(wh):
    wh.load_source(sources(), event_columns=EVENT_COLUMNS)
    config = wh.config(**FACTS)
    summary = wh.runner(config).run("facts", "full_refresh")
    return wh, config, summary


def facts_by_session(wh, config):
    return {row["session_id"]: row for row in wh.read_tables(config)["session_facts"]}


def test_the_facts_equal_the_reference_model(loaded):
    wh, config, summary = loaded
    actual = wh.assert_matches_spec(config)
    assert summary["rows_session_facts"] == len(actual["session_facts"]) == summary["sessions"]
    assert summary["rows_user_session_facts"] == len(actual["user_session_facts"]) == summary["visitors"]


def test_the_facts_hold_the_values_worked_out_by_hand(loaded):
    wh, config, _ = loaded
    facts = facts_by_session(wh, config)
    one = facts["1 - a-one"]
    assert (one["duration_seconds"], one["event_count"]) == (0, 1)
    assert (one["first_event"], one["last_event"]) == ("view", "view")
    assert one["converted"] is False and one["conversion_count"] == 0 and one["total_revenue"] is None

    first, second = facts["1 - u-conv"], facts["2 - u-conv"]
    assert (first["first_event"], first["last_event"], first["conversion_count"]) == ("order_completed", "view", 1)
    assert first["duration_seconds"] == 300 and first["converted"] is True
    assert (first["first_context_campaign_source"], first["first_context_page_referrer"]) == ("mail", "x.com")
    assert first["total_revenue"] == Decimal("19.99")
    assert (second["first_event"], second["last_event"], second["conversion_count"]) == ("view", "signed_up", 1)
    assert (second["first_context_campaign_source"], second["first_context_page_referrer"]) == ("ads", None)

    touch = facts["1 - a-ft"]
    assert (touch["first_context_campaign_source"], touch["first_context_page_referrer"]) == ("news", "ref.org")
    assert (touch["first_event"], touch["last_event"], touch["event_count"]) == ("Home", "Cart", 4)

    both = facts["1 - a-both"]
    assert (both["event_count"], both["first_event"], both["first_context_campaign_source"]) == (2, "Home", "p")
    assert both["total_revenue"] is None  # the pages copy won, and pages has no revenue column

    summed, later = facts["1 - u-sum"], facts["2 - u-sum"]
    assert summed["total_revenue"] == Decimal("0.3") and later["total_revenue"] is None

    visitors = {row["dbt_visitor_id"]: row for row in wh.read_tables(config)["user_session_facts"]}
    conv = visitors["u-conv"]
    assert (conv["session_count"], conv["event_count"], conv["converted_session_count"]) == (2, 4, 2)
    assert (conv["first_session_id"], conv["last_session_id"]) == ("1 - u-conv", "2 - u-conv")
    assert (conv["first_seen_at"], conv["last_seen_at"]) == (T0, T0 + timedelta(minutes=125))


def test_each_event_says_its_table(loaded):
    wh, config, _ = loaded
    tables = wh.read_tables(config)
    for step in ("mapped_tracks", "track_facts"):
        by_id = {row["event_id"]: row["event_table"] for row in tables[step]}
        found = (by_id["one-1"], by_id["conv-1"], by_id["ft-1"], by_id["both-1"])
        assert found == ("tracks", "orders", "pages", "pages"), step


def test_events_arriving_in_several_tables_equal_a_rebuild(wh):
    """Incremental runs as rows land in each table at other times, some late, some merging visitors."""
    rows = sources()
    first = [r for r in rows if r["id"] not in ("conv-3", "conv-4", "ft-4", "sum-3")]
    wh.load_source(first, event_columns=EVENT_COLUMNS)
    config = wh.config(**FACTS)
    runner = wh.runner(config)
    runner.run("first", "incremental")
    wh.assert_matches_spec(config)
    later = [
        *(r for r in rows if r["id"] in ("conv-3", "conv-4")),
        page("late-1", "a-one", "u-conv", 3, "Pricing", source="late", referrer="r"),
    ]
    wh.load_source(later, append=True, event_columns=EVENT_COLUMNS)
    runner.run("second", "incremental")
    wh.assert_matches_spec(config)
    wh.load_source([r for r in rows if r["id"] in ("ft-4", "sum-3")], append=True, event_columns=EVENT_COLUMNS)
    late = order("late-2", "a-ft", None, 2.5, revenue=7.0)
    wh.load_source([late], append=True, event_columns=EVENT_COLUMNS)
    summary = runner.run("third", "incremental")
    assert summary["mode"] == "incremental"
    actual = wh.assert_matches_spec(config)
    assert {row["dbt_visitor_id"] for row in actual["user_session_facts"]} >= {"u-conv", "a-ft", "u-sum"}


def test_a_column_no_event_table_has_is_refused_before_any_sql(wh):
    wh.load_source(sources(), event_columns=EVENT_COLUMNS)
    config = wh.config(**{**FACTS, "session_first_columns": ["context_campaing_source"]})
    with pytest.raises(SourceError, match="context_campaing_source"):
        wh.runner(config).run("typo", "full_refresh")
