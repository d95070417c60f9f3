"""The identity graph (SPEC "Identity graph") on every engine: hand-written cases, run-log counts,
and arrivals of events, identifies and aliases in batches, each incremental run equal to a rebuild
(tests/spec_model.py, written from SPEC alone)."""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from itertools import pairwise

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rows import ev
from rudder_sessions.errors import GraphDidNotConverge

BASE = datetime(2026, 5, 1, 8, 0, 0)
CI = os.environ.get("CI") == "true"
GRAPH = {"identity": "graph", "identifies_table": "identifies", "aliases_table": "aliases"}


def link(id, anonymous_id, user_id, minutes, received=None):
    """An identifies row (or, through `alias`, an aliases row) `minutes` after BASE."""
    at = BASE + timedelta(minutes=minutes)
    return {"id": id, "anonymous_id": anonymous_id, "user_id": user_id, "timestamp": at,
            "received_at": at if received is None else BASE + timedelta(minutes=received)}  # fmt: skip


def alias(id, previous_id, user_id, minutes, received=None):
    row = link(id, None, user_id, minutes, received)
    del row["anonymous_id"]
    return {**row, "previous_id": previous_id}


def visitors(wh, config):
    rows = wh.query(f'SELECT event_id, dbt_visitor_id FROM {config.target_schema}."dbt_mapped_tracks"')
    return {r["event_id"]: r["dbt_visitor_id"] for r in rows}


def last_run(wh, config, run_id):
    rows = wh.query(f"SELECT * FROM {config.target_schema}.\"rudder_sessions_runs\" WHERE run_id = '{run_id}'")
    return {k.lower(): v for k, v in rows[0].items()}


def test_a_chain_of_five_links_across_tracks_identifies_and_aliases_is_one_visitor(wh):
    wh.reset()
    config = wh.config(**GRAPH)
    wh.load_source(
        [
            ev("e1", "a1", None, 0),
            ev("e2", "a1", "u1", 5),  # a1 - u1 (event)
            ev("e3", "a2", None, 200),
            ev("e4", "a3", "u3", 400),  # a3 - u3 (event)
            ev("e5", "a4", None, 600),
        ]
    )
    wh.load_links(
        identifies=[link("i1", "a2", "u2", 210), link("i2", "a4", "u3", 610)],  # a2 - u2, a4 - u3
        aliases=[alias("l1", "u1", "u2", 300), alias("l2", "u2", "u3", 500)],  # u1 - u2 - u3
    )
    wh.runner(config).run("r1", "incremental")
    assert set(visitors(wh, config).values()) == {"u1"}  # u1: the user id seen first (e2)
    wh.assert_matches_spec(config)
    sessions = wh.query(f'SELECT session_id FROM {config.target_schema}."dbt_session_tracks"')
    assert sorted(r["session_id"] for r in sessions) == [f"{n} - u1" for n in range(1, 5)]  # e1 and e2 share one


def test_an_alias_merges_two_users_with_sessions_and_renumbers_them(wh):
    wh.reset()
    config = wh.config(**GRAPH, lookback="1 hour")
    runner = wh.runner(config)
    wh.load_source(
        [
            ev("z1", "az", "zoe", 0),
            ev("z2", "az", "zoe", 120),
            ev("d1", "ad", "adam", 60),
            ev("d2", "ad", "adam", 180),
        ]
    )
    wh.load_links()
    runner.run("r1", "incremental")
    assert visitors(wh, config) == {"z1": "zoe", "z2": "zoe", "d1": "adam", "d2": "adam"}
    # Adam turns out to be Zoe renamed: the alias arrives a day later.
    wh.load_links(aliases=[alias("l1", "zoe", "adam", 1440, received=1440)])
    wh.load_source([ev("d3", "ad", "adam", 1450, received=1450)], append=True)
    runner.run("r2", "incremental")
    assert set(visitors(wh, config).values()) == {"zoe"}
    actual = wh.assert_matches_spec(config)
    numbers = {r["session_id"] for r in actual["session_tracks"]}
    assert numbers == {f"{n} - zoe" for n in range(1, 6)}
    logged = last_run(wh, config, "r2")
    assert logged["mode"] == "incremental"
    assert logged["identity_merged"] == 1  # adam's visitor went into zoe's
    assert logged["identity_remapped"] == 2  # adam and ad
    assert logged["identity_iterations"] >= 1


@pytest.mark.parametrize("max_users", [1, 3])
def test_a_kiosk_shared_by_three_users_is_a_hub_unless_the_limit_allows_them(wh, max_users):
    wh.reset()
    config = wh.config(**GRAPH, max_users_per_anonymous_id=max_users)
    wh.load_source(
        [
            ev("k1", "kiosk", "ann", 0),
            ev("k2", "kiosk", "bob", 100),
            ev("k3", "kiosk", None, 150),
            ev("b1", "phone", "bob", 200),
        ]
    )
    wh.load_links(identifies=[link("i1", "kiosk", "cem", 300)])
    wh.runner(config).run("r1", "incremental")
    seen = visitors(wh, config)
    if max_users == 1:
        assert seen == {"k1": "ann", "k2": "bob", "k3": "cem", "b1": "bob"}  # k3: the kiosk's latest link
        assert last_run(wh, config, "r1")["identity_hub_ids"] == 1
    else:
        assert set(seen.values()) == {"ann"}
        assert last_run(wh, config, "r1")["identity_hub_ids"] == 0
    wh.assert_matches_spec(config)


def test_junk_ids_are_null_and_counted(wh):
    wh.reset()
    config = wh.config(**GRAPH)
    wh.load_source(
        [
            ev("j1", "a1", "null", 0),
            ev("j2", "a2", " Undefined ", 10),
            ev("j3", "anonymous", "0", 20),  # both junk: no identifier
            ev("j4", "a1", "u1", 30),
            ev("null", "a2", None, 40),  # an event id is never junk
        ]
    )
    wh.load_links(identifies=[link("i1", "a2", "NULL", 50), link("i2", "undefined", "u1", 60)])
    wh.runner(config).run("r1", "incremental")
    assert visitors(wh, config) == {"j1": "u1", "j2": "a2", "j4": "u1", "null": "a2"}
    logged = last_run(wh, config, "r1")
    assert logged["dropped_no_identifier"] == 1
    assert logged["identity_excluded"] == 6  # 4 in events, 2 in identifies
    aliases = wh.query(f'SELECT alias FROM {config.target_schema}."dbt_aliases_mapping"')
    assert sorted(r["alias"] for r in aliases) == ["a1", "a2", "u1"]
    wh.assert_matches_spec(config)


def test_a_graph_that_does_not_converge_within_the_bound_publishes_nothing(wh, monkeypatch):
    import rudder_sessions.engine as engine

    wh.reset()
    config = wh.config(**GRAPH)
    wh.load_source([ev(f"e{i}", f"a{i}", f"u{i}", i) for i in range(8)])
    wh.load_links(aliases=[alias(f"l{i}", f"u{i}", f"u{i + 1}", 10 + i) for i in range(7)])  # u0 - u1 - ... - u7
    monkeypatch.setattr(engine, "GRAPH_ITERATIONS", 1)
    with pytest.raises(GraphDidNotConverge, match="identity_exclude"):
        wh.runner(config).run("r1", "incremental")
    assert "dbt_mapped_tracks" not in wh.tables(config.target_schema)
    monkeypatch.undo()
    wh.runner(config).run("r2", "incremental")
    assert set(visitors(wh, config).values()) == {"u0"}
    wh.assert_matches_spec(config)


@st.composite
def graph_histories(draw):
    """Events and link rows over a few identifiers, each landing in a batch (a cut in minutes)."""
    anonymous = ["a0", "a1", "a2", "a3", "kiosk", "null", " "]
    users = ["u0", "u1", "u2", "u3", "undefined", None]
    rows, links, aliases = [], [], []
    for _ in range(draw(st.integers(1, 16))):
        minute = draw(st.sampled_from([0, 10, 31, 45, 61, 90, 200, 600]))
        row = ev(f"e{draw(st.integers(0, 14))}", draw(st.sampled_from(anonymous)), draw(st.sampled_from(users)),
                 minute, draw(st.sampled_from(["view", "buy"])), received_delay=draw(st.integers(0, 120)))  # fmt: skip
        rows.append(row)
    for i in range(draw(st.integers(0, 5))):
        minute = draw(st.sampled_from([5, 50, 100, 300]))
        links.append(link(f"i{i}", draw(st.sampled_from(anonymous)), draw(st.sampled_from(users)), minute,
                          received=minute + draw(st.integers(0, 120))))  # fmt: skip
    for i in range(draw(st.integers(0, 3))):
        minute = draw(st.sampled_from([20, 70, 400]))
        aliases.append(alias(f"l{i}", draw(st.sampled_from(users[:4])), draw(st.sampled_from(users[:4])), minute,
                             received=minute + draw(st.integers(0, 120))))  # fmt: skip
    cuts = sorted(draw(st.lists(st.integers(0, 600), max_size=3)))
    return rows, links, aliases, cuts


def landed(rows, low, high):
    return [r for r in rows if low < r["received_at"] <= high]


# Fewer than the event-only property test: each example runs the graph on four engines (a long hunt:
# RUDDER_SESSIONS_EXAMPLES=150 took 30 minutes on DuckDB alone).
EXAMPLES = int(os.environ.get("RUDDER_SESSIONS_EXAMPLES", 10 if CI else 6))


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(history=graph_histories(), max_users=st.sampled_from([1, 2]))
def test_arrivals_of_events_and_links_equal_full_refresh_after_every_batch(wh, history, max_users):
    rows, identifies, aliases, cuts = history
    wh.reset()
    config = wh.config(**GRAPH, flow_length=3, lookback="3 hours", max_users_per_anonymous_id=max_users)
    runner = wh.runner(config)
    wh.load_source([])
    wh.load_links()
    bounds = [BASE - timedelta(days=1)] + [BASE + timedelta(minutes=c) for c in cuts] + [datetime.max]
    for number, (low, high) in enumerate(pairwise(bounds)):
        wh.load_source(landed(rows, low, high), append=True)
        wh.load_links(landed(identifies, low, high), landed(aliases, low, high))
        runner.run(f"batch-{number}", "incremental")
        wh.assert_matches_spec(config)


def test_links_arriving_in_a_table_that_was_empty_at_the_last_run_are_read(wh):
    """A link table without a stored watermark (empty when the model was published) is read whole,
    and its rows start the run's graph."""
    wh.reset()
    config = wh.config(**GRAPH, max_users_per_anonymous_id=2)
    runner = wh.runner(config)
    wh.load_source([ev("e1", "a0", "u0", 0), ev("e2", "a1", "u2", 0, received=24)])
    wh.load_links()
    runner.run("r1", "incremental")
    wh.load_links(identifies=[link("i0", "a0", "u1", 5, received=63), link("i1", "a3", "u1", 5, received=72)])
    runner.run("r2", "incremental")
    assert last_run(wh, config, "r2")["mode"] == "incremental"
    mapping = wh.query(f'SELECT alias, dbt_visitor_id FROM {config.target_schema}."dbt_aliases_mapping"')
    assert {r["alias"]: r["dbt_visitor_id"] for r in mapping} == {
        "a0": "u0", "u0": "u0", "u1": "u0", "a3": "u0", "a1": "u2", "u2": "u2",
    }  # fmt: skip
    wh.assert_matches_spec(config)


def generated_sources(events: int, seed: int, days: int) -> tuple[list[dict], list[dict], list[dict]]:
    """The generator's tracks with its identity links (renamed users, people identified only by
    identifies, kiosks, junk ids) as rows of the harness."""
    import duckdb

    from sample_data import write_tracks

    with duckdb.connect() as conn:
        write_tracks(conn, schema="gen", events=events, seed=seed, days=days, identity_links=True)

        def rows(sql: str) -> list[dict]:
            cursor = conn.execute(sql)
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

        return (
            rows("SELECT id, anonymous_id, user_id, event, timestamp, received_at FROM gen.tracks"),
            rows("SELECT id, anonymous_id, user_id, timestamp, received_at FROM gen.identifies"),
            rows("SELECT id, previous_id, user_id, timestamp, received_at FROM gen.aliases"),
        )


def test_generated_data_with_identity_links_matches_spec(wh):
    tracks, identifies, aliases = generated_sources(12_000, 5, 10)
    wh.load_source(tracks)
    wh.load_links(identifies, aliases)
    config = wh.config(**GRAPH)
    summary = wh.runner(config).run("generated", "full_refresh")
    wh.assert_matches_spec(config)
    logged = last_run(wh, config, "generated")
    # the generator's kiosks, junk ids and chains show in the run
    assert logged["identity_hub_ids"] > 0 and logged["identity_excluded"] > 0
    assert logged["identity_iterations"] >= 2
    # renamed users and people identified only through identifies are one visitor each: fewer
    # visitors than the last touch finds in the same events
    from spec_model import compute

    last_touch = compute(tracks)
    assert summary["visitors"] < len(last_touch.tables["user_session_facts"])


def test_a_backfill_under_the_graph_equals_a_rebuild(wh, request):
    if wh.name == "bigquery":
        # A backfill's plan bounds its source reads by script variables declared with DEFAULT
        # (valid GoogleSQL: the golden backfill files pass Google's analyzer); the emulator does not
        # resolve such variables ("Referenced table source_span_1 not found"), for any identity.
        request.applymarker(pytest.mark.xfail(strict=True, reason="the BigQuery emulator runs no backfill"))
    wh.reset()
    config = wh.config(**GRAPH)
    runner = wh.runner(config)
    wh.load_source([ev("e1", "a1", None, 0), ev("e2", "a1", "u1", 10), ev("e3", "a2", "u2", 1500)])
    wh.load_links(aliases=[alias("l1", "u2", "u1", 1400)])
    runner.run("r1", "full_refresh")
    # a copy of e1 received earlier, under another anonymous id, lands late: only a backfill reads it
    wh.load_source([ev("e1", "a3", None, 0, received=-5)], append=True)
    runner.run("r2", "backfill", BASE, BASE + timedelta(days=1))
    assert last_run(wh, config, "r2")["mode"] == "backfill"
    assert set(visitors(wh, config).values()) == {"u1", "a3"}
    wh.assert_matches_spec(config)


def test_changing_the_identity_settings_rebuilds_and_says_which(wh):
    wh.reset()
    wh.load_source([ev("e1", "a1", "u1", 0), ev("e2", "a1", "u2", 10)])
    wh.load_links()
    wh.runner(wh.config()).run("r1", "incremental")
    config = wh.config(**GRAPH, max_users_per_anonymous_id=2)
    summary = wh.runner(config).run("r2", "incremental")
    assert summary["mode"] == "full_refresh"
    assert "identity changed" in summary["reason"] and "max_users_per_anonymous_id changed" in summary["reason"]
    wh.assert_matches_spec(config)
    assert set(visitors(wh, config).values()) == {"u1"}
    back = wh.config()
    assert wh.runner(back).run("r3", "incremental")["mode"] == "full_refresh"
    wh.assert_matches_spec(back)


def test_the_cli_runs_the_graph_and_reports_what_it_did(tmp_path, monkeypatch, capsys):
    from rudder_sessions.cli import main
    from warehouses import DuckDBWarehouse

    wh = DuckDBWarehouse(tmp_path / "cli.duckdb")
    wh.load_source([ev("e1", "kiosk", "ann", 0), ev("e2", "kiosk", "bob", 60), ev("e3", "a1", "null", 90)])
    wh.load_links(aliases=[alias("l1", "ann", "anna", 100)])
    monkeypatch.setenv("AIRFLOW_CONN_LOCAL", f'{{"conn_type": "duckdb", "host": "{wh.path}"}}')
    flags = ["--conn-id", "local", "--source-schema", "rudderstack", "--identity", "graph"]
    flags += ["--identifies-table", "identifies", "--aliases-table", "aliases", "--identity-exclude", "null,none"]
    flags += ["--max-users-per-anonymous-id", "1"]
    assert main(["run", *flags]) == 0
    out = capsys.readouterr().out
    assert "identity graph: " in out and "1 hub ids" in out and "1 junk ids read as NULL" in out
    assert main(["run", *flags, "--max-users-per-anonymous-id", "0"]) == 2
    assert "--max-users-per-anonymous-id: must be between 1 and 1000" in capsys.readouterr().err
