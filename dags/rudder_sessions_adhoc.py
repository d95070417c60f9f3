"""Airflow DAG `rudder_sessions__adhoc`: the session model for a schema given in the trigger form.

Independent of the sources file, so onboarding a schema works even while that file is broken.
"""

from __future__ import annotations

from rudder_sessions.dag_factory import build_adhoc_dag

adhoc_dag = build_adhoc_dag()
