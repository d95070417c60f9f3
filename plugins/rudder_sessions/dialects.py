"""The few SQL pieces that differ between warehouses, as small named methods.

The step templates in `sql/` call these as `{{ d.epoch_us('timestamp') }}` and stay otherwise
plain SQL. Timestamps are compared through integer epoch microseconds so that every warehouse
applies the session timeout exactly (no `DATEDIFF` boundary counting, no truncated minutes).
"""

from __future__ import annotations

from datetime import UTC, datetime

from rudder_sessions.config import IDENTIFIER
from rudder_sessions.errors import RudderSessionsError

# What counts as "only whitespace" in an id: space, tab, LF, FF, CR.
WHITESPACE_CODEPOINTS = (32, 9, 10, 12, 13)


class Dialect:
    """ANSI-flavoured defaults; subclasses override what their warehouse spells differently."""

    name = "ansi"
    text_type = "VARCHAR"
    float_type = "DOUBLE PRECISION"
    bigint_type = "BIGINT"
    timestamp_type = "TIMESTAMP"

    def quote(self, identifier: str) -> str:
        if not IDENTIFIER.match(identifier):
            raise RudderSessionsError(f"refusing to quote invalid identifier {identifier!r}")
        return f'"{identifier}"'

    def table(self, schema: str, name: str) -> str:
        return f"{self.quote(schema)}.{self.quote(name)}"

    def literal(self, value: str | int | float | None) -> str:
        """A SQL literal for a value the engine itself produced (run ids, modes, counts)."""
        if value is None:
            return "NULL"
        if isinstance(value, bool):
            return "TRUE" if value else "FALSE"
        if isinstance(value, int | float):
            return repr(value)
        return "'" + str(value).replace("'", "''") + "'"

    def timestamp_literal(self, value: datetime | None) -> str:
        """A UTC timestamp literal (naive), or a typed NULL."""
        if value is None:
            return f"CAST(NULL AS {self.timestamp_type})"
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return f"CAST('{value.isoformat(sep=' ', timespec='microseconds')}' AS {self.timestamp_type})"

    def whitespace_chars(self) -> str:
        return " || ".join(f"CHR({c})" for c in WHITESPACE_CODEPOINTS)

    def blank_to_null(self, expr: str) -> str:
        return f"CASE WHEN TRIM(BOTH {self.whitespace_chars()} FROM {expr}) = '' THEN NULL ELSE {expr} END"

    def epoch_us(self, expr: str) -> str:
        raise NotImplementedError

    def text_order(self, expr: str) -> str:
        """An ORDER BY key for a text column, in plain code point order whatever the collation."""
        return expr

    def to_text(self, expr: str) -> str:
        return f"CAST({expr} AS {self.text_type})"

    def to_float(self, expr: str) -> str:
        return f"CAST({expr} AS {self.float_type})"

    def session_id(self, sequence_number: str, visitor: str) -> str:
        return f"{self.to_text(sequence_number)} || ' - ' || {visitor}"

    def current_timestamp(self) -> str:
        return "CURRENT_TIMESTAMP"

    def begin(self) -> str:
        return "BEGIN TRANSACTION"

    def commit(self) -> str:
        return "COMMIT"

    def rollback(self) -> str:
        return "ROLLBACK"

    def create_schema(self, schema: str) -> str:
        return f"CREATE SCHEMA IF NOT EXISTS {self.quote(schema)}"

    def drop_table(self, table: str) -> str:
        return f"DROP TABLE IF EXISTS {table}"

    def columns_query(self) -> str:
        """Columns of one table, case-insensitively, with bind parameters (schema, table)."""
        return (
            "SELECT column_name FROM information_schema.columns "
            "WHERE lower(table_schema) = lower(%s) AND lower(table_name) = lower(%s)"
        )

    def tables_query(self) -> str:
        """Tables of a schema, with a bind parameter (schema)."""
        return "SELECT table_name FROM information_schema.tables WHERE lower(table_schema) = lower(%s)"


class DuckDBDialect(Dialect):
    name = "duckdb"
    float_type = "DOUBLE"

    def epoch_us(self, expr: str) -> str:
        return f"epoch_us({expr})"

    def blank_to_null(self, expr: str) -> str:
        return f"CASE WHEN trim({expr}, {self.whitespace_chars()}) = '' THEN NULL ELSE {expr} END"

    def columns_query(self) -> str:
        return super().columns_query().replace("%s", "?")

    def tables_query(self) -> str:
        return super().tables_query().replace("%s", "?")


class PostgresDialect(Dialect):
    name = "postgres"
    text_type = "TEXT"

    def epoch_us(self, expr: str) -> str:
        # EXTRACT(EPOCH ...) is an exact numeric on PostgreSQL 14+.
        return f"CAST(EXTRACT(EPOCH FROM {expr}) * 1000000 AS BIGINT)"

    def text_order(self, expr: str) -> str:
        return f'{expr} COLLATE "C"'


class SnowflakeDialect(Dialect):
    """Snowflake upper-cases unquoted names, and RudderStack creates its tables and columns that way:
    quoted identifiers are upper-cased too, so `"TIMESTAMP"` and our own aliases always agree."""

    name = "snowflake"
    float_type = "DOUBLE"
    timestamp_type = "TIMESTAMP_NTZ"

    def quote(self, identifier: str) -> str:
        return super().quote(identifier).upper()

    def epoch_us(self, expr: str) -> str:
        return f"DATE_PART(EPOCH_MICROSECOND, {expr})"

    def blank_to_null(self, expr: str) -> str:
        # TRANSLATE deletes the listed characters (what TRIM(x, chars) also does on Snowflake,
        # but fakesnow's translation of that TRIM ignores the characters).
        return f"CASE WHEN TRANSLATE({expr}, {self.whitespace_chars()}, '') = '' THEN NULL ELSE {expr} END"


DIALECTS: dict[str, type[Dialect]] = {
    "duckdb": DuckDBDialect,
    "postgres": PostgresDialect,
    "snowflake": SnowflakeDialect,
}

# Airflow connection types and the dialect their SQL is written in.
CONN_TYPE_DIALECTS = {
    "duckdb": "duckdb",
    "postgres": "postgres",
    "snowflake": "snowflake",
    "gcpbigquery": "bigquery",
    "google_cloud_platform": "bigquery",
    "redshift": "redshift",
}


def get_dialect(name: str) -> Dialect:
    try:
        return DIALECTS[name]()
    except KeyError:
        supported = ", ".join(sorted(DIALECTS))
        raise RudderSessionsError(f"dialect {name!r} is not supported yet (supported: {supported})") from None


def dialect_for_conn_type(conn_type: str) -> str:
    try:
        return CONN_TYPE_DIALECTS[conn_type]
    except KeyError:
        raise RudderSessionsError(
            f"connection type {conn_type!r} has no known SQL dialect; set 'dialect' in the source config"
        ) from None
