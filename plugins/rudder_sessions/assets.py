"""The published tables as Airflow Assets: declared by the DAG factory on the publish task, and
given each run's metadata by the operator. Its own module, so neither imports the other."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rudder_sessions.model import STEPS, target_table_name

if TYPE_CHECKING:
    from rudder_sessions.config import SourceConfig

ASSET_GROUP = "rudder-sessions"


def table_assets(source: SourceConfig) -> dict[str, object]:
    """The five published tables as Airflow Assets, so downstream DAGs can be scheduled on them."""
    from airflow.sdk import Asset

    return {
        step: Asset(
            name=f"rudder_sessions.{source.name}.{target_table_name(source, step)}",
            uri=f"x-rudder-sessions://{source.name}/{source.target_schema}/{target_table_name(source, step)}",
            group=ASSET_GROUP,
        )
        for step in STEPS
    }
