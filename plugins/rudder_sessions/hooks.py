"""The Airflow hook of a source's connection, checked and guarded before any SQL runs.

A missing connection or one of a type without a SQL hook, a BigQuery connection without a location,
a DuckDB path that is missing, a directory, not a DuckDB file, held by another process or given too
little memory, and a warehouse that refuses the connection are user-facing one-liners here, not
driver tracebacks later.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rudder_sessions.config import SourceConfig
from rudder_sessions.dialects import CONN_TYPE_DIALECTS, Dialect, dialect_for_conn_type, get_dialect
from rudder_sessions.driver_errors import first_line
from rudder_sessions.errors import ConfigError, RudderSessionsError, SourceError, WarehouseBusy, WarehouseUnreachable

if TYPE_CHECKING:
    from airflow.providers.common.sql.hooks.sql import DbApiHook


def get_hook(config: SourceConfig, connect: Callable[[], Any] | None = None) -> DbApiHook:
    """The connection's own DbApiHook, resolved the Airflow way (env vars, secrets, metadata DB).

    `connect` lets an operator pass its own `get_db_hook`; a missing connection becomes a
    ConfigError naming the source either way.
    """
    from airflow.exceptions import AirflowException, AirflowNotFoundException
    from airflow.providers.common.sql.hooks.sql import DbApiHook
    from airflow.providers.common.sql.operators.sql import BaseSQLOperator

    try:
        hook = connect() if connect else BaseSQLOperator.get_hook(config.conn_id)
    except AirflowNotFoundException:
        raise ConfigError(config.name, "conn_id", f"Airflow connection {config.conn_id!r} does not exist") from None
    except (AirflowException, ImportError) as exc:  # no hook for the type (`mysql`), or its provider is broken
        raise ConfigError(
            config.name,
            "conn_id",
            f"connection {config.conn_id!r}{_of_type(config.conn_id)}, which rudder-sessions cannot use "
            f"({first_line(exc)}); supported types: {', '.join(sorted(CONN_TYPE_DIALECTS))}",
        ) from exc
    if not isinstance(hook, DbApiHook):
        conn_type = getattr(getattr(hook, "connection", None), "conn_type", None) or getattr(hook, "conn_type", "")
        if conn_type == "google_cloud_platform":
            raise ConfigError(
                config.name,
                "conn_id",
                f"connection {config.conn_id!r} is of type google_cloud_platform, which gives no SQL hook: "
                "use type gcpbigquery (BigQuery) with the same credentials and a location",
            )
        raise ConfigError(
            config.name, "conn_id", f"connection {config.conn_id!r} does not provide a SQL (DbApiHook) hook"
        )
    check_bigquery_hook(config, hook)
    hook = with_duckdb_limits(config, hook)
    check_duckdb_file(config, hook)
    guard_connection(config, hook)
    return hook


def _of_type(conn_id: str) -> str:
    """The words after the connection's id in the message: ` is of type 'mysql'`."""
    from airflow.providers.common.compat.sdk import BaseHook

    try:
        return f" is of type {BaseHook.get_connection(conn_id).conn_type!r}"
    except Exception:  # only for the message: the error being reported matters
        return " is of a type"


# DuckDB's words when another process holds the file (duckdb.org/docs/stable/connect/concurrency).
DUCKDB_LOCK = re.compile(
    r'Could not set lock on file "(?P<file>[^"]+)": Conflicting lock is held in (?P<holder>.*?) \(PID (?P<pid>\d+)\)'
)


def guard_connection(config: SourceConfig, hook: DbApiHook) -> None:
    """Opening a connection fails for reasons the user can act on: say which in one line.

    A DuckDB file held by another process (a running task, a CLI run, a notebook: one writing
    process at a time) is WarehouseBusy, a hiccup Airflow retries after its retry delay; a memory
    limit too small to open the file names the limit; a file DuckDB cannot open (not a DuckDB
    database, written by a newer DuckDB) is a SourceError. Any other warehouse refusing or not
    answering (a server down, an unknown database or role: its driver gives no error code to tell
    them apart) is WarehouseUnreachable, retried like a busy one.
    """
    get_conn = hook.get_conn
    duckdb = getattr(hook, "conn_type", None) == "duckdb"

    def get_conn_or_explain() -> Any:
        try:
            return get_conn()
        except RudderSessionsError:
            raise
        except Exception as exc:
            raise (_duckdb_open_error(config, hook, exc) if duckdb else _unreachable(config, hook, exc)) from exc

    hook.get_conn = get_conn_or_explain  # type: ignore[method-assign]


def _duckdb_open_error(config: SourceConfig, hook: DbApiHook, exc: Exception) -> RudderSessionsError:
    busy = DUCKDB_LOCK.search(str(exc))
    if busy is not None:
        return WarehouseBusy(
            f"DuckDB file {busy['file']} of source {config.name!r} is in use by another process "
            f"(PID {busy['pid']}, {busy['holder']}): one process at a time can open it; wait for that "
            "one to finish, or give each source its own file"
        )
    if type(exc).__name__ == "OutOfMemoryException":
        problem = f"is too little for DuckDB to open the database ({first_line(exc)})"
        if config.duckdb_memory_limit is not None:
            return ConfigError(config.name, "duckdb_memory_limit", f"{config.duckdb_memory_limit!r} {problem}")
        limit = getattr(hook, "memory_limit", None)
        return ConfigError(config.name, "conn_id", f"memory_limit {limit!r} of connection {config.conn_id!r} {problem}")
    return SourceError(f"{_duckdb_database(config, hook)} cannot be opened: {first_line(exc)}")


def _unreachable(config: SourceConfig, hook: DbApiHook, exc: Exception) -> WarehouseUnreachable:
    conn_type = getattr(hook, "conn_type", None) or type(hook).__name__
    reason = first_line(exc).removeprefix("connection failed: ")  # psycopg 3's words before libpq's
    return WarehouseUnreachable(f"connection {config.conn_id!r} ({conn_type}): cannot connect: {reason}")


def _duckdb_database(config: SourceConfig, hook: DbApiHook) -> str:
    get_database = getattr(hook, "get_database", None)
    database = get_database() if get_database else getattr(hook, "database", "?")
    return f"DuckDB database {database} (connection {config.conn_id!r})"


def check_bigquery_hook(config: SourceConfig, hook: DbApiHook) -> None:
    """A BigQuery connection runs the model's GoogleSQL in the connection's location.

    BigQueryHook reads results only with a location (it refuses `get_records` without one), and
    defaults to legacy SQL, which the model is not written in.
    """
    if type(hook).__name__ != "BigQueryHook":
        return
    if not getattr(hook, "location", None):
        raise ConfigError(
            config.name,
            "conn_id",
            f"BigQuery connection {config.conn_id!r} has no location: set 'location' in its extra "
            "(the region of the datasets, e.g. US or europe-west1)",
        )
    hook.use_legacy_sql = False  # type: ignore[attr-defined]


def check_duckdb_file(config: SourceConfig, hook: DbApiHook) -> None:
    """A DuckDB path that is no file is a configuration mistake, not a warehouse hiccup worth
    retrying: say so instead of letting the first connection fail with an IOException. A missing
    file is refused too: DuckDB would create it empty, and the source is read from it."""
    get_database = getattr(hook, "get_database", None)
    if getattr(hook, "conn_type", None) != "duckdb" or get_database is None:
        return
    database = str(get_database())
    if database.startswith((":", "md:")) or "://" in database:
        return
    path = Path(database).expanduser()
    where = f"DuckDB database {database} (connection {config.conn_id!r})"
    if not path.parent.is_dir():
        raise SourceError(f"{where}: its directory does not exist")
    if path.is_dir():
        raise SourceError(f"{where} is a directory, not a file")
    if not path.exists():
        raise SourceError(f"{where} does not exist: check the path (DuckDB would create an empty database there)")


# DuckDB sizes itself at 80% of the host's memory, per connection: several tasks on one Airflow
# worker would each claim most of it. A run that sets no limit (neither the source nor the Airflow
# connection's extra) gets this budget, enough for 1e7 events at a few percent more wall time
# (benchmarks/RESULTS.md); DuckDB spills to disk beyond it.
DEFAULT_DUCKDB_MEMORY_LIMIT_BYTES = 3 * 1024**3


DUCKDB_HOOK_SETTINGS = (
    "extension_directory",
    "autoinstall_extensions",
    "autoload_extensions",
    "allow_community_extensions",
    "threads",
    "temp_directory",
    "read_only",
    "settings",
)


def default_duckdb_memory_limit() -> str:
    """3 GiB, or half the machine's memory where that is less."""
    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        physical = 0
    limit = min(DEFAULT_DUCKDB_MEMORY_LIMIT_BYTES, physical // 2) if physical > 0 else DEFAULT_DUCKDB_MEMORY_LIMIT_BYTES
    return f"{max(limit // 1024**2, 256)}MiB"


def with_duckdb_limits(config: SourceConfig, hook: DbApiHook) -> DbApiHook:
    """The source's DuckDB memory limit and threads, on top of the connection's own settings; a
    DuckDB connection without any memory limit gets the default budget, and one with a default
    collation gets exact comparisons back."""
    from airflow.providers.duckdb.hooks.duckdb import DuckDBHook

    limits = {"memory_limit": config.duckdb_memory_limit, "threads": config.duckdb_threads}
    limits = {key: value for key, value in limits.items() if value is not None}
    if not isinstance(hook, DuckDBHook):
        if limits:
            field = "duckdb_memory_limit" if "memory_limit" in limits else "duckdb_threads"
            raise ConfigError(config.name, field, f"applies to DuckDB connections only, not {type(hook).__name__}")
        return hook
    if "memory_limit" not in limits and hook.memory_limit is None:
        limits["memory_limit"] = default_duckdb_memory_limit()
    settings = dict(hook.settings or {})
    if settings.get("default_collation"):
        # Ids compare exactly whatever the connection's collation (SPEC "Source"): under `nocase`
        # or `noaccent` 'ev-a' and 'ev-A' would be one event, 'User-1' and 'user-1' one visitor.
        limits["settings"] = {**settings, "default_collation": ""}
    if not limits:
        return hook
    # A hook of the same class with every setting of the given one made explicit, and the limits on top.
    kept = {name: getattr(hook, name) for name in DUCKDB_HOOK_SETTINGS}
    return type(hook)(
        duckdb_conn_id=getattr(hook, hook.conn_name_attr),
        database=hook.database,
        extensions=hook.get_extensions(),
        **{**kept, **limits},
    )


def resolve_dialect(config: SourceConfig, hook: DbApiHook) -> Dialect:
    if config.dialect:
        dialect = get_dialect(config.dialect)
    else:
        conn_type = getattr(getattr(hook, "connection", None), "conn_type", None) or getattr(hook, "conn_type", "")
        dialect = get_dialect(dialect_for_conn_type(conn_type))
    dialect.configure(hook)
    return dialect
