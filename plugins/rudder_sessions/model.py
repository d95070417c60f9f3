"""The session model's shape: its steps, their tables and published columns.

One place that names everything, so the SQL templates, the operators, the CLI and the tests agree:
each published table is declared once, in `TABLES`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rudder_sessions.errors import RudderSessionsError

if TYPE_CHECKING:
    from rudder_sessions.config import SourceConfig
    from rudder_sessions.dialects import Dialect
    from rudder_sessions.event_tables import EventTable


@dataclass(frozen=True)
class TableLayout:
    """Partitioning and clustering of one published table (BigQuery partitions and clusters,
    Snowflake clusters, Redshift distributes by the first cluster column and sorts by them all)."""

    step: str
    partition_by: str | None
    cluster_by: tuple[str, ...]


# How publish finds the rows of a table that an incremental run or a backfill replaces.
BY_ALIAS = "alias"  # the rows of the aliases the run touched (the stage `touched`)
BY_VISITOR = "visitor"  # the affected visitors' rows from a time on (the stage `affected`)
BY_WHOLE_VISITOR = "whole_visitor"  # every row of the affected visitors (one row per visitor)
FOUND_BY = (BY_ALIAS, BY_VISITOR, BY_WHOLE_VISITOR)
# Dialect-neutral column types (`Dialect.column_type`); numeric is exact (DECIMAL(38, 9), BigQuery's
# NUMERIC): sums of money stay equal whichever order a run adds them in.
COLUMN_KINDS = ("text", "timestamp", "float", "bigint", "bool", "numeric")


@dataclass(frozen=True)
class Shape:
    """What of a source's settings decides a table's columns beyond its declaration: the flow's
    length, and the event columns the session facts read (carried through dbt_mapped_tracks)."""

    flow_length: int = 5
    first_columns: tuple[str, ...] = ()
    sum_columns: tuple[str, ...] = ()

    @property
    def carried(self) -> tuple[tuple[str, str], ...]:
        """The event columns dbt_mapped_tracks carries: first-touch ones as text, summed ones exact."""
        return (*((c, "text") for c in self.first_columns), *((c, "numeric") for c in self.sum_columns))

    @property
    def facts(self) -> tuple[tuple[str, str], ...]:
        """dbt_session_facts' columns of the carried ones: `first_<c>` and `total_<c>`."""
        return (
            *((f"first_{c}", "text") for c in self.first_columns),
            *((f"total_{c}", "numeric") for c in self.sum_columns),
        )


def as_shape(shape: Shape | int) -> Shape:
    """A Shape, or a flow length alone (the columns of a source without session-facts columns)."""
    return shape if isinstance(shape, Shape) else Shape(flow_length=shape)


@dataclass(frozen=True)
class Table:
    """One published table, declared once: its columns and types, key, time column, how publish
    finds its affected rows and its default layout. Publish, the checks, the DAG docs, the README,
    the tests and the benchmark all read `TABLES`; a new table is its SQL file, its declaration
    here and its part of the reference model (tests/spec_model.py)."""

    step: str  # the step that builds it, and its name behind `dbt_` and the source's prefix
    grain: str  # one row per ...; ends in a noun whose plural takes an s (the audit names rows so)
    about: str  # what a row holds (DAG docs); may name {timeout} and {following} (flow_length - 1)
    key: tuple[str, ...]  # unique in the table: the audit joins staged and published rows on it
    columns: tuple[tuple[str, str], ...]  # SPEC.md's columns with their dialect-neutral types
    extras: tuple[tuple[str, str], ...] = ()  # documented extra columns, published after SPEC's
    extras_note: str = ""  # what the extras tell (README)
    flow: bool = False  # followed by event_2 .. event_<flow_length> (text): the events after this one
    carries: bool = False  # followed by the source's carried event columns (Shape.carried)
    facts: bool = False  # followed by first_<c> and total_<c> of the carried columns (Shape.facts)
    # The time a visitor's rows are rewritten from, and the default partition column (None: the
    # table is rewritten by alias, with no time).
    time_column: str | None = None
    found_by: str = BY_VISITOR  # one of FOUND_BY
    # BY_VISITOR: the column of the stage `affected` that a visitor's rewritten part starts at
    # (its value NULL: the whole visitor): `reopen_at` for events, `sessions_from` for sessions.
    since: str | None = None
    cluster_by: tuple[str, ...] = ("dbt_visitor_id",)  # the default clustering (by visitor: how runs read)

    def __post_init__(self) -> None:
        """A declaration that publish or the audit could not follow fails at import, naming it."""
        names = [name for name, _ in self.all_typed]
        problems = [f"column {name!r} twice" for name in names if names.count(name) > 1]
        problems += [f"column {n!r}: unknown type {kind!r}" for n, kind in self.all_typed if kind not in COLUMN_KINDS]
        problems += [f"{c!r} (key, cluster) is not a column" for c in (*self.key, *self.cluster_by) if c not in names]
        if self.time_column is not None and (self.time_column, "timestamp") not in self.all_typed:
            problems.append(f"time column {self.time_column!r} is not a timestamp column")
        if self.found_by == BY_ALIAS and "alias" not in names:
            problems.append("found by alias without an alias column")
        if self.found_by == BY_VISITOR and not (self.time_column and self.since and "dbt_visitor_id" in names):
            problems.append("found by visitor: needs dbt_visitor_id, a time column and `since`")
        if self.found_by == BY_WHOLE_VISITOR and self.key != ("dbt_visitor_id",):
            problems.append("found by whole visitor: one row per visitor, keyed by dbt_visitor_id")
        if self.found_by not in FOUND_BY or not self.key:
            problems.append(f"found_by {self.found_by!r} and key {self.key!r}")
        if problems:
            raise RudderSessionsError(f"table {self.step!r}: {'; '.join(problems)}")

    @property
    def all_typed(self) -> tuple[tuple[str, str], ...]:
        """Its declared columns and types (the flow's event_<k> aside)."""
        return (*self.columns, *self.extras)

    def typed_columns(self, shape: Shape | int) -> tuple[tuple[str, str], ...]:
        """Every published column with its type: SPEC.md's first, then the ones the source's
        settings make (the flow's events, the facts of its columns), the documented extras after
        (and the carried event columns last)."""
        shape = as_shape(shape)
        flow = tuple((f"event_{k}", "text") for k in range(2, shape.flow_length + 1)) if self.flow else ()
        facts = shape.facts if self.facts else ()
        carried = shape.carried if self.carries else ()
        return (*self.columns, *flow, *facts, *self.extras, *carried)

    def column_names(self, shape: Shape | int) -> tuple[str, ...]:
        return tuple(name for name, _ in self.typed_columns(shape))

    def describe(self, timeout_minutes: float, flow_length: int) -> str:
        """What a row holds, for a source's timeout and flow length (DAG docs, Asset extras)."""
        return self.about.format(timeout=timeout_minutes, following=flow_length - 1)

    @property
    def plural(self) -> str:
        """What a row is, in the plural ('events', 'sessions'): how the audit names rows."""
        return f"{self.grain.split()[-1]}s"

    @property
    def layout(self) -> TableLayout:
        """The layout a target gets unless the source says otherwise: by visitor (publish and the
        steps read a visitor's rows) and by time (incremental runs rewrite them from a time on)."""
        return TableLayout(self.step, self.time_column, self.cluster_by)


# The tables, in dependency order: each step builds the table of its name from the ones before.
TABLES: tuple[Table, ...] = (
    Table(
        "aliases_mapping",
        grain="distinct identifier",
        about="an anonymous or user id, with the visitor it belongs to",
        key=("alias",),
        columns=(("alias", "text"), ("dbt_visitor_id", "text")),
        extras=(
            ("is_user_id", "bool"),
            ("identified_user_id", "text"),
            ("identified_at", "timestamp"),
            ("identified_event_id", "text"),
        ),
        extras_note="what decided the mapping",
        found_by=BY_ALIAS,
        cluster_by=("alias",),
    ),
    Table(
        "mapped_tracks",
        grain="clean event",
        about="its visitor and the idle time since the visitor's previous event",
        key=("event_id",),
        columns=(
            ("event_id", "text"),
            ("anonymous_id", "text"),
            ("dbt_visitor_id", "text"),
            ("timestamp", "timestamp"),
            ("event", "text"),
            ("idle_time_minutes", "float"),
        ),
        extras=(
            ("user_id", "text"),
            ("received_at", "timestamp"),
            ("starts_session", "bool"),
            ("event_table", "text"),
        ),
        extras_note="where it came from, then the event columns the session facts read",
        carries=True,
        time_column="timestamp",
        since="reopen_at",
    ),
    Table(
        "session_tracks",
        grain="session",
        about="a new one after {timeout} minutes of inactivity: its visitor, start and the next one's start",
        key=("session_id",),
        columns=(
            ("session_id", "text"),
            ("dbt_visitor_id", "text"),
            ("session_start_at", "timestamp"),
            ("session_sequence_number", "bigint"),
            ("next_session_start_at", "timestamp"),
        ),
        time_column="session_start_at",
        since="sessions_from",
    ),
    Table(
        "track_facts",
        grain="clean event",
        about="its session and its place in it",
        key=("event_id",),
        columns=(
            ("anonymous_id", "text"),
            ("timestamp", "timestamp"),
            ("event_id", "text"),
            ("event", "text"),
            ("session_id", "text"),
            ("dbt_visitor_id", "text"),
            ("track_sequence_number", "bigint"),
        ),
        extras=(("event_table", "text"),),
        extras_note="where it came from, then the event columns the session facts read",
        # the session facts aggregate this table alone: no join back to dbt_mapped_tracks
        carries=True,
        time_column="timestamp",
        since="reopen_at",
    ),
    Table(
        "tracks_flow",
        grain="clean event",
        about="the event and the {following} events that follow it in its session",
        key=("event_id",),
        columns=(
            ("event_id", "text"),
            ("session_id", "text"),
            ("track_sequence_number", "bigint"),
            ("event", "text"),
            ("dbt_visitor_id", "text"),
            ("timestamp", "timestamp"),
        ),
        flow=True,
        time_column="timestamp",
        since="reopen_at",
    ),
    Table(
        "session_facts",
        grain="session",
        about="what analysts ask of a session: its start, end, duration, events, first and last event, "
        "conversions, first-touch values and totals",
        key=("session_id",),
        columns=(
            ("session_id", "text"),
            ("dbt_visitor_id", "text"),
            ("session_start_at", "timestamp"),
            ("session_end_at", "timestamp"),
            ("duration_seconds", "float"),
            ("event_count", "bigint"),
            ("first_event", "text"),
            ("last_event", "text"),
            ("conversion_count", "bigint"),
            ("converted", "bool"),
        ),
        extras=(("session_sequence_number", "bigint"),),
        facts=True,
        time_column="session_start_at",
        # A session's facts change only when one of its events does: the sessions from the reopen
        # point on (a session carried over for its next start keeps its facts).
        since="reopen_at",
    ),
    Table(
        "user_session_facts",
        grain="visitor",
        about="a visitor's sessions in one row: first and last seen, counts of sessions, events and "
        "converted sessions, first and last session",
        key=("dbt_visitor_id",),
        columns=(
            ("dbt_visitor_id", "text"),
            ("first_seen_at", "timestamp"),
            ("last_seen_at", "timestamp"),
            ("session_count", "bigint"),
            ("event_count", "bigint"),
            ("converted_session_count", "bigint"),
            ("first_session_id", "text"),
            ("last_session_id", "text"),
        ),
        found_by=BY_WHOLE_VISITOR,
    ),
)
BY_STEP: dict[str, Table] = {table.step: table for table in TABLES}

# The modelling steps, in dependency order; each builds the table of the same name.
STEPS: tuple[str, ...] = tuple(table.step for table in TABLES)
PLAN = "plan"
SCOPE = "scope"
CHECKS = "checks"
PUBLISH = "publish"
# Every phase of a run, in order: plan, the modelling steps (scope after the mapping, which it needs),
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
    "reads",
    # the identity graph's (aliases_mapping by identity: graph)
    "links",
    "graph_seeds",
    "graph_nodes",
    "graph_rows",
    "graph_facts",
    "graph_edges",
    "graph_labels",
    "graph_step",
)

# The identity graph's label propagation repeats its step at most this often: a run whose labels
# still change then stops with an error rather than publish a partial graph. Each step at least
# doubles how far a label has travelled along a chain of links, so real graphs converge in a few.
GRAPH_ITERATIONS = 100

# What every event table must have, besides its event name's column and the watermark column.
SOURCE_COLUMNS: tuple[str, ...] = ("id", "anonymous_id", "user_id", "timestamp", "received_at")


def table(step: str) -> Table:
    """The declaration of a step's table."""
    return BY_STEP[step]


def published_columns(step: str, shape: Shape | int) -> tuple[str, ...]:
    """Columns of each published table: SPEC.md's columns first, documented extras after."""
    return BY_STEP[step].column_names(shape)


# The type of every published column, in the dialect-neutral names of `Dialect.column_type`: the
# targets are created once with these (their layout, grants and dependent views stay theirs), and
# a column the model gains later is added to an existing target in place. A name means one type
# in every table.
COLUMN_TYPES: dict[str, str] = {name: kind for t in TABLES for name, kind in t.all_typed}
_clashes = sorted({name for t in TABLES for name, kind in t.all_typed if COLUMN_TYPES[name] != kind})
if _clashes:
    raise RudderSessionsError(f"columns of different types in different tables: {', '.join(_clashes)}")


def column_type(column: str, shape: Shape | None = None) -> str:
    """Dialect-neutral type of a published column (`event_<k>` of the flow is text; the carried
    columns and their facts are typed by the source's shape)."""
    if re.fullmatch(r"event_\d+", column):
        return "text"
    if shape is not None:
        dynamic = dict((*shape.carried, *shape.facts))
        if column in dynamic:
            return dynamic[column]
    return COLUMN_TYPES[column]


def typed_columns(step: str, shape: Shape | int) -> tuple[tuple[str, str], ...]:
    """A published table's columns with their dialect-neutral types."""
    return BY_STEP[step].typed_columns(shape)


def audited_by_key() -> tuple[Table, ...]:
    """The tables found by visitor whose published rows the audit checks against the staged ones
    (no staged key published outside the recomputed part), one per key: a table keyed like an
    earlier one holds the same rows (track_facts and tracks_flow hold mapped_tracks' events, which
    the audit finds once in each), so its check would repeat that one."""
    seen: set[tuple[str, ...]] = set()
    audited = []
    for t in TABLES:
        if t.found_by == BY_VISITOR and t.key not in seen:
            seen.add(t.key)
            audited.append(t)
    return tuple(audited)


def tables_table() -> str:
    """The README's table of the published tables (kept equal to it by a test)."""
    lines = ["| table | one row per | columns |", "| --- | --- | --- |"]
    for t in TABLES:
        columns = ", ".join(f"`{name}`" for name, _ in t.columns)
        if t.flow:
            columns += ", `event_2` … `event_N`"
        if t.extras:
            note = f": {t.extras_note}" if t.extras_note else ""
            columns += f" (+ {', '.join(f'`{name}`' for name, _ in t.extras)}{note})"
        lines.append(f"| `dbt_{t.step}` | {t.grain} | {columns} |")
    return "\n".join(lines)


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
# One watermark per event table of a source (SPEC "Activity from several event tables"), advanced
# with the state row in publish's transaction.
WATERMARK_COLUMNS: tuple[tuple[str, str], ...] = (
    ("source", "text"),
    ("event_table", "text"),
    ("watermark", "timestamp"),
)
# The rows the last run read, by class: the rows of one event table with one watermark value, id
# and drop reason (a class is read whole or not at all, as a run reads by watermark value). The next
# incremental run reads most of them again in its lookback and counts only the copies beyond these
# (SPEC "Source": every read row is accounted for once).
COUNTED_COLUMNS: tuple[tuple[str, str], ...] = (
    ("source", "text"),
    ("event_table", "text"),
    ("watermark_value", "timestamp"),
    ("id", "text"),
    ("drop_reason", "text"),
    ("row_count", "bigint"),
)
DROP_REASONS: tuple[str, ...] = ("null_id", "null_timestamp", "no_identifier", "duplicate")
# What the identity graph did in a run (NULL under last_touch): ids read as NULL because they are
# junk (identity_exclude), label propagation steps, hub ids (max_users_per_anonymous_id), ids whose
# visitor changed, published visitors merged into another.
IDENTITY_COUNTS: tuple[str, ...] = (
    "identity_excluded",
    "identity_iterations",
    "identity_hub_ids",
    "identity_remapped",
    "identity_merged",
)
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
    # Rows read for the first time: a row an earlier incremental run read (in its lookback, or with a
    # NULL watermark value) is not counted again, in rows_new nor in the dropped counts.
    ("rows_new", "bigint"),
    *((f"dropped_{reason}", "bigint") for reason in DROP_REASONS),
    # Rows read whose watermark value lies after the run's start (SPEC "Runs"): processed, not
    # moving the watermark, read again until their time has passed.
    ("future_watermark", "bigint"),
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
    *((name, "bigint") for name in IDENTITY_COUNTS),
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

    def event_source(self, event_table: EventTable) -> str:
        return self.dialect.table(self.config.source_schema, event_table.table)

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
    def watermarks_name(self) -> str:
        return f"{self.config.table_prefix}rudder_sessions_watermarks"

    @property
    def watermarks(self) -> str:
        return self.dialect.table(self.config.target_schema, self.watermarks_name)

    @property
    def counted_name(self) -> str:
        return f"{self.config.table_prefix}rudder_sessions_counted"

    @property
    def counted(self) -> str:
        return self.dialect.table(self.config.target_schema, self.counted_name)

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


def unprefixed_table_names() -> tuple[str, ...]:
    """Every table name the model makes, without the source's prefix: the published tables, the
    state, watermark and run-log tables, and a run's staging tables (a 12-character run key)."""
    key = "0" * 12
    return (
        *(f"dbt_{step}" for step in STEPS),
        "rudder_sessions_state",
        "rudder_sessions_watermarks",
        "rudder_sessions_counted",
        "rudder_sessions_runs",
        *(f"{STAGE_PREFIX}{key}_{name}" for name in (*RUN_TABLES, *STEPS)),
    )
