"""Build one Airflow DAG per configured source: plan → five steps → publish, nightly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rudder_sessions.config import SourceConfig
from rudder_sessions.errors import ConfigError
from rudder_sessions.model import MODES, PHASES, PUBLISH, STEPS, target_table_name

DAG_ID_PREFIX = "rudder_sessions__"

DOC_MD = """\
### RudderStack sessions for source `{name}`

Reads `{source_schema}.{source_table}` through connection `{conn_id}` and publishes, in
`{target_schema}`:

| table | one row per |
| --- | --- |
| `{aliases}` | identifier (anonymous or user id) with the visitor it belongs to |
| `{mapped}` | clean event, with its visitor and idle time since the visitor's previous event |
| `{sessions}` | session (a new one after {timeout} minutes of inactivity) |
| `{facts}` | event, with its session and place in it |
| `{flow}` | event, with the {following} events that follow it in its session |

Scheduled runs are **incremental**: `plan` reads the rows whose watermark column
(`{watermark}`) is later than the stored watermark minus {lookback}, cleans and deduplicates them
(dropped rows are counted by reason in `{target_schema}.{prefix}rudder_sessions_runs`), and
`scope` finds the visitors whose output can change and from which session on. The steps write
run-scoped staging tables, `checks` audits them, and `publish` replaces the affected rows of the
five tables, advances the watermark and logs the run in one transaction: readers never see a
half-updated model, and a failed run leaves the previous one in place.

Trigger with `mode` = `full_refresh` to rebuild everything (e.g. after changing the timeout), or
`backfill` with `start`/`end` to recompute the visitors with events in that window; an Airflow
backfill runs each interval as a backfill of its data interval.
"""


def dag_id(source: SourceConfig) -> str:
    return f"{DAG_ID_PREFIX}{source.name}"


def table_assets(source: SourceConfig) -> dict[str, object]:
    """The five published tables as Airflow Assets, so downstream DAGs can be scheduled on them."""
    from airflow.sdk import Asset

    return {
        step: Asset(
            name=f"rudder_sessions.{source.name}.{target_table_name(source, step)}",
            uri=f"rudder-sessions://{source.name}/{source.target_schema}/{target_table_name(source, step)}",
            group="rudder-sessions",
        )
        for step in STEPS
    }


def _timetable(source: SourceConfig):
    from airflow.timetables.interval import CronDataIntervalTimetable

    try:
        timetable = CronDataIntervalTimetable(source.schedule, timezone="UTC")
        timetable.validate()
        return timetable
    except Exception as exc:
        raise ConfigError(
            source.name, "schedule", f"{source.schedule!r} is not a valid cron expression: {exc}"
        ) from None


def _params() -> dict:
    from airflow.sdk import Param

    return {
        "mode": Param(
            "incremental",
            enum=list(MODES),
            title="Mode",
            description="incremental: new rows since the watermark (the nightly default); backfill: recompute "
            "the visitors with events in [start, end); full_refresh: rebuild everything.",
        ),
        "start": Param(None, type=["null", "string"], title="Backfill start", description="ISO date or timestamp, UTC"),
        "end": Param(None, type=["null", "string"], title="Backfill end", description="exclusive; ISO, UTC"),
    }


def build_dag(source: SourceConfig):
    """The DAG of one source. Pure construction: no connection or warehouse access at parse time."""
    from airflow.sdk import DAG, chain

    from rudder_sessions.operators import RudderSessionsPhaseOperator

    names = {step: target_table_name(source, step) for step in STEPS}
    doc = DOC_MD.format(
        name=source.name,
        source_schema=source.source_schema,
        source_table=source.source_table,
        conn_id=source.conn_id,
        target_schema=source.target_schema,
        prefix=source.table_prefix,
        aliases=names["aliases_mapping"],
        mapped=names["mapped_tracks"],
        sessions=names["session_tracks"],
        facts=names["track_facts"],
        flow=names["tracks_flow"],
        timeout=source.timeout_minutes,
        following=source.flow_length - 1,
        watermark=source.watermark_column,
        lookback=source.lookback,
    )
    with DAG(
        dag_id=dag_id(source),
        params=_params(),
        schedule=_timetable(source),
        start_date=datetime(2024, 1, 1, tzinfo=UTC),
        catchup=False,
        max_active_runs=1,
        tags=["rudder-sessions", f"source:{source.name}"],
        doc_md=doc,
        default_args={"retries": 2, "retry_delay": timedelta(minutes=5)},
    ) as dag:
        assets = table_assets(source)
        chain(
            *(
                RudderSessionsPhaseOperator(
                    task_id=phase,
                    source=source,
                    phase=phase,
                    outlets=list(assets.values()) if phase == PUBLISH else [],
                )
                for phase in PHASES
            )
        )
    return dag
