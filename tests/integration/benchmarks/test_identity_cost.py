"""`benchmarks/identity_cost.py` end to end at a small size: both identity modes run both cases on
the generated data with identity links, the graph's run-log counts are there and sane, and the
harness's checks hold. Timings are recorded, never asserted."""

from __future__ import annotations

from small_runs import run_small

MODES = ("last_touch", "graph")
CASES = ("full_refresh", "incremental")


def test_identity_cost_runs_both_modes_and_counts_what_the_graph_did(tmp_path):
    result, report = run_small("identity_cost.py", tmp_path)
    (run,) = result["runs"]
    assert set(run["cases"]) == {f"{mode} {case}" for mode in MODES for case in CASES}
    assert set(run["setup_history_full_refresh"]) == set(MODES)
    agreement = run["agreement"]
    assert agreement["last_touch_incremental_equals_full_refresh"], agreement
    assert agreement["graph_incremental_equals_full_refresh"], agreement
    assert agreement["graph_events_are_last_touch_events_but_junk_only"], agreement
    assert agreement["events_with_another_visitor_in_graph"] > 0  # renamed users, server-side identifies

    day = run["data"]
    assert day["new_day_rows"] > 0
    assert all(day["new_day_link_rows"][t] > 0 for t in ("identifies", "aliases")), day
    assert all(0 < day["new_day_link_rows"][t] < day["link_rows"][t] for t in ("identifies", "aliases")), day

    for case in CASES:
        last_touch, graph = (run["cases"][f"{mode} {case}"] for mode in MODES)
        # the last touch records no identity counts; the graph records what it did
        assert all(last_touch[name] is None for name in ("identity_iterations", "identity_hub_ids")), case
        assert 1 <= graph["identity_iterations"] <= 100, case
        assert graph["identity_hub_ids"] > 0 and graph["identity_excluded"] > 0, case  # kiosks, junk ids
        # the graph stitches renamed users and people identified server-side: fewer visitors
        assert 0 < graph["visitors"] < last_touch["visitors"], case
        assert graph["rows_read"] == last_touch["rows_read"] > 0, case
        assert graph["phase_seconds"]["aliases_mapping"] > 0, case
        statements = {s["statement"]: s for s in graph["statement_seconds"] if s["phase"] == "aliases_mapping"}
        assert statements["CREATE TABLE graph_step"]["count"] == graph["identity_iterations"], case
        assert len(graph["repeat_seconds"]) == 2, case
    full, incremental = (run["cases"][f"graph {case}"] for case in CASES)
    assert full["identity_remapped"] == full["identity_merged"] == 0  # nothing published to remap
    assert incremental["identity_remapped"] >= incremental["identity_merged"] >= 0
    assert incremental["rows_read"] < full["rows_read"]
    assert len(run["ratios_per_repeat"]) == 2
    assert set(run["ratios"]) == {
        "full_refresh graph/last_touch",
        "graph incremental/full_refresh",
        "incremental graph/last_touch",
        "last_touch incremental/full_refresh",
    }
    assert "met_in_every_repeat" in result["targets"]["full_refresh graph/last_touch"]
    assert "label-propagation steps" in report
