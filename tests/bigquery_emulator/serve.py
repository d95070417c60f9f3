"""`bqemulator start` with fixes where bqemulator 1.4.0 departs from BigQuery in ways the project's SQL
meets. Run by the emulator's own venv (never imported by the project's):
`.bqemulator-venv/bin/python tests/bigquery_emulator/serve.py start [bqemulator start options]`;
`BQEMULATOR_FIDELITY=0` runs the emulator unchanged (to probe it).

Each fix brings the emulator to BigQuery's documented behaviour (NOTES.md has the probes):
1. TIMESTAMP cells of getQueryResults / tabledata.list are float epoch seconds unless the request
   asks `formatOptions.useInt64Timestamp=true` (google-cloud-bigquery always asks; the discovery
   client under Airflow's DB-API cursor never does, and `float()`s the cell). bqemulator always sends
   integer microseconds, which the hook would read a million times too large.
2. `ASSERT expr [AS 'description']` (cloud.google.com/bigquery/docs/reference/standard-sql/
   debugging-statements): an error unless expr is TRUE. bqemulator has no ASSERT.
3. `@@row_count`: the rows changed by the script's previous DML statement, else NULL. Not in bqemulator.
4. DDL on permanent tables/datasets inside BEGIN TRANSACTION is refused, as BigQuery does
   (docs/transactions, "Statements supported in transactions"); bqemulator runs it.
5. A transaction still open when the script ends is rolled back (docs/transactions, "Transaction
   scope"); bqemulator commits it. A job that is just `BEGIN [TRANSACTION]` or `ASSERT ...` runs as a
   script too: bqemulator would send the BEGIN to its one shared DuckDB connection, leaving every
   later job of the server inside that transaction.
6. `PRIMARY KEY (...) NOT ENFORCED` in CREATE TABLE is accepted (and dropped: nothing enforces it
   anyway); bqemulator's parser refuses it.
7. An internal error (HTTP 500, a bqemulator bug) is answered as a 400 that no client retries:
   google-cloud-bigquery would otherwise retry it for 10 minutes.
8. `ALTER TABLE ... ADD COLUMN` shows in INFORMATION_SCHEMA.COLUMNS and tables.get: bqemulator alters
   the DuckDB table but keeps the catalog's old schema.
9. A field of a STRUCT script variable that is NULL (declared, never set) is NULL of the field's
   type (docs/reference/standard-sql/operators#field_access_operator); bqemulator leaves `var.field`
   in the SQL, where DuckDB reads it as a table that does not exist.
"""

from __future__ import annotations

import contextvars
import json
import os
import re
from typing import Any
from urllib.parse import parse_qs

import bqemulator.api.routes.jobs as job_routes
import bqemulator.catalog.ddl_sync as ddl_sync
import bqemulator.jobs.executor as executor
import bqemulator.scripting.interpreter as interpreter
import bqemulator.server
import bqemulator.storage.arrow_bridge as bridge
import pyarrow as pa
import sqlglot
from bqemulator.cli import main
from bqemulator.domain.errors import InvalidQueryError
from bqemulator.scripting.ast import BeginStmt, Script, SqlStmt

INT64_TIMESTAMPS: contextvars.ContextVar[bool] = contextvars.ContextVar("int64_timestamps", default=True)
ROW_COUNT = "_bqemulator_row_count"
END_OF_SCRIPT = "/* bqemulator: end of script */"
_ROW_COUNT_REF = re.compile(r"@@row_count\b", re.IGNORECASE)
_ASSERT = re.compile(
    r"^\s*ASSERT\b\s*(?P<expr>.*?)(?:\s+AS\s+(?P<desc>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"))?\s*;?\s*$",
    re.IGNORECASE | re.DOTALL,
)
_DML = re.compile(r"^\s*(?:INSERT|UPDATE|DELETE|MERGE)\b", re.IGNORECASE)
_DDL = re.compile(r"^\s*(?:CREATE|DROP|ALTER|UNDROP)\b", re.IGNORECASE)
_TEMPORARY_DDL = re.compile(
    r"^\s*(?:CREATE\s+(?:OR\s+REPLACE\s+)?TEMP(?:ORARY)?\s+(?:TABLE|FUNCTION)\b"
    r"|DROP\s+(?:TABLE|FUNCTION)\s+(?:IF\s+EXISTS\s+)?`?[A-Za-z_][A-Za-z0-9_]*`?\s*;?\s*$)",  # unqualified: temp
    re.IGNORECASE,
)
_LONE_BEGIN = re.compile(r"^\s*BEGIN(?:\s+TRANSACTION)?\s*;?\s*$", re.IGNORECASE)
_ALTER_COLUMNS = re.compile(
    r"^\s*ALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?P<name>[`\w.-]+)\s+(?:ADD|DROP|ALTER|RENAME)\s+COLUMN\b", re.IGNORECASE
)
_PRIMARY_KEY = re.compile(
    r",\s*PRIMARY\s+KEY\s*\([^)]*\)\s*NOT\s+ENFORCED|\s+PRIMARY\s+KEY\s+NOT\s+ENFORCED", re.IGNORECASE
)
DDL_IN_TRANSACTION = (
    "DDL statements are not supported in a transaction, except for those creating or dropping "
    "temporary tables or temporary functions"
)


# 1. TIMESTAMP wire format ------------------------------------------------------------------------


def _timestamp(formatter):
    def format_timestamp(value: Any, arrow_type: pa.DataType, field: pa.Field | None) -> Any:
        text = formatter(value, arrow_type, field)
        if arrow_type.tz is None or INT64_TIMESTAMPS.get():
            return text  # a DATETIME, or a caller that asked for microseconds
        return repr(int(text) / 1_000_000)  # exact int division: the double nearest the instant

    return format_timestamp


def _asgi(app):
    """Timestamp format by the request's formatOptions (fix 1); 500s as final 400s (fix 7)."""

    async def asgi(scope, receive, send):
        if scope["type"] != "http":
            return await app(scope, receive, send)
        query = parse_qs(scope.get("query_string", b"").decode())
        wanted = query.get("formatOptions.useInt64Timestamp", ["false"])[0].lower() == "true"
        token = INT64_TIMESTAMPS.set(wanted or scope.get("method") != "GET")
        failed: dict[str, Any] = {}

        async def send_final(message):
            if message["type"] == "http.response.start" and message["status"] == 500:
                failed["start"] = message
                return None
            if failed and message["type"] == "http.response.body":
                failed["body"] = failed.get("body", b"") + message.get("body", b"")
                if message.get("more_body"):
                    return None
                text = failed["body"].decode(errors="replace")
                body = json.dumps(
                    {
                        "error": {
                            "code": 400,
                            "message": f"bqemulator internal error: {text}",
                            "errors": [{"reason": "invalid", "message": f"bqemulator internal error: {text}"}],
                            "status": "INVALID_ARGUMENT",
                        }
                    }
                ).encode()
                headers = [(k, v) for k, v in failed["start"].get("headers", []) if k.lower() != b"content-length"]
                headers.append((b"content-length", str(len(body)).encode()))
                await send({**failed["start"], "status": 400, "headers": headers})
                return await send({"type": "http.response.body", "body": body})
            return await send(message)

        try:
            return await app(scope, receive, send_final)
        finally:
            INT64_TIMESTAMPS.reset(token)

    return asgi


# 2-5. Scripts ------------------------------------------------------------------------------------

_parse_script = interpreter.parse_script
_init = interpreter.ScriptInterpreter.__init__
_exec_sql = interpreter.ScriptInterpreter._exec_sql
_run_query = interpreter.ScriptInterpreter._run_query
_run_query_with_params = interpreter.ScriptInterpreter._run_query_with_params


def parse_script(source: str) -> Script:
    """The script, a marker statement after its last: where an open transaction rolls back (fix 5)."""
    script = _parse_script(source)
    return Script(statements=(*script.statements, SqlStmt(sql=END_OF_SCRIPT)))


def init(self, *args: Any, **kwargs: Any) -> None:
    _init(self, *args, **kwargs)
    self._frames.declare(ROW_COUNT, "INT64", None)  # in the root frame: every block sees it (fix 3)
    self._bqemulator_last = None


async def exec_sql(self, sql: str) -> None:
    text = sql.strip()
    if text == END_OF_SCRIPT:
        if self._active_txn is not None:
            await self._restore_txn_snapshots()
        return
    assertion = _ASSERT.match(text)
    if assertion:
        value = await self._eval_expr_scalar(assertion["expr"])
        self._frames.set(ROW_COUNT, None)
        if value is not True:
            description = assertion["desc"]
            raise InvalidQueryError(description[1:-1] if description else f"Assertion failed: {assertion['expr']}")
        return
    if self._active_txn is not None and _DDL.match(text) and not _TEMPORARY_DDL.match(text):
        raise InvalidQueryError(f"Query error: {DDL_IN_TRANSACTION}")
    self._bqemulator_last = None
    await _exec_sql(self, sql)
    count = None
    last = self._bqemulator_last
    if _DML.match(text) and last is not None and last.num_rows and last.num_columns:
        count = last.column(0)[0].as_py()
    self._frames.set(ROW_COUNT, count)


async def run_query(self, bq_sql: str) -> pa.Table:
    table = await _run_query(self, _ROW_COUNT_REF.sub(ROW_COUNT, bq_sql))
    self._bqemulator_last = table
    return table


async def run_query_with_params(self, bq_sql: str, using_values: list[Any]) -> pa.Table:
    return await _run_query_with_params(self, _ROW_COUNT_REF.sub(ROW_COUNT, bq_sql), using_values)


_parse_job = executor._parse_script_or_raise


def parse_job(bq_sql: str) -> Any:
    """A lone BEGIN or ASSERT makes a script, not a statement for DuckDB (fix 5)."""
    script = _parse_job(bq_sql)
    if len(script.statements) == 1 and isinstance(script.statements[0], SqlStmt):
        text = script.statements[0].sql
        if _LONE_BEGIN.match(text) or _ASSERT.match(text):
            return Script(statements=(BeginStmt(body=script.statements, exception_handler=None),))
    return script


_execute_query_job = job_routes.execute_query_job


async def execute_query_job(project_id: str, job_id: str, bq_sql: str, *args: Any, **kwargs: Any) -> Any:
    """The job's SQL without `PRIMARY KEY ... NOT ENFORCED` (fix 6)."""
    return await _execute_query_job(project_id, job_id, _PRIMARY_KEY.sub("", bq_sql), *args, **kwargs)


_sync_created_table = ddl_sync.sync_created_table


def sync_created_table(bq_sql: str, project_id: str, ctx: Any) -> None:
    """After an ALTER TABLE of its columns, the catalog's schema is the table's (fix 8)."""
    _sync_created_table(bq_sql, project_id, ctx)
    altered = _ALTER_COLUMNS.match(bq_sql)
    if not altered:
        return
    parts = altered["name"].replace("`", "").split(".")
    if len(parts) not in (2, 3):
        return
    p_id, d_id, t_id = parts if len(parts) == 3 else [project_id, *parts]
    meta = ctx.catalog.get_table(p_id, d_id, t_id)
    if meta is not None:
        schema = ddl_sync._introspect_schema(p_id, d_id, t_id, ctx)
        ctx.catalog.update_table(meta.model_copy(update={"schema_": schema, "last_modified_time": ctx.clock.now()}))


# 9. Fields of a NULL STRUCT variable ---------------------------------------------------------------

_rewrite_struct_field = interpreter._rewrite_struct_field_column


def rewrite_struct_field(col: Any, visible: dict[str, Any], params: list[Any]) -> bool:
    variable = visible.get(col.table)
    if variable is None or variable.value is not None or not str(variable.type_name or "").upper().startswith("STRUCT"):
        return _rewrite_struct_field(col, visible, params)
    kind = sqlglot.exp.DataType.build(variable.type_name, dialect="bigquery")
    field = next((f for f in kind.expressions if f.name == col.name), None)
    if field is None:
        return False
    params.append(None)
    col.replace(sqlglot.exp.Cast(this=sqlglot.exp.Placeholder(this=str(len(params))), to=field.args["kind"]))
    return True


def install() -> None:
    bridge._BQ_TYPE_FORMATTERS = tuple(
        (predicate, _timestamp(formatter) if predicate is pa.types.is_timestamp else formatter)
        for predicate, formatter in bridge._BQ_TYPE_FORMATTERS
    )
    create_app = bqemulator.server.create_app
    bqemulator.server.create_app = lambda context: _asgi(create_app(context))
    interpreter.parse_script = parse_script
    interpreter.ScriptInterpreter.__init__ = init
    interpreter.ScriptInterpreter._exec_sql = exec_sql
    interpreter.ScriptInterpreter._run_query = run_query
    interpreter.ScriptInterpreter._run_query_with_params = run_query_with_params
    executor._parse_script_or_raise = parse_job
    interpreter._rewrite_struct_field_column = rewrite_struct_field
    job_routes.execute_query_job = execute_query_job
    executor.sync_created_table = interpreter.sync_created_table = sync_created_table


if __name__ == "__main__":
    if os.environ.get("BQEMULATOR_FIDELITY", "1") != "0":
        install()
    main()
