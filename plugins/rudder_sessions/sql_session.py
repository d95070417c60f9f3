"""One source's warehouse as every part of a run talks to it: its config, hook and dialect, the
run's table names, and statements sent with their failures classified."""

from __future__ import annotations

from contextlib import closing, suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rudder_sessions.config import SourceConfig
from rudder_sessions.dialects import Dialect
from rudder_sessions.driver_errors import phase_error
from rudder_sessions.errors import RudderSessionsError
from rudder_sessions.model import Tables

if TYPE_CHECKING:
    from airflow.providers.common.sql.hooks.sql import DbApiHook


@dataclass
class SqlSession:
    config: SourceConfig
    hook: DbApiHook
    dialect: Dialect

    def tables(self, key: str) -> Tables:
        return Tables(self.config, self.dialect, key)

    def statements(self, sql: str) -> list[str]:
        return [s for s in self.hook.split_sql_string(sql, strip_semicolon=True) if s.strip()]

    def execute(self, statements: list[str], phase: str = "setup") -> None:
        """Run statements in one transaction; a driver error becomes the phase's one-line error
        (refused or retryable), ours (a busy DuckDB file) passes as it is."""
        if not statements:
            return
        try:
            self.hook.run(statements, autocommit=False)
        except RudderSessionsError:
            raise
        except Exception as exc:
            raise phase_error(phase, self.config.name, exc) from exc

    def end_failed_transaction(self) -> None:
        """Roll back what a failed statement left open: a run serves every call from one shared
        connection (SessionRunner.one_connection), which would refuse the next statement; closing
        that connection is the run's, so closing it here does nothing. Best effort."""
        with suppress(Exception), closing(self.hook.get_conn()) as conn:
            conn.rollback()

    def records(self, sql: str, parameters: Any = None) -> list[Any]:
        return self.hook.get_records(sql, parameters=parameters or None)

    def first(self, sql: str) -> Any:
        return self.hook.get_first(sql)

    def count(self, table: str) -> int:
        return int(self.first(f"SELECT COUNT(*) FROM {table}")[0])

    def column_types(self, schema: str, table: str) -> dict[str, str]:
        sql, parameters = self.dialect.columns_query(schema, table)
        return {str(r[0]).lower(): str(r[1]) for r in self.hook.get_records(sql, parameters=parameters)}

    def columns(self, schema: str, table: str) -> set[str]:
        return set(self.column_types(schema, table))

    def schema_columns(self) -> dict[str, set[str]]:
        """Columns (lower-case) of every table in the target schema, by table name (lower-case)."""
        sql, parameters = self.dialect.schema_columns_query(self.config.target_schema)
        columns: dict[str, set[str]] = {}
        for table, column in self.records(sql, parameters):
            columns.setdefault(str(table).lower(), set()).add(str(column).lower())
        return columns

    def target_schema_tables(self) -> set[str]:
        """Names (lower-case) of the tables in the target schema."""
        sql, parameters = self.dialect.tables_query(self.config.target_schema)
        return {str(r[0]).lower() for r in self.records(sql, parameters)}
