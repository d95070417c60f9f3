"""The one exception type for user mistakes: shown as a single line, never as a traceback."""

from __future__ import annotations


class RudderSessionsError(Exception):
    """A problem the user can fix (configuration, missing table, bad parameter)."""


class ConfigError(RudderSessionsError):
    """A source configuration entry is invalid; the message names the source and the field."""

    def __init__(self, source: str, field: str, problem: str) -> None:
        self.source = source
        self.field = field
        super().__init__(f"source {source!r}: {field}: {problem}")


class SourceError(RudderSessionsError):
    """The source table is missing or lacks a column the model reads."""


class PhaseFailed(RudderSessionsError):
    """A phase's SQL failed in the warehouse; retrying may help (the cause is chained)."""


class AuditFailed(RudderSessionsError):
    """A data-quality check on the staged tables failed; nothing was published."""


class PublishConflict(RudderSessionsError):
    """Another run published for the same source since this run was planned."""


class SettingsChanged(RudderSessionsError):
    """A run that cannot rebuild (a backfill) under settings other than the published model's."""
