"""Render the step templates of `sql/` for one source, dialect and run.

Both the Airflow operators (at task start, so the Rendered Template tab shows it) and the CLI
render through `render_phase`: what a local run executes is exactly what the scheduled DAG runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

import jinja2

from rudder_sessions.config import SourceConfig
from rudder_sessions.dialects import Dialect
from rudder_sessions.model import DROP_REASONS, PHASES, STEPS, Tables, published_columns


@dataclass(frozen=True)
class RunInfo:
    """What a rendered statement needs to know about its run (SQL literals, already quoted)."""

    key: str
    run_id_sql: str
    mode_sql: str


def sql_directory() -> Path:
    """The installed templates, or the repository's `sql/` when running from a checkout."""
    try:
        return Path(str(resources.files("rudder_sessions.sql")))
    except ModuleNotFoundError:
        return Path(__file__).resolve().parents[2] / "sql"


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(sql_directory())),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )


def render_phase(phase: str, config: SourceConfig, dialect: Dialect, run: RunInfo) -> str:
    """The SQL of one phase (plan, a step, publish) as it will run."""
    if phase not in PHASES:
        raise ValueError(f"unknown phase {phase!r}; expected one of {', '.join(PHASES)}")
    template = _environment().get_template(f"{phase}.sql")
    return template.render(
        d=dialect,
        t=Tables(config, dialect, run.key),
        cfg=config,
        run=run,
        steps=STEPS,
        columns={step: published_columns(step, config.flow_length) for step in STEPS},
        drop_reasons=DROP_REASONS,
    )
