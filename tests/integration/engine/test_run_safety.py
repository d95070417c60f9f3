"""Runs are safe: killed at any point they leave the published model as it was, the next run
converges, two runs of one source cannot both publish, and a backfill touches only its visitors."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest

from rows import BASE, FIRST, SECOND, ev
from rudder_sessions.errors import AuditFailed
from rudder_sessions.model import BY_VISITOR, PHASES, PUBLISH, TABLES
from spec_model import compute
from warehouses import assert_killed_run_changes_nothing, publish_after_another

EVENTS_CHECK = (
    "each event once in mapped_tracks and track_facts, sessions opened exactly at idle gaps above the timeout"
)


@pytest.fixture
def published(warehouse):
    """A published model from FIRST, with SECOND landed in the source since."""
    config = warehouse.config()
    warehouse.load_source(FIRST)
    warehouse.runner(config).run("first")
    warehouse.load_source(SECOND, append=True)
    return warehouse, config


class _DyingCursor:
    """Executes statements until the one matching `die_at`, then kills the whole process."""

    def __init__(self, cursor, die_at):
        self._cursor, self._die_at = cursor, die_at

    def execute(self, statement, *args):
        if self._die_at(statement):
            os._exit(9)  # no rollback, no cleanup: as if the worker was killed
        return self._cursor.execute(statement, *args)

    def __getattr__(self, name):
        return getattr(self._cursor, name)


def _run_and_die(warehouse, config, last_phase, die_at):
    runner = warehouse.runner(config)
    if die_at is not None:
        get_conn = runner.hook.get_conn

        class _Conn:
            def __init__(self):
                self._conn = get_conn()

            def cursor(self):
                return _DyingCursor(self._conn.cursor(), die_at)

            def __getattr__(self, name):
                return getattr(self._conn, name)

        runner.hook.get_conn = _Conn
    plan = runner.plan("killed", "incremental")
    for phase in PHASES[: PHASES.index(last_phase) + 1]:
        runner.execute(phase, plan)
    os._exit(9)


PUBLISH_KILL_POINTS = {
    "after the state claim": lambda s: s.startswith("DELETE FROM"),
    "after deleting mapped_tracks'": lambda s: s.startswith("DELETE FROM") and "dbt_session_tracks" in s.split("\n")[0],
    "after inserting track_facts": lambda s: s.startswith("DELETE FROM") and "dbt_tracks_flow" in s.split("\n")[0],
    "before commit": lambda s: s.startswith("COMMIT"),
}


@pytest.mark.parametrize(
    ("last_phase", "kill_point"),
    [(phase, None) for phase in PHASES[:-1]] + [(PUBLISH, point) for point in PUBLISH_KILL_POINTS],
)
def test_killed_run_changes_nothing_and_next_run_converges(published, last_phase, kill_point):
    warehouse, config = published
    die_at = PUBLISH_KILL_POINTS[kill_point] if kill_point else None
    assert_killed_run_changes_nothing(warehouse, config, _run_and_die, (warehouse, config, last_phase, die_at), 120)
    # The killed run planned on the version "next" replaced: it cannot publish any more, and the
    # next plan drops its staging tables (a run in flight on that version keeps them until then).
    warehouse.runner(config).plan("after", "incremental")
    assert not [n for n in warehouse.tables(config.target_schema) if n.startswith("__rs_")]


def test_two_publishes_for_one_source_cannot_both_succeed(published):
    warehouse, config = published
    first, second = warehouse.runner(config), warehouse.runner(config)
    after_first, after_refusal = publish_after_another(first, second, "incremental", lambda: warehouse.snapshot(config))
    assert after_refusal == after_first
    warehouse.assert_matches_spec(config)


def test_retrying_publish_of_a_finished_run_is_a_no_op(published):
    warehouse, config = published
    runner = warehouse.runner(config)
    plan = runner.plan("once", "incremental")
    for phase in PHASES:
        runner.execute(phase, plan)
    after = warehouse.snapshot(config)
    runner.execute(PUBLISH, plan)  # e.g. the task died after the commit and Airflow retried it
    assert warehouse.snapshot(config) == after


def audit_failure(published, run_id: str, corrupt) -> str:
    """Stage an incremental run, let `corrupt(conn, stage)` damage its staged track_facts, and
    return the audit's message; the published tables must be left as they were."""
    warehouse, config = published
    runner = warehouse.runner(config)
    before = warehouse.snapshot(config)
    plan = runner.plan(run_id, "incremental")
    for phase in PHASES[: PHASES.index("checks")]:
        runner.execute(phase, plan)
    with warehouse.connect() as conn:
        corrupt(conn, f'sessions."__rs_{plan.key}_track_facts"')
    with pytest.raises(AuditFailed) as failure:
        runner.execute("checks", plan)
    assert warehouse.snapshot(config) == before
    return str(failure.value)


def test_failed_audit_stops_before_publish(published):
    def duplicate_an_event(conn, stage):
        conn.execute(f"INSERT INTO {stage} SELECT * FROM {stage} LIMIT 1")

    message = audit_failure(published, "audited", duplicate_an_event)
    assert f"{EVENTS_CHECK}: 1 rows" in message
    assert "as many events in tracks_flow as in track_facts: 1 rows" in message


def test_audit_catches_an_event_swapped_for_another(published):
    """Equal counts and unique ids are not enough: track_facts must hold mapped_tracks' events."""

    def swap_an_event(conn, stage):
        conn.execute(
            f"UPDATE {stage} SET event_id = 'not-an-event' WHERE event_id = (SELECT MIN(event_id) FROM {stage})"
        )

    # the lost event and the foreign one
    assert f"{EVENTS_CHECK}: 2 rows" in audit_failure(published, "swapped", swap_an_event)


def test_audit_catches_a_session_cut_or_merged_without_its_gap(published):
    def misplace_a_session_start(conn, stage):  # one event moved to the front of its session, one off it
        later = conn.execute(f"SELECT event_id FROM {stage} WHERE track_sequence_number = 2 LIMIT 1").fetchone()[0]
        first = conn.execute(f"SELECT event_id FROM {stage} WHERE track_sequence_number = 1 LIMIT 1").fetchone()[0]
        conn.execute(f"UPDATE {stage} SET track_sequence_number = 1 WHERE event_id = ?", [later])
        conn.execute(f"UPDATE {stage} SET track_sequence_number = 3 WHERE event_id = ?", [first])

    assert f"{EVENTS_CHECK}: 2 rows" in audit_failure(published, "misplaced", misplace_a_session_start)


def test_publish_without_delete_using_deletes_the_same_rows(published, monkeypatch):
    """Warehouses without DELETE ... USING (BigQuery) delete the reopened rows by the same predicate in
    a correlated EXISTS: run here on DuckDB, the incremental run still ends at SPEC's model."""
    from rudder_sessions.dialects import DuckDBDialect

    monkeypatch.setattr(DuckDBDialect, "delete_using", False)
    warehouse, config = published
    runner = warehouse.runner(config)
    plan = runner.plan("second", "incremental")
    publish = runner.render(PUBLISH, plan)
    by_visitor = [t for t in TABLES if t.found_by == BY_VISITOR]
    assert "USING" not in publish and publish.count("WHERE EXISTS") == len(by_visitor) == 5
    for phase in PHASES:
        runner.execute(phase, plan)
    warehouse.assert_matches_spec(config)


def test_backfill_recomputes_its_visitors_and_leaves_the_others(warehouse):
    import sample_data

    config = warehouse.config()
    with warehouse.connect() as conn:
        sample_data.write_tracks(conn, schema="rudderstack", events=4000, seed=5, days=12, start=BASE)
    runner = warehouse.runner(config)
    runner.run("full", "full_refresh")
    start, end = BASE + timedelta(days=2), BASE + timedelta(days=3)
    with warehouse.connect() as conn:
        # The source is repaired inside the window: renamed events, removed rows, a new identify.
        conn.execute(
            "UPDATE rudderstack.tracks SET event = 'renamed' "
            "WHERE timestamp >= ? AND timestamp < ? AND hash(id) % 3 = 0",
            [start, end],
        )
        conn.execute(
            "DELETE FROM rudderstack.tracks WHERE timestamp >= ? AND timestamp < ? AND hash(id) % 7 = 0", [start, end]
        )
        anon = conn.execute(
            "SELECT anonymous_id FROM rudderstack.tracks WHERE user_id IS NULL AND anonymous_id LIKE 'anon-%' "
            "AND timestamp < ? ORDER BY anonymous_id LIMIT 1",
            [start],
        ).fetchone()[0]
        conn.execute(
            "INSERT INTO rudderstack.tracks (id, anonymous_id, user_id, event, timestamp, received_at) "
            "VALUES ('identify-in-window', ?, 'user-new', 'logged_in', ?, ?)",
            [anon, start + timedelta(hours=5), start + timedelta(hours=5)],
        )
        # Mark every published row: a rewritten row loses the mark.
        conn.execute("UPDATE sessions.dbt_mapped_tracks SET idle_time_minutes = -1")
    before = warehouse.read_tables(config)["mapped_tracks"]

    summary = runner.run("repair", "backfill", start, end)
    assert summary["mode"] == "backfill"

    expected = compute(warehouse.source_rows(), config.timeout_minutes, config.flow_length).tables
    actual = warehouse.read_tables(config)
    in_window = {r["dbt_visitor_id"] for r in before + expected["mapped_tracks"] if start <= r["timestamp"] < end}
    assert "user-new" in in_window and anon not in {r["dbt_visitor_id"] for r in actual["mapped_tracks"]}
    want = {r["event_id"]: r for r in expected["mapped_tracks"]}
    assert {r["event_id"] for r in actual["mapped_tracks"]} == set(want)
    untouched = rewritten = 0
    for row in actual["mapped_tracks"]:
        expected_row = want[row["event_id"]]
        assert {k: v for k, v in row.items() if k != "idle_time_minutes"} == {
            k: v for k, v in expected_row.items() if k != "idle_time_minutes"
        } | {k: row[k] for k in row if k not in expected_row}
        if row["dbt_visitor_id"] in in_window:
            assert row["idle_time_minutes"] == expected_row["idle_time_minutes"]
            rewritten += 1
        elif row["idle_time_minutes"] == -1:
            untouched += 1
    assert rewritten and untouched > len(actual["mapped_tracks"]) / 3
    assert summary["visitors_affected"] < summary["visitors"]
    for step in ("aliases_mapping", "session_tracks", "track_facts", "tracks_flow"):
        from conftest import assert_rows_equal

        assert_rows_equal(actual[step], expected[step], step)


def test_watermark_column_is_configurable(warehouse):
    """A row received long ago but loaded now is picked up when the watermark follows the load time."""
    config = warehouse.config(watermark_column="loaded_at", lookback="0 minutes")
    warehouse.load_source(FIRST)
    with warehouse.connect() as conn:
        conn.execute("ALTER TABLE rudderstack.tracks ADD COLUMN loaded_at TIMESTAMP")
        conn.execute("UPDATE rudderstack.tracks SET loaded_at = received_at + INTERVAL 1 HOUR")
    runner = warehouse.runner(config)
    first = runner.run("loads-1")
    late = ev("old-but-new", "dev1", None, 5, "late-load", received_delay=1)  # received at minute 6 of the day
    with warehouse.connect() as conn:
        conn.execute(
            "INSERT INTO rudderstack.tracks BY NAME SELECT ? AS id, ? AS anonymous_id, ? AS event, "
            "?::TIMESTAMP AS timestamp, ?::TIMESTAMP AS received_at, ?::TIMESTAMP AS loaded_at",
            [
                late["id"],
                late["anonymous_id"],
                late["event"],
                late["timestamp"],
                late["received_at"],
                first["watermark_after"] + timedelta(minutes=1),
            ],
        )
    summary = runner.run("loads-2", "incremental")
    assert summary["mode"] == "incremental"
    assert summary["rows_read"] == 1 and summary["events_changed"] == 1
    assert summary["watermark_after"] == first["watermark_after"] + timedelta(minutes=1)
    warehouse.assert_matches_spec(config)


def test_a_failed_run_is_logged_even_when_its_staging_tables_cannot_be_dropped(warehouse):
    """The run fails (an event at the start of DuckDB's calendar overflows the idle time) and its
    cleanup fails too: a view sits at the name of one of its staging tables (`input`, a stage of
    earlier versions of plan, so the run never makes it), and DuckDB refuses DROP TABLE on a view,
    which rolls back the drop of them all. The run log still says the run failed, and why; the
    error raised is the run's, not the drop's."""
    from datetime import datetime

    from rudder_sessions.errors import StatementRefused
    from rudder_sessions.model import run_key

    warehouse.load_source([ev("e1", "a1", None, datetime(2026, 1, 1)), ev("e2", "a1", None, datetime(2026, 1, 2))])
    config = warehouse.config()
    runner = warehouse.runner(config)
    tables = runner.session.tables(run_key("R1"))
    schema = config.target_schema
    with warehouse.connect() as conn:
        conn.execute("UPDATE rudderstack.tracks SET timestamp = TIMESTAMP '290309-12-22 (BC) 00:00:00' WHERE id = 'e2'")
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        conn.execute(f'CREATE VIEW {schema}."{tables.stage_name("input")}" AS SELECT 1 AS x')
    with pytest.raises(StatementRefused, match=r"^mapped_tracks failed"):
        runner.run("R1")
    with warehouse.connect(read_only=True) as conn:
        runs = conn.execute(f"SELECT run_id, outcome FROM {schema}.rudder_sessions_runs").fetchall()
        left = {
            name
            for (name,) in conn.execute(
                f"SELECT table_name FROM duckdb_tables() WHERE schema_name = '{schema}'"
            ).fetchall()
        }
    assert tables.stage_name("events") in left  # the drop did fail: the plan's staged events are still there
    assert len(runs) == 1 and runs[0][0] == "R1"
    assert runs[0][1].startswith("failed: StatementRefused: mapped_tracks failed for source 'test': Out of Range")
