"""The demo DAG runs through Airflow itself (real task runs) and produces the five tables."""

from __future__ import annotations

import os
import subprocess
import sys

import duckdb
import pytest

from conftest import assert_rows_equal
from pipeline import ROOT, read_tables, source_rows
from rudder_sessions.config import load_config
from rudder_sessions.model import STEPS
from spec_model import compute

pytestmark = pytest.mark.airflow


def test_demo_dag_runs_through_airflow(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env["AIRFLOW_HOME"] = str(tmp_path / "airflow")
    # As in a deployment: the repository's plugins/ is Airflow's plugins folder.
    env["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(ROOT / "plugins")
    done = subprocess.run(
        [sys.executable, str(ROOT / "include" / "demo.py"), "--events", "5000", "--workdir", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ran DAG rudder_sessions__demo through Airflow" in done.stdout

    database = tmp_path / "demo.duckdb"
    config = load_config().sources["demo"]
    with duckdb.connect(str(database), read_only=True) as conn:
        (run_id, rows_read) = conn.execute(
            "SELECT run_id, rows_read FROM rudder_sessions.rudder_sessions_runs"
        ).fetchone()
        leftovers = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name LIKE '\\_\\_rs\\_%' ESCAPE '\\'"
        ).fetchone()[0]
    assert run_id.startswith("manual__")  # an Airflow DAG run, not a direct call
    assert leftovers == 0

    source = source_rows(database, config.source_schema, config.source_table)
    assert rows_read == len(source)
    expected = compute(source, config.timeout_minutes, config.flow_length)
    actual = read_tables(database, config)
    for step in STEPS:
        assert_rows_equal(actual[step], expected.tables[step], step)

    # The Airflow log shows each task ran in Airflow's task runner.
    log = (tmp_path / "airflow.log").read_text()
    for task in ("plan", *STEPS, "publish"):
        assert f"{task} of source 'demo' took" in log
