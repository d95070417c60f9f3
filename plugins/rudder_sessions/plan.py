"""A run's plan: its effective mode, window and the state it builds on, fixed before any step.

The plan travels from the plan task to the others as XCom (a plain dict) and is rendered into
their SQL, so every task of a run works on the same decision.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from rudder_sessions.errors import RudderSessionsError
from rudder_sessions.model import MODES, run_key
from rudder_sessions.timestamps import naive_utc

FULL_REFRESH, INCREMENTAL, BACKFILL = "full_refresh", "incremental", "backfill"
# Backfill windows outside these bounds are typos (a wrong year), not history worth a warehouse scan.
EARLIEST = datetime(2000, 1, 1)
FUTURE_SLACK = timedelta(days=1)


def check_request(
    mode: str, start: datetime | None, end: datetime | None, now: datetime | None = None
) -> tuple[datetime | None, datetime | None]:
    """Validate what a trigger, flag or Airflow backfill asks for; the window as naive UTC.

    One place for the rules, so the CLI, the trigger form and `airflow backfill` fail with the
    same one-line messages before anything touches the warehouse.
    """
    if mode not in MODES:
        raise RudderSessionsError(f"mode {mode!r} is not one of {', '.join(MODES)}")
    start, end = naive_utc(start), naive_utc(end)
    if mode != BACKFILL:
        if start is not None or end is not None:
            raise RudderSessionsError(f"start and end apply to mode backfill only, not to {mode}")
        return None, None
    if start is None or end is None:
        raise RudderSessionsError("a backfill needs a start and an end")
    if not start < end:
        raise RudderSessionsError(f"backfill end {end} must be after its start {start}")
    if start < EARLIEST:
        raise RudderSessionsError(f"backfill start {start} is before {EARLIEST:%Y-%m-%d}: check the year")
    latest = naive_utc(now or datetime.now(UTC)) + FUTURE_SLACK
    if start > latest:
        raise RudderSessionsError(f"backfill start {start} is in the future: check the year")
    if end > latest + timedelta(days=366):
        raise RudderSessionsError(f"backfill end {end} is more than a year ahead: check the year")
    return start, end


@dataclass(frozen=True)
class RunPlan:
    run_id: str
    mode: str
    requested_mode: str
    window_start: datetime | None = None
    window_end: datetime | None = None
    watermark_before: datetime | None = None
    state_version: int = 0
    noop: bool = False
    reason: str = ""
    # Source timestamp columns with a time zone, as "table.column": the plan converts them to UTC.
    aware_columns: tuple[str, ...] = ()
    # Columns the session facts read that an event table lacks ("table.column"): NULL for its rows.
    absent_columns: tuple[str, ...] = ()
    # Ids and event names of an integer, UUID or citext type ("table.column"): the plan reads them as text.
    text_columns: tuple[str, ...] = ()
    # Each event table's stored watermark (incremental and backfill runs): (table, watermark).
    watermarks: tuple[tuple[str, datetime | None], ...] = ()
    # Each event table's incremental window start (None: read all of it): (table, start).
    windows: tuple[tuple[str, datetime | None], ...] = ()
    # Carried event columns the published model has and these settings no longer read: a full
    # refresh drops them from dbt_mapped_tracks after its commit.
    retired_columns: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return run_key(self.run_id)

    @property
    def full(self) -> bool:
        return self.mode == FULL_REFRESH

    @property
    def incremental(self) -> bool:
        return self.mode == INCREMENTAL

    @property
    def backfill(self) -> bool:
        return self.mode == BACKFILL

    def watermark_of(self, table: str) -> datetime | None:
        """An event table's stored watermark (the source's, for a table the state does not name)."""
        return dict(self.watermarks).get(table, self.watermark_before)

    def window_start_of(self, table: str) -> datetime | None:
        """Where an incremental run starts reading an event table (None: all of it)."""
        return dict(self.windows).get(table, self.window_start)

    def to_dict(self) -> dict[str, Any]:
        def plain(value: Any) -> Any:
            if isinstance(value, datetime):
                return value.isoformat()
            if isinstance(value, list | tuple):
                return [plain(v) for v in value]
            return value

        return {k: plain(v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunPlan:
        values = dict(data)
        for name in ("aware_columns", "absent_columns", "text_columns", "retired_columns"):
            values[name] = tuple(values.get(name) or ())
        for name in ("watermarks", "windows"):
            values[name] = tuple(
                (table, datetime.fromisoformat(at) if at else None) for table, at in values.get(name) or ()
            )
        for name in ("window_start", "window_end", "watermark_before"):
            if values.get(name):
                values[name] = datetime.fromisoformat(values[name])
        return cls(**values)

    def describe(self, named: bool = True) -> str:
        """The run's mode (and why it differs from the one requested) and window; `named=False`
        leaves out the run id (where the run is already known: its DAG run note)."""
        run = f"run {self.run_id}: " if named else ""
        if self.noop:
            return f"{run}nothing to do ({self.reason})"
        text = f"{run}{self.mode}"
        if self.mode != self.requested_mode:
            text += f" (requested {self.requested_mode}: {self.reason})"
        if self.incremental:
            text += f", rows with watermark after {self.window_start}"
        if self.backfill:
            text += f", visitors with events in [{self.window_start}, {self.window_end})"
        if self.absent_columns:
            text += f"; NULL for columns the event tables lack: {', '.join(self.absent_columns)}"
        if self.text_columns:
            text += f"; integer, UUID or citext columns read as text: {', '.join(self.text_columns)}"
        return text
