"""What the session and visitor facts tables cost on DuckDB: the engine with and without them.

On `run.py`'s data (`rudderstack.tracks` only: DAYS days of history, about SIZE events, plus one
new day), three variants of the engine run the same two cases, each in a fresh child process:

- `five_tables`: the engine without the two facts tables. The child process cuts
  `session_facts` and `user_session_facts` out of the model's table list (`rudder_sessions.model`)
  before it imports the engine, and drops the audit's two checks of those tables: every other
  phase runs the SQL it runs in the seven-table engine, publish writes the five tables. No facts
  settings.
- `no_options`: the engine as it is (seven tables), with no facts settings: nothing carried
  through `dbt_mapped_tracks`, no conversions.
- `configured`: the engine as it is, with the facts settings of a realistic source (FACTS below):
  `order_completed` as the conversion, the first campaign source, referrer and device type of
  each session, its total revenue.

The cases, as in `run.py`: `full_refresh` of everything into a fresh target, and `incremental`,
the new day on top of the history published (untimed, before the cases) by a full refresh of the
same variant. The wall time is `SessionRunner.run` from planning to closing the connection (the
close's checkpoint included). `configured / five_tables` is what the two tables add (the issue's
target: at most 1.25 at 1e7 events); `configured / no_options` is what carrying the columns and
computing first-touch values, totals and conversions adds. Per phase, the two steps' own times
are the `session_facts` and `user_session_facts` phases; what the tables add to the audit,
publish and the close shows as the `checks`, `publish` and "outside the phases" differences.

    .venv/bin/python benchmarks/facts_cost.py --sizes 1e6 1e7 [--repeat 3] [--days 90] [--workdir DIR]
    .venv/bin/python benchmarks/facts_cost.py --report benchmarks/results/FILE.json   # its tables again

Writes `benchmarks/results/<time>_facts-cost_duckdb-<sizes>.json` and prints markdown for
RESULTS.md. With `--repeat N` every repeat starts from the same published histories and runs the
variants in a rotated order; a ratio is the median of the ratios within each repeat.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import run as bench  # benchmarks/run.py: the data, the child processes, the machine (this directory is on sys.path)

FACTS_STEPS = ("session_facts", "user_session_facts")
# The facts settings of a realistic source, on columns the sample tracks have.
FACTS: dict[str, list[str]] = {
    "conversion_events": ["order_completed"],
    "session_first_columns": ["context_campaign_source", "context_page_referrer", "context_device_type"],
    "session_sum_columns": ["revenue"],
}
# name -> (table prefix, facts settings, without the facts tables)
VARIANTS: dict[str, tuple[str, dict[str, list[str]], bool]] = {
    "five_tables": ("five_", {}, True),
    "no_options": ("plain_", {}, False),
    "configured": ("facts_", FACTS, False),
}
CASES = ("full_refresh", "incremental")
TARGET_MAX = 1.25  # the issue: the two tables add at most 25% to a full refresh and to the day's run
RATIOS = (("configured", "five_tables"), ("no_options", "five_tables"), ("configured", "no_options"))
COMPARED_PHASES = ("plan", "mapped_tracks", "checks", "publish")
MODEL_MODULES = ("rudder_sessions.model", "rudder_sessions.errors")  # what run.py imports before the cut


# -- the child process -------------------------------------------------------------------------------


def cut_facts_tables() -> None:
    """Make this process's engine the five-table one: the model without the facts tables (steps,
    staging, publish and the run log's row counts follow `TABLES` and `STEPS`), and the audit
    without its checks of them. Must run before any module that reads the model at import."""
    from rudder_sessions import model

    loaded = [name for name in sys.modules if name.startswith("rudder_sessions.") and name not in MODEL_MODULES]
    if loaded:
        raise RuntimeError(f"the model must be cut before the engine is imported; already imported: {loaded}")
    model.TABLES = tuple(t for t in model.TABLES if t.step not in FACTS_STEPS)
    model.BY_STEP = {t.step: t for t in model.TABLES}
    model.STEPS = tuple(t.step for t in model.TABLES)
    model.PHASES = (model.PLAN, model.STEPS[0], model.SCOPE, *model.STEPS[1:], model.CHECKS, model.PUBLISH)

    from rudder_sessions.engine import SessionRunner

    render = SessionRunner.render

    def render_without_facts_checks(self: SessionRunner, phase: str, plan: Any) -> str:
        sql = render(self, phase, plan)
        if phase != model.CHECKS:
            return sql
        tables = self.tables(plan.key)
        facts = [tables.stage(step) for step in FACTS_STEPS]
        kept = [s for s in self.session.statements(sql) if not any(name in s for name in facts)]
        return "".join(f"{statement};\n" for statement in kept)

    SessionRunner.render = render_without_facts_checks  # type: ignore[method-assign]


def child(spec: dict[str, Any]) -> dict[str, Any]:
    if spec.get("without_facts"):
        cut_facts_tables()
    return bench.child(spec)


# -- the parent --------------------------------------------------------------------------------------


def prefix(variant: str, case: str) -> str:
    """`five_full_`, `facts_incr_`, ...: each variant's full refresh and incremental targets."""
    return VARIANTS[variant][0] + ("full_" if case == "full_refresh" else "incr_")


def rotated(index: int, variants: Iterable[str] = VARIANTS) -> list[str]:
    """The variants in the order of repeat `index`: each one first in turn."""
    names = list(variants)
    shift = index % len(names)
    return names[shift:] + names[:shift]


def run_size(events: int, args: argparse.Namespace, env: dict[str, str], database: Path) -> dict[str, Any]:
    """Every variant's setup and cases on the DuckDB file of this size (generated already)."""

    def engine(variant: str, case: str, mode: str, run_id: str) -> dict[str, Any]:
        _, facts, without = VARIANTS[variant]
        spec = bench.duckdb_engine_spec(
            database, prefix(variant, case), mode, run_id, facts=facts, without_facts=without
        )
        return bench.measured(spec, env, f"duckdb {bench.size_label(events)} {variant} {run_id}", script=__file__)

    with bench.history_as_source(bench.duckdb_execute(database), bench.SOURCE_SCHEMA):
        setup = {variant: engine(variant, "incremental", "full_refresh", "history") for variant in VARIANTS}
    day = bench.duckdb_new_day(database, args, prefix("configured", "incremental"))

    def every_case(index: int) -> tuple[dict[str, Any], dict[str, Any]]:
        cases = {}
        for variant in rotated(index):
            cases[f"{variant} full_refresh"] = engine(variant, "full_refresh", "full_refresh", "everything")
            cases[f"{variant} incremental"] = engine(variant, "incremental", "incremental", "new-day")
        return cases, agreement(database)

    return repeated(events, args, database, every_case, ratios, data=day, setup_history_full_refresh=setup)


def repeated(
    events: int,
    args: argparse.Namespace,
    database: Path,
    every_case: Callable[[int], tuple[dict[str, Any], dict[str, Any]]],
    ratios: Callable[[dict[str, Any]], dict[str, float]],
    **figures: Any,
) -> dict[str, Any]:
    """A size's run: `every_case(index)` --repeat times from the same file, the cases combined
    (`run.combine_repeats`), a ratio the median of each repeat's own; `figures` beside them."""
    repeats = bench.from_the_same_file(database, args.repeat, every_case)
    cases, agreed = bench.combine_repeats(repeats)
    per_repeat = [ratios(c) for c, _ in repeats]
    return {
        "engine": "duckdb",
        "events": events,
        **figures,
        "cases": cases,
        "agreement": agreed,
        "ratios": {name: round(statistics.median(r[name] for r in per_repeat), 3) for name in per_repeat[0]},
        **({"ratios_per_repeat": per_repeat} if len(repeats) > 1 else {}),
    }


def ratios(cases: dict[str, Any]) -> dict[str, float]:
    """`<case> <a>/<b>`: a variant's wall time over another's, for the same case."""
    return {
        f"{case} {a}/{b}": round(cases[f"{a} {case}"]["seconds"] / cases[f"{b} {case}"]["seconds"], 3)
        for case in CASES
        for a, b in RATIOS
    }


def rows_differ_sql(schema: str, a: str, b: str, step: str, columns: tuple[str, ...]) -> str:
    """Rows of a step's table under prefix `a` and under prefix `b` that the other lacks (0: equal)."""
    listed = ", ".join(f'"{c}"' for c in columns)
    x, y = (f"{schema}.{p}dbt_{step}" for p in (a, b))
    return (
        f"SELECT (SELECT COUNT(*) FROM (SELECT {listed} FROM {x} EXCEPT ALL SELECT {listed} FROM {y}) d1) "
        f"+ (SELECT COUNT(*) FROM (SELECT {listed} FROM {y} EXCEPT ALL SELECT {listed} FROM {x}) d2)"
    )


def agreement(database: Path) -> dict[str, Any]:
    """The variants model the same sessions; the five-table targets have no facts tables; every
    variant's incremental run ends equal to its full refresh, facts (every column) included."""
    import duckdb

    from rudder_sessions.config import SourceConfig
    from rudder_sessions.model import table

    def shape(variant: str) -> Any:
        config = SourceConfig(
            name="bench", conn_id="unused", source_schema="s", target_schema="t", **VARIANTS[variant][1]
        )
        return config.shape

    schema = bench.TARGET_SCHEMA
    with duckdb.connect(str(database), read_only=True) as conn:

        def differ(a: str, b: str, step: str, variant: str) -> int:
            columns = table(step).column_names(shape(variant))
            return conn.execute(rows_differ_sql(schema, a, b, step, columns)).fetchone()[0]

        names = {
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = ?", [schema]
            ).fetchall()
        }
        five = [prefix("five_tables", case) for case in CASES]
        result: dict[str, Any] = {
            "five_tables_have_no_facts_tables": not any(f"{p}dbt_{s}" in names for p in five for s in FACTS_STEPS),
            "same_sessions_in_every_variant": all(
                differ(prefix(v, "full_refresh"), prefix("configured", "full_refresh"), "session_tracks", v) == 0
                for v in ("five_tables", "no_options")
            ),
        }
        for variant in VARIANTS:
            steps = ("session_tracks",) if VARIANTS[variant][2] else ("session_tracks", *FACTS_STEPS)
            result[f"{variant}_incremental_equals_full_refresh"] = all(
                differ(prefix(variant, "incremental"), prefix(variant, "full_refresh"), step, variant) == 0
                for step in steps
            )
    return result


def check_targets(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The issue's targets at the largest size: configured / five_tables at most TARGET_MAX, for
    both cases (and, with repeats, whether every repeat meets it)."""
    if not runs:
        return {}
    run = max(runs, key=lambda r: r["events"])
    verdicts: dict[str, Any] = {"events": run["events"]}
    for case in CASES:
        name = f"{case} configured/five_tables"
        value = run["ratios"][name]
        per_repeat = [r[name] for r in run.get("ratios_per_repeat", [])]
        verdicts[case] = {
            "value": value,
            "max": TARGET_MAX,
            "met": value <= TARGET_MAX,
            **({"met_in_every_repeat": all(v <= TARGET_MAX for v in per_repeat)} if per_repeat else {}),
        }
    return verdicts


# -- report ------------------------------------------------------------------------------------------


def _ratio(run: dict[str, Any], name: str) -> str:
    """A ratio as the share it adds ('1.180 (+18%)'), with the range within the repeats."""
    value = run["ratios"][name]
    per_repeat = [r[name] for r in run.get("ratios_per_repeat", [])]
    spread = f"; {min(per_repeat):.3f} to {max(per_repeat):.3f}" if len(per_repeat) > 1 else ""
    return f"{value:.3f} ({(value - 1) * 100:+.0f}%{spread})"


def outside_phases(case: dict[str, Any]) -> float:
    """Wall time not in any phase: mostly the checkpoint when the run closes the DuckDB file."""
    return case["seconds"] - sum(case["phase_seconds"].values())


def markdown(result: dict[str, Any]) -> str:
    m = result["machine"]
    repeat = result["settings"]["repeat"]
    lines = [
        f"- Date: {result['date']}. Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB, {m['os']}, "
        f"Python {m['python']}, DuckDB {m['duckdb']}.",
        f"- Command: `{result['command']}` ({result['total_seconds'] / 60:.1f} min in all).",
        f"- Raw figures: [`{result['file']}`]({result['file']}).",
        f"- Facts settings of `configured`: {', '.join(f'{k} {v}' for k, v in FACTS.items())}.",
        *(
            [
                f"- Every case ran {repeat} times on the same data, the variants in a rotated order: wall time "
                "is the median run's, with the range; a ratio is the median of the ratios within each repeat, "
                "with their range."
            ]
            if repeat > 1
            else []
        ),
        "",
        "| events | case | five tables | seven, no facts settings | seven, facts configured "
        "| configured / five tables | no settings / five tables | configured / no settings |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for run in result["runs"]:
        for case in CASES:
            times = [bench._seconds(run["cases"][f"{v} {case}"]) for v in VARIANTS]
            shares = [_ratio(run, f"{case} {a}/{b}") for a, b in RATIOS]
            lines.append(
                f"| {bench.size_label(run['events'])} | {case.replace('_', ' ')} | {' | '.join(times)} | "
                f"{' | '.join(shares)} |"
            )
    lines += [
        "",
        "Where the time goes (the median runs; seconds): the facts steps of `configured`, and the phases whose "
        "work the facts change, five tables → no settings → configured:",
        "",
        "| events | case | session_facts + user_session_facts (share of the run) "
        f"| {' | '.join(COMPARED_PHASES)} | outside the phases (close) | peak RSS |",
        f"| ---: | --- | ---: | {' | '.join('---:' for _ in COMPARED_PHASES)} | ---: | ---: |",
    ]
    for run in result["runs"]:
        for case in CASES:
            runs = [run["cases"][f"{v} {case}"] for v in VARIANTS]
            configured = runs[-1]
            steps = [configured["phase_seconds"].get(s, 0.0) for s in FACTS_STEPS]
            facts = f"{steps[0]:.2f} + {steps[1]:.2f} ({sum(steps) / configured['seconds']:.1%})"
            phases = [" → ".join(f"{r['phase_seconds'].get(p, 0.0):.2f}" for r in runs) for p in COMPARED_PHASES]
            close = " → ".join(f"{outside_phases(r):.2f}" for r in runs)
            peak = " → ".join(f"{r['peak_rss_mb'] / 1024:.2f}" for r in runs)
            lines.append(
                f"| {bench.size_label(run['events'])} | {case.replace('_', ' ')} | {facts} | "
                f"{' | '.join(phases)} | {close} | {peak} GB |"
            )
    targets = result.get("targets") or {}
    if targets:
        label = bench.size_label(targets["events"])
        lines += [
            "",
            f"Target of the issue at {label} (DuckDB):",
            "",
            "| target | measured | met |",
            "| --- | ---: | --- |",
        ]
        judged = max(result["runs"], key=lambda r: r["events"])
        for case in CASES:
            verdict = targets[case]
            lines.append(
                f"| the facts tables add at most 25% to the {case.replace('_', ' ')} | "
                f"{_ratio(judged, f'{case} configured/five_tables')} | {bench._met(verdict)} |"
            )
    return "\n".join([*lines, *checks_and_phases(result)])


def checks_and_phases(result: dict[str, Any]) -> list[str]:
    """The end of the report: the checks of the data per size (yes/no, or a count), then every
    case's seconds per phase."""
    names = list(result["runs"][0]["agreement"])
    lines = ["", f"| events | {' | '.join(names)} |", f"| ---: | {' | '.join('---' for _ in names)} |"]
    for run in result["runs"]:
        values = run["agreement"].values()
        checks = " | ".join(bench._yes_no(v) if isinstance(v, bool) else bench._fmt(v) for v in values)
        lines.append(f"| {bench.size_label(run['events'])} | {checks} |")
    lines += ["", "Seconds per phase:", ""]
    for run in result["runs"]:
        for name, case in run["cases"].items():
            phases = ", ".join(f"{p} {s:.2f}" for p, s in case["phase_seconds"].items())
            lines.append(f"- {bench.size_label(run['events'])} {name.replace('_', ' ')}: {phases}")
    return lines


# -- main --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    return bench.engine_benchmark(
        argv,
        script=__file__,
        description=__doc__.splitlines()[0],
        name="facts-cost",
        markdown=markdown,
        run_size=lambda events, args, env, database, _generated: run_size(events, args, env, database),
        check_targets=check_targets,
        settings={
            "facts": FACTS,
            "variants": {
                name: {"prefix": p, "facts": f, "without_facts_tables": w} for name, (p, f, w) in VARIANTS.items()
            },
        },
    )


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "_child":
        print(json.dumps(child(json.loads(sys.argv[2])), default=str))
    else:
        sys.exit(main())
