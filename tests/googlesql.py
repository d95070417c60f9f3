"""BigQuery's SQL checked by Google's own GoogleSQL analyzer (ZetaSQL), names and types included.

The `zetasql` package runs ZetaSQL compiled to WebAssembly under wasmtime. Each statement is
resolved against a catalog of tables ("dataset.table" -> {column: GoogleSQL type}); what a
statement creates, drops, renames or declares changes the catalog for the statements after it,
so a run's phases can be analyzed in order, as BigQuery would run them.

The first start compiles the module (17 s on 2 idle cores, 50 s on busy ones); wasmtime keeps the
compiled code in its cache (21 MB), so later starts take about a second. The cache is wasmtime's
default directory ($XDG_CACHE_HOME/wasmtime, else ~/.cache/wasmtime), or the directory named by
RUDDER_GOOGLESQL_CACHE_DIR. One analyzer is started per process.

The language is ZetaSQL's maximum released feature set in external (BigQuery) product mode: a
superset of BigQuery, so a rejection is a real name, type or syntax error, while acceptance does
not prove that BigQuery supports every construct. INFORMATION_SCHEMA is in the catalog only when
given, like any table (`information_schema(dataset)` has its TABLES and COLUMNS views). Script
statements (DECLARE, SET, IF, blocks) are checked as far as the analyzer allows: declared
variables become catalog constants, SET values must coerce to them, and the statements inside
blocks are analyzed one by one.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, fields, is_dataclass
from pathlib import Path
from typing import Any

CACHE_DIR_ENV = "RUDDER_GOOGLESQL_CACHE_DIR"

# BigQuery's system variables (cloud.google.com/bigquery/docs/reference/system-variables).
SYSTEM_VARIABLES: dict[str, str] = {
    "current_job_id": "STRING",
    "dataset_id": "STRING",
    "dataset_project_id": "STRING",
    "last_job_id": "STRING",
    "project_id": "STRING",
    "query_label": "STRING",
    "row_count": "INT64",
    "session_id": "STRING",
    "time_zone": "STRING",
    "error.message": "STRING",
    "error.statement_text": "STRING",
    "error.stack_trace": "STRING",
    "error.formatted_stack_trace": "STRING",
    "script.bytes_billed": "INT64",
    "script.bytes_processed": "INT64",
    "script.creation_time": "TIMESTAMP",
    "script.job_id": "STRING",
    "script.num_child_jobs": "INT64",
    "script.slot_ms": "INT64",
}

# The views of a dataset's INFORMATION_SCHEMA that the project reads, with their main columns.
INFORMATION_SCHEMA: dict[str, dict[str, str]] = {
    "TABLES": {
        "table_catalog": "STRING",
        "table_schema": "STRING",
        "table_name": "STRING",
        "table_type": "STRING",
        "is_insertable_into": "STRING",
        "is_typed": "STRING",
        "creation_time": "TIMESTAMP",
        "ddl": "STRING",
        "default_collation_name": "STRING",
    },
    "COLUMNS": {
        "table_catalog": "STRING",
        "table_schema": "STRING",
        "table_name": "STRING",
        "column_name": "STRING",
        "ordinal_position": "INT64",
        "is_nullable": "STRING",
        "data_type": "STRING",
        "is_generated": "STRING",
        "generation_expression": "STRING",
        "is_stored": "STRING",
        "is_hidden": "STRING",
        "is_updatable": "STRING",
        "is_system_defined": "STRING",
        "is_partitioning_column": "STRING",
        "clustering_ordinal_position": "INT64",
        "collation_name": "STRING",
        "column_default": "STRING",
        "rounding_mode": "STRING",
    },
}

_TYPE_NAMES = {"DOUBLE": "FLOAT64", "FLOAT": "FLOAT32"}
_POSITION = re.compile(r"\[at (\d+):(\d+)\]")


class _Analyzer:
    """The started ZetaSQL service with BigQuery's language options."""

    def __init__(self) -> None:
        from zetasql import types
        from zetasql.core.exceptions import ServerError

        self.types = types
        self.error_type = ServerError
        self.service = _start_service()
        language = self.service.get_language_options(maximum_features=True)
        language.product_mode = types.ProductMode.PRODUCT_EXTERNAL
        language.name_resolution_mode = types.NameResolutionMode.NAME_RESOLUTION_DEFAULT
        language.supported_statement_kinds = []  # none listed: every kind of statement
        self.language = language
        self.builtins = types.ZetaSQLBuiltinFunctionOptions(language_options=language)
        self.options = types.AnalyzerOptions(
            language_options=language,
            error_message_mode=types.ErrorMessageMode.ERROR_MESSAGE_ONE_LINE,
            default_timezone="UTC",
        )
        self._types: dict[str, Any] = {}
        self._empty = self.register(types.SimpleCatalog(name="bigquery", builtin_function_options=self.builtins))
        self.options.system_variables = [
            types.AnalyzerOptions.SystemVariable(name_path=name.split("."), type=self.parse_type(kind))
            for name, kind in SYSTEM_VARIABLES.items()
        ]

    def register(self, catalog: Any) -> int:
        """A catalog kept by the service (its builtin functions are then built once, not per statement)."""
        return self.service.register_catalog(simple_catalog=catalog).registered_id

    def unregister(self, catalog: int) -> None:
        self.service.unregister_catalog(registered_id=catalog)

    def analyze(self, sql: str, catalog: int) -> Any:
        """The resolved statement against a registered catalog; raises the analyzer's error."""
        response = self.service.analyze(sql_statement=sql, options=self.options, registered_catalog_id=catalog)
        return response.resolved_statement

    def parse_script(self, sql: str) -> list[Any]:
        """The statements of a script, parsed (no name resolution)."""
        script = self.service.parse(sql_statement=sql, options=self.language, allow_script=True).parsed_script
        return list(script.statement_list_node.statement_list) if script.statement_list_node else []

    def parse_type(self, name: str) -> Any:
        """The analyzer's type for a GoogleSQL type name ("STRING", "ARRAY<INT64>", ...)."""
        key = name.strip().upper()
        if key not in self._types:
            query = self.analyze(f"SELECT CAST(NULL AS {name}) AS value", self._empty)
            self._types[key] = query.output_column_list[0].column.type
        return self._types[key]


_STARTED: _Analyzer | str | None = None


def _start_service() -> Any:
    """ZetaSqlLocalService on a wasmtime engine that caches its compiled code."""
    import wasmtime
    import zetasql.core.wasm_client as wasm_client
    from zetasql.core import ZetaSqlLocalService

    cache: bool | str = True
    directory = os.environ.get(CACHE_DIR_ENV)
    if directory:
        Path(directory).mkdir(parents=True, exist_ok=True)
        config_file = Path(directory) / "wasmtime-cache.toml"
        config_file.write_text(f"[cache]\ndirectory = {json.dumps(str(Path(directory).resolve()))}\n")
        cache = str(config_file)

    class CachingConfig(wasmtime.Config):
        def __init__(self) -> None:
            super().__init__()
            try:
                self.cache = cache
            except wasmtime.WasmtimeError:
                pass  # a wasmtime built without its cache: compile at every start

    # zetasql builds its engine from `wasm_client.Config()`; give it one with the cache on.
    original = wasm_client.Config
    wasm_client.Config = CachingConfig
    try:
        service = ZetaSqlLocalService()
    finally:
        wasm_client.Config = original
    if not hasattr(ZetaSqlLocalService, "_instance"):
        ZetaSqlLocalService._instance = service  # zetasql helpers that use the singleton reuse it
    return service


def _analyzer() -> _Analyzer:
    global _STARTED
    if _STARTED is None:
        try:
            _STARTED = _Analyzer()
        except Exception as exc:  # ImportError, a wasmtime failure, a missing .wasm file
            _STARTED = f"the GoogleSQL analyzer (zetasql) cannot start: {type(exc).__name__}: {exc}"
    if isinstance(_STARTED, str):
        raise RuntimeError(_STARTED)
    return _STARTED


def available() -> str | None:
    """None when the analyzer runs; otherwise why it cannot (zetasql missing, wasmtime failing)."""
    try:
        _analyzer()
    except RuntimeError as exc:
        return str(exc)
    return None


def information_schema(dataset: str) -> dict[str, dict[str, str]]:
    """A dataset's INFORMATION_SCHEMA views as catalog tables ("<dataset>.INFORMATION_SCHEMA.COLUMNS", ...)."""
    return {f"{dataset}.INFORMATION_SCHEMA.{view}": dict(columns) for view, columns in INFORMATION_SCHEMA.items()}


def type_name(kind: Any) -> str:
    """A GoogleSQL type name of an analyzer type (FLOAT64 for DOUBLE, ARRAY<...>, STRUCT<...>)."""
    name = _TYPE_NAMES.get(kind.type_kind.name.removeprefix("TYPE_"), kind.type_kind.name.removeprefix("TYPE_"))
    if name == "ARRAY":
        return f"ARRAY<{type_name(kind.array_type.element_type)}>"
    if name == "STRUCT":
        members = ", ".join(f"{f.field_name} {type_name(f.field_type)}".strip() for f in kind.struct_type.field)
        return f"STRUCT<{members}>"
    if name == "RANGE":
        return f"RANGE<{type_name(kind.range_type.element_type)}>"
    return name


@dataclass(frozen=True)
class Statement:
    """One statement of a script, with where it starts (1-based line and column)."""

    sql: str
    line: int
    column: int


def _location(text: bytes, offset: int) -> tuple[int, int]:
    before = text[:offset].decode()
    return before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1


def split(script: str) -> list[Statement]:
    """The statements of a BigQuery script, split by GoogleSQL's own parser (comments and quoted
    semicolons are no boundaries); raises ValueError with the parser's message on a syntax error."""
    analyzer = _analyzer()
    try:
        nodes = analyzer.parse_script(script)
    except analyzer.error_type as exc:
        raise ValueError(exc.message) from exc
    text = script.encode()
    spans = [node.parse_location_range for node in nodes]
    return [Statement(text[s.start : s.end].decode(), *_location(text, s.start)) for s in spans]


def _shift(message: str, line: int, column: int) -> str:
    """Positions `[at L:C]` of a statement's text as positions in the text it starts in at line:column."""

    def moved(match: re.Match[str]) -> str:
        at_line, at_column = int(match.group(1)), int(match.group(2))
        if at_line == 1:
            at_column += column - 1
        return f"[at {line + at_line - 1}:{at_column}]"

    return _POSITION.sub(moved, message)


def _children(node: Any) -> Iterator[Any]:
    for item in fields(node):
        value = getattr(node, item.name)
        for child in value if isinstance(value, list) else [value]:
            if is_dataclass(child):
                yield child


class Catalog:
    """Tables, views and script variables, as the statements analyzed so far left them."""

    def __init__(self, tables: Mapping[str, Mapping[str, str]] | None = None) -> None:
        self._analyzer = _analyzer()
        self._tables: dict[tuple[str, ...], tuple[tuple[str, ...], dict[str, Any]]] = {}
        self._variables: dict[str, tuple[str, Any]] = {}
        self._rejected: set[tuple[str, ...]] = set()  # tables whose CREATE failed
        self._built: int | None = None  # the registered catalog, while it matches the tables
        for name, columns in (tables or {}).items():
            path = tuple(name.split("."))
            self._put(path, {c: self._analyzer.parse_type(kind) for c, kind in columns.items()})

    @property
    def tables(self) -> dict[str, dict[str, str]]:
        """Every table now in the catalog: "dataset.table" -> {column: GoogleSQL type}."""
        return {".".join(path): {c: type_name(t) for c, t in cols.items()} for path, cols in self._tables.values()}

    def analyze(self, sql: str) -> str | None:
        """The analyzer's error for one statement, or None when it passes (the catalog then
        records what the statement created, dropped, renamed or declared)."""
        error = self._analyze(sql)
        if error is None:
            return None
        created = self._created_by(sql)
        if created:
            self._rejected.add(created)
        for key in self._rejected:
            note = f" ({'.'.join(key)} was not created: its CREATE was rejected above)"
            if f"table not found: {'.'.join(key)}" in error.lower() and note not in error:
                error += note
        return error

    def _created_by(self, sql: str) -> tuple[str, ...] | None:
        """The table a CREATE statement names, from its parse tree."""
        a = self._analyzer
        try:
            [node] = a.parse_script(sql)
        except (a.error_type, ValueError):
            return None
        name = getattr(node, "name", None)
        if not type(node).__name__.startswith("ASTCreate") or not isinstance(name, a.types.ASTPathExpression):
            return None
        return self._key(part.id_string for part in name.names)

    def _analyze(self, sql: str) -> str | None:
        a = self._analyzer
        try:
            resolved = a.analyze(sql, self._catalog())
        except a.error_type as exc:
            if not exc.message.startswith(("Syntax error", "Statement not supported")):
                return str(exc)
            try:  # DECLARE, SET, IF, BEGIN ... END: the analyzer takes them only in a script
                nodes = a.parse_script(sql)
            except a.error_type:
                return str(exc)
            if len(nodes) > 1:
                return f"[split] {len(nodes)} statements in one: {exc!s}"
            if not nodes or not isinstance(nodes[0], a.types.ASTScriptStatement):
                return str(exc)
            return self._script_statement(sql.encode(), nodes[0])
        return self._record(resolved)

    # -- the catalog as the analyzer sees it --------------------------------------------------------

    def __del__(self) -> None:
        if getattr(self, "_built", None) is not None:
            with contextlib.suppress(Exception):
                self._analyzer.unregister(self._built)

    def _catalog(self) -> int:
        if self._built is None:
            t = self._analyzer.types
            root = t.SimpleCatalog(name="bigquery", builtin_function_options=self._analyzer.builtins)
            for path, columns in self._tables.values():
                node = root
                for part in path[:-1]:
                    child = next((c for c in node.catalog if c.name.lower() == part.lower()), None)
                    if child is None:
                        child = t.SimpleCatalog(name=part)
                        node.catalog.append(child)
                    node = child
                node.table.append(
                    t.SimpleTable(
                        name=path[-1],
                        column=[t.SimpleColumn(name=c, type=k, is_writable_column=True) for c, k in columns.items()],
                    )
                )
            for name, kind in self._variables.values():
                root.constant.append(t.SimpleConstant(name_path=[name], type=kind, value=t.Value()))
            self._built = self._analyzer.register(root)
        return self._built

    def _changed(self) -> None:
        if self._built is not None:
            self._analyzer.unregister(self._built)
            self._built = None

    def _key(self, path: Iterable[str]) -> tuple[str, ...]:
        return tuple(p.lower() for p in path)

    def _put(self, path: tuple[str, ...], columns: dict[str, Any]) -> None:
        self._tables[self._key(path)] = (path, columns)
        self._rejected.discard(self._key(path))
        self._changed()

    def _pop(self, path: Iterable[str]) -> tuple[tuple[str, ...], dict[str, Any]] | None:
        self._changed()
        return self._tables.pop(self._key(path), None)

    # -- what a statement leaves ------------------------------------------------------------------

    def _record(self, resolved: Any) -> str | None:
        t = self._analyzer.types
        mode = t.ResolvedCreateStatementEnums.CreateMode
        if isinstance(resolved, t.ResolvedCreateTableStmtBase | t.ResolvedCreateViewBase):
            path = tuple(resolved.name_path)
            if isinstance(resolved, t.ResolvedCreateViewBase):
                columns = {c.name: c.column.type for c in resolved.output_column_list}
            else:
                columns = {c.name: c.type for c in resolved.column_definition_list}
            exists = self._key(path) in self._tables
            if exists and resolved.create_mode == mode.CREATE_IF_NOT_EXISTS:
                return None
            if exists and resolved.create_mode != mode.CREATE_OR_REPLACE:
                return f"[catalog] {'.'.join(path)} already exists: CREATE without OR REPLACE or IF NOT EXISTS fails"
            self._put(path, columns)
        elif isinstance(resolved, t.ResolvedDropStmt):
            path = tuple(resolved.name_path)
            if resolved.object_type.upper() == "SCHEMA":
                for key in [k for k in self._tables if k[: len(path)] == self._key(path)]:
                    self._tables.pop(key)
                self._changed()
            elif "TABLE" in resolved.object_type.upper() or "VIEW" in resolved.object_type.upper():
                if self._pop(path) is None and not resolved.is_if_exists:
                    what = f"DROP {resolved.object_type} without IF EXISTS"
                    return f"[catalog] Table not found: {'.'.join(path)} ({what})"
        elif isinstance(resolved, t.ResolvedAlterTableStmt | t.ResolvedAlterViewStmt):
            return self._alter(resolved)
        elif isinstance(resolved, t.ResolvedRenameStmt):
            table = self._pop(resolved.old_name_path)
            if table is None:
                return f"[catalog] Table not found: {'.'.join(resolved.old_name_path)}"
            self._put(tuple(resolved.new_name_path), table[1])
        return None

    def _alter(self, resolved: Any) -> str | None:
        t = self._analyzer.types
        path = tuple(resolved.name_path)
        if self._key(path) not in self._tables:
            return None if resolved.is_if_exists else f"[catalog] Table not found: {'.'.join(path)} (ALTER)"
        columns = self._tables[self._key(path)][1]
        for action in resolved.alter_action_list:
            if isinstance(action, t.ResolvedRenameToAction):
                new_path = tuple(action.new_path)
                new_path = path[: -len(new_path)] + new_path if len(new_path) < len(path) else new_path
                if self._key(new_path) in self._tables:
                    return f"[catalog] {'.'.join(new_path)} already exists: ALTER TABLE RENAME TO fails"
                self._pop(path)
                path = new_path
                self._put(path, columns)
            elif isinstance(action, t.ResolvedAddColumnAction):
                definition = action.column_definition
                if definition.name.lower() not in {c.lower() for c in columns}:
                    columns[definition.name] = definition.type
            elif isinstance(action, t.ResolvedDropColumnAction):
                columns.pop(next((c for c in columns if c.lower() == action.name.lower()), action.name), None)
            elif isinstance(action, t.ResolvedRenameColumnAction):
                old = next((c for c in columns if c.lower() == action.name.lower()), None)
                if old is not None:
                    columns[action.new_name] = columns.pop(old)
        self._changed()
        return None

    # -- script statements ------------------------------------------------------------------------

    def _text(self, text: bytes, node: Any) -> str:
        return text[node.parse_location_range.start : node.parse_location_range.end].decode()

    def _expression(self, text: bytes, expression: Any, kind: Any = None) -> tuple[Any, str | None]:
        """The type of a script expression, or the analyzer's error; coerced to `kind` if given."""
        a = self._analyzer
        sql = self._text(text, expression)
        # An array of the target type takes only values that coerce to it, as an assignment does.
        prefix, suffix = ("SELECT (", ") AS value")
        if kind is not None:
            prefix, suffix = f"SELECT ARRAY<{type_name(kind)}>[(", ")] AS value"
        try:
            query = a.analyze(f"{prefix}{sql}{suffix}", self._catalog())
        except a.error_type as exc:
            line, column = _location(text, expression.parse_location_range.start)
            message = str(exc).replace("Array element type", "Value of type")
            return None, _shift(message, line, column - len(prefix))
        return query.output_column_list[0].column.type, None

    def _script_statement(self, text: bytes, node: Any) -> str | None:
        t = self._analyzer.types
        if isinstance(node, t.ASTVariableDeclaration):
            kind = self._analyzer.parse_type(self._text(text, node.type)) if node.type else None
            if node.default_value is not None:
                found, error = self._expression(text, node.default_value, kind)
                if error:
                    return error
                kind = found if kind is None else kind
            for identifier in node.variable_list.identifier_list:
                self._variables[identifier.id_string.lower()] = (identifier.id_string, kind)
            self._changed()
            return None
        if isinstance(node, t.ASTSingleAssignment):
            variable = self._variables.get(node.variable.id_string.lower())
            if variable is None:
                return f"[catalog] Undeclared variable: {node.variable.id_string}"
            return self._expression(text, node.expression, variable[1])[1]
        if isinstance(node, t.ASTStatement) and not isinstance(node, t.ASTScriptStatement):
            line, column = _location(text, node.parse_location_range.start)
            error = self.analyze(self._text(text, node))
            return _shift(error, line, column) if error else None
        # IF, WHILE, LOOP, FOR, BEGIN ... END: the statements inside, in order.
        errors = [self._script_statement(text, child) for child in self._nested(node)]
        return "; ".join(e for e in errors if e) or None

    def _nested(self, node: Any) -> Iterator[Any]:
        t = self._analyzer.types
        for child in _children(node):
            if isinstance(child, t.ASTStatement):
                yield child
            elif not isinstance(child, t.ASTExpression):
                yield from self._nested(child)


def _describe(sql: str) -> str:
    first = " ".join(sql.split())
    return first if len(first) <= 70 else first[:67] + "..."


def analyze(statements: list[str], tables: dict[str, dict[str, str]]) -> list[str]:
    """One error line per statement the analyzer rejects (none when all pass), the statements
    analyzed in order against `tables` ("dataset.table" -> {column: GoogleSQL type}) plus what the
    statements before them created."""
    catalog = Catalog(tables)
    errors = []
    for number, sql in enumerate(statements, 1):
        error = catalog.analyze(sql)
        if error:
            errors.append(f"statement {number} ({_describe(sql)}): {error}")
    return errors


def analyze_script(script: str, catalog: Catalog, name: str = "script") -> list[str]:
    """Errors of a whole script split by GoogleSQL's parser, `name:line:column` first, against
    `catalog` (which keeps what the script creates, for the next script)."""
    try:
        statements = split(script)
    except ValueError as exc:
        return [f"{name}: {exc}"]
    errors = []
    for statement in statements:
        error = catalog.analyze(statement.sql)
        if error:
            where = f"{name}:{statement.line}:{statement.column}"
            errors.append(f"{where} ({_describe(statement.sql)}): {_shift(error, statement.line, statement.column)}")
    return errors
