"""The few SQL pieces that differ between warehouses, as small named methods.

The step templates in `sql/` call these as `{{ d.epoch_us('timestamp') }}` and stay otherwise
plain SQL. Timestamps are compared through integer epoch microseconds so that every warehouse
applies the session timeout exactly (no `DATEDIFF` boundary counting, no truncated minutes).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from rudder_sessions.driver_errors import affected_rows, rows_text
from rudder_sessions.errors import RudderSessionsError
from rudder_sessions.identifiers import WHITESPACE, WHITESPACE_CODEPOINTS
from rudder_sessions.model import TableLayout, table
from rudder_sessions.settings import IDENTIFIER
from rudder_sessions.timestamps import naive_utc

# A BigQuery project id (cloud.google.com/resource-manager/docs/creating-managing-projects), or a
# legacy domain-scoped one (example.com:project).
PROJECT_ID = re.compile(r"\A([a-z][a-z0-9.-]*:)?[a-z][a-z0-9-]{4,28}[a-z0-9]\Z")

log = logging.getLogger(__name__)
PUBLISH_REFUSED = "publish refused"  # how publish.sql's ASSERTs begin their messages


class ClaimLost(Exception):
    """Publish's claim on the source's state did not hold: another run published since the plan."""




def ascii_chr_and_literal() -> str:
    """The blank characters as SQL text: the ASCII ones by CHR(), the others in one UTF-8 literal."""
    ascii_chars = " || ".join(f"CHR({c})" for c in WHITESPACE_CODEPOINTS if c < 128)
    return f"{ascii_chars} || '{''.join(c for c in WHITESPACE if ord(c) >= 128)}'"


class Dialect:
    """ANSI-flavoured defaults; subclasses override what their warehouse spells differently."""

    name = "ansi"
    # UNION without a quantifier is not valid everywhere (BigQuery wants DISTINCT spelled out).
    union = "UNION"
    # BigQuery runs a transaction only inside one multi-statement script (one job): publish.sql
    # writes its state claim as ASSERTs there, and `run_transaction` sends it as one script.
    script_transactions = False
    # A warehouse that prunes a table's partitions only by constant filters, not by a join or a
    # subquery (BigQuery): each phase runs as one script, and its reads of the published tables
    # are bounded by script variables computed from the run's staged tables first.
    script_bounds = False
    # DELETE ... USING <table> WHERE <join>: publish deletes the reopened rows by a join on the
    # visitor (4-5x less than a correlated EXISTS on DuckDB); without it, the same predicate in EXISTS.
    delete_using = True
    # A full refresh moves its staged tables into place by DROP + RENAME inside the publish
    # transaction: only where DDL is transactional and no grants or dependent views are lost
    # (DuckDB). Everywhere else publish is DML only, into targets created once.
    publish_by_rename = False
    # DELETE FROM <table> AS <alias>: GoogleSQL resolves `dataset.table.column` as a field path of
    # the table's implicit alias `table`, so the target of a correlated DELETE needs an alias
    # (Redshift's DELETE takes none: its references stay qualified by the table).
    delete_alias = True
    text_type = "VARCHAR"
    float_type = "DOUBLE PRECISION"
    bigint_type = "BIGINT"
    timestamp_type = "TIMESTAMP"
    bool_type = "BOOLEAN"
    numeric_type = "DECIMAL(38, 9)"
    # Where a warehouse keeps its datasets (BigQuery); set from the connection.
    location: str | None = None
    # The project of every table path (BigQuery); set from the connection.
    project: str | None = None

    def configure(self, hook: object) -> None:
        """Take what the SQL needs from the connection's hook (nothing, but on BigQuery)."""

    def column_type(self, kind: str) -> str:
        """The warehouse type of a dialect-neutral column type (`model.COLUMN_TYPES`)."""
        return {
            "text": self.text_type,
            "timestamp": self.timestamp_type,
            "float": self.float_type,
            "bigint": self.bigint_type,
            "bool": self.bool_type,
            "numeric": self.numeric_type,
        }[kind]

    def table_layout(self, step: str, layout: TableLayout | None = None) -> str:
        """Clauses after a target's column list that lay it out for the reads of incremental runs
        (partitioning, clustering, distribution), from the source's `layout` or the warehouse's
        default; empty where the warehouse takes none."""
        return ""

    @staticmethod
    def default_layout(step: str) -> TableLayout:
        """The table's declared layout (`model.Table.layout`): by visitor and by time."""
        return table(step).layout

    def create_table(self, table: str, columns: list[tuple[str, str]], layout: str = "") -> str:
        body = ",\n    ".join(f"{self.quote(name)} {self.column_type(kind)}" for name, kind in columns)
        return f"CREATE TABLE IF NOT EXISTS {table} (\n    {body}\n){(chr(10) + layout) if layout else ''}"

    # ADD COLUMN IF NOT EXISTS: two upgrades of one target at once (both saw the column missing)
    # then both succeed. DuckDB (duckdb.org/docs/stable/sql/statements/alter_table), PostgreSQL
    # (www.postgresql.org/docs/current/sql-altertable.html) and BigQuery take it; where it is not
    # taken (Redshift), the planner reads the columns again after a failed ADD COLUMN.
    add_column_if_not_exists = False

    def add_column(self, table: str, column: str, kind: str) -> str:
        guard = " IF NOT EXISTS" if self.add_column_if_not_exists else ""
        return f"ALTER TABLE {table} ADD COLUMN{guard} {self.quote(column)} {self.column_type(kind)}"

    def drop_column(self, table: str, column: str) -> str:
        return f"ALTER TABLE {table} DROP COLUMN {self.quote(column)}"

    def delete_all(self, table: str) -> str:
        # DML, not TRUNCATE: TRUNCATE commits the transaction on Redshift, and BigQuery's DELETE
        # needs a WHERE clause.
        return f"DELETE FROM {table} WHERE TRUE"

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
        value = naive_utc(value)
        return f"CAST('{value.isoformat(sep=' ', timespec='microseconds')}' AS {self.timestamp_type})"

    def whitespace_chars(self) -> str:
        return " || ".join(f"CHR({c})" for c in WHITESPACE_CODEPOINTS)

    def blank_to_null(self, expr: str) -> str:
        return f"CASE WHEN {self.trim_blank(expr)} = '' THEN NULL ELSE {expr} END"

    def trim_blank(self, expr: str) -> str:
        """The text without the blank characters at either end (how junk ids are compared)."""
        return f"TRIM(BOTH {self.whitespace_chars()} FROM {expr})"

    def epoch_us(self, expr: str) -> str:
        raise NotImplementedError

    def text_order(self, expr: str) -> str:
        """An ORDER BY key for a text column, in plain code point order whatever the collation."""
        return expr

    def exact_text(self, expr: str) -> str:
        """An id as the run compares it: case- and accent-sensitive whatever the database's
        default collation (the staged and published columns inherit it)."""
        return expr

    # Whether `=` on text ignores trailing blanks (Redshift): ids that end in one are refused.
    ignores_trailing_blanks = False

    def is_time_zone_aware(self, data_type: str) -> bool:
        """Whether an information_schema data type is a timestamp with a time zone."""
        t = data_type.lower()
        return ("with time zone" in t and "without" not in t) or t in ("timestamptz", "timestamp_tz", "timestamp_ltz")

    def to_utc(self, expr: str) -> str:
        """A time-zone-aware timestamp as the UTC timestamp without a zone that the model works in."""
        return f"({expr} AT TIME ZONE 'UTC')"

    def to_text(self, expr: str) -> str:
        return f"CAST({expr} AS {self.text_type})"

    def to_float(self, expr: str) -> str:
        return f"CAST({expr} AS {self.float_type})"

    def session_id(self, sequence_number: str, visitor: str) -> str:
        return f"{self.to_text(sequence_number)} || ' - ' || {visitor}"

    def current_timestamp(self) -> str:
        """Now, as a UTC timestamp without a zone, whatever the session's time zone."""
        # CURRENT_TIMESTAMP carries a zone: stored into a timestamp it would take the session's.
        return "(CURRENT_TIMESTAMP AT TIME ZONE 'UTC')"

    def begin(self) -> str:
        return "BEGIN TRANSACTION"

    def commit(self) -> str:
        return "COMMIT"

    def rollback(self) -> str:
        return "ROLLBACK"

    def run_transaction(
        self,
        cursor: Any,
        statements: list[str],
        after_statement: Callable[[str, int | None], None],
        before_commit: Callable[[Any], None],
    ) -> None:
        """Publish's BEGIN … COMMIT on one cursor, a statement at a time, each followed by
        `after_statement(statement, rows affected)` and the commit preceded by `before_commit`
        (either raises ClaimLost when the state claim fails); rolled back on any failure."""
        begin, *body, commit = statements
        try:
            cursor.execute(begin)
            for statement in body:
                log.info("publish statement: %s", statement)
                started = time.monotonic()
                cursor.execute(statement)
                affected = affected_rows(cursor)
                log.info("%s (%.2fs)", rows_text(affected), time.monotonic() - started)
                after_statement(statement, affected)
            before_commit(cursor)
            cursor.execute(commit)
        except BaseException:
            try:
                cursor.execute(self.rollback())
            except Exception:  # the connection may be gone; closing it discards the transaction
                log.warning("rollback failed", exc_info=True)
            raise

    def create_schema(self, schema: str) -> str:
        return f"CREATE SCHEMA IF NOT EXISTS {self.quote(schema)}"

    def primary_key(self, column: str) -> str:
        """A table constraint naming the key (informational where the warehouse does not enforce it)."""
        return f"PRIMARY KEY ({column})"

    def run_session_statements(self) -> tuple[str, ...]:
        """Settings for a connection that runs a whole run's phases (outside Airflow)."""
        return ()

    def analyze(self, table: str) -> str:
        """A statement (with its `;`) giving the planner statistics of a table just created, where
        the warehouse does not gather them itself; empty elsewhere."""
        return ""

    def staging_storage(self, kept: bool) -> str:
        """Statements (with their `;`) run before a phase writes its tables: `kept` when what it
        writes stays in the warehouse (published), not when the run drops it; empty where the
        warehouse needs no say."""
        return ""

    def drop_table(self, table: str) -> str:
        return f"DROP TABLE IF EXISTS {table}"

    def rename_table(self, table: str, schema: str, new_name: str) -> str:
        """Move a staged table into place under a new name in its schema: no copy of the rows."""
        return f"ALTER TABLE {table} RENAME TO {self.quote(new_name)}"

    placeholder = "%s"

    def columns_query(self, schema: str, table: str) -> tuple[str, tuple]:
        """Columns of one table, case-insensitively: the query and its bind parameters."""
        p = self.placeholder
        return (
            "SELECT column_name, data_type FROM information_schema.columns "
            f"WHERE lower(table_schema) = lower({p}) AND lower(table_name) = lower({p})",
            (schema, table),
        )

    def schema_columns_query(self, schema: str) -> tuple[str, tuple]:
        """(table, column) of every table in a schema: the query and its bind parameters."""
        return (
            "SELECT table_name, column_name FROM information_schema.columns "
            f"WHERE lower(table_schema) = lower({self.placeholder})",
            (schema,),
        )

    def tables_query(self, schema: str) -> tuple[str, tuple]:
        """Tables of a schema: the query and its bind parameters."""
        return (
            f"SELECT table_name FROM information_schema.tables WHERE lower(table_schema) = lower({self.placeholder})",
            (schema,),
        )


class DuckDBDialect(Dialect):
    name = "duckdb"
    float_type = "DOUBLE"
    add_column_if_not_exists = True
    # DuckDB's DDL is transactional (duckdb.org/docs/stable/sql/statements/transactions) and its
    # views bind by name: moving the staged tables into place is atomic and copies no rows.
    publish_by_rename = True
    # The database file's catalog (its name up to the first dot), set from the connection: a
    # schema named like the file ("model" in model.duckdb) is otherwise an ambiguous reference
    # (duckdb.org/docs/stable/sql/statements/attach#name-qualification), so every table path
    # names its catalog when one is known.
    catalog: str | None = None

    def configure(self, hook: object) -> None:
        database = getattr(hook, "get_database", None)
        if callable(database):
            path = str(database())
            self.catalog = "memory" if path in ("", ":memory:") else Path(path).name.split(".")[0]

    def _catalog(self) -> str:
        # A file name need not be an identifier ("my-file.duckdb"): quoted as it is, quotes doubled.
        return '"' + self.catalog.replace('"', '""') + '".' if self.catalog else ""

    def table(self, schema: str, name: str) -> str:
        return f"{self._catalog()}{super().table(schema, name)}"

    def create_schema(self, schema: str) -> str:
        return f"CREATE SCHEMA IF NOT EXISTS {self._catalog()}{self.quote(schema)}"

    def current_timestamp(self) -> str:
        return "timezone('UTC', current_timestamp)"

    def run_session_statements(self) -> tuple[str, ...]:
        # Staging tables live and die within the run: with a larger write-ahead log before an
        # automatic checkpoint they are never written into the database file, only the published
        # changes are (at the checkpoint when the run closes the file).
        return ("SET checkpoint_threshold = '4GB'",)

    def staging_storage(self, kept: bool) -> str:
        # DuckDB compresses every table it writes (DICT_FSST for text), which costs more than the
        # query for a staged copy of the source and is wasted on a table the run drops: those are
        # written uncompressed (faster to write and to read back; the file's free space, reused by
        # the next run, grows by their larger size). Published tables are compressed as usual.
        if kept:
            return "SET force_compression = 'auto';  -- published tables: compressed"
        return "SET force_compression = 'uncompressed';  -- staged tables dropped after the run: written as they are"

    def epoch_us(self, expr: str) -> str:
        return f"epoch_us({expr})"

    def to_utc(self, expr: str) -> str:
        return f"timezone('UTC', {expr})"

    def trim_blank(self, expr: str) -> str:
        return f"trim({expr}, {self.whitespace_chars()})"

    placeholder = "?"


class PostgresDialect(Dialect):
    name = "postgres"
    text_type = "TEXT"
    add_column_if_not_exists = True  # PostgreSQL 9.6+

    def epoch_us(self, expr: str) -> str:
        # EXTRACT(EPOCH ...) is an exact numeric on PostgreSQL 14+.
        return f"CAST(EXTRACT(EPOCH FROM {expr}) * 1000000 AS BIGINT)"

    def text_order(self, expr: str) -> str:
        return f'{expr} COLLATE "C"'

    def exact_text(self, expr: str) -> str:
        # A source column of a nondeterministic collation (case- or accent-insensitive) would pass it
        # on to the staged columns; the database's default collation is always deterministic
        # (https://www.postgresql.org/docs/15/collation.html#COLLATION-NONDETERMINISTIC).
        return f'({expr}) COLLATE "default"'

    def columns_query(self, schema: str, table: str) -> tuple[str, tuple]:
        # An extension's type (citext) is "USER-DEFINED" in data_type; udt_name names it.
        return (
            "SELECT column_name, CASE WHEN data_type = 'USER-DEFINED' THEN udt_name ELSE data_type END "
            "FROM information_schema.columns WHERE lower(table_schema) = lower(%s) AND lower(table_name) = lower(%s)",
            (schema, table),
        )

    def trim_blank(self, expr: str) -> str:
        return f"BTRIM({expr}, {self.whitespace_chars()})"

    def analyze(self, table: str) -> str:
        # A table created by CTAS has no statistics until autovacuum gets to it: without them the
        # planner guesses the size of staged tables and may sort half a million rows for a merge
        # join against a few hundred.
        return f"ANALYZE {table};"


class SnowflakeDialect(Dialect):
    """Snowflake upper-cases unquoted names, and RudderStack creates its tables and columns that way:
    quoted identifiers are upper-cased too, so `"TIMESTAMP"` and our own aliases always agree."""

    name = "snowflake"
    float_type = "DOUBLE"
    timestamp_type = "TIMESTAMP_NTZ"

    def quote(self, identifier: str) -> str:
        return super().quote(identifier).upper()

    def literal(self, value: str | int | float | None) -> str:
        # A backslash starts an escape sequence in a single-quoted Snowflake string
        # (docs.snowflake.com/en/sql-reference/data-types-text#escape-sequences-in-single-quoted-string-constants).
        if isinstance(value, str):
            return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"
        return super().literal(value)

    def rename_table(self, table: str, schema: str, new_name: str) -> str:
        # An unqualified new name would move the table into the session's current schema.
        return f"ALTER TABLE {table} RENAME TO {self.table(schema, new_name)}"

    def table_layout(self, step: str, layout: TableLayout | None = None) -> str:
        # No clustering key unless the source asks for one: automatic clustering costs credits, and
        # rows arrive roughly in time order already (docs.snowflake.com/en/user-guide/tables-clustering-keys).
        if layout is None or not (layout.partition_by or layout.cluster_by):
            return ""
        keys = [f"TO_DATE({self.quote(layout.partition_by)})"] if layout.partition_by else []
        return f"CLUSTER BY ({', '.join([*keys, *map(self.quote, layout.cluster_by)])})"

    def current_timestamp(self) -> str:
        # CURRENT_TIMESTAMP is a TIMESTAMP_LTZ, in the session's time zone; SYSDATE() is the UTC
        # time as TIMESTAMP_NTZ (docs.snowflake.com/en/sql-reference/functions/sysdate).
        return "SYSDATE()"

    def epoch_us(self, expr: str) -> str:
        return f"DATE_PART(EPOCH_MICROSECOND, {expr})"

    def to_utc(self, expr: str) -> str:
        return f"CAST(CONVERT_TIMEZONE('UTC', {expr}) AS TIMESTAMP_NTZ)"

    def blank_to_null(self, expr: str) -> str:
        # TRANSLATE deletes the listed characters (what TRIM(x, chars) also does on Snowflake,
        # but fakesnow's translation of that TRIM ignores the characters).
        return f"CASE WHEN TRANSLATE({expr}, {self.whitespace_chars()}, '') = '' THEN NULL ELSE {expr} END"

    def trim_blank(self, expr: str) -> str:
        # TRIM(<expr>, <characters>) would do (docs.snowflake.com/en/sql-reference/functions/trim),
        # but fakesnow's translation of it ignores the characters; REGEXP_REPLACE replaces every
        # match (docs.snowflake.com/en/sql-reference/functions/regexp_replace), here a run of blank
        # characters at either end, given literally in a bracket expression.
        chars = self.whitespace_chars()
        return f"REGEXP_REPLACE({expr}, '^[' || {chars} || ']+|[' || {chars} || ']+$', '')"


class BigQueryDialect(Dialect):
    """Standard SQL on BigQuery: backtick quoting, INT64/FLOAT64/STRING, UNIX_MICROS for exact
    gaps, and the publish transaction as one script with an ASSERT for the state claim."""

    name = "bigquery"
    union = "UNION DISTINCT"
    script_transactions = True
    # cloud.google.com/bigquery/docs/querying-partitioned-tables#use_a_constant_filter_expression:
    # "If you use dynamic expressions in your query filter, BigQuery must scan all of the
    # partitions"; a script variable is a constant to the statements after its SET.
    script_bounds = True
    delete_using = False
    text_type = "STRING"
    float_type = "FLOAT64"
    bigint_type = "INT64"
    timestamp_type = "TIMESTAMP"
    bool_type = "BOOL"
    numeric_type = (
        "NUMERIC"  # NUMERIC(38, 9) (cloud.google.com/bigquery/docs/reference/standard-sql/data-types#decimal_types)
    )
    add_column_if_not_exists = True

    def table_layout(self, step: str, layout: TableLayout | None = None) -> str:
        # Incremental runs delete and read the published events of a visitor from a time on:
        # day partitions prune by time (with a constant bound), clustering by visitor prunes
        # blocks (cloud.google.com/bigquery/docs/partitioned-tables, .../clustered-tables).
        layout = layout or self.default_layout(step)
        parts = [f"PARTITION BY DATE({self.quote(layout.partition_by)})"] if layout.partition_by else []
        if layout.cluster_by:
            parts.append(f"CLUSTER BY {', '.join(map(self.quote, layout.cluster_by))}")
        return "\n".join(parts)

    def current_timestamp(self) -> str:
        return "CURRENT_TIMESTAMP()"  # a TIMESTAMP is an absolute instant, shown in UTC

    def create_schema(self, schema: str) -> str:
        # A dataset lives in one location; the connection's, so every job of the run finds it.
        options = f" OPTIONS (location = {self.literal(self.location)})" if self.location else ""
        return f"CREATE SCHEMA IF NOT EXISTS {self._project()}{self.quote(schema)}{options}"

    def quote(self, identifier: str) -> str:
        return super().quote(identifier).replace('"', "`")

    def configure(self, hook: object) -> None:
        self.location = getattr(hook, "location", None)
        self.project = getattr(hook, "project_id", None)

    def table(self, schema: str, name: str) -> str:
        # Paths start with the project where the connection names one: GoogleSQL resolves the
        # first name of a path as a range variable or column when one of that name is in scope,
        # so a dataset named like an alias or column of the model's SQL (`events`, `run`, `target`)
        # would be read as a field of it. A project id (hyphens allowed) rarely is one.
        return f"{self._project()}{super().table(schema, name)}"

    def _project(self) -> str:
        if not self.project:
            return ""
        if not PROJECT_ID.match(self.project):
            raise RudderSessionsError(f"refusing to quote invalid BigQuery project id {self.project!r}")
        return f"`{self.project}`."

    def literal(self, value: str | int | float | None) -> str:
        if isinstance(value, str):
            return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
        return super().literal(value)

    def epoch_us(self, expr: str) -> str:
        return f"UNIX_MICROS({expr})"

    def to_utc(self, expr: str) -> str:
        return expr  # a BigQuery TIMESTAMP is an absolute UTC instant already

    def trim_blank(self, expr: str) -> str:
        return f"TRIM({expr}, {self.whitespace_chars()})"

    def whitespace_chars(self) -> str:
        # The ASCII ones by CHR(), the others written as they are: 25 CHR() calls in every id's
        # cleaning make resolved plans too large for the GoogleSQL analyzer's service, and the
        # emulator reads no escapes in a literal.
        return ascii_chr_and_literal()

    def commit(self) -> str:
        return "COMMIT TRANSACTION"

    def rollback(self) -> str:
        return "ROLLBACK TRANSACTION"

    def run_transaction(
        self,
        cursor: Any,
        statements: list[str],
        after_statement: Callable[[str, int | None], None],
        before_commit: Callable[[Any], None],
    ) -> None:
        """A BigQuery transaction lives inside one script (cloud.google.com/bigquery/docs/transactions):
        the whole publish goes as one job, its state claim checked by the script's ASSERTs (the
        callbacks have nothing to read between statements); a failed script has rolled back."""
        try:
            cursor.execute(";\n".join(statements) + ";")
        except Exception as exc:
            # A failed ASSERT fails the job with its message; an error elsewhere that merely
            # echoes the script's text (a syntax error) still quotes the ASSERT itself.
            if PUBLISH_REFUSED in str(exc) and f"AS '{PUBLISH_REFUSED}" not in str(exc):
                raise ClaimLost(str(exc)) from exc
            raise

    def primary_key(self, column: str) -> str:
        return f"PRIMARY KEY ({column}) NOT ENFORCED"

    def columns_query(self, schema: str, table: str) -> tuple[str, tuple]:
        # INFORMATION_SCHEMA is per dataset; dataset and table are validated identifiers, and the
        # BigQuery DB-API cursor binds only named (dict) parameters: the table goes as a literal.
        self.quote(table)
        return (
            f"SELECT column_name, data_type FROM {self._project()}{self.quote(schema)}.INFORMATION_SCHEMA.COLUMNS "
            f"WHERE lower(table_name) = lower({self.literal(table)})",
            (),
        )

    def schema_columns_query(self, schema: str) -> tuple[str, tuple]:
        where = f"{self._project()}{self.quote(schema)}"
        return f"SELECT table_name, column_name FROM {where}.INFORMATION_SCHEMA.COLUMNS", ()

    def tables_query(self, schema: str) -> tuple[str, tuple]:
        return f"SELECT table_name FROM {self._project()}{self.quote(schema)}.INFORMATION_SCHEMA.TABLES", ()


class RedshiftDialect(PostgresDialect):
    """PostgreSQL-like; DATEDIFF in microseconds is the exact gap (no EXTRACT(EPOCH) doubles), text is
    VARCHAR(65535) (a bare VARCHAR is 256 characters), and the default collation is binary."""

    name = "redshift"
    text_type = "VARCHAR(65535)"
    add_column_if_not_exists = False  # docs.aws.amazon.com/redshift/latest/dg/r_ALTER_TABLE.html has none
    # Trailing blanks of VARCHAR values are not significant in comparisons
    # (docs.aws.amazon.com/redshift/latest/dg/r_Character_types.html#r_Character_types-significance-of-trailing-blanks):
    # 'u1' and 'u1 ' would be one visitor. The audit refuses runs with such ids instead.
    ignores_trailing_blanks = True
    delete_alias = False  # DELETE [FROM] table_name [USING ...] (docs.aws.amazon.com/redshift/latest/dg/r_DELETE.html)

    def whitespace_chars(self) -> str:
        # CHR takes ASCII code points only (docs.aws.amazon.com/redshift/latest/dg/r_CHR.html): the
        # others are written as they are, in a UTF-8 literal.
        return ascii_chr_and_literal()

    def exact_text(self, expr: str) -> str:
        # A database created COLLATE CASE_INSENSITIVE compares 'U1' = 'u1'; the COLLATE function
        # makes the id case-sensitive (docs.aws.amazon.com/redshift/latest/dg/r_COLLATE.html).
        return f"COLLATE({expr}, 'case_sensitive')"

    def column_type(self, kind: str) -> str:
        # Published text columns compare case-sensitively whatever the database's collation
        # (docs.aws.amazon.com/redshift/latest/dg/r_CREATE_TABLE_NEW.html, COLLATE column attribute).
        text = super().column_type(kind)
        return f"{text} COLLATE CASE_SENSITIVE" if kind == "text" else text

    def current_timestamp(self) -> str:
        # CURRENT_TIMESTAMP runs on the leader node only: a statement that also reads user tables
        # fails with it; GETDATE() is the UTC time on every node
        # (docs.aws.amazon.com/redshift/latest/dg/c_SQL_functions_leader_node_only.html, r_GETDATE.html).
        return "GETDATE()"

    def table_layout(self, step: str, layout: TableLayout | None = None) -> str:
        # Rows of one visitor on one slice (the publish joins and the steps' windows are by
        # visitor), sorted by visitor then time for the range deletes of incremental runs
        # (docs.aws.amazon.com/redshift/latest/dg/t_Distributing_data.html, t_Sorting_data.html).
        layout = layout or self.default_layout(step)
        keys = [*layout.cluster_by, *([layout.partition_by] if layout.partition_by else [])]
        if not keys:
            return ""
        dist = f"DISTKEY ({self.quote(layout.cluster_by[0])}) " if layout.cluster_by else ""
        return f"{dist}COMPOUND SORTKEY ({', '.join(map(self.quote, keys))})"

    def epoch_us(self, expr: str) -> str:
        return f"DATEDIFF(microsecond, TIMESTAMP '1970-01-01 00:00:00', {expr})"

    def to_utc(self, expr: str) -> str:
        return f"CONVERT_TIMEZONE('UTC', {expr})"

    def analyze(self, table: str) -> str:
        return ""  # Redshift analyzes a table created by CREATE TABLE AS itself

    def text_order(self, expr: str) -> str:
        return expr

    def trim_blank(self, expr: str) -> str:
        return f"BTRIM({expr}, {self.whitespace_chars()})"


DIALECTS: dict[str, type[Dialect]] = {
    "duckdb": DuckDBDialect,
    "postgres": PostgresDialect,
    "snowflake": SnowflakeDialect,
    "bigquery": BigQueryDialect,
    "redshift": RedshiftDialect,
}

# Airflow connection types and the dialect their SQL is written in.
CONN_TYPE_DIALECTS = {
    "duckdb": "duckdb",
    "postgres": "postgres",
    "snowflake": "snowflake",
    "gcpbigquery": "bigquery",
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
