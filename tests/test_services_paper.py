"""The paper services, called directly (no command line): status, pull, QA, destroy,
storing the certificate and reading it back."""

from __future__ import annotations

import pytest

from s4 import db as store_db
from s4 import disposal
from s4.context import HomeContext
from s4.errors import NotFound, UsageProblem
from s4.services import paper
from tests.test_disposal import _stored_doc


@pytest.fixture
def ctx(home, db):
    context = HomeContext.open(home, actor="A. Operator")
    yield context
    context.close()


def test_status_names_each_blocker_and_pull_clears_the_box(ctx, home, database):
    ready = _stored_doc(home, database, "box-s", "complaint")
    kept = _stored_doc(home, database, "box-s", "complaint", qa_status="failed")
    report = paper.status(ctx, ["box-s"])
    (box,) = report.boxes
    assert [c.doc["id"] for c in box.eligible] == [ready]
    assert {c.doc["id"]: c.blockers for c in report.blocked} == \
        {kept: ["QA failed: rescan the document"]}

    outcome = paper.pull(ctx.acting_as("P. Puller"), kept, "kept by law")
    assert outcome.ok and outcome.changed == [kept]
    assert store_db.get_document(database, kept)["paper_status"] == disposal.PULLED
    assert store_db.events_for(database, kept)[-1]["actor"] == "P. Puller"
    (box,) = paper.status(ctx, ["box-s"]).boxes
    assert not box.blocked and paper.paper_counts(box)[disposal.PULLED] == 1


def test_pull_refuses_unknown_and_already_pulled_papers(ctx, home, database):
    doc_id = _stored_doc(home, database, "box-p", "complaint")
    with pytest.raises(NotFound, match="no document D999999"):
        paper.pull(ctx, "D999999", "why")
    paper.pull(ctx, doc_id, "kept")
    with pytest.raises(UsageProblem, match="already pulled"):
        paper.pull(ctx, doc_id, "again")


def test_qa_records_the_verdict_and_who_gave_it(ctx, home, database):
    doc_id = _stored_doc(home, database, "box-q", "complaint", flagged_pages="2")
    assert paper.qa(ctx.acting_as("Q. Checker"), doc_id, True, "page 2 read").changed == \
        [doc_id]
    doc = store_db.get_document(database, doc_id)
    assert doc["qa_status"] == "passed" and doc["qa_at"]
    assert store_db.events_for(database, doc_id)[-1]["actor"] == "Q. Checker"
    with pytest.raises(NotFound):
        paper.qa(ctx, "D999999", False, "no such")


def test_destroy_refuses_a_blocked_box_and_records_nothing(ctx, home, database):
    _stored_doc(home, database, "box-r", "complaint")
    blocked = _stored_doc(home, database, "box-r", "complaint", qa_status="failed")
    result = paper.destroy(ctx, ["box-r"], "shred", "B. Witness")
    assert not result.ok and result.certificate is None
    assert [(r.subject, r.reason) for r in result.refused] == \
        [(blocked, "QA failed: rescan the document")]
    assert store_db.destructions(database) == []
    with pytest.raises(UsageProblem, match="no documents in box"):
        paper.destroy(ctx, ["box-none"], "shred", "B. Witness")


def test_destroy_issues_a_certificate_that_checks_out_once_stored(ctx, home, database):
    docs = [_stored_doc(home, database, "box-d", "complaint") for _ in range(2)]
    result = paper.destroy(ctx, ["box-d"], "shred", "B. Witness", "Shred Ltd", "SL-1")
    assert result.ok and sorted(result.changed) == sorted(docs)
    certificate_id = result.certificate["certificate"]
    assert result.certificate["operator"] == "A. Operator"
    assert result.record["id"] == certificate_id

    view = paper.certificate(ctx, certificate_id)
    assert view.problems and all(p.endswith(disposal.STORE_PENDING) for p in view.problems)

    storing = paper.store_certificate_now(ctx, result.record)
    assert storing.stored and len(storing.stored_locations) == 2
    view = paper.certificate(ctx, certificate_id)
    assert view.problems == []
    assert f'"certificate": "{certificate_id}"' in view.json_text()
    assert view.pdf_bytes().startswith(b"%PDF")
    with pytest.raises(NotFound):
        paper.certificate(ctx, "CERT-1999-0001")


def test_storing_the_certificate_waits_while_the_line_runs(ctx, home, database):
    _stored_doc(home, database, "box-w", "complaint")
    result = paper.destroy(ctx, ["box-w"], "shred", "B. Witness")
    with ctx.lock():  # what a running `s4 watch` holds
        storing = paper.store_certificate_now(ctx, result.record)
    assert storing.line_busy and not storing.stored
    json_doc = store_db.get_document(database, result.record["json_doc"])
    assert json_doc["state"] != store_db.STORED
