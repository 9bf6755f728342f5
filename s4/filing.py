"""Filing: turn an OCRed document into a filed record (or a review-queue item).

Shared by the pipeline (automatic decisions) and the review commands (a person's decisions),
so both paths record the same columns and events: which class, how sure, decided by whom,
which rule and schedule version, and why.
"""

from __future__ import annotations

import json
import logging
from datetime import date
from pathlib import Path
from typing import Any

from s4 import db as store_db
from s4 import retention
from s4.classify import ClassifySettings, ModelIntegrityError, TextModel, classify
from s4.config import Pipeline
from s4.context import HomeContext

log = logging.getLogger("s4.filing")

REVIEWABLE_STATES = (store_db.NEEDS_REVIEW, store_db.FILED, store_db.STORED,
                     store_db.NOT_A_RECORD)


class Filer:
    """Files documents in one opened home; schedules come from the context's one cache."""

    def __init__(self, ctx: HomeContext):
        self.ctx = ctx
        self.db = ctx.db
        self._model: tuple[str, TextModel | None] | None = None

    # ------------------------------------------------------------ shared resources

    def model(self) -> TextModel | None:
        """The latest trained model, if its file is intact; otherwise rules alone."""
        record = store_db.latest_model(self.db)
        if record is None:
            return None
        if self._model and self._model[0] == record["sha256"]:
            return self._model[1]
        try:
            model = TextModel.load(Path(record["path"]), record["sha256"])
        except (OSError, ModelIntegrityError) as exc:
            log.error("not using the trained model: %s", exc)
            model = None
        self._model = (record["sha256"], model)
        return model

    # ------------------------------------------------------------ automatic filing

    def file_document(self, doc_id: str, pipeline: Pipeline) -> str:
        """Classify an OCRed document; file it, or queue it for review. Returns the new state."""
        settings = pipeline.classify
        schedule = self.ctx.schedule(settings.schedule)
        text = store_db.document_text(self.db, doc_id)
        result = classify(text, schedule, ClassifySettings(
            threshold=settings.threshold, min_evidence=settings.min_evidence,
            temperature=settings.temperature, model_weight=settings.model_weight,
        ), self.model())
        explanation = result.explanation() | {"schedule": schedule.id,
                                              "schedule_version": schedule.version}
        common = {
            "proposed_class": result.proposed_class,
            "class_confidence": round(result.confidence, 4),
            "classification": json.dumps(explanation, ensure_ascii=False),
            "document_date": result.document_date.isoformat() if result.document_date else None,
            "refs": json.dumps(result.references),
        }
        if result.auto_file:
            store_db.update_document(
                self.db, doc_id, "s4-classifier", "document.classified", explanation,
                record_class=result.proposed_class, decided_by=result.decided_by, **common,
            )
            decision = retention.apply_decision(self.db, doc_id, result.proposed_class,
                                                schedule, "s4-classifier")
            if decision.status == "no_document_date":
                return self._to_review(doc_id, f"filed as {result.proposed_class}, but no "
                                       "document date was found and its retention counts "
                                       "from that date: set it with `s4 review set`")
            store_db.update_document(self.db, doc_id, "s4-classifier", "document.filed",
                                     {"record_class": result.proposed_class},
                                     state=store_db.FILED)
            return store_db.FILED
        store_db.update_document(
            self.db, doc_id, "s4-classifier", "document.needs_review",
            explanation, state=store_db.NEEDS_REVIEW, record_class=None, decided_by=None,
            **common,
        )
        return store_db.NEEDS_REVIEW

    def _to_review(self, doc_id: str, reason: str) -> str:
        doc = store_db.get_document(self.db, doc_id)
        explanation = json.loads(doc["classification"] or "{}") | {"reason": reason}
        store_db.update_document(
            self.db, doc_id, "s4-classifier", "document.needs_review", {"reason": reason},
            state=store_db.NEEDS_REVIEW, proposed_class=doc["record_class"] or
            doc["proposed_class"], record_class=None, decided_by=None,
            classification=json.dumps(explanation, ensure_ascii=False),
        )
        return store_db.NEEDS_REVIEW

    # ------------------------------------------------------------ a person's decisions

    def _reviewable(self, doc_id: str) -> dict[str, Any]:
        doc = store_db.get_document(self.db, doc_id)
        if doc is None:
            raise LookupError(f"no document {doc_id}")
        if doc["state"] not in REVIEWABLE_STATES:
            raise ValueError(f"{doc_id} is {doc['state']}: only documents in review, filed or "
                             "stored (and not disposed of) can be classified")
        if doc["record_class"] == "disposal-certificate":
            raise ValueError(f"{doc_id} is a disposal certificate S4 issued; its class is fixed")
        if doc["state"] == store_db.NOT_A_RECORD and doc["paper_status"] == "destroyed":
            raise ValueError(f"{doc_id} was declared not a record and its paper was destroyed "
                             f"under {doc['certificate_id']}: it cannot become a record now")
        return doc

    def accept(self, doc_id: str, who: str, reason: str) -> retention.Decision:
        doc = self._reviewable(doc_id)
        if doc["state"] != store_db.NEEDS_REVIEW:  # never undo a decision by re-accepting
            raise ValueError(f"{doc_id} is {doc['state']}, not waiting for review: there is no "
                             "proposal to accept. To change its class use "
                             "`s4 review set DOC --class ID`")
        if not doc["proposed_class"]:
            raise ValueError(f"{doc_id} has no proposed class to accept: use "
                             "`s4 review set DOC --class ID`")
        return self.decide(doc, doc["proposed_class"], who, reason, "review.accepted",
                           document_date=None, reference=None)

    def not_a_record(self, doc_id: str, who: str, reason: str) -> None:
        """A person decides a document in review is not a record (junk that came in a box).

        It is not filed or stored; its paper may go with its box. Reversible with
        ``set_class`` until then."""
        doc = store_db.get_document(self.db, doc_id)
        if doc is None:
            raise LookupError(f"no document {doc_id}")
        if doc["state"] != store_db.NEEDS_REVIEW:
            raise ValueError(f"{doc_id} is {doc['state']}: only a document waiting for review "
                             "can be declared not a record")
        if not reason.strip():
            raise ValueError("say why it is not a record (--reason)")
        store_db.update_document(self.db, doc_id, who, "review.not_a_record",
                                 {"reason": reason, "proposed_class": doc["proposed_class"]},
                                 state=store_db.NOT_A_RECORD, decided_by="person",
                                 record_class=None)

    def set_class(self, doc_id: str, class_id: str, who: str, reason: str,
                  document_date: date | None, reference: str | None) -> retention.Decision:
        doc = self._reviewable(doc_id)
        return self.decide(doc, class_id, who, reason, "review.set", document_date, reference)

    def decide(self, doc: dict[str, Any], class_id: str, who: str, reason: str, action: str,
               document_date: date | None, reference: str | None) -> retention.Decision:
        schedule = self.ctx.schedule_for(doc)
        if schedule.get(class_id) is None:
            known = ", ".join(c.id for c in schedule.classes)
            raise ValueError(f"no record class {class_id!r} in schedule {schedule.id} "
                             f"(known: {known})")
        refs = json.loads(doc["refs"] or "[]")
        if reference and reference.upper() not in refs:
            refs.append(reference.strip().upper())
        fields: dict[str, Any] = {"record_class": class_id, "decided_by": "person",
                                  "refs": json.dumps(refs)}
        if document_date:
            fields["document_date"] = document_date.isoformat()
        details = {"record_class": class_id, "previous_class": doc["record_class"],
                   "proposed_class": doc["proposed_class"], "reason": reason,
                   "document_date": fields.get("document_date", doc["document_date"]),
                   "references": refs, "schedule_version": schedule.version}
        with store_db.transaction(self.db):
            store_db.update_document(self.db, doc["id"], who, action, details, **fields)
            decision = retention.apply_decision(self.db, doc["id"], class_id, schedule, who)
            # Still in the same transaction: a crash never leaves a decided record unfiled.
            unfiled = doc["state"] in (store_db.NEEDS_REVIEW, store_db.NOT_A_RECORD)
            if decision.status == "no_document_date":
                if not unfiled:  # filed or stored: sending it back to review would file twice
                    raise ValueError(f"class {class_id} counts retention from the document "
                                     f"date, and {doc['id']} has none: give it with --date "
                                     "(nothing was changed)")
                self._to_review(doc["id"], f"class {class_id} counts retention from the "
                                "document date, and none is known: give it with --date")
            elif unfiled:
                store_db.update_document(self.db, doc["id"], who, "document.filed",
                                         {"record_class": class_id}, state=store_db.FILED)
        return decision
