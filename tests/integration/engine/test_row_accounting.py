"""Each source row is counted once (SPEC "Source"): what the counted-rows table keeps, how the
summary and the DAG run's note say it, and a target published before the counting began."""

from __future__ import annotations

from datetime import datetime, timedelta

from rows import ev
from rudder_sessions.run_log import format_note, format_summary

BASE = datetime(2026, 5, 1, 8, 0, 0)


def history() -> list[dict]:
    """A day of hourly events, the last two also delivered twice, one without received_at."""
    at = [BASE + timedelta(hours=h) for h in range(24)]
    rows = [ev(f"e{h}", "a1", None, at[h], received=at[h]) for h in range(24)]
    rows += [ev(f"e{h}", "a1", None, at[h], received=at[h] + timedelta(minutes=1)) for h in (22, 23)]
    return [*rows, ev("loose", "a1", None, BASE, received=None)]


def counted(warehouse) -> list[tuple]:
    with warehouse.connect(read_only=True) as conn:
        return conn.execute(
            "SELECT id, watermark_value, drop_reason, row_count FROM sessions.rudder_sessions_counted "
            "ORDER BY id, watermark_value"
        ).fetchall()


def test_a_full_refresh_keeps_only_the_rows_the_next_run_reads_again(warehouse):
    """The last watermark is hour 23 plus a minute; with a lookback of 90 minutes the next run
    reads after 21:31, and every row without received_at: the rest is never counted again."""
    config = warehouse.config(lookback="90 minutes")
    warehouse.load_source(history())
    warehouse.runner(config).run("r1", "full_refresh")
    at = lambda h, m=0: BASE + timedelta(hours=h, minutes=m)  # noqa: E731
    assert counted(warehouse) == [
        ("e22", at(22), None, 1),
        ("e22", at(22, 1), None, 1),
        ("e23", at(23), None, 1),
        ("e23", at(23, 1), None, 1),
        ("loose", None, None, 1),
    ]


def test_the_summary_and_the_note_say_how_many_rows_are_new(warehouse):
    config = warehouse.config(lookback="90 minutes")
    runner = warehouse.runner(config)
    warehouse.load_source(history())
    runner.run("r1", "full_refresh")
    late = BASE + timedelta(hours=23, minutes=30)
    warehouse.load_source([ev("e24", "a1", None, late, received=late)], append=True)
    summary = runner.run("r2", "incremental")
    assert (summary["rows_read"], summary["rows_new"]) == (6, 1)
    said = "6 (1 new; the others an earlier run read and counted)"
    assert f"rows read         {said}" in format_summary(summary, config)
    assert f"- rows read {said}, dropped 0 " in format_note(summary, config)
    first = runner.summary("r1")
    assert "rows read         27\n" in format_summary(first, config)


def test_a_target_published_before_the_counting_is_upgraded_in_place(warehouse):
    """No counted-rows table and no rows_new column: the next run makes both and counts its window
    once more (README: the first run after upgrading; its valid rows, published ones included, as
    duplicates), and the run after it counts nothing again."""
    config = warehouse.config(lookback="90 minutes")
    runner = warehouse.runner(config)
    warehouse.load_source(history())
    runner.run("r1", "full_refresh")
    with warehouse.connect() as conn:
        conn.execute("DROP TABLE sessions.rudder_sessions_counted")
        conn.execute("ALTER TABLE sessions.rudder_sessions_runs DROP COLUMN rows_new")
    upgraded = runner.run("r2", "incremental")
    assert (upgraded["mode"], upgraded["rows_read"], upgraded["rows_new"]) == ("incremental", 5, 5)
    assert upgraded["dropped_duplicate"] == 5
    again = runner.run("r3", "incremental")
    assert (again["rows_read"], again["rows_new"], again["dropped_duplicate"]) == (5, 0, 0)
    assert runner.summary("r1")["rows_new"] is None  # the run from before the upgrade
    warehouse.assert_matches_spec(config)
