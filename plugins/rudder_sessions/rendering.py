"""Render the step templates of `sql/` for one source, dialect and run.

Both the Airflow operators (at task start, so the Rendered Template tab shows it) and the CLI
render through `render_phase`: what a local run executes is exactly what the scheduled DAG runs.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2

from rudder_sessions.config import SourceConfig
from rudder_sessions.dialects import Dialect
from rudder_sessions.model import (
    CHECKS,
    COUNTED_COLUMNS,
    DROP_REASONS,
    GRAPH_ITERATIONS,
    IDENTITY_COUNTS,
    PHASES,
    PUBLISH,
    RUN_LOG_COLUMNS,
    STATE_COLUMNS,
    STEPS,
    TABLES,
    WATERMARK_COLUMNS,
    Tables,
    audited_by_key,
    published_columns,
    typed_columns,
)
from rudder_sessions.plan import RunPlan


def sql_directory() -> Path:
    """The templates, shipped in the package as `rudder_sessions.sql` (in a checkout, the editable
    install maps it to the repository's `sql/`)."""
    return Path(str(resources.files("rudder_sessions.sql")))


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(sql_directory())),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )


def render_phase(phase: str, config: SourceConfig, dialect: Dialect, plan: RunPlan) -> str:
    """The SQL of one phase (plan, a step, checks, publish) as it will run."""
    if phase not in PHASES:
        raise ValueError(f"unknown phase {phase!r}; expected one of {', '.join(PHASES)}")
    sql = render_template(f"{phase}.sql", config, dialect, Tables(config, dialect, plan.key), plan=plan)
    if phase in (CHECKS, PUBLISH):  # the checks only read; publish.sql sets its own, after BEGIN
        return sql
    # A full refresh on DuckDB publishes its staged step tables by renaming them; everything else
    # a phase before publish writes is dropped when the run ends.
    settings = dialect.staging_storage(kept=dialect.publish_by_rename and plan.full and phase in STEPS)
    return f"{settings}\n{sql}" if settings else sql


def render_template(name: str, config: SourceConfig, dialect: Dialect, tables: Tables, **extra: Any) -> str:
    return (
        _environment()
        .get_template(name)
        .render(
            d=dialect,
            t=tables,
            cfg=config,
            **extra,
            steps=STEPS,
            tables=TABLES,
            audited=audited_by_key(),
            columns={step: published_columns(step, config.shape) for step in STEPS},
            target_columns={step: typed_columns(step, config.shape) for step in STEPS},
            state_columns=STATE_COLUMNS,
            watermark_columns=WATERMARK_COLUMNS,
            counted_columns=COUNTED_COLUMNS,
            run_log_columns=RUN_LOG_COLUMNS,
            drop_reasons=DROP_REASONS,
            identity_counts=IDENTITY_COUNTS,
            graph_iterations=GRAPH_ITERATIONS,
            settings_json=json.dumps(config.model_settings(), sort_keys=True),  # stored by publish
        )
    )
