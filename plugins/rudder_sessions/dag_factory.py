"""Build one Airflow DAG per configured source: plan → the modelling steps → publish, nightly."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

from rudder_sessions.assets import ASSET_GROUP, table_assets
from rudder_sessions.config import LoadedConfig, SourceConfig, load_config
from rudder_sessions.errors import ConfigError
from rudder_sessions.model import MODES, PHASES, PUBLISH, STEPS, TABLES, target_table_name
from rudder_sessions.model import table as model_table
from rudder_sessions.settings import BY_NAME, FORM_SETTINGS

DAG_ID_PREFIX = "rudder_sessions__"

DOC_MD = """\
### RudderStack sessions for source `{name}`

Reads {event_tables} in `{source_schema}` through connection `{conn_id}` (one event stream) and
publishes, in
`{target_schema}`:

{tables}

Scheduled runs are **incremental**: `plan` reads the rows whose watermark column
(`{watermark}`) is later than their table's stored watermark minus {lookback}, cleans and deduplicates them
(dropped rows are counted by reason in `{target_schema}.{prefix}rudder_sessions_runs`), and
`scope` finds the visitors whose output can change and from which session on. The steps write
run-scoped staging tables, `checks` audits them, and `publish` replaces the affected rows of the
published tables, advances the watermarks and logs the run in one transaction: readers never see a
half-updated model, and a failed run leaves the previous one in place.

Trigger with `mode` = `full_refresh` to rebuild everything (a changed timeout, flow length,
event table, session-facts option or watermark column rebuilds on its own), or `backfill` with `start`/`end` to
recompute the visitors with events in that window; an Airflow backfill runs each interval as a
backfill of its data interval (the form's mode and window do not apply to it).

New DAGs start paused. **Unpausing schedules the latest nightly interval at once** (no catch-up;
the UI's Trigger button unpauses a paused DAG too): that scheduled run comes first, as a full
refresh while nothing is published, and a run you triggered follows it (one run at a time).
"""


def tables_doc(source: SourceConfig) -> str:
    """The DAG docs' table of the published tables, from their declarations (`model.TABLES`)."""
    lines = ["| table | one row per | holds |", "| --- | --- | --- |"]
    for table in TABLES:
        about = table.describe(source.timeout_minutes, source.flow_length)
        lines.append(f"| `{target_table_name(source, table.step)}` | {table.grain} | {about} |")
    return "\n".join(lines)


def dag_id(source: SourceConfig) -> str:
    return f"{DAG_ID_PREFIX}{source.name}"


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


# ISO 8601 date or timestamp, as the form's date picker and `datetime.isoformat()` write them,
# with months 01-12, the days each month can have (29 February in any year: the plan task refuses
# it in a common year), hours 00-23 and minutes and seconds 00-59: the form refuses 2026-13-45.
_MONTH_DAY = r"((0[13578]|1[02])-(0[1-9]|[12]\d|3[01])|(0[469]|11)-(0[1-9]|[12]\d|30)|02-(0[1-9]|1\d|2\d))"
_TIME = r"([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,6})?)?"
_ZONE = r"(Z|[+-]([01]\d|2[0-3]):?[0-5]\d)"
ISO_TIMESTAMP = rf"^\d{{4}}-{_MONTH_DAY}([T ]{_TIME}{_ZONE}?)?$"


def _run_params() -> dict:
    """Mode and window; the form validates each field, the plan task the combination (end after start...)."""
    from airflow.sdk import Param

    window = (
        "Only for mode backfill triggered here: visitors with events in [start, end) are recomputed "
        "(ignored by other modes, and by Airflow backfills, which recompute each interval's data "
        "interval). ISO timestamp, UTC "
    )
    return {
        "mode": Param(
            "incremental",
            enum=list(MODES),
            values_display={
                "incremental": "incremental: new rows since the watermark (the nightly run)",
                "backfill": "backfill: recompute the visitors with events in [start, end)",
                "full_refresh": "full_refresh: rebuild every table",
            },
            title="Mode",
            description="What this run recomputes. Scheduled runs are incremental; an Airflow backfill runs "
            "each interval in backfill mode over its data interval.",
        ),
        "start": Param(
            None,
            type=["null", "string"],
            format="date-time",
            pattern=ISO_TIMESTAMP,
            title="Backfill start",
            description=window + "(a plain date is midnight).",
        ),
        "end": Param(
            None,
            type=["null", "string"],
            format="date-time",
            pattern=ISO_TIMESTAMP,
            title="Backfill end",
            description=window + "(exclusive; must be after start).",
        ),
    }


PHASE_TITLES = {
    "plan": "plan the run",
    "scope": "find what changes",
    "checks": "audit the staged tables",
    "publish": "publish",
    **{step: step.replace("_", " ") for step in STEPS},
}


def phase_doc(source: SourceConfig | None, phase: str) -> str:
    """A task's docs: what it does and, for a step, the table it builds."""
    if phase in STEPS:
        table = model_table(phase)
        name = f"`{source.target_schema}.{target_table_name(source, phase)}`" if source else f"`dbt_{phase}`"
        return (
            f"Builds the run's staging copy of {name} (one row per {table.grain}) from `sql/{phase}.sql`; "
            "`publish` puts it in place. The Rendered Template tab shows the exact SQL."
        )
    return {
        "plan": "Fixes the run: mode (a requested incremental becomes a full refresh when nothing is published "
        "or a model-shaping setting changed, and says why), window and state version; reads and cleans the "
        "source rows of the window, counting the dropped ones.",
        "scope": "Finds the visitors whose tables can change and the time each one is rewritten from.",
        "checks": "Audits the staged tables (keys unique, every event once, flows follow the facts); "
        "a failure stops the run before anything is published.",
        "publish": "Replaces the affected rows of the published tables, advances the watermarks and logs the run, "
        "in one transaction; then drops the run's staging tables. The run summary is in its log.",
    }[phase]


def _chain_phases(source: SourceConfig | None, publish_outlets: list) -> None:
    """plan → aliases_mapping → scope → the four other steps → checks → publish, inside the current DAG."""
    from airflow.sdk import chain

    from rudder_sessions.operators import RudderSessionsPhaseOperator

    chain(
        *(
            RudderSessionsPhaseOperator(
                task_id=phase,
                task_display_name=f"{number}. {PHASE_TITLES[phase]}",
                doc_md=phase_doc(source, phase),
                source=source,
                phase=phase,
                outlets=publish_outlets if phase == PUBLISH else [],
            )
            for number, phase in enumerate(PHASES, start=1)
        )
    )


def _task_defaults(source: SourceConfig) -> dict:
    """Retries for hiccups (a dropped connection, a DuckDB file another process holds), and the
    source's pool: a one-slot pool shared by the sources on one DuckDB file makes their tasks take
    turns instead of colliding on the file's lock."""
    defaults: dict = {"retries": 2, "retry_delay": timedelta(minutes=5)}
    if source.pool:
        defaults["pool"] = source.pool
    return defaults


def build_dag(source: SourceConfig):
    """The DAG of one source. Pure construction: no connection or warehouse access at parse time."""
    from airflow.sdk import DAG

    doc = DOC_MD.format(
        name=source.name,
        source_schema=source.source_schema,
        event_tables=", ".join(f"`{et.table}`" for et in source.event_streams),
        conn_id=source.conn_id,
        target_schema=source.target_schema,
        prefix=source.table_prefix,
        tables=tables_doc(source),
        watermark=source.watermark_column,
        lookback=source.lookback,
    )
    if source.identity == "graph":
        links = ", ".join(f"`{link.table}`" for _, link in source.link_streams) or "the events alone"
        doc += (
            f"\nVisitors come from the identity graph over the events and {links}: every identifier "
            'they link is one visitor (README "Identity graph").\n'
        )
    if source.pool:
        doc += (
            f"\nEvery task runs in the Airflow pool `{source.pool}`: the sources sharing it take turns "
            "(one slot serialises the sources on one DuckDB file).\n"
        )
    with DAG(
        dag_id=dag_id(source),
        params=_run_params(),
        schedule=_timetable(source),
        start_date=datetime(2024, 1, 1, tzinfo=UTC),
        catchup=False,
        max_active_runs=1,
        tags=["rudder-sessions", f"source:{source.name}"],
        doc_md=doc,
        description=f"RudderStack sessions: {source.source_schema}.{'+'.join(t.table for t in source.event_streams)} → "
        f"{source.target_schema} ({source.schedule} UTC)",
        default_args=_task_defaults(source),
    ) as dag:
        _chain_phases(source, list(table_assets(source).values()))
    return dag


def config_problems(path: str | os.PathLike[str] | None = None) -> dict[str, str]:
    """What keeps each source of the sources file from becoming a DAG: name → one-line message.

    Checked without building DAGs, so the file that reports them defines none of its own.
    """
    try:
        config = load_config(path)
    except ConfigError as exc:
        return {exc.source: str(exc)}
    return {name: str(error) for name, error in _source_problems(config).items()}


def _source_problems(config: LoadedConfig) -> dict[str, ConfigError]:
    """The entries' own errors, and the schedules Airflow cannot read."""
    problems = dict(config.errors)
    for source in config.sources.values():
        try:
            _timetable(source)
        except ConfigError as exc:
            problems[source.name] = exc
    return problems


def build_dags(path: str | os.PathLike[str] | None = None) -> dict[str, object]:
    """One DAG per valid source, by dag_id, from one read of the sources file. Broken sources are
    left out, not fatal: a separate DAG file (`rudder_sessions_config_check.py`) reports them as its
    import error, so one typo never hides the other sources' DAGs."""
    try:
        config = load_config(path)
    except ConfigError:
        return {}
    problems = _source_problems(config)
    return {dag_id(source): build_dag(source) for source in config.sources.values() if source.name not in problems}


ADHOC_DAG_ID = f"{DAG_ID_PREFIX}adhoc"
ADHOC_ASSETS = "rudder_sessions.adhoc"

ADHOC_DOC_MD = """\
### Run the session model for a schema given at trigger time

For onboarding and one-off runs: name an existing Airflow connection, the schema holding the
RudderStack `tracks` table and the target schema; the run publishes the same tables and
run log as a configured source's DAG. Its state is kept under the source name (by default the
source schema in lower case), so a later `sources.yaml` entry with that name continues
incrementally from where the ad-hoc runs left off. Table Assets are emitted through the asset
alias `rudder_sessions.adhoc`.
"""


def _adhoc_params() -> dict:
    from airflow.sdk import Param

    return {
        **{name: BY_NAME[name].param() for name in FORM_SETTINGS},
        "name": Param(
            None,
            type=["null", "string"],
            pattern=r"^[a-z][a-z0-9_]{0,62}$",
            title="Source name",
            description="Key of the run state; empty: the source schema in lower case.",
        ),
        **_run_params(),
    }


def build_adhoc_dag():
    """One manual DAG whose source comes from the trigger form; validated when the run starts."""
    from airflow.sdk import DAG, AssetAlias

    with DAG(
        dag_id=ADHOC_DAG_ID,
        params=_adhoc_params(),
        schedule=None,
        start_date=datetime(2024, 1, 1, tzinfo=UTC),
        catchup=False,
        max_active_runs=1,
        tags=["rudder-sessions", "ad-hoc"],
        doc_md=ADHOC_DOC_MD,
        description="RudderStack sessions for a schema named in the trigger form (onboarding, one-off runs)",
        default_args={"retries": 0},
    ) as dag:
        _chain_phases(None, [AssetAlias(ADHOC_ASSETS, group=ASSET_GROUP)])
    return dag
