"""Planning a run: the source checked, our own tables brought up to this version's columns, the
staging tables of dead runs dropped, and the run's mode and window fixed from the request and
the stored state (a change of a model-shaping setting turns it into a full refresh)."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from rudder_sessions.config import SourceConfig
from rudder_sessions.errors import PhaseFailed, SettingsChanged, SourceError, TargetTaken, WarehouseBusy
from rudder_sessions.model import (
    RUN_LOG_COLUMNS,
    SOURCE_COLUMNS,
    STATE_COLUMNS,
    STEPS,
    TABLES,
    Tables,
    run_key,
    typed_columns,
)
from rudder_sessions.plan import BACKFILL, FULL_REFRESH, INCREMENTAL, RunPlan, check_request
from rudder_sessions.run_log import RunLog, settings_changes
from rudder_sessions.sql_session import SqlSession
from rudder_sessions.timestamps import naive_utc

log = logging.getLogger(__name__)

# Type names of exact or approximate numbers in information_schema, on every supported warehouse.
NUMERIC_TYPE = re.compile(r"int|numeric|decimal|number|float|double|real", re.IGNORECASE)


# How the model can read a source column, by its information_schema type name on the supported
# warehouses. Ids and event names are text; integers (Snowflake reports every one as NUMBER) and
# UUIDs have one exact text each, so they are read as text. Timestamps are any timestamp type, a
# DATETIME or a DATE (midnight), all compared with the run's timestamps as they are, except on
# BigQuery, which compares a TIMESTAMP with nothing else.
TEXT_TYPE = re.compile(r"char|text|string", re.IGNORECASE)
AS_TEXT_TYPE = re.compile(r"\A(u?(tiny|small|big|huge)?int(eger)?|int(2|4|8|64)|number|uuid|citext)\Z", re.IGNORECASE)
TIMESTAMP_TYPE = re.compile(r"\A(timestamp\w*( with(out)? time zone)?|datetime|date)\Z", re.IGNORECASE)
ONLY_TIMESTAMP = {"bigquery": re.compile(r"\Atimestamp\Z", re.IGNORECASE)}


class SourceColumns(NamedTuple):
    aware: tuple[str, ...]  # "table.column" timestamps with a time zone
    absent: tuple[str, ...]  # "table.column" carried columns the table lacks
    as_text: tuple[str, ...] = ()  # "table.column" ids or event names of an integer, UUID or citext type


# A staging table of a run still marked running is left alone this long: the run may be alive.
STALE_STAGE_AGE = timedelta(hours=12)


class Planner:
    def __init__(self, session: SqlSession, run_log: RunLog) -> None:
        self.session = session
        self.run_log = run_log

    def check_source(self) -> SourceColumns:
        """Fail with a message naming what is missing, before any SQL touches the source; return
        the timestamp columns that carry a time zone and the carried columns a table lacks."""
        cfg, d = self.session.config, self.session.dialect
        aware, absent = [], []
        present: set[str] = set()
        wrong: list[str] = []
        as_text: list[str] = []
        for et in cfg.event_streams:
            types = self.session.column_types(cfg.source_schema, et.table)
            where = f"source table {cfg.source_schema}.{et.table} (connection {cfg.conn_id!r})"
            if not types:
                raise SourceError(f"{where} does not exist")
            own = () if et.event_name is not None else (str(et.event_column),)
            needed = dict.fromkeys((*SOURCE_COLUMNS, *own, cfg.watermark_column))
            missing = [c for c in needed if c.lower() not in types]
            if missing:
                raise SourceError(f"{where} has no column(s): {', '.join(missing)}")
            timestamps = dict.fromkeys(("timestamp", "received_at", cfg.watermark_column))
            texts = ("id", "anonymous_id", "user_id", *own)
            wrong += self._check_types(where, et.table, types, texts, tuple(timestamps), as_text)
            aware += [f"{et.table}.{c}" for c in timestamps if d.is_time_zone_aware(types[c.lower()])]
            for column, kind in cfg.carried_columns:
                if column.lower() not in types:
                    absent.append(f"{et.table}.{column}")
                    continue
                present.add(column)
                if kind == "numeric" and not NUMERIC_TYPE.search(types[column.lower()]):
                    raise SourceError(
                        f"{where}: session_sum_columns sums {column}, which is {types[column.lower()]}, not a number"
                    )
        for kind, link in cfg.link_streams:
            aware += self._check_link_table(kind, link.table, wrong, as_text)
        if wrong:
            raise SourceError("; ".join(wrong))
        nowhere = [column for column, _ in cfg.carried_columns if column not in present]
        if nowhere:
            tables = ", ".join(et.table for et in cfg.event_streams)
            raise SourceError(
                f"no event table of source {cfg.name!r} ({tables}) has the column(s) {', '.join(nowhere)} "
                "that the session facts read (session_first_columns, session_sum_columns)"
            )
        if absent:
            log.warning(
                "event tables without a column the session facts read (NULL for their rows): %s", ", ".join(absent)
            )
        return SourceColumns(tuple(aware), tuple(absent), tuple(as_text))

    def _check_types(
        self,
        where: str,
        table: str,
        types: dict[str, str],
        texts: tuple[str, ...],
        timestamps: tuple[str, ...],
        as_text: list[str],
    ) -> list[str]:
        """A table's ids and event name must be text and its times timestamps, or a step fails far
        from the cause (or only an incremental run's publish does). Returns its problem, naming
        each column, its type and the expected one (none: []); adds the columns read as text
        ("table.column") to `as_text`."""
        cfg, d = self.session.config, self.session.dialect
        timestamp_type = ONLY_TIMESTAMP.get(d.name, TIMESTAMP_TYPE)
        problems, cast = [], []
        for column in dict.fromkeys(texts):
            found = types[column.lower()]
            if AS_TEXT_TYPE.match(found):
                as_text.append(f"{table}.{column}")
                cast.append(f"{column} ({found})")
            elif not TEXT_TYPE.search(found):
                problems.append(
                    f"{column} is {found}, expected {d.text_type} (integer, UUID and citext types are read as text)"
                )
        for column in timestamps:
            found = types[column.lower()]
            if not timestamp_type.match(found):
                name = f"{column} (the watermark column)" if column == cfg.watermark_column != "received_at" else column
                problems.append(f"{name} is {found}, expected {d.timestamp_type}")
        if cast and not problems:
            log.warning("%s: %s read as text, expected %s (an exact cast)", where, ", ".join(cast), d.text_type)
        return [f"{where} has columns of the wrong type: {'; '.join(problems)}"] if problems else []

    def refuse_other_owner(self, tables: Tables) -> None:
        """The published tables belong to one source: a run of another source on the same target
        schema and prefix would mix its events into them (and its state row into theirs)."""
        cfg = self.session.config
        others = self.run_log.other_sources(tables)
        if others:
            raise TargetTaken(
                f"source {cfg.name!r}: {cfg.target_schema}.{cfg.table_prefix}dbt_* (connection {cfg.conn_id!r}) "
                f"belong to source {others[0]!r}; give this source its own target_schema or table_prefix "
                f"(or, if it is {others[0]!r} renamed, keep that name)"
            )

    def _check_link_table(self, kind: str, table: str, wrong: list[str], as_text: list[str]) -> list[str]:
        """A link table of the identity graph has its ids, timestamp and watermark column, of the
        types the model reads (problems added to `wrong`); return its time-zone-aware timestamp
        columns ("table.column")."""
        cfg, d = self.session.config, self.session.dialect
        types = self.session.column_types(cfg.source_schema, table)
        setting = f"{kind}_table"
        where = f"{setting} {cfg.source_schema}.{table} (connection {cfg.conn_id!r})"
        if not types:
            raise SourceError(f"{where} does not exist")
        ids = ("previous_id", "user_id") if kind == "aliases" else ("anonymous_id", "user_id")
        needed = dict.fromkeys(("id", *ids, "timestamp", cfg.watermark_column))
        missing = [c for c in needed if c.lower() not in types]
        if missing:
            raise SourceError(f"{where} has no column(s): {', '.join(missing)}")
        timestamps = dict.fromkeys(("timestamp", cfg.watermark_column))
        wrong += self._check_types(where, table, types, ("id", *ids), tuple(timestamps), as_text)
        return [f"{table}.{c}" for c in timestamps if d.is_time_zone_aware(types[c.lower()])]

    def plan(
        self,
        run_id: str,
        mode: str = INCREMENTAL,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> RunPlan:
        """Fix the run's mode and window from the request and the stored state."""
        start, end = check_request(mode, start, end)
        source_columns = self.check_source()
        config = self.session.config
        tables = self.session.tables(run_key(run_id))
        self.refuse_other_owner(tables)
        self.run_log.create(tables)
        columns = self.session.schema_columns()
        self.add_missing_columns(tables.state_name, STATE_COLUMNS, columns)
        self.add_missing_columns(tables.runs_name, RUN_LOG_COLUMNS, columns)
        targets_exist = all(tables.target_name(step).lower() in columns for step in STEPS)
        if self.run_log.published(run_id):
            return RunPlan(run_id, mode, mode, noop=True, reason="this run was already published")
        watermark, version, stored = self.run_log.state(tables)
        stored_watermarks = self.run_log.watermarks(tables)
        retired, retyped = carried_changes(stored, config)
        for carrier in (t for t in TABLES if t.carries):
            self.drop_retyped_columns(tables.target_name(carrier.step), retyped, columns)
        for step in STEPS:
            self.add_missing_columns(tables.target_name(step), typed_columns(step, config.shape), columns)
        drop_dead_stages(self.session, self.run_log, tables, version, columns)

        effective, reason = mode, ""
        changed = settings_changes(stored, config.model_settings())
        if mode != FULL_REFRESH and (version == 0 or not targets_exist):
            effective, reason = FULL_REFRESH, "nothing published yet"
        elif mode != FULL_REFRESH and changed:
            if mode == BACKFILL:
                raise SettingsChanged(
                    f"backfill of source {config.name!r} refused: {'; '.join(changed)} since the model was "
                    "published, and a backfill rewrites only its window. Run a full refresh (mode full_refresh) first"
                )
            effective, reason = FULL_REFRESH, "; ".join(changed)
        elif mode == INCREMENTAL and watermark is None:
            effective, reason = FULL_REFRESH, "no watermark stored yet"
        # Each event table's watermark; one the state does not name yet (published before this version
        # kept one watermark) has the source's.
        watermarks = tuple((table, stored_watermarks.get(table, watermark)) for table in config.watermarked_tables)
        windows: tuple[tuple[str, datetime | None], ...] = ()
        if effective == INCREMENTAL:
            start, end = watermark - config.lookback_delta, None
            windows = tuple((table, at - config.lookback_delta if at else None) for table, at in watermarks)
        elif effective == FULL_REFRESH:
            start, end, watermarks = None, None, ()
        plan = RunPlan(
            run_id=run_id,
            mode=effective,
            requested_mode=mode,
            window_start=start,
            window_end=end,
            watermark_before=watermark,
            state_version=version,
            reason=reason,
            aware_columns=source_columns.aware,
            absent_columns=source_columns.absent,
            text_columns=source_columns.as_text,
            watermarks=watermarks,
            windows=windows,
            retired_columns=retired,
        )
        # The run is in the log before it writes a staging table: another run's plan tells its
        # stages from those of a dead run by this row.
        self.run_log.start(plan)
        return plan

    def drop_retyped_columns(self, table: str, retyped: tuple[str, ...], columns: dict[str, set[str]]) -> None:
        """A carried column that moved between session_first_columns (text) and session_sum_columns
        (a number) changes type: dropped here, it is added back with the new type below, and the run
        is a full refresh (its settings changed) that fills it."""
        have = columns.get(table.lower()) or set()
        drop = [c for c in retyped if c.lower() in have]
        if drop:
            log.info("dropping columns %s of %s: their type changes", ", ".join(drop), table)
            d = self.session.dialect
            target = d.table(self.session.config.target_schema, table)
            self.session.execute([d.drop_column(target, c) for c in drop], "upgrade")
            have.difference_update(c.lower() for c in drop)

    def add_missing_columns(
        self, table: str, wanted: tuple[tuple[str, str], ...], columns: dict[str, set[str]]
    ) -> None:
        """Columns an upgrade of the model adds, added to an existing table in place."""
        have = columns.get(table.lower())
        if not have:
            return
        missing = [(name, kind) for name, kind in wanted if name.lower() not in have]
        if missing:
            log.info("adding columns %s to %s", ", ".join(n for n, _ in missing), table)
            d, config = self.session.dialect, self.session.config
            target = d.table(config.target_schema, table)
            statements = [d.add_column(target, name, kind) for name, kind in missing]
            if ("event_table", "text") in missing and not config.event_tables:
                # Published before several event tables: every row came from the one source table.
                statements.append(f"UPDATE {target} SET event_table = {d.literal(config.source_table)} WHERE TRUE")
            try:
                self.session.execute(statements, "upgrade")
            except WarehouseBusy:
                raise
            except PhaseFailed:
                # Another run's upgrade may have added them since the columns were read (a dialect
                # without ADD COLUMN IF NOT EXISTS refuses the second): done if they are all there.
                self.session.end_failed_transaction()
                now = self.session.columns(config.target_schema, table)
                if any(name.lower() not in now for name, _ in missing):
                    raise
                added = ", ".join(n for n, _ in missing)
                log.info("columns %s of %s were added by another run meanwhile", added, table)


def carried_changes(stored: dict | None, config: SourceConfig) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The carried columns of the published model (its stored settings) that these settings no
    longer read, and those that change type (first-touch text <-> summed number)."""
    stored = stored or {}
    old_first = set(stored.get("session_first_columns") or ())
    old_sum = set(stored.get("session_sum_columns") or ())
    first, summed = set(config.session_first_columns), set(config.session_sum_columns)
    retired = tuple(sorted((old_first | old_sum) - (first | summed)))
    retyped = tuple(sorted((old_first & summed) | (old_sum & first)))
    return retired, retyped


def drop_dead_stages(
    session: SqlSession, run_log: RunLog, tables: Tables, version: int, existing: Iterable[str] | None = None
) -> None:
    """Staging tables of this source's runs that can no longer publish: runs the log shows
    ended, runs planned on an older state version than `version`, runs marked running for
    longer than STALE_STAGE_AGE (killed), and tables no logged run owns. A run in flight
    (another CLI run, an overlapping backfill) keeps its tables: if it can no longer
    publish, its claim refuses it with a clear message, and the next plan drops them."""
    keys: dict[str, list[str]] = {}
    for name in session.target_schema_tables() if existing is None else existing:
        key = tables.stage_key(name)
        if key is not None and key != tables.key:
            keys.setdefault(key, []).append(name)
    if not keys:
        return
    alive = set()
    oldest = naive_utc(datetime.now(UTC)) - STALE_STAGE_AGE
    for run_id, outcome, planned_on, started_at in run_log.runs_of_source(tables):
        if outcome == "running" and planned_on is not None and planned_on >= version:
            if started_at is not None and started_at > oldest:
                alive.add(run_key(run_id))
    dead = sorted(n for key, names in keys.items() if key not in alive for n in names)
    if dead:
        log.info("dropping %d staging tables of ended runs: %s", len(dead), ", ".join(dead))
        d = session.dialect
        session.execute([d.drop_table(d.table(session.config.target_schema, n)) for n in dead], "cleanup")


def drop_stage_statements(session: SqlSession, key: str) -> list[str]:
    """DROPs of every staging table a run with this key may have created."""
    tables = session.tables(key)
    return [session.dialect.drop_table(tables.stage(n)) for n in tables.all_stages()]
