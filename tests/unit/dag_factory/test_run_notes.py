"""The DAG run note: the tasks' parts joined, outcome first, within the note column's size."""

from __future__ import annotations

from rudder_sessions.notes import NOTE_LIMIT, join_parts


def test_parts_are_joined_as_paragraphs_and_empty_ones_left_out():
    assert join_parts(["**failed at plan**: x ", "", "  ", "incremental"]) == "**failed at plan**: x\n\nincremental"


def test_a_long_note_is_cut_to_what_airflow_stores_and_says_so():
    note = join_parts(["a" * 600, "b" * 600])
    assert len(note) == NOTE_LIMIT and note.endswith("…") and note.startswith("a" * 600)
