"""Airflow DAGs: one rudder-sessions DAG per valid source of the sources file (see rudder_sessions.config).

A source with a configuration problem is left out here and reported by
`rudder_sessions_config_check.py` as that file's import error: one typo never hides the other DAGs.
"""

from __future__ import annotations

from rudder_sessions.config import bundle_config_path
from rudder_sessions.dag_factory import build_dags

globals().update(build_dags(bundle_config_path(__file__)))
