"""Airflow import error for the rudder-sessions sources that cannot become a DAG, one line per source.

Kept apart from `rudder_sessions_dags.py`: an import error marks every DAG of its file as broken,
so reporting here leaves the valid sources' DAGs running. Defines no DAG itself.
"""

from __future__ import annotations

from rudder_sessions.config import bundle_config_path
from rudder_sessions.dag_factory import config_problems
from rudder_sessions.errors import RudderSessionsError

_problems = config_problems(bundle_config_path(__file__))
if _problems:
    _lines = "\n".join(_problems[name] for name in sorted(_problems))
    raise RudderSessionsError(f"{len(_problems)} rudder-sessions source(s) without a DAG until fixed:\n{_lines}")
