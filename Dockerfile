# The Airflow image of docker-compose.yaml: apache/airflow with the rudder-sessions provider installed.
# The tag follows the apache-airflow version of the lock (requirements.txt) and pyproject.toml's
# Python (tests/integration/compose/test_compose.py checks both).
FROM apache/airflow:3.3.2-python3.11

# As the image's `airflow` user (its pip refuses root); the build context is filtered by .dockerignore.
USER airflow

# Dependencies first, in a layer that changes only with them: those of the package and of the
# extras below, at the versions of the lock. requirements.txt also locks the `test` extra (pytest,
# hypothesis, fakesnow, ruff), which the image does not need, so it is used as constraints only.
ARG EXTRAS=duckdb,demo,postgres,snowflake,bigquery,redshift,openlineage
COPY --chown=airflow:0 requirements.txt pyproject.toml /opt/rudder-sessions/
RUN python -c "import sys, tomllib; p = tomllib.load(open('/opt/rudder-sessions/pyproject.toml', 'rb'))['project']; wanted = [*p['dependencies'], *(r for e in sys.argv[1].split(',') for r in p['optional-dependencies'][e])]; print(*(r for r in wanted if not r.startswith('rudder-sessions')), sep=chr(10))" "$EXTRAS" \
        > /tmp/rudder-sessions-runtime.txt \
    && pip install --no-cache-dir -c /opt/rudder-sessions/requirements.txt -r /tmp/rudder-sessions-runtime.txt \
    && rm /tmp/rudder-sessions-runtime.txt

# The provider itself, installed editable from /opt/rudder-sessions: docker-compose.yaml mounts the
# checkout's plugins/ and sql/ over these copies, so edits apply without a rebuild (no PYTHONPATH).
COPY --chown=airflow:0 README.md LICENSE /opt/rudder-sessions/
COPY --chown=airflow:0 plugins/ /opt/rudder-sessions/plugins/
COPY --chown=airflow:0 sql/ /opt/rudder-sessions/sql/
RUN pip install --no-cache-dir --no-deps -e /opt/rudder-sessions \
    && python -c "import rudder_sessions.rendering as r; assert (r.sql_directory() / 'plan.sql').is_file()"
