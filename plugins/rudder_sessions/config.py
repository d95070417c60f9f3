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
from rudder_sessions.settings import DIALECT_NAMES, FORM_SETTINGS, MODEL_SETTINGS, REQUIRED_SETTINGS

IDENTIFIER = re.compile(r"\A[A-Za-z_][A-Za-z0-9_]{0,62}\Z")
SOURCE_NAME = re.compile(r"\A[a-z][a-z0-9_]{0,62}\Z")
DIALECTS = DIALECT_NAMES
LOOKBACK = re.compile(r"\A\s*(\d+)\s*(minute|minutes|hour|hours|day|days)\s*\Z")
CONFIG_ENV = "RUDDER_SESSIONS_CONFIG"
POOL = re.compile(r"[A-Za-z0-9_.-]{1,256}")  # Airflow's key rule; slot_pool.pool holds 256 characters
MEMORY = re.compile(r"\A\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)\Z", re.IGNORECASE)


def default_config_path() -> Path:
    """`$RUDDER_SESSIONS_CONFIG`, else `include/sources.yaml` of this repository."""
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "include" / "sources.yaml"


def validate_identifier(value: Any, *, source: str, field: str) -> str:
    if not isinstance(value, str) or not IDENTIFIER.match(value):
        raise ConfigError(
            source,
            field,
            f"{value!r} is not a valid identifier (letters, digits and _, not starting with a digit, "
            "at most 63 characters)",
        )
    return value


def parse_lookback(value: Any, *, source: str, field: str = "lookback") -> timedelta:
    """'3 hours', '90 minutes', '1 day': how far before the watermark an incremental run re-reads."""
    match = LOOKBACK.match(value) if isinstance(value, str) else None
    if not match:
        raise ConfigError(source, field, f"{value!r} is not a duration like '3 hours', '90 minutes' or '1 day'")
    amount, unit = int(match.group(1)), match.group(2).rstrip("s")
    return timedelta(**{f"{unit}s": amount})


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


@dataclass(frozen=True)
class TableLayout:
    """Partitioning and clustering of one published table (BigQuery partitions and clusters,
    Snowflake clusters, Redshift distributes by the first cluster column and sorts by them all)."""

    step: str
    partition_by: str | None
    cluster_by: tuple[str, ...]


def parse_layout(value: Any, *, source: str, flow_length: int) -> tuple[TableLayout, ...]:
    if isinstance(value, tuple) and all(isinstance(v, TableLayout) for v in value):
        return value
    from rudder_sessions.model import STEPS, column_type, published_columns

    if not isinstance(value, Mapping):
        raise ConfigError(source, "layout", "must map table steps (e.g. mapped_tracks) to their layout")
    layouts = []
    for step, entry in value.items():
        where = f"layout.{step}"
        if step not in STEPS:
            raise ConfigError(source, where, f"unknown table (one of: {', '.join(STEPS)})")
        if not isinstance(entry, Mapping) or set(entry) - {"partition_by", "cluster_by"}:
            raise ConfigError(source, where, "must be a mapping with partition_by and/or cluster_by")
        columns = published_columns(step, flow_length)
        partition_by = entry.get("partition_by")
        if partition_by is not None and (partition_by not in columns or column_type(partition_by) != "timestamp"):
            stamps = [c for c in columns if column_type(c) == "timestamp"]
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
    """One RudderStack source: where its tracks live and where the five tables go."""

    name: str
    conn_id: str
    source_schema: str
    target_schema: str
    source_table: str = "tracks"
    table_prefix: str = ""
    timeout_minutes: float = 30
    flow_length: int = 5
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
        with problems:
            if not isinstance(self.conn_id, str) or not self.conn_id.strip():
                raise ConfigError(src, "conn_id", "a non-empty Airflow connection id is required")
        for name in ("source_schema", "source_table", "target_schema", "watermark_column"):
            with problems:
                validate_identifier(getattr(self, name), source=src, field=name)
        with problems:
            if self.table_prefix:
                validate_identifier(self.table_prefix, source=src, field="table_prefix")
        with problems:
            if isinstance(self.timeout_minutes, bool) or not isinstance(self.timeout_minutes, int | float):
                raise ConfigError(src, "timeout_minutes", f"{self.timeout_minutes!r} is not a number")
            if not self.timeout_minutes > 0:
                raise ConfigError(src, "timeout_minutes", f"must be > 0, got {self.timeout_minutes!r}")
            if self.timeout_minutes * 60_000_000 != int(self.timeout_minutes * 60_000_000):
                raise ConfigError(src, "timeout_minutes", "must be a whole number of microseconds")
        flow_ok = False
        with problems:
            if isinstance(self.flow_length, bool) or not isinstance(self.flow_length, int):
                raise ConfigError(src, "flow_length", f"{self.flow_length!r} is not an integer")
            if not 1 <= self.flow_length <= 50:
                raise ConfigError(src, "flow_length", f"must be between 1 and 50, got {self.flow_length}")
            flow_ok = True
        with problems:
            if not isinstance(self.schedule, str) or not self.schedule.strip():
                raise ConfigError(src, "schedule", "a cron expression or Airflow preset is required")
        with problems:
            parse_lookback(self.lookback, source=src)
        with problems:
            if self.duckdb_memory_limit is not None and not (
                isinstance(self.duckdb_memory_limit, str) and MEMORY.match(self.duckdb_memory_limit)
            ):
                raise ConfigError(src, "duckdb_memory_limit", f"{self.duckdb_memory_limit!r} is not a size like '3GB'")
        with problems:
            if self.duckdb_threads is not None and (
                isinstance(self.duckdb_threads, bool)
                or not isinstance(self.duckdb_threads, int)
                or not 1 <= self.duckdb_threads <= 1024
            ):
                raise ConfigError(src, "duckdb_threads", f"{self.duckdb_threads!r} is not a thread count (1..1024)")
        with problems:
            if self.dialect is not None and self.dialect not in DIALECTS:
                raise ConfigError(src, "dialect", f"{self.dialect!r} is not one of {', '.join(DIALECTS)}")
        with problems:
            if self.pool is not None and not (isinstance(self.pool, str) and POOL.fullmatch(self.pool)):
                raise ConfigError(
                    src, "pool", f"{self.pool!r} is not an Airflow pool name (letters, digits, _ . -; at most 256)"
                )
        if flow_ok:  # the layout's columns depend on the flow's width
            with problems:
                object.__setattr__(self, "layout", parse_layout(self.layout, source=src, flow_length=self.flow_length))
        problems.raise_any()

    def layout_of(self, step: str) -> TableLayout | None:
        """The configured layout of a step's table, or None for the warehouse's default."""
        return next((layout for layout in self.layout if layout.step == step), None)

    def model_settings(self) -> dict[str, Any]:
        """The settings that decide what the published tables contain (SPEC "Settings that shape
        the model"), as stored with the run state: a run under other values rebuilds everything.
        The table prefix is not among them: another prefix is another model, with its own state."""
        return {name: getattr(self, name) for name in MODEL_SETTINGS}

    @property
    def lookback_delta(self) -> timedelta:
        return parse_lookback(self.lookback, source=self.name)

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
    """Read the sources file. A broken entry fails that source only; a broken file fails all."""
    path = Path(path) if path else default_config_path()
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
    return LoadedConfig(sources=sources, errors=errors)
