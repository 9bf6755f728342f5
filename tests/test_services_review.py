"""The review and classification services, called directly (no command line): what a second
interface such as the desk gets back from each action, including per-document refusals."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from s4 import db as store_db
from s4.context import HomeContext
from s4.errors import NotFound, UsageProblem
from s4.filing import Filer
from s4.services import classification, review

SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "scans"
MANAGER = "A. Records-Manager"
# Under the shipped schedule: council tax is proposed, but not surely enough to file alone.
UNSURE = "I wish to make a complaint about my council tax bill.\nDate: 3 March 2021"
CLEAR = "Council Tax bill. Account CT-40012345. Band D.\nDate: 3 March 2021"


@pytest.fixture
def ctx(home):
    with HomeContext.open(home, MANAGER) as opened:
        yield opened


def _classified(ctx: HomeContext, text: str) -> str:
    """A document as OCR leaves it, then classified by the real filer (as the line does)."""
    store_db.ensure_batch(ctx.db, "box-1", "default", "box-1", "run", "tester")
    with store_db.transaction(ctx.db):
        doc_id = store_db.next_doc_id(ctx.db)
        store_db.insert_document(ctx.db, "tester", {
            "id": doc_id, "batch_id": "box-1", "box": "box-1",
            "position": store_db.next_position(ctx.db, "box-1"),
            "source_name": f"{doc_id}.tif", "source_path": f"/scans/{doc_id}.tif",
            "source_size": 10, "source_mtime": 0.0,
            "sha256": hashlib.sha256(f"{doc_id} {text}".encode()).hexdigest(),
            "pipeline": "default", "state": store_db.OCR,
        })
    store_db.record_ocr_result(ctx.db, doc_id, "tester", [{
        "page_no": 1, "confidence": 95.0, "words": len(text.split()), "rotation": 0,
        "ocr_skipped": 0, "flagged": 0, "text": text,
    }], {"state": store_db.PROCESSED, "pages": 1}, {})
    Filer(ctx.acting_as("s4")).file_document(doc_id, ctx.pipeline("default"))
    return doc_id


def _state(ctx: HomeContext, doc_id: str) -> str:
    return store_db.get_document(ctx.db, doc_id)["state"]


def test_the_queue_and_the_explanation_show_what_waits_and_why(ctx):
    unsure, clear = _classified(ctx, UNSURE), _classified(ctx, CLEAR)
    (item,) = review.queue(ctx)
    assert (item.doc_id, item.proposed_class) == (unsure, "council-tax")
    assert item.confidence < 0.8 and item.reason  # why it was not filed alone
    seen = review.explain(ctx, unsure.lower())  # ids are normalised as the CLI does
    assert (seen.doc_id, seen.state, seen.record_class) == (unsure, "needs_review", None)
    assert seen.evidence and "council tax" in seen.text.lower()
    assert review.explain(ctx, clear).state == store_db.FILED
    with pytest.raises(NotFound, match="no document D009999"):
        review.explain(ctx, "D009999")


def test_accept_files_what_it_can_and_refuses_the_rest_with_reasons(ctx):
    filed, unsure = _classified(ctx, CLEAR), _classified(ctx, UNSURE)
    outcome = review.accept(ctx, [filed, "D009999", unsure], "checked the bill")
    assert not outcome.ok
    assert outcome.changed == [unsure] and _state(ctx, unsure) == store_db.FILED
    assert outcome.decisions[unsure].rule_id == "CT-01"
    assert {r.subject: r.reason.split(":")[0] for r in outcome.refused} == {
        filed: f"{filed} is filed, not waiting for review",
        "D009999": "no document D009999"}
    (event,) = [e for e in store_db.events_for(ctx.db, unsure)
                if e["action"] == "review.accepted"]
    assert (event["actor"], event["details"]["reason"]) == (MANAGER, "checked the bill")
    explained = review.explain(ctx, unsure)
    assert explained.decided_by_person and explained.decided_by.startswith(MANAGER)


def test_not_a_record_needs_a_reason_and_then_takes_the_document_out_of_review(ctx):
    unsure = _classified(ctx, UNSURE)
    refused = review.not_a_record(ctx, [unsure], "  ")
    assert [r.subject for r in refused.refused] == [unsure]
    assert _state(ctx, unsure) == store_db.NEEDS_REVIEW
    done = review.not_a_record(ctx, [unsure], "canteen menu")
    assert done.ok and done.changed == [unsure] and done.decisions == {}
    assert _state(ctx, unsure) == store_db.NOT_A_RECORD and review.queue(ctx) == []


def test_set_class_refuses_a_class_the_schedule_does_not_have_and_changes_nothing(ctx):
    unsure = _classified(ctx, UNSURE)
    outcome = review.set_class(ctx, unsure, "no-such-class", "typo")
    assert [r.subject for r in outcome.refused] == [unsure]
    assert "no record class 'no-such-class'" in outcome.refused[0].reason
    assert _state(ctx, unsure) == store_db.NEEDS_REVIEW
    outcome = review.set_class(ctx, unsure, "complaint", "it is a complaint")
    assert outcome.ok and store_db.get_document(ctx.db, unsure)["record_class"] == "complaint"


# --------------------------------------------------------------------------- classification


def test_training_on_the_labelled_samples_saves_a_model_the_database_vouches_for(ctx):
    trained = classification.train(ctx, SAMPLES / "manifest.json", ground_truth=True)
    manifest = json.loads((SAMPLES / "manifest.json").read_text())["documents"]
    assert trained.documents == len(manifest)
    assert trained.classes == sorted({e["record_type"] for e in manifest})
    latest = store_db.latest_model(ctx.db)
    assert (latest["path"], latest["sha256"]) == (str(trained.path), trained.sha256)
    assert hashlib.sha256(trained.path.read_bytes()).hexdigest() == trained.sha256
    figures = classification.evaluate_labels(ctx, SAMPLES / "manifest.json", ground_truth=True)
    assert figures["model"] == "trained model + rules"
    assert figures["seen_in_training"] == len(manifest)  # it warns: these were learnt from


def test_training_without_enough_decisions_and_bad_manifests_are_refused(ctx, tmp_path):
    with pytest.raises(UsageProblem, match="not enough confirmed decisions"):
        classification.train(ctx)
    labels = tmp_path / "labels.json"
    labels.write_text('[{"file": "x.png"}]')
    with pytest.raises(classification.ManifestProblem, match='needs a "record_type"'):
        classification.train(ctx, labels)
    with pytest.raises(UsageProblem, match="no labelled documents matched"):
        classification.evaluate_labels(ctx, SAMPLES / "manifest.json", batch="no-such-batch")
    assert store_db.latest_model(ctx.db) is None
