"""The local BigQuery emulator behind the real BigQueryHook (tests/bigquery_emulator): rows load,
read back through the hook's DB-API as BigQuery's REST API gives them, and the BigQuery rules the
publish relies on (script transactions, ASSERT, @@row_count) hold. Skipped without the emulator's
venv (tests/bigquery_emulator/setup.sh), and failed instead when CI=true."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest

from bigquery_emulator import Emulator, emulator_available, start_emulator
from rows import ev
from warehouses import BigQueryWarehouse

T0 = datetime(2024, 1, 1, 10, 0, 0, 123456)


@pytest.fixture(scope="module")
def emulator():
    reason = emulator_available()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI=true: the BigQuery emulator tests must run)")
        pytest.skip(reason)
    server = start_emulator()
    yield server
    server.stop()


@pytest.fixture
def bq(emulator: Emulator):
    warehouse = BigQueryWarehouse(emulator)
    yield warehouse
    warehouse.close()


def test_rows_round_trip_through_the_hook(bq: BigQueryWarehouse) -> None:
    rows = [ev("e1", "a1", None, 0, base=T0), ev("e2", "a1", "u1", 5, base=T0), ev("e3", "it's", None, 90, base=T0)]
    bq.load_source(rows)
    hook = bq.hook()
    hook.use_legacy_sql = False
    assert type(hook).__name__ == "BigQueryHook"
    got = hook.get_records(
        f"SELECT id, anonymous_id, user_id, event, `timestamp`, UNIX_MICROS(received_at) "
        f"FROM `{bq.source_schema}`.tracks ORDER BY id"
    )
    # A TIMESTAMP reaches the DB-API as float epoch seconds, as from BigQuery; UNIX_MICROS is exact.
    expected = [
        [
            r["id"],
            r["anonymous_id"],
            r["user_id"],
            "view",
            r["timestamp"].replace(tzinfo=UTC).timestamp(),
            int((r["received_at"] - datetime(1970, 1, 1)) / timedelta(microseconds=1)),
        ]
        for r in rows
    ]
    assert got == expected
    # The cursor binds only named (pyformat) parameters, as quoted literals.
    count = f"SELECT COUNT(*) FROM `{bq.source_schema}`.tracks WHERE anonymous_id = %(a)s"
    assert hook.get_first(count, parameters={"a": "it's"}) == [1]
    # The helpers read what the hook wrote: names lower-case, timestamps naive UTC.
    assert bq.query(f'SELECT "id", "timestamp" FROM {bq.source_schema}.tracks WHERE id = %s', ["e2"]) == [
        {"id": "e2", "timestamp": T0 + timedelta(minutes=5)}
    ]
    columns, _ = bq.runner(bq.config()).dialect.columns_query(bq.source_schema, "tracks")
    assert {c[0] for c in hook.get_records(columns)} == {
        "id",
        "anonymous_id",
        "user_id",
        "event",
        "timestamp",
        "received_at",
    }


def test_script_rules_as_on_bigquery(bq: BigQueryWarehouse) -> None:
    bq.create_dataset(bq.target_schema)
    hook = bq.hook()
    hook.use_legacy_sql = False
    t = f"`{bq.target_schema}`.t"
    hook.run(f"CREATE TABLE {t} (k STRING, v INT64, PRIMARY KEY (k) NOT ENFORCED)")
    hook.run(f"INSERT INTO {t} VALUES ('a', 1), ('b', 2)")
    # A failed ASSERT fails the job and rolls its transaction back.
    with pytest.raises(Exception, match="claim refused"):
        hook.run(
            f"BEGIN TRANSACTION;\nUPDATE {t} SET v = v + 1 WHERE TRUE;\n"
            "ASSERT (@@row_count) = 1 AS 'claim refused';\nCOMMIT TRANSACTION;"
        )
    assert sorted(hook.get_records(f"SELECT k, v FROM {t}")) == [["a", 1], ["b", 2]]
    hook.run(f"BEGIN TRANSACTION;\nUPDATE {t} SET v = 5 WHERE k = 'a';\nASSERT @@row_count = 1;\nCOMMIT TRANSACTION;")
    assert sorted(hook.get_records(f"SELECT k, v FROM {t}")) == [["a", 5], ["b", 2]]
    # DDL on a permanent table inside a transaction is refused.
    with pytest.raises(Exception, match="DDL statements are not supported in a transaction"):
        hook.run(f"BEGIN TRANSACTION;\nCREATE TABLE `{bq.target_schema}`.u (x INT64);\nCOMMIT TRANSACTION;")


def test_the_pipeline_publishes_the_spec_model(bq: BigQueryWarehouse) -> None:
    bq.load_source(
        [ev("e1", "a1", None, 0, base=T0), ev("e2", "a1", "u1", 5, base=T0), ev("e3", "a2", "u1", 200, base=T0)]
    )
    config = bq.config()
    runner = bq.runner(config)
    assert (type(runner.hook).__name__, runner.dialect.name) == ("BigQueryHook", "bigquery")
    assert runner.run("r1", "full_refresh")["sessions"] == 2
    bq.assert_matches_spec(config)
    bq.load_source([ev("e4", "a3", None, 230, base=T0)], append=True)
    assert bq.runner(config).run("r2", "incremental")["mode"] == "incremental"
    bq.assert_matches_spec(config)
