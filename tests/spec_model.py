"""Independent pure-Python reference model of SPEC.md (the session model contract).

Tests compare the SQL pipeline's five tables with :func:`compute` run over the same source rows.
Written from SPEC.md alone, never from the SQL, plus these decisions where SPEC.md is silent:

- an id is blank (NULL) when stripping space, tab, LF, form feed and CR leaves ''; other ids are
  kept unchanged; ``id`` and ``event`` are not cleaned;
- drop reasons, first match wins: null_id, null_timestamp, no_identifier; dropped rows are not
  deduplicated;
- among copies of one ``id`` the smallest ``(received_at, timestamp, event, anonymous_id, user_id)``
  survives, NULL sorting last in each component;
- idle time is the gap in whole microseconds / 60e6; a session breaks when that gap is strictly
  greater than ``timeout_minutes * 60e6``.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rudder_sessions.model import table  # only for the order rows are listed in: by the tables' keys

BLANK_CHARS = " \t\n\f\r"
"""Characters whose only presence makes an id blank (treated as NULL)."""

DROP_REASONS = ("null_id", "null_timestamp", "no_identifier", "duplicate")

_MICROSECOND = dt.timedelta(microseconds=1)
_US_PER_MINUTE = 60_000_000


@dataclass
class SpecResult:
    """The five tables (rows sorted by their declared key), drop counts by reason, and rows read."""

    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)
    rows_read: int = 0


@dataclass(frozen=True)
class _Event:
    """One clean, deduplicated source event."""

    id: str
    anonymous_id: str | None
    user_id: str | None
    event: str | None
    timestamp: dt.datetime
    received_at: dt.datetime | None

    @property
    def order(self) -> tuple[dt.datetime, str]:
        """Event order within a visitor: ``(timestamp, id)``."""
        return (self.timestamp, self.id)


def clean_id(value: str | None) -> str | None:
    """Return None for a None or blank id, else the value unchanged (not stripped)."""
    if value is None or value.strip(BLANK_CHARS) == "":
        return None
    return value


def _none_last(value: Any) -> tuple[Any, ...]:
    """Sort key component placing None after every value."""
    return (1,) if value is None else (0, value)


def _dedup_key(ev: _Event) -> tuple[tuple[Any, ...], ...]:
    """Which copy of a duplicated id survives: smallest key wins (received first)."""
    return tuple(_none_last(v) for v in (ev.received_at, ev.timestamp, ev.event, ev.anonymous_id, ev.user_id))


def clean_rows(rows: Iterable[Mapping[str, Any]]) -> tuple[list[_Event], dict[str, int], int]:
    """Clean, drop (first matching reason wins) and deduplicate; return events, drop counts, rows read."""
    dropped = dict.fromkeys(DROP_REASONS, 0)
    rows_read = 0
    by_id: dict[str, list[_Event]] = defaultdict(list)
    for row in rows:
        rows_read += 1
        anonymous_id = clean_id(row["anonymous_id"])
        user_id = clean_id(row["user_id"])
        if row["id"] is None:
            dropped["null_id"] += 1
        elif row["timestamp"] is None:
            dropped["null_timestamp"] += 1
        elif anonymous_id is None and user_id is None:
            dropped["no_identifier"] += 1
        else:
            ev = _Event(row["id"], anonymous_id, user_id, row["event"], row["timestamp"], row["received_at"])
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


def visitor_id(ev: _Event, mapping: Mapping[str, str]) -> str:
    """``dbt_visitor_id``: the event's user_id, else the mapping of its anonymous_id."""
    if ev.user_id is not None:
        return ev.user_id
    assert ev.anonymous_id is not None  # rows with neither id were dropped
    return mapping[ev.anonymous_id]


def compute(rows: Iterable[Mapping[str, Any]], timeout_minutes: float = 30, flow_length: int = 5) -> SpecResult:
    """Compute the five SPEC.md tables from raw track rows, as a full rebuild would."""
    if flow_length < 1:
        raise ValueError(f"flow_length must be >= 1, got {flow_length}")
    timeout_us = timeout_minutes * _US_PER_MINUTE
    events, dropped, rows_read = clean_rows(rows)
    mapping = alias_mapping(events)

    by_visitor: dict[str, list[_Event]] = defaultdict(list)
    for ev in events:
        by_visitor[visitor_id(ev, mapping)].append(ev)

    mapped_tracks: list[dict[str, Any]] = []
    session_tracks: list[dict[str, Any]] = []
    track_facts: list[dict[str, Any]] = []
    tracks_flow: list[dict[str, Any]] = []

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
                    "user_id": ev.user_id,
                    "received_at": ev.received_at,
                    "starts_session": starts,
                }
            )
            previous = ev

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

    aliases = [{"alias": alias, "dbt_visitor_id": visitor} for alias, visitor in mapping.items()]
    tables = {
        "aliases_mapping": aliases,
        "mapped_tracks": mapped_tracks,
        "session_tracks": session_tracks,
        "track_facts": track_facts,
        "tracks_flow": tracks_flow,
    }
    return SpecResult(tables={t: _by_key(t, rows) for t, rows in tables.items()}, dropped=dropped, rows_read=rows_read)


def _by_key(step: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    key = table(step).key
    return sorted(rows, key=lambda row: tuple(row[column] for column in key))
