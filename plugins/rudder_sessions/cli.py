"""`rudder-sessions`: render the SQL, run the model, show a source's state, without a scheduler.

Runs go through the same engine as the Airflow operators; connections resolve the Airflow way
(for example `AIRFLOW_CONN_<ID>` set to `{"conn_type": "duckdb", "host": "/path/file.duckdb"}`).
"""

from __future__ import annotations

import argparse
import logging
import os
import select
import sys
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from rudder_sessions.config import SourceConfig
from rudder_sessions.dialects import DIALECTS, get_dialect
from rudder_sessions.errors import ConfigError, RudderSessionsError
from rudder_sessions.model import MODES, PHASES, run_key
from rudder_sessions.plan import BACKFILL, FULL_REFRESH, INCREMENTAL, RunPlan, check_request
from rudder_sessions.rendering import render_phase
from rudder_sessions.settings import BY_NAME, SETTINGS
from rudder_sessions.timestamps import parse_timestamp

if TYPE_CHECKING:
    from rudder_sessions.engine import SessionRunner

# Config fields and the flags that set them, so errors name what the user typed.
FLAGS = {s.name: s.flag for s in SETTINGS if s.cli} | {"name": "--source-name", "dialect": "--dialect"}
# Flags whose shape differs by command (required, choices): added by build_parser.
OWN_FLAGS = ("conn_id", "dialect")
CONVERT = {"number": float, "integer": int}
# Exit codes besides 0: 1 the run failed (or the warehouse said no), 2 a mistake in the flags, and
# 3 nothing done because the run id was published before (a script re-using it must notice), 141
# the reader of the output went away (`... | head -1`): 128 + SIGPIPE, what a shell reports for a
# command that a closed pipe ends, and not 1, as a run that printed after publishing did not fail.
ALREADY_PUBLISHED = 3
CLOSED_PIPE = 141


class _ReaderGone(Exception):
    """The pipe our output goes to has no reader any more (`... | head -1` read its line)."""


def _say(text: str, *, err: bool = False) -> None:
    """Print a line of output; a closed pipe becomes `_ReaderGone`.

    Only the CLI's own writes are read that way: a BrokenPipeError from a warehouse's socket is a
    failed run, not a reader that went away.
    """
    try:
        print(text, file=sys.stderr if err else sys.stdout)
    except BrokenPipeError as exc:
        raise _ReaderGone from exc


def _flush() -> None:
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError as exc:
        raise _ReaderGone from exc


def _stdout_reader_gone() -> bool:
    """Whether stdout is a pipe without a reader: Linux reports POLLERR on its write end then."""
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _, events in poller.poll(0))
    except (OSError, ValueError, AttributeError):  # no descriptor (captured), or no poll()
        return False


def timestamp_arg(value: str) -> datetime:
    """An ISO date or timestamp; naive values are UTC."""
    try:
        return parse_timestamp(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not an ISO date or timestamp (e.g. 2026-03-01 or 2026-03-01T06:00)"
        ) from None


def count_arg(value: str) -> int:
    """A whole number of at least 1 (a negative LIMIT is a warehouse error, not a mistake's line)."""
    try:
        count = int(value)
    except ValueError:
        count = 0
    if count < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number of at least 1")
    return count


def event_table_arg(value: str) -> dict[str, str]:
    """`pages` (RudderStack's event column), `clicks:action` (events named by a column) or
    `orders=order_completed` (one fixed name), as the config file's mapping."""
    if "=" in value:
        table, name = value.split("=", 1)
        return {"table": table.strip(), "event_name": name}
    if ":" in value:
        table, column = value.split(":", 1)
        return {"table": table.strip(), "event_column": column.strip()}
    return {"table": value.strip()}


def _add_model_flags(parser: argparse.ArgumentParser, command: str, *, require_conn: bool) -> None:
    for setting in SETTINGS:
        if command in setting.cli and setting.kind == "event_tables":
            parser.add_argument(
                setting.flag, dest=setting.name, action="append", type=event_table_arg, default=None,
                metavar="TABLE[:COLUMN|=NAME]", help=f"{setting.help}; once per table",
            )  # fmt: skip
        elif command in setting.cli and setting.name not in OWN_FLAGS:
            default = setting.cli_value
            shown = default if not isinstance(default, tuple) else ",".join(default)
            shown = f" (default: {shown})" if default not in (None, "") else ""
            parser.add_argument(
                setting.flag,
                type=CONVERT.get(setting.kind, str),
                default=default,
                choices=setting.choices or None,
                help=f"{setting.help}{shown}",
            )
    parser.add_argument("--source-name", default="cli", help="name of the source in the run state")
    if require_conn:
        parser.add_argument("--conn-id", required=True, help=BY_NAME["conn_id"].help)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rudder-sessions",
        description="Identity-stitched sessions and event flows from RudderStack tracks.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    sub = parser.add_subparsers(dest="command", required=True)

    render = sub.add_parser("render", help="print the SQL a run executes")
    render.add_argument("--dialect", required=True, choices=sorted(DIALECTS))
    render.add_argument("--step", choices=PHASES, help="one phase only (default: all, in order)")
    render.add_argument("--mode", choices=MODES, default=FULL_REFRESH)
    render.add_argument("--run-id", default="rendered", help="run id used for staging table names")
    _add_model_flags(render, "render", require_conn=False)

    run = sub.add_parser("run", help="run the model against an Airflow connection")
    _add_model_flags(run, "run", require_conn=True)
    run.add_argument("--mode", choices=MODES, default=FULL_REFRESH)
    run.add_argument("--start", type=timestamp_arg, help="backfill window start (ISO date or timestamp, UTC)")
    run.add_argument("--end", type=timestamp_arg, help="backfill window end, exclusive")
    run.add_argument("--run-id", help="run id (default: cli__<UTC time>__<random>)")
    run.add_argument("--dialect", choices=sorted(DIALECTS), help="override the connection's dialect")

    status = sub.add_parser("status", help="show the watermark and the last runs of a source")
    _add_model_flags(status, "status", require_conn=True)
    status.add_argument("--dialect", choices=sorted(DIALECTS), help="override the connection's dialect")
    status.add_argument("--limit", type=count_arg, default=10, help="runs to show")
    return parser


def _config(args: argparse.Namespace) -> SourceConfig:
    values = {
        s.name: getattr(args, s.name) for s in SETTINGS if s.cli and s.name not in OWN_FLAGS and hasattr(args, s.name)
    }
    timeout = values["timeout_minutes"]
    values["timeout_minutes"] = int(timeout) if float(timeout).is_integer() else timeout
    return SourceConfig(
        name=args.source_name,
        conn_id=getattr(args, "conn_id", None) or "none",
        dialect=getattr(args, "dialect", None),
        **values,
    )


def _render(args: argparse.Namespace) -> int:
    config = _config(args)
    dialect = get_dialect(args.dialect)
    example = datetime(2026, 1, 1)
    plan = RunPlan(
        run_id=args.run_id,
        mode=args.mode,
        requested_mode=args.mode,
        window_start=example if args.mode != FULL_REFRESH else None,
        window_end=datetime(2026, 1, 2) if args.mode == BACKFILL else None,
        watermark_before=example if args.mode == INCREMENTAL else None,
        state_version=1 if args.mode != FULL_REFRESH else 0,
    )
    phases = [args.step] if args.step else list(PHASES)
    for phase in phases:
        _say(f"-- ===== {phase} =====")
        _say(render_phase(phase, config, dialect, plan))
    return 0


def _run(args: argparse.Namespace) -> int:
    from rudder_sessions.engine import SessionRunner
    from rudder_sessions.run_log import format_summary

    check_request(args.mode, args.start, args.end)  # before connecting: the same rules as the trigger form
    config = _config(args)
    run_id = args.run_id or f"cli__{datetime.now(UTC):%Y%m%dT%H%M%S}__{uuid.uuid4().hex[:8]}"
    runner = SessionRunner.connect(config)
    if args.run_id and _published(runner, run_id):
        # The engine treats it as a retry and does nothing; its summary would be the old run's.
        _say(f"rudder-sessions: run {run_id} was already published; nothing done", err=True)
        return ALREADY_PUBLISHED
    summary = runner.run(run_id, args.mode, args.start, args.end)
    _say(format_summary(summary, config))
    return 0


def _published(runner: SessionRunner, run_id: str) -> bool:
    """Whether the run log holds `run_id` as published (no run log yet: no)."""
    session = runner.session
    if not session.columns(session.config.target_schema, session.tables(run_key(run_id)).runs_name):
        return False
    return runner.run_log.published(run_id)


def _status(args: argparse.Namespace) -> int:
    from rudder_sessions.engine import SessionRunner

    config = _config(args)
    state, runs = SessionRunner.connect(config).status(args.limit)
    if state is None:
        _say(f"source {config.name!r}: nothing published in {config.target_schema} yet")
        return 0
    _say(
        f"source {config.name!r}: watermark {state['watermark']} (version {state['version']}, "
        f"last run {state['last_run_id']}, {state['last_mode']}, at {state['updated_at']})"
    )
    for run in runs:
        window = f"[{run['window_start']}, {run['window_end'] or '…'})" if run["window_start"] else "everything"
        _say(
            f"  {run['finished_at']}  {run['mode']:<12} {window}  read {run['rows_read']}, "
            f"changed {run['events_changed']}, visitors {run['visitors_affected']}  {run['run_id']}  {run['outcome']}"
        )
    return 0


def _flag_problem(error: ConfigError, args: argparse.Namespace) -> str:
    """A config problem as the flag the user typed (the field where no flag sets it)."""
    problem = error.problem
    if error.field == "name":
        problem = f"{args.source_name!r} is not a source name: {problem}"
    return f"{FLAGS.get(error.field, error.field)}: {problem}"


def main(argv: Sequence[str] | None = None) -> int:
    # Airflow's loggers write to stdout too: when its reader has gone, a log line would print
    # "--- Logging error ---" and a traceback to stderr. The closed pipe is this CLI's to report.
    logging.raiseExceptions = False
    try:
        try:
            return _main(argv)
        finally:
            # Flushed here, not at exit, so that a closed pipe is caught below (after --help or a
            # flag mistake too), not reported by the interpreter as an ignored exception.
            _flush()
    except (_ReaderGone, BrokenPipeError) as error:
        # Airflow's log lines go to stdout too: a BrokenPipeError from one of them is the same
        # closed pipe. One from a warehouse's socket, with stdout still read, is not.
        if isinstance(error, BrokenPipeError) and not _stdout_reader_gone():
            raise
        # Whoever read the output stopped reading: nothing more to say, and no one to say it to.
        # The interpreter flushes stdout once more at exit; it goes to /dev/null, not the pipe.
        devnull = os.open(os.devnull, os.O_WRONLY)
        for stream in (sys.stdout, sys.stderr):
            try:
                os.dup2(devnull, stream.fileno())
            except (OSError, ValueError):  # a stream without a file descriptor (captured)
                pass
        os.close(devnull)
        return CLOSED_PIPE


def _main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)  # prints --help and flag mistakes itself
    except BrokenPipeError as exc:
        raise _ReaderGone from exc
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    if not args.debug:
        # Hooks log every statement at INFO; the CLI prints its own summary instead. Airflow reads
        # this when it configures logging, on first import.
        os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
    try:
        return {"render": _render, "run": _run, "status": _status}[args.command](args)
    except ConfigError as exc:
        if args.debug:
            raise
        _say(f"rudder-sessions: error: {'; '.join(_flag_problem(p, args) for p in exc.problems)}", err=True)
        return 2
    except RudderSessionsError as exc:
        if isinstance(exc.__cause__, BrokenPipeError) and _stdout_reader_gone():
            raise _ReaderGone from exc  # a log line met the closed pipe, inside a hook's call
        if args.debug:
            raise
        _say(f"rudder-sessions: error: {exc}", err=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
