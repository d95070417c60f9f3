"""The DAG run note: the tasks' parts joined, outcome first, within the note column's size."""

from __future__ import annotations

from rudder_sessions.notes import NOTE_LIMIT, join_parts


def test_parts_are_joined_as_paragraphs_and_empty_ones_left_out():
    assert join_parts(["**failed at plan**: x ", "", "  ", "incremental"]) == "**failed at plan**: x\n\nincremental"


def test_a_long_note_is_cut_to_what_airflow_stores_and_says_so():
    note = join_parts(["a" * 600, "b" * 600])
    assert len(note) == NOTE_LIMIT and note.endswith("…") and note.startswith("a" * 600)


def test_a_note_someone_wrote_is_kept():
    from types import SimpleNamespace

    from rudder_sessions.run_notes import _write

    run = SimpleNamespace(note="checked by hand", dag_id="d", run_id="r")
    _write(None, run)  # returns before reading any part: there is no session to read them from
    assert run.note == "checked by hand"
