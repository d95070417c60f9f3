"""Ids compare exactly on PostgreSQL whatever the source columns' collation or type (SPEC "Source"):
a nondeterministic ICU collation that ignores case and accents, or the citext type, merges no
events and no visitors. The staged columns would inherit them; the run reads ids in the database's
default collation, which PostgreSQL requires to be deterministic
(https://www.postgresql.org/docs/15/collation.html#COLLATION-NONDETERMINISTIC)."""

from __future__ import annotations

import pytest

from conftest import require_postgres
from rows import ev

ROWS = [
    ev("ev-a", "anon", None, 0, "first"),
    ev("ev-A", "anon", None, 1, "second"),  # another event, not a duplicate of ev-a
    ev("e3", None, "User-1", 2),
    ev("e4", None, "user-1", 3),  # another visitor
    ev("e5", "café", None, 4),
    ev("e6", "cafe", None, 5),  # another visitor
    ev("e7", "Cafe", "user-1", 6),  # identifies Cafe as user-1, and no other spelling
]


@pytest.fixture
def pg():
    require_postgres()
    from warehouses import PostgresWarehouse

    warehouse = PostgresWarehouse()
    yield warehouse
    warehouse.close()


@pytest.mark.parametrize("column_type", ["text COLLATE rs_loose", "citext"])
def test_loose_source_columns_merge_no_ids(pg, column_type):
    pg.load_source(ROWS)
    with pg.conn.cursor() as cur:  # autocommit
        # level 1: base letters only, case and accents ignored (ICU's collation strength)
        cur.execute(
            "DO $$ BEGIN CREATE COLLATION IF NOT EXISTS public.rs_loose "
            "(provider = icu, locale = 'und-u-ks-level1', deterministic = false); END $$"
        )
        cur.execute("CREATE EXTENSION IF NOT EXISTS citext")
        for column in ("id", "anonymous_id", "user_id"):
            cur.execute(
                f"ALTER TABLE {pg.source_schema}.tracks ALTER COLUMN {column} TYPE "
                f"{column_type.replace('rs_loose', 'public.rs_loose')}"
            )
    config = pg.config()
    summary = pg.runner(config).run("r1", "full_refresh")
    assert summary["dropped_duplicate"] == 0
    actual = pg.assert_matches_spec(config)
    assert len(actual["mapped_tracks"]) == 7
    assert {r["dbt_visitor_id"] for r in actual["mapped_tracks"]} == {"anon", "User-1", "user-1", "café", "cafe"}
