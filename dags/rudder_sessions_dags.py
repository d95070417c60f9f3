"""Airflow DAGs: one rudder-sessions DAG per source in the sources file (see rudder_sessions.config)."""

from __future__ import annotations

from rudder_sessions.config import load_config
from rudder_sessions.dag_factory import build_dag, dag_id
from rudder_sessions.errors import RudderSessionsError

_config = load_config()
for _source in _config.sources.values():
    globals()[dag_id(_source)] = build_dag(_source)

if _config.errors:
    raise RudderSessionsError("; ".join(str(e) for e in _config.errors.values()))
