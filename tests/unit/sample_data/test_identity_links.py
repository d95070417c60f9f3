"""The sample generator's identity links (`identity_links=True`): the identifies and aliases tables, and
the events only an identity graph stitches (renamed users, people identified server-side only, kiosks,
junk ids). Without the option the tables stay exactly what they were."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

import sample_data
from sample_data import EVENT_TABLES, LINK_TABLES, write_events, write_tracks

SEED, EVENTS, DAYS = 5, 12_000, 10
START = datetime(2026, 1, 1)
IDENTIFIES = (
    "id",
    "anonymous_id",
    "user_id",
    "timestamp",
    "received_at",
    "sent_at",
    "context_library_name",
    "context_traits_email",
)
ALIASES = ("id", "previous_id", "user_id", "timestamp", "received_at", "sent_at", "context_library_name")
DEFAULT_EXCLUDE = ("", "null", "undefined", "anonymous", "0")  # identity graph's default identity_exclude
BLANKS = " \t\n\f\r"
# Every event row of the three tables, its ids with junk (by the graph's default exclusion) as NULL.
EVENTS_SQL = " UNION ALL ".join(
    f"""SELECT id, junk_free(anonymous_id) AS anonymous_id, junk_free(user_id) AS user_id, "timestamp",
        anonymous_id AS raw_anonymous_id, user_id AS raw_user_id FROM raw.{t}"""
    for t in EVENT_TABLES
)


def junk_free(column: str) -> str:
    """SQL: `column`, NULL when the graph's default exclusion makes it junk."""
    values = ", ".join(f"'{v}'" for v in DEFAULT_EXCLUDE)
    stripped = f"lower(trim({column}, chr(32) || chr(9) || chr(10) || chr(12) || chr(13)))"
    return f"CASE WHEN {stripped} IN ({values}) THEN NULL ELSE {column} END"


@pytest.fixture(scope="module")
def conn() -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect()
    conn.execute("SET threads = 2")
    counts = write_events(conn, schema="raw", events=EVENTS, seed=SEED, days=DAYS, identity_links=True)
    assert list(counts) == [*EVENT_TABLES, *LINK_TABLES]
    conn.execute("CREATE TABLE raw.counts AS SELECT * FROM (VALUES ('x', 0)) t(name, n) LIMIT 0")
    conn.executemany("INSERT INTO raw.counts VALUES (?, ?)", list(counts.items()))
    conn.execute(f"CREATE MACRO junk_free(c) AS {junk_free('c')}")
    for name, sql in (
        ("ev", EVENTS_SQL),
        ("idf", "SELECT *, junk_free(anonymous_id) AS anon, junk_free(user_id) AS usr FROM raw.identifies"),
        ("als", "SELECT *, junk_free(previous_id) AS prev, junk_free(user_id) AS usr FROM raw.aliases"),
    ):
        conn.execute(f"CREATE VIEW {name} AS {sql}")
    return conn


def one(conn: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> Any:
    return conn.execute(sql, params).fetchone()[0]


def fingerprint(conn: duckdb.DuckDBPyConnection, table: str) -> tuple[int, ...]:
    """Row count and a hash sum of each column."""
    return conn.execute(f"SELECT count(*), sum(hash(COLUMNS(*))) FROM {table}").fetchone()


def digest(conn: duckdb.DuckDBPyConnection, table: str) -> str:
    """A hash of the table's rows (sorted), independent of DuckDB's own hash function."""
    rows = hashlib.sha256()
    for row in conn.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall():
        rows.update(repr(row).encode())
    return rows.hexdigest()[:24]


def test_without_the_option_the_tables_are_what_they_were():
    # Row counts and digests computed with include/sample_data.py as it was before identity links existed
    # (commit 81de5b2), by this very `digest`: the other tests pin these tables, so they must not move.
    before = {
        "raw.tracks": (6818, "f8a9f2b3357175034558b8e7"),
        "raw.pages": (3081, "6e7fd82b1d151818956b45bd"),
        "raw.screens": (2137, "986eed4899f6c669a09366a4"),
        "alone.t": (4000, "a574df7cc98e4b2ff2b37704"),
        "cli.pages": (2035, "17888aa1c4e0861f4953869a"),
        "cli.screens": (1015, "9196586e17117bb0f3d5b0ba"),
    }
    with duckdb.connect() as conn:
        write_events(conn, schema="raw", events=12_000, seed=5, days=10)
        write_tracks(conn, schema="alone", table="t", events=4_000, seed=11, days=12, identity_links=False)
        write_events(
            conn,
            schema="cli",
            events=3_000,
            seed=7,
            days=7,
            start=datetime(2026, 1, 1, tzinfo=UTC),
            tables=["screens", "pages"],
        )
        now = {table: (one(conn, f"SELECT count(*) FROM {table}"), digest(conn, table)) for table in before}
        assert now == before
        assert one(conn, "SELECT count(*) FROM duckdb_tables() WHERE table_name IN ('identifies', 'aliases')") == 0


def test_same_seed_same_tables_and_write_tracks_writes_the_same_links(conn):
    tables = [*EVENT_TABLES, *LINK_TABLES]
    with duckdb.connect() as again:
        written = write_events(again, schema="raw", events=EVENTS, seed=SEED, days=DAYS, identity_links=True)
        assert written == dict(conn.execute("SELECT name, n FROM raw.counts").fetchall())
        for t in tables:
            assert fingerprint(again, f"raw.{t}") == fingerprint(conn, f"raw.{t}"), t
        # The same activity whatever the tables: write_tracks gives the same tracks and links.
        write_tracks(again, schema="alone", events=written["tracks"], seed=SEED, days=DAYS, identity_links=True)
        for t in ("tracks", *LINK_TABLES):
            assert fingerprint(again, f"alone.{t}") == fingerprint(conn, f"raw.{t}"), t
        write_events(again, schema="other", events=EVENTS, seed=SEED + 1, days=DAYS, identity_links=True)
        for t in tables:
            assert fingerprint(again, f"other.{t}") != fingerprint(conn, f"raw.{t}"), t
        # The option changes the people of some events, not the rows' number, times or names (but for a few
        # pages rows: the track events delivered again as page calls are chosen among those without junk).
        write_events(again, schema="plain", events=EVENTS, seed=SEED, days=DAYS)
        for t in EVENT_TABLES:
            name = "event" if t == "tracks" else "name"
            same = f'SELECT id, "timestamp", received_at, {name} FROM {{}}.{t}'
            moved = len(again.execute(f"{same.format('plain')} EXCEPT ALL {same.format('raw')}").fetchall())
            assert moved <= (0.002 * written[t] if t == "pages" else 0), t
            assert one(again, f"SELECT count(*) FROM plain.{t}") == written[t], t
            assert fingerprint(again, f"plain.{t}") != fingerprint(again, f"raw.{t}"), t


def test_link_tables_have_their_columns_unique_ids_and_times_in_the_window(conn):
    for table, columns in (("identifies", IDENTIFIES), ("aliases", ALIASES)):
        assert tuple(r[0] for r in conn.execute(f"DESCRIBE raw.{table}").fetchall()) == columns
        assert one(conn, f"SELECT count(*) - count(DISTINCT id) FROM raw.{table}") == 0, table
        assert one(conn, f'SELECT count(*) FILTER (id IS NULL OR "timestamp" IS NULL) FROM raw.{table}') == 0
        assert one(conn, f'SELECT min("timestamp") >= ? FROM raw.{table}', [START]), table
        end = datetime(2026, 1, 1 + DAYS)
        assert one(conn, f'SELECT max("timestamp") < ? FROM raw.{table}', [end]), table
        assert (
            one(conn, f'SELECT count(*) FROM raw.{table} WHERE NOT (received_at >= sent_at AND sent_at >= "timestamp")')
            == 0
        )
    ids = [f"SELECT id FROM raw.{t}" for t in (*EVENT_TABLES, *LINK_TABLES)]
    link_ids = one(conn, "SELECT count(*) FROM raw.identifies") + one(conn, "SELECT count(*) FROM raw.aliases")
    assert (
        one(conn, f"SELECT count(*) FROM ({ids[3]} UNION ALL {ids[4]}) WHERE id IN ({' UNION ALL '.join(ids[:3])})")
        == 0
    )
    assert link_ids >= 100
    # An identify comes when its user is active: within seconds of an event on its device.
    assert (
        one(
            conn,
            """SELECT avg(CASE WHEN abs(epoch(i."timestamp") - epoch(e."timestamp")) <= 5 THEN 1 ELSE 0 END)
            FROM raw.identifies i ASOF JOIN raw.tracks e
                ON e.anonymous_id = i.anonymous_id AND e."timestamp" >= i."timestamp"
            WHERE i.anonymous_id LIKE 'anon-%'""",
        )
        > 0.9
    )
    # Emails are a person's: one per user id.
    assert (
        one(
            conn,
            "SELECT count(*) FROM (SELECT usr FROM idf GROUP BY usr HAVING count(DISTINCT context_traits_email) > 1)",
        )
        == 0
    )


def test_renamed_users_later_events_carry_the_new_id(conn):
    renames = conn.execute(
        """SELECT prev, usr, "timestamp" FROM als WHERE prev LIKE 'user-%' AND usr LIKE 'user-%'"""
    ).fetchall()
    assert len(renames) >= 3
    for prev, new, at in renames:
        # Old id on earlier events only, new id on later events only (every table).
        before = conn.execute(
            'SELECT count(*) FILTER ("timestamp" < ?), count(*) FROM ev WHERE user_id = ?', [at, prev]
        )
        earlier, total = before.fetchone()
        assert earlier == total > 0, (prev, new)
        after = conn.execute('SELECT count(*) FILTER ("timestamp" > ?), count(*) FROM ev WHERE user_id = ?', [at, new])
        later, total = after.fetchone()
        assert later == total > 0, (prev, new)
    # Some are renamed twice: an alias from the id another alias gave.
    assert one(conn, 'SELECT count(*) FROM als a JOIN als b ON b.prev = a.usr AND b."timestamp" > a."timestamp"') >= 1
    # Some sign-ups alias the anonymous id too.
    assert one(conn, "SELECT count(*) FROM als WHERE prev LIKE 'anon-%' AND usr LIKE 'user-%'") >= 1


def test_people_identified_server_side_are_linked_through_identifies_only(conn):
    # A user id never in events, identified on 2+ anonymous ids whose events carry no user id, and on an
    # earlier anonymous id no event has: a chain of several hops, every edge an identifies row.
    chains = conn.execute(
        """WITH anon_with_user AS (
            SELECT DISTINCT anonymous_id FROM ev WHERE user_id IS NOT NULL AND anonymous_id IS NOT NULL),
        event_anon AS (SELECT DISTINCT anonymous_id FROM ev WHERE anonymous_id IS NOT NULL)
        SELECT usr,
            count(DISTINCT anon) FILTER (anon IN (SELECT * FROM event_anon)
                AND anon NOT IN (SELECT * FROM anon_with_user)) AS devices,
            count(DISTINCT anon) FILTER (anon NOT IN (SELECT * FROM event_anon)) AS only_in_identifies
        FROM idf
        WHERE usr IS NOT NULL AND usr NOT IN (SELECT user_id FROM ev WHERE user_id IS NOT NULL)
            AND usr NOT IN (SELECT usr FROM als WHERE usr IS NOT NULL UNION SELECT prev FROM als WHERE prev IS NOT NULL)
        GROUP BY usr"""
    ).fetchall()
    assert any(devices >= 2 and only >= 1 for _, devices, only in chains), chains
    assert (
        one(conn, "SELECT count(*) FROM raw.identifies WHERE context_library_name = '@rudderstack/rudder-sdk-node'")
        >= 3
    )


def test_kiosks_one_anonymous_id_identified_as_several_users(conn):
    # Each kiosk session is one person's, identified at its start: 3+ users in identifies and in events.
    def three_users(sql: str) -> set[str]:
        rows = conn.execute(
            f"""SELECT a FROM ({sql}) t(a, u) WHERE a IS NOT NULL AND u IS NOT NULL
            GROUP BY a HAVING count(DISTINCT u) >= 3"""
        ).fetchall()
        return {anon for (anon,) in rows}

    kiosks = three_users("SELECT anon, usr FROM idf") & three_users("SELECT anonymous_id, user_id FROM ev")
    assert kiosks
    # The events of a kiosk session carry its one user (a session: no gap over 30 minutes).
    per_session = conn.execute(
        f"""SELECT max(users) FROM (
            SELECT count(DISTINCT user_id) AS users FROM (
                SELECT user_id, sum(CASE WHEN gap > INTERVAL 30 MINUTE THEN 1 ELSE 0 END) OVER (ORDER BY ts) AS s
                FROM (SELECT user_id, "timestamp" AS ts, ts - lag(ts) OVER (ORDER BY ts) AS gap FROM raw.tracks
                    WHERE anonymous_id = '{sorted(kiosks)[0]}' AND "timestamp" IS NOT NULL))
            WHERE user_id LIKE 'user-%' GROUP BY s)"""
    ).fetchone()[0]
    assert per_session == 1


def test_junk_ids_in_events_and_link_rows(conn):
    junk = set(sample_data.JUNK_IDS)
    assert {v.strip(BLANKS).lower() for v in junk} <= set(DEFAULT_EXCLUDE)
    assert {"null", "NULL", "undefined", " undefined ", "anonymous", "0"} <= junk

    def values(sql: str) -> set[str]:
        return {r[0] for r in conn.execute(sql).fetchall()}

    user_junk = values("SELECT raw_user_id FROM ev WHERE user_id IS NULL AND raw_user_id IS NOT NULL")
    anon_junk = values("SELECT raw_anonymous_id FROM ev WHERE anonymous_id IS NULL AND raw_anonymous_id IS NOT NULL")
    assert len(user_junk & junk) >= 5 and len(anon_junk & junk) >= 5
    assert {"", "  ", "\t"} <= user_junk | anon_junk
    # Junk user ids on anonymous events, junk anonymous ids on identified ones, some rows with both junk.
    for table in EVENT_TABLES:
        assert one(conn, f"SELECT count(*) FROM raw.{table} WHERE user_id IN ('null', 'NULL', 'Null', '0')") >= 1
        assert (
            one(
                conn,
                f"""SELECT count(*) FROM raw.{table} WHERE user_id LIKE 'user-%'
                AND anonymous_id IN (SELECT unnest(?::VARCHAR[]))""",
                [list(junk)],
            )
            >= 1
        ), table
    both = "SELECT count(*) FROM ev WHERE anonymous_id IS NULL AND user_id IS NULL AND raw_anonymous_id IS NOT NULL"
    assert one(conn, both + " AND raw_user_id IS NOT NULL") >= 1
    for column, view in (
        ("anonymous_id", "identifies"),
        ("user_id", "identifies"),
        ("previous_id", "aliases"),
        ("user_id", "aliases"),
    ):
        found = values(
            f"SELECT {column} FROM raw.{view} WHERE {column} NOT LIKE 'anon-%' AND {column} NOT LIKE 'user-%'"
        )
        assert found & junk, (view, column)
    assert one(conn, "SELECT count(*) FROM raw.identifies WHERE anonymous_id IS NULL AND user_id LIKE 'user-%'") >= 1


def test_arguments_and_command_line(tmp_path: Path, capsys):
    with duckdb.connect() as conn, pytest.raises(ValueError, match="link table"):
        write_tracks(conn, table="aliases", events=1_000, identity_links=True)
    database = tmp_path / "links.duckdb"
    args = ["--database", str(database), "--schema", "cli", "--events", "3000", "--seed", "3", "--days", "5"]
    assert sample_data.main([*args, "--table", "events", "--identity-links"]) == 0
    out = capsys.readouterr().out
    assert "rows to cli.events" in out and "rows to cli.identifies" in out and "rows to cli.aliases" in out
    assert sample_data.main([*args, "--tables", "tracks,pages", "--identity-links"]) == 0
    with duckdb.connect(str(database), read_only=True) as conn:
        tables = {
            r[0] for r in conn.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'cli'").fetchall()
        }
        assert tables == {"events", "tracks", "pages", "identifies", "aliases"}
    with pytest.raises(SystemExit):
        sample_data.main([*args, "--table", "identifies", "--identity-links"])
