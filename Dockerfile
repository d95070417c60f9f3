# The Airflow image of docker-compose.yaml: apache/airflow with the rudder-sessions provider installed.
# The tag follows the apache-airflow pin of pyproject.toml and its Python (tests/test_compose.py checks both).
FROM apache/airflow:3.3.2-python3.11

# As the image's `airflow` user (its pip refuses root); the build context is filtered by .dockerignore.
USER airflow

# Runtime dependencies first, in a layer that changes only with them: the [project] dependencies of
# pyproject.toml at the versions of the lock. requirements.txt also locks the `test` extra (pytest,
# hypothesis, fakesnow, ruff), which the image does not need, so it is used as constraints, not installed.
COPY --chown=airflow:0 requirements.txt pyproject.toml /opt/rudder-sessions/
RUN python -c "import tomllib; print(*tomllib.load(open('/opt/rudder-sessions/pyproject.toml', 'rb'))['project']['dependencies'], sep=chr(10))" \
        > /tmp/rudder-sessions-runtime.txt \
    && pip install --no-cache-dir -c /opt/rudder-sessions/requirements.txt -r /tmp/rudder-sessions-runtime.txt \
    && rm /tmp/rudder-sessions-runtime.txt

# The provider itself (package layout: [tool.setuptools] of pyproject.toml), without touching the dependencies.
COPY --chown=airflow:0 README.md /opt/rudder-sessions/
COPY --chown=airflow:0 plugins/ /opt/rudder-sessions/plugins/
COPY --chown=airflow:0 sql/ /opt/rudder-sessions/sql/
RUN pip install --no-cache-dir --no-deps /opt/rudder-sessions \
    && python -c "import rudder_sessions.rendering as r; assert (r.sql_directory() / 'plan.sql').is_file()"
