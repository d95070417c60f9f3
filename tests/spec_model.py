"""Independent pure-Python reference model of SPEC.md (the session model contract).

Tests compare the SQL pipeline's tables with :func:`compute` run over the same source rows.
Written from SPEC.md alone, never from the SQL, plus these decisions where SPEC.md is silent:

- an id is blank (NULL) when stripping every Unicode White_Space character (SPEC "Source"; listed
  by hand in ``BLANK_CHARS``, as ``str.isspace`` also counts U+001C-U+001F) leaves ''; other ids
  are kept unchanged; ``id`` and ``event`` are not cleaned;
- drop reasons, first match wins: null_id, null_timestamp, no_identifier; dropped rows are not
  deduplicated;
- idle time is the gap in whole microseconds / 60e6; a session breaks when that gap is strictly
  greater than ``timeout_minutes * 60e6``.

Session cap (``max_session_events``; SPEC is silent, README "Capping a session's length"; the
default None is no cap and changes nothing above):

- decision: with ``max_session_events = K`` (an integer >= 2) a session also ends when it holds K
  events: an event whose gap does not exceed the timeout starts a new session when the current
  session already has K events. Within a run of events no more than the timeout apart this makes
  sessions start at its events number 1, K+1, 2K+1, … in ``(timestamp, id)`` order (Adobe
  Analytics ends a visit after 2,500 hits the same way);
- ``idle_time_minutes`` keeps its meaning (time since the visitor's previous event), so an event
  that starts a session by the cap may have a small idle time; sequence numbers, flows and facts
  follow the sessions as always, and two sessions may share a timestamp (ties are cut by ``id``).

Several event tables (SPEC "Activity from several event tables"):

- a source row may say which table it came from in ``event_table`` (absent or None: ``tracks``);
  its ``event`` already holds its event name, whatever the table calls that column; a row without
  a configured first or sum column has NULL there (its table lacks the column);
- all rows form one stream: deduplication on ``id`` is across tables. Among copies of one ``id``
  the smallest ``(received_at, timestamp, event, anonymous_id, user_id, event_table, *first
  values, *sum values)`` survives (first values cleaned, sum values as decimals, each in the
  configured order), NULL sorting last in each component;
- ``mapped_tracks`` and ``track_facts`` gain ``event_table`` right after SPEC's columns;
  ``mapped_tracks`` also carries, last, one column per configured first or sum column under its
  own name (a column in both lists is one column, holding the first-column value).

Session and visitor facts (SPEC "Session and visitor facts"):

- a first column's value is ``str(value)`` cleaned like an id (None or blank: NULL); a sum
  column's value is ``Decimal(str(value))`` quantized to 9 places (DECIMAL(38, 9), the decimal
  module's default half-even rounding past the 9th place), NULL staying NULL;
- ``duration_seconds`` is the session's span in whole microseconds / 1e6; ``first_event`` and
  ``last_event`` are the names of its first and last events by ``(timestamp, id)``; an event
  whose name is NULL never converts;
- ``first_<c>`` is the first non-NULL cleaned value in event order, ``total_<s>`` the exact sum
  of the non-NULL values (NULL when all are NULL); these follow SPEC's columns, in the configured
  order (first columns, then sum columns), and ``session_sequence_number`` comes last (an extra);
- ``user_session_facts``: ``first_seen_at`` is the first session's start, ``last_seen_at`` the
  last session's end, ``event_count`` all the visitor's events, ``converted_session_count`` its
  sessions with ``converted``;
- a first or sum column may not be named like a column ``mapped_tracks`` already has.

Identity graph (SPEC "Identity graph", ``identity="graph"``; the default ``last_touch`` keeps table
1's rule without exclusion, and refuses identifies or aliases rows rather than ignore them):

- junk: an anonymous_id, user_id or previous_id whose value stripped of the blank characters and
  ``str.lower()``-ed is an ``identity_exclude`` entry (compared stripped and lower-cased too) is
  NULL. Events are junk-cleaned before the drop reasons and deduplication (both ids junk:
  ``no_identifier``; the dedup key holds the nulled values); ``id`` and ``event`` never are;
- link rows (identifies: id, anonymous_id, user_id, timestamp; aliases: id, previous_id,
  user_id, timestamp; received_at unused) have their identifiers cleaned like an event's, ``id``
  left as is; a row with NULL id or NULL timestamp is ignored; link rows are not deduplicated
  (edges are a set, first-seen a minimum) and are not counted in ``rows_read`` or ``dropped``;
- nodes: every identifier of a clean event or a valid link row; edges: (anonymous_id, user_id) of
  clean events and identifies rows, (previous_id, user_id) of aliases rows;
- user values: values seen in any user_id column; the others are anonymous values;
- hubs: an anonymous value X whose distinct user_ids over clean events and identifies rows with
  anonymous_id = X (aliases do not count) number more than ``max_users_per_anonymous_id``. A hub
  loses every incident edge (aliases ones too) and maps to the visitor of the user_id of its
  latest such link by ``(timestamp, id)``, ties by the greater user_id. A user value is never a hub
  (so ``max_users_per_anonymous_id`` may be 0, never negative: a hub always has a latest link);
- a visitor is a connected component of the remaining graph; its id is the user value seen first
  (smallest ``(timestamp, id)`` over rows with it in a user_id column), else the anonymous value
  seen first (over anonymous_id and previous_id columns), ties by value in code point order;
- ``aliases_mapping`` has one row per node; an event's visitor is the mapping of its user_id when
  it has one, else of its anonymous_id.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rudder_sessions.model import table  # only for the order rows are listed in: by the tables' keys

BLANK_CHARS = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)
"""Characters whose only presence makes an id blank (treated as NULL)."""

DROP_REASONS = ("null_id", "null_timestamp", "no_identifier", "duplicate")

IDENTITY_MODES = ("last_touch", "graph")

DEFAULT_IDENTITY_EXCLUDE = ("", "null", "undefined", "anonymous", "0")
"""Identifier values that are junk (NULL) in graph mode, compared stripped and lower-cased."""

DEFAULT_EVENT_TABLE = "tracks"
"""The table of a source row that does not name its ``event_table``."""

_MICROSECOND = dt.timedelta(microseconds=1)
_US_PER_MINUTE = 60_000_000
_US_PER_SECOND = 1_000_000

_DECIMAL_PLACES = decimal.Decimal("0.000000001")  # DECIMAL(38, 9)
_DECIMAL_CONTEXT = decimal.Context(prec=38)

# Keys of the tables the package may not declare yet; the package's declaration wins once it does.
_LOCAL_KEYS: dict[str, tuple[str, ...]] = {
    "session_facts": ("session_id",),
    "user_session_facts": ("dbt_visitor_id",),
}

# Columns of a mapped_tracks row before its first and sum columns: those may not reuse the names.
_MAPPED_TRACKS_COLUMNS = (
    "event_id",
    "anonymous_id",
    "dbt_visitor_id",
    "timestamp",
    "event",
    "idle_time_minutes",
    "event_table",
    "user_id",
    "received_at",
    "starts_session",
)


@dataclass
class SpecResult:
    """The tables (rows sorted by their declared key), drop counts by reason, and rows read."""

    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)
    rows_read: int = 0
    hubs: set[str] = field(default_factory=set)  # graph mode's hub anonymous ids; last_touch has none


@dataclass(frozen=True)
class _Event:
    """One clean, deduplicated source event."""

    id: str
    anonymous_id: str | None
    user_id: str | None
    event: str | None
    timestamp: dt.datetime
    received_at: dt.datetime | None
    event_table: str = DEFAULT_EVENT_TABLE
    firsts: tuple[str | None, ...] = ()  # the first columns' cleaned values, in the configured order
    sums: tuple[decimal.Decimal | None, ...] = ()  # the sum columns' decimal values, in the configured order

    @property
    def order(self) -> tuple[dt.datetime, str]:
        """Event order within a visitor: ``(timestamp, id)``."""
        return (self.timestamp, self.id)


@dataclass(frozen=True)
class _Columns:
    """The configured session first and sum columns, each list without repeats."""

    first: tuple[str, ...] = ()
    sum: tuple[str, ...] = ()

    @classmethod
    def of(cls, first_columns: Sequence[str], sum_columns: Sequence[str]) -> _Columns:
        columns = cls(tuple(dict.fromkeys(first_columns)), tuple(dict.fromkeys(sum_columns)))
        clashes = sorted(set(columns.first + columns.sum) & set(_MAPPED_TRACKS_COLUMNS))
        if clashes:
            raise ValueError(f"session first/sum columns clash with mapped_tracks columns: {clashes}")
        return columns

    def values(self, ev: _Event) -> dict[str, Any]:
        """An event's first and sum columns under their names; a column in both lists holds its first value."""
        values: dict[str, Any] = dict(zip(self.first, ev.firsts, strict=True))
        for name, value in zip(self.sum, ev.sums, strict=True):
            values.setdefault(name, value)
        return values


def clean_id(value: str | None) -> str | None:
    """Return None for a None or blank id, else the value unchanged (not stripped)."""
    if value is None or value.strip(BLANK_CHARS) == "":
        return None
    return value


def exclusion(values: Iterable[str]) -> frozenset[str]:
    """The junk values as compared: stripped of the blank characters and lower-cased."""
    if isinstance(values, str):  # one value would otherwise count as its characters
        raise TypeError(f"identity_exclude must be a collection of values, not a string: {values!r}")
    return frozenset(str(v).strip(BLANK_CHARS).lower() for v in values)


def clean_identity(value: str | None, exclude: frozenset[str] = frozenset()) -> str | None:
    """An identifier cleaned like an id, then None when it is junk (see :func:`exclusion`)."""
    value = clean_id(value)
    if value is not None and value.strip(BLANK_CHARS).lower() in exclude:
        return None
    return value


def clean_first(value: Any) -> str | None:
    """A first column's value: its text, cleaned like an id (None or blank: None)."""
    return None if value is None else clean_id(str(value))


def to_decimal(value: Any) -> decimal.Decimal | None:
    """A sum column's value as DECIMAL(38, 9); None stays None."""
    if value is None:
        return None
    return decimal.Decimal(str(value)).quantize(_DECIMAL_PLACES, context=_DECIMAL_CONTEXT)


def _none_last(value: Any) -> tuple[Any, ...]:
    """Sort key component placing None after every value."""
    return (1,) if value is None else (0, value)


def _dedup_key(ev: _Event) -> tuple[tuple[Any, ...], ...]:
    """Which copy of a duplicated id survives: smallest key wins (received first)."""
    key = (ev.received_at, ev.timestamp, ev.event, ev.anonymous_id, ev.user_id, ev.event_table, *ev.firsts, *ev.sums)
    return tuple(_none_last(v) for v in key)


def clean_rows(
    rows: Iterable[Mapping[str, Any]], columns: _Columns = _Columns(), exclude: frozenset[str] = frozenset()
) -> tuple[list[_Event], dict[str, int], int]:
    """Clean (junk ids in ``exclude``, as :func:`exclusion` gives it, are NULL too), drop (first
    matching reason wins) and deduplicate across event tables; return events, drop counts, rows read."""
    dropped = dict.fromkeys(DROP_REASONS, 0)
    rows_read = 0
    by_id: dict[str, list[_Event]] = defaultdict(list)
    for row in rows:
        rows_read += 1
        anonymous_id = clean_identity(row["anonymous_id"], exclude)
        user_id = clean_identity(row["user_id"], exclude)
        if row["id"] is None:
            dropped["null_id"] += 1
        elif row["timestamp"] is None:
            dropped["null_timestamp"] += 1
        elif anonymous_id is None and user_id is None:
            dropped["no_identifier"] += 1
        else:
            event_table = row.get("event_table")
            ev = _Event(
                row["id"],
                anonymous_id,
                user_id,
                row["event"],
                row["timestamp"],
                row["received_at"],
                DEFAULT_EVENT_TABLE if event_table is None else event_table,
                tuple(clean_first(row.get(name)) for name in columns.first),
                tuple(to_decimal(row.get(name)) for name in columns.sum),
            )
            by_id[ev.id].append(ev)
    events = []
    for copies in by_id.values():
        events.append(min(copies, key=_dedup_key))
        dropped["duplicate"] += len(copies) - 1
    return events, dropped, rows_read


def alias_mapping(events: list[_Event]) -> dict[str, str]:
    """Map every distinct identifier to its dbt_visitor_id.

    A user_id maps to itself (this wins when the value is also an anonymous_id); an anonymous_id
    maps to the user_id of its latest identified event by ``(timestamp, id)``, else to itself.
    """
    mapping: dict[str, str] = {}
    latest_order: dict[str, tuple[dt.datetime, str]] = {}
    for ev in events:
        if ev.anonymous_id is None:
            continue
        mapping.setdefault(ev.anonymous_id, ev.anonymous_id)
        if ev.user_id is not None:
            seen = latest_order.get(ev.anonymous_id)
            if seen is None or ev.order > seen:
                latest_order[ev.anonymous_id] = ev.order
                mapping[ev.anonymous_id] = ev.user_id
    for ev in events:
        if ev.user_id is not None:
            mapping[ev.user_id] = ev.user_id
    return mapping


@dataclass(frozen=True)
class _Link:
    """One valid identifies or aliases row, reduced to what the graph reads."""

    kind: str  # "identifies" or "aliases"
    id: str
    anonymous: str | None  # anonymous_id (identifies) or previous_id (aliases)
    user_id: str | None
    timestamp: dt.datetime

    @property
    def order(self) -> tuple[dt.datetime, str]:
        return (self.timestamp, self.id)


def clean_links(
    identifies: Iterable[Mapping[str, Any]], aliases: Iterable[Mapping[str, Any]], exclude: frozenset[str]
) -> list[_Link]:
    """The valid link rows, identifiers cleaned and junk-nulled; no deduplication (repeats are harmless)."""
    links = []
    for kind, rows, anonymous_column in (
        ("identifies", identifies, "anonymous_id"),
        ("aliases", aliases, "previous_id"),
    ):
        for row in rows:
            if row["id"] is None or row["timestamp"] is None:
                continue
            anonymous = clean_identity(row[anonymous_column], exclude)
            user_id = clean_identity(row["user_id"], exclude)
            links.append(_Link(kind, row["id"], anonymous, user_id, row["timestamp"]))
    return links


@dataclass(frozen=True)
class IdentityGraph:
    """Graph mode's identity: every node's dbt_visitor_id, and the hub anonymous ids."""

    mapping: dict[str, str]
    hubs: frozenset[str]


def identity_graph(
    events: Iterable[_Event],
    identifies: Iterable[Mapping[str, Any]] = (),
    aliases: Iterable[Mapping[str, Any]] = (),
    exclude: Iterable[str] = DEFAULT_IDENTITY_EXCLUDE,
    max_users: int = 1,
) -> IdentityGraph:
    """Map every identifier of the clean ``events`` and the link rows to its visitor (module docstring).

    ``events`` come from :func:`clean_rows`; their ids are junk-cleaned again here (a no-op when
    ``clean_rows`` had the same exclusion), so the graph never sees a junk value.
    """
    junk = exclusion(exclude)
    # Every row as (kind, anonymous side, user_id, (timestamp, id)).
    sightings: list[tuple[str, str | None, str | None, tuple[dt.datetime, str]]] = [
        ("event", clean_identity(ev.anonymous_id, junk), clean_identity(ev.user_id, junk), ev.order) for ev in events
    ]
    sightings += [
        (link.kind, link.anonymous, link.user_id, link.order) for link in clean_links(identifies, aliases, junk)
    ]

    users = {user for _, _, user, _ in sightings if user is not None}
    first_user: dict[str, tuple[dt.datetime, str]] = {}
    first_anonymous: dict[str, tuple[dt.datetime, str]] = {}
    linked_users: dict[str, set[str]] = defaultdict(set)
    latest_link: dict[str, tuple[dt.datetime, str, str]] = {}
    for kind, anonymous, user, order in sightings:
        if user is not None and (user not in first_user or order < first_user[user]):
            first_user[user] = order
        if anonymous is not None and (anonymous not in first_anonymous or order < first_anonymous[anonymous]):
            first_anonymous[anonymous] = order
        if kind != "aliases" and anonymous is not None and user is not None:
            linked_users[anonymous].add(user)
            link = (*order, user)  # ties in (timestamp, id): the greater user_id is the latest
            if anonymous not in latest_link or link > latest_link[anonymous]:
                latest_link[anonymous] = link
    hubs = frozenset(x for x, linked in linked_users.items() if x not in users and len(linked) > max_users)

    parent = {node: node for node in (*first_user, *first_anonymous)}

    def root(node: str) -> str:
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for _, anonymous, user, _ in sightings:
        if anonymous is not None and user is not None and anonymous not in hubs:
            parent[root(anonymous)] = root(user)

    members: dict[str, list[str]] = defaultdict(list)
    for node in parent:
        if node not in hubs:
            members[root(node)].append(node)
    canonical: dict[str, str] = {}
    for component, nodes in members.items():
        named = [(first_user[v], v) for v in nodes if v in users] or [(first_anonymous[v], v) for v in nodes]
        canonical[component] = min(named)[1]
    mapping = {node: canonical[root(node)] for node in parent if node not in hubs}
    for hub in hubs:
        mapping[hub] = mapping[latest_link[hub][2]]
    return IdentityGraph(mapping, hubs)


def graph_mapping(
    events: Iterable[_Event],
    identifies: Iterable[Mapping[str, Any]] = (),
    aliases: Iterable[Mapping[str, Any]] = (),
    exclude: Iterable[str] = DEFAULT_IDENTITY_EXCLUDE,
    max_users: int = 1,
) -> dict[str, str]:
    """Graph mode's dbt_aliases_mapping as a dict: every node to its dbt_visitor_id."""
    return identity_graph(events, identifies, aliases, exclude, max_users).mapping


def visitor_id(ev: _Event, mapping: Mapping[str, str]) -> str:
    """``dbt_visitor_id``: the mapping of the event's user_id (in last_touch a user_id maps to
    itself), else of its anonymous_id."""
    if ev.user_id is not None:
        return mapping[ev.user_id]
    assert ev.anonymous_id is not None  # rows with neither id were dropped
    return mapping[ev.anonymous_id]


def compute(
    rows: Iterable[Mapping[str, Any]],
    timeout_minutes: float = 30,
    flow_length: int = 5,
    *,
    conversion_events: Iterable[str] = (),
    first_columns: Sequence[str] = (),
    sum_columns: Sequence[str] = (),
    identity: str = "last_touch",
    identifies: Iterable[Mapping[str, Any]] = (),
    aliases: Iterable[Mapping[str, Any]] = (),
    identity_exclude: Iterable[str] = DEFAULT_IDENTITY_EXCLUDE,
    max_users_per_anonymous_id: int = 1,
    max_session_events: int | None = None,
) -> SpecResult:
    """Compute the SPEC.md tables from raw event rows of one or more event tables (and, in graph
    mode, the identifies and aliases rows), as a full rebuild would."""
    if flow_length < 1:
        raise ValueError(f"flow_length must be >= 1, got {flow_length}")
    if identity not in IDENTITY_MODES:
        raise ValueError(f"identity must be one of {IDENTITY_MODES}, got {identity!r}")
    identifies, aliases = list(identifies), list(aliases)
    if identity == "last_touch" and (identifies or aliases):
        raise ValueError("identifies and aliases rows are read in identity='graph' mode only")
    if max_users_per_anonymous_id < 0:
        raise ValueError(f"max_users_per_anonymous_id must be >= 0, got {max_users_per_anonymous_id}")
    if max_session_events is not None and max_session_events < 2:
        raise ValueError(f"max_session_events must be >= 2 or None, got {max_session_events}")
    columns = _Columns.of(first_columns, sum_columns)
    conversions = frozenset(conversion_events)
    timeout_us = timeout_minutes * _US_PER_MINUTE
    hubs: set[str] = set()
    if identity == "graph":
        events, dropped, rows_read = clean_rows(rows, columns, exclusion(identity_exclude))
        graph = identity_graph(events, identifies, aliases, identity_exclude, max_users_per_anonymous_id)
        mapping, hubs = graph.mapping, set(graph.hubs)
    else:
        events, dropped, rows_read = clean_rows(rows, columns)
        mapping = alias_mapping(events)

    by_visitor: dict[str, list[_Event]] = defaultdict(list)
    for ev in events:
        by_visitor[visitor_id(ev, mapping)].append(ev)

    mapped_tracks: list[dict[str, Any]] = []
    session_tracks: list[dict[str, Any]] = []
    track_facts: list[dict[str, Any]] = []
    tracks_flow: list[dict[str, Any]] = []
    session_facts: list[dict[str, Any]] = []
    user_session_facts: list[dict[str, Any]] = []

    for visitor, visitor_events in by_visitor.items():
        visitor_events.sort(key=lambda e: e.order)
        sessions: list[list[_Event]] = []
        previous: _Event | None = None
        for ev in visitor_events:
            if previous is None:
                idle = None
                starts = True
            else:
                gap_us = (ev.timestamp - previous.timestamp) // _MICROSECOND
                idle = gap_us / _US_PER_MINUTE
                starts = gap_us > timeout_us
            # The cap: a session that already holds max_session_events events is full; the next
            # event of the same gap session opens the next one (whatever its idle time).
            if not starts and max_session_events is not None and len(sessions[-1]) == max_session_events:
                starts = True
            if starts:
                sessions.append([])
            sessions[-1].append(ev)
            mapped_tracks.append(
                {
                    "event_id": ev.id,
                    "anonymous_id": ev.anonymous_id,
                    "dbt_visitor_id": visitor,
                    "timestamp": ev.timestamp,
                    "event": ev.event,
                    "idle_time_minutes": idle,
                    "event_table": ev.event_table,
                    "user_id": ev.user_id,
                    "received_at": ev.received_at,
                    "starts_session": starts,
                    **columns.values(ev),
                }
            )
            previous = ev

        visitor_sessions: list[dict[str, Any]] = []
        for number, session in enumerate(sessions, start=1):
            session_id = f"{number} - {visitor}"
            next_start = sessions[number][0].timestamp if number < len(sessions) else None
            session_tracks.append(
                {
                    "session_id": session_id,
                    "dbt_visitor_id": visitor,
                    "session_start_at": session[0].timestamp,
                    "session_sequence_number": number,
                    "next_session_start_at": next_start,
                }
            )
            visitor_sessions.append(_session_facts(session_id, visitor, number, session, conversions, columns))
            for position, ev in enumerate(session):
                track_facts.append(
                    {
                        "anonymous_id": ev.anonymous_id,
                        "timestamp": ev.timestamp,
                        "event_id": ev.id,
                        "event": ev.event,
                        "session_id": session_id,
                        "dbt_visitor_id": visitor,
                        "track_sequence_number": position + 1,
                        "event_table": ev.event_table,
                    }
                )
                flow = {
                    "event_id": ev.id,
                    "session_id": session_id,
                    "track_sequence_number": position + 1,
                    "event": ev.event,
                    "dbt_visitor_id": visitor,
                    "timestamp": ev.timestamp,
                }
                for k in range(2, flow_length + 1):
                    later = position + k - 1
                    flow[f"event_{k}"] = session[later].event if later < len(session) else None
                tracks_flow.append(flow)
        session_facts.extend(visitor_sessions)
        user_session_facts.append(
            {
                "dbt_visitor_id": visitor,
                "first_seen_at": visitor_sessions[0]["session_start_at"],
                "last_seen_at": visitor_sessions[-1]["session_end_at"],
                "session_count": len(visitor_sessions),
                "event_count": len(visitor_events),
                "converted_session_count": sum(1 for s in visitor_sessions if s["converted"]),
                "first_session_id": visitor_sessions[0]["session_id"],
                "last_session_id": visitor_sessions[-1]["session_id"],
            }
        )

    alias_rows = [{"alias": alias, "dbt_visitor_id": visitor} for alias, visitor in mapping.items()]
    tables = {
        "aliases_mapping": alias_rows,
        "mapped_tracks": mapped_tracks,
        "session_tracks": session_tracks,
        "track_facts": track_facts,
        "tracks_flow": tracks_flow,
        "session_facts": session_facts,
        "user_session_facts": user_session_facts,
    }
    return SpecResult(
        tables={t: _by_key(t, rows) for t, rows in tables.items()}, dropped=dropped, rows_read=rows_read, hubs=hubs
    )


def _session_facts(
    session_id: str,
    visitor: str,
    number: int,
    session: list[_Event],
    conversions: frozenset[str],
    columns: _Columns,
) -> dict[str, Any]:
    """One session_facts row: a session's span, size, first and last events, conversions, first
    values and totals (``session`` is in event order)."""
    start, end = session[0].timestamp, session[-1].timestamp
    conversion_count = sum(1 for ev in session if ev.event is not None and ev.event in conversions)
    facts: dict[str, Any] = {
        "session_id": session_id,
        "dbt_visitor_id": visitor,
        "session_start_at": start,
        "session_end_at": end,
        "duration_seconds": ((end - start) // _MICROSECOND) / _US_PER_SECOND,
        "event_count": len(session),
        "first_event": session[0].event,
        "last_event": session[-1].event,
        "conversion_count": conversion_count,
        "converted": conversion_count > 0,
    }
    for index, name in enumerate(columns.first):
        facts[f"first_{name}"] = next((ev.firsts[index] for ev in session if ev.firsts[index] is not None), None)
    for index, name in enumerate(columns.sum):
        values = [ev.sums[index] for ev in session if ev.sums[index] is not None]
        facts[f"total_{name}"] = _total(values) if values else None
    facts["session_sequence_number"] = number
    return facts


def _total(values: list[decimal.Decimal]) -> decimal.Decimal:
    """The exact sum of DECIMAL(38, 9) values."""
    total = decimal.Decimal(0)
    for value in values:
        total = _DECIMAL_CONTEXT.add(total, value)
    return total.quantize(_DECIMAL_PLACES, context=_DECIMAL_CONTEXT)


def _key(step: str) -> tuple[str, ...]:
    """A table's key: as the package declares it, else as this model knows it."""
    try:
        return table(step).key
    except KeyError:
        return _LOCAL_KEYS[step]


def _by_key(step: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    key = _key(step)
    return sorted(rows, key=lambda row: tuple(row[column] for column in key))
