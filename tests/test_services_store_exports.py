"""The store and export services, called directly (no command line)."""

from __future__ import annotations

import pytest

from s4 import db as store_db
from s4 import retention
from s4.context import HomeContext
from s4.errors import EnvironmentProblem, UsageProblem
from s4.services import exports, paper, store
from tests.test_disposal import _stored_doc


@pytest.fixture
def ctx(home, db):
    context = HomeContext.open(home, actor="A. Operator")
    yield context
    context.close()


def test_store_check_passes_for_the_local_folder(ctx):
    result = store.check(ctx)
    assert result.backend == "local" and result.lines and result.ok


def test_store_verify_finds_a_copy_that_does_not_match(ctx, home, database):
    doc_id = _stored_doc(home, database, "box-v", "complaint")  # stored_sha256 is not its hash
    ((doc, result),) = store.verify(ctx, [doc_id.lower()])
    assert doc["id"] == doc_id and not result.ok
    assert store_db.get_document(database, doc_id)["verified_at"] is None
    with pytest.raises(UsageProblem):
        store.verify(ctx, ["nonsense"])


def test_store_sync_refuses_while_the_line_runs(ctx):
    with ctx.lock(), pytest.raises(EnvironmentProblem, match="stores records by itself"):
        store.sync(ctx)
    report = store.sync(ctx)  # free again: it runs; nothing waits, nothing fails
    assert not report.unavailable and not report.conflicts and report.pending == 0


def test_document_rows_shape_references_holds_and_paper(ctx, home, database):
    doc_id = _stored_doc(home, database, "box-e", "complaint", refs='["REF-1", "REF-2"]')
    pulled = _stored_doc(home, database, "box-e", "complaint")
    paper.pull(ctx, pulled, "kept")
    hold = retention.place_hold(database, "litigation", "doc", doc_id, "A. Operator")
    rows = {row["id"]: row for row in exports.document_rows(ctx)}
    assert list(rows[doc_id]) == exports.document_fields()
    assert rows[doc_id]["batch"] == "box-e" and rows[doc_id]["references"] == "REF-1 REF-2"
    assert rows[doc_id]["holds"] == hold["id"]
    assert rows[doc_id]["paper_status"] == "in_box" and rows[pulled]["paper_status"] == "pulled"
    assert "text" in exports.document_fields(with_text=True)


def test_certificate_rows_join_boxes_and_locate_the_stored_copies(ctx, home, database):
    _stored_doc(home, database, "box-c1", "complaint")
    _stored_doc(home, database, "box-c2", "complaint")
    result = paper.destroy(ctx, ["box-c1", "box-c2"], "shred", "B. Witness")
    paper.store_certificate_now(ctx, result.record)
    (row,) = exports.certificate_rows(ctx)
    assert list(row) == exports.CERTIFICATE_FIELDS
    assert row["id"] == result.certificate["certificate"] and row["boxes"] == "box-c1, box-c2"
    assert row["json_location"] and row["pdf_location"]
    assert row["documents"] == 2
