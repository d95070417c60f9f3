"""Source configuration: every mistake is one line naming the source and the field."""

from __future__ import annotations

import textwrap

import pytest

from rudder_sessions.config import SourceConfig, load_config
from rudder_sessions.errors import ConfigError
from warehouses import ROOT, make_config

GOOD = {"conn_id": "wh", "source_schema": "rudder", "target_schema": "sessions"}


def write(tmp_path, text):
    path = tmp_path / "sources.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_repository_config_is_valid():
    loaded = load_config(ROOT / "include" / "sources.yaml")
    assert loaded.errors == {}
    demo = loaded.sources["demo"]
    assert (demo.conn_id, demo.source_schema, demo.source_table) == (
        "rudder_demo_duckdb",
        "rudderstack",
        "tracks",
    )
    assert demo.timeout_minutes == 30 and demo.flow_length == 5


@pytest.mark.parametrize(
    ("override", "field", "fragment"),
    [
        ({"colour": "blue"}, "colour", "unknown key"),
        ({"source_schema": "my-schema"}, "source_schema", "not a valid identifier"),
        ({"target_schema": "x; DROP TABLE y"}, "target_schema", "not a valid identifier"),
        ({"source_table": "1tracks"}, "source_table", "not a valid identifier"),
        ({"table_prefix": "a.b"}, "table_prefix", "not a valid identifier"),
        # staging tables are <prefix>__rs_<run key>_<name>: another source's runs would drop these
        ({"table_prefix": "__rs_"}, "table_prefix", "contains '__rs_', which names the runs' staging tables"),
        ({"table_prefix": "shop__RS_"}, "table_prefix", "contains '__rs_'"),
        # the longest name, <prefix>__rs_<12>_user_session_facts, must fit in 63 characters
        ({"table_prefix": "p" * 28}, "table_prefix", "is 28 characters, at most 27 fit"),
        ({"table_prefix": "p" * 40}, "table_prefix", "at most 27 fit"),
        ({"timeout_minutes": 0}, "timeout_minutes", "must be > 0"),
        ({"timeout_minutes": -5}, "timeout_minutes", "must be > 0"),
        ({"timeout_minutes": "30"}, "timeout_minutes", "not a number"),
        ({"flow_length": 0}, "flow_length", "between 1 and 50"),
        ({"flow_length": 2.5}, "flow_length", "not an integer"),
        ({"max_session_events": 1}, "max_session_events", "must be an integer of at least 2, got 1"),
        ({"max_session_events": 0}, "max_session_events", "at least 2"),
        ({"max_session_events": 2.5}, "max_session_events", "not an integer"),
        ({"max_session_events": "2500"}, "max_session_events", "not an integer"),
        ({"max_session_events": True}, "max_session_events", "not an integer"),
        ({"conn_id": ""}, "conn_id", "non-empty"),
        ({"dialect": "oracle"}, "dialect", "not one of"),
        ({"pool": "duckdb pool"}, "pool", "not an Airflow pool name"),
        ({"pool": ""}, "pool", "not an Airflow pool name"),
        ({"pool": 1}, "pool", "not an Airflow pool name"),
        ({"pool": "p" * 257}, "pool", "not an Airflow pool name"),
        ({"event_tables": []}, "event_tables", "non-empty list"),
        ({"event_tables": ["tracks", "orders"]}, "event_tables", "event_column (a column of it) or event_name"),
        ({"event_tables": ["tracks", "TRACKS"]}, "event_tables", "listed twice"),
        ({"event_tables": ["tracks; DROP TABLE x"]}, "event_tables", "not a valid identifier"),
        ({"event_tables": [{"table": "t", "event_column": "a b"}]}, "event_tables", "not a valid identifier"),
        ({"event_tables": [{"table": "t", "event_name": "x", "event_column": "e"}]}, "event_tables", "not both"),
        ({"event_tables": [{"table": "t", "event_name": "two\nlines"}]}, "event_tables", "printable"),
        ({"event_tables": [{"table": "t", "colour": "x"}]}, "event_tables", "unknown key 'colour'"),
        ({"event_tables": [{"table": "t", "event_column": "id"}]}, "event_tables", "columns every event table has"),
        ({"event_tables": ["pages"], "source_table": "web"}, "event_tables", "not both"),
        ({"conversion_events": "order,order"}, "conversion_events", "listed twice"),
        ({"conversion_events": 5}, "conversion_events", "not a list"),
        ({"session_first_columns": ["context campaign"]}, "session_first_columns", "not valid"),
        ({"session_first_columns": ["event"]}, "session_first_columns", "a column of the model itself"),
        ({"session_first_columns": ["event_2"]}, "session_first_columns", "a column of the model itself"),
        ({"session_sum_columns": ["c" * 58]}, "session_sum_columns", "longer than 57"),
        ({"session_first_columns": ["revenue"], "session_sum_columns": ["revenue"]}, "session_sum_columns", "not both"),
    ],
)
def test_invalid_field_names_source_and_field(override, field, fragment):
    with pytest.raises(ConfigError) as err:
        SourceConfig.from_mapping("shop", {**GOOD, **override})
    message = str(err.value)
    assert message.startswith(f"source 'shop': {field}: ")
    assert fragment in message
    assert "\n" not in message


def test_pools_name_the_sources_that_share_them(tmp_path):
    path = write(
        tmp_path,
        """
        defaults: {conn_id: wh, pool: local.duckdb-1}
        sources:
          shop: {source_schema: shop, target_schema: shop_sessions}
          app: {source_schema: app, target_schema: app_sessions}
          web: {source_schema: web, target_schema: web_sessions, pool: null}
          cloud: {source_schema: web, target_schema: cloud_sessions, pool: bigquery_jobs}
        """,
    )
    assert load_config(path).pools == {"local.duckdb-1": ["app", "shop"], "bigquery_jobs": ["cloud"]}


def test_event_tables_and_facts_settings_normalize():
    config = SourceConfig.from_mapping(
        "shop",
        {
            **GOOD,
            "event_tables": ["tracks", "pages", {"table": "orders", "event_name": "order's \\ done"}],
            "conversion_events": "order_completed, signed_up",
            "session_first_columns": ["context_campaign_source"],
            "session_sum_columns": ["revenue"],
        },
    )
    assert [t.describe() for t in config.event_streams] == [
        "tracks(event)",
        "pages(name)",
        'orders="order\'s \\\\ done"',
    ]
    assert config.conversion_events == ("order_completed", "signed_up")
    assert config.carried_columns == (("context_campaign_source", "text"), ("revenue", "numeric"))
    stored = config.model_settings()
    assert stored["event_tables"][2] == {"table": "orders", "event_name": "order's \\ done"}
    assert stored["conversion_events"] == ["order_completed", "signed_up"]
    # tracks alone, however it is said, is the source without event_tables: nothing to rebuild
    for same in (["tracks"], [{"table": "tracks", "event_column": "event"}], None):
        assert (
            SourceConfig.from_mapping("shop", {**GOOD, "event_tables": same}).model_settings()["event_tables"] is None
        )


def test_missing_required_field():
    with pytest.raises(ConfigError, match=r"source 'shop': target_schema: is required"):
        SourceConfig.from_mapping("shop", {"conn_id": "wh", "source_schema": "rudder"})


def test_a_broken_entry_names_every_problem_in_one_line():
    """The UI's import error and the CLI show the whole list, not just the first problem."""
    entry = {
        "conn_id": "wh",
        "source_schema": "a b",
        "timeout_minutes": 0,
        "flow_length": 99,
        "lookback": "soon",
        "colour": 1,
    }
    with pytest.raises(ConfigError) as err:
        SourceConfig.from_mapping("shop", entry)
    message = str(err.value)
    assert "\n" not in message
    fields = [problem.field for problem in err.value.problems]
    assert fields == ["colour", "target_schema", "source_schema", "timeout_minutes", "flow_length", "lookback"]
    for fragment in (
        "colour: unknown key",
        "target_schema: is required",
        "source_schema: 'a b' is not a valid",
        "timeout_minutes: must be > 0",
        "flow_length: must be between 1 and 50",
        "lookback: 'soon'",
    ):
        assert fragment in message
    assert message.startswith("source 'shop': colour: unknown key")


def test_bad_source_name():
    with pytest.raises(ConfigError, match="name"):
        SourceConfig.from_mapping("Shop-EU", GOOD)


def test_broken_entry_fails_only_that_source(tmp_path):
    path = write(
        tmp_path,
        """
        defaults:
          timeout_minutes: 20
        sources:
          good:
            conn_id: wh
            source_schema: rudder
            target_schema: sessions
          bad:
            conn_id: wh
            source_schema: rudder
            target_schema: sessions
            timeout_minutes: 0
        """,
    )
    loaded = load_config(path)
    assert list(loaded.sources) == ["good"]
    assert loaded.sources["good"].timeout_minutes == 20
    assert str(loaded.errors["bad"]) == "source 'bad': timeout_minutes: must be > 0, got 0"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("sources: [a, b]\n", "must contain a 'sources:' mapping"),
        ("sources: {a: 1\n", "not valid YAML"),
        ("sources: {}\nextra: 1\n", "unknown top-level key"),
    ],
)
def test_broken_file(tmp_path, text, fragment):
    with pytest.raises(ConfigError, match=fragment):
        load_config(write(tmp_path, text))


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")


def test_a_prefix_of_the_longest_length_that_fits_is_taken():
    assert SourceConfig.from_mapping("shop", {**GOOD, "table_prefix": "p" * 27}).table_prefix == "p" * 27
    assert SourceConfig.from_mapping("shop", {**GOOD, "table_prefix": "shop__x_"}).table_prefix == "shop__x_"


def test_two_sources_on_the_same_target_tables_are_refused(tmp_path):
    path = write(
        tmp_path,
        """
        sources:
          app:
            conn_id: wh
            source_schema: app_events
            target_schema: sessions
          web:
            conn_id: wh
            source_schema: web_events
            target_schema: SESSIONS
          shop:
            conn_id: wh
            source_schema: shop_events
            target_schema: sessions
            table_prefix: shop_
          other:
            conn_id: other_wh
            source_schema: web_events
            target_schema: sessions
        """,
    )
    loaded = load_config(path)
    assert sorted(loaded.sources) == ["app", "other", "shop"]
    assert str(loaded.errors["web"]) == (
        "source 'web': target_schema: source 'app' publishes into the same tables (SESSIONS.dbt_* on "
        "connection 'wh'): give one of them another target_schema or table_prefix"
    )


@pytest.mark.parametrize(
    ("override", "field", "message"),
    [
        ({"timeout_minutes": float("inf")}, "timeout_minutes", "must be a finite number, got inf"),
        ({"timeout_minutes": float("nan")}, "timeout_minutes", "must be a finite number, got nan"),
        ({"lookback": "999999 days"}, "lookback", "'999999 days' is longer than 36500 days (100 years)"),
        ({"lookback": "99999999999 days"}, "lookback", "'99999999999 days' is longer than 36500 days (100 years)"),
    ],
)
def test_numbers_no_run_can_use_are_refused_in_a_config_file(override, field, message):
    """(A config file reaches the same checks as the CLI's flags: no overflow later, in a date sum.)"""
    with pytest.raises(ConfigError) as err:
        SourceConfig.from_mapping("shop", {**GOOD, **override})
    assert str(err.value) == f"source 'shop': {field}: {message}"


def test_the_session_cap_is_stored_only_when_set():
    """Unset (the default), the stored settings stay as before the cap existed; set, they name it."""
    plain = make_config()
    assert "max_session_events" not in plain.model_settings() and plain.max_session_events is None
    assert make_config(max_session_events=2500).model_settings()["max_session_events"] == 2500


def test_a_change_of_the_session_cap_is_named_both_ways():
    from rudder_sessions.run_log import settings_changes

    plain, capped = make_config().model_settings(), make_config(max_session_events=3).model_settings()
    assert settings_changes(plain, capped) == ["max_session_events changed (unset) -> 3"]
    assert settings_changes(capped, plain) == ["max_session_events changed 3 -> (unset)"]
    assert settings_changes(plain, plain) == [] and settings_changes(capped, capped) == []
