"""On BigQuery an incremental run's cost follows its new data: every read of a published event table
in the golden SQL either filters the table's partition column by constants of the run (literals or
script variables: cloud.google.com/bigquery/docs/querying-partitioned-tables#use_a_constant_filter_expression)
or is one of the narrow reads listed here, which touch only the columns named (BigQuery bills the
columns a query reads, cloud.google.com/bigquery/pricing#on_demand_pricing)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import sqlglot
from airflow.providers.common.sql.hooks.sql import DbApiHook
from sqlglot import exp
from sqlglot.optimizer.scope import traverse_scope

from golden import CONFIG, GOLDEN
from rudder_sessions.dialects import Dialect
from rudder_sessions.model import STEPS, target_table_name

PARTITIONED = {
    target_table_name(CONFIG, step): layout.partition_by
    for step in STEPS
    if (layout := Dialect.default_layout(step)).partition_by
}

# (phase, table) -> (the only columns the read may touch, why it has no time bound)
NARROW_READS: dict[tuple[str, str], tuple[set[str], str]] = {
    ("plan", "dbt_mapped_tracks"): (
        {"event_id", "timestamp"},
        "the lookup of published copies by id: a copy may carry any timestamp",
    ),
    ("aliases_mapping", "dbt_mapped_tracks"): (
        {"anonymous_id", "user_id", "timestamp"},
        "the span of the events naming an identifier whose copy was replaced (only when one was)",
    ),
    ("scope", "dbt_mapped_tracks"): (
        {"anonymous_id", "user_id", "timestamp", "dbt_visitor_id"},
        "the span of the anonymous events of remapped identifiers (only when some are), and the "
        "visitor's last published event before its first change, which may lie anywhere before it",
    ),
    ("scope", "dbt_session_tracks"): (
        {"dbt_visitor_id", "session_start_at", "session_sequence_number"},
        "the visitor's last published session before its first change",
    ),
    ("checks", "dbt_mapped_tracks"): (
        {"event_id", "dbt_visitor_id", "timestamp"},
        "the audit that no staged event is published outside the recomputed part",
    ),
    ("checks", "dbt_session_tracks"): (
        {"session_id", "dbt_visitor_id", "session_start_at"},
        "the audit that no staged session is published outside the recomputed part",
    ),
    ("publish", "dbt_session_tracks"): ({"dbt_visitor_id"}, "the model's visitor and session totals"),
    ("user_session_facts", "dbt_session_facts"): (
        {"dbt_visitor_id", "session_start_at", "session_end_at", "session_sequence_number", "event_count", "converted"},
        "an affected visitor's published sessions before the reopen point, which may lie anywhere before "
        "it (one row per session, clustered by visitor)",
    ),
}

_IF_THEN = re.compile(r"^\s*IF\s+(?P<condition>.*?)\s+THEN\s+(?P<body>.*)$", re.IGNORECASE | re.DOTALL)
_SET = re.compile(r"^\s*SET\s+\w+\s*=\s*(?P<value>.*)$", re.IGNORECASE | re.DOTALL)
_DECLARE = re.compile(r"^\s*DECLARE\s+(?P<names>[\w\s,]+?)\s+(?:STRUCT|TIMESTAMP|DEFAULT)\b", re.IGNORECASE)


def statements(sql: str) -> Iterator[str]:
    """The statements of a phase, the condition and body of an IF ... THEN apart."""
    for statement in DbApiHook.split_sql_string(sql, strip_semicolon=True):
        statement = "\n".join(line for line in statement.splitlines() if not line.lstrip().startswith("--"))
        if not statement.strip() or re.match(r"^\s*END\s+IF\s*$", statement, re.IGNORECASE):
            continue
        branch = _IF_THEN.match(statement)
        if branch:
            yield f"SELECT {branch['condition']}"
            statement = branch["body"]
        assignment = _SET.match(statement)
        yield f"SELECT {assignment['value']}" if assignment else statement


def _constant(node: exp.Expression, variables: set[str]) -> bool:
    """Literals, casts and script variables (a STRUCT variable's field parses as a column)."""
    for column in node.find_all(exp.Column):
        if (column.table or column.name) not in variables:
            return False
    return not any(node.find_all(exp.Select))


def _bounded(condition: exp.Expression | None, alias: str, column: str, variables: set[str]) -> bool:
    """The condition has a conjunct comparing `alias.column` with a constant."""
    if condition is None:
        return False
    conjuncts = condition.flatten() if isinstance(condition, exp.And) else [condition]
    for conjunct in conjuncts:
        if isinstance(conjunct, exp.Paren):
            conjunct = conjunct.this
        if isinstance(conjunct, exp.Between):
            target, bounds = conjunct.this, [conjunct.args["low"], conjunct.args["high"]]
        elif isinstance(conjunct, exp.GTE | exp.GT | exp.LT | exp.LTE | exp.EQ):
            target, bounds = conjunct.this, [conjunct.expression]
        else:
            continue
        if (
            isinstance(target, exp.Column)
            and target.name == column
            and target.table in (alias, "")
            and all(_constant(b, variables) for b in bounds)
        ):
            return True
    return False


# The identity graph's own (its golden files are under graph/): they replace the last touch's.
GRAPH_NARROW_READS: dict[tuple[str, str], tuple[set[str], str]] = {
    ("aliases_mapping", "dbt_mapped_tracks"): (
        {"event_id", "anonymous_id", "user_id", "timestamp"},
        "a touched component is decided again from every event naming its identifiers, which may lie "
        "anywhere in the visitor's history (four narrow columns, filtered by the few identifiers)",
    ),
}


# The session cap's own (its golden files are under capped/): the reopened session is the last one
# before the change that starts at the first event of its timestamp, found from the published events.
CAPPED_NARROW_READS: dict[tuple[str, str], tuple[set[str], str]] = {
    ("scope", "dbt_mapped_tracks"): (
        {"anonymous_id", "user_id", "timestamp", "dbt_visitor_id", "starts_session", "idle_time_minutes"},
        "the visitor's last published event before its first change and its last session start that no "
        "earlier event shares its time with, which may lie anywhere before it",
    ),
}


def published_reads(sql: str) -> Iterator[tuple[str, set[str], bool]]:
    """(table, columns read, bounded) for each read of a partitioned published table."""
    variables: set[str] = set()
    for statement in statements(sql):
        declared = _DECLARE.match(statement)
        if declared:
            variables |= {name.strip() for name in declared["names"].split(",")}
            continue
        tree = sqlglot.parse_one(statement, read="bigquery")
        if isinstance(tree, exp.Delete):
            table = tree.this.this if isinstance(tree.this, exp.Alias) else tree.this
            name = table.name
            if name in PARTITIONED:
                alias = tree.this.alias if isinstance(tree.this, exp.Alias) else table.alias_or_name
                yield name, set(), _bounded(tree.args.get("where").this, alias, PARTITIONED[name], variables)
        for scope in traverse_scope(tree):
            select = scope.expression
            if not isinstance(select, exp.Select):
                continue
            for alias, source in scope.selected_sources.items():
                node = source[1] if isinstance(source, tuple) else source
                if not isinstance(node, exp.Table) or node.name not in PARTITIONED:
                    continue
                single = len(scope.selected_sources) == 1
                columns = {
                    c.name
                    for c in scope.columns
                    if c.table == alias or (single and not c.table and c.find_ancestor(exp.Select) is select)
                }
                conditions = [select.args.get("where") and select.args["where"].this]
                conditions += [join.args.get("on") for join in select.args.get("joins") or []]
                bounded = any(_bounded(c, alias, PARTITIONED[node.name], variables) for c in conditions)
                yield node.name, columns, bounded


@pytest.mark.parametrize(
    "mode", ["incremental", "backfill", "graph/incremental", "graph/backfill", "capped/incremental", "capped/backfill"]
)
def test_published_event_tables_are_read_by_constant_bounds_or_narrowly(mode: str) -> None:
    used = set()
    unexpected = []
    narrow = NARROW_READS
    if mode.startswith("graph/"):
        narrow = {**NARROW_READS, **GRAPH_NARROW_READS}
    if mode.startswith("capped/"):
        narrow = {**NARROW_READS, **CAPPED_NARROW_READS}
    for path in sorted((GOLDEN / "bigquery" / mode).glob("*.sql")):
        phase = path.stem.split("_", 1)[1]
        for table, columns, bounded in published_reads(path.read_text()):
            if bounded:
                continue
            allowed, _why = narrow.get((phase, table), (set(), ""))
            if columns <= allowed and columns:
                used.add((phase, table))
            else:
                unexpected.append(f"{path.name}: {table} read without a constant bound, columns {sorted(columns)}")
    assert unexpected == []
    if mode == "incremental":
        assert used == set(NARROW_READS), "a listed narrow read no longer exists: drop it from the list"
    if mode == "graph/incremental":
        assert set(GRAPH_NARROW_READS) <= used, "a listed narrow read no longer exists: drop it from the list"
    if mode == "capped/incremental":
        assert used == set(NARROW_READS) | set(CAPPED_NARROW_READS), "a listed narrow read no longer exists"


def test_the_check_finds_an_unbounded_wide_read() -> None:
    sql = """
DECLARE span STRUCT<lo TIMESTAMP, hi TIMESTAMP>;
CREATE TABLE s.x AS
SELECT mapped.event_id, mapped.event, mapped.received_at FROM `sessions`.`dbt_mapped_tracks` AS mapped
WHERE mapped.event_id IN (SELECT id FROM s.events);
CREATE TABLE s.y AS
SELECT mapped.event FROM `sessions`.`dbt_mapped_tracks` AS mapped
JOIN s.affected AS affected ON affected.dbt_visitor_id = mapped.dbt_visitor_id
WHERE mapped.`timestamp` BETWEEN span.lo AND span.hi;
CREATE TABLE s.z AS
SELECT mapped.event FROM `sessions`.`dbt_mapped_tracks` AS mapped
JOIN s.affected AS affected ON affected.dbt_visitor_id = mapped.dbt_visitor_id
WHERE mapped.`timestamp` >= affected.reopen_at;
DELETE FROM `sessions`.`dbt_track_facts` AS target WHERE target.`timestamp` >= span.lo AND target.x = 1;
DELETE FROM `sessions`.`dbt_track_facts` AS target WHERE target.x IN (SELECT 1);
"""
    reads = list(published_reads(sql))
    assert [(table, bounded) for table, _columns, bounded in reads] == [
        ("dbt_mapped_tracks", False),
        ("dbt_mapped_tracks", True),
        ("dbt_mapped_tracks", False),  # bounded by a column of another table: not a constant
        ("dbt_track_facts", True),
        ("dbt_track_facts", False),
    ]
    assert reads[0][1] == {"event_id", "event", "received_at"}
