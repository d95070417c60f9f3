"""The sample generator's event tables: deterministic, each with its columns, one activity behind them,
and ids unique across tables apart from the duplicates it means to deliver."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest

import sample_data
from sample_data import EVENT_TABLES, write_events, write_tracks
from spec_model import compute

SEED, EVENTS, DAYS = 5, 12_000, 10
CONTEXT = (
    "context_library_name",
    "context_ip",
    "context_page_path",
    "context_user_agent",
    "context_page_referrer",
    "context_campaign_source",
    "context_campaign_medium",
    "context_campaign_name",
    "context_device_type",
)
COMMON = ("id", "anonymous_id", "user_id", "timestamp", "received_at", "sent_at", *CONTEXT)
APP_LIBRARIES = ("rudder-ios-library", "com.rudderstack.android.sdk.core")
NOT_BLANK = "trim({}, chr(32) || chr(9) || chr(10) || chr(12) || chr(13)) <> ''"  # blank ids count as NULL


@pytest.fixture(scope="module")
def conn() -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect()
    conn.execute("SET threads = 2")
    counts = write_events(conn, schema="raw", events=EVENTS, seed=SEED, days=DAYS)
    conn.execute("CREATE TABLE raw.counts AS SELECT * FROM (VALUES ('x', 0)) t(name, n) LIMIT 0")
    conn.executemany("INSERT INTO raw.counts VALUES (?, ?)", list(counts.items()))
    return conn


def one(conn: duckdb.DuckDBPyConnection, sql: str) -> Any:
    return conn.execute(sql).fetchone()[0]


def fingerprint(conn: duckdb.DuckDBPyConnection, table: str) -> tuple[int, ...]:
    """Row count and a hash sum of each column."""
    return conn.execute(f"SELECT count(*), sum(hash(COLUMNS(*))) FROM {table}").fetchone()


def counts(conn: duckdb.DuckDBPyConnection) -> dict[str, int]:
    return dict(conn.execute("SELECT name, n FROM raw.counts").fetchall())


def test_the_tables_together_hold_about_the_rows_asked_for(conn):
    written = counts(conn)
    assert list(written) == list(EVENT_TABLES)
    assert written == {t: one(conn, f"SELECT count(*) FROM raw.{t}") for t in EVENT_TABLES}
    assert abs(sum(written.values()) - EVENTS) < 0.1 * EVENTS
    assert written["tracks"] > written["pages"] > written["screens"] > 0


def test_same_seed_same_tables_and_the_tracks_are_write_tracks(conn):
    with duckdb.connect() as again:
        assert write_events(again, schema="raw", events=EVENTS, seed=SEED, days=DAYS) == counts(conn)
        for t in EVENT_TABLES:
            assert fingerprint(again, f"raw.{t}") == fingerprint(conn, f"raw.{t}"), t
        write_tracks(again, schema="alone", events=counts(conn)["tracks"], seed=SEED, days=DAYS)
        assert fingerprint(again, "alone.tracks") == fingerprint(conn, "raw.tracks")
        # Tracks alone: `events` tracks rows, as write_tracks writes them.
        assert write_events(again, schema="solo", events=EVENTS, seed=SEED, days=DAYS, tables=["tracks"]) == {
            "tracks": EVENTS
        }
        write_tracks(again, schema="alone", table="all_of_it", events=EVENTS, seed=SEED, days=DAYS)
        assert fingerprint(again, "solo.tracks") == fingerprint(again, "alone.all_of_it")
        write_events(again, schema="other", events=EVENTS, seed=SEED + 1, days=DAYS)
        for t in EVENT_TABLES:
            assert fingerprint(again, f"other.{t}") != fingerprint(conn, f"raw.{t}"), t


def test_each_table_has_its_columns(conn):
    def columns(table: str) -> list[str]:
        return [row[0] for row in conn.execute(f"DESCRIBE raw.{table}").fetchall()]

    tracks = columns("tracks")
    assert tracks[:4] == ["id", "anonymous_id", "user_id", "event"]
    assert set(tracks) == {*COMMON, "event", "revenue"}
    for t in ("pages", "screens"):
        assert columns(t)[:4] == ["id", "anonymous_id", "user_id", "name"], t
        assert set(columns(t)) == {*COMMON, "name"}, t  # no event, no revenue
    assert one(conn, "SELECT count(*) FROM raw.pages WHERE name IS NULL OR context_page_path IS NULL") == 0
    assert one(conn, "SELECT count(DISTINCT name) FROM raw.pages") >= 8
    assert one(conn, "SELECT count(*) FROM raw.screens WHERE name IS NULL OR context_page_path IS NOT NULL") == 0
    assert set(r[0] for r in conn.execute("SELECT DISTINCT name FROM raw.pages").fetchall()) <= set(
        sample_data.PAGE_NAMES
    )


def test_revenue_only_on_completed_orders_with_two_decimals(conn):
    by_event = dict(
        conn.execute(
            "SELECT event = 'order_completed', count(revenue) FILTER (revenue > 0 AND round(revenue, 2) = revenue) "
            "- count(*) FROM raw.tracks GROUP BY ALL"
        ).fetchall()
    )
    assert by_event[True] == 0  # every completed order has a positive revenue in cents
    assert one(conn, "SELECT count(revenue) FROM raw.tracks WHERE event <> 'order_completed'") == 0
    assert one(conn, "SELECT typeof(revenue) FROM raw.tracks LIMIT 1") == "DOUBLE"


def test_screens_only_on_app_devices_pages_only_on_the_web(conn):
    screens = set(conn.execute("SELECT DISTINCT context_library_name, context_device_type FROM raw.screens").fetchall())
    assert {library for library, _ in screens} == set(APP_LIBRARIES)
    assert {device for _, device in screens} == {"mobile", "tablet"}
    pages = set(conn.execute("SELECT DISTINCT context_library_name, context_device_type FROM raw.pages").fetchall())
    assert pages == {("RudderLabs JavaScript SDK", "desktop"), ("RudderLabs JavaScript SDK", "mobile")}
    # A device has one type on every row of every table.
    assert (
        one(
            conn,
            f"""SELECT count(*) FROM (
                SELECT anonymous_id FROM (
                    SELECT anonymous_id, context_device_type FROM raw.tracks UNION ALL
                    SELECT anonymous_id, context_device_type FROM raw.pages UNION ALL
                    SELECT anonymous_id, context_device_type FROM raw.screens)
                WHERE {NOT_BLANK.format("anonymous_id")}
                GROUP BY ALL HAVING count(DISTINCT context_device_type) > 1)""",
        )
        == 0
    )


def test_a_call_comes_shortly_before_the_track_event_on_its_page_or_screen(conn):
    # The same device's next track event comes within 3 seconds (and for a page call, on its page).
    for calls, same_spot in (("pages", "t.context_page_path = c.context_page_path"), ("screens", "TRUE")):
        followed = one(
            conn,
            f"""SELECT avg(CASE WHEN t."timestamp" - c."timestamp" <= INTERVAL 3 SECOND AND {same_spot}
                THEN 1 ELSE 0 END)
            FROM raw.{calls} c ASOF LEFT JOIN raw.tracks t
                ON t.anonymous_id = c.anonymous_id AND t."timestamp" >= c."timestamp"
            WHERE {NOT_BLANK.format("c.anonymous_id")}""",
        )
        assert followed > 0.97, calls
    # Landing events: a campaign comes with a session's first rows, not later ones (few rows carry one).
    with_campaign = one(
        conn,
        "SELECT avg(CASE WHEN trim(context_campaign_source) <> '' THEN 1 ELSE 0 END) FROM raw.tracks",
    )
    assert 0.02 < with_campaign < 0.15
    assert one(conn, "SELECT count(*) FROM raw.tracks WHERE context_campaign_source = ''") > 0


def test_ids_are_unique_across_tables_apart_from_the_duplicates(conn):
    def ids(table: str) -> set[str]:
        return {row[0] for row in conn.execute(f"SELECT id FROM raw.{table} WHERE id IS NOT NULL").fetchall()}

    copies = {}
    for t in EVENT_TABLES:
        rows = one(conn, f"SELECT count(id) FROM raw.{t}")
        copies[t] = rows - len(ids(t))
        assert 0.005 * rows <= copies[t] <= 0.02 * rows, t  # a few SDK retries in every table
        # The copies are one event delivered again: same time, device and name.
        name = "event" if t == "tracks" else "name"
        assert (
            one(
                conn,
                f"""SELECT count(*) FROM (SELECT id FROM raw.{t} WHERE id IS NOT NULL GROUP BY id
                HAVING count(DISTINCT ("timestamp", anonymous_id, {name})) > 1)""",
            )
            == 0
        ), t
    assert ids("screens").isdisjoint(ids("tracks") | ids("pages"))
    again = ids("tracks") & ids("pages")  # track events delivered again as page calls
    assert 1 <= len(again) <= max(1, 0.002 * len(ids("pages")))
    assert one(
        conn,
        """SELECT count(*) FROM raw.tracks t JOIN raw.pages p USING (id)
            WHERE t."timestamp" = p."timestamp" AND t.anonymous_id = p.anonymous_id
                AND t.context_page_path = p.context_page_path""",
    ) == len(again)

    # The model over all three tables drops exactly these as duplicates.
    rows: list[dict[str, Any]] = []
    for t in EVENT_TABLES:
        name = "event" if t == "tracks" else "name"
        cursor = conn.execute(
            f"""SELECT id, anonymous_id, user_id, {name} AS event, "timestamp", received_at,
            '{t}' AS event_table, context_campaign_source FROM raw.{t}"""
        )
        names = [d[0] for d in cursor.description]
        rows += [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    result = compute(rows, first_columns=("context_campaign_source",))
    assert result.dropped["duplicate"] == sum(copies.values()) + len(again)
    tables = {r["event_table"] for r in result.tables["mapped_tracks"]}
    assert tables == set(EVENT_TABLES)
    sessions = result.tables["session_facts"]
    assert any(s["first_context_campaign_source"] for s in sessions)
    assert {s["first_event"] for s in sessions} & {"Home", "Category", "Product"}  # sessions open with a page


def test_arguments_are_checked():
    with duckdb.connect() as conn:
        with pytest.raises(ValueError, match="tables must be some of"):
            write_events(conn, tables=("tracks", "identifies"))
        with pytest.raises(ValueError, match="tables must be some of"):
            write_events(conn, tables=())
        with pytest.raises(ValueError, match="events must be at least"):
            write_events(conn, events=150)
        with pytest.raises(ValueError, match="not a valid identifier"):
            write_events(conn, schema="raw data")


def test_command_line_writes_the_tables_asked_for(tmp_path: Path, capsys):
    database = tmp_path / "events.duckdb"
    args = ["--database", str(database), "--schema", "cli", "--events", "3000", "--seed", "3", "--days", "5"]
    assert sample_data.main([*args, "--tables", "tracks,screens"]) == 0
    assert "rows to cli.screens" in capsys.readouterr().out
    with duckdb.connect(str(database), read_only=True) as conn:
        tables = {
            r[0] for r in conn.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'cli'").fetchall()
        }
        assert tables == {"tracks", "screens"}
    with pytest.raises(SystemExit):
        sample_data.main([*args, "--tables", "pages", "--table", "events"])
    with pytest.raises(SystemExit):
        sample_data.main([*args, "--tables", "pages,identifies"])
