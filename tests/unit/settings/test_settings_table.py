"""One table declares every setting (settings.py): the config, the CLI, the trigger form and the
README follow it."""

from __future__ import annotations

import re
from dataclasses import MISSING, fields

import pytest

from rudder_sessions.cli import build_parser
from rudder_sessions.config import ADHOC_KEYS, SourceConfig
from rudder_sessions.settings import FORM_SETTINGS, MODEL_SETTINGS, REQUIRED, SETTINGS, settings_table
from warehouses import ROOT


def test_the_config_holds_exactly_the_declared_settings_with_their_defaults():
    declared = {s.name: s.default for s in SETTINGS}
    held = {f.name: (REQUIRED if f.default is MISSING else f.default) for f in fields(SourceConfig) if f.name != "name"}
    assert held == declared


def test_the_cli_has_a_flag_for_each_setting_it_declares():
    parser = build_parser()
    commands = {name: sub for action in parser._subparsers._group_actions for name, sub in action.choices.items()}
    for command, sub in commands.items():
        flags = {option for action in sub._actions for option in action.option_strings}
        wanted = {s.flag for s in SETTINGS if command in s.cli}
        assert wanted <= flags, command
        defaults = {s.name: s.cli_value for s in SETTINGS if command in s.cli and s.name not in ("conn_id", "dialect")}
        assert {name: sub.get_default(name) for name in defaults} == defaults


def test_the_trigger_form_has_the_declared_fields_and_an_empty_prefix_is_optional(monkeypatch):
    from rudder_sessions.dag_factory import _adhoc_params

    params = _adhoc_params()
    assert set(FORM_SETTINGS) <= set(params)
    assert ADHOC_KEYS == (*(s.name for s in SETTINGS if s.form_title), "dialect")
    prefix = params["table_prefix"]
    assert prefix.value is None and "null" in prefix.schema["type"]  # the Trigger button needs no prefix
    assert params["lookback"].value == "3 hours" and params["watermark_column"].value == "received_at"


def test_the_readme_shows_the_table_and_the_sample_config_names_every_setting():
    readme = (ROOT / "README.md").read_text()
    shown = re.search(r"<!-- settings:start -->\n(.*?)\n<!-- settings:end -->", readme, re.S)
    assert shown and shown.group(1) == settings_table(), "README out of date: paste settings.settings_table()"
    sample = (ROOT / "include" / "sources.yaml").read_text()
    assert [s.name for s in SETTINGS if not re.search(rf"\b{s.name}\b", sample)] == []
    assert set(MODEL_SETTINGS) == {
        "source_schema",
        "source_table",
        "timeout_minutes",
        "flow_length",
        "watermark_column",
        "event_tables",
        "conversion_events",
        "session_first_columns",
        "session_sum_columns",
        "identity",
        "identifies_table",
        "aliases_table",
        "identity_exclude",
        "max_users_per_anonymous_id",
        "max_session_events",
    }


# A value each kind of setting refuses; a new kind must add one here.
REFUSED = {
    "conn_id": "  ",
    "identifier": "1st",
    "number": 0,
    "integer": 0,
    "duration": "soon",
    "size": "lots",
    "cron": "",
    "dialect": "oracle",
    "layout": {"no_such_table": {}},
    "pool": "two words",
    "event_tables": [{"table": "orders"}],  # neither its event column nor a fixed name
    "names": ["order\ncompleted"],
    "identifiers": ["context campaign"],
    "choice": "sometimes",
    "values": ["tab\there"],
}


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.name)
def test_every_setting_is_validated_as_its_kind_declares(setting):
    from rudder_sessions.config import SourceConfig
    from rudder_sessions.errors import ConfigError

    entry = {
        "conn_id": "wh",
        "source_schema": "rudder",
        "target_schema": "sessions",
        setting.name: REFUSED[setting.kind],
    }
    with pytest.raises(ConfigError) as refused:
        SourceConfig.from_mapping("shop", entry)
    assert [problem.field.split(".")[0] for problem in refused.value.problems] == [setting.name]
    if setting.form_title:  # the trigger form refuses it too, before a run exists
        import jsonschema

        schema = setting.param().schema
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(REFUSED[setting.kind], schema)
