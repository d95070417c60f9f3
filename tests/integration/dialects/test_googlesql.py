"""The BigQuery SQL the project renders, analyzed by Google's GoogleSQL analyzer (tests/googlesql.py):
names and types resolved against the model's tables, phase after phase, as a run executes them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from airflow.providers.common.sql.hooks.sql import DbApiHook

import googlesql
from golden import CAPPED, CONFIG, EVENT_COLUMNS, GOLDEN, GRAPH, example_plan, golden_name
from rudder_sessions.dialects import get_dialect
from rudder_sessions.engine import runs_as_script
from rudder_sessions.model import MODES, PHASES, STEPS, Tables, column_type, published_columns, target_table_name
from rudder_sessions.rendering import render_template

BIGQUERY = get_dialect("bigquery")
SOURCE = {
    f"{CONFIG.source_schema}.{table}": {
        "id": "STRING",
        "anonymous_id": "STRING",
        "user_id": "STRING",
        "timestamp": "TIMESTAMP",
        "received_at": "TIMESTAMP",
        **columns,
    }
    for table, columns in EVENT_COLUMNS.items()
}
# The identity graph's link tables (the golden files' graph/ source reads both).
SOURCE[f"{CONFIG.source_schema}.identifies"] = {
    "id": "STRING",
    "anonymous_id": "STRING",
    "user_id": "STRING",
    "timestamp": "TIMESTAMP",
    "received_at": "TIMESTAMP",
    "context_traits_email": "STRING",
}
SOURCE[f"{CONFIG.source_schema}.aliases"] = {
    "id": "STRING",
    "previous_id": "STRING",
    "user_id": "STRING",
    "timestamp": "TIMESTAMP",
    "received_at": "TIMESTAMP",
}
# Every mode of the golden files: the example source's, and the same under the identity graph and
# with the session cap.
GOLDEN_MODES = (*MODES, *(f"{GRAPH}/{mode}" for mode in MODES), *(f"{CAPPED}/{mode}" for mode in MODES))


@pytest.fixture(scope="module", autouse=True)
def analyzer() -> None:
    """The analyzer must run on CI; elsewhere its absence skips these tests."""
    reason = googlesql.available()
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def published() -> dict[str, dict[str, str]]:
    """The five published tables with their BigQuery column types, as publish creates them."""
    dialect = get_dialect("bigquery")
    return {
        f"{CONFIG.target_schema}.{target_table_name(CONFIG, step)}": {
            c: dialect.column_type(column_type(c, CONFIG.shape)) for c in published_columns(step, CONFIG.shape)
        }
        for step in STEPS
    }


def setup_sql() -> str:
    """What a run executes before its phases: the state and run-log tables (engine's plan)."""
    dialect = get_dialect("bigquery")
    return render_template("state.sql", CONFIG, dialect, Tables(CONFIG, dialect, example_plan("incremental").key))


def golden_files(mode: str) -> list[Path]:
    files = sorted((GOLDEN / "bigquery" / mode).glob("*.sql"), key=lambda f: int(f.name.split("_")[0]))
    assert [f.stem.split("_", 1)[1] for f in files] == list(PHASES)
    return files


def test_a_table_path_names_its_rows_by_its_last_part_only() -> None:
    tables = {
        "sessions.dbt_session_tracks": {"dbt_visitor_id": "STRING", "session_start_at": "TIMESTAMP"},
        "sessions.x": {"v": "STRING"},
    }
    qualified = (
        "DELETE FROM sessions.dbt_session_tracks WHERE EXISTS (SELECT 1 FROM sessions.x AS affected "
        "WHERE affected.v = sessions.dbt_session_tracks.dbt_visitor_id)"
    )
    aliased = (
        "DELETE FROM sessions.dbt_session_tracks AS target WHERE EXISTS (SELECT 1 FROM sessions.x AS affected "
        "WHERE affected.v = target.dbt_visitor_id)"
    )
    [error] = googlesql.analyze([qualified], tables)
    assert "Unrecognized name: sessions" in error
    assert googlesql.analyze([aliased], tables) == []


def test_a_visible_column_named_like_a_dataset_takes_over_its_table_paths() -> None:
    """In a correlated subquery, `FROM sessions.staged` reads field `staged` of a visible column
    `sessions` (an implicit UNNEST) before it names a table of dataset `sessions`."""
    tables = {"sessions.runs": {"n": "INT64"}, "sessions.staged": {"v": "STRING"}}
    query = "SELECT (SELECT COUNT(*) FROM sessions.staged) FROM (SELECT COUNT(*) AS {} FROM sessions.runs) AS totals"
    [error] = googlesql.analyze([query.format("sessions")], tables)
    assert "Cannot access field staged on a value with type INT64" in error
    assert googlesql.analyze([query.format("session_count")], tables) == []


def test_transactions_and_ddl_analyze() -> None:
    statements = [
        "BEGIN TRANSACTION",
        "DROP TABLE IF EXISTS sessions.x",
        "ROLLBACK TRANSACTION",
        "CREATE SCHEMA IF NOT EXISTS sessions",
        "ALTER TABLE sessions.y ADD COLUMN IF NOT EXISTS w INT64",
        "ASSERT (SELECT COUNT(*) FROM sessions.y WHERE w IS NULL) = 0 AS 'no w'",
        "COMMIT TRANSACTION",
    ]
    assert googlesql.analyze(statements, {"sessions.x": {"v": "STRING"}, "sessions.y": {"v": "STRING"}}) == []


def test_tables_created_by_earlier_statements_join_the_catalog() -> None:
    catalog = googlesql.Catalog({"sessions.x": {"v": "STRING", "t": "TIMESTAMP"}})
    created = "CREATE TABLE sessions.y AS SELECT v, COUNT(*) AS n, MAX(t) AS t FROM sessions.x GROUP BY v"
    assert catalog.analyze(created) is None
    assert catalog.analyze("CREATE TABLE IF NOT EXISTS sessions.z (a STRING NOT NULL, f FLOAT64, b BOOL)") is None
    assert catalog.analyze("ALTER TABLE sessions.z RENAME TO w") is None
    assert catalog.tables["sessions.y"] == {"v": "STRING", "n": "INT64", "t": "TIMESTAMP"}
    assert catalog.tables["sessions.w"] == {"a": "STRING", "f": "FLOAT64", "b": "BOOL"}
    assert "sessions.z" not in catalog.tables
    assert "No matching signature" in (catalog.analyze("SELECT 1 FROM sessions.y WHERE n = t") or "")
    assert catalog.analyze("DROP TABLE sessions.y") is None
    assert "Table not found: sessions.y" in (catalog.analyze("SELECT v FROM sessions.y") or "")


def test_script_variables_are_typed_constants() -> None:
    errors = googlesql.analyze(
        [
            "DECLARE since TIMESTAMP DEFAULT (SELECT MIN(t) FROM sessions.x)",
            "DELETE FROM sessions.x AS target WHERE target.t >= since",
            "SET since = 'not a timestamp literal' || 'x'",
            "ASSERT @@row_count >= 0",
        ],
        {"sessions.x": {"t": "TIMESTAMP"}},
    )
    assert len(errors) == 1 and errors[0].startswith("statement 3") and "does not coerce to TIMESTAMP" in errors[0]


def test_metadata_queries_analyze() -> None:
    """The engine's reads of the target dataset's INFORMATION_SCHEMA."""
    dialect, schema = get_dialect("bigquery"), CONFIG.target_schema
    queries = [
        dialect.columns_query(schema, target_table_name(CONFIG, STEPS[0]))[0],
        dialect.schema_columns_query(schema)[0],
        dialect.tables_query(schema)[0],
    ]
    assert googlesql.analyze(queries, googlesql.information_schema(schema)) == []


def test_setup_sql_analyzes() -> None:
    assert googlesql.analyze_script(setup_sql(), googlesql.Catalog(SOURCE), "state.sql") == []


@pytest.mark.parametrize("mode", GOLDEN_MODES)
def test_the_project_splits_golden_files_as_googlesql_does(mode: str) -> None:
    """Where the engine sends what `split_sql_string` cuts out (the other phases go whole, as one
    script), GoogleSQL's parser finds the same statements."""
    split = [p for p in golden_files(mode) if not runs_as_script(BIGQUERY, p.stem.split("_", 1)[1])]
    assert [p.name for p in split] == [golden_name("checks"), golden_name("publish")]
    for path in split:
        sql = path.read_text()
        project = [s for s in DbApiHook.split_sql_string(sql, strip_semicolon=True) if s.strip()]
        assert len(project) == len(googlesql.split(sql)), path.name


@pytest.mark.parametrize("mode", GOLDEN_MODES)
def test_golden_phases_analyze_in_order(mode: str) -> None:
    """Every statement of a run's phases, in order, against the source, the published tables and
    the state tables (as state.sql creates them), and the staging tables the phases create."""
    catalog = googlesql.Catalog({**SOURCE, **published()})
    errors = googlesql.analyze_script(setup_sql(), catalog, "state.sql")
    for path in golden_files(mode):
        errors += googlesql.analyze_script(path.read_text(), catalog, f"{mode}/{path.name}")
    assert errors == [], "\n".join(errors)


def _analyze_run(mode: str, target_schema: str, project: str | None) -> list[str]:
    """Every phase of a run rendered for a target dataset and project, analyzed in order."""
    from dataclasses import replace

    from rudder_sessions.rendering import render_phase

    config = replace(CONFIG, target_schema=target_schema)
    dialect = get_dialect("bigquery")
    dialect.project = project
    prefix = f"{project}." if project else ""
    tables = {f"{prefix}{name}": columns for name, columns in SOURCE.items()}
    for name, columns in published().items():
        tables[f"{prefix}{target_schema}.{name.split('.', 1)[1]}"] = columns
    catalog = googlesql.Catalog(tables)
    plan = example_plan(mode)
    errors = googlesql.analyze_script(
        render_template("state.sql", config, dialect, Tables(config, dialect, plan.key)), catalog, "state.sql"
    )
    for phase in PHASES:
        errors += googlesql.analyze_script(render_phase(phase, config, dialect, plan), catalog, f"{mode}/{phase}")
    return errors


@pytest.mark.parametrize("dataset", ["events", "target", "run", "affected"])
def test_a_dataset_named_like_an_alias_resolves_with_the_project_first(dataset: str) -> None:
    """Without the project, GoogleSQL reads `events`.`t` as a field of the alias `events` where
    one is in scope; with the connection's project first, every path is a table."""
    assert any(_analyze_run(mode, dataset, None) for mode in MODES)
    for mode in MODES:
        errors = _analyze_run(mode, dataset, "my-project-1")
        assert errors == [], "\n".join(errors)
