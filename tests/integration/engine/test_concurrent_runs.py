"""Runs of one source started at once: the first to publish wins, the other stops with the one line
that says another run published first (never a driver's duplicate-key or missing-relation error),
and the next run converges. SPEC "Runs": two runs for the same source never interleave their writes."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from conftest import require_postgres
from rows import FIRST, SECOND
from rudder_sessions.errors import PublishConflict
from rudder_sessions.model import PHASES, PUBLISH, run_key
from rudder_sessions.run_log import RunLog
from rudder_sessions.sql_session import SqlSession

CONFLICT = "another run published first"
# Each round is a fresh race; three kinds of empty target, each met twice.
ROUNDS = 6
WAIT_SECONDS = 120


@pytest.fixture
def pg():
    require_postgres()
    from warehouses import PostgresWarehouse

    warehouse = PostgresWarehouse()
    yield warehouse
    warehouse.close()


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def side_by_side(request, tmp_path):
    """A warehouse where runs of one source can run side by side in one process."""
    from warehouses import DuckDBWarehouse, PostgresWarehouse

    if request.param == "postgres":
        require_postgres()
        warehouse = PostgresWarehouse()
    else:
        warehouse = DuckDBWarehouse(tmp_path / "warehouse.duckdb")
    yield warehouse
    warehouse.close()


def _empty_target(pg: Any, config: Any, kind: int) -> None:
    """No target schema; an empty one; or the state tables without this source's row (another
    source's first plan made them): each its own collision of two first plans."""
    if kind >= 1:
        pg.query(f"CREATE SCHEMA {config.target_schema}")
    if kind == 2:
        runner = pg.runner(config)
        RunLog(SqlSession(config, runner.hook, runner.dialect)).create(runner.tables(run_key("setup")))
        pg.query(f"DELETE FROM {config.target_schema}.rudder_sessions_state")


def _race(pg: Any, config: Any) -> dict[str, BaseException | None]:
    """Two first runs started together, each planning before either stages (both plan on the
    empty target's version 0): run id -> None if it published, else what it raised."""
    started, planned = threading.Barrier(2, timeout=WAIT_SECONDS), threading.Barrier(2, timeout=WAIT_SECONDS)
    outcomes: dict[str, BaseException | None] = {}

    def run(run_id: str) -> None:
        runner = pg.runner(config)
        plan = runner.planner.plan

        def plan_then_wait(*args: Any, **kwargs: Any) -> Any:
            made = plan(*args, **kwargs)
            try:
                planned.wait()
            except threading.BrokenBarrierError:  # the other run failed to plan
                pass
            return made

        runner.planner.plan = plan_then_wait  # type: ignore[method-assign]
        try:
            started.wait()
            runner.run(run_id)
            outcomes[run_id] = None
        except BaseException as exc:
            planned.abort()
            outcomes[run_id] = exc

    threads = [threading.Thread(target=run, args=(run_id,)) for run_id in ("left", "right")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT_SECONDS)
    assert not any(t.is_alive() for t in threads), "a run hung"
    return outcomes


@pytest.mark.postgres
def test_concurrent_first_runs_on_postgres_one_publishes_the_other_gets_one_line(pg):
    config = pg.config()
    for round_ in range(ROUNDS):
        pg.reset()
        pg.load_source(FIRST)
        _empty_target(pg, config, round_ % 3)
        outcomes = _race(pg, config)
        failed = {run_id: exc for run_id, exc in outcomes.items() if exc is not None}
        shown = {run_id: f"{type(exc).__name__}: {exc}" for run_id, exc in failed.items()}
        assert len(failed) == 1, f"round {round_}: {shown or 'both published'}"
        ((loser, error),) = failed.items()
        assert isinstance(error, PublishConflict) and CONFLICT in str(error), f"round {round_}: {shown}"
        assert "\n" not in str(error) and f"run {loser}" in str(error)
        (winner,) = set(outcomes) - {loser}
        state = pg.query(f"SELECT version, last_run_id FROM {config.target_schema}.rudder_sessions_state")
        assert state == [{"version": 1, "last_run_id": winner}]
        runs = {
            r["run_id"]: r["outcome"] for r in pg.query(f"SELECT * FROM {config.target_schema}.rudder_sessions_runs")
        }
        assert runs[winner] == "published" and runs[loser].startswith("failed: PublishConflict")
        pg.assert_matches_spec(config)
        # The next run converges: incremental on the winner's state, no staging table left behind.
        pg.load_source(SECOND, append=True)
        summary = pg.runner(config).run(f"next-{round_}")
        assert summary["mode"] == "incremental"
        pg.assert_matches_spec(config)
        assert not [n for n in pg.tables(config.target_schema) if n.startswith("__rs_")]


@pytest.mark.parametrize("stopped_before", ["aliases_mapping", "checks", PUBLISH])
def test_a_run_whose_stages_a_later_plan_dropped_stops_with_the_conflict_line(side_by_side, stopped_before):
    """Two first runs plan on version 0 and one publishes; a third run's plan then drops the other's
    staging tables (planned on an older version, it can never publish). Its next phase used to fail
    with `relation "...__rs_<key>_run" does not exist`; it stops with the conflict line instead."""
    wh = side_by_side
    config = wh.config()
    wh.load_source(FIRST)
    winner, loser, later = wh.runner(config), wh.runner(config), wh.runner(config)
    plan_w, plan_l = winner.plan("winner"), loser.plan("loser")
    assert plan_w.state_version == plan_l.state_version == 0
    for phase in PHASES[: PHASES.index(stopped_before)]:
        loser.execute(phase, plan_l)
    for phase in PHASES:
        winner.execute(phase, plan_w)
    wh.load_source(SECOND, append=True)
    plan_next = later.plan("next")
    assert not [n for n in wh.tables(config.target_schema) if n.startswith(f"__rs_{plan_l.key}_")]

    with pytest.raises(PublishConflict, match=CONFLICT) as stopped:
        for phase in PHASES[PHASES.index(stopped_before) :]:
            loser.execute(phase, plan_l)
    assert f"run loser of source {config.name!r}" in str(stopped.value)
    for phase in PHASES:
        later.execute(phase, plan_next)
    assert plan_next.mode == "incremental"
    wh.assert_matches_spec(config)
    assert not [n for n in wh.tables(config.target_schema) if n.startswith("__rs_")]


@pytest.mark.postgres
@pytest.mark.parametrize("if_not_exists", [True, False], ids=["add-column-if-not-exists", "read-columns-again"])
def test_two_upgrades_of_an_old_target_at_once_both_plan(pg, if_not_exists):
    """Two plans upgrade a target published before `event_table` (its column added, then filled):
    both read the columns before either adds it. A third connection's lock on the table holds both
    ADD COLUMNs until both wait on it, then lets them go one after the other. The second used to
    fail with `column "event_table" of relation "dbt_mapped_tracks" already exists`. With
    `if_not_exists=False` the dialect writes a plain ADD COLUMN, as on Redshift, which has no IF NOT
    EXISTS: the planner reads the columns again and finds the other run added it."""
    import psycopg2

    from warehouses import POSTGRES_URI

    config = pg.config()
    pg.load_source(FIRST)
    pg.runner(config).run("first")
    target = f"{config.target_schema}.dbt_mapped_tracks"
    pg.query(f"ALTER TABLE {target} DROP COLUMN event_table")  # as published by an older version

    holder = psycopg2.connect(POSTGRES_URI)
    outcomes: dict[str, BaseException | None] = {}

    def plan(run_id: str) -> None:
        runner = pg.runner(config)
        runner.dialect.add_column_if_not_exists = if_not_exists
        try:
            runner.plan(run_id, "incremental")
            outcomes[run_id] = None
        except BaseException as exc:
            outcomes[run_id] = exc

    try:
        with holder.cursor() as cursor:  # psycopg2 opens a transaction: the lock holds until rollback
            cursor.execute(f"LOCK TABLE {target} IN ACCESS SHARE MODE")
        threads = [threading.Thread(target=plan, args=(run_id,)) for run_id in ("left", "right")]
        for thread in threads:
            thread.start()
        waiting = 0
        for _ in range(WAIT_SECONDS * 10):
            (waiting,) = pg.query(
                "SELECT count(*) AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND query LIKE %s AND query LIKE '%%ADD COLUMN%%'",
                [f"%{config.target_schema}%"],
            )[0].values()
            if waiting == 2 or not all(t.is_alive() for t in threads):
                break
            time.sleep(0.1)
        assert waiting == 2, f"both ADD COLUMNs should wait on the lock: {outcomes}"
    finally:
        holder.rollback()
        holder.close()
    for thread in threads:
        thread.join(WAIT_SECONDS)
    assert not any(t.is_alive() for t in threads), "a plan hung"
    shown = {run_id: f"{type(exc).__name__}: {exc}" for run_id, exc in outcomes.items() if exc is not None}
    assert set(outcomes) == {"left", "right"} and not shown, shown
    assert pg.query(f"SELECT DISTINCT event_table FROM {target}") == [{"event_table": config.source_table}]
