"""Airflow DAGs: one rudder-sessions DAG per source in the sources file (see rudder_sessions.config)."""

from __future__ import annotations

from rudder_sessions.config import load_config
from rudder_sessions.dag_factory import build_dag, dag_id
from rudder_sessions.errors import ConfigError, RudderSessionsError

_config = load_config()
_errors = [str(error) for error in _config.errors.values()]
for _source in _config.sources.values():
    try:
        globals()[dag_id(_source)] = build_dag(_source)
    except ConfigError as error:
        _errors.append(str(error))

if _errors:
    raise RudderSessionsError("; ".join(_errors))
