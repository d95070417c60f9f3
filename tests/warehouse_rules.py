"""Documented rules of the warehouses that cannot run here (or that emulators forgive), checked
against every statement the model renders.

Each rule cites the vendor page that states it. A rule is a function of one statement (parsed by
sqlglot in the warehouse's dialect) and whether a transaction is open, returning a violation or None.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import sqlglot
from sqlglot import exp

# Statement kinds (see `kind`): what BigQuery allows inside a multi-statement transaction.
DML = {"select", "insert", "update", "delete", "merge", "assert", "set"}


def kind(statement: str, dialect: str) -> str:
    """The statement's kind: begin, commit, rollback, select, insert, update, delete, merge,
    create, drop, alter, truncate, declare, assert, set, analyze, or its first keyword."""
    first = statement.split(None, 1)[0].upper() if statement.split() else ""
    if first in ("ASSERT", "DECLARE", "ANALYZE", "ROLLBACK"):
        return first.lower()
    try:
        parsed = sqlglot.parse_one(statement, read=dialect)
    except sqlglot.errors.ParseError:
        return first.lower()
    kinds = {
        exp.Transaction: "begin",
        exp.Commit: "commit",
        exp.Rollback: "rollback",
        exp.Select: "select",
        exp.Union: "select",
        exp.Insert: "insert",
        exp.Update: "update",
        exp.Delete: "delete",
        exp.Merge: "merge",
        exp.Create: "create",
        exp.Drop: "drop",
        exp.Alter: "alter",
        exp.TruncateTable: "truncate",
        exp.Set: "set",
    }
    for node, name in kinds.items():
        if isinstance(parsed, node):
            return name
    return first.lower()


@dataclass(frozen=True)
class Rule:
    dialect: str
    name: str
    source: str  # the vendor page stating it
    check: Callable[[str, str, bool], str | None]  # (statement, kind, in a transaction) -> violation


def _transaction_dml_only(statement: str, kind_: str, in_transaction: bool) -> str | None:
    if in_transaction and kind_ not in DML:
        return f"{kind_.upper()} inside a transaction"
    return None


def _no_ddl_in_transaction(statement: str, kind_: str, in_transaction: bool) -> str | None:
    if in_transaction and kind_ in ("create", "drop", "alter"):
        return f"{kind_.upper()} inside a transaction commits it"
    return None


def _no_truncate_in_transaction(statement: str, kind_: str, in_transaction: bool) -> str | None:
    if in_transaction and kind_ == "truncate":
        return "TRUNCATE commits the transaction it runs in"
    return None


def _banned_functions(*names: str) -> Callable[[str, str, bool], str | None]:
    pattern = re.compile(r"\b(" + "|".join(names) + r")\b(?!\s*\.)", re.IGNORECASE)

    def check(statement: str, kind_: str, in_transaction: bool) -> str | None:
        found = pattern.search(_without_literals(statement))
        return f"uses {found.group(1).upper()}" if found else None

    return check


def _delete_without_alias(statement: str, kind_: str, in_transaction: bool) -> str | None:
    if kind_ == "delete" and re.match(r"DELETE\s+FROM\s+\S+\s+AS\s", statement, re.IGNORECASE):
        return "DELETE takes no alias for its target"
    return None


def _delete_needs_where(statement: str, kind_: str, in_transaction: bool) -> str | None:
    if kind_ == "delete" and not re.search(r"\bWHERE\b", statement, re.IGNORECASE):
        return "DELETE without a WHERE clause"
    return None


def _no_qualified_column_of_delete_target(statement: str, kind_: str, in_transaction: bool) -> str | None:
    match = re.match(r"DELETE\s+FROM\s+(`[^`]+`\.`[^`]+`)(\s+AS\s+\w+)?", statement, re.IGNORECASE)
    if match and f"{match.group(1)}." in statement[match.end() :]:
        return "a column qualified by the dataset.table path (resolves as a field of the implicit alias)"
    return None


def _without_literals(statement: str) -> str:
    return re.sub(r"'(?:[^'\\]|\\.|'')*'", "''", statement)


RULES: tuple[Rule, ...] = (
    Rule(
        "bigquery",
        "transactions hold SELECT and DML only (DDL on temporary tables only)",
        "https://cloud.google.com/bigquery/docs/transactions#statements_supported_in_transactions",
        _transaction_dml_only,
    ),
    Rule(
        "bigquery",
        "DELETE needs a WHERE clause",
        "https://cloud.google.com/bigquery/docs/reference/standard-sql/dml-syntax#delete_statement",
        _delete_needs_where,
    ),
    Rule(
        "bigquery",
        "a table path's implicit alias is its last name: dataset.table.column is not the column",
        "https://cloud.google.com/bigquery/docs/reference/standard-sql/query-syntax#implicit_aliases",
        _no_qualified_column_of_delete_target,
    ),
    Rule(
        "snowflake",
        "DDL inside a transaction commits it implicitly",
        "https://docs.snowflake.com/en/sql-reference/transactions#ddl",
        _no_ddl_in_transaction,
    ),
    Rule(
        "snowflake",
        "CURRENT_TIMESTAMP is a TIMESTAMP_LTZ in the session's time zone (SYSDATE() is UTC)",
        "https://docs.snowflake.com/en/sql-reference/functions/current_timestamp",
        _banned_functions("CURRENT_TIMESTAMP", "LOCALTIMESTAMP"),
    ),
    Rule(
        "redshift",
        "leader-node-only functions fail in statements that read user tables",
        "https://docs.aws.amazon.com/redshift/latest/dg/c_SQL_functions_leader_node_only.html",
        _banned_functions("CURRENT_TIMESTAMP", "NOW", "CURRENT_TIME", "LOCALTIME", "LOCALTIMESTAMP", "AGE"),
    ),
    Rule(
        "redshift",
        "TRUNCATE commits the current transaction",
        "https://docs.aws.amazon.com/redshift/latest/dg/r_TRUNCATE.html",
        _no_truncate_in_transaction,
    ),
    Rule(
        "redshift",
        "DELETE [FROM] table_name [USING ...]: no alias for the target",
        "https://docs.aws.amazon.com/redshift/latest/dg/r_DELETE.html",
        _delete_without_alias,
    ),
)

# The DB-API parameter style of each warehouse's Airflow hook: what a bind parameter looks like.
PARAMETER_STYLES = {
    # BigQueryCursor binds only a dict, substituting %(name)s (airflow/providers/google/cloud/hooks/bigquery.py,
    # _bind_parameters); a sequence of parameters is rejected.
    "bigquery": "pyformat",
    "duckdb": "qmark",  # https://duckdb.org/docs/stable/clients/python/dbapi
    "postgres": "format",  # psycopg2: https://www.psycopg.org/docs/usage.html#passing-parameters-to-sql-queries
    "redshift": "format",  # redshift_connector / psycopg2
    "snowflake": "format",  # https://docs.snowflake.com/en/developer-guide/python-connector/python-connector-example#binding-data
}


def violations(dialect: str, statements: Iterable[str]) -> list[str]:
    """Every rule of `dialect` broken by the statements, in order, as one line each."""
    rules = [r for r in RULES if r.dialect == dialect]
    found, in_transaction = [], False
    for statement in statements:
        kind_ = kind(statement, dialect)
        if kind_ == "begin":
            in_transaction = True
            continue
        if kind_ in ("commit", "rollback"):
            in_transaction = False
            continue
        for rule in rules:
            problem = rule.check(statement, kind_, in_transaction)
            if problem:
                head = " ".join(statement.split())[:90]
                found.append(f"{problem}: {head} ({rule.name}; {rule.source})")
    return found


def parameter_violation(dialect: str, sql: str, parameters: object) -> str | None:
    """Whether a query and its bind parameters fit the hook's parameter style."""
    style = PARAMETER_STYLES[dialect]
    if not parameters:
        return "placeholders without parameters" if re.search(r"%s|\?|%\(\w+\)s", sql) else None
    if style == "pyformat":
        return None if isinstance(parameters, dict) else f"{type(parameters).__name__} parameters, need a dict"
    placeholder = "?" if style == "qmark" else "%s"
    if not isinstance(parameters, tuple | list):
        return f"{type(parameters).__name__} parameters, need a sequence"
    if sql.count(placeholder) != len(parameters):
        return f"{sql.count(placeholder)} {placeholder} placeholders for {len(parameters)} parameters"
    return None
