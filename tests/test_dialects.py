"""What each warehouse receives: golden files, and a strict parse in the warehouse's own dialect."""

from __future__ import annotations

import pytest
import sqlglot
from golden import GOLDEN, rendered

from rudder_sessions.dialects import BigQueryDialect, RedshiftDialect, get_dialect

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
        if path.parent.parent.name != dialect:
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
    sql = rendered()[GOLDEN / "bigquery" / "incremental" / "8_publish.sql"]
    assert "ASSERT (" in sql and sql.rstrip().endswith("COMMIT TRANSACTION;")


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
