"""The test harness (tests/warehouses.py) on every engine: a source of several event tables, each with
its own event column (or a fixed event name) and its own further columns, loads, appends and reads
back as one event stream; the calls of a one-table source behave as they always did."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from rows import ev
from rudder_sessions.event_tables import EventTable
from spec_model import SpecResult

T0 = datetime(2026, 4, 2, 9, 0, 0)
STANDARD = ["id", "anonymous_id", "user_id", "timestamp", "received_at"]
# A fixed-name table: its rows have no event column, every one of them is an `order_completed`.
EVENT_COLUMNS = {"orders": None}
STREAMS = (EventTable("tracks"), EventTable("pages", "name"), EventTable("orders", None, "order_completed"))


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


TRACKS = [
    ev("t1", "a1", None, 0, "signup", base=T0, revenue=Decimal("0.123456789"), context_campaign_source="ads"),
    ev("t2", "a1", "u1", 5, "login", base=T0, revenue=None, context_campaign_source=None),
]
PAGES = [
    ev("p1", "a1", None, 1, "Home", base=T0, event_table="pages", context_campaign_source="news"),
    ev("p2", "a2", None, 2, "Pricing", base=T0, event_table="pages"),
]
ORDERS = [
    ev(
        "o1",
        None,
        "u1",
        6,
        event="ignored: the table has one fixed name",
        base=T0,
        event_table="orders",
        revenue=Decimal("19.99"),
        quantity=3,
        score=0.5,
        paid=True,
        loaded_at=at(60),
        coupon=None,
    ),
]


def by_id(rows: list[dict]) -> dict[str, dict]:
    return {r["id"]: r for r in rows}


def test_three_tables_load_with_their_own_columns(wh):
    wh.load_source([TRACKS[0], PAGES[0], *ORDERS, TRACKS[1], PAGES[1]], event_columns=EVENT_COLUMNS)
    schema = wh.source_schema
    assert wh.tables(schema) == {"tracks", "pages", "orders"}
    assert wh.columns(schema, "tracks") == [*STANDARD[:3], "event", *STANDARD[3:], "revenue", "context_campaign_source"]
    # pages names its events in `name`, and none of its rows has revenue: no such column
    assert wh.columns(schema, "pages") == [*STANDARD[:3], "name", *STANDARD[3:], "context_campaign_source"]
    assert wh.columns(schema, "orders") == [*STANDARD, "revenue", "quantity", "score", "paid", "loaded_at", "coupon"]
    assert wh.columns(schema, "nowhere") is None


def test_source_rows_give_one_stream_back(wh):
    wh.load_source([*TRACKS, *PAGES, *ORDERS], event_columns=EVENT_COLUMNS)
    rows = by_id(wh.source_rows(STREAMS))
    assert set(rows) == {"t1", "t2", "p1", "p2", "o1"}
    assert {i: (r["event_table"], r["event"]) for i, r in rows.items()} == {
        "t1": ("tracks", "signup"),
        "t2": ("tracks", "login"),
        "p1": ("pages", "Home"),
        "p2": ("pages", "Pricing"),
        "o1": ("orders", "order_completed"),
    }
    base = {*STANDARD, "event", "event_table"}
    assert set(rows["t1"]) == base | {"revenue", "context_campaign_source"}
    assert set(rows["p1"]) == base | {"context_campaign_source"}  # no `name`: it is the event
    assert set(rows["o1"]) == base | {"revenue", "quantity", "score", "paid", "loaded_at", "coupon"}
    # each value round-trips with its type: numeric(38, 9), bigint, double, boolean, timestamp, text
    order = rows["o1"]
    assert (order["revenue"], order["quantity"], order["score"], order["paid"]) == (Decimal("19.99"), 3, 0.5, True)
    assert isinstance(order["revenue"], Decimal) and isinstance(order["quantity"], int)
    assert order["loaded_at"] == at(60) and order["coupon"] is None
    assert rows["t1"]["revenue"] == Decimal("0.123456789")  # nine decimals kept
    assert rows["t1"]["timestamp"] == T0 and rows["t1"]["received_at"] == T0
    assert (rows["t1"]["context_campaign_source"], rows["t2"]["context_campaign_source"]) == ("ads", None)
    assert rows["p1"]["context_campaign_source"] == "news" and rows["t2"]["user_id"] == "u1"
    # one table alone, and the default: tracks
    assert sorted(r["id"] for r in wh.source_rows([EventTable("pages", "name")])) == ["p1", "p2"]
    assert sorted(r["id"] for r in wh.source_rows()) == ["t1", "t2"]


def test_append_adds_to_a_table_and_makes_a_missing_one(wh):
    wh.load_source([*TRACKS, *PAGES], event_columns=EVENT_COLUMNS)
    schema = wh.source_schema
    screen = ev("s1", "a3", None, 9, "Settings", base=T0, event_table="screens", context_device_type="ios")
    later = ev("t3", "a1", None, 10, "logout", base=T0, event_table="tracks", revenue=Decimal("2.5"))
    wh.load_source([later, screen, *ORDERS], append=True, event_columns=EVENT_COLUMNS)
    assert wh.tables(schema) == {"tracks", "pages", "screens", "orders"}
    assert wh.columns(schema, "screens") == [*STANDARD[:3], "name", *STANDARD[3:], "context_device_type"]
    streams = (*STREAMS, EventTable("screens", "name"))
    rows = by_id(wh.source_rows(streams))
    assert set(rows) == {"t1", "t2", "t3", "p1", "p2", "s1", "o1"}
    assert (rows["t3"]["revenue"], rows["t3"]["context_campaign_source"]) == (Decimal("2.5"), None)
    assert (rows["s1"]["event_table"], rows["s1"]["event"], rows["s1"]["context_device_type"]) == (
        "screens",
        "Settings",
        "ios",
    )
    # A table keeps its columns: pages has no revenue, so appending some is an error of the test.
    with pytest.raises(ValueError, match=r"pages exists without column.*revenue"):
        wh.load_source(
            [ev("p3", "a1", None, 11, "Cart", base=T0, event_table="pages", revenue=Decimal(1))], append=True
        )
    assert sorted(r["id"] for r in wh.source_rows([EventTable("pages", "name")])) == ["p1", "p2"]
    assert wh.columns(schema, "pages") == [*STANDARD[:3], "name", *STANDARD[3:], "context_campaign_source"]


def test_append_into_an_empty_source(wh):
    """Appending to a source that was never loaded makes its schema and tables."""
    wh.load_source([PAGES[0]], append=True)
    assert wh.tables(wh.source_schema) == {"pages"}
    assert [(r["id"], r["event"]) for r in wh.source_rows([EventTable("pages", "name")])] == [("p1", "Home")]


def test_a_load_replaces_every_table_of_the_source(wh):
    wh.load_source([*TRACKS, *PAGES, *ORDERS], event_columns=EVENT_COLUMNS)
    wh.load_source([PAGES[1]])
    assert wh.tables(wh.source_schema) == {"pages"}
    # the columns are those of the new rows only
    assert wh.columns(wh.source_schema, "pages") == [*STANDARD[:3], "name", *STANDARD[3:]]
    wh.load_source([])
    assert wh.tables(wh.source_schema) == {"tracks"}
    assert wh.source_rows() == []


def test_event_columns_name_any_table_s_event_column(wh):
    """`event_columns` overrides the defaults table by table; the others keep theirs."""
    rows = [ev("x1", "a1", None, 0, "Clicked", base=T0, event_table="clicks"), PAGES[0]]
    wh.load_source(rows, event_columns={"clicks": "action"})
    assert wh.columns(wh.source_schema, "clicks") == [*STANDARD[:3], "action", *STANDARD[3:]]
    assert "name" in wh.columns(wh.source_schema, "pages")
    found = wh.source_rows([EventTable("clicks", "action"), EventTable("pages", "name")])
    assert sorted((r["event_table"], r["event"]) for r in found) == [("clicks", "Clicked"), ("pages", "Home")]


def test_one_table_calls_behave_as_before(wh):
    """Rows without an event_table key: the tracks table of the six standard columns (a key beyond
    them is a further column when the table is made, and left out when appended to one without it,
    as test_incremental's own `loaded_at` is), read back by source_rows() with event_table tracks."""
    wh.load_source([])
    assert wh.tables(wh.source_schema) == {"tracks"}
    assert wh.columns(wh.source_schema, "tracks") == [
        "id",
        "anonymous_id",
        "user_id",
        "event",
        "timestamp",
        "received_at",
    ]
    rows = [ev(f"e{i}", "a1", None, 10 * i, base=T0, loaded_at=at(10 * i + 1)) for i in range(3)]
    wh.load_source(rows[:2], append=True)
    wh.load_source(rows[2:], append=True)
    assert wh.columns(wh.source_schema, "tracks") == [
        "id",
        "anonymous_id",
        "user_id",
        "event",
        "timestamp",
        "received_at",
    ]
    expected = [{k: v for k, v in r.items() if k != "loaded_at"} | {"event_table": "tracks"} for r in rows]
    assert sorted(wh.source_rows(), key=lambda r: r["id"]) == expected
    # made anew from rows with a further key: it is a column
    wh.load_source(rows)
    assert wh.columns(wh.source_schema, "tracks")[-1] == "loaded_at"
    assert sorted(r["loaded_at"] for r in wh.source_rows()) == [at(1), at(11), at(21)]


# Not on fakesnow, whose columns are TIMESTAMP_NTZ only; BigQuery has one TIMESTAMP type, an instant.
@pytest.mark.parametrize("wh", ["duckdb", "postgres"], indirect=True)
def test_aware_applies_to_every_table(wh):
    paris = timezone(timedelta(hours=2))

    def shifted(row: dict) -> dict:
        return {k: v.replace(tzinfo=UTC).astimezone(paris) if isinstance(v, datetime) else v for k, v in row.items()}

    rows = [TRACKS[0], {**PAGES[0], "loaded_at": at(30)}]
    wh.load_source([shifted(r) for r in rows], aware=True)
    types = wh.query(
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        f"WHERE table_schema = '{wh.source_schema}' AND lower(data_type) LIKE 'timestamp%'"
    )
    assert {(t["table_name"], t["column_name"]) for t in types} == {
        ("tracks", "timestamp"),
        ("tracks", "received_at"),
        ("pages", "timestamp"),
        ("pages", "received_at"),
        ("pages", "loaded_at"),
    }
    assert {t["data_type"].lower() for t in types} == {"timestamp with time zone"}
    found = by_id(wh.source_rows(STREAMS[:2]))  # naive UTC, as the model reads them
    assert (found["t1"]["timestamp"], found["p1"]["received_at"], found["p1"]["loaded_at"]) == (T0, at(1), at(30))


class Options:
    """A source config with the options the package is adding (event_streams and the session
    facts'), over a SourceConfig that may not have them yet."""

    def __init__(self, config: Any, **options: Any) -> None:
        self._config, self._options = config, options

    def __getattr__(self, name: str) -> Any:
        if name in self._options:
            return self._options[name]
        return getattr(self._config, name)


def test_assert_matches_spec_passes_the_streams_and_facts_options(warehouse, monkeypatch):
    """The model gets every event table's rows and, once it takes them, the session facts options;
    only the tables it gives are compared."""
    import spec_model
    from rudder_sessions.model import STEPS

    warehouse.load_source([*TRACKS, *PAGES, *ORDERS], event_columns=EVENT_COLUMNS)
    plain = warehouse.config()
    warehouse.runner(plain).run("r1", "full_refresh")
    real = spec_model.compute(warehouse.source_rows(), plain.timeout_minutes, plain.flow_length)
    calls: list[tuple[list[str], dict[str, Any]]] = []

    def facts_model(rows, timeout_minutes, flow_length, *, conversion_events=(), first_columns=(), sum_columns=()):
        rows = list(rows)
        calls.append(
            (
                sorted(r["id"] for r in rows),
                {"conversion_events": conversion_events, "first_columns": first_columns, "sum_columns": sum_columns},
            )
        )
        # the tracks table's model, and one step left out: it must not be compared
        return SpecResult(tables={s: real.tables[s] for s in STEPS[:-1]}, dropped=real.dropped, rows_read=0)

    monkeypatch.setattr(spec_model, "compute", facts_model)
    warehouse.assert_matches_spec(plain)
    empty = {"conversion_events": (), "first_columns": (), "sum_columns": ()}
    assert calls.pop() == (["t1", "t2"], empty)

    options = Options(
        plain,
        event_streams=STREAMS,
        conversion_events=("order_completed",),
        session_first_columns=("context_campaign_source",),
        session_sum_columns=("revenue",),
    )
    warehouse.assert_matches_spec(options)  # the stand-in model gives the tracks tables
    ids, facts = calls.pop()
    assert ids == ["o1", "p1", "p2", "t1", "t2"]
    assert facts == {
        "conversion_events": ("order_completed",),
        "first_columns": ("context_campaign_source",),
        "sum_columns": ("revenue",),
    }

    # A model without the facts parameters gets none while they are unset; a set one reaches it.
    def old_model(rows, timeout_minutes=30, flow_length=5):
        calls.append((sorted(r["id"] for r in rows), {}))
        return real

    monkeypatch.setattr(spec_model, "compute", old_model)
    warehouse.assert_matches_spec(plain)
    assert calls.pop() == (["t1", "t2"], {})
    with pytest.raises(TypeError, match="conversion_events"):
        warehouse.assert_matches_spec(Options(plain, conversion_events=("order_completed",)))
