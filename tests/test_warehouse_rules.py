"""Every statement rendered for BigQuery, Snowflake and Redshift keeps its warehouse's documented
rules (tests/warehouse_rules.py cites the page of each); the rules themselves catch what they say."""

from __future__ import annotations

import pytest
from golden import rendered
from warehouse_rules import RULES, parameter_violation, violations

from rudder_sessions.dialects import DIALECTS, get_dialect
from rudder_sessions.model import MODES, PHASES


def statements(sql: str) -> list[str]:
    from airflow.providers.common.sql.hooks.sql import DbApiHook

    return [s for s in DbApiHook.split_sql_string(sql, strip_semicolon=True) if s.strip()]


def phase_sql(dialect: str, mode: str) -> list[str]:
    files = rendered()
    return [
        statement
        for number, phase in enumerate(PHASES)
        for path, sql in files.items()
        if path.parts[-3:] == (dialect, mode, f"{number}_{phase}.sql")
        for statement in statements(sql)
    ]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dialect", sorted({r.dialect for r in RULES}))
def test_rendered_statements_keep_the_warehouse_rules(dialect, mode):
    sql = phase_sql(dialect, mode)
    assert len(sql) > 20
    assert violations(dialect, sql) == []


@pytest.mark.parametrize(
    ("dialect", "script", "expected"),
    [
        ("bigquery", ["BEGIN TRANSACTION", "DROP TABLE IF EXISTS `s`.`t`", "COMMIT TRANSACTION"], "DROP inside"),
        ("bigquery", ["BEGIN TRANSACTION", "ALTER TABLE `s`.`a` RENAME TO `b`", "COMMIT TRANSACTION"], "ALTER inside"),
        ("bigquery", ["DELETE FROM `s`.`t`"], "without a WHERE"),
        (
            "bigquery",
            ["DELETE FROM `s`.`t` WHERE EXISTS (SELECT 1 FROM `s`.`a` AS a WHERE a.v = `s`.`t`.v)"],
            "dataset.table path",
        ),
        ("snowflake", ["BEGIN TRANSACTION", 'CREATE TABLE "S"."T" (X INT)', "COMMIT"], "commits it"),
        ("snowflake", ["INSERT INTO t SELECT CURRENT_TIMESTAMP"], "CURRENT_TIMESTAMP"),
        ("redshift", ["INSERT INTO t SELECT x, CURRENT_TIMESTAMP FROM u"], "CURRENT_TIMESTAMP"),
        ("redshift", ["BEGIN TRANSACTION", "TRUNCATE TABLE t", "COMMIT"], "TRUNCATE"),
        ("redshift", ['DELETE FROM "s"."t" AS target USING a WHERE a.v = target.v'], "no alias"),
    ],
)
def test_each_rule_catches_what_it_says(dialect, script, expected):
    found = violations(dialect, script)
    assert len(found) == 1 and expected in found[0], found


def test_rules_allow_what_the_warehouses_allow():
    assert violations("bigquery", ["BEGIN TRANSACTION", "DELETE FROM `s`.`t` WHERE TRUE", "COMMIT TRANSACTION"]) == []
    allowed = ["BEGIN", "DELETE FROM t WHERE TRUE", "INSERT INTO t SELECT SYSDATE()", "COMMIT"]
    assert violations("snowflake", allowed) == []
    assert violations("snowflake", ["CREATE TABLE t (x INT)", "BEGIN", "INSERT INTO t VALUES (1)", "COMMIT"]) == []
    assert violations("redshift", ["SELECT 'CURRENT_TIMESTAMP' FROM t", "INSERT INTO t SELECT GETDATE()"]) == []


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
def test_catalog_queries_bind_parameters_in_the_hooks_style(dialect):
    """BigQuery's cursor binds a dict only: the tuple of the source check raised there."""
    d = get_dialect(dialect)
    for sql, parameters in (
        d.columns_query("rudderstack", "tracks"),
        d.tables_query("sessions"),
        d.schema_columns_query("sessions"),
    ):
        assert parameter_violation(dialect, sql, parameters) is None, sql


def test_parameter_styles_are_checked():
    assert "need a dict" in parameter_violation("bigquery", "WHERE x = %s", ("tracks",))
    assert "placeholders" in parameter_violation("duckdb", "WHERE x = %s", ("tracks",))
