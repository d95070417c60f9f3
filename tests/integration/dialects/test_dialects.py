"""What each warehouse receives: golden files, and a strict parse in the warehouse's own dialect."""

from __future__ import annotations

from datetime import datetime

import pytest
import sqlglot

from golden import GOLDEN, golden_name, rendered
from rudder_sessions.dialects import BigQueryDialect, RedshiftDialect, get_dialect
from rudder_sessions.identifiers import WHITESPACE

SQLGLOT = {
    "duckdb": "duckdb",
    "postgres": "postgres",
    "snowflake": "snowflake",
    "bigquery": "bigquery",
    "redshift": "redshift",
}


def test_golden_files_are_current():
    expected = rendered()
    on_disk = {p for p in GOLDEN.rglob("*.sql")}
    assert on_disk == set(expected), "golden files are missing or stale: run `make golden`"
    stale = [str(p.relative_to(GOLDEN)) for p, sql in expected.items() if p.read_text() != sql]
    assert not stale, f"rendered SQL differs from the golden files (review, then `make golden`): {stale}"


@pytest.mark.parametrize("dialect", sorted(SQLGLOT))
def test_every_statement_parses_strictly(dialect):
    count = 0
    for path, sql in rendered().items():
        if path.relative_to(GOLDEN).parts[0] != dialect:  # graph/ and capped/ files too
            continue
        for statement in sqlglot.parse(sql, read=SQLGLOT[dialect], error_level=sqlglot.ErrorLevel.RAISE):
            if statement is not None:
                count += 1
    assert count > 100


def test_bigquery_pieces():
    d = BigQueryDialect()
    assert d.quote("timestamp") == "`timestamp`"
    assert d.literal("it's") == "'it\\'s'"
    assert d.epoch_us("ts") == "UNIX_MICROS(ts)"
    assert d.union == "UNION DISTINCT"
    sql = rendered()[GOLDEN / "bigquery" / "incremental" / golden_name("publish")]
    assert "ASSERT (@@row_count) = 1" in sql and sql.rstrip().endswith("COMMIT TRANSACTION;")
    assert "DELETE FROM `sessions`.`dbt_mapped_tracks` AS target" in sql


def test_redshift_epoch_is_exact_microseconds():
    """DATEDIFF counts unit boundaries: in microseconds that is the exact gap (documented behaviour),
    unlike minutes, where 10:00:59 -> 10:01:00 counts as one."""
    d = RedshiftDialect()
    assert d.epoch_us("ts") == "DATEDIFF(microsecond, TIMESTAMP '1970-01-01 00:00:00', ts)"
    assert d.text_type == "VARCHAR(65535)"


def test_dialects_quote_only_valid_identifiers():
    from rudder_sessions.errors import RudderSessionsError

    for name in SQLGLOT:
        with pytest.raises(RudderSessionsError):
            get_dialect(name).quote('x"; DROP TABLE y; --')


# The dialect pieces of the warehouses that cannot run here, executed where sqlglot translates them
# faithfully (BigQuery -> DuckDB for these functions; Redshift's BTRIM is PostgreSQL's BTRIM).
GAPS = [
    (datetime(2026, 1, 1, 10, 0, 0), datetime(2026, 1, 1, 10, 30, 0), 1_800_000_000),
    (datetime(2026, 1, 1, 10, 0, 0), datetime(2026, 1, 1, 10, 30, 0, 1), 1_800_000_001),
    (datetime(2025, 12, 31, 23, 59, 59, 999_999), datetime(2026, 1, 1), 1),
]
# Every Unicode White_Space character is blank (SPEC "Source"); U+001C is not White_Space.
BLANKS = ["", " ", "\t", " \n\r\f ", "x", " x ", "\v", "\u00a0", "\u3000\u2003", "\x85", " x\u3000", "\x1c", "\u200b"]


def _bigquery_on_duckdb(expression: str, **columns) -> object:
    """Evaluate a BigQuery expression over the given columns, translated to DuckDB by sqlglot."""
    import duckdb

    sql = sqlglot.transpile(f"SELECT {expression}", read="bigquery", write="duckdb")[0]
    values = ", ".join(f"${name} AS {name}" for name in columns)
    with duckdb.connect() as conn:
        return conn.execute(f"WITH c AS (SELECT {values}) {sql} FROM c", columns).fetchone()[0]


@pytest.mark.parametrize(("earlier", "later", "micros"), GAPS)
def test_bigquery_gap_is_exact_microseconds(earlier, later, micros):
    d = BigQueryDialect()
    gap = f"{d.epoch_us('b')} - {d.epoch_us('a')}"
    assert _bigquery_on_duckdb(gap, a=earlier, b=later) == micros


@pytest.mark.parametrize("value", BLANKS)
def test_bigquery_blank_ids(value):
    expected = None if value.strip(WHITESPACE) == "" else value
    assert _bigquery_on_duckdb(BigQueryDialect().blank_to_null("v"), v=value) == expected


def test_bigquery_string_literals_round_trip():
    for value in ("it's", "back\\slash", "manual__2026-03-01T00:00:00+00:00"):
        parsed = sqlglot.parse_one(f"SELECT {BigQueryDialect().literal(value)}", read="bigquery")
        assert parsed.expressions[0].this == value


@pytest.mark.parametrize("value", BLANKS)
def test_redshift_blank_ids_on_postgres(value):
    from conftest import require_postgres
    from warehouses import POSTGRES_URI

    require_postgres()
    import psycopg2

    expected = None if value.strip(WHITESPACE) == "" else value
    with psycopg2.connect(POSTGRES_URI) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT {RedshiftDialect().blank_to_null('v')} FROM (SELECT %s::text AS v) AS c", (value,))
        assert cur.fetchone()[0] == expected


def test_redshift_compares_ids_case_sensitively_whatever_the_database_collation():
    """A database created COLLATE CASE_INSENSITIVE would merge 'U1' and 'u1'."""
    files = rendered()
    plan = files[GOLDEN / "redshift" / "incremental" / "0_plan.sql"]
    for column in ("id", "anonymous_id", "user_id"):
        assert f"AS {column}," in plan
    assert "COLLATE(id, 'case_sensitive') AS id" in plan
    assert "COLLATE(CASE WHEN BTRIM(anonymous_id" in plan
    publish = files[GOLDEN / "redshift" / "full_refresh" / golden_name("publish")]
    assert '"alias" VARCHAR(65535) COLLATE CASE_SENSITIVE' in publish
    assert '"timestamp" TIMESTAMP,' in publish
    checks = files[GOLDEN / "redshift" / "full_refresh" / golden_name("checks")]
    assert "ids ending in a blank" in checks
    assert "ids ending in a blank" not in files[GOLDEN / "postgres" / "full_refresh" / golden_name("checks")]


def test_bigquery_paths_start_with_the_connections_project():
    from rudder_sessions.errors import RudderSessionsError

    d = BigQueryDialect()
    assert d.table("events", "t") == "`events`.`t`"
    d.project = "my-project-1"
    assert d.table("events", "t") == "`my-project-1`.`events`.`t`"
    assert d.create_schema("events").startswith("CREATE SCHEMA IF NOT EXISTS `my-project-1`.`events`")
    assert "FROM `my-project-1`.`events`.INFORMATION_SCHEMA.TABLES" in d.tables_query("events")[0]
    d.location = "europe-west1"  # a dataset lives in one location: the connection's
    assert d.create_schema("events").endswith("`events` OPTIONS (location = 'europe-west1')")
    d.project = "x`; DROP"
    with pytest.raises(RudderSessionsError):
        d.table("events", "t")
