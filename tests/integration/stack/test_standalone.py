"""`make standalone` (include/standalone.py) on a laptop: as many LocalExecutor workers as task
slots (one per core, not Airflow's 32), and Ctrl-C stops Airflow and every process it started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import psutil
import pytest

from stack import free_port
from standalone import parallelism
from warehouses import ROOT

pytestmark = [pytest.mark.airflow, pytest.mark.stack]


def wait_for(what: str, probe, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = probe()
        if result:
            return result
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_standalone_is_sized_for_the_machine_and_stops_whole(tmp_path, stop_signal):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env["AIRFLOW_HOME"] = str(tmp_path / "airflow")
    env["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"] = str(free_port())  # beside any other local Airflow
    env["AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT"] = str(free_port())
    log = (tmp_path / "standalone.log").open("w")
    command = [sys.executable, str(ROOT / "include" / "standalone.py"), "--workdir", str(tmp_path)]
    launcher = subprocess.Popen(
        [*command, "--port", str(port), "--events", "2000"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    family: list[psutil.Process] = []
    try:

        def api_up() -> bool:
            assert launcher.poll() is None, (tmp_path / "standalone.log").read_text()[-3000:]
            try:
                return httpx.get(f"http://127.0.0.1:{port}/api/v2/version", timeout=2).status_code in (200, 401, 403)
            except httpx.TransportError:
                return False

        wait_for("the API server", api_up, timeout=240)

        def workers() -> list[psutil.Process]:
            found = []
            for process in psutil.Process(launcher.pid).children(recursive=True):
                try:
                    if "LocalExecutor" in " ".join(process.cmdline()):
                        found.append(process)
                except psutil.NoSuchProcess:
                    pass
            return found

        assert len(wait_for("the LocalExecutor's workers", workers, timeout=120)) <= parallelism()
        family = psutil.Process(launcher.pid).children(recursive=True)
        assert len(family) >= 4  # standalone, scheduler, DAG processor, API server, triggerer, ...

        launcher.send_signal(stop_signal)
        assert launcher.wait(timeout=60) == 0
        _, alive = psutil.wait_procs(family, timeout=30)
        assert [p.pid for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE] == []
    finally:  # whatever happened, nothing of this Airflow outlives the test
        try:
            family += psutil.Process(launcher.pid).children(recursive=True)
            family.append(psutil.Process(launcher.pid))
        except psutil.NoSuchProcess:
            pass
        for process in family:
            try:
                process.kill()
            except psutil.NoSuchProcess:
                pass
        log.close()
