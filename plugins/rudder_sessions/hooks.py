"""The Airflow hook of a source's connection, checked and guarded before any SQL runs.

A missing connection, a BigQuery connection without a location, a DuckDB file in a missing
directory or held by another process are user-facing one-liners here, not driver tracebacks later.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rudder_sessions.config import SourceConfig
from rudder_sessions.dialects import Dialect, dialect_for_conn_type, get_dialect
from rudder_sessions.errors import ConfigError, SourceError, WarehouseBusy

if TYPE_CHECKING:
    from airflow.providers.common.sql.hooks.sql import DbApiHook


def get_hook(config: SourceConfig, connect: Callable[[], Any] | None = None) -> DbApiHook:
    """The connection's own DbApiHook, resolved the Airflow way (env vars, secrets, metadata DB).

    `connect` lets an operator pass its own `get_db_hook`; a missing connection becomes a
    ConfigError naming the source either way.
    """
    from airflow.exceptions import AirflowNotFoundException
    from airflow.providers.common.sql.hooks.sql import DbApiHook
    from airflow.providers.common.sql.operators.sql import BaseSQLOperator

    try:
        hook = connect() if connect else BaseSQLOperator.get_hook(config.conn_id)
    except AirflowNotFoundException:
        raise ConfigError(config.name, "conn_id", f"Airflow connection {config.conn_id!r} does not exist") from None
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
    guard_duckdb_lock(config, hook)
    return hook


# DuckDB's words when another process holds the file (duckdb.org/docs/stable/connect/concurrency).
DUCKDB_LOCK = re.compile(
    r'Could not set lock on file "(?P<file>[^"]+)": Conflicting lock is held in (?P<holder>.*?) \(PID (?P<pid>\d+)\)'
)


def guard_duckdb_lock(config: SourceConfig, hook: DbApiHook) -> None:
    """A DuckDB file holds one writing process at a time: while another (a running task, a CLI
    run, a notebook) has it open, every connection fails. Say so in one line; as a PhaseFailed it
    is a hiccup Airflow retries after its retry delay."""
    if getattr(hook, "conn_type", None) != "duckdb":
        return
    get_conn = hook.get_conn

    def get_conn_or_busy() -> Any:
        try:
            return get_conn()
        except Exception as exc:
            busy = DUCKDB_LOCK.search(str(exc))
            if busy is None:
                raise
            raise WarehouseBusy(
                f"DuckDB file {busy['file']} of source {config.name!r} is in use by another process "
                f"(PID {busy['pid']}, {busy['holder']}): one process at a time can open it; wait for that "
                "one to finish, or give each source its own file"
            ) from None

    hook.get_conn = get_conn_or_busy  # type: ignore[method-assign]


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
    """A DuckDB file in a missing directory is a configuration mistake, not a warehouse hiccup
    worth retrying: say so instead of letting the first connection fail with an IOException."""
    get_database = getattr(hook, "get_database", None)
    if getattr(hook, "conn_type", None) != "duckdb" or get_database is None:
        return
    database = str(get_database())
    if database.startswith((":", "md:")) or "://" in database:
        return
    if not Path(database).expanduser().parent.is_dir():
        raise SourceError(f"DuckDB database {database} (connection {config.conn_id!r}): its directory does not exist")


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
    DuckDB connection without any memory limit gets the default budget."""
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
