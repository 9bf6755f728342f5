"""The records manager's side of classification: the review queue (``s4 review …``) and the
model that learns from their decisions (``s4 classify train|evaluate``).

Documents are seeded as OCR leaves them (text in the pages table) and classified by the real
filer against the home's real schedule: OCR is not the point here, the decisions are.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from s4 import db as store_db
from s4.context import HomeContext
from s4.filing import Filer
from s4.schedule import schedule_for
from tests.conftest import run_s4

SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "scans"
SCHEDULE = "uk-local-government"
MANAGER = "A. Records-Manager"

# Under the real schedule: council tax is the best guess (evidence 7 ≥ min_evidence 5), but
# "complaint" competes, so confidence is about 0.67, under the default threshold of 0.80.
UNSURE = "I wish to make a complaint about my council tax bill.\nDate: 3 March 2021"
# Evidence for no class at all: a newsletter found in a box.
JUNK = "Village newsletter\nBake sale on Friday in the church hall. Fete in June."
CLEAR = "Council Tax bill. Account CT-40012345. Band D.\nDate: 3 March 2021"


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    """Tables and grids wrap at 80 columns; a wide console keeps each row on one line."""
    monkeypatch.setenv("COLUMNS", "200")


def _ocred(db, text: str, name: str | None = None, state: str = store_db.PROCESSED) -> str:
    """A document as OCR leaves it: one page of text, waiting to be classified."""
    store_db.ensure_batch(db, "box-1", "default", "box-1", "run", "tester")
    with store_db.transaction(db):
        doc_id = store_db.next_doc_id(db)
        store_db.insert_document(db, "tester", {
            "id": doc_id, "batch_id": "box-1", "box": "box-1",
            "position": store_db.next_position(db, "box-1"),
            "source_name": name or f"{doc_id}.tif", "source_path": f"/scans/{doc_id}.tif",
            "source_size": 10, "source_mtime": 0.0,
            "sha256": hashlib.sha256(f"{doc_id} {text}".encode()).hexdigest(),
            "pipeline": "default", "state": store_db.OCR,  # seeded as handed to OCR
        })
    store_db.record_ocr_result(db, doc_id, "tester", [{
        "page_no": 1, "confidence": 95.0, "words": len(text.split()), "rotation": 0,
        "ocr_skipped": 0, "flagged": 0, "text": text,
    }], {"state": state, "pages": 1}, {})
    return doc_id


def _classified(home, db, text: str, name: str | None = None) -> str:
    """Seed an OCRed document and let S4 classify it, as the pipeline does."""
    doc_id = _ocred(db, text, name)
    Filer(HomeContext(home, db, home.settings(), "s4")).file_document(
        doc_id, home.pipeline("default"))
    return doc_id


def _actions(db, doc_id: str) -> list[str]:
    return [e["action"] for e in store_db.events_for(db, doc_id)]


def _event(db, doc_id: str, action: str) -> dict:
    (event,) = [e for e in store_db.events_for(db, doc_id) if e["action"] == action]
    return event


# --------------------------------------------------------------------------- filing


def test_unsure_classification_waits_for_review_and_is_not_filed(home, db):
    """Mutation guard: filing on ``proposed_class`` instead of ``auto_file`` files guesses."""
    doc_id = _classified(home, db, UNSURE)
    doc = store_db.get_document(db, doc_id)
    assert doc["proposed_class"] == "council-tax"  # S4 has a guess …
    assert 0.5 < doc["class_confidence"] < 0.8  # … but is not sure enough to act on it
    assert doc["state"] == store_db.NEEDS_REVIEW
    assert doc["record_class"] is None and doc["decided_by"] is None
    assert doc["rule_id"] is None and doc["disposal_due"] is None
    assert "document.needs_review" in _actions(db, doc_id)
    assert "document.filed" not in _actions(db, doc_id)
    assert "retention.decided" not in _actions(db, doc_id)


def test_clear_classification_is_filed_with_its_retention(home, db):
    doc_id = _classified(home, db, CLEAR)
    doc = store_db.get_document(db, doc_id)
    assert (doc["state"], doc["record_class"], doc["decided_by"]) == (
        store_db.FILED, "council-tax", "rules")
    assert (doc["rule_id"], doc["disposal_due"]) == ("CT-01", "2027-03-31")


# --------------------------------------------------------------------------- list / show


def test_review_list_shows_what_waits_and_nothing_else(home, db):
    code, output = run_s4(home, "review", "list")
    assert code == 0 and "The review queue is empty." in output
    unsure = _classified(home, db, UNSURE, "unsure.tif")
    junk = _classified(home, db, JUNK, "junk.tif")
    filed = _classified(home, db, CLEAR, "clear.tif")
    code, output = run_s4(home, "review", "list")
    assert code == 0, output
    assert "Review queue (2)" in output
    assert unsure in output and junk in output and filed not in output
    assert "council-tax" in output  # the proposal for the unsure one
    assert "runner-up" in output and "no record class" in output  # why each is here


def test_review_show_gives_excerpt_proposal_confidence_explanation_and_alternatives(home, db):
    doc_id = _classified(home, db, UNSURE)
    doc = store_db.get_document(db, doc_id)
    explanation = json.loads(doc["classification"])
    (runner_up, runner_p), *_ = explanation["alternatives"]
    assert runner_up == "complaint"
    code, output = run_s4(home, "review", "show", doc_id)
    assert code == 0, output
    assert "I wish to make a complaint" in output  # the text excerpt
    assert "proposed class" in output and "council-tax" in output
    assert f"{doc['class_confidence']:.2f}" in output
    assert f"runner-up complaint at {runner_p:.2f}" in output  # why it is here
    assert f"complaint {runner_p:.2f}" in output  # alternatives
    assert "Evidence for the proposed class" in output
    assert explanation["evidence"]
    for item in explanation["evidence"]:
        assert f"{item['term']} " in output and f"{item['weight']:+g}" in output
    assert "2021-03-03" in output  # the document date S4 found


def test_review_show_of_an_unknown_document_is_a_usage_error(home, db):
    code, output = run_s4(home, "review", "show", "D000042")
    assert code == 2 and "no document D000042" in output


# --------------------------------------------------------------------------- accept / set


def test_review_accept_files_the_proposal_as_the_person_decided(home, db):
    doc_id = _classified(home, db, UNSURE)
    code, output = run_s4(home, "review", "accept", doc_id, "--as", MANAGER,
                          "--reason", "read the letter: it is the bill")
    assert code == 0, output
    assert f"{doc_id}: filed under rule CT-01" in output
    doc = store_db.get_document(db, doc_id)
    assert (doc["state"], doc["record_class"], doc["decided_by"]) == (
        store_db.FILED, "council-tax", "person")
    # 3 March 2021 → financial year end 31 March 2021 → + 6 years
    assert (doc["rule_id"], doc["disposal_due"]) == ("CT-01", "2027-03-31")
    assert doc["schedule_version"] == schedule_for(home, SCHEDULE).version
    accepted = _event(db, doc_id, "review.accepted")
    assert accepted["actor"] == MANAGER
    assert accepted["details"]["reason"] == "read the letter: it is the bill"
    assert accepted["details"]["record_class"] == "council-tax"
    assert _event(db, doc_id, "document.filed")["actor"] == MANAGER
    code, output = run_s4(home, "review", "list")
    assert "The review queue is empty." in output
    code, output = run_s4(home, "review", "show", doc_id)
    assert code == 0 and "S4's reasoning" in output
    assert " ".join(output.split()).count(f"{MANAGER} on ") == 1
    assert "read the letter: it is the bill" in " ".join(output.split())


def test_review_set_gives_class_date_and_reference_and_computes_retention(home, db):
    doc_id = _classified(home, db, JUNK)
    assert store_db.get_document(db, doc_id)["disposal_due"] is None
    code, output = run_s4(home, "review", "set", doc_id, "--class", "council-tax",
                          "--date", "03/04/2021", "--reference", "ct-40012345",
                          "--as", MANAGER, "--reason", "a bill printed on the newsletter's back")
    assert code == 0, output
    doc = store_db.get_document(db, doc_id)
    assert (doc["state"], doc["record_class"], doc["decided_by"]) == (
        store_db.FILED, "council-tax", "person")
    assert doc["document_date"] == "2021-04-03"  # day first: 3 April, never 4 March
    assert json.loads(doc["refs"]) == ["CT-40012345"]
    # 3 April 2021 falls in the financial year ending 31 March 2022; + 6 years
    assert (doc["trigger_date"], doc["disposal_due"]) == ("2022-03-31", "2028-03-31")
    assert doc["rule_id"] == "CT-01"
    assert doc["schedule_version"] == schedule_for(home, SCHEDULE).version
    decided = _event(db, doc_id, "review.set")
    assert decided["actor"] == MANAGER
    assert decided["details"]["reason"] == "a bill printed on the newsletter's back"
    assert decided["details"]["references"] == ["CT-40012345"]
    assert _event(db, doc_id, "retention.decided")["details"]["disposal_due"] == "2028-03-31"


def test_review_set_corrects_a_filed_record_and_recomputes_its_retention(home, db):
    doc_id = _classified(home, db, CLEAR)
    assert store_db.get_document(db, doc_id)["disposal_due"] == "2027-03-31"
    code, output = run_s4(home, "review", "set", doc_id, "--class", "complaint",
                          "--reference", "COMP-2021-118", "--as", MANAGER)
    assert code == 0, output
    doc = store_db.get_document(db, doc_id)
    assert (doc["record_class"], doc["decided_by"]) == ("complaint", "person")
    assert doc["rule_id"] == "COMP-01"
    assert doc["disposal_due"] is None  # complaints count from the case closing
    assert doc["retention_trigger"] == "event:case_closed"
    assert "COMP-2021-118" in json.loads(doc["refs"])
    assert _event(db, doc_id, "review.set")["details"]["previous_class"] == "council-tax"


def test_review_set_refuses_a_class_the_schedule_does_not_have(home, db):
    doc_id = _classified(home, db, UNSURE)
    before = _actions(db, doc_id)
    code, output = run_s4(home, "review", "set", doc_id, "--class", "parking-fines",
                          "--as", MANAGER)
    assert code == 2, output
    assert "no record class 'parking-fines' in schedule uk-local-government" in output
    assert "council-tax" in output  # the message lists the classes that exist
    doc = store_db.get_document(db, doc_id)
    assert doc["state"] == store_db.NEEDS_REVIEW and doc["record_class"] is None
    assert _actions(db, doc_id) == before


@pytest.mark.parametrize("situation, expected", [
    ("quarantined", "is quarantined: only documents in review"),
    ("not yet classified", "is processed: only documents in review"),
    ("no proposal", "has no proposed class to accept"),
    ("unknown", "no document D000099"),
])
def test_review_accept_refuses_what_is_not_waiting_for_a_proposal(home, db, situation,
                                                                  expected):
    if situation == "quarantined":
        doc_id = _ocred(db, UNSURE, state=store_db.QUARANTINED)
    elif situation == "not yet classified":
        doc_id = _ocred(db, UNSURE)
    elif situation == "no proposal":
        doc_id = _classified(home, db, JUNK)
    else:
        doc_id = "D000099"
    before = store_db.get_document(db, doc_id)
    code, output = run_s4(home, "review", "accept", doc_id, "--as", MANAGER)
    assert code == 2, output
    assert expected in output
    assert store_db.get_document(db, doc_id) == before  # nothing changed
    assert not [e for e in store_db.iter_events(db) if e["action"] == "review.accepted"]


def test_review_accept_does_not_override_a_persons_decision(home, db):
    """``accept`` confirms S4's proposal for a record waiting in review. On a record a person
    has already classified it must not silently put S4's original guess back."""
    doc_id = _classified(home, db, UNSURE)
    code, output = run_s4(home, "review", "set", doc_id, "--class", "complaint",
                          "--reference", "COMP-2021-118", "--as", MANAGER)
    assert code == 0, output
    code, output = run_s4(home, "review", "accept", doc_id, "--as", "someone.else")
    assert code == 2, output
    assert "not waiting for review" in output
    doc = store_db.get_document(db, doc_id)
    assert (doc["record_class"], doc["decided_by"]) == ("complaint", "person")


# --------------------------------------------------------------------------- train


def _confirm_four(home, db) -> None:
    """Four decisions by a records manager, in two classes."""
    for text in (UNSURE, "Please look at my council tax bill again, I want to complain.\n"
                 "Date: 5 May 2021"):
        doc_id = _classified(home, db, text)
        assert run_s4(home, "review", "accept", doc_id, "--as", MANAGER)[0] == 0
    for text in ("Formal complaint: the bin men were rude. I am dissatisfied.",
                 "Complaint about the library: I was not happy with the reply."):
        doc_id = _classified(home, db, text)
        code, output = run_s4(home, "review", "set", doc_id, "--class", "complaint",
                              "--as", MANAGER)
        assert code == 0, output


def _evaluate_json(home, *args: str) -> tuple[dict, str]:
    code, output = run_s4(home, "classify", "evaluate", str(SAMPLES / "manifest.json"),
                          "--ground-truth", "--json", *args)
    assert code == 0, output
    return json.loads(output[output.index("{"):output.rindex("}") + 1]), output


def test_train_needs_enough_confirmed_decisions(home, db):
    doc_id = _classified(home, db, UNSURE)
    run_s4(home, "review", "accept", doc_id, "--as", MANAGER)
    code, output = run_s4(home, "classify", "train", "--as", MANAGER)
    assert code == 2
    assert "not enough confirmed decisions to train on (1 documents, 1 classes" in output
    assert store_db.latest_model(db) is None


def test_confirmed_decisions_train_a_model_whose_file_is_checked_before_use(home, db):
    _confirm_four(home, db)
    _classified(home, db, CLEAR)  # filed by the rules: not a person's decision, not training
    code, output = run_s4(home, "classify", "train", "--as", MANAGER)
    assert code == 0, output
    assert "Trained on 4 documents in 2 classes" in output
    model = store_db.latest_model(db)
    path = Path(model["path"])
    assert path.is_file() and path.parent == home.root / "models"
    assert model["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert model["sha256"][:12] in output
    assert (model["samples"], json.loads(model["classes"]), model["trained_by"]) == (
        4, ["complaint", "council-tax"], MANAGER)
    (trained,) = store_db.events_with_action(db, "model.trained")
    assert trained["actor"] == MANAGER
    assert json.loads(trained["details"])["sha256"] == model["sha256"]

    # The intact model is used, by the line and by `classify evaluate`.
    assert store_db.get_document(db, _classified(home, db, CLEAR))["decided_by"] == \
        "rules+model"
    figures, _ = _evaluate_json(home)
    assert figures["model"] == "trained model + rules"

    # Someone edits the model file: S4 refuses it, says why, and falls back to the rules.
    data = json.loads(path.read_text())
    data["intercept"][0] += 5
    path.write_text(json.dumps(data, separators=(",", ":")))
    figures, output = _evaluate_json(home)
    assert figures["model"] == "rules only"
    assert "not using the trained model" in output and "changed outside S4" in output
    assert "s4 classify train" in output  # what to do about it
    assert store_db.get_document(db, _classified(home, db, CLEAR))["decided_by"] == "rules"


# --------------------------------------------------------------------------- evaluate


def test_evaluate_reports_precision_review_share_and_confusion(home, db, tmp_path):
    labelled = tmp_path / "labelled"
    labelled.mkdir()
    documents = [
        ("bill.tif", "council-tax", CLEAR),  # filed, rightly
        ("bill-2.tif", "council-tax", CLEAR.replace("Band D", "Band B")),  # also
        ("mislabelled.tif", "business-rates", CLEAR),  # filed as council-tax: a mistake
        ("unsure.tif", "complaint", UNSURE),  # sent to review
        ("newsletter.tif", "junk", JUNK),  # sent to review, as junk must be
    ]
    for name, _, text in documents:
        (labelled / f"{Path(name).stem}.gt.txt").write_text(text)
    (labelled / "manifest.json").write_text(json.dumps({"documents": [
        {"file": name, "record_type": label, "template": f"{label}/t"}
        for name, label, _ in documents]}))
    manifest = str(labelled / "manifest.json")

    code, output = run_s4(home, "classify", "evaluate", manifest, "--ground-truth", "--json")
    assert code == 0, output
    figures = json.loads(output)
    assert (figures["documents"], figures["auto_filed"], figures["auto_filed_correct"]) == \
        (5, 3, 2)
    assert figures["precision_auto_filed"] == 0.667  # 2 of the 3 it would file
    assert figures["review_share"] == 0.4  # 2 of the 5
    assert (figures["junk_documents"], figures["junk_auto_filed"]) == (1, 0)
    assert figures["confusion"] == {
        "business-rates": {"council-tax": 1}, "complaint": {"review": 1},
        "council-tax": {"council-tax": 2}, "junk": {"review": 1}}
    assert figures["mistakes"] == [
        {"file": "mislabelled.tif", "true": "business-rates", "decided": "council-tax"}]

    code, output = run_s4(home, "classify", "evaluate", manifest, "--ground-truth")
    assert code == 0, output
    assert "precision auto filed" in output and "review share" in output
    assert "Confusion by true class" in output and "council-tax ×1" in output
    assert "Auto-filed wrongly: mislabelled.tif (business-rates → council-tax)" in output

    code, output = run_s4(home, "classify", "evaluate", manifest, "--ground-truth",
                          "--exclude-templates", "business-rates/*", "--json")
    assert code == 0 and json.loads(output)["precision_auto_filed"] == 1.0


def test_evaluate_says_when_it_is_marking_the_models_own_homework(home, db, tmp_path):
    labelled = tmp_path / "labelled"
    labelled.mkdir()
    complaint = "Formal complaint about the missed bin collection. Reply within 20 days."
    documents = [
        ("bill-a1", "council-tax", "a", CLEAR),
        ("bill-a2", "council-tax", "a", CLEAR.replace("Band D", "Band B")),
        ("complaint-a1", "complaint", "a", complaint),
        ("complaint-a2", "complaint", "a", complaint.replace("bin", "garden waste")),
        ("bill-b1", "council-tax", "b", "Council Tax demand notice, band E, year 2021/22"),
    ]
    for name, _, _, text in documents:
        (labelled / f"{name}.gt.txt").write_text(text)
    (labelled / "manifest.json").write_text(json.dumps({"documents": [
        {"file": f"{name}.tif", "record_type": label, "template": f"{label}/{template}"}
        for name, label, template, _ in documents]}))
    manifest = str(labelled / "manifest.json")
    code, output = run_s4(home, "classify", "train", "--labels", manifest, "--ground-truth",
                          "--templates", "*/a", "--as", MANAGER)
    assert code == 0 and "Trained on 4 documents in 2 classes" in output, output

    # Evaluated on what it learnt from: the figures say so, and the table warns.
    code, output = run_s4(home, "classify", "evaluate", manifest, "--ground-truth", "--json")
    figures = json.loads(output)
    assert code == 0 and figures["model"] == "trained model + rules"
    assert figures["seen_in_training"] == 4
    assert figures["templates_seen_in_training"] == ["complaint/a", "council-tax/a"]
    code, output = run_s4(home, "classify", "evaluate", manifest, "--ground-truth")
    assert code == 0 and "4 of 5 documents (and 2 template(s)) were in the model's" in output

    # On held-out templates there is nothing to warn about.
    code, output = run_s4(home, "classify", "evaluate", manifest, "--ground-truth",
                          "--exclude-templates", "*/a", "--json")
    figures = json.loads(output)
    assert (figures["documents"], figures["seen_in_training"],
            figures["templates_seen_in_training"]) == (1, 0, [])
    code, output = run_s4(home, "classify", "evaluate", manifest, "--ground-truth",
                          "--exclude-templates", "*/a")
    assert code == 0 and "training set" not in output


def test_evaluate_on_the_labelled_samples(home, db):
    manifest = json.loads((SAMPLES / "manifest.json").read_text())
    truth: dict[str, int] = {}
    for entry in manifest["documents"]:
        truth[entry["record_type"]] = truth.get(entry["record_type"], 0) + 1
    assert "junk" in truth
    figures, _ = _evaluate_json(home)
    assert figures["documents"] == len(manifest["documents"])
    assert {k: sum(row.values()) for k, row in figures["confusion"].items()} == truth
    assert figures["junk_auto_filed"] == 0 and figures["confusion"]["junk"] == {"review": 1}
    assert figures["review_share"] == round(1 - figures["auto_filed"] / figures["documents"], 3)
    assert figures["model"] == "rules only"


def test_evaluate_without_matching_documents_is_a_usage_error(home, db):
    code, output = run_s4(home, "classify", "evaluate", str(SAMPLES / "manifest.json"),
                          "--batch", "no-such-batch")
    assert code == 2 and "no labelled documents matched" in output


@pytest.mark.parametrize("content, expected", [
    ('{"a": 1}', 'expected a list of labelled documents'),
    ('[{"file": "x.png"}]', 'document 1 (x.png): needs a "record_type"'),
    ("not json", "not valid JSON"),
])
def test_a_bad_labels_file_is_a_usage_error_naming_the_problem(home, tmp_path, content,
                                                                expected):
    labels = tmp_path / "labels.json"
    labels.write_text(content)
    for args in (("classify", "evaluate", str(labels)),
                 ("classify", "train", "--labels", str(labels))):
        code, output = run_s4(home, *args)
        assert code == 2 and f"{labels}: " in output and expected in output, output
