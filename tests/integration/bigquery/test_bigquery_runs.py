"""Runs on the BigQuery emulator through the real BigQueryHook: killed between any two phases they
leave the published model as it was and the next run converges; a stale run's publish script is
refused by its ASSERT, with no ROLLBACK sent after the script (it rolled back itself)."""

from __future__ import annotations

import logging
import os

import pytest

from conftest import require_bigquery_emulator
from rows import FIRST, SECOND
from rudder_sessions.model import PHASES
from warehouses import assert_killed_run_changes_nothing, publish_after_another


@pytest.fixture(scope="module")
def emulator():
    require_bigquery_emulator()
    from bigquery_emulator import shared_emulator

    return shared_emulator()


@pytest.fixture
def published(emulator):
    """A model published from FIRST, with SECOND landed since."""
    from warehouses import BigQueryWarehouse

    wh = BigQueryWarehouse(emulator)
    config = wh.config()
    wh.load_source(FIRST)
    wh.runner(config).run("first", "full_refresh")
    wh.load_source(SECOND, append=True)
    yield wh, config
    wh.close()


def _run_until(wh, config, last_phase: str) -> None:
    runner = wh.runner(config)
    plan = runner.plan("killed", "incremental")
    for phase in PHASES[: PHASES.index(last_phase) + 1]:
        runner.execute(phase, plan)
    os._exit(9)  # no cleanup, no failure record: as if the worker was killed


@pytest.mark.parametrize("last_phase", ["plan", "scope", "tracks_flow", "checks"])
def test_killed_run_changes_nothing_and_next_run_converges(published, last_phase):
    wh, config = published
    assert_killed_run_changes_nothing(wh, config, _run_until, (wh, config, last_phase), 300)


def test_stale_publish_is_refused_by_its_assert_without_a_rollback(published, caplog):
    wh, config = published
    first = wh.runner(config)
    with caplog.at_level(logging.WARNING):
        after_first, after_refusal = publish_after_another(
            first, wh.runner(config), "incremental", lambda: wh.snapshot(config)
        )
    assert "rollback failed" not in caplog.text
    assert after_refusal == after_first
    wh.assert_matches_spec(config)
    summary = first.summary("run-a")
    assert type(summary["watermark_after"]).__name__ == "datetime"


@pytest.mark.parametrize("dataset", ["events", "target"])
def test_a_dataset_named_like_an_alias_of_the_sql(emulator, dataset):
    """GoogleSQL reads `events`.`t` as a field of the range variable `events` where one is in
    scope: table paths start with the connection's project, which no alias is named like."""
    from warehouses import BigQueryWarehouse

    wh = BigQueryWarehouse(emulator)
    wh.target_schema = dataset
    try:
        config = wh.config()
        wh.load_source(FIRST)
        wh.runner(config).run("first", "full_refresh")
        wh.load_source(SECOND, append=True)
        assert wh.runner(config).run("second", "incremental")["mode"] == "incremental"
        wh.assert_matches_spec(config)
    finally:
        wh.close()
