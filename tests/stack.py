"""A real local Airflow for end-to-end tests: a throw-away PostgreSQL metadata database, then the API
server, the scheduler and the DAG processor as separate processes, driven through the public REST API."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx

from standalone import ROOT, airflow_env, stop_process_trees
from warehouses import POSTGRES_URI

T = TypeVar("T")
COMPONENTS = ("api-server", "scheduler", "dag-processor")
RUN_TIMEOUT = 240  # seconds for one DAG run of a few thousand events

# Fast enough to notice a new run or a finished task within about a second. The DAG is parsed once at
# start (nothing changes it during a test).
FAST_LOOPS = {
    "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
    "AIRFLOW__SCHEDULER__JOB_HEARTBEAT_SEC": "1",
    "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
    "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "2",
    "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "600",
    "AIRFLOW__DAG_PROCESSOR__BUNDLE_REFRESH_CHECK_INTERVAL": "1",
    "AIRFLOW__CORE__MIN_SERIALIZED_DAG_UPDATE_INTERVAL": "1",
}

# Every task is a fork of a LocalExecutor worker that imports the task runner, then parses the DAG file,
# whose table Assets make Airflow import every provider's asset URI handlers: seconds per task on a
# small machine. Workers forked from a forkserver that imported all of that up front skip it (a module
# that is not installed is skipped by the forkserver).
PRELOAD = (
    "airflow",
    "airflow.executors.local_executor",
    "airflow.sdk.execution_time.supervisor",
    "airflow.sdk.execution_time.task_runner",
    "airflow.providers.duckdb.hooks.duckdb",
    "rudder_sessions.operators",
    "rudder_sessions.dag_factory",
    "airflow.providers.amazon.aws.assets.redshift",
    "airflow.providers.amazon.aws.assets.s3",
    "airflow.providers.common.compat.assets",
    "airflow.providers.common.io.assets.file",
    "airflow.providers.google.assets.bigquery",
    "airflow.providers.google.assets.gcs",
    "airflow.providers.postgres.assets.postgres",
    "airflow.providers.snowflake.assets.snowflake",
)
FORKSERVER = {
    "AIRFLOW__SCHEDULER__MP_START_METHOD": "forkserver",
    "AIRFLOW__CORE__MP_FORKSERVER_PRELOAD": ",".join(PRELOAD),
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def postgres_database(prefix: str = "rudder_sessions_e2e") -> Iterator[str]:
    """A new, empty database on the test server; yields its SQLAlchemy URL and drops it afterwards."""
    import psycopg2

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(POSTGRES_URI)
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        base = POSTGRES_URI.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg2://", 1)
        yield f"{base}/{name}"
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@contextmanager
def running_stack(workdir: Path, database: Path, config: Path | None = None) -> Iterator[AirflowStack]:
    """A local Airflow on a fresh metadata database, migrated, its pools created, its components
    started; stopped whole afterwards."""
    with postgres_database() as sql_alchemy_conn:
        airflow = AirflowStack(workdir, sql_alchemy_conn, database, os.environ, config=config)
        try:
            airflow.prepare()
            airflow.start()
            yield airflow
        finally:
            airflow.stop()


def _readable(line: str) -> str:
    """A task log line (JSON) as `time level event`, with the exception of an error line."""
    try:
        record = json.loads(line)
    except ValueError:
        return line
    if not isinstance(record, dict):
        return line
    text = f"{record.get('timestamp', '')} {record.get('level', '')} {record.get('event', '')}"
    for error in record.get("error_detail") or []:
        text += f"\n    {error.get('exc_type')}: {error.get('exc_value')}"
    return text


class AirflowStack:
    """Airflow's components on one metadata database, each in its own process group, logging to files."""

    def __init__(
        self,
        workdir: Path,
        sql_alchemy_conn: str,
        database: Path,
        base_env: Mapping[str, str],
        config: Path | None = None,
    ) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.logs = workdir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        clean = {k: v for k, v in base_env.items() if not k.startswith("AIRFLOW")}
        self.env = airflow_env(
            clean,
            home=workdir / "airflow",
            database=database,
            port=self.port,
            sql_alchemy_conn=sql_alchemy_conn,
            jwt_secret=uuid.uuid4().hex + uuid.uuid4().hex,
            config=config,
        )
        self.env.update(FAST_LOOPS | FORKSERVER)
        self.env["AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE"] = "False"  # only the runs a test asks for
        self.env["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "INFO"
        # The scheduler serves task logs on a fixed port (8793) by default: another Airflow on this machine
        # (`make standalone`, a parallel test) must not collide with this one.
        self.env["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"] = str(free_port())
        self.env["AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT"] = str(free_port())
        self.processes: dict[str, subprocess.Popen] = {}
        self._client: httpx.Client | None = None

    # processes

    def airflow(self, *args: str, timeout: float = 300) -> None:
        """Run one `airflow` command to completion (its output goes to logs/<command>.log)."""
        log = self.logs / f"{args[0]}.log"
        with log.open("a") as out:
            done = subprocess.run(
                [sys.executable, "-m", "airflow", *args], env=self.env, stdout=out, stderr=out, timeout=timeout
            )
        assert done.returncode == 0, f"`airflow {' '.join(args)}` failed (exit {done.returncode})\n{self.tails()}"

    def prepare(self) -> None:
        """Migrate the metadata database and create the pools the sources file names, as a deployment does."""
        self.airflow("db", "migrate")
        log = self.logs / "create_pools.log"
        with log.open("a") as out:
            done = subprocess.run(
                [sys.executable, str(ROOT / "include" / "create_pools.py")], env=self.env, stdout=out, stderr=out
            )
        assert done.returncode == 0, f"create_pools.py failed\n{self.tails()}"

    def start(self) -> None:
        for component in COMPONENTS:
            args = [component, "--port", str(self.port)] if component == "api-server" else [component]
            out = (self.logs / f"{component}.log").open("a")
            self.processes[component] = subprocess.Popen(
                [sys.executable, "-m", "airflow", *args],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
            out.close()

    def stop(self, grace: float = 10.0) -> None:
        """Stop every component and every process it started."""
        stop_process_trees([process.pid for process in self.processes.values()], grace)
        for process in self.processes.values():
            process.wait(timeout=5)
        if self._client is not None:
            self._client.close()

    def check_alive(self) -> None:
        for component, process in self.processes.items():
            if process.poll() is not None:
                raise AssertionError(f"airflow {component} exited with {process.returncode}\n{self.tails()}")

    def tails(self, lines: int = 40) -> str:
        """The end of every component's log, and of the task logs, for failure messages."""
        parts = []
        files = sorted(self.logs.glob("*.log"))
        task_logs = self.workdir / "airflow" / "logs"
        if task_logs.exists():
            files += sorted(task_logs.rglob("*.log"), key=lambda p: p.stat().st_mtime)[-3:]
        for path in files:
            text = [_readable(line) for line in path.read_text(errors="replace").splitlines()[-lines:]]
            parts.append(f"--- {path} ---\n" + "\n".join(text))
        return "\n".join(parts)

    # REST API

    def wait_for(self, what: str, probe: Callable[[], T | None], timeout: float, every: float = 1.0) -> T:
        """Poll `probe` until it returns something other than None (or fail with the logs' tails)."""
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                result = probe()
            except httpx.TransportError as exc:  # the API server is not listening yet
                result, last_error = None, exc
            if result is not None:
                return result
            time.sleep(every)
        raise AssertionError(
            f"timed out after {timeout:.0f}s waiting for {what} (last error: {last_error})\n{self.tails()}"
        )

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            probe = httpx.Client(base_url=self.url, timeout=10)

            def token() -> str | None:
                response = probe.get("/auth/token")  # credential-free with simple_auth_manager_all_admins
                return response.json()["access_token"] if response.status_code in (200, 201) else None

            access = self.wait_for("the API server to hand out a token", token, timeout=120)
            probe.headers["Authorization"] = f"Bearer {access}"
            self._client = probe
        return self._client

    def api(self, method: str, path: str, *, expect: tuple[int, ...] = (200, 201), **kwargs: Any) -> Any:
        response = self.client.request(method, f"/api/v2{path}", **kwargs)
        assert response.status_code in expect, f"{method} {path}: {response.status_code} {response.text}"
        return response.json() if response.content else None

    def wait_for_dag(self, dag_id: str, timeout: float = 90) -> dict:
        def parsed() -> dict | None:
            response = self.client.get(f"/api/v2/dags/{dag_id}")
            if response.status_code == 404:
                errors = self.client.get("/api/v2/importErrors").json().get("import_errors", [])
                assert not errors, f"DAG import errors: {errors}\n{self.tails()}"
                return None
            assert response.status_code == 200, response.text
            return response.json()

        return self.wait_for(f"DAG {dag_id} to be parsed", parsed, timeout)

    def wait_for_runs(self, dag_id: str, run_ids: list[str], timeout: float = 240) -> list[dict]:
        """Wait until every run has finished; fail (with the logs) unless all succeeded."""

        def finished() -> list[dict] | None:
            runs = [self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}") for run_id in run_ids]
            for run in runs:  # a failed try waits minutes for its retry: report it at once
                tis = self.api("GET", f"/dags/{dag_id}/dagRuns/{run['dag_run_id']}/taskInstances")["task_instances"]
                broken = [f"{ti['task_id']}: {ti['state']}" for ti in tis if ti["state"] in ("up_for_retry", "failed")]
                assert not broken, f"run {run['dag_run_id']}: {broken}\n{self.tails()}"
            if any(run["state"] not in ("success", "failed") for run in runs):
                return None
            return runs

        runs = self.wait_for(f"runs {run_ids} of {dag_id}", finished, timeout)
        failed = [run["dag_run_id"] for run in runs if run["state"] != "success"]
        assert not failed, f"runs {failed} failed\n{self.tails()}"
        return runs


def utc(value: str) -> datetime:
    """A REST timestamp as the naive UTC value the run log stores."""
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC).replace(tzinfo=None)
