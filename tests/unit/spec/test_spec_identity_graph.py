"""Tests of the reference model's identity graph mode, on hand-written rows with expectations worked
out from SPEC.md "Identity graph" and the model's decisions (tests/spec_model.py docstring)."""

from __future__ import annotations

import datetime as dt
from functools import partial
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rows import ev
from spec_model import SpecResult, clean_rows, compute, exclusion, graph_mapping


def ts(hour: int, minute: int = 0, second: int = 0, microsecond: int = 0) -> dt.datetime:
    """A naive UTC timestamp on a fixed day."""
    return dt.datetime(2024, 3, 1, hour, minute, second, microsecond)


row = partial(ev, context_ip="ignored")
graph = partial(compute, identity="graph")


def page(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """A row of the source's pages table."""
    return row(*args, event_table="pages", **kwargs)


def identify(id: str | None, anonymous_id: str | None, user_id: str | None, at: dt.datetime | None) -> dict[str, Any]:
    """A row of the identifies table (with a column the model ignores)."""
    return {
        "id": id,
        "anonymous_id": anonymous_id,
        "user_id": user_id,
        "timestamp": at,
        "received_at": at,
        "context_ip": "ignored",
    }


def alias(id: str | None, previous_id: str | None, user_id: str | None, at: dt.datetime | None) -> dict[str, Any]:
    """A row of the aliases table."""
    return {"id": id, "previous_id": previous_id, "user_id": user_id, "timestamp": at, "received_at": at}


def mapping(result: SpecResult) -> dict[str, str]:
    return {r["alias"]: r["dbt_visitor_id"] for r in result.tables["aliases_mapping"]}


def column(result: SpecResult, table: str, name: str) -> dict[str, Any]:
    """One column of an event-grained table, by event id."""
    return {r["event_id"]: r[name] for r in result.tables[table]}


NO_DROPS = {"null_id": 0, "null_timestamp": 0, "no_identifier": 0, "duplicate": 0}


def test_a_chain_of_five_hops_across_events_identifies_and_aliases_is_one_visitor() -> None:
    # a1 -(event k3)- u1 -(alias l1)- u2 -(identify i1)- a2 -(alias l2)- u3 -(event k2)- a3
    rows = [
        row("k1", "a1", None, ts(9), "open"),
        row("k2", "a3", "u3", ts(9, 10), "login"),  # u3 seen first, as a user_id: the visitor
        page("k3", "a1", "u1", ts(9, 20), "Account"),
        row("k4", "a2", None, ts(10), "view"),  # 40 minutes after k3: session 2
        row("k5", None, "u2", ts(10, 5), "buy"),
    ]
    identifies = [identify("i1", "a2", "u2", ts(9, 40))]
    aliases = [
        alias("l1", "u1", "u2", ts(9, 30)),  # u1 as previous_id is still a user value (k3)
        alias("l2", "a2", "u3", ts(9, 50)),  # aliases do not count toward a2's users: no hub
    ]
    result = graph(rows, identifies=identifies, aliases=aliases)
    assert result.hubs == set()
    assert result.dropped == NO_DROPS
    assert result.tables["aliases_mapping"] == [
        {"alias": "a1", "dbt_visitor_id": "u3"},
        {"alias": "a2", "dbt_visitor_id": "u3"},
        {"alias": "a3", "dbt_visitor_id": "u3"},
        {"alias": "u1", "dbt_visitor_id": "u3"},
        {"alias": "u2", "dbt_visitor_id": "u3"},
        {"alias": "u3", "dbt_visitor_id": "u3"},
    ]
    assert column(result, "mapped_tracks", "dbt_visitor_id") == dict.fromkeys(["k1", "k2", "k3", "k4", "k5"], "u3")
    assert column(result, "track_facts", "session_id") == {
        "k1": "1 - u3",
        "k2": "1 - u3",
        "k3": "1 - u3",
        "k4": "2 - u3",
        "k5": "2 - u3",
    }
    assert column(result, "track_facts", "track_sequence_number") == {"k1": 1, "k2": 2, "k3": 3, "k4": 1, "k5": 2}
    assert column(result, "track_facts", "event_table")["k3"] == "pages"
    assert result.tables["session_tracks"] == [
        {
            "session_id": "1 - u3",
            "dbt_visitor_id": "u3",
            "session_start_at": ts(9),
            "session_sequence_number": 1,
            "next_session_start_at": ts(10),
        },
        {
            "session_id": "2 - u3",
            "dbt_visitor_id": "u3",
            "session_start_at": ts(10),
            "session_sequence_number": 2,
            "next_session_start_at": None,
        },
    ]

    # Without the link rows only the events' edges remain: four visitors.
    alone = graph(rows)
    assert mapping(alone) == {"a1": "u1", "u1": "u1", "a3": "u3", "u3": "u3", "a2": "a2", "u2": "u2"}
    assert column(alone, "mapped_tracks", "dbt_visitor_id") == {
        "k1": "u1",
        "k2": "u3",
        "k3": "u1",
        "k4": "a2",
        "k5": "u2",
    }
    # Without the middle hop (alias l1) the chain splits in two, each named by its own first user.
    split = graph(rows, identifies=identifies, aliases=aliases[1:])
    assert mapping(split) == {"a1": "u1", "u1": "u1", "u2": "u3", "a2": "u3", "u3": "u3", "a3": "u3"}


def test_an_alias_merges_two_users_with_sessions_and_renumbers_them_across_both_histories() -> None:
    rows = [
        row("m1", "a1", "zoe", ts(8), "login"),
        row("m2", None, "zoe", ts(8, 10), "view"),
        row("n1", "b1", "adam", ts(8, 20), "login"),
        row("m3", None, "zoe", ts(9), "view"),
        row("n2", "b1", None, ts(9, 20), "view"),
    ]
    # Two visitors, exactly as last_touch has them.
    apart = graph(rows)
    assert apart == compute(rows)
    assert column(apart, "track_facts", "session_id") == {
        "m1": "1 - zoe",
        "m2": "1 - zoe",
        "m3": "2 - zoe",  # 50 minutes after m2
        "n1": "1 - adam",
        "n2": "2 - adam",  # 60 minutes after n1
    }

    # The alias points zoe at adam, but zoe was seen first (08:00 against 08:20): zoe names the visitor.
    merged = graph(rows, aliases=[alias("r1", "zoe", "adam", ts(12))])
    assert mapping(merged) == {"a1": "zoe", "adam": "zoe", "b1": "zoe", "zoe": "zoe"}
    assert column(merged, "track_facts", "session_id") == {
        "m1": "1 - zoe",
        "m2": "1 - zoe",
        "n1": "1 - zoe",
        "m3": "2 - zoe",  # 40 minutes after n1
        "n2": "2 - zoe",
    }
    assert column(merged, "track_facts", "track_sequence_number") == {"m1": 1, "m2": 2, "n1": 3, "m3": 1, "n2": 2}
    assert column(merged, "mapped_tracks", "idle_time_minutes") == {
        "m1": None,
        "m2": 10.0,
        "n1": 10.0,
        "m3": 40.0,
        "n2": 20.0,
    }
    assert merged.tables["session_tracks"] == [
        {
            "session_id": "1 - zoe",
            "dbt_visitor_id": "zoe",
            "session_start_at": ts(8),
            "session_sequence_number": 1,
            "next_session_start_at": ts(9),
        },
        {
            "session_id": "2 - zoe",
            "dbt_visitor_id": "zoe",
            "session_start_at": ts(9),
            "session_sequence_number": 2,
            "next_session_start_at": None,
        },
    ]
    assert merged.tables["user_session_facts"] == [
        {
            "dbt_visitor_id": "zoe",
            "first_seen_at": ts(8),
            "last_seen_at": ts(9, 20),
            "session_count": 2,
            "event_count": 5,
            "converted_session_count": 0,
            "first_session_id": "1 - zoe",
            "last_session_id": "2 - zoe",
        }
    ]


KIOSK_ROWS = [
    row("k0", "phone", "ann", ts(9), "login"),
    row("k1", "kiosk", None, ts(10), "view"),
    row("k2", "kiosk", "ann", ts(10, 1), "login"),
    row("k3", "kiosk", "cat", ts(10, 10), "login"),
    row("k4", "kiosk", None, ts(10, 12), "view"),
]
KIOSK_IDENTIFIES = [identify("i1", "kiosk", "bob", ts(10, 5)), identify("i2", "kiosk", "bob", ts(10, 11))]
KIOSK_ALIASES = [alias("l1", "kiosk", "dan", ts(11))]  # an aliases edge of the kiosk


@pytest.mark.parametrize("max_users", [1, 2])
def test_a_kiosk_shared_by_three_users_is_a_hub_and_keeps_them_apart(max_users: int) -> None:
    result = graph(KIOSK_ROWS, identifies=KIOSK_IDENTIFIES, aliases=KIOSK_ALIASES, max_users_per_anonymous_id=max_users)
    assert result.hubs == {"kiosk"}
    # The kiosk's latest link is the identify i2 (10:11) of bob; its aliases edge to dan is gone too.
    assert mapping(result) == {"ann": "ann", "bob": "bob", "cat": "cat", "dan": "dan", "kiosk": "bob", "phone": "ann"}
    assert column(result, "mapped_tracks", "dbt_visitor_id") == {
        "k0": "ann",
        "k1": "bob",  # anonymous-only kiosk events: the latest link's user
        "k2": "ann",
        "k3": "cat",
        "k4": "bob",
    }
    assert column(result, "track_facts", "session_id") == {
        "k0": "1 - ann",
        "k1": "1 - bob",
        "k2": "2 - ann",  # 61 minutes after k0
        "k3": "1 - cat",
        "k4": "1 - bob",
    }
    assert [r["dbt_visitor_id"] for r in result.tables["user_session_facts"]] == ["ann", "bob", "cat"]


def test_a_kiosk_within_the_limit_merges_everyone() -> None:
    result = graph(KIOSK_ROWS, identifies=KIOSK_IDENTIFIES, aliases=KIOSK_ALIASES, max_users_per_anonymous_id=3)
    assert result.hubs == set()
    # Users seen first: ann 09:00 (k0), bob 10:05 (i1), cat 10:10 (k3), dan 11:00 (l1).
    assert mapping(result) == dict.fromkeys(["ann", "bob", "cat", "dan", "kiosk", "phone"], "ann")
    assert column(result, "track_facts", "session_id") == {
        "k0": "1 - ann",
        "k1": "2 - ann",
        "k2": "2 - ann",
        "k3": "2 - ann",
        "k4": "2 - ann",
    }


def test_junk_ids_are_null_before_drops_and_deduplication() -> None:
    rows = [
        row("j1", "anonymous", "u1", ts(10), "login"),
        row("j2", "a1", "null", ts(10, 1), "view"),
        row("j3", "a1", " Undefined ", ts(10, 2), "view"),
        row("j4", "0", "NULL", ts(10, 3), "view"),  # both junk: no_identifier
        row("null", "a2", None, ts(10, 4), "null"),  # an event id and name are never junk
        row("j5", "\tANONYMOUS\n", "u1", ts(10, 5), "view"),
        row("j6", "anonymous", "undefined", ts(10, 6), "view"),  # both junk: no_identifier
        # Two copies of d1, equal but for the anonymous_id: NULL sorts last, so the a9 copy wins.
        row("d1", "NULL", "u3", ts(11), "view", received=ts(11, 1)),
        row("d1", "a9", "u3", ts(11), "view", received=ts(11, 1)),
    ]
    identifies = [identify("i1", "null", "u1", ts(9)), identify("i2", "a1", "0", ts(9))]
    aliases = [alias("l1", "undefined", "u2", ts(9))]
    result = graph(rows, identifies=identifies, aliases=aliases)
    assert result.rows_read == 9
    assert result.dropped == {"null_id": 0, "null_timestamp": 0, "no_identifier": 2, "duplicate": 1}
    assert mapping(result) == {"a1": "a1", "a2": "a2", "a9": "u3", "u1": "u1", "u2": "u2", "u3": "u3"}
    mapped = {r["event_id"]: r for r in result.tables["mapped_tracks"]}
    assert {k: (v["anonymous_id"], v["user_id"], v["dbt_visitor_id"]) for k, v in mapped.items()} == {
        "j1": (None, "u1", "u1"),
        "j2": ("a1", None, "a1"),
        "j3": ("a1", None, "a1"),
        "null": ("a2", None, "a2"),
        "j5": (None, "u1", "u1"),
        "d1": ("a9", "u3", "u3"),
    }
    assert mapped["null"]["event"] == "null"

    # last_touch knows no junk: "null" is a visitor, j4 is kept and the "NULL" copy of d1 wins ('N' < 'a').
    plain = compute(rows)
    assert plain.dropped == {"null_id": 0, "null_timestamp": 0, "no_identifier": 0, "duplicate": 1}
    assert mapping(plain)["null"] == "null"
    assert column(plain, "mapped_tracks", "anonymous_id")["d1"] == "NULL"

    # A custom list replaces the default one; its entries are compared stripped and lower-cased too.
    custom = [
        row("c1", " Guest", "null", ts(12), "view"),
        row("c2", "GUEST", None, ts(12, 1), "view"),
        row("c3", "0", None, ts(12, 2), "view"),
    ]
    result = graph(custom, identity_exclude=(" gUEST ",))
    assert result.dropped == {"null_id": 0, "null_timestamp": 0, "no_identifier": 1, "duplicate": 0}
    assert mapping(result) == {"null": "null", "0": "0"}
    assert column(result, "mapped_tracks", "dbt_visitor_id") == {"c1": "null", "c3": "0"}
    with pytest.raises(TypeError):
        graph(custom, identity_exclude="guest")  # one value, not a list of its characters


def test_ties_in_seen_first_and_in_the_latest_link() -> None:
    # "a" (event t1) and "B" (identify t1) are both first seen at (10:00, "t1"): code point order, 'B' < 'a'.
    rows = [row("t1", "d1", "a", ts(10), "login")]
    aliases = [alias("l1", "a", "B", ts(11))]
    result = graph(rows, identifies=[identify("t1", "d2", "B", ts(10))], aliases=aliases)
    assert mapping(result) == {"B": "B", "a": "B", "d1": "B", "d2": "B"}
    assert column(result, "track_facts", "session_id") == {"t1": "1 - B"}
    # The timestamp decides first, then the id, and only then the value.
    later = graph(rows, identifies=[identify("t1", "d2", "B", ts(10, 0, 0, 1))], aliases=aliases)
    assert set(mapping(later).values()) == {"a"}
    earlier_id = graph(rows, identifies=[identify("t0", "d2", "B", ts(10))], aliases=aliases)
    assert set(mapping(earlier_id).values()) == {"B"}
    later_id = graph(rows, identifies=[identify("t2", "d2", "B", ts(10))], aliases=aliases)
    assert set(mapping(later_id).values()) == {"a"}

    # A hub's latest link: an event and an identify at (12:00, "z"): the greater user_id, 'al' > 'Bo'.
    rows = [row("z", "k", "Bo", ts(12), "login"), row("y", "k", None, ts(12, 5), "view")]
    result = graph(rows, identifies=[identify("z", "k", "al", ts(12))])
    assert result.hubs == {"k"}
    assert mapping(result) == {"Bo": "Bo", "al": "al", "k": "al"}
    assert column(result, "mapped_tracks", "dbt_visitor_id") == {"z": "Bo", "y": "al"}


def test_a_value_seen_as_a_user_id_is_never_a_hub() -> None:
    rows = [
        row("s1", "shared", "u8", ts(10), "login"),
        row("s2", "shared", "u9", ts(10, 5), "login"),
        row("s3", "a5", "shared", ts(10, 10), "login"),  # "shared" is a user value
        row("s4", "shared", None, ts(10, 20), "view"),
    ]
    result = graph(rows)
    assert result.hubs == set()
    # One component; users first seen: u8 10:00, u9 10:05, shared 10:10.
    assert mapping(result) == dict.fromkeys(["a5", "shared", "u8", "u9"], "u8")
    assert set(column(result, "mapped_tracks", "dbt_visitor_id").values()) == {"u8"}

    # Without s3 it is an anonymous value linked to two users: a hub, mapped to s2's u9.
    hub = graph(rows[:2] + rows[3:])
    assert hub.hubs == {"shared"}
    assert mapping(hub) == {"shared": "u9", "u8": "u8", "u9": "u9"}
    assert column(hub, "mapped_tracks", "dbt_visitor_id") == {"s1": "u8", "s2": "u9", "s4": "u9"}

    # A user_id in the aliases table alone makes it a user value too (seen first there, at 09:00).
    aliased = graph(rows[:2] + rows[3:], aliases=[alias("l1", "old", "shared", ts(9))])
    assert aliased.hubs == set()
    assert mapping(aliased) == dict.fromkeys(["old", "shared", "u8", "u9"], "shared")


def test_link_only_identifiers_get_rows_and_invalid_link_rows_are_ignored() -> None:
    rows = [row("e1", "a1", None, ts(10), "view")]
    identifies = [
        identify("i1", "a1", "u1", ts(10, 5)),
        identify("i2", "a7", "u7", ts(8)),  # no event at all
        identify("i3", "a8", None, ts(8)),  # a node without an edge
        identify(None, "a1", "u2", ts(9)),  # NULL id: ignored (else a1 would be a hub)
        identify("i4", "a1", "u3", None),  # NULL timestamp: ignored
        identify("i5", " ", "u1", ts(9)),  # blank anonymous_id: NULL, the row still names u1
    ]
    aliases = [
        alias("l1", "old", "new", ts(7)),
        alias(None, "a1", "u4", ts(9)),
        alias("l2", "a1", "u5", None),
    ]
    result = graph(rows, identifies=identifies, aliases=aliases)
    assert result.hubs == set()
    assert result.rows_read == 1  # link rows are neither read events nor drops
    assert result.dropped == NO_DROPS
    assert mapping(result) == {"a1": "u1", "u1": "u1", "a7": "u7", "u7": "u7", "a8": "a8", "new": "new", "old": "new"}
    assert column(result, "track_facts", "session_id") == {"e1": "1 - u1"}
    assert [r["dbt_visitor_id"] for r in result.tables["user_session_facts"]] == ["u1"]  # visitors with events

    # Link rows are not deduplicated, and repeating them changes nothing.
    twice = graph(rows, identifies=identifies * 2, aliases=aliases * 3)
    assert twice == result
    # A repeated identify is one user for the hub count.
    kiosk = graph([row("k1", "k", "u9", ts(10))], identifies=[identify("i9", "k", "u9", ts(11))] * 2)
    assert kiosk.hubs == set()
    assert mapping(kiosk) == {"k": "u9", "u9": "u9"}


def test_last_touch_stays_the_default_and_refuses_link_rows() -> None:
    rows = [
        row("v1", "a", None, ts(10), "view"),
        row("v2", "a", "u1", ts(10, 5), "login"),
        row("v3", "a", "u2", ts(10, 10), "login"),
        row("v4", "null", None, ts(10, 15), "view"),
    ]
    default = compute(rows)
    assert default == compute(rows, identity="last_touch", identity_exclude=("a",), max_users_per_anonymous_id=5)
    assert default.hubs == set()
    # Table 1's rule: a follows its latest user, u1 keeps its own event, no junk.
    assert mapping(default) == {"a": "u2", "null": "null", "u1": "u1", "u2": "u2"}
    # The graph mode differs here: a is a hub (two users), mapped the same way.
    assert graph(rows).hubs == {"a"}

    with pytest.raises(ValueError, match="graph"):
        compute(rows, identifies=[identify("i1", "a", "u1", ts(9))])
    with pytest.raises(ValueError, match="graph"):
        compute(rows, identity="last_touch", aliases=[alias("l1", "a", "u1", ts(9))])
    with pytest.raises(ValueError):
        compute(rows, identity="Graph")
    with pytest.raises(ValueError):
        graph(rows, max_users_per_anonymous_id=-1)


# -- Properties over random small graphs -------------------------------------------------------

ANONYMOUS_SIDE = st.sampled_from(["a0", "a1", "a2", "u0", "null", None])  # u0: a user value in that column
USER_SIDE = st.sampled_from(["u0", "u1", "u2", "a0", "null", None])  # a0: sometimes a user value too
MINUTE = st.integers(0, 3)  # few values: many ties


def _clean(value: str | None) -> str | None:
    return None if value == "null" else value


@st.composite
def link_rows(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """Events (unique ids), identifies and aliases rows (ids that collide across tables)."""
    events = [
        row(f"e{i}", anonymous, user, ts(10, minute))
        for i, (anonymous, user, minute) in enumerate(
            draw(st.lists(st.tuples(ANONYMOUS_SIDE, USER_SIDE, MINUTE), max_size=8))
        )
    ]
    identifies = [
        identify(f"e{i}", anonymous, user, ts(10, minute))
        for i, (anonymous, user, minute) in enumerate(
            draw(st.lists(st.tuples(ANONYMOUS_SIDE, USER_SIDE, MINUTE), max_size=4))
        )
    ]
    aliases = [
        alias(f"e{i}", previous, user, ts(10, minute))
        for i, (previous, user, minute) in enumerate(
            draw(st.lists(st.tuples(ANONYMOUS_SIDE, USER_SIDE, MINUTE), max_size=4))
        )
    ]
    return events, identifies, aliases


def _components(
    events: list[dict[str, Any]], identifies: list[dict[str, Any]], aliases: list[dict[str, Any]], hubs: set[str]
) -> list[set[str]]:
    """The connected components of the graph without the hubs' edges, by breadth-first search."""
    pairs = [(_clean(r["anonymous_id"]), _clean(r["user_id"])) for r in [*events, *identifies]]
    pairs += [(_clean(r["previous_id"]), _clean(r["user_id"])) for r in aliases]
    nodes = {v for pair in pairs for v in pair if v is not None}
    neighbours: dict[str, set[str]] = {node: set() for node in nodes}
    for x, y in pairs:
        if x is not None and y is not None and x not in hubs:
            neighbours[x].add(y)
            neighbours[y].add(x)
    components, seen = [], set()
    for start in sorted(nodes - hubs):
        if start in seen:
            continue
        component, frontier = {start}, [start]
        while frontier:
            for next_node in neighbours[frontier.pop()] - component:
                component.add(next_node)
                frontier.append(next_node)
        seen |= component
        components.append(component)
    return components


@settings(max_examples=150, deadline=None)
@given(graph_rows=link_rows(), max_users=st.integers(0, 3), data=st.data())
def test_the_graph_ignores_row_order_and_gives_each_component_one_visitor(
    graph_rows: tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]],
    max_users: int,
    data: st.DataObject,
) -> None:
    events, identifies, aliases = graph_rows
    result = graph(events, identifies=identifies, aliases=aliases, max_users_per_anonymous_id=max_users)
    shuffled = graph(
        data.draw(st.permutations(events)),
        identifies=data.draw(st.permutations(identifies)),
        aliases=data.draw(st.permutations(aliases)),
        max_users_per_anonymous_id=max_users,
    )
    assert shuffled == result

    visitors = mapping(result)
    users = {_clean(r["user_id"]) for r in [*events, *identifies, *aliases]} - {None}
    assert "null" not in visitors
    assert not result.hubs & users
    components = _components(events, identifies, aliases, result.hubs)
    assert set(visitors) == set().union(*components) | result.hubs
    names = [{visitors[node] for node in component} for component in components]
    assert all(len(name) == 1 for name in names)
    assert len({name.pop() for name in names}) == len(components)  # distinct components, distinct visitors
    for component in components:
        visitor = visitors[next(iter(component))]
        assert visitor in component
        assert (visitor in users) == bool(component & users)
    for hub in result.hubs:  # a hub follows one of the users it is linked to
        linked = {_clean(r["user_id"]) for r in [*events, *identifies] if _clean(r["anonymous_id"]) == hub} - {None}
        assert len(linked) > max_users
        assert visitors[hub] in {visitors[user] for user in linked}
    for mapped in result.tables["mapped_tracks"]:
        assert mapped["dbt_visitor_id"] == visitors[mapped["user_id"] or mapped["anonymous_id"]]

    # The helper gives the same mapping from the cleaned events.
    clean, _, _ = clean_rows(events, exclude=exclusion(("null", "")))
    assert graph_mapping(clean, identifies, aliases, ("null",), max_users) == visitors


@settings(max_examples=150, deadline=None)
@given(
    graph_rows=link_rows(),
    max_users=st.integers(0, 3),
    edge=st.tuples(st.sampled_from(["events", "identifies", "aliases"]), ANONYMOUS_SIDE, USER_SIDE, MINUTE),
)
def test_adding_an_edge_never_splits_a_visitor(
    graph_rows: tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]],
    max_users: int,
    edge: tuple[str, str | None, str | None, int],
) -> None:
    """An aliases row never does; an event or identify row can make its anonymous id a hub (that is
    the guard's purpose), so those are added with a limit no graph here reaches (4 user values)."""
    events, identifies, aliases = graph_rows
    kind, anonymous, user, minute = edge
    if kind != "aliases":
        max_users = 4
    before = mapping(graph(events, identifies=identifies, aliases=aliases, max_users_per_anonymous_id=max_users))
    if kind == "events":
        events = [*events, row("new", anonymous, user, ts(10, minute))]
    elif kind == "identifies":
        identifies = [*identifies, identify("new", anonymous, user, ts(10, minute))]
    else:
        aliases = [*aliases, alias("new", anonymous, user, ts(10, minute))]
    after = mapping(graph(events, identifies=identifies, aliases=aliases, max_users_per_anonymous_id=max_users))
    assert set(before) <= set(after)
    for node in before:
        for other in before:
            if before[node] == before[other]:
                assert after[node] == after[other]
