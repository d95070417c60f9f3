"""Every setting of a source, declared once: the config file's keys and their validation, the
CLI's flags, the ad-hoc trigger form's fields, the model-shaping settings stored with the run
state, and the README's table of settings all come from `SETTINGS`. `SourceConfig` (config.py)
holds them and checks each with `Setting.problem`; a test keeps its fields and defaults equal to
this table.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from rudder_sessions.event_tables import EVENT_NAME, parse_event_tables
from rudder_sessions.identifiers import IDENTIFIER, IDENTIFIER_PATTERN, IDENTIFIER_RULE

REQUIRED = object()  # no default: the config entry must give it

LAST_TOUCH, GRAPH = "last_touch", "graph"
IDENTITY_MODES = (LAST_TOUCH, GRAPH)
DEFAULT_IDENTITY_EXCLUDE = ("", "null", "undefined", "anonymous", "0")
# The settings only identity `graph` reads.
GRAPH_SETTINGS = ("identifies_table", "aliases_table", "identity_exclude", "max_users_per_anonymous_id")

CONN_ID_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,249}$"
DURATION_PATTERN = r"^\s*\d+\s*(minute|minutes|hour|hours|day|days)\s*$"
DIALECT_NAMES = ("duckdb", "postgres", "snowflake", "bigquery", "redshift")

DURATION = re.compile(r"\A\s*(\d+)\s*(minute|minutes|hour|hours|day|days)\s*\Z")
SIZE = re.compile(r"\A\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)\Z", re.IGNORECASE)
POOL = re.compile(r"\A[A-Za-z0-9_.-]{1,256}\Z")  # Airflow's key rule; slot_pool.pool holds 256 characters


def parse_duration(value: Any) -> timedelta | None:
    """'3 hours', '90 minutes', '1 day' as a timedelta; None when it is not such a duration."""
    match = DURATION.match(value) if isinstance(value, str) else None
    if not match:
        return None
    digits, unit = match.group(1), match.group(2).rstrip("s")
    if len(digits) > 12:  # more minutes than a timedelta holds (and than int() may read): no limit
        return timedelta.max
    try:
        return timedelta(**{f"{unit}s": int(digits)})
    except OverflowError:  # beyond timedelta's 999,999,999 days: longer than any limit
        return timedelta.max


# The longest lookback a run can take: more reaches back before any warehouse's calendar.
MAX_DURATION = timedelta(days=36500)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _kind_problem(setting: Setting, value: Any) -> str | None:
    """What is wrong with a value of the setting's kind (None: nothing)."""
    kind = setting.kind
    if kind == "conn_id":
        ok = isinstance(value, str) and value.strip()
        return None if ok else "a non-empty Airflow connection id is required"
    if kind == "identifier":
        if value == "" and setting.default == "":  # optional, empty by default
            return None
        ok = isinstance(value, str) and IDENTIFIER.match(value)
        return None if ok else f"{value!r} is not a valid identifier ({IDENTIFIER_RULE})"
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"{value!r} is not a number"
        if not math.isfinite(value):
            return f"must be a finite number, got {value!r}"
        if not value > 0:
            return f"must be > 0, got {value!r}"
        if value * 60_000_000 != int(value * 60_000_000):
            return "must be a whole number of microseconds"
        return None
    if kind == "integer":
        if not _is_int(value):
            return f"{value!r} is not an integer"
        assert setting.bounds, f"integer setting {setting.name} declares no bounds"
        low, high = setting.bounds
        if high is None:  # no upper bound
            return None if value >= low else f"must be an integer of at least {low}, got {value}"
        return None if low <= value <= high else f"must be between {low} and {high}, got {value}"
    if kind == "duration":
        duration = parse_duration(value)
        if duration is not None and duration > MAX_DURATION:
            shown = repr(value) if len(value) <= 40 else repr(value[:20] + "…")
            return f"{shown} is longer than {MAX_DURATION.days} days (100 years)"
        return None if duration is not None else f"{value!r} is not a duration like '3 hours', '90 minutes' or '1 day'"
    if kind == "size":
        return None if isinstance(value, str) and SIZE.match(value) else f"{value!r} is not a size like '3GB'"
    if kind == "cron":  # the expression itself is checked by Airflow's timetable (dag_factory)
        return None if isinstance(value, str) and value.strip() else "a cron expression or Airflow preset is required"
    if kind == "dialect":
        return None if value in DIALECT_NAMES else f"{value!r} is not one of {', '.join(DIALECT_NAMES)}"
    if kind == "pool":
        ok = isinstance(value, str) and POOL.match(value)
        return None if ok else f"{value!r} is not an Airflow pool name (letters, digits, _ . -; at most 256)"
    if kind == "event_tables":
        try:
            parse_event_tables(value)
        except ValueError as exc:
            return str(exc)
        return None
    if kind == "choice":
        assert setting.choices, f"choice setting {setting.name} declares no choices"
        return None if value in setting.choices else f"{value!r} is not one of {', '.join(setting.choices)}"
    if kind in LIST_KINDS:
        items = as_list(value)
        if items is None:
            return f"{value!r} is not a list (in YAML a list; on the command line comma-separated)"
        if kind == "values":  # any text, blank included: compared trimmed and case-insensitively
            bad = [item for item in items if not isinstance(item, str) or not (item == "" or EVENT_NAME.match(item))]
            rule = "at most 255 printable characters"
        else:
            pattern, rule = (
                (EVENT_NAME, "1 to 255 printable characters") if kind == "names" else (IDENTIFIER, IDENTIFIER_RULE)
            )
            bad = [item for item in items if not isinstance(item, str) or not pattern.match(item) or not item.strip()]
        if bad:
            return f"{bad[0]!r} is not valid ({rule})"
        twice = sorted({item for item in items if items.count(item) > 1})
        return f"{twice[0]!r} is listed twice" if twice else None
    return None  # layout: checked against the flow's columns by config.parse_layout


# Settings that hold a list: YAML gives a list, the CLI a comma-separated string.
LIST_KINDS = ("names", "identifiers", "values")


def as_list(value: Any) -> list[Any] | None:
    """A list setting's items ('a, b' from the command line is ['a', 'b']); None: not a list."""
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    if isinstance(value, list | tuple):
        return list(value)
    return None


@dataclass(frozen=True)
class Setting:
    name: str
    kind: str  # conn_id, identifier, number, integer, duration, size, cron, dialect, layout, pool,
    # event_tables, names (event names), identifiers (column names), values (any text), choice
    default: Any
    help: str
    # Decides what the tables contain: stored with the run state, a change rebuilds (SPEC
    # "Settings that shape the model").
    shapes_model: bool = False
    # CLI subcommands with a --flag for it (what a CLI run uses when the flag is not given: cli_default).
    cli: tuple[str, ...] = ("render", "run", "status")
    cli_default: Any = REQUIRED
    # A field of the ad-hoc DAG's trigger form, titled so.
    form_title: str | None = None
    # Inclusive range of an integer setting (kind `integer` needs one; None above: no upper bound).
    bounds: tuple[int, int | None] | None = None
    # The CLI flag, when not the name's (`--event-table`, given once per table).
    cli_flag: str | None = None
    # The values a `choice` setting takes.
    choices: tuple[str, ...] = ()

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    @property
    def flag(self) -> str:
        return self.cli_flag or "--" + self.name.replace("_", "-")

    @property
    def cli_value(self) -> Any:
        return self.default if self.cli_default is REQUIRED else self.cli_default

    def problem(self, value: Any) -> str | None:
        """What is wrong with a configured value (None: nothing). An optional setting may be None."""
        if value is None and self.default is None:
            return None
        return _kind_problem(self, value)

    def param(self) -> Any:
        """The trigger form's field: Airflow validates it before a run is created."""
        from airflow.sdk import Param

        labels = {"title": self.form_title, "description": self.help}
        if self.kind == "number":
            schema: dict[str, Any] = {"type": "number", "exclusiveMinimum": 0}
        elif self.kind == "integer":
            assert self.bounds, f"integer setting {self.name} declares no bounds"
            schema = {"type": "integer", "minimum": self.bounds[0]}
            if self.bounds[1] is not None:
                schema["maximum"] = self.bounds[1]
        else:
            pattern = {"conn_id": CONN_ID_PATTERN, "duration": DURATION_PATTERN}.get(self.kind, IDENTIFIER_PATTERN)
            schema = {"type": "string", "pattern": pattern}
        if self.required:
            return Param(**schema, **labels)
        if self.default is None:  # optional, unset by default (no cap): the form must not require a value
            return Param(None, **{**schema, "type": ["null", schema["type"]]}, **labels)
        if self.default == "":  # optional, empty by default: the form must not require a value
            return Param(None, **{**schema, "type": ["null", "string"]}, **labels)
        return Param(self.default, **schema, **labels)


SETTINGS: tuple[Setting, ...] = (
    Setting("conn_id", "conn_id", REQUIRED, "Airflow connection of the warehouse (its type picks the SQL dialect)",
            cli=("run", "status"), form_title="Connection"),
    Setting("source_schema", "identifier", REQUIRED, "schema where RudderStack writes the tracks table",
            shapes_model=True, cli_default="rudderstack", form_title="Source schema"),
    Setting("source_table", "identifier", "tracks", "the RudderStack tracks table in the source schema (the "
            "source's one event table unless event_tables lists them)", shapes_model=True, form_title="Source table"),
    Setting("event_tables", "event_tables", None, "the event tables of the source schema, one event stream: "
            "`[tracks, pages, screens]`, or `{table: t, event_column: c}` / `{table: t, event_name: fixed}` "
            "(tracks names events in `event`, pages and screens in `name`); on the CLI once per table: "
            "`--event-table pages`, `t:column`, `t=fixed name` (default: source_table alone)", shapes_model=True,
            cli_flag="--event-table"),
    Setting("conversion_events", "names", (), "event names that count as conversions in dbt_session_facts "
            "(comma-separated on the CLI)", shapes_model=True),
    Setting("session_first_columns", "identifiers", (), "event columns whose first non-blank value per session "
            "dbt_session_facts keeps as first_<column> (e.g. context_campaign_source)", shapes_model=True),
    Setting("session_sum_columns", "identifiers", (), "numeric event columns dbt_session_facts sums per session "
            "as total_<column> (e.g. revenue)", shapes_model=True),
    Setting("identity", "choice", LAST_TOUCH, "how events find their visitor: `last_touch` (an anonymous id "
            "belongs to the user of its latest identified event) or `graph` (the identity graph: every id linked "
            "by events, identifies and aliases is one visitor; README \"Identity graph\")", shapes_model=True,
            choices=IDENTITY_MODES),
    Setting("identifies_table", "identifier", "", "graph only: RudderStack's identifies table in the source "
            "schema (anonymous_id, user_id), read as links", shapes_model=True),
    Setting("aliases_table", "identifier", "", "graph only: RudderStack's aliases table in the source schema "
            "(previous_id, user_id), read as links", shapes_model=True),
    Setting("identity_exclude", "values", DEFAULT_IDENTITY_EXCLUDE, "graph only: junk id values that count as "
            "NULL, compared trimmed and case-insensitively (comma-separated on the CLI)", shapes_model=True),
    Setting("max_users_per_anonymous_id", "integer", 1, "graph only: an anonymous id linked to more user ids "
            "than this (a shared device, a kiosk) links none and keeps the last-touch rule", shapes_model=True,
            bounds=(1, 1000)),
    Setting("target_schema", "identifier", REQUIRED, "where the published tables, the run state and the run log go "
            "(created if missing)", cli_default="rudder_sessions", form_title="Target schema"),
    Setting("table_prefix", "identifier", "", "prefix of the table names (another prefix is another model, "
            "with its own state; one source per target schema and prefix; at most 27 characters, without "
            "`__rs_`, which names the runs' staging tables)", form_title="Table prefix"),
    Setting("timeout_minutes", "number", 30, "session inactivity timeout in minutes (> 0)", shapes_model=True,
            form_title="Session timeout (minutes)"),
    Setting("flow_length", "integer", 5, "N: events per dbt_tracks_flow row (1..50)", shapes_model=True,
            form_title="Flow length", bounds=(1, 50)),
    Setting("max_session_events", "integer", None, "cap on a session's length: a session also ends after this "
            "many events (a run of events no more than the timeout apart starts a new session at its events "
            "number 1, K+1, 2K+1, … in event order; Adobe Analytics ends a visit after 2,500 hits), so a bot's "
            "endless session is recomputed from its last part only (at least 2; default: no cap)",
            shapes_model=True, form_title="Max events per session", bounds=(2, None)),
    Setting("schedule", "cron", "0 3 * * *", "cron expression or Airflow preset, UTC (the source's DAG)", cli=()),
    Setting("watermark_column", "identifier", "received_at", "the column incremental runs follow",
            shapes_model=True, form_title="Watermark column"),
    Setting("lookback", "duration", "3 hours", "re-read this much before the watermark ('90 minutes', '1 day')",
            form_title="Lookback"),
    Setting("dialect", "dialect", None, "override the dialect inferred from the connection "
            f"({', '.join(DIALECT_NAMES)})"),
    Setting("duckdb_memory_limit", "size", None, "DuckDB only: memory cap, e.g. 3GB (spills to disk beyond; "
            "default 3 GiB, or half the RAM if less)", cli=("run",)),
    Setting("duckdb_threads", "integer", None, "DuckDB only: threads (default: every core)", cli=("run",),
            bounds=(1, 1024)),
    Setting("layout", "layout", (), "per table: {partition_by, cluster_by}, applied when a table is created",
            cli=()),
    Setting("pool", "pool", None, "Airflow pool of every task of the source's DAG: sources sharing one DuckDB "
            "file share a one-slot pool, so their tasks take turns (README \"Several sources on one DuckDB "
            "file\")", cli=()),
)  # fmt: skip

BY_NAME = {setting.name: setting for setting in SETTINGS}
MODEL_SETTINGS = tuple(s.name for s in SETTINGS if s.shapes_model)
FORM_SETTINGS = tuple(s.name for s in SETTINGS if s.form_title)
REQUIRED_SETTINGS = tuple(s.name for s in SETTINGS if s.required)


def settings_table() -> str:
    """The README's table of settings (kept equal to it by a test)."""
    lines = ["| setting | default | CLI flag | trigger form | what it does |", "| --- | --- | --- | --- | --- |"]
    for s in SETTINGS:
        default = "required" if s.required else ("none" if s.default in (None, ()) else f"`{s.default!r}`")
        flag = f"`{s.flag}`" if s.cli else ""
        form = "yes" if s.form_title else ""
        rebuild = " **A change rebuilds the model.**" if s.shapes_model else ""
        lines.append(f"| `{s.name}` | {default} | {flag} | {form} | {s.help}.{rebuild} |")
    return "\n".join(lines)
