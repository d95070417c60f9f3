"""Snowflake's transaction rules for DDL, on top of fakesnow.

fakesnow commits before DDL only with AUTOCOMMIT off. After an explicit BEGIN in AUTOCOMMIT mode
(the default, and the mode of every fresh SnowflakeHook connection) it runs DDL inside DuckDB's
transaction, so a DROP or RENAME between BEGIN and ROLLBACK is undone there; on Snowflake it is
not. A test of atomicity passing on fakesnow alone may fail on Snowflake: under
`snowflake_transaction_rules()` it fails here too.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import sqlglot
from sqlglot import exp

# The rule, https://docs.snowflake.com/en/sql-reference/transactions (section "DDL"): DDL is always
# autocommitted, whatever AUTOCOMMIT says; run while a transaction is open, it first commits that
# transaction, then runs as a transaction of its own and commits. "The term DDL includes
# CTAS statements ... as well as other DDL statements that define database objects"; "the term DML
# refers to INSERT, UPDATE, DELETE, MERGE, and TRUNCATE statements" (same page, "Terminology"), so
# TRUNCATE TABLE (https://docs.snowflake.com/en/sql-reference/sql/truncate-table) stays in the
# transaction. RENAME is ALTER ... RENAME TO. Statements that define no object (ALTER SESSION, USE,
# SHOW, DESCRIBE) are left as fakesnow runs them.
DDL_EXPRESSIONS: tuple[type[exp.Expression], ...] = (
    exp.Create,
    exp.Drop,
    exp.Alter,
    exp.Undrop,
    exp.Comment,
    exp.Grant,
    exp.Revoke,
)
DDL_KEYWORDS = frozenset({"CREATE", "DROP", "ALTER", "UNDROP", "COMMENT", "GRANT", "REVOKE"})


def _first_keyword(sql: str) -> str:
    """The statement's first word, comments skipped."""
    try:
        tokens = sqlglot.tokenize(sql, read="snowflake")
    except sqlglot.errors.SqlglotError:
        return sql.lstrip().split(None, 1)[0].upper() if sql.strip() else ""
    return tokens[0].text.upper() if tokens else ""


def is_ddl(sql: str) -> bool:
    """Whether Snowflake runs `sql` as DDL (its own transaction, committing any open one first)."""
    try:
        expression = sqlglot.parse_one(sql, read="snowflake")
    except sqlglot.errors.SqlglotError:
        expression = None
    if isinstance(expression, exp.Alter) and str(expression.args.get("kind") or "").upper() == "SESSION":
        return False
    if isinstance(expression, DDL_EXPRESSIONS):
        return True
    if expression is None or isinstance(expression, exp.Command):  # sqlglot could not tell: its first word
        return _first_keyword(sql) in DDL_KEYWORDS
    return False


@contextlib.contextmanager
def snowflake_transaction_rules() -> Iterator[None]:
    """While active (enter it after `fakesnow.patch()`), a DDL statement run on a fakesnow cursor
    first commits the connection's open transaction (explicit BEGIN, or implicit under
    AUTOCOMMIT=FALSE), then runs in DuckDB's autocommit mode, committed on its own. No transaction
    is left open: a later COMMIT or ROLLBACK finds none and does nothing, as on Snowflake."""
    from fakesnow.cursor import FakeSnowflakeCursor

    execute = FakeSnowflakeCursor.execute

    def execute_with_ddl_commit(self: FakeSnowflakeCursor, command: str, *args: Any, **kwargs: Any) -> Any:
        if is_ddl(command):
            # DuckDB's commit() does nothing without an open transaction; each fakesnow connection
            # has its own DuckDB connection, so only this session's transaction is committed.
            self._duck_conn.commit()
            self._conn._in_transaction = False  # fakesnow's AUTOCOMMIT=FALSE bookkeeping
        return execute(self, command, *args, **kwargs)

    FakeSnowflakeCursor.execute = execute_with_ddl_commit  # type: ignore[method-assign]
    try:
        yield
    finally:
        FakeSnowflakeCursor.execute = execute  # type: ignore[method-assign]
