"""The audit services, called directly: verify runs disposal's certificate checks, head,
log filters, and the import structure behind them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from s4 import audit as audit_log
from s4 import db as store_db
from s4.context import HomeContext
from s4.errors import UsageProblem
from s4.services import audit, paper
from tests.test_disposal import _stored_doc


@pytest.fixture
def ctx(home, db):
    context = HomeContext.open(home, actor="A. Operator")
    yield context
    context.close()


def test_verify_runs_the_certificate_checks_a_bare_log_walk_does_not(ctx, home, database):
    _stored_doc(home, database, "box-a", "complaint")
    result = paper.destroy(ctx, ["box-a"], "shred", "B. Witness")
    assert paper.store_certificate_now(ctx, result.record).stored
    assert audit.verify(ctx).ok
    pdf = Path(result.record["pdf_path"])
    pdf.write_bytes(pdf.read_bytes() + b"%tampered")

    report = audit.verify(ctx)
    assert report.certificate_checks == 1 and not report.ok
    assert any("PDF certificate" in p and "altered" in p for p in report.problems())
    # The chain itself is intact: only the certificate check sees the tampering.
    assert audit_log.verify_log(ctx.db, home, certificate_checks=[]).ok


def test_verify_reports_copies_waiting_for_the_store_as_waiting(ctx, home, database):
    _stored_doc(home, database, "box-b", "complaint")
    paper.destroy(ctx, ["box-b"], "shred", "B. Witness")
    report = audit.verify(ctx)
    assert not report.ok and audit.only_waiting(report)


def test_verify_refuses_a_malformed_kept_head(ctx):
    with pytest.raises(UsageProblem):
        audit.verify(ctx, "not a head")


def test_head_is_the_last_entry_and_log_filters_by_document(ctx, home, database):
    doc_id = _stored_doc(home, database, "box-h", "complaint")
    last = store_db.audit_last_event(database)
    assert audit.head(ctx).line() == f"{last['seq']}:{last['hash']} {last['at']}"
    entries = list(audit.log(ctx, doc=doc_id.lower()))
    assert entries and {e.subject for e in entries} == {doc_id}
    assert entries[0].record()["details"] == entries[0].details
    assert list(audit.log(ctx, since="2999-01-01")) == []
    with pytest.raises(UsageProblem):
        audit.log(ctx, doc="not-a-doc")
    with pytest.raises(UsageProblem):
        audit.log(ctx, since="yesterday-ish")


def test_certificate_pdf_no_longer_imports_disposal():
    """The cycle disposal <-> certificate_pdf is gone: either imports first, cleanly."""
    code = ("import sys, s4.certificate_pdf as c; assert 's4.disposal' not in sys.modules; "
            "import s4.disposal as d; assert d.JUNK_CLASS_LABEL == c.JUNK_CLASS_LABEL")
    subprocess.run([sys.executable, "-c", code], check=True)
