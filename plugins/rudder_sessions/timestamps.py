"""The model's time: UTC without a zone. A leaf module, so that the dialects, the plan, the
engine, the CLI and the operators convert timestamps the same way without importing each other."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def naive_utc(value: datetime | None) -> datetime | None:
    """The model's time: UTC without a zone (naive values are taken as UTC already)."""
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


def parse_timestamp(value: Any) -> datetime:
    """An ISO date or timestamp from a flag or a trigger parameter, as naive UTC; ValueError if not ISO."""
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return naive_utc(parsed)
