"""The test harness: one `Warehouse` per engine (DuckDB, PostgreSQL, Snowflake, BigQuery) behind one
interface, and the checkout's paths.

Each warehouse has its own database objects: a DuckDB file, a fresh pair of schemas on the
PostgreSQL server or in fakesnow, a fresh pair of datasets on the BigQuery emulator. The pipeline
runs through the real Airflow hook of each engine (`runner`). Every warehouse offers:

- `config(**overrides)`: a SourceConfig on its connection and schemas;
- `runner(config)`: a SessionRunner on it;
- `load_source(rows, append=False, aware=False, *, event_columns=None)`: write rows (tests/rows.py)
  as the source's event tables (`tracks` unless a row names its `event_table`; below);
- `query(sql, params)`: rows as dicts (column names lower-case);
- `tables(schema)`: the names of the tables in a schema; `columns(schema, table)`: a table's columns;
- `snapshot(config)`: every published table exactly, to compare before and after;
- `source_rows(event_tables=None)`, `read_tables(config)`: the source's event tables (one stream)
  and the published tables (every step of STEPS) as dicts;
- `assert_matches_spec(config)`: the published tables equal the SPEC.md model of the whole source;
- `reset()`, `close()` (also as a context manager).

Several event tables (SPEC "Activity from several event tables"): a row goes to the table its
`event_table` key names (`tracks` without one). Its `event` is written to that table's event column
(`event_columns`: `event` for tracks, `name` for pages and screens, `event` for any other table, None
for a table whose events have one fixed name and no column); its keys beyond the standard ones are
further columns of its table only (their type from the first non-None value: PY_TYPES). So one
table can lack a column another has, as RudderStack's call tables do.

Only the standard library, duckdb, pyarrow and the package are imported here at import time: the
other engines' clients (psycopg2, fakesnow, google-cloud-bigquery) when a warehouse of theirs is made.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import multiprocessing
import os
import re
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, ClassVar

import duckdb
import pyarrow as pa

from rudder_sessions.config import SourceConfig
from rudder_sessions.engine import SessionRunner
from rudder_sessions.event_tables import KNOWN_EVENT_COLUMNS, EventTable, default_event_tables
from rudder_sessions.model import STEPS, table, target_table_name

if TYPE_CHECKING:
    from bigquery_emulator import Emulator

ROOT = Path(__file__).resolve().parents[1]
POSTGRES_URI = os.environ.get("RUDDER_SESSIONS_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")

SOURCE_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("anonymous_id", pa.string()),
        ("user_id", pa.string()),
        ("event", pa.string()),
        ("timestamp", pa.timestamp("us")),
        ("received_at", pa.timestamp("us")),
    ]
)
COLUMNS = SOURCE_SCHEMA.names
STATE_TABLE = "rudder_sessions_state"
DEFAULT_TABLE = "tracks"
DEFAULT_EVENT_TABLES: tuple[EventTable, ...] = (EventTable(DEFAULT_TABLE),)
# Where each table's rows keep their event name, unless load_source's `event_columns` says otherwise
# (a table not named here: `event`).
DEFAULT_EVENT_COLUMNS: dict[str, str | None] = dict(KNOWN_EVENT_COLUMNS)


def make_config(**overrides: Any) -> SourceConfig:
    """A SourceConfig on no warehouse in particular (the default schemas, connection `unused`)."""
    settings: dict[str, Any] = {
        "name": "test",
        "conn_id": "unused",
        "source_schema": "rudderstack",
        "target_schema": "sessions",
    }
    settings.update(overrides)
    return SourceConfig(**settings)


def by_key(step: str, rows: Iterable[Mapping[str, Any]]) -> list:
    """Rows of a table sorted by its declared key, to compare tables row for row."""
    key = table(step).key
    return sorted(rows, key=lambda row: tuple(row[column] for column in key))


def published_names(config: SourceConfig) -> list[str]:
    """The tables a snapshot holds: the published one of every step (STEPS) and the state."""
    return [target_table_name(config, s) for s in STEPS] + [STATE_TABLE]


def _naive_utc(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def _rows(cursor: Any) -> list[dict]:
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


# -- the event tables of a load -------------------------------------------------------------------

# A further column's kind, from the type of its first non-None value (bool before int: a bool is an
# int to Python); a column whose values are all None is text. Each engine names the kinds' types.
PY_TYPES: tuple[tuple[type, str], ...] = (
    (bool, "boolean"),
    (int, "bigint"),
    (float, "double"),
    (Decimal, "numeric"),
    (datetime, "timestamp"),
    (str, "text"),
)
STANDARD_KINDS = {
    "id": "text",
    "anonymous_id": "text",
    "user_id": "text",
    "timestamp": "timestamp",
    "received_at": "timestamp",
}
# The identity graph's link tables as the harness makes them (RudderStack's columns the model reads).
LINK_COLUMNS: dict[str, dict[str, str]] = {
    "identifies": {**STANDARD_KINDS},
    "aliases": {
        "id": "text",
        "previous_id": "text",
        "user_id": "text",
        "timestamp": "timestamp",
        "received_at": "timestamp",
    },
}
# The keys of a row that are not further columns: the standard ones and the table it goes to.
ROW_KEYS = frozenset({*COLUMNS, "event_table"})
NAME = re.compile(r"[a-z_][a-z0-9_]*\Z")


def _name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not NAME.match(value):
        raise ValueError(f"{what} {value!r}: the test harness takes lower-case identifiers only")
    return value


def _kind(column: str, values: Iterable[Any]) -> str:
    for value in values:
        if value is None:
            continue
        for py_type, kind in PY_TYPES:
            if isinstance(value, py_type):
                return kind
        raise TypeError(f"column {column}: no column type for {type(value).__name__} values ({value!r})")
    return "text"


@dataclass
class TableLoad:
    """One event table's rows of a load_source call, by column (a key a row lacks is None)."""

    table: str
    event_column: str | None
    columns: list[str]
    rows: list[dict[str, Any]] = field(default_factory=list)
    # Further columns given by rows that name their event_table: a table they are appended to must
    # have them. (A row without an event_table key is appended as before tables had further
    # columns: keys its table lacks are left out, e.g. test_incremental's own `loaded_at`.)
    required: set[str] = field(default_factory=set)

    @property
    def standard(self) -> list[str]:
        event = [self.event_column] if self.event_column else []
        return ["id", "anonymous_id", "user_id", *event, "timestamp", "received_at"]

    def kinds(self) -> dict[str, str]:
        standard = {**STANDARD_KINDS, **({self.event_column: "text"} if self.event_column else {})}
        return {c: standard.get(c) or _kind(c, (r.get(c) for r in self.rows)) for c in self.columns}

    def fit(self, existing: Iterable[str]) -> list[str]:
        """The columns to write into the table as it exists: a further column it lacks is an error
        of the test when a row naming its event_table gives it, else left out."""
        have = {c.lower() for c in existing}
        missing = sorted(c for c in self.required if c not in have)
        if missing:
            raise ValueError(
                f"table {self.table} exists without column(s) {', '.join(missing)} of the appended rows "
                "(load_source(append=False) makes the tables anew)"
            )
        standard = set(self.standard)
        return [c for c in self.columns if c in standard or c in have]

    def values(self, columns: Sequence[str]) -> list[tuple]:
        return [tuple(row.get(c) for c in columns) for row in self.rows]


def plan_load(
    rows: Iterable[Mapping[str, Any]], event_columns: Mapping[str, str | None] | None = None, empty: bool = False
) -> list[TableLoad]:
    """Rows grouped by their event table (first appearance first); `empty`: no rows still make an
    empty `tracks`, as a load that replaces the source does."""
    named = {**DEFAULT_EVENT_COLUMNS, **(event_columns or {})}
    loads: dict[str, TableLoad] = {}

    def load_of(table: str) -> TableLoad:
        if table not in loads:
            column = named.get(table, "event")
            if column is not None:
                _name(column, f"event column of {table}")
            load = TableLoad(table, column, [])
            load.columns = list(load.standard)
            loads[table] = load
        return loads[table]

    for row in rows:
        load = load_of(_name(row.get("event_table", DEFAULT_TABLE), "event_table"))
        record = {c: row.get(c) for c in load.standard if c != load.event_column}
        if load.event_column:
            record[load.event_column] = row.get("event")
        for key, value in row.items():
            if key in ROW_KEYS:
                continue
            if key == load.event_column:
                raise ValueError(f"a row of {load.table} gives its event name as `event`, not as {key!r}")
            if key not in load.columns:
                load.columns.append(_name(key, "column"))
            if "event_table" in row:
                load.required.add(key)
            record[key] = value
        load.rows.append(record)
    if empty and not loads:
        load_of(DEFAULT_TABLE)
    return list(loads.values())


class Warehouse:
    """What every engine's test warehouse offers (the module doc); the subclasses load and query."""

    name = "base"
    conn_id = "unused"
    source_schema = "rudderstack"
    target_schema = "sessions"

    def config(self, **overrides: Any) -> SourceConfig:
        return make_config(
            **{
                "conn_id": self.conn_id,
                "source_schema": self.source_schema,
                "target_schema": self.target_schema,
                **overrides,
            }
        )

    def runner(self, config: SourceConfig) -> SessionRunner:
        return SessionRunner.connect(config)

    def load_source(
        self,
        rows: Iterable[Mapping[str, Any]],
        append: bool = False,
        aware: bool = False,
        *,
        event_columns: Mapping[str, str | None] | None = None,
    ) -> None:
        """Write rows as the source's event tables (the module doc): each table the rows name (`tracks`
        without an `event_table` key) with the standard columns, its event column (`event_columns`,
        table -> column or None: merged over DEFAULT_EVENT_COLUMNS) and the further keys of its own
        rows. The source schema then holds exactly these tables (an empty `tracks` for no rows).

        `append`: add the rows to their tables, as a new load would; a table that does not exist yet
        is made, one that does keeps its columns (appending a further column it lacks raises).
        `aware`: every timestamp column is time-zone aware where the engine has such a type."""
        self._load(rows, append, aware, event_columns, self.source_schema)

    def _load(
        self,
        rows: Iterable[Mapping[str, Any]],
        append: bool,
        aware: bool,
        event_columns: Mapping[str, str | None] | None,
        schema: str,
    ) -> None:
        loads = plan_load(rows, event_columns, empty=not append)
        self._prepare_schema(schema, replace=not append)
        for load in loads:
            existing = self.columns(schema, load.table) if append else None
            if existing is None:
                kinds = load.kinds()
                self._create_table(schema, load.table, [(c, kinds[c]) for c in load.columns], aware)
                columns = load.columns
            else:
                columns = load.fit(existing)
            if load.rows:
                self._insert(schema, load.table, columns, load.kinds(), load.values(columns), aware)

    def _prepare_schema(self, schema: str, replace: bool) -> None:
        """Make the schema if it is missing; `replace`: drop every table in it."""
        raise NotImplementedError

    def columns(self, schema: str, table: str) -> list[str] | None:
        """The table's column names (lower-case, in their order), None when it does not exist."""
        raise NotImplementedError

    def _create_table(self, schema: str, table: str, columns: list[tuple[str, str]], aware: bool) -> None:
        """A new table of these (column, kind) pairs (kinds: PY_TYPES)."""
        raise NotImplementedError

    def _insert(
        self, schema: str, table: str, columns: list[str], kinds: Mapping[str, str], values: list[tuple], aware: bool
    ) -> None:
        """Add rows (tuples in the order of `columns`) to an existing table."""
        raise NotImplementedError

    def query(self, sql: str, params: list | None = None) -> list[dict]:
        raise NotImplementedError

    def tables(self, schema: str) -> set[str]:
        raise NotImplementedError

    def snapshot(self, config: SourceConfig) -> dict[str, list[tuple]]:
        """Every published table that exists, exactly (rows in a fixed order), to compare before and after."""
        existing = self.tables(config.target_schema)
        return {
            name: sorted(
                (tuple(r.values()) for r in self.query(f'SELECT * FROM "{config.target_schema}"."{name}"')), key=repr
            )
            for name in published_names(config)
            if name in existing
        }

    def source_rows(self, event_tables: Sequence[EventTable] | None = None) -> list[dict]:
        """The source as the model reads it: the rows of every listed event table (default: `tracks`
        alone), each with the standard keys, `event` (its table's event column, or the table's fixed
        event name), `event_table` (its table) and the table's other columns; keys lower-case,
        time-zone-aware timestamps as UTC without a zone."""
        result = []
        for entry in DEFAULT_EVENT_TABLES if event_tables is None else event_tables:
            for found in self.query(f"SELECT * FROM {self.source_schema}.{_name(entry.table, 'event table')}"):
                row = {k.lower(): _naive_utc(v) for k, v in found.items()}
                if entry.event_name is not None:
                    row["event"] = entry.event_name
                elif entry.event_column != "event":
                    row["event"] = row.pop(str(entry.event_column).lower())
                row["event_table"] = entry.table
                result.append(row)
        return result

    def load_links(
        self, identifies: Iterable[Mapping[str, Any]] = (), aliases: Iterable[Mapping[str, Any]] = ()
    ) -> None:
        """Append rows to the source's `identifies` (id, anonymous_id, user_id, timestamp,
        received_at) and `aliases` (id, previous_id, user_id, ...) tables, made (empty) when
        missing: the identity graph's link tables. load_source(append=False) drops them."""
        for link, rows in (("identifies", list(identifies)), ("aliases", list(aliases))):
            columns = LINK_COLUMNS[link]
            if self.columns(self.source_schema, link) is None:
                self._create_table(self.source_schema, link, list(columns.items()), False)
            if rows:
                names = list(columns)
                values = [tuple(row.get(c) for c in names) for row in rows]
                self._insert(self.source_schema, link, names, columns, values, False)

    def source_links(self, config: SourceConfig) -> dict[str, list[dict]]:
        """The link tables a graph source reads, as rows with lower-case keys (naive UTC times)."""
        links: dict[str, list[dict]] = {"identifies": [], "aliases": []}
        for kind in links:
            table = getattr(config, f"{kind}_table", "")
            if table:
                found = self.query(f"SELECT * FROM {self.source_schema}.{_name(table, 'link table')}")
                links[kind] = [{k.lower(): _naive_utc(v) for k, v in row.items()} for row in found]
        return links

    def read_tables(self, config: SourceConfig) -> dict[str, list[dict]]:
        """The published table of every step (STEPS), rows as dicts sorted by natural key."""
        result = {}
        for step in STEPS:
            rows = self.query(f'SELECT * FROM {config.target_schema}."{target_table_name(config, step)}"')
            result[step] = by_key(step, rows)
        return result

    def assert_matches_spec(self, config: SourceConfig) -> dict[str, list[dict]]:
        """The published tables equal the SPEC.md model over the whole current source: every event
        table of the source (`event_streams`; without it, its `source_table`) and its session facts
        options; each table the model gives is compared (all the published ones are read)."""
        from conftest import assert_rows_equal
        from spec_model import compute

        event_tables = getattr(config, "event_streams", None) or default_event_tables(config.source_table)
        options = {
            "conversion_events": tuple(getattr(config, "conversion_events", ()) or ()),
            "first_columns": tuple(getattr(config, "session_first_columns", ()) or ()),
            "sum_columns": tuple(getattr(config, "session_sum_columns", ()) or ()),
        }
        # The model takes these options once it computes the facts tables; until then only unset ones
        # are left out (a set one reaches it, which refuses it rather than ignore it).
        accepted = inspect.signature(compute).parameters
        takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values())
        facts = {k: v for k, v in options.items() if v or takes_any or k in accepted}
        if getattr(config, "identity", "last_touch") == "graph":
            facts.update(
                identity="graph",
                identity_exclude=tuple(config.identity_exclude),
                max_users_per_anonymous_id=config.max_users_per_anonymous_id,
                **self.source_links(config),
            )
        if getattr(config, "max_session_events", None):
            facts["max_session_events"] = config.max_session_events
        expected = compute(self.source_rows(event_tables), config.timeout_minutes, config.flow_length, **facts)
        actual = self.read_tables(config)
        for step in STEPS:
            if step in expected.tables:
                assert_rows_equal(actual[step], expected.tables[step], step)
        return actual

    def reset(self) -> None:
        """Drop what this warehouse made (its source and target)."""

    def close(self) -> None:
        pass

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- DuckDB ---------------------------------------------------------------------------------------


class DuckDBWarehouse(Warehouse):
    """A DuckDB database file; `read_only` opens it so for reads (e.g. while Airflow owns the file)."""

    name = "duckdb"

    def __init__(
        self,
        path: Path,
        source_schema: str = "rudderstack",
        target_schema: str = "sessions",
        read_only: bool = False,
    ) -> None:
        self.path = Path(path)
        self.source_schema, self.target_schema = source_schema, target_schema
        self.read_only = read_only

    def connect(self, read_only: bool | None = None) -> duckdb.DuckDBPyConnection:
        """A connection of its own to the file (close it, e.g. with `with`)."""
        return duckdb.connect(str(self.path), read_only=self.read_only if read_only is None else read_only)

    def runner(self, config: SourceConfig) -> SessionRunner:
        from airflow.providers.duckdb.hooks.duckdb import DuckDBHook

        from rudder_sessions.dialects import DuckDBDialect

        return SessionRunner(config, DuckDBHook(database=str(self.path)), DuckDBDialect())

    def load_source(
        self,
        rows: Iterable[Mapping[str, Any]],
        append: bool = False,
        aware: bool = False,
        schema: str | None = None,
        *,
        event_columns: Mapping[str, str | None] | None = None,
    ) -> None:
        """Also into another `schema` than the source's, e.g. a second source in the same file."""
        self._load(rows, append, aware, event_columns, schema or self.source_schema)

    TYPES: ClassVar[dict[str, str]] = {
        "text": "VARCHAR",
        "double": "DOUBLE",
        "bigint": "BIGINT",
        "numeric": "DECIMAL(38, 9)",
        "timestamp": "TIMESTAMP",
        "boolean": "BOOLEAN",
    }
    ARROW: ClassVar[dict[str, pa.DataType]] = {
        "text": pa.string(),
        "double": pa.float64(),
        "bigint": pa.int64(),
        "numeric": pa.decimal128(38, 9),
        "timestamp": pa.timestamp("us"),
        "boolean": pa.bool_(),
    }

    def _prepare_schema(self, schema: str, replace: bool) -> None:
        with self.connect(read_only=False) as conn:
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            if replace:
                found = conn.execute(
                    "SELECT table_name FROM information_schema.tables "
                    "WHERE table_schema = ? AND table_type = 'BASE TABLE'",
                    [schema],
                ).fetchall()
                for (name,) in found:
                    conn.execute(f'DROP TABLE "{schema}"."{name}"')

    def columns(self, schema: str, table: str) -> list[str] | None:
        with self.connect(read_only=False) as conn:
            found = conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = ? "
                "ORDER BY ordinal_position",
                [schema, table],
            ).fetchall()
        return [r[0].lower() for r in found] or None

    def _create_table(self, schema: str, table: str, columns: list[tuple[str, str]], aware: bool) -> None:
        types = {**self.TYPES, **({"timestamp": "TIMESTAMPTZ"} if aware else {})}
        definitions = ", ".join(f'"{c}" {types[k]}' for c, k in columns)
        with self.connect(read_only=False) as conn:
            conn.execute(f"CREATE TABLE {schema}.{table} ({definitions})")

    def _insert(
        self, schema: str, table: str, columns: list[str], kinds: Mapping[str, str], values: list[tuple], aware: bool
    ) -> None:
        arrow = {**self.ARROW, **({"timestamp": pa.timestamp("us", tz="UTC")} if aware else {})}
        arrow_schema = pa.schema([(c, arrow[kinds[c]]) for c in columns])
        data = pa.Table.from_pylist([dict(zip(columns, row, strict=True)) for row in values], arrow_schema)
        with self.connect(read_only=False) as conn:
            conn.register("source_rows", data)
            conn.execute(f"INSERT INTO {schema}.{table} BY NAME SELECT * FROM source_rows")

    def query(self, sql: str, params: list | None = None) -> list[dict]:
        with self.connect() as conn:
            cursor = conn.execute(sql, params or [])
            return _rows(cursor) if cursor.description else []

    def tables(self, schema: str) -> set[str]:
        with self.connect(read_only=True) as conn:
            rows = conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = ?", [schema]
            ).fetchall()
        return {r[0] for r in rows}

    def snapshot(self, config: SourceConfig) -> dict[str, list[tuple]]:
        result = {}
        with self.connect(read_only=True) as conn:
            existing = {
                r[0]
                for r in conn.execute(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = ?", [config.target_schema]
                ).fetchall()
            }
            for name in published_names(config):
                if name in existing:
                    result[name] = conn.execute(
                        f'SELECT * FROM "{config.target_schema}"."{name}" ORDER BY ALL'
                    ).fetchall()
        return result

    def reset(self) -> None:
        self.path.unlink(missing_ok=True)


# -- PostgreSQL -----------------------------------------------------------------------------------


def postgres_available() -> str | None:
    """None when the server answers, else why not."""
    try:
        import psycopg2

        psycopg2.connect(POSTGRES_URI, connect_timeout=3).close()
    except Exception as exc:
        return f"PostgreSQL at {POSTGRES_URI} is not reachable: {str(exc).strip().splitlines()[0]}"
    return None


class PostgresWarehouse(Warehouse):
    """A fresh pair of schemas on the server at POSTGRES_URI, and an Airflow connection to it."""

    name = "postgres"

    def __init__(self) -> None:
        import psycopg2

        self.conn = psycopg2.connect(POSTGRES_URI)
        self.conn.autocommit = True
        suffix = uuid.uuid4().hex[:10]
        self.source_schema, self.target_schema = f"rs_src_{suffix}", f"rs_out_{suffix}"
        self.conn_id = f"rs_pg_{suffix}"
        os.environ[f"AIRFLOW_CONN_{self.conn_id.upper()}"] = json.dumps(
            {"conn_type": "postgres", "host": "127.0.0.1", "port": 5432, "login": "postgres", "schema": "test"}
        )

    TYPES: ClassVar[dict[str, str]] = {
        "text": "TEXT",
        "double": "DOUBLE PRECISION",
        "bigint": "BIGINT",
        "numeric": "NUMERIC(38, 9)",
        "timestamp": "TIMESTAMP",
        "boolean": "BOOLEAN",
    }

    def _prepare_schema(self, schema: str, replace: bool) -> None:
        with self.conn.cursor() as cur:
            if replace:
                cur.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            cur.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")

    def columns(self, schema: str, table: str) -> list[str] | None:
        found = self.query(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s "
            "ORDER BY ordinal_position",
            [schema, table],
        )
        return [r["column_name"].lower() for r in found] or None

    def _create_table(self, schema: str, table: str, columns: list[tuple[str, str]], aware: bool) -> None:
        types = {**self.TYPES, **({"timestamp": "TIMESTAMPTZ"} if aware else {})}
        definitions = ", ".join(f'"{c}" {types[k]}' for c, k in columns)
        with self.conn.cursor() as cur:
            cur.execute(f"CREATE TABLE {schema}.{table} ({definitions})")

    def _insert(
        self, schema: str, table: str, columns: list[str], kinds: Mapping[str, str], values: list[tuple], aware: bool
    ) -> None:
        from psycopg2.extras import execute_values

        names = ", ".join(f'"{c}"' for c in columns)
        with self.conn.cursor() as cur:
            execute_values(cur, f"INSERT INTO {schema}.{table} ({names}) VALUES %s", values)

    def query(self, sql: str, params: list | None = None) -> list[dict]:
        with self.conn.cursor() as cur:
            cur.execute(sql, params)
            return _rows(cur) if cur.description else []

    def tables(self, schema: str) -> set[str]:
        rows = self.query("SELECT table_name FROM information_schema.tables WHERE table_schema = %s", [schema])
        return {r["table_name"] for r in rows}

    def reset(self) -> None:
        with self.conn.cursor() as cur:
            cur.execute(f"DROP SCHEMA IF EXISTS {self.source_schema} CASCADE")
            cur.execute(f"DROP SCHEMA IF EXISTS {self.target_schema} CASCADE")

    def close(self) -> None:
        self.reset()
        self.conn.close()
        os.environ.pop(f"AIRFLOW_CONN_{self.conn_id.upper()}", None)


# -- Snowflake ------------------------------------------------------------------------------------


class SnowflakeWarehouse(Warehouse):
    """Snowflake emulated by fakesnow (over DuckDB), reached through the real SnowflakeHook."""

    name = "snowflake"

    def __init__(self) -> None:
        import fakesnow

        from snowflake_rules import snowflake_transaction_rules

        self._patch = fakesnow.patch()
        self._patch.__enter__()
        # DDL commits an open transaction, as on Snowflake (fakesnow does so only with AUTOCOMMIT off).
        self._rules = snowflake_transaction_rules()
        self._rules.__enter__()
        suffix = uuid.uuid4().hex[:10]
        self.conn_id = f"rs_sf_{suffix}"
        os.environ[f"AIRFLOW_CONN_{self.conn_id.upper()}"] = json.dumps(
            {
                "conn_type": "snowflake",
                "login": "tester",
                "password": "unused",
                "schema": "PUBLIC",
                "extra": {"account": "fake", "database": "RS_TEST", "warehouse": "WH", "role": "R"},
            }
        )

    def _connect(self):
        import snowflake.connector

        return snowflake.connector.connect(database="RS_TEST", schema="PUBLIC")

    def load_source(
        self,
        rows: Iterable[Mapping[str, Any]],
        append: bool = False,
        aware: bool = False,
        *,
        event_columns: Mapping[str, str | None] | None = None,
    ) -> None:
        """Always TIMESTAMP_NTZ columns: `aware` is not offered on fakesnow."""
        if aware:
            raise NotImplementedError("SnowflakeWarehouse loads TIMESTAMP_NTZ columns only")
        self._load(rows, append, aware, event_columns, self.source_schema)

    TYPES: ClassVar[dict[str, str]] = {
        "text": "VARCHAR",
        "double": "DOUBLE",
        "bigint": "BIGINT",
        "numeric": "NUMBER(38, 9)",
        "timestamp": "TIMESTAMP_NTZ",
        "boolean": "BOOLEAN",
    }

    def _prepare_schema(self, schema: str, replace: bool) -> None:
        with self._connect() as conn, conn.cursor() as cur:
            cur.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            if replace:
                cur.execute(
                    "SELECT table_name FROM information_schema.tables "
                    "WHERE table_schema = %s AND table_type = 'BASE TABLE'",
                    [schema.upper()],
                )
                for (name,) in cur.fetchall():
                    cur.execute(f"DROP TABLE {schema}.{name}")

    def columns(self, schema: str, table: str) -> list[str] | None:
        found = self.query(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s "
            "ORDER BY ordinal_position",
            [schema.upper(), table.upper()],
        )
        return [r["column_name"].lower() for r in found] or None

    def _create_table(self, schema: str, table: str, columns: list[tuple[str, str]], aware: bool) -> None:
        definitions = ", ".join(f"{c} {self.TYPES[k]}" for c, k in columns)
        with self._connect() as conn, conn.cursor() as cur:
            cur.execute(f"CREATE TABLE {schema}.{table} ({definitions})")

    def _insert(
        self, schema: str, table: str, columns: list[str], kinds: Mapping[str, str], values: list[tuple], aware: bool
    ) -> None:
        import pandas as pd
        from snowflake.connector.pandas_tools import write_pandas

        # Object columns, so a column of ints with a None stays ints (not floats with NaN).
        frame = pd.DataFrame(
            {c.upper(): pd.Series([row[i] for row in values], dtype=object) for i, c in enumerate(columns)}
        )
        for column in columns:
            if kinds[column] == "timestamp":
                frame[column.upper()] = pd.to_datetime(frame[column.upper()])
        with self._connect() as conn:
            write_pandas(conn, frame, table.upper(), schema=schema.upper(), database="RS_TEST")

    def query(self, sql: str, params: list | None = None) -> list[dict]:
        with self._connect() as conn, conn.cursor() as cur:
            cur.execute(sql.replace('"', ""), params)
            if not cur.description:
                return []
            names = [d[0].lower() for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def tables(self, schema: str) -> set[str]:
        rows = self.query("SELECT table_name FROM information_schema.tables WHERE table_schema = %s", [schema.upper()])
        return {r["table_name"].lower() for r in rows}

    def snapshot(self, config: SourceConfig) -> dict[str, list[tuple]]:
        """Every published table and the state, which must all exist."""
        return {
            name: sorted(
                (tuple(r.values()) for r in self.query(f"SELECT * FROM {config.target_schema}.{name}")), key=repr
            )
            for name in published_names(config)
        }

    def reset(self) -> None:
        with self._connect() as conn, conn.cursor() as cur:
            cur.execute(f"DROP SCHEMA IF EXISTS {self.source_schema} CASCADE")
            cur.execute(f"DROP SCHEMA IF EXISTS {self.target_schema} CASCADE")

    def close(self) -> None:
        self._rules.__exit__(None, None, None)
        self._patch.__exit__(None, None, None)
        os.environ.pop(f"AIRFLOW_CONN_{self.conn_id.upper()}", None)


# -- BigQuery -------------------------------------------------------------------------------------

_QUOTED = re.compile(r'"([A-Za-z_][A-Za-z0-9_]*)"')
LOAD_BATCH = 500  # rows per INSERT of BigQueryWarehouse.load_source


def _utc(value: Any) -> Any:
    return value.replace(tzinfo=UTC) if isinstance(value, datetime) and value.tzinfo is None else value


def _parameter(value: Any):
    from google.cloud import bigquery

    if isinstance(value, bool):
        kind = "BOOL"
    elif isinstance(value, int):
        kind = "INT64"
    elif isinstance(value, float):
        kind = "FLOAT64"
    elif isinstance(value, datetime):
        kind, value = "TIMESTAMP", _utc(value)
    elif isinstance(value, date):
        kind = "DATE"
    else:
        kind = "STRING"
    return bigquery.ScalarQueryParameter(None, kind, value)


class BigQueryWarehouse(Warehouse):
    """The BigQuery emulator (tests/bigquery_emulator) as a test warehouse: fresh datasets, the
    pipeline through the real BigQueryHook; loads and reads go through google-cloud-bigquery."""

    name = "bigquery"

    def __init__(self, emulator: Emulator | None = None, location: str | None = None) -> None:
        from bigquery_emulator import DEFAULT_LOCATION, shared_emulator

        self.emulator = emulator or shared_emulator()
        self.location = location or DEFAULT_LOCATION
        suffix = uuid.uuid4().hex[:10]
        self.source_schema, self.target_schema = f"rs_src_{suffix}", f"rs_out_{suffix}"
        self.conn_id = f"rs_bq_{suffix}"
        self.emulator.set_connection(self.conn_id, self.location)
        self.client = self.emulator.client()

    def hook(self):
        """The real BigQueryHook of this warehouse's connection."""
        from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook

        return BigQueryHook(gcp_conn_id=self.conn_id)

    def create_dataset(self, dataset: str) -> None:
        from google.cloud import bigquery

        ref = bigquery.Dataset(f"{self.emulator.project}.{dataset}")
        ref.location = self.location
        self.client.create_dataset(ref, exists_ok=True)

    def load_source(
        self,
        rows: Iterable[Mapping[str, Any]],
        append: bool = False,
        aware: bool = False,
        *,
        event_columns: Mapping[str, str | None] | None = None,
    ) -> None:
        """BigQuery has one TIMESTAMP type, an instant: naive values are taken as UTC, aware ones
        converted (`aware` changes nothing)."""
        self._load(rows, append, aware, event_columns, self.source_schema)

    TYPES: ClassVar[dict[str, str]] = {
        "text": "STRING",
        "double": "FLOAT64",
        "bigint": "INT64",
        "numeric": "NUMERIC",
        "timestamp": "TIMESTAMP",
        "boolean": "BOOL",
    }
    # A column's type as the API may give it back, as a query parameter's type.
    PARAMETER_TYPES: ClassVar[dict[str, str]] = {"INTEGER": "INT64", "FLOAT": "FLOAT64", "BOOLEAN": "BOOL"}

    def _table_id(self, schema: str, table: str) -> str:
        return f"{self.emulator.project}.{schema}.{table}"

    def _prepare_schema(self, schema: str, replace: bool) -> None:
        self.create_dataset(schema)
        if replace:
            for name in self.tables(schema):
                self.client.delete_table(self._table_id(schema, name), not_found_ok=True)

    def columns(self, schema: str, table: str) -> list[str] | None:
        from google.api_core.exceptions import NotFound

        try:
            found = self.client.get_table(self._table_id(schema, table))
        except NotFound:
            return None
        return [f.name.lower() for f in found.schema]

    def _create_table(self, schema: str, table: str, columns: list[tuple[str, str]], aware: bool) -> None:
        from google.cloud import bigquery

        fields = [bigquery.SchemaField(c, self.TYPES[k]) for c, k in columns]
        self.client.create_table(bigquery.Table(self._table_id(schema, table), schema=fields))

    def _insert(
        self, schema: str, table: str, columns: list[str], kinds: Mapping[str, str], values: list[tuple], aware: bool
    ) -> None:
        """A parameterized INSERT, not a load job: bqemulator refuses the client's multipart upload
        ("second part has unsupported Content-Type '*/*'"). Parameters take the table's own column
        types (an appended column of None values is no STRING)."""
        from google.cloud import bigquery

        declared = {f.name.lower(): f.field_type for f in self.client.get_table(self._table_id(schema, table)).schema}
        types = [self.PARAMETER_TYPES.get(declared[c], declared[c]) for c in columns]
        records = [tuple(_naive_utc(value) for value in row) for row in values]
        # LOAD_BATCH rows of the six standard columns: as many values per INSERT with more columns.
        batch_rows = max(1, LOAD_BATCH * len(COLUMNS) // len(columns))
        for start in range(0, len(records), batch_rows):
            batch = records[start : start + batch_rows]
            row_values = f"({', '.join(['?'] * len(columns))})"
            parameters = [
                bigquery.ScalarQueryParameter(None, kind, _utc(value))
                for row in batch
                for kind, value in zip(types, row, strict=True)
            ]
            self.client.query(
                f"INSERT INTO `{schema}`.`{table}` ({', '.join(f'`{c}`' for c in columns)}) "
                f"VALUES {', '.join([row_values] * len(batch))}",
                job_config=bigquery.QueryJobConfig(query_parameters=parameters),
            ).result()

    def query(self, sql: str, params: list | None = None) -> list[dict]:
        """Rows as dicts (names lower-case, TIMESTAMPs naive UTC). `"name"` becomes `` `name` ``
        (the shared helpers quote the ANSI way; a double-quoted token is a string in GoogleSQL) and
        `%s` a positional parameter."""
        from google.cloud import bigquery

        sql = _QUOTED.sub(r"`\1`", sql).replace("%s", "?")
        config = bigquery.QueryJobConfig(query_parameters=[_parameter(p) for p in params or []])
        result = self.client.query(sql, job_config=config).result()
        names = [f.name.lower() for f in result.schema or []]
        return [{n: _naive_utc(v) for n, v in zip(names, row.values(), strict=True)} for row in result]

    def tables(self, schema: str) -> set[str]:
        return {t.table_id for t in self.client.list_tables(schema)} if self._exists(schema) else set()

    def _exists(self, dataset: str) -> bool:
        from google.api_core.exceptions import NotFound

        try:
            self.client.get_dataset(dataset)
        except NotFound:
            return False
        return True

    def snapshot(self, config: SourceConfig) -> dict[str, list[tuple]]:
        existing = self.tables(config.target_schema)
        rows = {
            n: self.query(f"SELECT * FROM `{config.target_schema}`.`{n}`")
            for n in published_names(config)
            if n in existing
        }
        return {n: sorted((tuple(r.values()) for r in found), key=repr) for n, found in rows.items()}

    def reset(self) -> None:
        for dataset in (self.source_schema, self.target_schema):
            self.client.delete_dataset(dataset, delete_contents=True, not_found_ok=True)

    def close(self) -> None:
        try:
            if self.emulator.alive():
                self.reset()
        finally:
            os.environ.pop(f"AIRFLOW_CONN_{self.conn_id.upper()}", None)


# -- runs on any warehouse ------------------------------------------------------------------------


def publish_after_another(
    first: SessionRunner, second: SessionRunner, mode: str, published: Callable[[], Any]
) -> tuple[Any, Any]:
    """Two runs planned on one state version: the first runs through, the second stages and tries
    to publish, which must be refused. The published tables after the first run, and after the
    refusal (they must be equal)."""
    import pytest

    from rudder_sessions.errors import PublishConflict
    from rudder_sessions.model import PHASES, PUBLISH

    plan_a, plan_b = first.plan("run-a", mode), second.plan("run-b", mode)
    assert plan_a.state_version == plan_b.state_version
    for phase in PHASES:
        first.execute(phase, plan_a)
    after_first = published()
    for phase in PHASES[:-1]:
        second.execute(phase, plan_b)
    with pytest.raises(PublishConflict, match="another run published first"):
        second.execute(PUBLISH, plan_b)
    return after_first, published()


def benchmark_harness() -> ModuleType:
    """`benchmarks/run.py` as a module (it is a script, not part of the package)."""
    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "benchmarks" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def assert_killed_run_changes_nothing(
    warehouse: Warehouse, config: SourceConfig, target: Callable[..., None], args: tuple, timeout: float
) -> None:
    """`target(*args)`, run in a forked child that kills itself (exit 9) partway through a run,
    leaves the published tables as they were; the next incremental run converges to the SPEC model."""
    before = warehouse.snapshot(config)
    process = multiprocessing.get_context("fork").Process(target=target, args=args)
    process.start()
    process.join(timeout)
    assert process.exitcode == 9
    assert warehouse.snapshot(config) == before
    summary = warehouse.runner(config).run("next", "incremental")
    assert summary["mode"] == "incremental"
    warehouse.assert_matches_spec(config)
