"""The state tables: every move in them is accepted, every other move is refused loudly."""

from __future__ import annotations

import itertools

import pytest

from s4 import db as store_db
from s4 import states
from s4.states import IllegalTransition

ALL_STATES = sorted(states.DOCUMENT_TRANSITIONS)


def test_every_state_named_in_the_table_has_its_own_row():
    targets = set().union(*states.DOCUMENT_TRANSITIONS.values()) | states.INITIAL_STATES
    assert targets <= set(states.DOCUMENT_TRANSITIONS)
    paper_targets = set().union(*states.PAPER_TRANSITIONS.values())
    assert paper_targets <= set(states.PAPER_TRANSITIONS)


@pytest.mark.parametrize(("current", "new"), list(itertools.product(ALL_STATES, ALL_STATES)))
def test_document_moves_follow_the_table(current, new):
    allowed = new == current or new in states.DOCUMENT_TRANSITIONS[current]
    if allowed:
        states.check_document_move("D000001", current, new)
    else:
        with pytest.raises(IllegalTransition, match=f"{current!r} → {new!r}"):
            states.check_document_move("D000001", current, new)


def test_terminal_states_go_nowhere():
    for terminal in (states.DUPLICATE, states.SUPERSEDED):
        for new in ALL_STATES:
            if new != terminal:
                with pytest.raises(IllegalTransition):
                    states.check_document_move("D000001", terminal, new)


def test_paper_moves_follow_the_table():
    states.check_paper_move("D1", None, states.PULLED)
    states.check_paper_move("D1", states.IN_BOX, states.DESTROYED)
    for current, new in ((states.DESTROYED, states.IN_BOX), (states.PULLED, states.DESTROYED),
                         (states.DESTROYED, states.PULLED)):
        with pytest.raises(IllegalTransition):
            states.check_paper_move("D1", current, new)


def _document(database, state: str) -> str:
    store_db.ensure_batch(database, "b1", "default", "b1", "test", "tester")
    with store_db.transaction(database):
        doc_id = store_db.next_doc_id(database)
        store_db.insert_document(database, "tester", {
            "id": doc_id, "batch_id": "b1", "box": "b1", "position": 1, "source_name": "a.pdf",
            "source_path": "/nowhere/a.pdf", "source_size": 1, "source_mtime": 0.0,
            "sha256": "0" * 64, "pipeline": "default", "state": state,
        })
    return doc_id


def test_the_database_refuses_a_move_outside_the_table_and_changes_nothing(db):
    doc_id = _document(db, states.RECEIVED)
    events = store_db.event_count(db)
    with pytest.raises(IllegalTransition, match="'received' → 'stored'"):
        store_db.update_document(db, doc_id, "tester", "document.stored", {},
                                 state=states.STORED)
    assert store_db.get_document(db, doc_id)["state"] == states.RECEIVED
    assert store_db.event_count(db) == events
    store_db.update_document(db, doc_id, "tester", "document.ocr_started", {},
                             state=states.OCR)
    assert store_db.get_document(db, doc_id)["state"] == states.OCR

