"""Tests of the reference model itself, on hand-written rows with expectations worked out from SPEC.md."""

from __future__ import annotations

import datetime as dt
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
        },
        {
            "anonymous_id": "a1",
            "timestamp": ts(10, 30),
            "event_id": "e2",
            "event": "click",
            "session_id": "1 - a1",
            "dbt_visitor_id": "a1",
            "track_sequence_number": 2,
        },
        {
            "anonymous_id": "a1",
            "timestamp": ts(11, 0, 0, 1),
            "event_id": "e3",
            "event": "buy",
            "session_id": "2 - a1",
            "dbt_visitor_id": "a1",
            "track_sequence_number": 1,
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
    nbsp = "\u00a0"  # not one of the five blank characters: kept as an id
    rows = [
        row(None, "a1", "u1", ts(8), "no id"),
        row(None, "a1", "u1", None, "no id, no ts"),
        row("n1", "a1", None, None, "no ts"),
        row("n2", " ", "", None, "no ts, blank ids"),
        row("k1", " \t\n\f\r", "", ts(8), "blank ids"),  # dropped: not a duplicate of the k1 below
        row("k1", "\n", "u1", ts(8, 1), "user only", received=ts(9)),
        row("k2", " a2 ", "\r\f", ts(8, 2), "anon only"),
        row("k3", nbsp, None, ts(8, 3), "nbsp anon"),
        row("k4", "\v", None, ts(8, 4), "vertical tab anon"),
    ]
    result = compute(rows)
    assert result.rows_read == 9
    assert result.dropped == {"null_id": 2, "null_timestamp": 2, "no_identifier": 1, "duplicate": 0}
    mapped = by_event(result.tables["mapped_tracks"])
    assert set(mapped) == {"k1", "k2", "k3", "k4"}
    assert (mapped["k1"]["anonymous_id"], mapped["k1"]["user_id"]) == (None, "u1")
    assert mapped["k1"]["event"] == "user only"
    assert (mapped["k2"]["anonymous_id"], mapped["k2"]["user_id"]) == (" a2 ", None)
    assert mapped["k2"]["dbt_visitor_id"] == " a2 "
    assert result.tables["aliases_mapping"] == [
        {"alias": "\v", "dbt_visitor_id": "\v"},
        {"alias": " a2 ", "dbt_visitor_id": " a2 "},
        {"alias": "u1", "dbt_visitor_id": "u1"},
        {"alias": nbsp, "dbt_visitor_id": nbsp},
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
