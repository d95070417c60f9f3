"""How long a `rudder-sessions status` call takes to start, with and without compiled bytecode.

Every Airflow task and CLI call is a new Python process that imports Airflow and the package. A
virtualenv synced without `--compile-bytecode` compiles each module on its first import, and on
every import where the interpreter cannot write `__pycache__` (site-packages owned by another user,
a read-only image layer; `PYTHONDONTWRITEBYTECODE`). Builds two virtualenvs from the lock, one each
way, with the package installed from a wheel, and times the call:

    .venv/bin/python benchmarks/cli_startup.py [--repeats 5]

Writes `benchmarks/results/<time>_cli-startup.json` (machine, versions, every timing).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import machine

ROOT = Path(__file__).resolve().parents[1]
UV = ROOT / ".venv" / "bin" / "uv"


def build_venv(where: Path, wheel: Path, compile_bytecode: bool) -> Path:
    subprocess.run([str(UV), "venv", "--quiet", "--python", "python3.11", str(where)], check=True)
    python = where / "bin" / "python"
    compiled = ["--compile-bytecode"] if compile_bytecode else []
    sync = [str(UV), "pip", "sync", "--quiet", *compiled, "--python", str(python), str(ROOT / "requirements.txt")]
    subprocess.run(sync, check=True)
    install = [str(UV), "pip", "install", "--quiet", "--no-deps", *compiled, "--python", str(python), str(wheel)]
    subprocess.run(install, check=True)
    return where / "bin" / "rudder-sessions"


def timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed: {done.stderr[-2000:]}")
    return round(seconds, 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cli-startup-") as tmp:
        work = Path(tmp)
        subprocess.run([str(UV), "build", "--quiet", "--wheel", "--out-dir", str(work), str(ROOT)], check=True)
        (wheel,) = work.glob("rudder_sessions-*.whl")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PYTHON"))}
        env |= {
            "AIRFLOW_HOME": str(work / "airflow"),
            "AIRFLOW_CONN_BENCH": json.dumps({"conn_type": "duckdb", "host": str(work / "bench.duckdb")}),
        }
        command = ["status", "--conn-id", "bench"]
        results: dict[str, object] = {}
        for label, compile_bytecode in (("plain", False), ("compiled", True)):
            cli = build_venv(work / label, wheel, compile_bytecode)
            if compile_bytecode:
                runs = [timed([str(cli), *command], env) for _ in range(args.repeats)]
                results["compiled"] = {"median_s": statistics.median(runs), "runs_s": runs}
            else:
                first = timed([str(cli), *command], env)  # compiles and writes __pycache__
                runs = [timed([str(cli), *command], env) for _ in range(args.repeats)]
                unwritable = [
                    timed([str(cli), *command], env | {"PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": tmp})
                    for _ in range(args.repeats)
                ]
                results["plain_first_call_s"] = first
                results["plain_cached"] = {"median_s": statistics.median(runs), "runs_s": runs}
                results["plain_unwritable_cache"] = {"median_s": statistics.median(unwritable), "runs_s": unwritable}
    stamp = datetime.now(UTC)
    report = {"date": stamp.isoformat(timespec="seconds"), "machine": machine(), "command": command, **results}
    out = ROOT / "benchmarks" / "results" / f"{stamp:%Y-%m-%dT%H%MZ}_cli-startup.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    print(f"written to {out}")


if __name__ == "__main__":
    main()
