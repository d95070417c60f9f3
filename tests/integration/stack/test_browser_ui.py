"""The Airflow UI in a real browser: Playwright drives Debian's Chromium against a real local Airflow
(tests/stack.py) running the demo DAG, as a user would.

It unpauses the DAG on its page, triggers a full refresh through the trigger form (Mode =
full_refresh), creates a two-day backfill through the trigger dialog's Backfill choice, checks the
run log and the asset events those runs left, then checks what the UI shows for bad triggers: a date
that does not exist, typed into the date picker or into the Configuration JSON, and a backfill-mode
run without dates, whose plan task fails with its one-line message in the task's log.

A screenshot and the page's HTML are written after each step under build/browser-artifacts/<test>/
(with a Playwright trace and the browser console); they are kept when the test fails (the failure
message names the directory), or always with KEEP_BROWSER_ARTIFACTS=1.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import duckdb
import pytest

from conftest import require, require_postgres
from rudder_sessions.assets import table_assets
from rudder_sessions.config import load_config
from sample_data import write_events
from spec_model import compute
from stack import RUN_TIMEOUT, AirflowStack, running_stack, utc
from warehouses import ROOT, DuckDBWarehouse

pytestmark = [pytest.mark.airflow, pytest.mark.stack]

DAG_ID = "rudder_sessions__demo"
CHROMIUM = Path(os.environ.get("RUDDER_SESSIONS_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = ROOT / "build" / "browser-artifacts"
DATA_START = datetime(2026, 1, 1, tzinfo=UTC)  # events fall in [2026-01-01, 2026-01-08)
DATA_DAYS = 7
UI_TIMEOUT_MS = 20_000  # one UI action or expectation (the first page load compiles nothing: assets are built)
# The backfill dialog's date range bounds the runs' logical dates (the start of each nightly 03:00 UTC
# interval), both ends included: the intervals 01-03 03:00 → 01-04 03:00 and 01-04 03:00 → 01-05 03:00.
BACKFILL_FROM, BACKFILL_TO = ("2026/01/03", "00:00"), ("2026/01/05", "00:00")
BAD_DATE = "2026-13-45"
NO_WINDOW = "a backfill needs a start and an end"  # plugins/rudder_sessions/plan.py, check_request


def chromium_missing() -> str | None:
    if importlib.util.find_spec("playwright") is None:
        return "playwright is not installed (the test extra: make install)"
    if not CHROMIUM.exists():
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    return None


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[AirflowStack, Path]]:
    require_postgres()
    require(chromium_missing(), "browser")
    database = tmp_path / "demo.duckdb"
    with duckdb.connect(str(database)) as conn:
        write_events(conn, schema="rudderstack", events=3000, seed=7, days=DATA_DAYS, start=DATA_START)
    with running_stack(tmp_path, database) as airflow:
        yield airflow, database


class Browser:
    """One Chromium page on the stack's UI, recording a screenshot and the HTML after each step."""

    def __init__(self, page: Any, airflow: AirflowStack, artifacts: Path) -> None:
        self.page = page
        self.airflow = airflow
        self.artifacts = artifacts
        self.steps = 0

    def shot(self, name: str) -> None:
        self.steps += 1
        stem = self.artifacts / f"{self.steps:02d}-{name}"
        self.page.screenshot(path=f"{stem}.png", full_page=True)
        stem.with_suffix(".html").write_text(self.page.content())

    def dag_page(self) -> None:
        self.page.goto(f"{self.airflow.url}/dags/{DAG_ID}")
        self.expect(self.page.get_by_role("button", name="Trigger Dag")).to_be_visible()

    def expect(self, locator: Any) -> Any:
        from playwright.sync_api import expect

        return expect(locator)

    # the trigger dialog

    @property
    def dialog(self) -> Any:
        """The trigger dialog (titled `Trigger Dag - <dag>` or `Run Backfill - <dag>`), not a date popover."""
        return self.page.get_by_role("dialog").filter(has=self.title)

    @property
    def title(self) -> Any:
        return self.page.get_by_role("heading", name=re.compile(rf"^(Trigger Dag|Run Backfill) - {DAG_ID}$"))

    def open_trigger(self, choice: str) -> None:
        """Open the DAG's trigger dialog on `choice`: "single" or "backfill" (it reopens on the last one used)."""
        self.dag_page()
        self.page.get_by_role("button", name="Trigger Dag").click()
        self.expect(self.dialog).to_be_visible()
        card = "Trigger a single run of this Dag" if choice == "single" else "Run this Dag for a range of dates"
        self.dialog.get_by_text(card).click()
        title = "Trigger Dag" if choice == "single" else "Run Backfill"
        self.expect(self.title).to_have_text(f"{title} - {DAG_ID}")

    def choose_mode(self, mode: str) -> None:
        self.dialog.get_by_label("Mode", exact=True).click()
        self.page.get_by_role("option", name=re.compile(rf"^{mode}: ")).click()
        self.expect(self.field("Mode")).to_contain_text(f"{mode}: ")

    def field(self, label: str) -> Any:
        """A form field (its label, control and help text) by its label's text."""
        return self.dialog.get_by_role("group").filter(has=self.page.get_by_text(label, exact=True))

    def pick(self, label: str, date: str, time_of_day: str | None = None) -> None:
        """Type into the date picker of field `label` (its popover's Date and Time boxes), then close it."""
        self.field(label).get_by_test_id("datetime-input").click()
        self.page.get_by_placeholder("YYYY/MM/DD").fill(date)
        if time_of_day is not None:
            self.page.get_by_placeholder("HH:mm").fill(time_of_day)

    def close_picker(self) -> None:
        self.title.click()
        self.expect(self.page.get_by_placeholder("YYYY/MM/DD")).to_have_count(0)

    def submit_run(self) -> str:
        """Press Trigger; the UI opens the new run's page: its run id."""
        self.dialog.get_by_role("button", name="Trigger", exact=True).click()
        self.page.wait_for_url(re.compile(rf"/dags/{DAG_ID}/runs/[^/]+$"))
        return unquote(self.page.url.rsplit("/runs/", 1)[1])

    def run_page(self, run_id: str, task_id: str | None = None) -> None:
        url = f"{self.airflow.url}/dags/{DAG_ID}/runs/{quote(run_id, safe='')}"
        self.page.goto(url + (f"/tasks/{task_id}" if task_id else ""))


@contextmanager
def browser(airflow: AirflowStack, name: str) -> Iterator[Browser]:
    """Chromium on a fresh page; on failure the screenshot, HTML, trace and console of the moment are
    saved and the error names where, with the tails of Airflow's logs."""
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import expect, sync_playwright

    artifacts = ARTIFACTS / name
    shutil.rmtree(artifacts, ignore_errors=True)
    artifacts.mkdir(parents=True)
    console: list[str] = []
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        context = chromium.new_context(viewport={"width": 1400, "height": 900}, timezone_id="UTC", locale="en-US")
        context.set_default_timeout(UI_TIMEOUT_MS)
        expect.set_options(timeout=UI_TIMEOUT_MS)
        context.tracing.start(screenshots=True, snapshots=True)
        page = context.new_page()
        page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
        page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
        ui = Browser(page, airflow, artifacts)
        failed = True
        try:
            yield ui
            failed = False
        except (AssertionError, PlaywrightError) as exc:
            try:
                ui.shot("failure")
            except PlaywrightError:
                pass
            tails = "" if "--- " in str(exc) else f"\n{airflow.tails()}"
            raise AssertionError(
                f"{type(exc).__name__}: {exc}\n\nbrowser artifacts (screenshot and HTML per step, trace.zip, "
                f"console.log): {artifacts}\npage: {page.url}{tails}"
            ) from exc
        finally:
            keep = failed or os.environ.get("KEEP_BROWSER_ARTIFACTS") == "1"
            context.tracing.stop(path=str(artifacts / "trace.zip") if keep else None)
            (artifacts / "console.log").write_text("\n".join(console) + "\n")
            context.close()
            chromium.close()
            if not keep:
                shutil.rmtree(artifacts, ignore_errors=True)


def test_trigger_backfill_and_bad_triggers_through_the_ui(stack, request):
    airflow, database = stack
    config = load_config(ROOT / "include" / "sources.yaml").sources["demo"]
    warehouse = DuckDBWarehouse(database, config.source_schema, read_only=True)
    # What the full refresh's note must count: the source's rows, and its events (the SPEC model's)
    source = warehouse.source_rows(config.event_streams)
    events = len(compute(source).tables["mapped_tracks"])
    timings: dict[str, float] = {}
    began = time.monotonic()
    airflow.wait_for_dag(DAG_ID)
    timings["stack up"] = time.monotonic() - began

    with browser(airflow, request.node.name) as ui:
        page = ui.page

        # 1. The DAG's page: new DAGs start paused; the switch next to its name unpauses it (the switch has
        # no accessible name: its test id).
        mark = time.monotonic()
        ui.dag_page()
        ui.expect(page.get_by_text(DAG_ID, exact=True).first).to_be_visible()
        switch = page.get_by_test_id("toggle-pause")
        if switch.get_attribute("data-state") != "checked":
            switch.click()
        ui.expect(switch).to_have_attribute("data-state", "checked")
        airflow.wait_for(
            "the UI's unpause to reach the API",
            lambda: True if not airflow.api("GET", f"/dags/{DAG_ID}")["is_paused"] else None,
            timeout=20,
        )
        ui.shot("dag-page-unpaused")
        timings["page and unpause"] = time.monotonic() - mark

        # 2. A full refresh through the trigger form: Mode = full_refresh.
        mark = time.monotonic()
        ui.open_trigger("single")
        ui.choose_mode("full_refresh")
        ui.shot("trigger-form-full-refresh")
        full_id = ui.submit_run()
        ui.shot("full-refresh-run-page")
        (full,) = airflow.wait_for_runs(DAG_ID, [full_id], timeout=RUN_TIMEOUT)
        assert full["run_type"] == "manual" and full["conf"]["mode"] == "full_refresh", full
        # The run's note, which the scheduler writes as the run ends, says what it did.
        assert full["note"].startswith(f"**full_refresh, published**: {events:,} events changed"), full
        assert f"- rows read {len(source):,}, dropped" in full["note"], full
        assert "published; asset events sent" in full["note"], full
        ui.run_page(full_id)
        ui.expect(page.get_by_text("Success", exact=True).first).to_be_visible()
        ui.expect(page.get_by_text("full_refresh, published").first).to_be_visible()  # the note's first line
        ui.shot("full-refresh-succeeded")
        timings["full refresh"] = time.monotonic() - mark

        # 3. A two-day backfill through the trigger dialog's Backfill choice.
        mark = time.monotonic()
        ui.open_trigger("backfill")
        run_backfill = ui.dialog.get_by_role("button", name="Run Backfill")
        ui.expect(run_backfill).to_be_disabled()  # until both dates are set
        ui.pick("From", *BACKFILL_FROM)
        ui.close_picker()
        ui.pick("To", *BACKFILL_TO)
        ui.close_picker()
        ui.expect(ui.field("From")).to_contain_text("Jan 03, 2026 00:00")
        ui.expect(ui.field("To")).to_contain_text("Jan 05, 2026 00:00")
        ui.expect(ui.dialog.get_by_text("2 runs will be triggered.")).to_be_visible()
        ui.shot("backfill-dialog")
        run_backfill.click()
        ui.expect(page.get_by_text("Backfill in progress")).to_be_visible()
        ui.shot("backfill-in-progress")
        (backfill,) = airflow.api("GET", "/backfills", params={"dag_id": DAG_ID})["backfills"]
        listed = airflow.api("GET", f"/dags/{DAG_ID}/dagRuns", params={"run_type": "backfill", "limit": 10})
        backfill_ids = sorted(run["dag_run_id"] for run in listed["dag_runs"])
        assert len(backfill_ids) == 2, (backfill, listed)
        backfilled = airflow.wait_for_runs(DAG_ID, backfill_ids, timeout=RUN_TIMEOUT)
        intervals = {
            run["dag_run_id"]: (utc(run["data_interval_start"]), utc(run["data_interval_end"])) for run in backfilled
        }
        assert sorted(intervals.values()) == [
            (datetime(2026, 1, 3, 3), datetime(2026, 1, 4, 3)),
            (datetime(2026, 1, 4, 3), datetime(2026, 1, 5, 3)),
        ], intervals
        page.goto(f"{airflow.url}/dags/{DAG_ID}/runs")
        for run_id in backfill_ids:
            ui.expect(page.get_by_role("link", name=run_id)).to_be_visible()
        ui.shot("backfill-runs")
        timings["backfill of two days"] = time.monotonic() - mark

        # 4. What the runs left: their modes in the run log (the file read while no run is active) and one
        # asset event per published table and run, with the run's mode.
        log = warehouse.query(
            "SELECT run_id, mode, requested_mode, window_start, window_end, outcome "
            "FROM rudder_sessions.rudder_sessions_runs ORDER BY finished_at"
        )
        modes = {row["run_id"]: (row["mode"], row["requested_mode"], row["outcome"]) for row in log}
        assert modes == {full_id: ("full_refresh", "full_refresh", "published")} | {
            run_id: ("backfill", "backfill", "published") for run_id in backfill_ids
        }, log
        for row in log:
            if row["mode"] == "backfill":
                assert (row["window_start"], row["window_end"]) == intervals[row["run_id"]], row
        runs = {full_id: "full_refresh"} | dict.fromkeys(backfill_ids, "backfill")
        assets = airflow.api("GET", "/assets", params={"uri_prefix_pattern": f"x-rudder-sessions://{config.name}/"})
        ids = {asset["uri"]: asset["id"] for asset in assets["assets"]}
        for asset in table_assets(config).values():
            assert asset.uri in ids, f"asset {asset.uri} not registered: {sorted(ids)}"
            events = airflow.api("GET", "/assets/events", params={"asset_id": ids[asset.uri], "limit": 100})
            got = {event["source_run_id"]: event["extra"]["mode"] for event in events["asset_events"]}
            assert got == runs and len(events["asset_events"]) == 3, (asset.uri, events)
        page.goto(f"{airflow.url}/assets")
        for asset in table_assets(config).values():
            ui.expect(page.get_by_role("link", name=asset.name)).to_be_visible()
        ui.shot("assets")

        # 5. Bad triggers. (a) A date that does not exist, typed into the Backfill start picker: the picker
        # says so and keeps no value.
        mark = time.monotonic()
        manual_before = airflow.api("GET", f"/dags/{DAG_ID}/dagRuns", params={"run_type": "manual"})["total_entries"]
        ui.open_trigger("single")
        ui.choose_mode("backfill")
        ui.pick("Backfill start", BAD_DATE)
        ui.expect(page.get_by_text("Invalid date format.")).to_be_visible()
        ui.shot("bad-date-in-picker")
        ui.close_picker()
        ui.expect(ui.field("Backfill start")).to_contain_text("Select date and time")

        # (b) The same date in the Configuration JSON: the form sends it and shows the API's refusal (the
        # param's pattern) at the top of the dialog; no run is created.
        ui.dialog.get_by_role("button", name="Advanced Options").click()
        editor = ui.field("Configuration JSON")
        ui.expect(editor).to_contain_text('"mode": "backfill"')
        editor.get_by_role("textbox", name="Editor content").focus()
        page.keyboard.press("ControlOrMeta+a")
        page.keyboard.press("Delete")
        page.keyboard.insert_text(json.dumps({"mode": "backfill", "start": BAD_DATE, "end": None}))
        ui.expect(editor).to_contain_text(BAD_DATE)
        ui.dialog.get_by_role("button", name="Trigger", exact=True).click()
        refusal = ui.dialog.get_by_text(f"Invalid input for param start: '{BAD_DATE}' does not match")
        ui.expect(refusal).to_be_visible()
        ui.expect(ui.dialog.get_by_text("400 Bad Request")).to_be_visible()
        refusal.scroll_into_view_if_needed()
        ui.shot("bad-date-in-conf-refused")
        manual_after = airflow.api("GET", f"/dags/{DAG_ID}/dagRuns", params={"run_type": "manual"})["total_entries"]
        assert manual_after == manual_before, "the refused trigger created a run"

        # (c) Mode backfill without dates: the form lets it through (each field is valid alone); the plan task
        # fails at once (no retry) with its one-line message, shown in the task's log.
        ui.open_trigger("single")
        ui.choose_mode("backfill")
        ui.expect(ui.field("Backfill start")).to_contain_text("Select date and time")
        ui.expect(ui.field("Backfill end")).to_contain_text("Select date and time")
        bad_id = ui.submit_run()

        def failed() -> dict | None:
            run = airflow.api("GET", f"/dags/{DAG_ID}/dagRuns/{quote(bad_id, safe='')}")
            assert run["state"] != "success", f"run {bad_id} without a window succeeded"
            return run if run["state"] == "failed" else None

        bad = airflow.wait_for(f"run {bad_id} to fail", failed, timeout=RUN_TIMEOUT)
        assert bad["conf"] == {"mode": "backfill", "start": None, "end": None}, bad
        plan = airflow.api("GET", f"/dags/{DAG_ID}/dagRuns/{quote(bad_id, safe='')}/taskInstances/plan")
        assert (plan["state"], plan["try_number"]) == ("failed", 1), plan
        assert bad["note"] == f"**failed at plan**: {NO_WINDOW}", bad  # on the run's page, not only in a log
        ui.run_page(bad_id)
        ui.expect(page.get_by_text(NO_WINDOW).first).to_be_visible()
        ui.shot("backfill-without-dates-run-note")
        ui.run_page(bad_id, "plan")
        ui.expect(page.get_by_text(f"ERROR - {NO_WINDOW}").first).to_be_visible()
        ui.shot("backfill-without-dates-plan-log")
        timings["bad triggers"] = time.monotonic() - mark

    timings["total"] = time.monotonic() - began
    print("browser UI timings: " + ", ".join(f"{k} {v:.1f}s" for k, v in timings.items()))
