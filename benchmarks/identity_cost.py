"""What the identity graph costs on DuckDB: `identity: graph` against `identity: last_touch` on the same data.

The data is `run.py`'s (DAYS days of history, about SIZE events, plus one new day) generated with
the sample generator's `identity_links`: `rudderstack.tracks` with renamed users, people
identified server-side only, kiosks and junk ids, and the link tables `identifies` and `aliases`.
Every table is split by `received_at` like `run.py` splits tracks (`tracks_history`,
`identifies_history`, `aliases_history`: what arrived before the new day). Two modes of the engine
(MODES) run the same two cases, each in a fresh child process:

- `full_refresh`: everything into fresh targets;
- `incremental`: the new day (its events and its link rows) on top of the history that the same
  mode published first (untimed), from the history tables swapped in under the source's names, as
  `run.py` does, so the link tables are read by their own watermarks.

`last_touch` is the engine's default (the link tables are not read); `graph` reads `identifies` and
`aliases` too and repeats its label-propagation step until no label changes. The wall time is
`SessionRunner.run`, planning to closing the connection, as in `run.py`. From the run log of each
graph run: the steps of label propagation (`identity_iterations`), hub ids, junk ids read as NULL,
and (incremental) identifiers remapped and visitors merged. Every statement is timed too (the
child wraps the SQL hook's statement call: same transactions, same SQL), so the report says which
statement of the graph takes the time.

    .venv/bin/python benchmarks/identity_cost.py [--sizes 1e6 1e7] [--repeat 3] [--days 90] [--workdir DIR]
    .venv/bin/python benchmarks/identity_cost.py --report benchmarks/results/FILE.json   # its tables again

Writes `benchmarks/results/<time>_identity-cost_duckdb-<sizes>.json` and prints markdown for
RESULTS.md. Ratios: graph / last-touch full refresh (the target: at most 1.5), graph incremental /
graph full refresh, graph / last-touch incremental. With `--repeat N` every repeat starts from the
same published histories and runs the modes in a rotated order; a ratio is the median of the
ratios within each repeat.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

import facts_cost  # benchmarks/facts_cost.py: row comparison, rotation, ratio format (this directory is on sys.path)
import run as bench  # benchmarks/run.py: the data, the child processes, the machine

from rudder_sessions.model import IDENTITY_COUNTS  # the run log's: excluded, iterations, hubs, remapped, merged

GRAPH: dict[str, str] = {"identity": "graph", "identifies_table": "identifies", "aliases_table": "aliases"}
# name -> (table prefix, identity settings)
MODES: dict[str, tuple[str, dict[str, str]]] = {"last_touch": ("lt_", {}), "graph": ("graph_", GRAPH)}
CASES = ("full_refresh", "incremental")
TARGET_MAX = 1.5  # the graph's full refresh within 1.5 x the last touch's
# name -> ((mode, case), (mode, case)): the first's wall time over the second's
RATIOS: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {
    "full_refresh graph/last_touch": (("graph", "full_refresh"), ("last_touch", "full_refresh")),
    "graph incremental/full_refresh": (("graph", "incremental"), ("graph", "full_refresh")),
    "incremental graph/last_touch": (("graph", "incremental"), ("last_touch", "incremental")),
    "last_touch incremental/full_refresh": (("last_touch", "incremental"), ("last_touch", "full_refresh")),
}
TARGET_RATIO = "full_refresh graph/last_touch"
COMPARED_PHASES = ("plan", "aliases_mapping", "scope", "mapped_tracks", "session_tracks", "checks", "publish")
GRAPH_PHASE = "aliases_mapping"  # the phase that builds the graph (sql/identity_graph.sql)
AGREED_STEPS = ("aliases_mapping", "mapped_tracks", "session_tracks")  # incremental = full refresh, row for row
SHOWN_STATEMENTS = 8  # statements of the graph's phase in the report, slowest first


# -- the child process: the run, every statement timed ----------------------------------------------

_STAGE = re.compile(r"__rs_[a-z0-9]+_(\w+)", re.IGNORECASE)
_WRITES = re.compile(
    r"(CREATE (?:OR REPLACE )?TABLE|INSERT INTO|UPDATE|DELETE FROM|DROP TABLE|ANALYZE|ALTER TABLE)"
    r"(?: IF (?:NOT )?EXISTS)?\s+([^\s(]+)",
    re.IGNORECASE,
)


def statement_label(sql: str) -> str:
    """`CREATE TABLE graph_facts`, `UPDATE graph_labels`, `SELECT graph_step`: the statement's verb and
    the table it writes (a staging table by its stage name), else the first staging table it reads."""
    text = " ".join(line for line in sql.splitlines() if not line.lstrip().startswith("--")).strip()
    written = _WRITES.match(text)
    if written:
        verb, name = written.group(1).upper(), written.group(2)
        stage = _STAGE.search(name)
        return f"{verb} {stage.group(1) if stage else name.split('.')[-1].strip(chr(34))}"
    verb = text.split(None, 1)[0].upper() if text else "?"
    stage = _STAGE.search(text)
    return f"{verb} {stage.group(1)}" if stage else text[:60]


class StatementClock:
    """Seconds per statement of one run, summed by phase and `statement_label` (the repeated step
    of label propagation sums over its repeats; `count` says how often it ran)."""

    def __init__(self) -> None:
        self.phase = "start-up (untimed)"  # the case's first query, before the run (run.py: startup_seconds)
        self.seconds: dict[tuple[str, str], list[float]] = {}

    def install(self) -> None:
        from airflow.providers.common.sql.hooks.sql import DbApiHook

        from rudder_sessions.engine import SessionRunner

        run_command, execute = DbApiHook._run_command, SessionRunner.execute
        clock = self

        def timed(hook: Any, cur: Any, sql: str, parameters: Any) -> Any:
            began = time.perf_counter()
            try:
                return run_command(hook, cur, sql, parameters)
            finally:
                entry = clock.seconds.setdefault((clock.phase, statement_label(sql)), [0.0, 0])
                entry[0] += time.perf_counter() - began
                entry[1] += 1

        def in_phase(runner: Any, phase: str, *args: Any, **kwargs: Any) -> Any:
            clock.phase = phase
            return execute(runner, phase, *args, **kwargs)

        DbApiHook._run_command = timed  # type: ignore[method-assign]
        SessionRunner.execute = in_phase  # type: ignore[method-assign]

    def report(self) -> list[dict[str, Any]]:
        """Every (phase, statement), slowest first."""
        rows = [
            {"phase": phase, "statement": label, "seconds": round(seconds, 3), "count": count}
            for (phase, label), (seconds, count) in self.seconds.items()
        ]
        return sorted(rows, key=lambda r: -r["seconds"])


def child(spec: dict[str, Any]) -> dict[str, Any]:
    if spec["kind"] != "engine":
        return bench.child(spec)
    clock = StatementClock()
    clock.install()
    return {**bench.child(spec), "statement_seconds": clock.report()}


# -- the parent --------------------------------------------------------------------------------------


def prefix(mode: str, case: str) -> str:
    """`lt_full_`, `graph_incr_`, ...: each mode's full refresh and incremental targets."""
    return MODES[mode][0] + ("full_" if case == "full_refresh" else "incr_")


def run_log(database: Path, target_prefix: str, run_id: str) -> dict[str, Any]:
    """The identity counts of a published run, from its row of the run log (NULL under last_touch)."""
    import duckdb

    table = f"{bench.TARGET_SCHEMA}.{target_prefix}rudder_sessions_runs"
    with duckdb.connect(str(database), read_only=True) as conn:
        row = conn.execute(
            f"SELECT {', '.join(IDENTITY_COUNTS)} FROM {table} WHERE run_id = ? AND outcome = 'published'", [run_id]
        ).fetchone()
    if row is None:
        raise RuntimeError(f"run {run_id!r} is not in {table} as published")
    return dict(zip(IDENTITY_COUNTS, row, strict=True))


def run_size(
    events: int, args: argparse.Namespace, env: dict[str, str], database: Path, generated: dict[str, Any]
) -> dict[str, Any]:
    """Both modes' setup and cases on the DuckDB file of this size (generated already)."""

    def engine(mode: str, case: str, run_mode: str, run_id: str) -> dict[str, Any]:
        spec = bench.duckdb_engine_spec(database, prefix(mode, case), run_mode, run_id, identity=MODES[mode][1])
        figures = bench.measured(spec, env, f"duckdb {bench.size_label(events)} {mode} {run_id}", script=__file__)
        return {**figures, **run_log(database, prefix(mode, case), run_id)}

    sources = (bench.SOURCE_TABLE, *bench.LINK_TABLES)
    with bench.history_as_source(bench.duckdb_execute(database), bench.SOURCE_SCHEMA, sources):
        setup = {mode: engine(mode, "incremental", "full_refresh", "history") for mode in MODES}
    day = bench.duckdb_new_day(database, args, prefix("last_touch", "incremental"))
    links = generated["link_rows"]
    day["link_rows"] = {name: links[name] for name in bench.LINK_TABLES}
    day["new_day_link_rows"] = {
        name: links[name] - links[f"{name}{bench.HISTORY_SUFFIX}"] for name in bench.LINK_TABLES
    }

    def every_case(index: int) -> tuple[dict[str, Any], dict[str, Any]]:
        cases = {}
        for mode in facts_cost.rotated(index, MODES):
            cases[f"{mode} full_refresh"] = engine(mode, "full_refresh", "full_refresh", "everything")
            cases[f"{mode} incremental"] = engine(mode, "incremental", "incremental", "new-day")
        return cases, agreement(database, cases)

    return facts_cost.repeated(events, args, database, every_case, ratios, data=day, setup_history_full_refresh=setup)


def ratios(cases: dict[str, Any]) -> dict[str, float]:
    return {
        name: round(cases[f"{a[0]} {a[1]}"]["seconds"] / cases[f"{b[0]} {b[1]}"]["seconds"], 3)
        for name, (a, b) in RATIOS.items()
    }


def agreement(database: Path, cases: dict[str, Any]) -> dict[str, Any]:
    """Each mode's incremental run ends equal to its full refresh (mapping, events, sessions); the
    graph keeps the last touch's events but those whose every id is junk (`identity_exclude`: no
    identifier left, dropped and counted); how many events the graph gives another visitor."""
    import duckdb

    from rudder_sessions.model import table

    schema = bench.TARGET_SCHEMA
    with duckdb.connect(str(database), read_only=True) as conn:

        def one(sql: str) -> int:
            return conn.execute(sql).fetchone()[0]

        def differ(a: str, b: str, step: str) -> int:
            return one(facts_cost.rows_differ_sql(schema, a, b, step, table(step).column_names(5)))

        lt, graph = (f"{schema}.{prefix(mode, 'full_refresh')}dbt_mapped_tracks" for mode in MODES)
        result: dict[str, Any] = {
            f"{mode}_incremental_equals_full_refresh": all(
                differ(prefix(mode, "incremental"), prefix(mode, "full_refresh"), step) == 0 for step in AGREED_STEPS
            )
            for mode in MODES
        }
        only = {
            name: one(f"SELECT COUNT(*) FROM (SELECT event_id FROM {a} EXCEPT ALL SELECT event_id FROM {b}) x")
            for name, a, b in (("last_touch", lt, graph), ("graph", graph, lt))
        }
        junk_only = (
            cases["graph full_refresh"]["dropped"]["no_identifier"]
            - cases["last_touch full_refresh"]["dropped"]["no_identifier"]
        )
        result["graph_events_are_last_touch_events_but_junk_only"] = (
            only["graph"] == 0 and only["last_touch"] == junk_only
        )
        result["events_with_only_junk_ids"] = only["last_touch"]
        result["events_with_another_visitor_in_graph"] = one(
            f"SELECT COUNT(*) FROM {lt} a JOIN {graph} b USING (event_id) WHERE a.dbt_visitor_id <> b.dbt_visitor_id"
        )
    return result


def check_targets(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The target at the largest size: the graph's full refresh at most TARGET_MAX x the last touch's."""
    if not runs:
        return {}
    run = max(runs, key=lambda r: r["events"])
    value = run["ratios"][TARGET_RATIO]
    per_repeat = [r[TARGET_RATIO] for r in run.get("ratios_per_repeat", [])]
    return {
        "events": run["events"],
        TARGET_RATIO: {
            "value": value,
            "max": TARGET_MAX,
            "met": value <= TARGET_MAX,
            **({"met_in_every_repeat": all(v <= TARGET_MAX for v in per_repeat)} if per_repeat else {}),
        },
    }


# -- report ------------------------------------------------------------------------------------------


def _count(value: Any) -> str:
    return "-" if value is None else f"{value:,}"


def _times(count: int) -> str:
    return f" x{count}" if count > 1 else ""


def markdown(result: dict[str, Any]) -> str:
    m = result["machine"]
    repeat = result["settings"]["repeat"]
    loads = [c["load_average_before"] for run in result["runs"] for c in run["cases"].values()]
    lines = [
        f"- Date: {result['date']}. Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB, {m['os']}, "
        f"Python {m['python']}, DuckDB {m['duckdb']}. Load average before the cases: "
        f"{min(loads):.2f} to {max(loads):.2f}.",
        f"- Command: `{result['command']}` ({result['total_seconds'] / 60:.1f} min in all). "
        f"Code: `{result['code']['commit'][:7]}`"
        + (
            f", uncommitted: {', '.join(result['code']['uncommitted_engine_files'])}."
            if result["code"]["uncommitted_engine_files"]
            else "."
        ),
        f"- Raw figures: [`{result['file']}`]({result['file']}).",
        f"- `graph`: {', '.join(f'{k}: {v}' for k, v in GRAPH.items())} (the other graph settings at their "
        "defaults); `last_touch`: the default identity, no link tables read.",
        *(
            [
                f"- Every case ran {repeat} times on the same data, the modes in a rotated order: wall time "
                "is the median run's, with the range; a ratio is the median of the ratios within each repeat, "
                "with their range."
            ]
            if repeat > 1
            else []
        ),
        "",
        "| events | case | last touch | graph | CPU time (last touch → graph) | peak RSS | rows read "
        "| graph / last touch |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for run in result["runs"]:
        for case in CASES:
            lt, graph = (run["cases"][f"{mode} {case}"] for mode in MODES)
            lines.append(
                f"| {bench.size_label(run['events'])} | {case.replace('_', ' ')} | {bench._seconds(lt)} | "
                f"{bench._seconds(graph)} | {lt['cpu_seconds']:.2f} → {graph['cpu_seconds']:.2f} s | "
                f"{lt['peak_rss_mb'] / 1024:.2f} → {graph['peak_rss_mb'] / 1024:.2f} GB | "
                f"{_count(lt['rows_read'])} | {facts_cost._ratio(run, f'{case} graph/last_touch')} |"
            )
    lines += [
        "",
        "| events | new day: events, identifies, aliases | graph full refresh / last touch "
        "| graph incremental / graph full refresh | graph incremental / last-touch incremental "
        "| last-touch incremental / last-touch full refresh |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for run in result["runs"]:
        d = run["data"]
        day = ", ".join(_count(v) for v in (d["new_day_rows"], *d["new_day_link_rows"].values()))
        shares = " | ".join(bench._ratio(run, name, 3) for name in RATIOS)
        lines.append(f"| {bench.size_label(run['events'])} | {day} | {shares} |")
    lines += [
        "",
        "What the graph did (run log of each graph run; visitors as published):",
        "",
        "| events | case | junk ids read as NULL | label-propagation steps | hub ids | identifiers remapped "
        "| visitors merged | visitors: last touch | graph | events with another visitor |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for run in result["runs"]:
        for case in CASES:
            lt, graph = (run["cases"][f"{mode} {case}"] for mode in MODES)
            counts = " | ".join(_count(graph[name]) for name in IDENTITY_COUNTS)
            moved = _count(run["agreement"]["events_with_another_visitor_in_graph"]) if case == "full_refresh" else ""
            lines.append(
                f"| {bench.size_label(run['events'])} | {case.replace('_', ' ')} | {counts} | "
                f"{_count(lt['visitors'])} | {_count(graph['visitors'])} | {moved} |"
            )
    targets = result.get("targets") or {}
    if targets:
        judged = max(result["runs"], key=lambda r: r["events"])
        lines += [
            "",
            f"Target at {bench.size_label(targets['events'])} (DuckDB):",
            "",
            "| target | measured | met |",
            "| --- | ---: | --- |",
            f"| graph full refresh ≤ {TARGET_MAX} x last-touch full refresh | "
            f"{bench._ratio(judged, TARGET_RATIO, 3)} | {bench._met(targets[TARGET_RATIO])} |",
        ]
    lines += [
        "",
        "Where the time goes (the median runs; seconds, last touch → graph):",
        "",
        f"| events | case | {' | '.join(COMPARED_PHASES)} | outside the phases (close) |",
        f"| ---: | --- | {' | '.join('---:' for _ in COMPARED_PHASES)} | ---: |",
    ]
    for run in result["runs"]:
        for case in CASES:
            both = [run["cases"][f"{mode} {case}"] for mode in MODES]
            phases = [" → ".join(f"{c['phase_seconds'].get(p, 0.0):.2f}" for c in both) for p in COMPARED_PHASES]
            close = " → ".join(f"{facts_cost.outside_phases(c):.2f}" for c in both)
            lines.append(
                f"| {bench.size_label(run['events'])} | {case.replace('_', ' ')} | {' | '.join(phases)} | {close} |"
            )
    lines += [
        "",
        f"The graph's slowest statements in `{GRAPH_PHASE}` (seconds, summed over repeats of a statement):",
        "",
    ]
    for run in result["runs"]:
        for case in CASES:
            graph = run["cases"][f"graph {case}"]
            phase = graph["phase_seconds"].get(GRAPH_PHASE, 0.0)
            shown = [s for s in graph.get("statement_seconds", []) if s["phase"] == GRAPH_PHASE][:SHOWN_STATEMENTS]
            listed = ", ".join(f"`{s['statement']}`{_times(s['count'])} {s['seconds']:.2f}" for s in shown)
            lines.append(
                f"- {bench.size_label(run['events'])} {case.replace('_', ' ')} ({GRAPH_PHASE} {phase:.2f} s): {listed}"
            )
    return "\n".join([*lines, *facts_cost.checks_and_phases(result)])


# -- main --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    return bench.engine_benchmark(
        argv,
        script=__file__,
        description=__doc__.splitlines()[0],
        name="identity-cost",
        markdown=markdown,
        run_size=run_size,
        check_targets=check_targets,
        settings={"modes": {name: {"prefix": p, "identity": s} for name, (p, s) in MODES.items()}},
        default_sizes=[10**6, 10**7],
        identity_links=True,
    )


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "_child":
        print(json.dumps(child(json.loads(sys.argv[2])), default=str))
    else:
        sys.exit(main())
