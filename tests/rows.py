"""Source rows for the tests: one builder, `ev`, and the scenarios several test files share."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

BASE = datetime(2026, 5, 1, 8, 0, 0)


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()


def _time(value: float | datetime | None, base: datetime) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return base + timedelta(minutes=value)


def ev(
    id: str | None,
    anonymous_id: str | None = None,
    user_id: str | None = None,
    at: float | datetime | None = 0,
    event: str | None = "view",
    *,
    received: float | datetime | None = UNSET,
    received_delay: float | timedelta = 0,
    base: datetime = BASE,
    **columns: Any,
) -> dict[str, Any]:
    """A row of a source event table: `tracks`, or the one a keyword `event_table` names (e.g.
    `event_table="pages"`; tests/warehouses.py writes `event` to that table's event column).

    `at` is its timestamp: minutes after `base` (a number), a datetime, or None (a NULL timestamp).
    `received` is its received_at, given the same way; without it, `received_delay` (minutes, or a
    timedelta) after the timestamp, and NULL when the timestamp is. Further keyword arguments are
    further columns of the row (e.g. `revenue=Decimal("9.5")`, `context_campaign_source="ads"`)."""
    timestamp = _time(at, base)
    if received is UNSET:
        delay = received_delay if isinstance(received_delay, timedelta) else timedelta(minutes=received_delay)
        received_at = None if timestamp is None else timestamp + delay
    else:
        received_at = _time(received, base)
    return {
        "id": id,
        "anonymous_id": anonymous_id,
        "user_id": user_id,
        "event": event,
        "timestamp": timestamp,
        "received_at": received_at,
        **columns,
    }


# A published history and what lands after it, received a minute after each event: two devices,
# dev2 identified as u2 throughout; then dev1 identifies as u1, u2 gets a late event between two
# of its published sessions, an earlier-received copy of a published event, and a new user.
FIRST = [ev(f"a{i}", "dev1", None, 15 * i, received_delay=1) for i in range(8)] + [
    ev(f"b{i}", "dev2", "u2", 40 * i, received_delay=1) for i in range(6)
]
SECOND = [
    ev("login", "dev1", "u1", 130, "logged_in", received_delay=1),  # identifies dev1: its history moves to u1
    ev("b-late", "dev2", "u2", 50, "late", received_delay=1),  # lands between two published sessions of u2
    ev("a3", "dev1", None, 45, "copy"),  # an earlier-received copy of a published event
    ev("c1", None, "u3", 300, received_delay=1),
]
