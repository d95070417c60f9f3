"""The published tables as Airflow Assets: declared by the DAG factory on the publish task, and
given each run's metadata by the operator. Its own module, so neither imports the other."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rudder_sessions.model import TABLES, target_table_name

if TYPE_CHECKING:
    from rudder_sessions.config import SourceConfig

ASSET_GROUP = "rudder-sessions"


def table_assets(source: SourceConfig) -> dict[str, object]:
    """The published tables as Airflow Assets, so downstream DAGs can be scheduled on them.
    Each carries what the table is in its extra (the asset page shows it): description, grain,
    key and columns."""
    from airflow.sdk import Asset

    assets = {}
    for table in TABLES:
        name = target_table_name(source, table.step)
        about = table.describe(source.timeout_minutes, source.flow_length)
        assets[table.step] = Asset(
            name=f"rudder_sessions.{source.name}.{name}",
            uri=f"x-rudder-sessions://{source.name}/{source.target_schema}/{name}",
            group=ASSET_GROUP,
            extra={
                "description": f"{source.target_schema}.{name}: one row per {table.grain}, {about} "
                f"(rudder-sessions source {source.name!r})",
                "table": f"{source.target_schema}.{name}",
                "grain": table.grain,
                "key": list(table.key),
                "columns": [{"name": c, "type": kind} for c, kind in table.typed_columns(source.shape)],
            },
        )
    return assets
