"""What a driver's exception means for a run: a statement the warehouse refuses (fail at once) or
a hiccup (retry); and the few driver differences in reporting what a statement did."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from rudder_sessions.errors import PhaseFailed, StatementRefused

# Driver errors that a retry cannot fix, by what the warehouse says: DuckDB's by their PEP 249
# classes, which each of its exceptions derives from (BinderException, CatalogException and
# ParserException from ProgrammingError; ConversionException and OutOfRangeException from
# DataError; ConstraintException from IntegrityError; NotImplementedException from
# NotSupportedError; not OperationalError: a busy file, a lost connection, memory),
# PostgreSQL/Redshift SQLSTATE classes 22 (data), 23 (integrity), 42 (syntax, undefined names,
# www.postgresql.org/docs/current/errcodes-appendix.html), Snowflake's ProgrammingError (SQL
# compilation errors, docs.snowflake.com/en/developer-guide/python-connector/python-connector-api
# #exceptions), and BigQuery's 400 invalidQuery (cloud.google.com/bigquery/docs/error-messages)
# unless it reports a concurrent update, which BigQuery asks to retry.
REFUSED_DUCKDB = frozenset({"DataError", "ProgrammingError", "IntegrityError", "NotSupportedError"})
REFUSED_SQLSTATE = ("22", "23", "42")
RETRIED_BIGQUERY = ("concurrent update", "could not serialize access", "ratelimitexceeded", "resources exceeded")


def is_refusal(exc: BaseException) -> bool:
    """Whether the warehouse refused the statement itself (the default, when unsure: a hiccup)."""
    for error in _causes(exc):
        kind, module = type(error).__name__, type(error).__module__
        if module.lstrip("_").startswith("duckdb") and any(c.__name__ in REFUSED_DUCKDB for c in type(error).__mro__):
            return True
        code = getattr(error, "pgcode", None) or getattr(getattr(error, "diag", None), "sqlstate", None)
        if isinstance(code, str) and code[:2] in REFUSED_SQLSTATE:
            return True
        if module.startswith("snowflake") and kind == "ProgrammingError":
            return True
        if module.startswith("google") and getattr(error, "code", None) == 400:
            return not any(word in str(error).lower() for word in RETRIED_BIGQUERY)
    return False


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def phase_error(phase: str, source: str, exc: BaseException) -> PhaseFailed:
    kind = StatementRefused if is_refusal(exc) else PhaseFailed
    return kind(f"{phase} failed for source {source!r}: {first_line(exc)}")


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def affected_rows(cursor: Any) -> int | None:
    """Rows a DML statement changed, where the driver says (DuckDB returns them as a result row)."""
    count = getattr(cursor, "rowcount", -1)
    if isinstance(count, int) and count >= 0:
        return count
    try:
        row = cursor.fetchone()
    except Exception:
        return None
    if row and len(row) == 1 and isinstance(row[0], int):
        return row[0]
    return None


def rows_text(count: int | None) -> str:
    return "rows affected: unknown" if count is None else f"rows affected: {count}"
