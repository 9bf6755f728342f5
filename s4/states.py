"""The states a document and its paper pass through, and the only moves allowed between them.

Every state change goes through ``db.update_document``, which refuses a move that is not in
these tables: a bug that would, say, file a quarantined document without OCR fails loudly
instead of leaving a record nobody can explain.
"""

from __future__ import annotations

# Document states.
RECEIVED = "received"  # claimed and registered, waiting for OCR
OCR = "ocr"  # handed to an OCR worker
PROCESSED = "processed"  # searchable PDF/A and text produced
NEEDS_REVIEW = "needs_review"  # classification unsure: a records manager decides
FILED = "filed"  # class and retention decided; waiting to be stored
STORED = "stored"  # in the store and verified by hash
QUARANTINED = "quarantined"  # bad input, with a reason a person can act on
DUPLICATE = "duplicate"  # same SHA-256 as an earlier record; not processed again
NOT_A_RECORD = "not_a_record"  # a person decided it is junk (menu, blank page): not filed
SUPERSEDED = "superseded"  # replaced by an explicit re-scan (``s4 rescan``); see superseded_by
# A scanner's file holding several documents (pipeline ``capture.separation``), split into
# records of their own (``stack_id`` names it). It keeps the file as received and its
# SHA-256 for the chain of custody, and is never a paper record itself.
SPLIT = "split"

UNFINISHED_STATES = (RECEIVED, OCR)
OCR_DONE_STATES = (PROCESSED, NEEDS_REVIEW, FILED, STORED)

#: A new document row starts in one of these (S4's own records, disposal certificates, are
#: filed from the start).
INITIAL_STATES = frozenset({RECEIVED, DUPLICATE, FILED})

#: state -> the states it may move to (a state may always be rewritten as itself, e.g. to
#: record a new decision on a filed record).
DOCUMENT_TRANSITIONS: dict[str, frozenset[str]] = {
    RECEIVED: frozenset({OCR, QUARANTINED}),
    # ocr -> split: the worker found several documents (or pages to leave out of several).
    OCR: frozenset({RECEIVED, PROCESSED, QUARANTINED, SPLIT}),
    PROCESSED: frozenset({NEEDS_REVIEW, FILED, QUARANTINED, SUPERSEDED}),
    NEEDS_REVIEW: frozenset({FILED, NOT_A_RECORD, SUPERSEDED}),
    NOT_A_RECORD: frozenset({FILED, NEEDS_REVIEW, SUPERSEDED}),
    FILED: frozenset({STORED, QUARANTINED, SUPERSEDED}),
    STORED: frozenset({SUPERSEDED}),
    QUARANTINED: frozenset({RECEIVED, FILED, SUPERSEDED}),
    DUPLICATE: frozenset(),
    SUPERSEDED: frozenset(),
    SPLIT: frozenset(),  # final: its documents are records of their own
}

# Paper states (``paper_status``; no value means the paper is still in its box).
IN_BOX = "in_box"
PULLED = "pulled"  # taken out to be kept (e.g. adoption records keep their paper)
DESTROYED = "destroyed"  # destroyed under a certificate

PAPER_TRANSITIONS: dict[str, frozenset[str]] = {
    IN_BOX: frozenset({PULLED, DESTROYED}),
    PULLED: frozenset(),
    DESTROYED: frozenset(),
}


class IllegalTransition(RuntimeError):
    """A state change outside the tables above: a bug in S4, never a user's mistake."""


def check_document_move(doc_id: str, current: str | None, new: str) -> None:
    if current is None:
        if new not in INITIAL_STATES:
            raise IllegalTransition(f"{doc_id}: a new document cannot start as {new!r}")
        return
    if new != current and new not in DOCUMENT_TRANSITIONS.get(current, frozenset()):
        raise IllegalTransition(f"{doc_id}: {current!r} → {new!r} is not an allowed move")


def check_paper_move(doc_id: str, current: str | None, new: str | None) -> None:
    current = current or IN_BOX
    new = new or IN_BOX
    if new != current and new not in PAPER_TRANSITIONS.get(current, frozenset()):
        raise IllegalTransition(f"{doc_id}: paper {current!r} → {new!r} is not an allowed move")
