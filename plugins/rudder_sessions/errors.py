"""The one exception type for user mistakes: shown as a single line, never as a traceback."""

from __future__ import annotations


class RudderSessionsError(Exception):
    """A problem the user can fix (configuration, missing table, bad parameter)."""


class ConfigError(RudderSessionsError):
    """A source configuration entry is invalid; the message names the source and the field."""

    def __init__(self, source: str, field: str, problem: str) -> None:
        self.source = source
        self.field = field
        self.problem = problem
        self.problems: list[ConfigError] = [self]
        super().__init__(f"source {source!r}: {field}: {problem}")

    @classmethod
    def several(cls, source: str, problems: list[ConfigError]) -> ConfigError:
        """One error naming every problem of a source, in one line ("a: ...; b: ...")."""
        error = cls(source, problems[0].field, problems[0].problem)
        error.problems = list(problems)
        error.args = (f"source {source!r}: " + "; ".join(f"{p.field}: {p.problem}" for p in problems),)
        return error


class SourceError(RudderSessionsError):
    """The source table is missing or lacks a column the model reads."""


class PhaseFailed(RudderSessionsError):
    """A phase's SQL failed in the warehouse; retrying may help (the cause is chained)."""


class StatementRefused(PhaseFailed):
    """The warehouse refused a statement for what it says (a binder, syntax, type or data error):
    the same statement fails the same way on a retry, so the task fails at once."""


class WarehouseBusy(PhaseFailed):
    """The warehouse is held by another process (an embedded DuckDB file): retry later."""


class WarehouseUnreachable(WarehouseBusy):
    """The warehouse refused or did not answer the connection (a server down, restarting, or an
    unknown database or role, which drivers do not tell apart when connecting): retry later."""


class AuditFailed(RudderSessionsError):
    """A data-quality check on the staged tables failed; nothing was published."""


class PublishConflict(RudderSessionsError):
    """Another run published for the same source since this run was planned."""


class SettingsChanged(RudderSessionsError):
    """A run that cannot rebuild (a backfill) under settings other than the published model's."""


class GraphDidNotConverge(RudderSessionsError):
    """The identity graph's label propagation hit its bound; nothing was published."""


class TargetTaken(RudderSessionsError):
    """The target tables hold another source's model."""
