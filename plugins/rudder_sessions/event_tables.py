"""The event tables of a source (SPEC "Activity from several event tables"): each names its table in
the source schema and where its event name comes from, a column or a fixed name.

RudderStack's own call tables need no more than their name: `tracks` names its events in
`event`, `pages` and `screens` in `name`. A fixed name reaches SQL as a quoted literal, never as
SQL text, and every table and column name is an identifier checked here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rudder_sessions.identifiers import IDENTIFIER, IDENTIFIER_RULE

# RudderStack's call tables and the column that names their events.
KNOWN_EVENT_COLUMNS: dict[str, str] = {"tracks": "event", "pages": "name", "screens": "name"}
MAX_EVENT_TABLES = 20
EVENT_NAME = re.compile(r"\A[^\x00-\x1f\x7f]{1,255}\Z")


@dataclass(frozen=True)
class EventTable:
    """One event table: its name, and its event name's column or fixed value (exactly one)."""

    table: str
    event_column: str | None = "event"
    event_name: str | None = None

    def describe(self) -> str:
        """As the README, the run log and the settings diff show it: `pages(name)`, `orders='order_completed'`."""
        if self.event_name is not None:
            return f"{self.table}={self.event_name!r}"
        return f"{self.table}({self.event_column})"

    def as_setting(self) -> dict[str, str]:
        """The stored form (run state settings, the YAML form)."""
        if self.event_name is not None:
            return {"table": self.table, "event_name": self.event_name}
        return {"table": self.table, "event_column": str(self.event_column)}


def default_event_tables(source_table: str) -> tuple[EventTable, ...]:
    """A source without `event_tables`: its `source_table` alone, events named by `event` (as
    before sources listed their tables, whatever the table's name)."""
    return (EventTable(source_table),)


def _entry(value: Any, where: str) -> EventTable:
    if isinstance(value, EventTable):
        return value
    if isinstance(value, str):
        value = {"table": value}
    if not isinstance(value, Mapping):
        raise ValueError(f"{where}: must be a table name or a mapping with table and event_column or event_name")
    unknown = sorted(set(value) - {"table", "event_column", "event_name"})
    if unknown:
        raise ValueError(f"{where}: unknown key {unknown[0]!r} (allowed: table, event_column, event_name)")
    table = value.get("table")
    if not isinstance(table, str) or not IDENTIFIER.match(table):
        raise ValueError(f"{where}.table: {table!r} is not a valid identifier ({IDENTIFIER_RULE})")
    column, name = value.get("event_column"), value.get("event_name")
    if column is not None and name is not None:
        raise ValueError(f"{where}: give event_column or event_name, not both")
    if name is not None:
        if not isinstance(name, str) or not EVENT_NAME.match(name) or not name.strip():
            raise ValueError(f"{where}.event_name: {name!r} must be 1 to 255 printable characters")
        return EventTable(table, None, name)
    if column is None:
        column = KNOWN_EVENT_COLUMNS.get(table.lower())
        if column is None:
            raise ValueError(
                f"{where}: say where {table}'s event name comes from: event_column (a column of it) or "
                "event_name (one fixed name for every row)"
            )
    if not isinstance(column, str) or not IDENTIFIER.match(column):
        raise ValueError(f"{where}.event_column: {column!r} is not a valid identifier ({IDENTIFIER_RULE})")
    return EventTable(table, column, None)


def parse_event_tables(value: Any) -> tuple[EventTable, ...]:
    """The configured list, validated; ValueError names the first problem."""
    if isinstance(value, str | Mapping):
        value = [value]
    if not isinstance(value, list | tuple) or not value:
        raise ValueError("must be a non-empty list of event tables (e.g. [tracks, pages, screens])")
    if len(value) > MAX_EVENT_TABLES:
        raise ValueError(f"at most {MAX_EVENT_TABLES} event tables, got {len(value)}")
    tables = tuple(_entry(entry, f"[{index}]") for index, entry in enumerate(value))
    names = [t.table.lower() for t in tables]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"table {twice[0]!r} is listed twice")
    return tables
