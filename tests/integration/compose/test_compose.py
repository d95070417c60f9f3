"""The Docker Compose stack (docker-compose.yaml, Dockerfile, .dockerignore): valid Compose, and the intended shape.

`docker-compose config -q` (Debian's docker-compose v1, which needs no Docker engine) validates the file against
the Compose schema: the file must pass, and broken copies of it must not (proof that the validator validates).
Without docker-compose those tests skip locally and fail in CI (`.ci/run` installs it).
`stack_problems` checks what the schema cannot: the services, the executor, the mounts, the metadata database,
the demo connection, and an image that pins pyproject.toml's Airflow and installs the provider; it always runs,
and the mutations below prove each of its checks can fail.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import tomllib
from collections.abc import Callable
from pathlib import PurePosixPath

import pytest
import yaml

from warehouses import ROOT

COMPOSE = ROOT / "docker-compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
SOURCES = ROOT / "include" / "sources.yaml"

AIRFLOW_SERVICES = [
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
]
LONG_RUNNING = {  # service -> its Airflow command
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-triggerer": "triggerer",
}
MOUNTS = {
    "./dags": "/opt/airflow/dags",
    "./plugins": "/opt/rudder-sessions/plugins",  # over the editable install of the image
    "./sql": "/opt/rudder-sessions/sql",
    "./include": "/opt/airflow/include",
}
EXPECTED_ENV = {
    "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
    "AIRFLOW__CORE__LOAD_EXAMPLES": "false",
    "AIRFLOW__CORE__DAGS_FOLDER": "/opt/airflow/dags",
    "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": "http://airflow-apiserver:8080/execution/",
    "RUDDER_SESSIONS_CONFIG": "/opt/airflow/include/sources.yaml",
}
METADATA_DB = "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"
IGNORED = {".venv", ".airflow", ".demo", ".git"}
# Variables the compose file interpolates or Compose reads: the checks use the file's own defaults.
HOST_PREFIXES = ("AIRFLOW", "_AIRFLOW", "RUDDER_", "COMPOSE_", "DOCKER_")


def airflow_pin() -> tuple[str, str]:
    """(Airflow version of the lock, Python X.Y of pyproject.toml)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = re.findall(r"^apache-airflow==(\S+)$", (ROOT / "requirements.txt").read_text(), re.MULTILINE)
    python = re.match(r">=(\d+\.\d+)", project["requires-python"])
    assert len(pins) == 1 and python, "requirements.txt pins apache-airflow and pyproject.toml a minimum Python"
    return pins[0], python.group(1)


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per instruction, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")))
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in joined.splitlines() if line.strip()]


def _env(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def _mounts(service: dict) -> dict[str, str]:
    """Container path -> source, for the short volume syntax."""
    mounts = {}
    for volume in service.get("volumes") or []:
        source, target = str(volume).split(":")[:2]
        mounts[target] = source
    return mounts


def _conditions(service: dict) -> dict[str, str | None]:
    depends = service.get("depends_on") or {}
    if isinstance(depends, list):
        return dict.fromkeys(depends)
    return {name: (spec or {}).get("condition") for name, spec in depends.items()}


def stack_problems(compose: dict, dockerfile: str, dockerignore: str) -> list[str]:
    """Everything about the stack that is not as intended, one line each (empty: all good)."""
    problems: list[str] = []
    airflow, python = airflow_pin()
    services = compose.get("services") or {}
    if "x-airflow-common" not in compose:
        problems.append("no x-airflow-common anchor")
    missing = [name for name in ["postgres", *AIRFLOW_SERVICES] if name not in services]
    if missing:
        problems.append(f"missing services: {missing}")
    for name, service in services.items():
        if re.search(r"redis|celery|worker|flower", f"{name} {service.get('image', '')} {service.get('command', '')}"):
            problems.append(f"service {name}: Redis/Celery have no place with the LocalExecutor")

    postgres = services.get("postgres") or {}
    if not re.fullmatch(r"postgres:16([.-].*)?", str(postgres.get("image", ""))):
        problems.append(f"metadata database image is {postgres.get('image')!r}, not postgres:16")
    if "pg_isready" not in json.dumps((postgres.get("healthcheck") or {}).get("test")):
        problems.append("postgres has no pg_isready healthcheck")

    demo = (yaml.safe_load(SOURCES.read_text()).get("sources") or {}).get("demo")
    demo_conns = {f"AIRFLOW_CONN_{demo['conn_id'].upper()}"} if demo else set()
    for name in AIRFLOW_SERVICES:
        service = services.get(name)
        if service is None:
            continue
        image = re.fullmatch(r"\$\{AIRFLOW_IMAGE_NAME:-([^}]+)\}", str(service.get("image", "")))
        if not image or not image.group(1).endswith(f":{airflow}"):
            problems.append(f"{name}: image {service.get('image')!r} is not ${{AIRFLOW_IMAGE_NAME:-…:{airflow}}}")
        if service.get("build") not in (".", {"context": "."}):
            problems.append(f"{name}: not built from ./Dockerfile (build: {service.get('build')!r})")
        env = _env(service)
        for key, value in EXPECTED_ENV.items():
            if env.get(key, "").lower() != value.lower():
                problems.append(f"{name}: {key} is {env.get(key)!r}, expected {value!r}")
        if not re.match(r"postgresql(\+\w+)?://[^@]+@postgres(:5432)?/", env.get(METADATA_DB, "")):
            problems.append(f"{name}: the metadata database is not the postgres service")
        if "PYTHONPATH" in env:
            problems.append(f"{name}: PYTHONPATH is set: the package must come from its install in the image")
        if not env.get("AIRFLOW__API_AUTH__JWT_SECRET"):
            problems.append(f"{name}: no AIRFLOW__API_AUTH__JWT_SECRET shared by the components")
        if not {"AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"} & set(env):
            problems.append(f"{name}: the simple auth manager is not configured")
        mounts = _mounts(service)
        for source, target in MOUNTS.items():
            if mounts.get(target) != source:
                problems.append(f"{name}: {source} is not mounted at {target}")
            if not (ROOT / source).is_dir():
                problems.append(f"{source} is mounted but not a directory of the repository")
        for conn in sorted(demo_conns):
            if conn not in env:
                problems.append(f"{name}: no {conn} for the demo source of include/sources.yaml")
                continue
            spec = json.loads(env[conn])
            if spec.get("conn_type") == "duckdb":
                directory = str(PurePosixPath(spec.get("host", "")).parent)
                if directory not in mounts:
                    problems.append(f"{name}: {conn}'s DuckDB file is not on a mounted volume")
        conditions = _conditions(service)
        if conditions.get("postgres") != "service_healthy":
            problems.append(f"{name}: does not wait for a healthy postgres")
        if name in LONG_RUNNING:
            if conditions.get("airflow-init") != "service_completed_successfully":
                problems.append(f"{name}: does not wait for airflow-init to complete")
            if service.get("command") != LONG_RUNNING[name]:
                problems.append(f"{name}: command is {service.get('command')!r}, not {LONG_RUNNING[name]!r}")
            if not service.get("healthcheck"):
                problems.append(f"{name}: no healthcheck")
    init = services.get("airflow-init") or {}
    if "airflow db migrate" not in json.dumps(init.get("command")):
        problems.append("airflow-init does not migrate the metadata database")
    elif not re.search(r"airflow db migrate.*include/create_pools\.py", json.dumps(init.get("command")), re.DOTALL):
        problems.append("airflow-init does not create the sources' pools after migrating")
    api = services.get("airflow-apiserver") or {}
    if not any(str(port).endswith(":8080") for port in api.get("ports") or []):
        problems.append("airflow-apiserver does not publish port 8080")
    if not re.search(r"/api/v2/(version|monitor/health)", json.dumps((api.get("healthcheck") or {}).get("test"))):
        problems.append("airflow-apiserver's healthcheck does not query /api/v2")

    instructions = dockerfile_instructions(dockerfile)
    froms = [args for op, args in instructions if op == "FROM"]
    if froms != [f"apache/airflow:{airflow}-python{python}"]:
        problems.append(f"Dockerfile FROM {froms}, expected apache/airflow:{airflow}-python{python} (pyproject.toml)")
    copied = " ".join(args for op, args in instructions if op in ("COPY", "ADD"))
    for path in ("requirements.txt", "pyproject.toml", "plugins/", "sql/", "README.md", "LICENSE"):
        if not re.search(rf"(^|\s){re.escape(path)}(\s|$)", copied):
            problems.append(f"Dockerfile does not copy {path}")
    runs = [args for op, args in instructions if op == "RUN"]
    if not any(re.search(r"pip install .*-c \S*requirements\.txt", run) for run in runs):
        problems.append("Dockerfile does not install the dependencies under the lock's constraints")
    if any(re.search(r"pip install .*-r \S*requirements\.txt", run) for run in runs):
        problems.append("Dockerfile installs the whole lock, test extra included")
    if not any(re.search(r"pip install .*--no-deps -e /opt/rudder-sessions(\s|$)", run) for run in runs):
        problems.append("Dockerfile does not install the provider editable from /opt/rudder-sessions")
    ignored = {line.strip().rstrip("/") for line in dockerignore.splitlines()}
    if IGNORED - ignored:
        problems.append(f".dockerignore lets {sorted(IGNORED - ignored)} into the build context")
    return problems


def _files() -> tuple[dict, str, str]:
    return yaml.safe_load(COMPOSE.read_text()), DOCKERFILE.read_text(), DOCKERIGNORE.read_text()


def test_stack_has_its_shape():
    assert stack_problems(*_files()) == []


def _set_env(key: str, value: str) -> Callable[[dict], None]:
    def mutate(compose: dict) -> None:
        compose["services"]["airflow-scheduler"]["environment"][key] = value

    return mutate


def _drop_mount(target: str) -> Callable[[dict], None]:
    def mutate(compose: dict) -> None:
        service = compose["services"]["airflow-dag-processor"]
        service["volumes"] = [v for v in service["volumes"] if v.split(":")[1] != target]

    return mutate


def _drop_init_lines(word: str) -> Callable[[dict], None]:
    def mutate(compose: dict) -> None:
        command = compose["services"]["airflow-init"]["command"]
        command[1] = "\n".join(line for line in command[1].splitlines() if word not in line)

    return mutate


COMPOSE_MUTATIONS = {
    "celery executor": (_set_env("AIRFLOW__CORE__EXECUTOR", "CeleryExecutor"), "AIRFLOW__CORE__EXECUTOR is"),
    "examples loaded": (_set_env("AIRFLOW__CORE__LOAD_EXAMPLES", "true"), "AIRFLOW__CORE__LOAD_EXAMPLES is"),
    "sqlite metadata": (
        _set_env("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "sqlite:////tmp/airflow.db"),
        "metadata database is not the postgres",
    ),
    "no demo connection": (
        lambda c: c["services"]["airflow-scheduler"]["environment"].pop("AIRFLOW_CONN_RUDDER_DEMO_DUCKDB"),
        "no AIRFLOW_CONN_RUDDER_DEMO_DUCKDB",
    ),
    "sql not mounted": (_drop_mount("/opt/rudder-sessions/sql"), "./sql is not mounted"),
    "package on PYTHONPATH": (_set_env("PYTHONPATH", "/opt/airflow/plugins"), "PYTHONPATH is set"),
    "include not mounted": (_drop_mount("/opt/airflow/include"), "./include is not mounted"),
    "mysql": (lambda c: c["services"]["postgres"].update(image="mysql:8"), "not postgres:16"),
    "no triggerer": (lambda c: c["services"].pop("airflow-triggerer"), "missing services: ['airflow-triggerer']"),
    "redis": (lambda c: c["services"].update(redis={"image": "redis:7.2-bookworm"}), "service redis"),
    "other airflow": (
        lambda c: c["services"]["airflow-apiserver"].update(image="${AIRFLOW_IMAGE_NAME:-apache/airflow:3.3.1}"),
        "airflow-apiserver: image",
    ),
    "no pools": (_drop_init_lines("create_pools"), "airflow-init does not create the sources' pools"),
    "init not awaited": (
        lambda c: c["services"]["airflow-scheduler"]["depends_on"].pop("airflow-init"),
        "airflow-scheduler: does not wait for airflow-init",
    ),
}


@pytest.mark.parametrize("mutation", COMPOSE_MUTATIONS)
def test_shape_check_catches_compose_mistakes(mutation):
    compose, dockerfile, dockerignore = _files()
    compose = copy.deepcopy(compose)
    for service in compose["services"].values():  # unshare what the YAML anchors share
        for key in ("environment", "volumes", "depends_on"):
            if key in service:
                service[key] = copy.deepcopy(service[key])
    mutate, expected = COMPOSE_MUTATIONS[mutation]
    mutate(compose)
    problems = stack_problems(compose, dockerfile, dockerignore)
    assert any(expected in problem for problem in problems), problems


DOCKERFILE_MUTATIONS = {
    "other airflow": (r"FROM apache/airflow:\S+", "FROM apache/airflow:3.3.1-python3.11", "Dockerfile FROM"),
    "other python": (r"-python3\.11", "-python3.12", "Dockerfile FROM"),
    "no provider install": (r"pip install --no-cache-dir --no-deps", "pip list", "does not install the provider"),
    "unconstrained": (r"-c /opt/rudder-sessions/requirements\.txt ", "", "under the lock's constraints"),
    "whole lock": (r"-r /tmp/rudder-sessions-runtime\.txt", "-r /opt/rudder-sessions/requirements.txt", "whole lock"),
    "no sql": (r"COPY --chown=airflow:0 sql/ \S+", "", "does not copy sql/"),
}


@pytest.mark.parametrize("mutation", DOCKERFILE_MUTATIONS)
def test_shape_check_catches_dockerfile_mistakes(mutation):
    compose, dockerfile, dockerignore = _files()
    pattern, replacement, expected = DOCKERFILE_MUTATIONS[mutation]
    broken, count = re.subn(pattern, replacement, dockerfile)
    assert count, f"{pattern} no longer occurs in the Dockerfile: update the mutation"
    problems = stack_problems(compose, broken, dockerignore)
    assert any(expected in problem for problem in problems), problems


def test_shape_check_catches_a_leaky_dockerignore():
    compose, dockerfile, dockerignore = _files()
    leaky = "\n".join(line for line in dockerignore.splitlines() if line.strip() != ".venv")
    assert stack_problems(compose, dockerfile, leaky) == [".dockerignore lets ['.venv'] into the build context"]


def test_init_script_is_valid_bash():
    """airflow-init's script parses (`$$` is Compose's escape for a literal `$`)."""
    compose, _, _ = _files()
    command = compose["services"]["airflow-init"]["command"]
    assert compose["services"]["airflow-init"]["entrypoint"] == "/bin/bash" and command[0] == "-c"
    script = command[1].replace("$$", "$")
    for candidate, valid in ((script, True), (script + "\nif true; then\n", False)):
        done = subprocess.run(["bash", "-n", "-c", candidate], capture_output=True, text=True)
        assert (done.returncode == 0) is valid, done.stderr


def docker_compose() -> str:
    """The docker-compose (v1) binary; skip without it locally, fail in CI."""
    binary = shutil.which("docker-compose")
    if binary is None:
        reason = "docker-compose is not installed (Debian: apt-get install docker-compose)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI=true: the compose file must be validated)")
        pytest.skip(reason)
    return binary


def compose_config(directory, *args: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if not key.startswith(HOST_PREFIXES)}
    return subprocess.run(
        [docker_compose(), "-f", "docker-compose.yaml", "config", *args],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_compose_config_validates():
    done = compose_config(ROOT, "-q")
    assert done.returncode == 0, done.stderr
    assert "WARN" not in done.stderr, done.stderr  # e.g. an interpolated variable without a default


def test_compose_resolves_anchors_and_defaults():
    """What Compose itself makes of the file (anchors merged, variables defaulted), not just PyYAML."""
    done = compose_config(ROOT)
    assert done.returncode == 0, done.stderr
    services = yaml.safe_load(done.stdout)["services"]
    airflow, _ = airflow_pin()
    assert set(services) == {"postgres", *AIRFLOW_SERVICES, "airflow-cli"}
    for name in AIRFLOW_SERVICES:
        service = services[name]
        assert service["image"] == f"rudder-sessions-airflow:{airflow}"
        assert service["build"]["context"] == str(ROOT)
        assert service["environment"]["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
        assert service["environment"]["AIRFLOW__API_AUTH__JWT_SECRET"]
        assert {v.split(":")[1] for v in service["volumes"]} >= set(MOUNTS.values())
    assert services["airflow-init"]["user"] == "0:0"
    assert services["airflow-scheduler"]["user"] == "50000:0"
    assert services["airflow-triggerer"]["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"


BROKEN_COMPOSE = {
    "misspelled key": (("command: scheduler", "comand: scheduler"), "Unsupported config option"),
    "unknown condition": (("service_completed_successfully", "service_done"), "invalid type"),
    "undefined dependency": (("      airflow-init:\n", "      airflow-initialise:\n"), "which is undefined"),
    "undeclared volume": (("\n  rudder-demo:\n", "\n"), "no declaration was found"),
    "bad yaml": (("x-airflow-common:\n", "x-airflow-common: [\n"), "ParserError"),
}


@pytest.mark.parametrize("breakage", BROKEN_COMPOSE)
def test_compose_config_rejects_a_broken_file(tmp_path, breakage):
    (old, new), expected = BROKEN_COMPOSE[breakage]
    text = COMPOSE.read_text()
    assert old in text, f"{old!r} no longer occurs in docker-compose.yaml: update the breakage"
    (tmp_path / "docker-compose.yaml").write_text(text.replace(old, new))
    done = compose_config(tmp_path, "-q")
    assert done.returncode != 0, f"docker-compose accepted a {breakage}"
    assert expected in done.stderr, done.stderr
