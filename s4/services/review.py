"""The review queue: what waits for a records manager, what S4 saw, and their decisions.

A person's decision goes through ``s4.filing.Filer`` (the same code the pipeline files
with), so both record the same columns and events. Each action works on several documents:
a document that cannot take the decision is refused with the reason and left unchanged,
and the others are still decided.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from s4 import db as store_db
from s4.config import ConfigError
from s4.context import HomeContext
from s4.errors import NotFound, UsageProblem
from s4.retention import Decision
from s4.services.results import Outcome

#: The events that record a person's decision on a document's class.
DECISION_ACTIONS = ("review.accepted", "review.set", "review.not_a_record")


def _filer(ctx: HomeContext):
    from s4.filing import Filer  # imported here: filing pulls in scikit-learn lazily

    return Filer(ctx)


def _doc_id(text: str) -> str:
    try:
        return store_db.normalise_doc_id(text)
    except ValueError as exc:
        raise UsageProblem(str(exc)) from None


# --------------------------------------------------------------------------- read models


@dataclass(frozen=True)
class QueueItem:
    doc_id: str
    source_name: str
    proposed_class: str | None
    confidence: float
    reason: str


def queue(ctx: HomeContext) -> list[QueueItem]:
    """Documents waiting for a decision, oldest first."""
    items = []
    for doc in store_db.review_queue(ctx.db):
        explanation = json.loads(doc["classification"] or "{}")
        items.append(QueueItem(doc["id"], doc["source_name"], doc["proposed_class"],
                               doc["class_confidence"] or 0.0, explanation.get("reason", "")))
    return items


@dataclass(frozen=True)
class Explanation:
    """What S4 saw and decided about one document (``s4 review show``)."""

    doc_id: str
    source_name: str
    state: str
    proposed_class: str | None
    record_class: str | None
    confidence: float
    #: "person", "rules", "model"…, or for a person's decision "WHO on DAY: REASON"
    decided_by: str | None
    decided_by_person: bool
    reason: str
    model_probability: Any
    document_date: str | None
    references: list[str]
    alternatives: list[tuple[str, float]]
    evidence: list[dict[str, Any]] = field(default_factory=list)
    text: str = ""


def explain(ctx: HomeContext, doc: str) -> Explanation:
    """Everything ``review show`` tells a person about a document; NotFound if there is none."""
    doc_id = _doc_id(doc)
    record = store_db.get_document(ctx.db, doc_id)
    if record is None:
        raise NotFound(f"no document {doc_id}")
    explanation = json.loads(record["classification"] or "{}")
    by_person = record["decided_by"] == "person"
    decided = record["decided_by"]
    decisions = [e for e in store_db.events_for(ctx.db, doc_id)
                 if e["action"] in DECISION_ACTIONS]
    if by_person and decisions:  # the person's word, not the model's
        last = decisions[-1]
        decided = f"{last['actor']} on {last['at'][:10]}: {last['details'].get('reason', '')}"
    return Explanation(
        doc_id=doc_id, source_name=record["source_name"], state=record["state"],
        proposed_class=record["proposed_class"], record_class=record["record_class"],
        confidence=record["class_confidence"] or 0.0, decided_by=decided,
        decided_by_person=by_person, reason=explanation.get("reason", ""),
        model_probability=explanation.get("model_probability"),
        document_date=record["document_date"], references=json.loads(record["refs"] or "[]"),
        alternatives=[(c, p) for c, p in explanation.get("alternatives", [])],
        evidence=explanation.get("evidence", []),
        text=" ".join(store_db.document_text(ctx.db, doc_id).split()),
    )


# --------------------------------------------------------------------------- decisions


@dataclass
class ReviewOutcome(Outcome):
    #: doc id → the retention decided for it (accept, set)
    decisions: dict[str, Decision] = field(default_factory=dict)


def _each(ctx: HomeContext, docs: Sequence[str], decide) -> ReviewOutcome:
    """Apply ``decide(filer, doc_id)`` to each document, refusing those it cannot take."""
    outcome = ReviewOutcome()
    filer = _filer(ctx)
    for doc in docs:
        try:
            doc_id = store_db.normalise_doc_id(doc)
            decision = decide(filer, doc_id)
        except (LookupError, ValueError, ConfigError) as exc:
            outcome.refuse(doc, str(exc))
            continue
        outcome.changed.append(doc_id)
        if decision is not None:
            outcome.decisions[doc_id] = decision
    return outcome


def accept(ctx: HomeContext, doc_ids: Sequence[str], reason: str) -> ReviewOutcome:
    """Confirm S4's proposed class: each record is filed and its retention set."""
    return _each(ctx, doc_ids, lambda filer, doc_id: filer.accept(doc_id, ctx.actor, reason))


def not_a_record(ctx: HomeContext, doc_ids: Sequence[str], reason: str) -> ReviewOutcome:
    """Documents in review are not records (junk in the box): not filed, not stored."""
    return _each(ctx, doc_ids,
                 lambda filer, doc_id: filer.not_a_record(doc_id, ctx.actor, reason))


def set_class(ctx: HomeContext, doc: str, class_id: str, reason: str,
              document_date: date | None = None,
              reference: str | None = None) -> ReviewOutcome:
    """A person decides the class (also to correct a filed record, until disposed of)."""
    return _each(ctx, [doc], lambda filer, doc_id: filer.set_class(
        doc_id, class_id, ctx.actor, reason, document_date, reference))
