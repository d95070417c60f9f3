"""A statement the warehouse refuses (binder, syntax, type errors) fails the task at once; a
hiccup (a timeout, a lost connection, a busy file) stays retryable. Each case is a real driver
error of its warehouse, except BigQuery's, built from google-api-core's own classes (the
emulator's wording differs from the service's)."""

from __future__ import annotations

from datetime import datetime

import duckdb
import pytest
from google.api_core import exceptions as google_errors

from conftest import require_postgres
from rows import ev
from rudder_sessions.driver_errors import is_refusal, phase_error
from rudder_sessions.errors import PhaseFailed, StatementRefused
from rudder_sessions.operators import FINAL_ERRORS


def error_of(run) -> BaseException:
    try:
        run()
    except Exception as exc:
        return exc
    raise AssertionError("no error")


def test_duckdb_refusals_and_hiccups():
    conn = duckdb.connect()
    conn.execute("CREATE TABLE flow (event_1 VARCHAR)")
    assert is_refusal(error_of(lambda: conn.execute("SELECT event_4 FROM flow")))  # Binder Error
    assert is_refusal(error_of(lambda: conn.execute("SELEC 1")))
    assert is_refusal(error_of(lambda: conn.execute("SELECT CAST('x' AS TIMESTAMP)")))
    assert is_refusal(error_of(lambda: conn.execute("SELECT * FROM missing")))
    interrupted = duckdb.InterruptException("INTERRUPT Error: Interrupted!")
    assert not is_refusal(interrupted)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT TIMESTAMP '294247-01-10 04:00:54' + INTERVAL 1 DAY",  # Conversion Error
        "SELECT epoch_us(TIMESTAMP '2026-01-01') - epoch_us(TIMESTAMP '290309-12-22 (BC) 00:00:00')",
        "SELECT 9223372036854775807::BIGINT + 1",  # Out of Range Error
    ],
)
def test_duckdb_data_errors_are_refusals(sql):
    """A value out of range (PostgreSQL's SQLSTATE class 22, DuckDB's DataError classes) fails the
    same way on every retry."""
    assert is_refusal(error_of(lambda: duckdb.connect().execute(sql)))


def test_a_timestamp_overflow_in_a_run_is_final_and_one_line(warehouse):
    """An event at the start of DuckDB's calendar (290309 BC, in the source as a user's data):
    the idle time to the visitor's next event overflows. The run fails at once, not retried."""
    warehouse.load_source([ev("e1", "a1", None, datetime(2026, 1, 1)), ev("e2", "a1", None, datetime(2026, 1, 2))])
    with warehouse.connect() as conn:
        conn.execute("UPDATE rudderstack.tracks SET timestamp = TIMESTAMP '290309-12-22 (BC) 00:00:00' WHERE id = 'e2'")
    config = warehouse.config()
    with pytest.raises(PhaseFailed) as failed:
        warehouse.runner(config).run("overflow")
    assert isinstance(failed.value, StatementRefused) and isinstance(failed.value, FINAL_ERRORS)
    message = str(failed.value)
    assert message.startswith("mapped_tracks failed for source 'test': Out of Range Error: Overflow in subtraction")
    assert "\n" not in message


@pytest.mark.postgres
def test_postgres_refusals_and_hiccups():
    require_postgres()
    import psycopg2

    with psycopg2.connect(host="127.0.0.1", user="postgres", dbname="test") as conn, conn.cursor() as cursor:
        assert is_refusal(error_of(lambda: cursor.execute("SELECT event_4 FROM (SELECT 1 AS event_1) AS f")))
        conn.rollback()
        assert is_refusal(error_of(lambda: cursor.execute("SELECT 1 / 0")))
        conn.rollback()
        cursor.execute("SET statement_timeout = 10")
        assert not is_refusal(error_of(lambda: cursor.execute("SELECT pg_sleep(1)")))  # 57014: canceled
        conn.rollback()


def test_snowflake_refusals():
    import fakesnow
    import snowflake.connector

    with fakesnow.patch(), snowflake.connector.connect(database="db", schema="s") as conn:
        assert is_refusal(error_of(lambda: conn.cursor().execute("SELECT event_4 FROM (SELECT 1 AS event_1)")))
    assert not is_refusal(snowflake.connector.errors.OperationalError("connection reset"))


def test_bigquery_refusals_and_retried_400s():
    assert is_refusal(google_errors.BadRequest("Unrecognized name: event_4 at [3:5]"))
    assert not is_refusal(google_errors.BadRequest("Could not serialize access to table t due to concurrent update"))
    assert not is_refusal(google_errors.InternalServerError("backend error"))
    assert not is_refusal(google_errors.TooManyRequests("rateLimitExceeded"))


def test_a_refusal_is_final_and_a_hiccup_retried():
    conn = duckdb.connect()
    refused = phase_error("plan", "shop", error_of(lambda: conn.execute("SELECT nope")))
    assert isinstance(refused, StatementRefused) and isinstance(refused, FINAL_ERRORS)
    assert str(refused).startswith("plan failed for source 'shop': Binder Error")
    hiccup = phase_error("plan", "shop", ConnectionResetError("connection reset by peer"))
    assert not isinstance(hiccup, FINAL_ERRORS)
