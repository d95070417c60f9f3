"""Wall time against event count, log-log, from the benchmark's JSON results.

    .venv/bin/python benchmarks/chart.py [RESULT.json ...]   # default: the newest file in results/

Draws `benchmarks/results/time_vs_events.png`: one line per case on DuckDB (full refresh,
incremental, incremental as the DAG's tasks, lower bound, original shape), and PostgreSQL's full
refresh and incremental run as dashed lines with hollow markers. A point measured several times
(`run.py --repeat`) is the median, with a bar from the fastest to the slowest repeat. With
several files, a later file's point replaces an earlier one of the same engine, case and size.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
CHART = RESULTS / "time_vs_events.png"
SERIES = {  # (engine, case): label, colour, marker, line style; in legend order
    ("duckdb", "full_refresh"): ("full refresh (engine), DuckDB", "tab:blue", "o", "-"),
    ("duckdb", "incremental"): ("incremental, one new day (engine), DuckDB", "tab:green", "s", "-"),
    ("duckdb", "incremental_tasks"): ("incremental, phases as the DAG's tasks, DuckDB", "tab:olive", "s", ":"),
    ("duckdb", "lower_bound"): ("lower bound (one scan), DuckDB", "tab:gray", "^", "-"),
    ("duckdb", "original"): ("original dbt shape, DuckDB", "tab:red", "D", "-"),
    ("postgres", "full_refresh"): ("full refresh (engine), PostgreSQL", "tab:blue", "o", "--"),
    ("postgres", "incremental"): ("incremental, one new day (engine), PostgreSQL", "tab:green", "s", "--"),
}


def points(results: list[dict]) -> dict[tuple[str, str], dict[int, tuple[float, float, float]]]:
    """(engine, case) -> {source rows: (seconds, fastest, slowest)}; one run: all three the same."""
    series: dict[tuple[str, str], dict[int, tuple[float, float, float]]] = {}
    for result in results:
        for run in result["runs"]:
            rows = run["data"]["history_rows"] + run["data"]["new_day_rows"]
            for case, figures in run["cases"].items():
                repeats = figures.get("repeat_seconds") or [figures["seconds"]]
                series.setdefault((run["engine"], case), {})[rows] = (figures["seconds"], min(repeats), max(repeats))
    return series


def plot(files: list[Path] | None = None, path: Path = CHART) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = files or sorted(RESULTS.glob("*.json"))[-1:]
    if not files:
        raise SystemExit(f"no result files in {RESULTS}")
    results = [json.loads(f.read_text()) for f in files]
    fig, ax = plt.subplots(figsize=(8, 6.5), dpi=120)
    series = points(results)
    for key, (label, colour, marker, style) in SERIES.items():
        values = series.get(key)
        if not values:
            continue
        xs = sorted(values)
        ys = [values[x][0] for x in xs]
        spread = [[values[x][0] - values[x][1] for x in xs], [values[x][2] - values[x][0] for x in xs]]
        hollow = {"markerfacecolor": "none"} if style == "--" else {}
        ax.errorbar(xs, ys, yerr=spread, marker=marker, color=colour, linestyle=style, label=label, capsize=3, **hollow)
        for x, y in zip(xs, ys, strict=True):
            ax.annotate(f"{y:.1f} s", (x, y), textcoords="offset points", xytext=(6, -3), fontsize=7)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("source rows (history + new day)")
    ax.set_ylabel("wall time (s)")
    machine = results[-1]["machine"]
    ax.set_title(
        f"rudder-sessions benchmark, {results[-1]['date']}\n"
        f"{machine['cpu']}, {machine['cores']} cores, DuckDB {machine['duckdb']}",
        fontsize=9,
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2, frameon=False)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


if __name__ == "__main__":
    print(plot([Path(a) for a in sys.argv[1:]] or None))
