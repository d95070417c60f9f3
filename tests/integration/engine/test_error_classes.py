"""A statement the warehouse refuses (binder, syntax, type errors) fails the task at once; a
hiccup (a timeout, a lost connection, a busy file) stays retryable. Each case is a real driver
error of its warehouse, except BigQuery's, built from google-api-core's own classes (the
emulator's wording differs from the service's)."""

from __future__ import annotations

import duckdb
import pytest
from google.api_core import exceptions as google_errors

from conftest import require_postgres
from rudder_sessions.driver_errors import is_refusal, phase_error
from rudder_sessions.errors import StatementRefused
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
