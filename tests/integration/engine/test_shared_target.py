"""Sources sharing a target schema: each keeps its own tables, and a second source on the same
tables is refused before it writes anything (SPEC "Runs"; issue of two sources mixing events)."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from test_incremental import batches, histories

from rows import BASE, ev
from rudder_sessions.errors import TargetTaken


def test_a_second_source_on_the_same_tables_is_refused_and_writes_nothing(wh):
    wh.reset()
    wh.load_source(
        [ev("e1", "a1", None, 0), ev("p1", "a2", None, 5, event_table="pages")], event_columns={"pages": "name"}
    )
    app = wh.config(name="app")
    wh.runner(app).run("a1", "incremental")
    before = wh.snapshot(app)
    web = wh.config(name="web", event_tables=["pages"])
    with pytest.raises(TargetTaken, match=r"belong to source 'app'; give this source its own target_schema"):
        wh.runner(web).run("w1", "incremental")
    assert wh.snapshot(app) == before
    states = wh.query(f'SELECT source FROM {app.target_schema}."rudder_sessions_state"')
    assert [r["source"] for r in states] == ["app"]
    assert wh.runner(app).run("a2", "incremental")["mode"] == "incremental"
    wh.assert_matches_spec(app)


def test_two_sources_in_one_schema_with_their_own_prefixes_stay_apart(wh):
    """Interleaved runs of two sources in one target schema (one without a prefix, whose staging
    prefix `__rs_` begins every other source's staging tables' names too): each equals a rebuild
    of its own source, and neither drops the other's tables."""
    wh.reset()
    rows = [ev("t1", "a1", None, 0), ev("t2", "a1", "u1", 10), ev("p1", "a1", None, 20, event_table="pages")]
    wh.load_source(rows, event_columns={"pages": "name"})
    tracks = wh.config(name="tracks_source")
    pages = wh.config(name="pages_source", event_tables=["pages"], table_prefix="web_")
    for number in range(3):
        more = [ev(f"t{number}x", "a2", None, 60 * (number + 1), received=BASE)]
        more += [ev(f"p{number}x", "a2", "u2", 60 * (number + 1) + 1, event_table="pages")]
        wh.load_source(more, append=True, event_columns={"pages": "name"})
        wh.runner(tracks).run(f"t-{number}", "incremental")
        wh.runner(pages).run(f"p-{number}", "incremental")
        wh.assert_matches_spec(tracks)
        wh.assert_matches_spec(pages)
    names = wh.tables(tracks.target_schema)
    assert {"dbt_mapped_tracks", "web_dbt_mapped_tracks", "rudder_sessions_state", "web_rudder_sessions_state"} <= {
        n.lower() for n in names
    }


@settings(
    max_examples=int(os.environ.get("RUDDER_SESSIONS_EXAMPLES", 6)),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(history=histories())
def test_two_sources_in_one_schema_each_equal_their_rebuild_after_every_batch(wh, history):
    """The incremental property test with a neighbour: random rows arrive in batches, alternately
    in tracks (one source, no prefix) and pages (another, prefix `web_`, same target schema); after
    every batch, each source's tables equal the model of its own event table."""
    rows, cuts = history
    wh.reset()
    columns = {"pages": "name"}
    wh.load_source([ev("seed-t", "s", None, 0), ev("seed-p", "s", None, 0, event_table="pages")], event_columns=columns)
    tracks = wh.config(name="tracks_source", lookback="3 hours")
    pages = wh.config(name="pages_source", event_tables=["pages"], table_prefix="web_", lookback="3 hours")
    placed = [{**row, **({"event_table": "pages"} if i % 2 else {})} for i, row in enumerate(rows)]
    for number, batch in enumerate(batches(placed, cuts)):
        wh.load_source(batch, append=True, event_columns=columns)
        wh.runner(tracks).run(f"t-{number}", "incremental")
        wh.runner(pages).run(f"p-{number}", "incremental")
        wh.assert_matches_spec(tracks)
        wh.assert_matches_spec(pages)
