"""A local Airflow (API server and UI, scheduler, DAG processor, triggerer) on the demo source: `make standalone`.

Generates the demo's DuckDB file if it is missing (`.demo/demo.duckdb`, as `make demo` does), points
Airflow at this repository's DAGs, plugins and sources file, creates the pools the sources name, and
runs `airflow standalone`, sized for the machine (one task slot and worker per core), until Ctrl-C
or SIGTERM stops it and every process it started.
The environment is built by `airflow_env`, which the end-to-end test (`tests/stack.py`) shares.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sample_data import write_events

ROOT = Path(__file__).resolve().parents[1]
DAG_ID = "rudder_sessions__demo"
CONN_ENV = "AIRFLOW_CONN_RUDDER_DEMO_DUCKDB"
SIMPLE_AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"


def airflow_env(
    base: Mapping[str, str],
    *,
    home: Path,
    database: Path,
    port: int = 8080,
    sql_alchemy_conn: str | None = None,
    jwt_secret: str | None = None,
    config: Path | None = None,
) -> dict[str, str]:
    """`base` plus the settings of a local Airflow that runs this repository's DAGs against the demo file.

    Every component started with this environment agrees on the metadata database (SQLite in `home`
    unless `sql_alchemy_conn` is given), the API server's address (the workers' Execution API) and the
    JWT secret. The simple auth manager lets everyone in as admin, so the API server listens on
    127.0.0.1 only.
    """
    env = dict(base)
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__AUTH_MANAGER": SIMPLE_AUTH_MANAGER,
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": sql_alchemy_conn or f"sqlite:///{home.resolve() / 'airflow.db'}",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__API_AUTH__JWT_SECRET": jwt_secret or secrets.token_urlsafe(32),
            "RUDDER_SESSIONS_CONFIG": str(config or ROOT / "include" / "sources.yaml"),
            # Sized for the machine: the LocalExecutor starts one worker per parallelism slot (32
            # by default, about 6 GB), the API server four processes.
            "AIRFLOW__CORE__PARALLELISM": str(parallelism()),
            "AIRFLOW__API__WORKERS": "1",
            CONN_ENV: json.dumps({"conn_type": "duckdb", "host": str(database.resolve())}),
        }
    )
    return env


def parallelism() -> int:
    """Task slots (and LocalExecutor workers): one per core, at least two, so that tasks of two DAGs
    can run side by side."""
    return max(2, os.cpu_count() or 2)


def stop_process_trees(pids: list[int], grace: float = 15.0) -> None:
    """SIGTERM each process, its process group (Airflow's task runners start their own) and every
    descendant; SIGKILL whatever is left after `grace` seconds."""
    import psutil

    doomed: list[psutil.Process] = []
    for pid in pids:
        with contextlib.suppress(psutil.NoSuchProcess):
            parent = psutil.Process(pid)
            doomed += [parent, *parent.children(recursive=True)]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGTERM)
    for process in doomed:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.terminate()
    _, alive = psutil.wait_procs(doomed, timeout=grace)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
    for process in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    psutil.wait_procs(alive, timeout=5)


def run_until_stopped(command: list[str], env: Mapping[str, str]) -> int:
    """Run `command` in its own process group until it ends or this process gets SIGINT/SIGTERM;
    then stop it and every process it started."""
    child = subprocess.Popen(command, env=dict(env), start_new_session=True)
    stopping = False

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        print(f"\nstopping Airflow ({signal.Signals(signum).name})", flush=True)
        stop_process_trees([child.pid])

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    code = child.wait()
    return 0 if stopping else code


def ensure_demo_data(database: Path, events: int, seed: int) -> bool:
    """Write the demo tracks table unless the file already has one; True when it was written."""
    database.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(database)) as conn:
        # the demo source's three event tables (a file of an older demo has tracks alone: regenerated)
        exists = conn.execute(
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_schema = 'rudderstack' AND table_name IN ('tracks', 'pages', 'screens')"
        ).fetchone()[0]
        if exists == 3:
            return False
        write_events(conn, schema="rudderstack", events=events, seed=seed)
    return True


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=ROOT / ".demo", help="where the demo DuckDB file is")
    parser.add_argument("--port", type=int, default=8080, help="port of the UI and API server")
    parser.add_argument("--events", type=int, default=200_000, help="sample events, when generating the data")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)

    database = args.workdir.resolve() / "demo.duckdb"
    if ensure_demo_data(database, args.events, args.seed):
        print(f"generated the demo source rudderstack.tracks in {database}")
    else:
        print(f"using the demo source in {database}")
    home = Path(os.environ.get("AIRFLOW_HOME") or ROOT / ".airflow").resolve()
    home.mkdir(parents=True, exist_ok=True)
    config = os.environ.get("RUDDER_SESSIONS_CONFIG")
    env = airflow_env(
        os.environ,
        home=home,
        database=database,
        port=args.port,
        sql_alchemy_conn=os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"),
        config=Path(config) if config else None,
    )
    # `airflow standalone` starts its components as `airflow …` from PATH: make that this interpreter's.
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([bin_dir, env.get("PATH", "")])
    # The pools the sources run in must exist before the scheduler queues their tasks.
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=env, check=True, stdout=subprocess.DEVNULL)
    subprocess.run([sys.executable, str(ROOT / "include" / "create_pools.py")], env=env, check=True)
    print(
        f"starting Airflow in {home}: http://127.0.0.1:{args.port} (no login: every visitor is admin); "
        f"DAG {DAG_ID}; {parallelism()} task slots; stop with Ctrl-C",
        flush=True,
    )
    sys.exit(run_until_stopped([sys.executable, "-m", "airflow", "standalone"], env))


if __name__ == "__main__":
    main()
