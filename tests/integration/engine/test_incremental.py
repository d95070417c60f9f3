"""Incremental runs over arriving batches always equal a full rebuild of the current source."""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rows import ev
from rudder_sessions.model import DROP_REASONS, PHASES
from spec_model import compute

BASE = datetime(2026, 5, 1, 8, 0, 0)
FUTURE = datetime(2100, 1, 1)
LOOKBACK = timedelta(hours=3)
CI = os.environ.get("CI") == "true"


@st.composite
def histories(draw):
    """Event rows plus the moment each lands in the warehouse (within the lookback of receipt)."""
    n = draw(st.integers(1, 28))
    rows = []
    for _ in range(n):
        minute = draw(st.sampled_from([0, 10, 29, 30, 31, 45, 60, 61, 90, 95, 120, 150, 185, 240, 600, 1440]))
        offset = timedelta(minutes=minute, microseconds=draw(st.sampled_from([0, 0, 1])))
        timestamp = None if draw(st.integers(0, 40)) == 0 else BASE + offset
        receipt = (timestamp or BASE) + timedelta(minutes=draw(st.integers(0, 3000)))
        # a clock error upstream: received "in 2100", loaded with the others (SPEC "Runs")
        received = FUTURE if draw(st.integers(0, 25)) == 0 else receipt
        rows.append(
            {
                "id": draw(st.sampled_from([f"e{i}" for i in range(24)] + [None])),
                # Unicode White_Space ids are blank; case and accent variants are other ids
                "anonymous_id": draw(
                    st.sampled_from(["a0", "a1", "A1", "á1", "a2", "a3", "u0", "", "  ", "\u00a0", None])
                ),
                "user_id": draw(st.sampled_from(["u0", "u1", "U1", "u2", "a1", "", "\u3000\x85", None, None, None])),
                "event": draw(st.sampled_from(["view", "click", "buy", None])),
                "timestamp": timestamp,
                "received_at": None if draw(st.integers(0, 30)) == 0 else received,
                # lands in the warehouse less than the lookback after receipt
                "loaded_at": receipt + timedelta(minutes=draw(st.integers(0, 179))),
            }
        )
    cuts = sorted(draw(st.lists(st.integers(0, 5000), min_size=0, max_size=4)))
    return rows, cuts


def batches(rows, cuts):
    bounds = [BASE + timedelta(minutes=c) for c in cuts] + [datetime.max]
    out, done = [], set()
    for bound in bounds:
        # (the load time is the test's, not a column of the source)
        batch = [
            {k: v for k, v in r.items() if k != "loaded_at"}
            for i, r in enumerate(rows)
            if i not in done and r["loaded_at"] <= bound
        ]
        done.update(i for i, r in enumerate(rows) if r["loaded_at"] <= bound)
        out.append(batch)
    return out


# More examples on demand for a long hunt: RUDDER_SESSIONS_EXAMPLES=500
EXAMPLES = int(os.environ.get("RUDDER_SESSIONS_EXAMPLES", 25 if CI else 12))


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(history=histories(), timeout=st.sampled_from([30, 45]), cap=st.sampled_from([None, None, 2, 3]))
def test_incremental_batches_equal_full_refresh(wh, history, timeout, cap):
    """Some examples cap sessions at 2 or 3 events (max_session_events): the histories' repeated
    minutes put capped boundaries among events that share a timestamp."""
    rows, cuts = history
    wh.reset()
    config = wh.config(timeout_minutes=timeout, flow_length=3, lookback="3 hours", max_session_events=cap)
    runner = wh.runner(config)
    wh.load_source([])
    counted = dict.fromkeys(("rows_new", *(f"dropped_{r}" for r in DROP_REASONS)), 0)
    for number, batch in enumerate(batches(rows, cuts)):
        wh.load_source(batch, append=True)
        summary = runner.run(f"batch-{number}", "incremental")
        wh.assert_matches_spec(config)
        for name in counted:
            counted[name] += summary[name]
    # Every row read is accounted for once (SPEC "Source"), though later runs read it again in the
    # lookback, or every time without a received_at: summed over the runs, the counts are those of
    # the whole source.
    expected = compute(wh.source_rows(), timeout_minutes=timeout, flow_length=3)
    assert counted == {"rows_new": len(rows), **{f"dropped_{r}": expected.dropped[r] for r in DROP_REASONS}}


# Two event tables and the session facts: pages names events in `name` and has no revenue.
FACTS = {
    "event_tables": ["tracks", "pages"],
    "conversion_events": ["buy"],
    "session_first_columns": ["context_campaign_source"],
    "session_sum_columns": ["revenue"],
}


@st.composite
def table_histories(draw):
    """Histories whose rows land in tracks or pages (an id may arrive in both), with first-touch
    values (some blank) and revenue on tracks."""
    rows, cuts = draw(histories())
    for row in rows:
        table = draw(st.sampled_from(["tracks", "tracks", "pages"]))
        row["event_table"] = table
        row["context_campaign_source"] = draw(st.sampled_from([None, "", " ", "ads", "mail"]))
        if table == "tracks":
            row["revenue"] = draw(st.sampled_from([None, None, 1.25, 10.0]))
    return rows, cuts


def seeds() -> list[dict]:
    """One row per table, long before the history: each table exists from the first run on, with
    its columns typed (revenue a number)."""
    at = BASE - timedelta(days=30)
    return [
        {**ev("seed-t", "seed-a", None, at, "view", received=at), "event_table": "tracks",
         "context_campaign_source": None, "revenue": 1.0},
        {**ev("seed-p", "seed-a", None, at, "Home", received=at), "event_table": "pages",
         "context_campaign_source": "seed"},
    ]  # fmt: skip


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(history=table_histories())
def test_arrivals_in_several_event_tables_equal_full_refresh(wh, history):
    rows, cuts = history
    wh.reset()
    config = wh.config(flow_length=3, lookback="3 hours", **FACTS)
    runner = wh.runner(config)
    wh.load_source(seeds())
    names = ("rows_new", *(f"dropped_{r}" for r in DROP_REASONS))
    counted = dict.fromkeys(names, 0)
    for number, batch in enumerate(batches(rows, cuts)):
        for table in ("tracks", "pages"):
            wh.load_source([r for r in batch if r["event_table"] == table], append=True)
        summary = runner.run(f"batch-{number}", "incremental")
        wh.assert_matches_spec(config)
        counted = {name: counted[name] + summary[name] for name in names}
    # each row counted once, across tables too: the sums are a rebuild's counts
    rebuilt = runner.run("rebuild", "full_refresh")
    assert counted == {name: rebuilt[name] for name in names}


def test_first_incremental_run_is_a_full_refresh(wh):
    config = wh.config()
    wh.load_source([ev("e1", "a1", None, BASE, received=BASE)])
    summary = wh.runner(config).run("first", "incremental")
    assert (summary["mode"], summary["requested_mode"]) == ("full_refresh", "incremental")
    assert summary["watermark_after"] == BASE
    wh.assert_matches_spec(config)


def test_incremental_reads_only_the_window(wh):
    config = wh.config(lookback="1 hour")
    runner = wh.runner(config)
    wh.load_source(
        [ev(f"old{i}", "a1", None, BASE + timedelta(hours=i), received=BASE + timedelta(hours=i)) for i in range(10)]
    )
    runner.run("r1", "full_refresh")
    late = BASE + timedelta(hours=9, minutes=30)
    wh.load_source([ev("new", "a2", "u1", late, received=late)], append=True)
    summary = runner.run("r2", "incremental")
    # window: watermark (hour 9) minus 1 hour -> rows received after hour 8: old9 and new
    assert summary["window_start"] == BASE + timedelta(hours=8)
    assert summary["rows_read"] == 2
    assert summary["events_changed"] == 1
    assert summary["watermark_after"] == late
    wh.assert_matches_spec(config)


def test_future_timestamp_does_not_stall_the_watermark(wh):
    config = wh.config()
    runner = wh.runner(config)
    wh.load_source(
        [ev("future", "a1", None, datetime(2099, 1, 1), received=BASE), ev("e1", "a1", None, BASE, received=BASE)]
    )
    assert runner.run("r1", "incremental")["watermark_after"] == BASE
    later = BASE + timedelta(days=1)
    wh.load_source([ev("e2", "a1", None, later, received=later)], append=True)
    summary = runner.run("r2", "incremental")
    assert summary["events_changed"] == 1 and summary["watermark_after"] == later
    wh.assert_matches_spec(config)


def test_identification_moves_history_between_visitors(wh):
    """An anonymous device identified later takes its whole history to the user; a newer
    identification by another user moves it again; an earlier-received copy replaces a published one."""
    config = wh.config(lookback="1 hour")
    runner = wh.runner(config)
    t = [BASE + timedelta(minutes=20 * i) for i in range(12)]
    wh.load_source(
        [ev(f"e{i}", "dev", None, t[i], received=t[i]) for i in range(6)]
        + [ev("u1a", "phone", "u1", t[0], received=t[0])]
    )
    runner.run("r1")
    wh.load_source([ev("login", "dev", "u1", t[6], received=t[6])], append=True)
    assert runner.run("r2")["visitors_affected"] == 2  # 'dev' disappears, 'u1' gains its history
    wh.assert_matches_spec(config)
    wh.load_source([ev("login2", "dev", "u2", t[7], received=t[7])], append=True)
    runner.run("r3")
    wh.assert_matches_spec(config)
    # A copy of 'login2' received before the published one but loaded late, without the user:
    # it replaces the published copy, and the device falls back to u1.
    wh.load_source([ev("login2", "dev", None, t[7], received=t[7] - timedelta(seconds=1))], append=True)
    summary = runner.run("r4")
    assert summary["events_changed"] == 1
    actual = wh.assert_matches_spec(config)
    assert {r["alias"]: r["dbt_visitor_id"] for r in actual["aliases_mapping"]}["dev"] == "u1"


def test_identifiers_that_lose_an_event_are_decided_from_their_other_published_events(wh):
    """A copy received earlier replaces the published copy of 'e1', without its user: 'phone' (its
    anonymous id) and 'u1' (its user id) are decided again from every other published event
    naming them, whichever column names them."""
    config = wh.config(lookback="1 hour")
    runner = wh.runner(config)
    t = [BASE + timedelta(minutes=10 * i) for i in range(4)]
    wh.load_source(
        [
            ev("e0", "phone", "u2", t[0], received=t[0]),  # an earlier identification of the phone
            ev("e1", "phone", "u1", t[1], received=t[1]),  # its latest, until replaced
            ev("e2", "tablet", "u1", t[2], received=t[2]),  # u1 stays a user id through this event
            ev("e3", "phone", None, t[3], received=t[3]),
        ]
    )
    runner.run("r1")
    before = {
        r["alias"]: r["dbt_visitor_id"] for r in wh.query(f"SELECT * FROM {config.target_schema}.dbt_aliases_mapping")
    }
    assert before["phone"] == "u1"
    wh.load_source([ev("e1", "phone", None, t[1], received=t[1] - timedelta(seconds=1))], append=True)
    assert runner.run("r2")["events_changed"] == 1
    actual = wh.assert_matches_spec(config)
    mapping = {r["alias"]: r["dbt_visitor_id"] for r in actual["aliases_mapping"]}
    assert (mapping["phone"], mapping["u1"], mapping["tablet"]) == ("u2", "u1", "u1")


def test_incremental_rewrites_from_the_change_on(wh):
    """A returning visitor's new session is written alone (its last published session is carried
    over for its new next start); a late event inside a published session reopens that session,
    not the visitor's earlier ones."""
    config = wh.config(lookback="1 hour", timeout_minutes=30)
    runner = wh.runner(config)
    at = [BASE + timedelta(minutes=m) for m in (0, 10, 20, 120, 130, 240, 250)]
    wh.load_source(
        [ev(f"a{i}", "dev-a", None, at[i], received=at[i]) for i in range(5)]  # sessions at 0 and 120
        + [ev(f"b{i}", "dev-b", None, at[i], received=at[i]) for i in (0, 1, 2, 5, 6)]  # sessions at 0 and 240
    )
    runner.run("r1")
    later = BASE + timedelta(hours=6)
    wh.load_source(
        [
            ev("a-new1", "dev-a", None, later, received=later),  # dev-a returns: a third session
            ev("a-new2", "dev-a", None, later + timedelta(minutes=5), received=later),
            ev("b-late", "dev-b", None, BASE + timedelta(minutes=245), received=later),  # inside dev-b's session at 240
        ],
        append=True,
    )
    summary = runner.run("r2")
    assert summary["visitors_affected"] == 2
    # dev-a: its two new events; dev-b: the reopened session at 240 (two published events and the late one)
    assert [summary[f"rows_{step}"] for step in ("mapped_tracks", "track_facts", "tracks_flow")] == [5, 5, 5]
    # dev-a: the carried session at 120 and the new one; dev-b: the session at 240
    assert summary["rows_session_tracks"] == 3
    actual = wh.assert_matches_spec(config)
    dev_a = sorted(
        (r["session_sequence_number"], r["next_session_start_at"])
        for r in actual["session_tracks"]
        if r["dbt_visitor_id"] == "dev-a"
    )
    assert dev_a == [(1, at[3]), (2, later), (3, None)]


def test_the_rewrite_starts_at_the_runs_earliest_change_when_a_new_visitor_arrives(wh):
    """A visitor without published events before its change is rewritten from that change: no
    affected visitor leaves the run unbounded ("the whole visitor"), so publish's deletes (and, on
    BigQuery, the reads of the published events) are bounded by the earliest change of the run."""
    config = wh.config(lookback="1 hour", timeout_minutes=30)
    runner = wh.runner(config)
    wh.load_source(
        [
            ev("a1", "dev-a", None, BASE, received=BASE),
            ev("a2", "dev-a", None, BASE + timedelta(minutes=5), received=BASE),
        ]
    )
    runner.run("r1")
    later = BASE + timedelta(hours=6)
    wh.load_source(
        [
            ev("n1", "dev-new", None, later + timedelta(minutes=1), received=later),  # a new visitor
            ev("a3", "dev-a", None, later + timedelta(minutes=2), received=later),  # a returning one
        ],
        append=True,
    )
    plan = runner.plan("r2")
    assert plan.mode == "incremental"
    for phase in PHASES[: PHASES.index("scope") + 1]:
        runner.execute(phase, plan)
    affected = runner.tables(plan.key).stage("affected")
    d = runner.dialect
    whole, earliest = runner.hook.get_first(
        f"SELECT COUNT(*) - COUNT(reopen_at), {d.epoch_us('MIN(reopen_at)')} FROM {affected}"
    )
    runner.drop_stages(plan)
    first_change = (later + timedelta(minutes=1) - datetime(1970, 1, 1)) // timedelta(microseconds=1)
    assert (int(whole), int(earliest)) == (0, first_change)
    runner.run("r3")
    wh.assert_matches_spec(config)


def test_rerunning_a_finished_run_changes_nothing(wh):
    config = wh.config()
    runner = wh.runner(config)
    wh.load_source([ev("e1", "a1", None, BASE, received=BASE)])
    runner.run("r1")
    before = wh.snapshot(config)
    wh.load_source([ev("e2", "a1", "u1", BASE, received=BASE + timedelta(minutes=1))], append=True)
    plan = runner.plan("r1", "incremental")
    assert plan.noop
    runner.run("r1")  # a cleared DAG run: the same run id again
    assert wh.snapshot(config) == before
    runs = wh.query(f"SELECT run_id FROM {config.target_schema}.rudder_sessions_runs WHERE run_id = 'r1'")
    assert len(runs) == 1


def test_postgres_stages_of_an_incremental_run_have_planner_statistics():
    """PostgreSQL has no statistics for a table made by CREATE TABLE AS until autovacuum reaches
    it (reltuples -1); an incremental run analyzes each stage that later joins read."""
    from conftest import require_postgres
    from rudder_sessions.model import CHECKS, PHASES, STEPS
    from warehouses import PostgresWarehouse

    require_postgres()
    wh = PostgresWarehouse()
    try:
        config = wh.config()
        runner = wh.runner(config)
        wh.load_source(
            [ev(f"e{i}", f"a{i % 3}", None, BASE + timedelta(minutes=7 * i), received=BASE) for i in range(12)]
        )
        runner.run("first")
        later = BASE + timedelta(days=1)
        wh.load_source(
            [ev("login", "a1", "u1", later, received=later), ev("new", "a4", None, later, received=later)], append=True
        )
        plan = runner.plan("second", "incremental")
        for phase in PHASES[: PHASES.index(CHECKS)]:
            runner.execute(phase, plan)
        tables = runner.tables(plan.key)
        # the stages later joins read (tracks_flow is read by none)
        analyzed = (
            "events",
            "changes",
            "touched",
            "moves",
            "affected",
            "region",
            *(s for s in STEPS if s != "tracks_flow"),
        )
        reltuples = {
            name: wh.query("SELECT reltuples FROM pg_class WHERE oid = to_regclass(%s)", [tables.stage(name)])[0][
                "reltuples"
            ]
            for name in analyzed
        }
        assert all(value >= 0 for value in reltuples.values()), reltuples
        runner.execute(CHECKS, plan)
    finally:
        wh.reset()
        wh.close()


def test_a_future_watermark_value_never_freezes_the_source(wh):
    """One row received "2100-01-01" (a clock error) is processed and counted, and the watermark stays
    at the latest value not after the run's start: the rows of the next day are read."""
    config = wh.config(lookback="3 hours")
    runner = wh.runner(config)
    future = datetime(2100, 1, 1)
    wh.load_source([ev("e1", "a1", None, BASE, received=BASE), ev("clock", "a2", None, BASE, received=future)])
    first = runner.run("r1", "incremental")
    assert first["watermark_after"] == BASE and first["future_watermark"] == 1
    later = BASE + timedelta(days=1)
    wh.load_source([ev("e2", "a1", None, later, received=later)], append=True)
    second = runner.run("r2", "incremental")
    assert second["events_changed"] == 1 and second["watermark_after"] == later
    assert second["future_watermark"] == 1  # read again, until its time has passed
    wh.assert_matches_spec(config)


def test_rows_read_again_are_counted_once_and_late_redeliveries_as_duplicates(wh):
    """Runs read rows again in the lookback (and every run reads the rows without a received_at):
    each is counted by the run that reads it first. A redelivery received after the published copy
    loses to it and is counted as a duplicate; one received earlier replaces it, which is then the
    duplicate."""
    config = wh.config(lookback="30 minutes")  # every run reads from 25 minutes before `at` on
    runner = wh.runner(config)
    at = BASE + timedelta(hours=1)
    wh.load_source(
        [
            ev("e1", "a1", None, BASE, received=BASE),
            ev("e2", "a1", None, at, received=at),
            ev("e2", "a1", None, at, received=at + timedelta(minutes=5)),  # a duplicate in the window
            ev("blank", "  ", None, at, received=at),  # no identifier, in the window
            ev(None, "a1", None, at, received=None),  # no id, no received_at: read by every run
            ev("e3", "a1", None, at, received=None),  # valid, no received_at
        ]
    )
    first = runner.run("r1", "incremental")
    assert (first["rows_read"], first["rows_new"]) == (6, 6)
    assert [first[f"dropped_{r}"] for r in DROP_REASONS] == [1, 0, 1, 1]

    # Nothing new: the window's rows and those without received_at are read again, counted nowhere.
    again = runner.run("r2", "incremental")
    assert (again["rows_read"], again["rows_new"]) == (5, 0)
    assert [again[f"dropped_{r}"] for r in DROP_REASONS] == [0, 0, 0, 0]

    later = at + timedelta(minutes=30)
    wh.load_source(
        [
            ev("e1", "a1", None, BASE, received=later),  # loses to the published copy: a duplicate
            ev("e2", "a1", None, at, received=at - timedelta(minutes=1)),  # replaces the published copy
            ev("e4", "a2", None, later, received=later),
            ev("late-blank", None, "\u00a0", later, received=later),
        ],
        append=True,
    )
    third = runner.run("r3", "incremental")
    assert (third["rows_read"], third["rows_new"]) == (9, 4)
    assert [third[f"dropped_{r}"] for r in DROP_REASONS] == [0, 0, 1, 2]
    assert third["events_changed"] == 2  # e2's earlier copy and e4
    wh.assert_matches_spec(config)

    # Summed over the runs, the counts of a rebuild of the whole source.
    rebuilt = runner.run("r4", "full_refresh")
    for name in ("rows_new", *(f"dropped_{r}" for r in DROP_REASONS)):
        assert first[name] + again[name] + third[name] == rebuilt[name], name
    assert rebuilt["rows_new"] == rebuilt["rows_read"] == 10
