"""Source configuration: one validated, immutable object per RudderStack source schema.

Everything that later reaches SQL as an identifier is checked here, so a typo in the YAML file
or a trigger form fails with one line naming the source and the field instead of a SQL error.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from rudder_sessions.errors import ConfigError
from rudder_sessions.event_tables import EventTable, default_event_tables, parse_event_tables
from rudder_sessions.identifiers import IDENTIFIER_LENGTH, WHITESPACE
from rudder_sessions.model import (
    COLUMN_TYPES,
    SOURCE_COLUMNS,
    STAGE_PREFIX,
    STEPS,
    Shape,
    TableLayout,
    column_type,
    published_columns,
    unprefixed_table_names,
)
from rudder_sessions.settings import (
    BY_NAME,
    DEFAULT_IDENTITY_EXCLUDE,
    FORM_SETTINGS,
    GRAPH,
    GRAPH_SETTINGS,
    LAST_TOUCH,
    LIST_KINDS,
    MODEL_SETTINGS,
    REQUIRED_SETTINGS,
    SETTINGS,
    as_list,
    parse_duration,
)

# first_<c> and total_<c> must stay identifiers of at most 63 characters.
MAX_FACT_COLUMN = 57

SOURCE_NAME = re.compile(r"\A[a-z][a-z0-9_]{0,62}\Z")
CONFIG_ENV = "RUDDER_SESSIONS_CONFIG"


def bundle_config_path(dag_file: str | os.PathLike[str]) -> Path:
    """The sources file of a DAG bundle: `$RUDDER_SESSIONS_CONFIG`, else `include/sources.yaml`
    beside the bundle's `dags/` folder that holds `dag_file`. The DAG files say where they are;
    the package itself never guesses a checkout's layout."""
    env = os.environ.get(CONFIG_ENV)
    return Path(env) if env else Path(dag_file).resolve().parents[1] / "include" / "sources.yaml"


class Problems:
    """Every problem of one source entry, raised together as one ConfigError: a user fixing a
    broken entry sees all of it at once. `with problems:` records a ConfigError and goes on."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.found: list[ConfigError] = []

    def add(self, field: str, problem: str) -> None:
        self.found.append(ConfigError(self.source, field, problem))

    def __enter__(self) -> Problems:
        return self

    def __exit__(self, kind: Any, error: Any, traceback: Any) -> bool:
        if isinstance(error, ConfigError):
            self.found.extend(error.problems)
            return True
        return False

    def raise_any(self) -> None:
        if len(self.found) == 1:
            raise self.found[0]
        if self.found:
            raise ConfigError.several(self.source, self.found)


def parse_layout(value: Any, *, source: str, shape: Shape) -> tuple[TableLayout, ...]:
    if isinstance(value, tuple) and all(isinstance(v, TableLayout) for v in value):
        return value
    if not isinstance(value, Mapping):
        raise ConfigError(source, "layout", "must map table steps (e.g. mapped_tracks) to their layout")
    layouts = []
    for step, entry in value.items():
        where = f"layout.{step}"
        if step not in STEPS:
            raise ConfigError(source, where, f"unknown table (one of: {', '.join(STEPS)})")
        if not isinstance(entry, Mapping) or set(entry) - {"partition_by", "cluster_by"}:
            raise ConfigError(source, where, "must be a mapping with partition_by and/or cluster_by")
        columns = published_columns(step, shape)
        partition_by = entry.get("partition_by")
        if partition_by is not None and (
            partition_by not in columns or column_type(partition_by, shape) != "timestamp"
        ):
            stamps = [c for c in columns if column_type(c, shape) == "timestamp"]
            raise ConfigError(source, f"{where}.partition_by", f"{partition_by!r} is not one of {', '.join(stamps)}")
        cluster_by = entry.get("cluster_by") or []
        if isinstance(cluster_by, str):
            cluster_by = [cluster_by]
        if not isinstance(cluster_by, list) or not 0 <= len(cluster_by) <= 4 or len(set(cluster_by)) < len(cluster_by):
            raise ConfigError(source, f"{where}.cluster_by", "must be a list of at most 4 distinct columns")
        unknown = [c for c in cluster_by if c not in columns]
        if unknown:
            raise ConfigError(source, f"{where}.cluster_by", f"{unknown[0]!r} is not a column of the table")
        layouts.append(TableLayout(step, partition_by, tuple(cluster_by)))
    return tuple(layouts)


@dataclass(frozen=True)
class SourceConfig:
    """One RudderStack source: where its event tables live and where the published tables go."""

    name: str
    conn_id: str
    source_schema: str
    target_schema: str
    source_table: str = "tracks"
    # The event tables (SPEC "Activity from several event tables"), normalized to a tuple of
    # EventTable; None: source_table alone (a list equal to that default is kept as None, so the
    # stored settings of a source that never listed its tables stay equal).
    event_tables: Any = None
    # Session facts (SPEC "Session and visitor facts"); lists, normalized to tuples.
    conversion_events: Any = ()
    session_first_columns: Any = ()
    session_sum_columns: Any = ()
    # Identity (SPEC "Identity graph"): last_touch, or graph with its link tables and junk guards.
    identity: str = LAST_TOUCH
    identifies_table: str = ""
    aliases_table: str = ""
    identity_exclude: Any = DEFAULT_IDENTITY_EXCLUDE
    max_users_per_anonymous_id: int = 1
    table_prefix: str = ""
    timeout_minutes: float = 30
    flow_length: int = 5
    # Cap on a session's length in events (None: no cap, sessions end at idle gaps only).
    max_session_events: int | None = None
    schedule: str = "0 3 * * *"
    dialect: str | None = None
    watermark_column: str = "received_at"
    lookback: str = "3 hours"
    # DuckDB only: caps for the embedded engine (DuckDB's own defaults: 80% of RAM, every core).
    duckdb_memory_limit: str | None = None
    duckdb_threads: int | None = None
    # How the published tables are laid out when they are created, per step:
    # {step: {partition_by: <timestamp column> | null, cluster_by: [columns]}}; steps left out keep
    # the warehouse's default (see `Dialect.table_layout`). Normalized to a tuple of TableLayout.
    layout: Any = ()
    # Airflow pool of the DAG's tasks (None: Airflow's default_pool).
    pool: str | None = None

    def __post_init__(self) -> None:
        src = self.name
        if not isinstance(src, str) or not SOURCE_NAME.match(src):
            raise ConfigError(str(src), "name", "use lower-case letters, digits and _, starting with a letter")
        problems = Problems(src)
        for setting in SETTINGS:
            problem = setting.problem(getattr(self, setting.name))
            if problem:
                problems.add(setting.name, problem)
        for setting in SETTINGS:
            if setting.kind in LIST_KINDS and not any(e.field == setting.name for e in problems.found):
                object.__setattr__(self, setting.name, tuple(as_list(getattr(self, setting.name)) or ()))
        self._check_event_tables(problems)
        self._check_fact_columns(problems)
        self._check_identity(problems)
        self._check_table_prefix(problems)
        if not any(error.field in ("flow_length", *FACT_SETTINGS) for error in problems.found):  # the layout's columns
            with problems:
                object.__setattr__(self, "layout", parse_layout(self.layout, source=src, shape=self.shape))
        problems.raise_any()

    def _check_event_tables(self, problems: Problems) -> None:
        if self.event_tables is None or any(error.field == "event_tables" for error in problems.found):
            return
        tables = parse_event_tables(self.event_tables)
        if self.source_table != "tracks":
            problems.add("event_tables", "give event_tables or source_table, not both (event_tables lists every table)")
        column = self.watermark_column
        fixed = [t.table for t in tables if t.event_column in (*SOURCE_COLUMNS, column)]
        if fixed:
            problems.add(
                "event_tables",
                f"{fixed[0]}: the event name's column cannot be one of the columns every event table has",
            )
        default = default_event_tables(self.source_table)
        object.__setattr__(self, "event_tables", None if tables == default else tables)

    def _check_fact_columns(self, problems: Problems) -> None:
        """The carried columns reach dbt_mapped_tracks under their own names, and first_/total_ ones
        in dbt_session_facts: they must not clash with the model's columns or with each other."""
        first, summed = self.session_first_columns, self.session_sum_columns
        if not isinstance(first, tuple) or not isinstance(summed, tuple):
            return  # reported as the setting's own problem
        reserved = {*COLUMN_TYPES, *SOURCE_COLUMNS, "event", self.watermark_column.lower()}
        for name, columns in (("session_first_columns", first), ("session_sum_columns", summed)):
            for column in columns:
                if column.lower() in reserved or re.fullmatch(r"event_\d+", column.lower()):
                    problems.add(name, f"{column!r} is a column of the model itself; name another event column")
                elif len(column) > MAX_FACT_COLUMN:
                    problems.add(
                        name,
                        f"{column!r} is longer than {MAX_FACT_COLUMN} characters (first_/total_ "
                        "would make it longer than 63)",
                    )
        both = sorted({c.lower() for c in first} & {c.lower() for c in summed})
        if both:
            problems.add(
                "session_sum_columns",
                f"{both[0]!r} is also in session_first_columns: a column is first-touch "
                "text or a summed number, not both",
            )

    def _check_table_prefix(self, problems: Problems) -> None:
        """A prefix must leave every table name the model makes within the identifier limit, and
        no other source's staging tables may look like this one's (`<prefix>__rs_<run key>_...`,
        which a later run of a source drops when their run is dead)."""
        prefix = self.table_prefix
        if not isinstance(prefix, str) or any(e.field == "table_prefix" for e in problems.found):
            return
        if STAGE_PREFIX in prefix.lower():
            problems.add(
                "table_prefix",
                f"{prefix!r} contains {STAGE_PREFIX!r}, which names the runs' staging tables: another source's "
                "runs could take its tables for their own",
            )
        longest = max(unprefixed_table_names(), key=len)
        if len(prefix) + len(longest) > IDENTIFIER_LENGTH:
            problems.add(
                "table_prefix",
                f"{prefix!r} is {len(prefix)} characters, at most {IDENTIFIER_LENGTH - len(longest)} fit: the "
                f"longest table name it starts ({prefix}{longest}) must stay within {IDENTIFIER_LENGTH}",
            )

    def _check_identity(self, problems: Problems) -> None:
        """The graph's settings mean nothing to last_touch: one given there is a mistake, not a no-op
        (and it would rebuild the model for nothing); the link tables are not event tables."""
        if self.identity != GRAPH:
            for name in GRAPH_SETTINGS:
                if any(e.field == name for e in problems.found):
                    continue
                if getattr(self, name) != BY_NAME[name].default:
                    problems.add(name, "applies to identity: graph only (this source's identity is last_touch)")
            return
        events = {et.table.lower() for et in self.event_streams}
        links = [t for t in (self.identifies_table, self.aliases_table) if t]
        for name in ("identifies_table", "aliases_table"):
            table = getattr(self, name)
            if table and table.lower() in events:
                problems.add(name, f"{table!r} is one of the source's event tables")
        if len(links) == 2 and links[0].lower() == links[1].lower():
            problems.add("aliases_table", "is the identifies_table too")

    @property
    def link_streams(self) -> tuple[tuple[str, EventTable], ...]:
        """(kind, table) of the link tables the graph reads, identifies then aliases (graph mode
        only), as the plan reads them: one watermark each, like an event table."""
        if self.identity != GRAPH:
            return ()
        links = (("identifies", self.identifies_table), ("aliases", self.aliases_table))
        return tuple((kind, EventTable(table, event_column=None)) for kind, table in links if table)

    @property
    def watermarked_tables(self) -> tuple[str, ...]:
        """Every table the run reads by its own watermark: the event tables, then the link tables."""
        return (*(et.table for et in self.event_streams), *(link.table for _, link in self.link_streams))

    @property
    def excluded_ids(self) -> tuple[str, ...]:
        """The junk values as compared: trimmed, lower-case, blank left out (blank is NULL anyway)."""
        values = (str(v).strip(WHITESPACE).lower() for v in self.identity_exclude)
        return tuple(sorted({v for v in values if v}))

    @property
    def event_streams(self) -> tuple[EventTable, ...]:
        """The event tables the run reads, as one stream."""
        return self.event_tables or default_event_tables(self.source_table)

    @property
    def shape(self) -> Shape:
        """What of these settings decides the published tables' columns."""
        return Shape(self.flow_length, self.session_first_columns, self.session_sum_columns)

    @property
    def carried_columns(self) -> tuple[tuple[str, str], ...]:
        """The event columns read for the session facts, with their types (text, numeric)."""
        return self.shape.carried

    def layout_of(self, step: str) -> TableLayout | None:
        """The configured layout of a step's table, or None for the warehouse's default."""
        return next((layout for layout in self.layout if layout.step == step), None)

    def model_settings(self) -> dict[str, Any]:
        """The settings that decide what the published tables contain (SPEC "Settings that shape
        the model"), as stored with the run state: a run under other values rebuilds everything.
        The table prefix is not among them: another prefix is another model, with its own state."""
        stored: dict[str, Any] = {}
        for name in MODEL_SETTINGS:
            value = getattr(self, name)
            if name in STORED_WHEN_SET and value is None:
                # Unset, it is left out: the stored settings (and the SQL publish sends) stay as
                # the versions before it wrote them, and a stored model that does not name it
                # compares as unset (run_log.settings_changes).
                continue
            if name == "event_tables" and value is not None:
                value = [table.as_setting() for table in value]
            stored[name] = list(value) if isinstance(value, tuple) else value
        return stored

    @property
    def lookback_delta(self) -> timedelta:
        duration = parse_duration(self.lookback)
        assert duration is not None  # validated when the config was built
        return duration

    @property
    def lookback_microseconds(self) -> int:
        return self.lookback_delta // timedelta(microseconds=1)

    @property
    def timeout_microseconds(self) -> int:
        return int(self.timeout_minutes * 60_000_000)

    @classmethod
    def from_mapping(cls, name: str, entry: Any, defaults: Mapping[str, Any] | None = None) -> SourceConfig:
        """Build from one YAML entry; unknown keys are errors, not silently ignored."""
        if not isinstance(entry, Mapping):
            raise ConfigError(str(name), "(entry)", "must be a mapping of settings")
        allowed = {f.name for f in fields(cls)} - {"name"}
        merged = {**(defaults or {}), **entry}
        problems = Problems(str(name))
        for key in merged:
            if key not in allowed:
                problems.add(str(key), f"unknown key (allowed: {', '.join(sorted(allowed))})")
        for required in REQUIRED_SETTINGS:
            if required not in merged:
                problems.add(required, "is required")
        known = {k: v for k, v in merged.items() if k in allowed}
        # A valid stand-in for a missing required key (reported above), so that every other
        # problem of the entry is found too, not just the first.
        stand_ins = dict.fromkeys(REQUIRED_SETTINGS, "missing")
        config = None
        with problems:
            config = cls(name=name, **{**stand_ins, **known})
        problems.raise_any()
        assert config is not None
        return config


FACT_SETTINGS = ("session_first_columns", "session_sum_columns")
# Model settings added with no effect when unset: stored only when set.
STORED_WHEN_SET = ("max_session_events",)

# The trigger form's fields, and `dialect` for a trigger's conf given through the REST API.
ADHOC_KEYS = (*FORM_SETTINGS, "dialect")


def source_from_params(params: Mapping[str, Any]) -> SourceConfig:
    """The source an ad-hoc run names in its trigger form; named after its schema unless `name` says."""
    entry = {key: params[key] for key in ADHOC_KEYS if params.get(key) not in (None, "")}
    name = params.get("name") or str(entry.get("source_schema", "")).lower() or "adhoc"
    return SourceConfig.from_mapping(name, entry)


@dataclass(frozen=True)
class LoadedConfig:
    """All sources of a config file; broken entries are kept as errors, per source."""

    sources: dict[str, SourceConfig]
    errors: dict[str, ConfigError]

    @property
    def pools(self) -> dict[str, list[str]]:
        """The Airflow pools the sources' tasks run in → the sources in each."""
        pools: dict[str, list[str]] = {}
        for source in self.sources.values():
            if source.pool:
                pools.setdefault(source.pool, []).append(source.name)
        return pools


def load_config(path: str | os.PathLike[str] | None = None) -> LoadedConfig:
    """Read the sources file (`path`, else `$RUDDER_SESSIONS_CONFIG`). A broken entry fails that
    source only; a broken file fails all."""
    path = path or os.environ.get(CONFIG_ENV)
    if not path:
        raise ConfigError("*", "config file", f"no sources file given: set {CONFIG_ENV} to its path")
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError("*", "config file", f"{path} does not exist") from None
    except yaml.YAMLError as exc:
        raise ConfigError("*", "config file", f"{path} is not valid YAML: {exc}") from None
    if not isinstance(raw, Mapping) or not isinstance(raw.get("sources"), Mapping):
        raise ConfigError("*", "sources", f"{path} must contain a 'sources:' mapping")
    unknown = set(raw) - {"sources", "defaults"}
    if unknown:
        raise ConfigError("*", sorted(unknown)[0], "unknown top-level key (allowed: defaults, sources)")
    defaults = raw.get("defaults") or {}
    if not isinstance(defaults, Mapping):
        raise ConfigError("*", "defaults", "must be a mapping of settings")
    sources: dict[str, SourceConfig] = {}
    errors: dict[str, ConfigError] = {}
    for name in sorted(raw["sources"], key=str):
        try:
            sources[name] = SourceConfig.from_mapping(name, raw["sources"][name], defaults)
        except ConfigError as exc:
            errors[str(name)] = exc
    # The published tables belong to one source: a second source on the same ones fails (both
    # would publish into them, mixing their events).
    owners: dict[tuple[str, str, str], str] = {}
    for name, source in list(sources.items()):
        key = (source.conn_id, source.target_schema.lower(), source.table_prefix.lower())
        if key in owners:
            del sources[name]
            errors[str(name)] = ConfigError(
                str(name),
                "target_schema",
                f"source {owners[key]!r} publishes into the same tables ({source.target_schema}."
                f"{source.table_prefix}dbt_* on connection {source.conn_id!r}): give one of them another "
                "target_schema or table_prefix",
            )
        else:
            owners[key] = str(name)
    return LoadedConfig(sources=sources, errors=errors)
