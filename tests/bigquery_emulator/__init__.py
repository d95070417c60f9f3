"""A local BigQuery (the bqemulator REST server) reached through the project's real BigQueryHook.

Install: `tests/bigquery_emulator/setup.sh` makes `.bqemulator-venv` at the repo root from the lock
beside it (bqemulator 1.4.0, whose pins differ from the project's; plus the wheel of DuckDB's spatial
extension, which bqemulator needs to start and would otherwise download). `start_emulator` runs the
server as a subprocess, `serve.py start --rest-port=N --grpc-port=0 --ephemeral --project=P` in that
venv (`serve.py` is `bqemulator start` with the fixes it lists), on a free 127.0.0.1 port, in memory,
logging to a temp file; it is ready in about 1.2 s on a warm machine (7 s cold, the first import of
its venv), polled on GET /readyz; `Emulator.stop()` sends SIGTERM, on which it shuts down cleanly
in about 0.6 s (exit code 0); it gets the same signal if the process that started it dies.

How the hook reaches it
-----------------------
The connection is an ordinary `gcpbigquery` one (`Emulator.connection`, set as `AIRFLOW_CONN_<ID>`):
its extra holds `project`, `location`, `use_legacy_sql: false` and `is_anonymous: true`, all read by the
installed provider itself (`is_anonymous` gives `google.auth.credentials.AnonymousCredentials`, so no
key or metadata server is asked). The provider (apache-airflow-providers-google 22.8.0) has no
endpoint setting: `BigQueryHook.get_conn` and `get_client` both call `self.get_client_options()`
without an override, so every request would go to bigquery.googleapis.com. And the two clients want
the endpoint in two forms: `google.cloud.bigquery.Client` (`get_client`, used by `insert_job`) takes
the server root and adds `/bigquery/v2` itself, while the discovery client of `get_conn` (used by the
DB-API cursor for `getQueryResults`) takes the whole base URL, `/bigquery/v2/` included. One endpoint
for both is impossible, and BIGQUERY_EMULATOR_HOST only reaches `Client`.

So `patch_bigquery_hook()` (idempotent, process-wide, installed by `Emulator.set_connection`) wraps
two methods, and only for connections whose extra carries `api_endpoint` (a key of ours that the
provider ignores); every other connection is untouched:
- `get_client_options` passes that endpoint as the base hook's own `api_endpoint_override`
  argument (the server root; the `/bigquery/v2/` form while `get_conn` builds its service);
- `get_conn` marks the hook while it builds the service.
A process that does not import this module (an Airflow task subprocess) sees no emulator.

`warehouses.BigQueryWarehouse` (tests/warehouses.py) is the test warehouse over the emulator: fresh
datasets per instance, the pipeline through `SessionRunner.connect` (the real hook, found by
`rudder_sessions.hooks.get_hook`), loading and reading through `google.cloud.bigquery.Client`.

What the emulator does with the model's SQL, with and without serve.py's fixes: NOTES.md beside
this file.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from google.cloud import bigquery


ROOT = Path(__file__).resolve().parents[2]
VENV = Path(os.environ.get("BQEMULATOR_VENV", ROOT / ".bqemulator-venv"))
HERE = Path(__file__).resolve().parent
SETUP, LOCK, SERVE = HERE / "setup.sh", HERE / "requirements.txt", HERE / "serve.py"
DEFAULT_PROJECT = "rudder-sessions-test"
DEFAULT_LOCATION = "US"
START_TIMEOUT = 90.0
ENDPOINT_FIELD = "api_endpoint"
# The server's settings besides the CLI flags (bqemulator reads BQEMU_*): no download of DuckDB's
# avro extension (no network; only Avro loads need it), no result cache (each test reads what it just
# wrote), warnings only in the log.
SERVER_ENV = {
    "BQEMU_ENABLE_FORMAT_EXTENSIONS": "false",
    "BQEMU_QUERY_CACHE_TTL_SECONDS": "0",
    "BQEMU_METRICS_ENABLED": "false",
}


def emulator_available() -> str | None:
    """None when the emulator's venv is installed with the current lock, else why not (the caller
    skips, or fails in CI)."""
    binary = VENV / "bin" / "bqemulator"
    if not binary.exists():
        return f"BigQuery emulator not installed ({binary} missing): run {SETUP.relative_to(ROOT)}"
    stamp = VENV / ".installed-lock"
    if not stamp.exists() or stamp.read_bytes() != LOCK.read_bytes():
        return f"BigQuery emulator venv {VENV} is not at the current lock: run {SETUP.relative_to(ROOT)}"
    return None


def _free_port(port: int = 0) -> int:
    """`port` (a free one when 0), checked free: readiness is polled by URL, and a server already
    listening there would pass for this one."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError as exc:
            raise RuntimeError(f"BigQuery emulator: port {port} on 127.0.0.1 is taken ({exc})") from None
        return s.getsockname()[1]


@dataclass
class Emulator:
    """A running bqemulator server: its URL, a client, and Airflow connections to it."""

    project: str
    port: int
    process: subprocess.Popen
    log_path: Path
    location: str = DEFAULT_LOCATION
    _client: Any = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self) -> bigquery.Client:
        """A google-cloud-bigquery client on the emulator (anonymous, the emulator's project)."""
        if self._client is None:
            from google.api_core.client_options import ClientOptions
            from google.auth.credentials import AnonymousCredentials
            from google.cloud import bigquery

            self._client = bigquery.Client(
                project=self.project,
                location=self.location,
                credentials=AnonymousCredentials(),
                client_options=ClientOptions(api_endpoint=self.url),
            )
        return self._client

    def connection(self, location: str | None = None) -> dict[str, Any]:
        """An Airflow `gcpbigquery` connection (the AIRFLOW_CONN_* JSON form) to this emulator."""
        return {
            "conn_type": "gcpbigquery",
            "extra": {
                "project": self.project,
                "location": location or self.location,
                "use_legacy_sql": False,
                "is_anonymous": True,
                ENDPOINT_FIELD: self.url,
            },
        }

    def set_connection(self, conn_id: str, location: str | None = None) -> None:
        """Define `conn_id` for this process (env var AIRFLOW_CONN_<ID>) and patch the hook."""
        patch_bigquery_hook()
        os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(self.connection(location))

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 10.0, keep_log: bool = False) -> None:
        """SIGTERM (the server shuts down cleanly on it), SIGKILL if it does not exit in time; its
        temp dir goes too unless `keep_log`."""
        if self._client is not None:
            self._client.close()
            self._client = None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        if not keep_log:
            shutil.rmtree(self.log_path.parent, ignore_errors=True)

    def __enter__(self) -> Emulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _die_with_parent() -> None:
    """In the child: SIGTERM when the starting thread's process dies (Linux prctl PR_SET_PDEATHSIG),
    so a killed test run leaves no server behind; elsewhere nothing."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/readyz", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def start_emulator(project: str = DEFAULT_PROJECT, port: int | None = None, timeout: float = START_TIMEOUT) -> Emulator:
    """Start a fresh in-memory emulator on `port` (a free one by default) and wait until it is ready.

    Its log goes to a temp file; a server that exits or does not answer within `timeout` raises
    RuntimeError with the log's tail.
    """
    reason = emulator_available()
    if reason:
        raise RuntimeError(reason)
    port = _free_port(port or 0)
    workdir = Path(tempfile.mkdtemp(prefix="bqemulator-"))  # its cwd: no stray .bqemu.toml is read
    log_path = workdir / "server.log"
    command = [
        str(VENV / "bin" / "python"),
        str(SERVE),  # `bqemulator start` with BigQuery's TIMESTAMP wire format for the DB-API cursor
        "start",
        "--rest-host=127.0.0.1",
        f"--rest-port={port}",
        "--grpc-host=127.0.0.1",
        "--grpc-port=0",
        "--ephemeral",
        f"--project={project}",
        "--log-format=console",
        "--log-level=warning",
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BQEMU_", "VIRTUAL_ENV", "PYTHON"))}
    env.update(SERVER_ENV)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
        )
    emulator = Emulator(project=project, port=port, process=process, log_path=log_path)
    deadline = time.monotonic() + timeout
    while not _ready(emulator.url):
        if not emulator.alive():
            emulator.stop(keep_log=True)
            raise RuntimeError(
                f"BigQuery emulator exited with code {process.returncode} at start; log {log_path}:\n"
                f"{emulator.log_tail()}"
            )
        if time.monotonic() > deadline:
            emulator.stop(keep_log=True)
            raise RuntimeError(
                f"BigQuery emulator did not answer on {emulator.url} within {timeout:.0f}s; log {log_path}:\n"
                f"{emulator.log_tail()}"
            )
        time.sleep(0.1)
    return emulator


_shared: Emulator | None = None
_shared_lock = threading.Lock()


def shared_emulator() -> Emulator:
    """One emulator per process (each pytest-xdist worker its own), stopped at exit: a start costs
    seconds, and every warehouse works in datasets of its own anyway."""
    global _shared
    with _shared_lock:
        if _shared is None or not _shared.alive():
            _shared = start_emulator()
            atexit.register(_shared.stop)
        return _shared


# -- the hook patch -----------------------------------------------------------------------------

_patched = False
_DISCOVERY = "_bigquery_emulator_building_service"


def patch_bigquery_hook() -> None:
    """Let a `gcpbigquery` connection name an endpoint (extra `api_endpoint`): see the module doc."""
    global _patched
    if _patched:
        return
    from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook

    original_options = BigQueryHook.get_client_options
    original_conn = BigQueryHook.get_conn

    def get_client_options(self, api_endpoint_override: str | None = None):
        endpoint = self._get_field(ENDPOINT_FIELD, None)
        if endpoint and not api_endpoint_override:
            # The discovery client of get_conn takes the whole base URL; Client adds /bigquery/v2.
            root = str(endpoint).rstrip("/")
            api_endpoint_override = f"{root}/bigquery/v2/" if getattr(self, _DISCOVERY, False) else root
        return original_options(self, api_endpoint_override=api_endpoint_override)

    def get_conn(self):
        setattr(self, _DISCOVERY, True)
        try:
            return original_conn(self)
        finally:
            setattr(self, _DISCOVERY, False)

    get_client_options.__doc__ = original_options.__doc__
    get_conn.__doc__ = original_conn.__doc__
    BigQueryHook.get_client_options = get_client_options  # type: ignore[method-assign]
    BigQueryHook.get_conn = get_conn  # type: ignore[method-assign]
    _patched = True
