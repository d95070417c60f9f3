"""Tests of the reference model itself, on hand-written rows with expectations worked out from SPEC.md."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from functools import partial
from typing import Any

import pytest

from rows import ev
from spec_model import compute


def ts(hour: int, minute: int = 0, second: int = 0, microsecond: int = 0) -> dt.datetime:
    """A naive UTC timestamp on a fixed day."""
    return dt.datetime(2024, 3, 1, hour, minute, second, microsecond)


# Source rows, with a column the model ignores.
row = partial(ev, context_ip="ignored")


def by_event(table: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["event_id"]: r for r in table}


def test_empty_source() -> None:
    result = compute([])
    assert result.rows_read == 0
    assert result.dropped == {"null_id": 0, "null_timestamp": 0, "no_identifier": 0, "duplicate": 0}
    assert result.tables == {
        "aliases_mapping": [],
        "mapped_tracks": [],
        "session_tracks": [],
        "track_facts": [],
        "tracks_flow": [],
        "session_facts": [],
        "user_session_facts": [],
    }


def test_gap_of_exactly_the_timeout_stays_in_session_one_microsecond_more_splits() -> None:
    rows = [
        row("e1", "a1", None, ts(10), "open"),
        row("e2", "a1", None, ts(10, 30), "click"),  # gap 30:00.000000: same session
        row("e3", "a1", None, ts(11, 0, 0, 1), "buy"),  # gap 30:00.000001: new session
    ]
    result = compute(rows)
    assert result.tables["aliases_mapping"] == [{"alias": "a1", "dbt_visitor_id": "a1"}]
    assert result.tables["mapped_tracks"] == [
        {
            "event_id": "e1",
            "anonymous_id": "a1",
            "dbt_visitor_id": "a1",
            "timestamp": ts(10),
            "event": "open",
            "idle_time_minutes": None,
            "event_table": "tracks",
            "user_id": None,
            "received_at": ts(10),
            "starts_session": True,
        },
        {
            "event_id": "e2",
            "anonymous_id": "a1",
            "dbt_visitor_id": "a1",
            "timestamp": ts(10, 30),
            "event": "click",
            "idle_time_minutes": 30.0,
            "event_table": "tracks",
            "user_id": None,
            "received_at": ts(10, 30),
            "starts_session": False,
        },
        {
            "event_id": "e3",
            "anonymous_id": "a1",
            "dbt_visitor_id": "a1",
            "timestamp": ts(11, 0, 0, 1),
            "event": "buy",
            "idle_time_minutes": 1_800_000_001 / 60_000_000,
            "event_table": "tracks",
            "user_id": None,
            "received_at": ts(11, 0, 0, 1),
            "starts_session": True,
        },
    ]
    assert result.tables["session_tracks"] == [
        {
            "session_id": "1 - a1",
            "dbt_visitor_id": "a1",
            "session_start_at": ts(10),
            "session_sequence_number": 1,
            "next_session_start_at": ts(11, 0, 0, 1),
        },
        {
            "session_id": "2 - a1",
            "dbt_visitor_id": "a1",
            "session_start_at": ts(11, 0, 0, 1),
            "session_sequence_number": 2,
            "next_session_start_at": None,
        },
    ]
    assert result.tables["track_facts"] == [
        {
            "anonymous_id": "a1",
            "timestamp": ts(10),
            "event_id": "e1",
            "event": "open",
            "session_id": "1 - a1",
            "dbt_visitor_id": "a1",
            "track_sequence_number": 1,
            "event_table": "tracks",
        },
        {
            "anonymous_id": "a1",
            "timestamp": ts(10, 30),
            "event_id": "e2",
            "event": "click",
            "session_id": "1 - a1",
            "dbt_visitor_id": "a1",
            "track_sequence_number": 2,
            "event_table": "tracks",
        },
        {
            "anonymous_id": "a1",
            "timestamp": ts(11, 0, 0, 1),
            "event_id": "e3",
            "event": "buy",
            "session_id": "2 - a1",
            "dbt_visitor_id": "a1",
            "track_sequence_number": 1,
            "event_table": "tracks",
        },
    ]
    # The flow never crosses into the next session.
    flow = by_event(result.tables["tracks_flow"])
    assert flow["e1"] == {
        "event_id": "e1",
        "session_id": "1 - a1",
        "track_sequence_number": 1,
        "event": "open",
        "dbt_visitor_id": "a1",
        "timestamp": ts(10),
        "event_2": "click",
        "event_3": None,
        "event_4": None,
        "event_5": None,
    }
    assert [flow["e3"][f"event_{k}"] for k in range(2, 6)] == [None] * 4

    # A custom timeout: 20 minutes splits both gaps.
    short = compute(rows, timeout_minutes=20)
    assert [r["session_id"] for r in short.tables["track_facts"]] == ["1 - a1", "2 - a1", "3 - a1"]


def test_timestamp_ties_are_ordered_by_id_in_codepoint_order() -> None:
    # "e1" < "e10" < "e2" as plain strings.
    rows = [
        row("e2", None, "u1", ts(9), "third"),
        row("e10", None, "u1", ts(9), "second"),
        row("e1", None, "u1", ts(9), "first"),
    ]
    result = compute(rows)
    facts = by_event(result.tables["track_facts"])
    assert {k: v["track_sequence_number"] for k, v in facts.items()} == {"e1": 1, "e10": 2, "e2": 3}
    mapped = by_event(result.tables["mapped_tracks"])
    assert {k: v["idle_time_minutes"] for k, v in mapped.items()} == {"e1": None, "e10": 0.0, "e2": 0.0}
    assert {k: v["starts_session"] for k, v in mapped.items()} == {"e1": True, "e10": False, "e2": False}
    flow = by_event(result.tables["tracks_flow"])
    assert [flow["e1"][f"event_{k}"] for k in range(2, 6)] == ["second", "third", None, None]
    assert [flow["e10"][f"event_{k}"] for k in range(2, 6)] == ["third", None, None, None]
    assert [r["event_id"] for r in result.tables["mapped_tracks"]] == ["e1", "e10", "e2"]
    assert result.tables["session_tracks"] == [
        {
            "session_id": "1 - u1",
            "dbt_visitor_id": "u1",
            "session_start_at": ts(9),
            "session_sequence_number": 1,
            "next_session_start_at": None,
        }
    ]


def test_duplicate_ids_keep_the_copy_received_first() -> None:
    rows = [
        row("d1", "a1", None, ts(12), "late copy", received=ts(12, 5)),
        row("d1", "a1", None, ts(12), "early copy", received=ts(12, 1)),
        row("d1", "a1", None, ts(12), "unknown receipt"),
        # Same received_at: the smaller timestamp wins.
        row("d2", "a1", None, ts(12, 10), "later ts", received=ts(13)),
        row("d2", "a1", None, ts(12, 9), "earlier ts", received=ts(13)),
    ]
    rows[2]["received_at"] = None  # NULL received_at sorts last: this copy never wins
    result = compute(rows)
    assert result.rows_read == 5
    assert result.dropped == {"null_id": 0, "null_timestamp": 0, "no_identifier": 0, "duplicate": 3}
    mapped = by_event(result.tables["mapped_tracks"])
    assert set(mapped) == {"d1", "d2"}
    assert mapped["d1"]["event"] == "early copy"
    assert mapped["d1"]["received_at"] == ts(12, 1)
    assert mapped["d2"]["event"] == "earlier ts"
    assert mapped["d2"]["timestamp"] == ts(12, 9)
    assert mapped["d2"]["idle_time_minutes"] == 9.0


def test_blank_ids_become_null_and_unusable_rows_are_dropped_and_counted() -> None:
    nbsp = "\u00a0"  # Unicode White_Space, like every character below: blank (SPEC "Source")
    rows = [
        row(None, "a1", "u1", ts(8), "no id"),
        row(None, "a1", "u1", None, "no id, no ts"),
        row("n1", "a1", None, None, "no ts"),
        row("n2", " ", "", None, "no ts, blank ids"),
        row("k1", " \t\n\f\r", "", ts(8), "blank ids"),  # dropped: not a duplicate of the k1 below
        row("k1", "\n", "u1", ts(8, 1), "user only", received=ts(9)),
        row("k2", " a2 ", "\r\f", ts(8, 2), "anon only"),
        row("k3", nbsp, None, ts(8, 3), "nbsp anon"),
        row("k4", "\v", "\u3000\u2003", ts(8, 4), "vertical tab anon, ideographic and em space user"),
        row("k5", "\x85", None, ts(8, 5), "next line anon"),
        row("k6", "\x1c", None, ts(8, 6), "file separator: not White_Space, an id"),
    ]
    result = compute(rows)
    assert result.rows_read == 11
    assert result.dropped == {"null_id": 2, "null_timestamp": 2, "no_identifier": 4, "duplicate": 0}
    mapped = by_event(result.tables["mapped_tracks"])
    assert set(mapped) == {"k1", "k2", "k6"}
    assert (mapped["k1"]["anonymous_id"], mapped["k1"]["user_id"]) == (None, "u1")
    assert mapped["k1"]["event"] == "user only"
    assert (mapped["k2"]["anonymous_id"], mapped["k2"]["user_id"]) == (" a2 ", None)
    assert mapped["k2"]["dbt_visitor_id"] == " a2 "
    assert result.tables["aliases_mapping"] == [
        {"alias": "\x1c", "dbt_visitor_id": "\x1c"},
        {"alias": " a2 ", "dbt_visitor_id": " a2 "},
        {"alias": "u1", "dbt_visitor_id": "u1"},
    ]


def test_anonymous_id_identified_by_two_users_maps_to_the_later_one() -> None:
    rows = [
        row("v1", "a", None, ts(10), "view"),
        row("v2", "a", "u1", ts(10, 5), "login"),
        row("v3", "a", "u2", ts(10, 10), "login"),
        row("v4", "a", None, ts(10, 15), "view"),
        # Identified by two users at the same timestamp: the greater id ("x2") is the latest.
        row("x2", "b", "u4", ts(11), "login"),
        row("x1", "b", "u3", ts(11), "login"),
        row("x3", "b", None, ts(11, 1), "view"),
    ]
    result = compute(rows)
    assert result.tables["aliases_mapping"] == [
        {"alias": "a", "dbt_visitor_id": "u2"},
        {"alias": "b", "dbt_visitor_id": "u4"},
        {"alias": "u1", "dbt_visitor_id": "u1"},
        {"alias": "u2", "dbt_visitor_id": "u2"},
        {"alias": "u3", "dbt_visitor_id": "u3"},
        {"alias": "u4", "dbt_visitor_id": "u4"},
    ]
    mapped = by_event(result.tables["mapped_tracks"])
    assert {k: v["dbt_visitor_id"] for k, v in mapped.items()} == {
        "v1": "u2",
        "v2": "u1",  # an event with a user_id belongs to that user
        "v3": "u2",
        "v4": "u2",
        "x1": "u3",
        "x2": "u4",
        "x3": "u4",
    }
    # u2's events v1, v3, v4: idle time measured within the visitor, across the u1 event.
    assert [mapped[k]["idle_time_minutes"] for k in ("v1", "v3", "v4")] == [None, 10.0, 5.0]
    facts = by_event(result.tables["track_facts"])
    assert [facts[k]["track_sequence_number"] for k in ("v1", "v3", "v4")] == [1, 2, 3]
    assert facts["v2"]["session_id"] == "1 - u1"
    assert facts["x3"]["session_id"] == "1 - u4"


def test_value_used_as_user_id_and_anonymous_id_maps_to_itself() -> None:
    rows = [
        row("s1", "shared", "u9", ts(14), "login"),  # would map "shared" -> "u9" as an anonymous_id
        row("s2", "a5", "shared", ts(14, 1), "login"),
        row("s3", "shared", None, ts(14, 2), "view"),
    ]
    result = compute(rows)
    assert result.tables["aliases_mapping"] == [
        {"alias": "a5", "dbt_visitor_id": "shared"},
        {"alias": "shared", "dbt_visitor_id": "shared"},
        {"alias": "u9", "dbt_visitor_id": "u9"},
    ]
    mapped = by_event(result.tables["mapped_tracks"])
    assert {k: v["dbt_visitor_id"] for k, v in mapped.items()} == {"s1": "u9", "s2": "shared", "s3": "shared"}
    assert [r["session_id"] for r in result.tables["session_tracks"]] == ["1 - shared", "1 - u9"]


def test_flow_longer_than_the_session_is_padded_with_null() -> None:
    rows = [
        row("f1", "a", None, ts(16), "one"),
        row("f2", "a", None, ts(16, 1), "two"),
    ]
    flow = by_event(compute(rows, flow_length=4).tables["tracks_flow"])
    assert flow["f1"] == {
        "event_id": "f1",
        "session_id": "1 - a",
        "track_sequence_number": 1,
        "event": "one",
        "dbt_visitor_id": "a",
        "timestamp": ts(16),
        "event_2": "two",
        "event_3": None,
        "event_4": None,
    }
    assert [flow["f2"][f"event_{k}"] for k in range(2, 5)] == [None, None, None]

    single = compute(rows, flow_length=1).tables["tracks_flow"]
    assert [set(r) for r in single] == [
        {"event_id", "session_id", "track_sequence_number", "event", "dbt_visitor_id", "timestamp"}
    ] * 2

    with pytest.raises(ValueError):
        compute(rows, flow_length=0)


# -- Several event tables, session and visitor facts ---------------------------------------------


def page(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """A row of the source's pages table (its name already in `event`)."""
    return row(*args, event_table="pages", **kwargs)


def screen(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """A row of the source's screens table."""
    return row(*args, event_table="screens", **kwargs)


def test_a_one_event_session_has_no_duration_and_its_event_is_first_and_last() -> None:
    result = compute([row("o1", "a1", None, ts(10), "open")], conversion_events=("buy",))
    facts = result.tables["session_facts"]
    assert facts == [
        {
            "session_id": "1 - a1",
            "dbt_visitor_id": "a1",
            "session_start_at": ts(10),
            "session_end_at": ts(10),
            "duration_seconds": 0.0,
            "event_count": 1,
            "first_event": "open",
            "last_event": "open",
            "conversion_count": 0,
            "converted": False,
            "session_sequence_number": 1,
        }
    ]
    assert list(facts[0]) == [  # SPEC's columns in SPEC's order, the extra last
        "session_id",
        "dbt_visitor_id",
        "session_start_at",
        "session_end_at",
        "duration_seconds",
        "event_count",
        "first_event",
        "last_event",
        "conversion_count",
        "converted",
        "session_sequence_number",
    ]
    assert result.tables["user_session_facts"] == [
        {
            "dbt_visitor_id": "a1",
            "first_seen_at": ts(10),
            "last_seen_at": ts(10),
            "session_count": 1,
            "event_count": 1,
            "converted_session_count": 0,
            "first_session_id": "1 - a1",
            "last_session_id": "1 - a1",
        }
    ]


def test_conversions_count_as_the_first_or_the_last_event_and_a_null_name_never_converts() -> None:
    rows = [
        # Session 1: converts on its first event.
        row("c1", "a", None, ts(10), "order_completed"),
        row("c2", "a", None, ts(10, 5), "view"),
        row("c3", "a", None, ts(10, 10), "view"),
        # Session 2 (50 minutes later): converts twice, the last event one of them.
        row("c4", "a", None, ts(11), "view"),
        row("c5", "a", None, ts(11, 20), "signed_up"),
        row("c6", "a", None, ts(11, 25, 30, 250_000), "order_completed"),
        # Session 3: no conversion; a NULL name is no conversion either.
        row("c7", "a", None, ts(13), None),
        row("c8", "a", None, ts(13, 0, 0, 500_000), "view"),
    ]
    result = compute(rows, conversion_events=["order_completed", "signed_up"])
    facts = {r["session_id"]: r for r in result.tables["session_facts"]}
    picked = ("event_count", "first_event", "last_event", "conversion_count", "converted", "duration_seconds")
    assert {s: tuple(f[k] for k in picked) for s, f in facts.items()} == {
        "1 - a": (3, "order_completed", "view", 1, True, 600.0),
        "2 - a": (3, "view", "order_completed", 2, True, 25 * 60 + 30.25),
        "3 - a": (2, None, "view", 0, False, 0.5),
    }
    assert facts["2 - a"]["session_end_at"] == ts(11, 25, 30, 250_000)
    assert result.tables["user_session_facts"][0]["converted_session_count"] == 2
    # Without configured conversion events nothing converts.
    default = compute(rows).tables["session_facts"]
    assert [(f["conversion_count"], f["converted"]) for f in default] == [(0, False)] * 3


def test_user_session_facts_of_a_visitor_with_three_sessions_on_two_devices() -> None:
    rows = [
        row("u-1", "phone", None, ts(8), "open"),  # anonymous: maps to u1 through the login below
        row("u-2", "phone", None, ts(8, 10), "view"),
        row("u-3", "laptop", "u1", ts(9), "login"),  # 50 minutes after: session 2
        page("u-4", "laptop", "u1", ts(9, 29), "Home"),
        row("u-5", "phone", "u1", ts(15, 45, 1), "login"),  # session 3: the phone is identified
        row("u-6", "phone", None, ts(15, 46), "order_completed"),
        row("other", "tablet", None, ts(9, 1), "view"),  # another visitor
    ]
    result = compute(rows, conversion_events=("order_completed",))
    assert result.tables["user_session_facts"] == [
        {
            "dbt_visitor_id": "tablet",
            "first_seen_at": ts(9, 1),
            "last_seen_at": ts(9, 1),
            "session_count": 1,
            "event_count": 1,
            "converted_session_count": 0,
            "first_session_id": "1 - tablet",
            "last_session_id": "1 - tablet",
        },
        {
            "dbt_visitor_id": "u1",
            "first_seen_at": ts(8),
            "last_seen_at": ts(15, 46),
            "session_count": 3,
            "event_count": 6,
            "converted_session_count": 1,
            "first_session_id": "1 - u1",
            "last_session_id": "3 - u1",
        },
    ]
    facts = {r["session_id"]: r for r in result.tables["session_facts"]}
    assert list(facts) == ["1 - tablet", "1 - u1", "2 - u1", "3 - u1"]  # sorted by session_id
    assert [facts[f"{n} - u1"]["session_end_at"] for n in (1, 2, 3)] == [ts(8, 10), ts(9, 29), ts(15, 46)]
    assert [facts[f"{n} - u1"]["session_sequence_number"] for n in (1, 2, 3)] == [1, 2, 3]
    assert [facts[f"{n} - u1"]["last_event"] for n in (1, 2, 3)] == ["view", "Home", "order_completed"]


def test_event_tables_form_one_stream() -> None:
    rows = [
        page("p1", "a1", None, ts(10), "Home"),
        row("t1", "a1", None, ts(10, 0, 2), "product_viewed"),
        screen("s1", None, "u7", ts(10, 1), "Cart"),
        row("t2", "a1", "u7", ts(10, 20), "logged_in"),  # identifies a1: p1 and t1 belong to u7
        page("p2", "a1", None, ts(10, 49), "Checkout"),
    ]
    result = compute(rows, flow_length=3)
    facts = [
        (r["event_id"], r["event_table"], r["session_id"], r["track_sequence_number"])
        for r in result.tables["track_facts"]
    ]
    assert sorted(facts, key=lambda f: f[3]) == [
        ("p1", "pages", "1 - u7", 1),
        ("t1", "tracks", "1 - u7", 2),
        ("s1", "screens", "1 - u7", 3),
        ("t2", "tracks", "1 - u7", 4),
        ("p2", "pages", "1 - u7", 5),
    ]
    mapped = by_event(result.tables["mapped_tracks"])
    assert {k: (v["event_table"], v["dbt_visitor_id"]) for k, v in mapped.items()} == {
        "p1": ("pages", "u7"),
        "t1": ("tracks", "u7"),
        "s1": ("screens", "u7"),
        "t2": ("tracks", "u7"),
        "p2": ("pages", "u7"),
    }
    assert mapped["p2"]["idle_time_minutes"] == 29.0
    flow = by_event(result.tables["tracks_flow"])
    assert (flow["p1"]["event_2"], flow["p1"]["event_3"]) == ("product_viewed", "Cart")
    [session] = result.tables["session_facts"]
    assert (session["first_event"], session["last_event"], session["event_count"]) == ("Home", "Checkout", 5)
    assert session["duration_seconds"] == 49 * 60.0


def test_an_id_in_tracks_and_pages_is_one_event_the_copy_received_first() -> None:
    rows = [
        row("x1", "a1", None, ts(10), "product_viewed", received=ts(10, 2)),
        page("x1", "a1", None, ts(10), "Product", received=ts(10, 1)),
        # All else equal, the table name decides: 'pages' < 'tracks'.
        row("x2", "a1", None, ts(10, 5), "page_viewed", received=ts(10, 6)),
        page("x2", "a1", None, ts(10, 5), "page_viewed", received=ts(10, 6)),
        # Then the first columns' cleaned values ('' is NULL: last), then the sum columns' values.
        page("x3", "a1", None, ts(10, 7), "Home", context_campaign_source="", revenue=None),
        page("x3", "a1", None, ts(10, 7), "Home", context_campaign_source="mail", revenue=2),
        page("x3", "a1", None, ts(10, 7), "Home", context_campaign_source="mail", revenue=1.5),
        page("x3", "a1", None, ts(10, 7), "Home", context_campaign_source="ads", revenue=None),
    ]
    result = compute(rows, first_columns=("context_campaign_source",), sum_columns=("revenue",))
    assert result.rows_read == 8
    assert result.dropped["duplicate"] == 5
    mapped = by_event(result.tables["mapped_tracks"])
    assert set(mapped) == {"x1", "x2", "x3"}
    assert (mapped["x1"]["event_table"], mapped["x1"]["event"]) == ("pages", "Product")
    assert mapped["x1"]["received_at"] == ts(10, 1)
    assert mapped["x2"]["event_table"] == "pages"
    assert (mapped["x3"]["context_campaign_source"], mapped["x3"]["revenue"]) == ("ads", None)
    # Without 'ads', 'mail' wins with the smaller revenue.
    rest = compute(rows[:-1], first_columns=("context_campaign_source",), sum_columns=("revenue",))
    assert by_event(rest.tables["mapped_tracks"])["x3"]["revenue"] == Decimal("1.5")
    facts = by_event(result.tables["track_facts"])
    assert [facts[k]["event_table"] for k in ("x1", "x2", "x3")] == ["pages", "pages", "pages"]


def test_first_values_skip_null_and_blank_in_event_order() -> None:
    first = ("context_campaign_source", "context_page_referrer", "context_device_type")
    rows = [
        # Session 1: the landing events carry nothing usable; ties in timestamp go by id.
        page("f1", "a", None, ts(10), "Home", context_campaign_source=None, context_page_referrer=""),
        row("f2", "a", None, ts(10, 1), "view", context_campaign_source=" \t", context_page_referrer="https://g.co/"),
        row("f4", "a", None, ts(10, 2), "view", context_campaign_source="late", context_page_referrer="x"),
        row("f3", "a", None, ts(10, 2), "view", context_campaign_source=" mail ", context_page_referrer="y"),
        # Session 2: nothing ever set, and a screen, whose table has no referrer column.
        screen("f5", "a", None, ts(12), "Home", context_campaign_source=None, context_device_type=7),
        row("f6", "a", None, ts(12, 1), "view", context_campaign_source="", context_page_referrer=None),
    ]
    result = compute(rows, first_columns=first)
    facts = {r["session_id"]: r for r in result.tables["session_facts"]}
    assert {s: tuple(f[f"first_{c}"] for c in first) for s, f in facts.items()} == {
        "1 - a": (" mail ", "https://g.co/", None),  # kept unstripped, like an id
        "2 - a": (None, None, "7"),  # a value's text
    }
    assert list(facts["1 - a"])[-4:] == [
        "first_context_campaign_source",
        "first_context_page_referrer",
        "first_context_device_type",
        "session_sequence_number",
    ]
    mapped = by_event(result.tables["mapped_tracks"])
    assert {k: tuple(v[c] for c in first) for k, v in mapped.items()} == {
        "f1": (None, None, None),
        "f2": (None, "https://g.co/", None),
        "f3": (" mail ", "y", None),
        "f4": ("late", "x", None),
        "f5": (None, None, "7"),
        "f6": (None, None, None),
    }
    with pytest.raises(ValueError):
        compute(rows, first_columns=("event",))


def test_totals_are_exact_decimals_and_null_when_every_value_is() -> None:
    rows = [
        # Session 1: pages have no revenue column, the order's revenue is NULL.
        page("r1", "a", None, ts(10), "Home"),
        row("r2", "a", None, ts(10, 1), "order_completed", revenue=None),
        # Session 2: three revenues, one NULL.
        row("r3", "a", None, ts(12), "order_completed", revenue=19.99),
        row("r4", "a", None, ts(12, 1), "order_completed", revenue=None),
        row("r5", "a", None, ts(12, 2), "order_completed", revenue=5),
        row("r6", "a", None, ts(12, 3), "order_completed", revenue=0.1),
        # Session 3: a zero is a total, not NULL.
        row("r7", "a", None, ts(14), "order_completed", revenue=0.0),
    ]
    result = compute(rows, sum_columns=("revenue",))
    totals = {r["session_id"]: r["total_revenue"] for r in result.tables["session_facts"]}
    assert totals == {"1 - a": None, "2 - a": Decimal("25.09"), "3 - a": Decimal(0)}
    assert str(totals["2 - a"]) == "25.090000000"  # DECIMAL(38, 9)
    mapped = by_event(result.tables["mapped_tracks"])
    assert [mapped[k]["revenue"] for k in ("r1", "r2", "r4")] == [None, None, None]
    assert str(mapped["r3"]["revenue"]) == "19.990000000"

    # A column in both lists is one mapped_tracks column (its first value) and both facts.
    both = compute(rows, first_columns=("revenue",), sum_columns=("revenue",))
    assert by_event(both.tables["mapped_tracks"])["r3"]["revenue"] == "19.99"
    second = {r["session_id"]: r for r in both.tables["session_facts"]}["2 - a"]
    assert (second["first_revenue"], second["total_revenue"]) == ("19.99", Decimal("25.09"))


# -- the session cap (max_session_events) -------------------------------------------------------


def test_a_capped_gap_session_of_seven_events_gives_sessions_of_three_three_and_one() -> None:
    rows = [row(f"e{i}", "a1", None, ts(10, i), f"step-{i}") for i in range(1, 8)]
    rows.append(row("x1", "a1", None, ts(12), "back"))  # a new gap session: its count starts again
    result = compute(rows, flow_length=3, max_session_events=3)
    facts = by_event(result.tables["track_facts"])
    assert [(facts[f"e{i}"]["session_id"], facts[f"e{i}"]["track_sequence_number"]) for i in range(1, 8)] == [
        ("1 - a1", 1), ("1 - a1", 2), ("1 - a1", 3), ("2 - a1", 1), ("2 - a1", 2), ("2 - a1", 3), ("3 - a1", 1),
    ]  # fmt: skip
    assert facts["x1"]["session_id"] == "4 - a1"
    sessions = result.tables["session_tracks"]
    assert [s["session_start_at"] for s in sessions] == [ts(10, 1), ts(10, 4), ts(10, 7), ts(12)]
    assert [s["next_session_start_at"] for s in sessions] == [ts(10, 4), ts(10, 7), ts(12), None]
    mapped = by_event(result.tables["mapped_tracks"])
    assert [mapped[f"e{i}"]["starts_session"] for i in range(1, 8)] == [True, False, False, True, False, False, True]
    assert mapped["e4"]["idle_time_minutes"] == 1.0  # idle time is still the time since the previous event
    flow = by_event(result.tables["tracks_flow"])
    assert [flow["e2"]["event_2"], flow["e2"]["event_3"]] == ["step-3", None]
    assert [flow["e4"]["event_2"], flow["e4"]["event_3"]] == ["step-5", "step-6"]
    assert [f["event_count"] for f in result.tables["session_facts"]] == [3, 3, 1, 1]
    assert result.tables["user_session_facts"][0]["session_count"] == 4


def test_the_cap_splits_events_that_share_a_timestamp_by_id() -> None:
    rows = [row(f"t{i}", "a1", None, ts(9), f"tie-{i}") for i in range(5)]
    facts = by_event(compute(rows, max_session_events=2).tables["track_facts"])
    assert [facts[f"t{i}"]["session_id"] for i in range(5)] == ["1 - a1", "1 - a1", "2 - a1", "2 - a1", "3 - a1"]


def test_no_cap_and_a_cap_above_every_session_change_nothing() -> None:
    rows = [row(f"e{i}", "a1", None, ts(10, 2 * i)) for i in range(6)] + [row("z", "u9", "u9", ts(11))]
    plain = compute(rows)
    assert compute(rows, max_session_events=None) == plain
    assert compute(rows, max_session_events=6) == plain
    assert compute(rows, max_session_events=5) != plain


@pytest.mark.parametrize("cap", [0, 1, -3])
def test_a_cap_below_two_is_refused(cap: int) -> None:
    with pytest.raises(ValueError, match="max_session_events must be >= 2"):
        compute([], max_session_events=cap)
