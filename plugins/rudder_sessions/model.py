"""The session model's shape: its steps, their tables and published columns.

One place that names everything, so the SQL templates, the operators, the CLI and the tests agree.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rudder_sessions.config import SourceConfig
from rudder_sessions.errors import RudderSessionsError

if TYPE_CHECKING:
    from rudder_sessions.dialects import Dialect

# The five modelling steps, in dependency order; each builds the table of the same name.
STEPS: tuple[str, ...] = (
    "aliases_mapping",
    "mapped_tracks",
    "session_tracks",
    "track_facts",
    "tracks_flow",
)
PLAN = "plan"
SCOPE = "scope"
CHECKS = "checks"
PUBLISH = "publish"
# Every phase of a run, in order: plan, the five steps (scope after the mapping, which it needs),
# the audit checks, publish.
PHASES: tuple[str, ...] = (PLAN, STEPS[0], SCOPE, *STEPS[1:], CHECKS, PUBLISH)

MODES: tuple[str, ...] = ("incremental", "backfill", "full_refresh")

# Staging tables a run may create, besides one per step.
RUN_TABLES: tuple[str, ...] = (
    "input",  # earlier versions of plan
    "reopened",  # earlier versions of scope
    "copies",
    "events",
    "changes",
    "touched",
    "run",
    "moves",
    "affected",
    "region",
)

SOURCE_COLUMNS: tuple[str, ...] = ("id", "anonymous_id", "user_id", "event", "timestamp", "received_at")


def published_columns(step: str, flow_length: int) -> tuple[str, ...]:
    """Columns of each published table: SPEC.md's columns first, documented extras after."""
    columns = {
        "aliases_mapping": (
            "alias",
            "dbt_visitor_id",
            "is_user_id",
            "identified_user_id",
            "identified_at",
            "identified_event_id",
        ),
        "mapped_tracks": (
            "event_id",
            "anonymous_id",
            "dbt_visitor_id",
            "timestamp",
            "event",
            "idle_time_minutes",
            "user_id",
            "received_at",
            "starts_session",
        ),
        "session_tracks": (
            "session_id",
            "dbt_visitor_id",
            "session_start_at",
            "session_sequence_number",
            "next_session_start_at",
        ),
        "track_facts": (
            "anonymous_id",
            "timestamp",
            "event_id",
            "event",
            "session_id",
            "dbt_visitor_id",
            "track_sequence_number",
        ),
        "tracks_flow": (
            "event_id",
            "session_id",
            "track_sequence_number",
            "event",
            "dbt_visitor_id",
            "timestamp",
            *(f"event_{k}" for k in range(2, flow_length + 1)),
        ),
    }
    return columns[step]


# The type of every published column, in the dialect-neutral names of `Dialect.column_type`: the
# targets are created once with these (their layout, grants and dependent views stay theirs), and
# a column the model gains later is added to an existing target in place.
COLUMN_TYPES: dict[str, str] = {
    "alias": "text",
    "dbt_visitor_id": "text",
    "is_user_id": "bool",
    "identified_user_id": "text",
    "identified_at": "timestamp",
    "identified_event_id": "text",
    "event_id": "text",
    "anonymous_id": "text",
    "timestamp": "timestamp",
    "event": "text",
    "idle_time_minutes": "float",
    "user_id": "text",
    "received_at": "timestamp",
    "starts_session": "bool",
    "session_id": "text",
    "session_start_at": "timestamp",
    "session_sequence_number": "bigint",
    "next_session_start_at": "timestamp",
    "track_sequence_number": "bigint",
}


def column_type(column: str) -> str:
    """Dialect-neutral type of a published column (`event_<k>` of the flow is text)."""
    if re.fullmatch(r"event_\d+", column):
        return "text"
    return COLUMN_TYPES[column]


def typed_columns(step: str, flow_length: int) -> tuple[tuple[str, str], ...]:
    """A published table's columns with their dialect-neutral types."""
    return tuple((c, column_type(c)) for c in published_columns(step, flow_length))


# The run state and the run log, column by column: created with these, and a column added here
# by an upgrade is added to an existing table in place (no publish fails on a missing column).
STATE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("source", "text"),
    ("watermark", "timestamp"),
    ("version", "bigint"),
    ("last_run_id", "text"),
    ("last_mode", "text"),
    ("last_window_start", "timestamp"),
    ("last_window_end", "timestamp"),
    ("updated_at", "timestamp"),
    # The model-shaping settings of the published model (SourceConfig.model_settings, as JSON).
    ("settings", "text"),
)
DROP_REASONS: tuple[str, ...] = ("null_id", "null_timestamp", "no_identifier", "duplicate")
RUN_LOG_COLUMNS: tuple[tuple[str, str], ...] = (
    ("run_id", "text"),
    ("source", "text"),
    ("mode", "text"),
    ("requested_mode", "text"),
    ("window_start", "timestamp"),
    ("window_end", "timestamp"),
    ("watermark_before", "timestamp"),
    ("watermark_after", "timestamp"),
    ("started_at", "timestamp"),
    ("finished_at", "timestamp"),
    ("outcome", "text"),
    ("rows_read", "bigint"),
    *((f"dropped_{reason}", "bigint") for reason in DROP_REASONS),
    ("events_changed", "bigint"),
    ("visitors_affected", "bigint"),
    ("visitors", "bigint"),
    ("sessions", "bigint"),
    *((f"rows_{step}", "bigint") for step in STEPS),
    # The state version the run was planned on: a run planned on an older version than the
    # stored one can never publish, so its staging tables are dead.
    ("state_version", "bigint"),
    # Why the run's mode differs from the requested one ("timeout_minutes changed 30 -> 60").
    ("reason", "text"),
)


def target_table_name(config: SourceConfig, step: str) -> str:
    """Published name of a step's table: the original dbt model names, behind an optional prefix."""
    return f"{config.table_prefix}dbt_{step}"


_RUN_KEY = re.compile(r"\A[0-9a-f]{12}\Z")


def run_key(run_id: str) -> str:
    """A short, identifier-safe key of a run id, naming that run's staging tables."""
    return hashlib.sha256(run_id.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Tables:
    """Quoted names of every table a run reads or writes."""

    config: SourceConfig
    dialect: Dialect
    key: str

    def __post_init__(self) -> None:
        if not _RUN_KEY.match(self.key):
            raise RudderSessionsError(f"invalid run key {self.key!r}")

    @property
    def source(self) -> str:
        return self.dialect.table(self.config.source_schema, self.config.source_table)

    def target(self, step: str) -> str:
        return self.dialect.table(self.config.target_schema, self.target_name(step))

    def target_name(self, step: str) -> str:
        return target_table_name(self.config, step)

    @property
    def state_name(self) -> str:
        return f"{self.config.table_prefix}rudder_sessions_state"

    @property
    def state(self) -> str:
        return self.dialect.table(self.config.target_schema, self.state_name)

    @property
    def runs_name(self) -> str:
        return f"{self.config.table_prefix}rudder_sessions_runs"

    @property
    def runs(self) -> str:
        return self.dialect.table(self.config.target_schema, self.runs_name)

    def stage_name(self, name: str) -> str:
        return f"{self.stage_prefix}{self.key}_{name}"

    @property
    def stage_prefix(self) -> str:
        """Every staging table of this source starts with it (runs are told apart by key)."""
        return f"{self.config.table_prefix}{STAGE_PREFIX}"

    def stage(self, name: str) -> str:
        return self.dialect.table(self.config.target_schema, self.stage_name(name))

    def stage_key(self, table_name: str) -> str | None:
        """The run key of one of this source's staging tables (from `stage_name`), else None."""
        prefix = self.stage_prefix.lower()
        rest = table_name.lower()[len(prefix) :] if table_name.lower().startswith(prefix) else ""
        key, sep, name = rest.partition("_")
        return key if sep and name and _RUN_KEY.match(key) else None

    def all_stages(self) -> tuple[str, ...]:
        return (*RUN_TABLES, *STEPS)


STAGE_PREFIX = "__rs_"
