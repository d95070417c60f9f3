"""Snowflake commits around DDL (tests/snowflake_rules.py): the harness itself, and the publish's
atomicity on Snowflake under it (a failed or refused publish leaves the published model as it was)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import snowflake.connector

from rows import FIRST, ev
from rudder_sessions.config import SourceConfig
from rudder_sessions.errors import PhaseFailed
from rudder_sessions.model import STEPS, target_table_name
from snowflake_rules import is_ddl, snowflake_transaction_rules
from warehouses import SnowflakeWarehouse, publish_after_another

# FIRST (tests/rows.py), then a second batch without its earlier-received copy.
SECOND = [
    ev("login", "dev1", "u1", 130, "logged_in", received_delay=1),  # identifies dev1: its history moves to u1
    ev("b-late", "dev2", "u2", 50, "late", received_delay=1),
    ev("c1", None, "u3", 300, received_delay=1),
]


# -- the harness on plain connections ---------------------------------------------------------------


@pytest.fixture
def cursor() -> Iterator[Any]:
    """A fakesnow cursor under Snowflake's DDL rule, with table T holding one row (committed)."""
    import fakesnow

    with (
        fakesnow.patch(),
        snowflake_transaction_rules(),
        snowflake.connector.connect(database="RULES", schema="PUBLIC") as conn,
        conn.cursor() as cur,
    ):
        cur.execute("CREATE TABLE t (a INT)")
        cur.execute("INSERT INTO t VALUES (0)")
        yield cur


def _values(cur: Any) -> list[int]:
    cur.execute("SELECT a FROM t ORDER BY a")
    return [row[0] for row in cur.fetchall()]


def _tables(cur: Any) -> set[str]:
    cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'PUBLIC'")
    return {row[0].lower() for row in cur.fetchall()}


@pytest.mark.parametrize("begin", ["BEGIN", "BEGIN TRANSACTION"])
def test_ddl_commits_the_open_transaction_and_itself(cursor, begin):
    cursor.execute(begin)
    cursor.execute("INSERT INTO t VALUES (1)")
    cursor.execute("CREATE TABLE x (b INT)")
    cursor.execute("ROLLBACK")
    assert _values(cursor) == [0, 1]
    assert "x" in _tables(cursor)


def test_no_transaction_is_open_after_ddl(cursor):
    """Statements after the DDL autocommit: the ROLLBACK that ends the "transaction" undoes nothing."""
    cursor.execute("BEGIN TRANSACTION")
    cursor.execute("DROP TABLE IF EXISTS nothing_here")
    cursor.execute("INSERT INTO t VALUES (2)")
    cursor.execute("ROLLBACK")
    assert _values(cursor) == [0, 2]


def test_dml_alone_still_rolls_back(cursor):
    cursor.execute("BEGIN TRANSACTION")
    cursor.execute("INSERT INTO t VALUES (1)")
    cursor.execute("DELETE FROM t WHERE a = 0")
    cursor.execute("ROLLBACK")
    assert _values(cursor) == [0]


def test_truncate_is_dml_and_rolls_back(cursor):
    cursor.execute("BEGIN TRANSACTION")
    cursor.execute("TRUNCATE TABLE t")
    cursor.execute("ROLLBACK")
    assert _values(cursor) == [0]


@pytest.mark.parametrize(
    ("sql", "ddl"),
    [
        ("CREATE OR REPLACE TABLE s.t AS SELECT 1 AS a", True),
        ('-- a comment\nDROP TABLE IF EXISTS "S"."T"', True),
        ('ALTER TABLE "S"."A" RENAME TO "S"."B"', True),
        ("UNDROP TABLE s.t", True),
        ("COMMENT ON TABLE s.t IS 'x'", True),
        ("GRANT SELECT ON TABLE s.t TO ROLE r", True),
        ("REVOKE SELECT ON TABLE s.t FROM ROLE r", True),
        ("ALTER SESSION SET TIMEZONE = 'UTC'", False),
        ("TRUNCATE TABLE s.t", False),
        ("DELETE FROM s.t", False),
        ("INSERT INTO s.t SELECT 1", False),
        ("UPDATE s.t SET a = 1", False),
        ("BEGIN TRANSACTION", False),
        ("SELECT 1", False),
    ],
)
def test_statement_classification(sql, ddl):
    assert is_ddl(sql) is ddl


# -- the publish on Snowflake -----------------------------------------------------------------------


@pytest.fixture
def sf() -> Iterator[SnowflakeWarehouse]:
    warehouse = SnowflakeWarehouse()
    yield warehouse
    warehouse.close()


def _published(wh: SnowflakeWarehouse, config: SourceConfig) -> dict[str, Any]:
    """`wh.snapshot(config)`, table by table: a missing table shows as "missing" next to the others."""
    existing = {
        r["table_name"].lower()
        for r in wh.query(
            "SELECT table_name FROM information_schema.tables "
            f"WHERE upper(table_schema) = '{config.target_schema.upper()}'"
        )
    }
    names = [target_table_name(config, s) for s in STEPS] + ["rudder_sessions_state"]
    return {
        n: sorted(map(tuple, (r.values() for r in wh.query(f"SELECT * FROM {config.target_schema}.{n}"))), key=repr)
        if n.lower() in existing
        else "missing"
        for n in names
    }


def _changes(before: dict[str, Any], after: dict[str, Any]) -> str:
    """Which published tables a run changed or removed, for the assertion message."""
    changed = [n for n in before if after.get(n) != before[n]]
    return ", ".join(f"{n} {'missing' if after.get(n) == 'missing' else 'changed'}" for n in changed)


class _FailingCursor:
    """A cursor whose `execute` raises on the first statement after BEGIN matching `fail_at`."""

    def __init__(self, cursor: Any, fail_at: Callable[[str], bool]) -> None:
        self._cursor, self._fail_at, self._in_publish = cursor, fail_at, False

    def execute(self, statement: str, *args: Any, **kwargs: Any) -> Any:
        self._in_publish = self._in_publish or statement.strip().upper().startswith("BEGIN")
        if self._in_publish and self._fail_at(statement):
            raise RuntimeError(f"injected failure at: {statement.splitlines()[0]}")
        return self._cursor.execute(statement, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


def _fail_publish_at(runner: Any, fail_at: Callable[[str], bool]) -> None:
    get_conn = runner.hook.get_conn

    class _Connection:
        def __init__(self) -> None:
            self._conn = get_conn()

        def cursor(self, *args: Any) -> _FailingCursor:
            return _FailingCursor(self._conn.cursor(*args), fail_at)

        def __getattr__(self, name: str) -> Any:
            return getattr(self._conn, name)

    runner.hook.get_conn = _Connection


def _writes_table(table: str) -> Callable[[str], bool]:
    """The statement that moves the staged table into `table` (ALTER ... RENAME TO, a full refresh
    by rename) or fills it (INSERT INTO, a full refresh by DML)."""
    table = table.replace('"', "").upper()

    def matches(statement: str) -> bool:
        text = " ".join(statement.replace('"', "").upper().split())
        return (text.startswith("ALTER TABLE") and f"RENAME TO {table}" in text) or text.startswith(
            f"INSERT INTO {table}"
        )

    return matches


@pytest.mark.parametrize("shared_connection", [True, False], ids=["one-connection", "connection-per-phase"])
def test_failed_full_refresh_publish_leaves_the_published_model(sf, shared_connection):
    """A full refresh failing after part of its publish (at the third of the five tables) leaves
    the previous model whole: on Snowflake a DROP or RENAME in the publish would have committed.
    A connection per phase (the DAG's tasks) publishes in AUTOCOMMIT mode, where fakesnow alone
    keeps DDL in the transaction; one connection was left with AUTOCOMMIT off by the hook."""
    config = sf.config()
    sf.load_source(FIRST)
    sf.runner(config).run("first", "full_refresh")
    before = _published(sf, config)
    sf.load_source(SECOND, append=True)
    runner = sf.runner(config)
    third = f"{config.target_schema}.{target_table_name(config, STEPS[2])}"
    _fail_publish_at(runner, _writes_table(third))
    with pytest.raises(PhaseFailed, match="injected failure"):
        runner.run("second", "full_refresh", shared_connection=shared_connection)
    after = _published(sf, config)
    assert after == before, _changes(before, after)


def test_refused_stale_full_refresh_leaves_the_first_runs_tables(sf):
    """Two full refreshes planned at one state version: the second to publish is refused and the
    first one's tables stay as it published them."""
    config = sf.config()
    sf.load_source(FIRST)
    sf.runner(config).run("first", "full_refresh")
    sf.load_source(SECOND, append=True)
    after_a, after = publish_after_another(
        sf.runner(config), sf.runner(config), "full_refresh", lambda: _published(sf, config)
    )
    assert after == after_a, _changes(after_a, after)
