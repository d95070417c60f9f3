"""The session cap (`max_session_events`, README "Capping a session's length"): a session also ends
after K events, on every engine, in full refreshes and in incremental runs that reopen a capped
session (appended events, a late event shifting every later boundary, boundaries among events that
share a timestamp), and a change of the cap rebuilds the model and says so."""

from __future__ import annotations

from datetime import timedelta

import pytest

from rows import BASE, ev

K = 3


def by_event(rows: list[dict]) -> dict[str, dict]:
    return {row["event_id"]: row for row in rows}


def test_a_gap_session_of_seven_events_makes_sessions_of_three_three_and_one(wh):
    # One gap session of seven events a minute apart, then (two hours later) a gap session of two.
    rows = [ev(f"e{i}", "a1", None, i, f"step-{i}") for i in range(1, 8)]
    rows += [ev("late-1", "a1", None, 130, "back"), ev("late-2", "a1", None, 131, "again")]
    wh.load_source(rows)
    config = wh.config(max_session_events=K, flow_length=3)
    summary = wh.runner(config).run("r1", "full_refresh")
    actual = wh.assert_matches_spec(config)
    assert summary["sessions"] == 4
    sessions = {r["session_id"]: r for r in actual["session_tracks"]}
    assert sorted(sessions) == ["1 - a1", "2 - a1", "3 - a1", "4 - a1"]
    starts = [sessions[f"{n} - a1"]["session_start_at"] for n in range(1, 5)]
    assert starts == [BASE + timedelta(minutes=m) for m in (1, 4, 7, 130)]
    assert [sessions[f"{n} - a1"]["next_session_start_at"] for n in range(1, 5)] == [*starts[1:], None]
    facts = by_event(actual["track_facts"])
    placed = [(facts[f"e{i}"]["session_id"], facts[f"e{i}"]["track_sequence_number"]) for i in range(1, 8)]
    assert placed == [
        ("1 - a1", 1), ("1 - a1", 2), ("1 - a1", 3),
        ("2 - a1", 1), ("2 - a1", 2), ("2 - a1", 3),
        ("3 - a1", 1),
    ]  # fmt: skip
    assert (facts["late-1"]["session_id"], facts["late-2"]["track_sequence_number"]) == ("4 - a1", 2)
    flow = by_event(actual["tracks_flow"])
    assert [flow["e1"]["event_2"], flow["e1"]["event_3"]] == ["step-2", "step-3"]
    assert [flow["e2"]["event_2"], flow["e2"]["event_3"]] == ["step-3", None]  # the session ends after e3
    assert [flow["e4"]["event_2"], flow["e4"]["event_3"]] == ["step-5", "step-6"]
    assert flow["e7"]["event_2"] is None
    mapped = by_event(actual["mapped_tracks"])
    assert [mapped[f"e{i}"]["starts_session"] for i in range(1, 8)] == [True, False, False, True, False, False, True]
    assert mapped["e4"]["idle_time_minutes"] == 1.0  # idle time stays the time since the previous event
    counts = {r["session_id"]: r["event_count"] for r in actual["session_facts"]}
    assert [counts[f"{n} - a1"] for n in range(1, 5)] == [3, 3, 1, 2]
    (visitor,) = actual["user_session_facts"]
    assert (visitor["session_count"], visitor["last_session_id"]) == (4, "4 - a1")


def test_sessions_split_among_events_that_share_a_timestamp(wh):
    # Five events at one instant and two a minute later: the cap splits the instant's events.
    rows = [ev(f"t{i}", "a1", None, 0, f"tie-{i}") for i in range(5)] + [
        ev("n1", "a1", None, 1),
        ev("n2", "a1", None, 1),
    ]
    wh.load_source(rows)
    config = wh.config(max_session_events=2, flow_length=3)
    wh.runner(config).run("r1", "full_refresh")
    actual = wh.assert_matches_spec(config)
    facts = by_event(actual["track_facts"])
    assert [facts[f"t{i}"]["session_id"] for i in range(5)] == ["1 - a1", "1 - a1", "2 - a1", "2 - a1", "3 - a1"]
    flow = by_event(actual["tracks_flow"])
    assert [flow["t2"]["event_2"], flow["t2"]["event_3"]] == ["tie-3", None]


def test_appending_to_a_capped_open_session_recomputes_its_last_part_and_equals_a_rebuild(wh):
    # A bot: thirty events a minute apart, then three batches continuing its open gap session.
    config = wh.config(max_session_events=K, flow_length=3, lookback="1 hour")
    wh.load_source([ev(f"b{i:03d}", "bot", None, i, f"hit-{i % 4}") for i in range(30)])
    runner = wh.runner(config)
    runner.run("r0", "full_refresh")
    for batch, first in enumerate((30, 32, 37)):
        rows = [
            ev(f"b{i:03d}", "bot", None, i, f"hit-{i % 4}", received_delay=60 * 24)
            for i in range(first, first + 2 + batch)
        ]
        wh.load_source(rows, append=True)
        summary = runner.run(f"r{batch + 1}", "incremental")
        assert summary["mode"] == "incremental"
        wh.assert_matches_spec(config)
        # Only the last capped session is reopened: at most K published events plus the new ones.
        assert summary["rows_mapped_tracks"] <= K + len(rows)


@pytest.mark.parametrize("tied", [False, True], ids=["distinct-times", "tied-times"])
def test_a_late_event_in_a_long_capped_gap_session_shifts_every_later_boundary(wh, tied):
    # Twenty events one minute apart (tied: in pairs sharing a minute, so that boundaries fall
    # between events of one timestamp), and later a returning visit.
    minute = (lambda i: i // 2) if tied else (lambda i: i)
    rows = [ev(f"e{i:02d}", "a1", None, minute(i), f"step-{i}") for i in range(20)]
    rows += [ev("r1", "a1", None, 300, "return")]
    config = wh.config(max_session_events=K, flow_length=3, lookback="1 hour")
    wh.load_source(rows)
    runner = wh.runner(config)
    runner.run("r0", "full_refresh")
    before = by_event(wh.read_tables(config)["track_facts"])
    # A late event inside the gap session, received now: every later session boundary moves by one.
    wh.load_source([ev("e07x", "a1", None, minute(7) + 0.5, "late", received_delay=600)], append=True)
    summary = runner.run("r1", "incremental")
    assert summary["mode"] == "incremental"
    actual = wh.assert_matches_spec(config)
    after = by_event(actual["track_facts"])
    moved = [i for i in range(20) if before[f"e{i:02d}"]["session_id"] != after[f"e{i:02d}"]["session_id"]]
    assert moved and min(moved) >= 6
    # Then an event appended to the returning visit, and one more late event early in the day.
    wh.load_source([ev("r2", "a1", None, 301, "again", received_delay=600)], append=True)
    assert runner.run("r2", "incremental")["mode"] == "incremental"
    wh.assert_matches_spec(config)
    wh.load_source([ev("e00x", "a1", None, 0.25, "early", received_delay=900)], append=True)
    assert runner.run("r3", "incremental")["mode"] == "incremental"
    wh.assert_matches_spec(config)


def test_a_returning_visitor_after_a_session_split_among_tied_events(wh):
    # The last session before the return starts among events of one timestamp: the run cannot
    # start from it, and reopens from the session before.
    rows = [ev(f"t{i}", "a1", None, 0, f"tie-{i}") for i in range(5)]
    config = wh.config(max_session_events=2, flow_length=2, lookback="1 hour")
    wh.load_source(rows)
    runner = wh.runner(config)
    runner.run("r0", "full_refresh")
    wh.load_source([ev("back", "a1", None, 120, "back", received_delay=600)], append=True)
    assert runner.run("r1", "incremental")["mode"] == "incremental"
    wh.assert_matches_spec(config)
    wh.load_source([ev("t9", "a1", None, 0, "tie-9", received_delay=900)], append=True)
    assert runner.run("r2", "incremental")["mode"] == "incremental"
    wh.assert_matches_spec(config)


def test_a_changed_cap_rebuilds_and_names_the_change(wh):
    wh.load_source([ev(f"e{i}", "a1", None, i) for i in range(7)])
    wh.runner(wh.config()).run("r1", "full_refresh")
    for run, (before, after) in enumerate((("(unset)", 3), ("3", 4), ("4", None)), start=2):
        wh.load_source([ev(f"n{run}", "a1", None, 7 + run)], append=True)
        config = wh.config(max_session_events=after)
        summary = wh.runner(config).run(f"r{run}", "incremental")
        shown = "(unset)" if after is None else after
        assert (summary["mode"], summary["reason"]) == (
            "full_refresh",
            f"max_session_events changed {before} -> {shown}",
        )
        wh.assert_matches_spec(config)
    # Unset again, it is the stored model's value: the next run is incremental.
    wh.load_source([ev("n9", "a1", None, 20)], append=True)
    assert wh.runner(wh.config()).run("r9", "incremental")["mode"] == "incremental"
