"""What the tasks leave for their DAG run's note, apart from the listener that writes it
(`rudder_sessions.run_notes`): the tasks import this, not Airflow's plugin and listener machinery."""

from __future__ import annotations

NOTE_KEY = "rudder_sessions_note"
# DagRunNote.content is a String(1000).
NOTE_LIMIT = 1000


def join_parts(parts: list[str]) -> str:
    """The note from the tasks' parts, latest (the outcome) first, cut to what the note column holds."""
    note = "\n\n".join(part.strip() for part in parts if part and part.strip())
    return note if len(note) <= NOTE_LIMIT else note[: NOTE_LIMIT - 1] + "…"
