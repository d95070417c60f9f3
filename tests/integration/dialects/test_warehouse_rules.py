"""Every statement rendered for BigQuery, Snowflake and Redshift keeps its warehouse's documented
rules (tests/warehouse_rules.py cites the page of each); the rules themselves catch what they say."""

from __future__ import annotations

import pytest

from golden import rendered
from rudder_sessions.dialects import DIALECTS, get_dialect
from rudder_sessions.model import MODES, PHASES
from warehouse_rules import RULES, parameter_violation, violations


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


@pytest.mark.postgres
def test_redshift_refuses_ids_ending_in_a_blank_run_on_postgres():
    """Redshift ignores trailing blanks when it compares VARCHARs: 'u1 ' would join 'u1'. The audit's
    Redshift check counts such rows; its SQL (LENGTH, RTRIM) means the same on PostgreSQL."""
    import uuid

    import psycopg2
    from airflow.providers.common.sql.hooks.sql import DbApiHook

    from conftest import require_postgres
    from golden import example_plan
    from rudder_sessions.config import SourceConfig
    from rudder_sessions.dialects import RedshiftDialect
    from rudder_sessions.model import Tables
    from rudder_sessions.rendering import render_phase
    from warehouses import POSTGRES_URI

    require_postgres()
    schema = f"rs_rules_{uuid.uuid4().hex[:8]}"
    config = SourceConfig(name="shop", conn_id="c", source_schema="src", target_schema=schema)
    plan = example_plan("full_refresh")
    checks = DbApiHook.split_sql_string(render_phase("checks", config, RedshiftDialect(), plan), strip_semicolon=True)
    (check,) = [s for s in checks if "ending in a blank" in s]
    events = Tables(config, RedshiftDialect(), plan.key).stage("events")
    conn = psycopg2.connect(POSTGRES_URI)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(f'CREATE SCHEMA "{schema}"')
            cur.execute(f"CREATE TABLE {events} (id TEXT, anonymous_id TEXT, user_id TEXT)")
            cur.execute(
                f"INSERT INTO {events} VALUES ('e1', 'a1', NULL), ('e2', 'a1 ', NULL), ('e3', NULL, 'u1 '), "
                "('e4 ', 'a2', 'u2'), ('e5', ' a3', 'u3')"
            )
            cur.execute(check)
            assert cur.fetchone()[1] == 3  # leading blanks are significant on Redshift too
    finally:
        with conn.cursor() as cur:
            cur.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        conn.close()
