"""The desk's decision screens over HTTP: each decision is made by a service acting as the
signed-in account; bad input is explained on the same page and changes nothing."""

from __future__ import annotations

import csv
import io

import pytest
from starlette.testclient import TestClient

from s4 import accounts
from s4 import db as store_db
from s4.context import HomeContext
from s4.services import paper
from tests.conftest import seed_split_stack
from tests.test_disposal import _stored_doc
from tests.test_qa_sample import _with_pages
from tests.web_support import (
    PASSWORD,
    ROLE_USERS,
    csrf_from,
    desk_with_role_users,
    events,
    pdf_path,
    post,
    quarantine,
    seed_document,
    seed_review_document,
    sign_in,
    signed_in,
)

OP, RM, AU, AD = accounts.OPERATOR, accounts.RECORDS_MANAGER, accounts.AUDITOR, accounts.ADMIN


@pytest.fixture
def app(home, db):
    return desk_with_role_users(home, db)


def doc(db, doc_id: str) -> dict:
    return store_db.get_document(db, doc_id)


def test_an_operator_retries_a_quarantined_document_from_the_batches_page(app, home, db):
    doc_id = seed_document(home, db)
    quarantine(home, db, doc_id, "page 2 is unreadable")
    client = signed_in(app, OP)
    page = client.get("/batches").text
    assert f'action="/documents/{doc_id}/retry"' in page
    response = post(client, f"/documents/{doc_id}/retry", "/batches")
    assert response.status_code == 200 and "back on the line" in response.text
    assert doc(db, doc_id)["state"] == store_db.RECEIVED
    assert events(home, "document.retried")[-1]["actor"] == ROLE_USERS[OP]
    again = post(client, f"/documents/{doc_id}/retry", "/batches")  # nothing left to retry
    assert again.status_code == 400 and "not quarantined" in again.text
    # A records manager sees no Retry button and may not post one.
    manager = signed_in(app, RM)
    assert "/retry" not in manager.get("/batches").text
    assert post(manager, f"/documents/{doc_id}/retry").status_code == 403


def test_a_records_manager_accepts_and_is_taken_to_the_next_document(app, home, db):
    first, second = seed_review_document(home, db), seed_review_document(home, db)
    client = signed_in(app, RM)
    queue = client.get("/review").text
    assert first in queue and second in queue and "below the threshold" in queue
    page = client.get(f"/review/{first}").text
    for expected in ("Accept council-tax", "business-rates (0.30)", "12345678",
                     f'src="/documents/{first}/pages/1.png?w=900"', "Council Tax",
                     '<script src="/static/review.js">', f'href="/review/{second}"'):
        assert expected in page, expected
    response = post(client, f"/review/{first}", f"/review/{first}", decision="accept")
    assert response.status_code == 303
    assert response.headers["location"] == f"/review/{second}?done={first}"
    record = doc(db, first)
    assert record["state"] == store_db.FILED and record["record_class"] == "council-tax"
    assert record["decided_by"] == "person" and record["disposal_due"]
    assert events(home, "review.accepted")[-1]["actor"] == ROLE_USERS[RM]


def test_set_class_date_and_reference_and_bad_input_changes_nothing(app, home, db):
    doc_id = seed_review_document(home, db)
    client = signed_in(app, RM)
    url = f"/review/{doc_id}"
    bad = post(client, url, url, decision="set", class_id="business-rates",
               document_date="1st April", reference="NNDR-9")
    assert bad.status_code == 400
    assert "Document date: &#39;1st April&#39; is not a date" in bad.text
    assert 'value="NNDR-9"' in bad.text  # the person's input is kept on the form
    assert doc(db, doc_id)["state"] == store_db.NEEDS_REVIEW
    unknown = post(client, url, url, decision="set", class_id="no-such-class")
    assert unknown.status_code == 400 and "no record class &#39;no-such-class&#39;" in \
        unknown.text
    junk = post(client, url, url, decision="not_a_record")
    assert junk.status_code == 400 and "say why it is not a record" in junk.text
    assert events(home, "review.") == []
    good = post(client, url, url, decision="set", class_id="business-rates",
                document_date="2023-03-31", reference="NNDR-9", reason="rates bill")
    assert good.status_code == 303 and good.headers["location"] == f"/review?done={doc_id}"
    record = doc(db, doc_id)
    assert record["record_class"] == "business-rates"
    assert record["document_date"] == "2023-03-31" and "NNDR-9" in record["refs"]
    (decision,) = events(home, "review.set")
    assert decision["actor"] == ROLE_USERS[RM]


def test_not_a_record_from_the_review_desk(app, home, db):
    doc_id = seed_review_document(home, db)
    client = signed_in(app, RM)
    response = post(client, f"/review/{doc_id}", decision="not_a_record",
                    reason="a takeaway menu")
    assert response.status_code == 303
    assert doc(db, doc_id)["state"] == store_db.NOT_A_RECORD


def test_qa_lists_flagged_pages_and_a_checker_passes_or_fails_them_page_by_page(
        app, home, db):
    flagged = seed_document(home, db)  # page 2 flagged (skew)
    client = signed_in(app, OP)
    queue = client.get("/qa").text
    assert f'href="/qa/{flagged}/2"' in queue and "skew: the page is skewed" in queue
    assert f'href="/qa/{flagged}/1"' not in queue  # neither sampled nor flagged
    page = client.get(f"/qa/{flagged}/2").text
    assert f'src="/documents/{flagged}/pages/2.png?w=1600"' in page
    assert f'src="/documents/{flagged}/pages/1.png' not in page  # only this page
    assert f'action="/documents/{flagged}/rescan"' in page  # a rescan can be sent from here
    refused = post(client, f"/qa/{flagged}/2", f"/qa/{flagged}/2", verdict="fail")
    assert refused.status_code == 400 and "say what is wrong" in refused.text
    assert store_db.qa_verdicts(db, [flagged]) == {}
    response = post(client, f"/qa/{flagged}/2", f"/qa/{flagged}/2", verdict="pass",
                    reason="page 2 reads fine")
    assert response.status_code == 303 and response.headers["location"] == \
        f"/qa?done={flagged}&page=2"
    verdict = store_db.qa_verdicts(db, [flagged])[(flagged, 2)]
    assert verdict["result"] == "passed" and verdict["actor"] == ROLE_USERS[OP]
    assert f'href="/qa/{flagged}/2"' not in client.get("/qa").text  # passed: off the list
    assert post(signed_in(app, AU), f"/qa/{flagged}/2", verdict="pass").status_code == 403
    assert client.get(f"/qa/{flagged}/9").status_code == 404


def test_qa_draws_a_complete_box_sample_and_a_failed_page_blocks_the_box(app, home, db):
    """The desk's QA screen shows the box's sample (drawn when every record is stored), and
    a failed sampled page keeps the box's paper until the document is rescanned."""
    docs = [_stored_doc(home, db, "box-s", "complaint") for _ in range(2)]
    for doc_id in docs:  # page rows, as the line leaves them, none flagged
        _with_pages(db, doc_id, 3)
    client = signed_in(app, RM)
    queue = client.get("/qa?box=box-s").text
    assert "sample drawn" in queue
    [sample] = store_db.qa_samples(db, box="box-s")
    assert sample["drawn_by"] == ROLE_USERS[RM]
    for doc_id, page_no in sample["pages"]:
        assert f'href="/qa/{doc_id}/{page_no}"' in queue
    assert client.get("/qa?box=box-s").text.count("sample drawn") == 0  # drawn once
    first, *rest = sample["pages"]
    response = post(client, f"/qa/{first[0]}/{first[1]}", "/qa", verdict="fail",
                    reason="the page is cut off at the bottom")
    assert response.status_code == 303
    if rest:  # on to the next page nobody has checked
        assert response.headers["location"].startswith(f"/qa/{rest[0][0]}/{rest[0][1]}?")
    paper_page = client.get("/paper/box-s").text
    assert f"page {first[1]} failed QA (the page is cut off at the bottom)" in paper_page
    assert "failed (the page is cut off at the bottom): rescan" in \
        client.get("/qa?box=box-s").text


def test_destruction_refuses_the_approver_as_witness_then_issues_the_certificate(
        app, home, db):
    docs = [_stored_doc(home, db, "box-9", "complaint") for _ in range(2)]
    client = signed_in(app, RM)
    page = client.get("/paper/box-9").text
    assert "Record the destruction of box box-9" in page
    assert client.get("/paper").status_code == 200
    url, form = "/paper/box-9/destroy", {"method": "cross-cut shred P-4",
                                         "contractor": "Shred Ltd", "contractor_cert": "SL-1"}
    for own_name in (ROLE_USERS[RM], f"  {ROLE_USERS[RM].upper()} "):
        refused = post(client, url, "/paper/box-9", witness=own_name, **form)
        assert refused.status_code == 403, own_name
        assert "the witness must be a different person" in refused.text
    missing = post(client, url, "/paper/box-9", witness="", **form)
    assert missing.status_code == 400 and "Witness: name the person" in missing.text
    assert store_db.destructions(db) == []
    assert all(doc(db, d)["paper_status"] in (None, "in_box") for d in docs)

    done = post(client, url, "/paper/box-9", witness="B. Witness", **form)
    assert done.status_code == 303
    (record,) = store_db.destructions(db)
    assert done.headers["location"] == f"/certificates/{record['id']}"
    assert record["operator"] == ROLE_USERS[RM] and record["witness"] == "B. Witness"
    certificate = client.get(done.headers["location"]).text
    for d in docs:
        assert f'href="/documents/{d}"' in certificate
    pdf = client.get(f"/certificates/{record['id']}/pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert all(doc(db, d)["paper_status"] == "destroyed" for d in docs)


def test_a_blocked_box_is_refused_with_each_reason(app, home, db):
    _stored_doc(home, db, "box-b", "complaint")
    blocked = _stored_doc(home, db, "box-b", "complaint", qa_status="failed")
    client = signed_in(app, RM)
    page = client.get("/paper/box-b").text
    assert "QA failed: rescan the document" in page
    response = post(client, "/paper/box-b/destroy", "/paper/box-b", method="shred",
                    witness="B. Witness")
    assert response.status_code == 400
    assert f"{blocked}: QA failed: rescan the document" in response.text
    assert store_db.destructions(db) == []


def test_an_auditor_reads_retention_and_certificates_but_every_change_is_refused(
        app, home, db):
    _stored_doc(home, db, "box-a", "complaint")
    with HomeContext.open(home, actor="A. Approver") as ctx:
        certificate = paper.destroy(ctx, ["box-a"], "shred", "B. Witness").certificate
    client = signed_in(app, AU)
    retention = client.get("/retention").text
    assert "Disposition report" in retention
    assert 'action="/retention/holds"' not in retention  # no forms for an auditor
    assert 'action="/retention/events"' not in retention
    audit = client.get("/audit").text
    assert f'href="/certificates/{certificate["certificate"]}"' in audit
    assert client.get(f"/certificates/{certificate['certificate']}").status_code == 200
    before = store_db.event_count(db)
    for url, data in (("/retention/holds", {"reason": "x", "scope_kind": "reference",
                                            "scope_value": "R"}),
                      ("/retention/events", {"event_type": "claim_closed", "reference": "R",
                                             "event_date": "2026-01-01"}),
                      ("/paper/box-a/destroy", {"method": "shred", "witness": "W"})):
        assert post(client, url, **data).status_code == 403, url
    assert store_db.event_count(db) == before + 0  # the refusals changed nothing


def test_holds_are_placed_with_a_mandate_and_lifted_with_a_reason(app, home, db):
    stored = _stored_doc(home, db, "box-h", "complaint", refs='["CASE-77"]')
    client = signed_in(app, RM)
    missing = post(client, "/retention/holds", "/retention", reason="",
                   scope_kind="reference", scope_value="CASE-77")
    assert missing.status_code == 400 and "Mandate: say who ordered the hold" in missing.text
    bad_scope = post(client, "/retention/holds", "/retention", reason="court order",
                     scope_kind="class", scope_value="no-such-class")
    assert bad_scope.status_code == 400 and "no record class" in bad_scope.text
    assert store_db.holds(db) == []
    placed = post(client, "/retention/holds", "/retention", reason="court order 12",
                  scope_kind="reference", scope_value="CASE-77")
    assert placed.status_code == 200 and "covers 1 record" in placed.text
    (hold,) = store_db.holds(db)
    assert hold["placed_by"] == ROLE_USERS[RM]
    assert f"hold {hold['id']}: court order 12" in client.get("/paper/box-h").text
    lift_url = f"/retention/holds/{hold['id']}/lift"
    assert post(client, lift_url, "/retention", lift_reason="").status_code == 400
    assert store_db.holds(db) != []
    lifted = post(client, lift_url, "/retention", lift_reason="case settled")
    assert lifted.status_code == 200 and f"Hold {hold['id']} lifted" in lifted.text
    assert store_db.holds(db) == []
    assert stored


def test_events_and_the_disposition_report_with_its_csv(app, home, db):
    client = signed_in(app, RM)
    bad = post(client, "/retention/events", "/retention", event_type="claim_closed",
               reference="HB-1", event_date="soon")
    assert bad.status_code == 400 and "Event date: &#39;soon&#39; is not a date" in bad.text
    good = post(client, "/retention/events", "/retention", event_type="claim_closed",
                reference="HB-1", event_date="2020-01-31")
    assert good.status_code == 200 and "Event claim_closed on HB-1 recorded" in good.text
    assert events(home, "retention.")[-1]["actor"] == ROLE_USERS[RM]
    due = _stored_doc(home, db, "box-r", "complaint", disposal_due="2020-01-01",
                      disposal_action="destroy")
    report = client.get("/retention", params={"before": "2021-01-01"}).text
    assert f'href="/documents/{due}"' in report
    assert "is not a date" in client.get("/retention", params={"before": "x"}).text
    download = client.get("/retention/due.csv", params={"before": "2021-01-01"})
    assert download.status_code == 200 and download.headers["content-type"].startswith(
        "text/csv")
    rows = list(csv.DictReader(io.StringIO(download.text)))
    assert [row["id"] for row in rows] == [due] and rows[0]["status"] == "due"


def test_search_finds_ocr_text_and_metadata_and_follows_changes(app, home, db):
    doc_id = seed_document(home, db)
    client = signed_in(app, OP)
    page = client.get("/search", params={"q": "council"}).text
    assert f'href="/documents/{doc_id}"' in page and "<mark>Council</mark>" in page
    assert f'href="/documents/{doc_id}"' not in client.get(
        "/search", params={"q": "planning"}).text
    # A records manager's decision is searchable at once (the index follows the record).
    store_db.update_document(db, doc_id, "test", "review.set", {},
                             record_class="council-tax", document_date="2024-04-01")
    for params in ({"q": "council-tax"}, {"class": "council-tax"},
                   {"q": "tax", "box": "box-1", "from": "2024-01-01", "to": "2024-12-31"}):
        assert f'href="/documents/{doc_id}"' in client.get("/search", params=params).text, \
            params
    outside = client.get("/search", params={"q": "tax", "from": "2025-01-01"}).text
    assert f'href="/documents/{doc_id}"' not in outside
    bad = client.get("/search", params={"q": "tax", "to": "next week"})
    assert bad.status_code == 400 and "is not a date: use 2026-05-01" in bad.text
    odd = client.get("/search", params={"q": 'tax" OR NEAR(('})  # FTS syntax is just words
    assert odd.status_code == 200


def test_migrate_builds_the_search_index_for_an_existing_home(home, db):
    doc_id = seed_document(home, db)
    db.conn.executescript(  # a home from before search: no tables, no triggers
        "DROP TABLE search_pages; DROP TABLE search_documents;"
        + "".join(f"DROP TRIGGER {name};" for name in (
            "search_pages_added", "search_pages_removed", "search_pages_changed",
            "search_documents_added", "search_documents_changed",
            "search_documents_removed")))
    store_db.migrate(db)
    assert [row["id"] for row in store_db.search_documents(db, "Council")] == [doc_id]
    assert [row["id"] for row in store_db.search_documents(db, "letter")] == [doc_id]


def test_a_rescan_is_uploaded_registered_and_its_upload_removed(app, home, db):
    doc_id = seed_document(home, db)
    client = signed_in(app, RM)
    page = client.get(f"/documents/{doc_id}").text
    assert 'enctype="multipart/form-data"' in page
    token = csrf_from(page)
    url = f"/documents/{doc_id}/rescan"
    wrong = client.post(url, data={"csrf_token": token, "reason": "skewed"},
                        files={"file": ("notes.txt", b"hello", "text/plain")})
    assert wrong.status_code == 400 and "choose a PDF, TIFF, PNG or JPEG" in wrong.text
    no_reason = client.post(url, data={"csrf_token": token},
                            files={"file": ("again.pdf", pdf_path(home).read_bytes(),
                                            "application/pdf")})
    assert no_reason.status_code == 400 and "say why" in no_reason.text
    assert [d["id"] for d in store_db.documents(db)] == [doc_id]
    response = client.post(url, data={"csrf_token": token, "reason": "page 2 skewed"},
                           files={"file": ("again.pdf", pdf_path(home).read_bytes(),
                                           "application/pdf")})
    assert response.status_code == 200, response.text
    (new,) = [d for d in store_db.documents(db) if d["id"] != doc_id]
    assert new["state"] == store_db.RECEIVED and new["replaces"] == doc_id
    assert new["box"] == "box-1"
    assert list((home.root / "uploads").iterdir()) == []  # the line has its own copy


def test_an_upload_over_the_limit_is_refused_before_it_is_read(app, home, db):
    doc_id = seed_document(home, db)
    client = signed_in(app, OP)
    response = client.post(f"/documents/{doc_id}/rescan", content=b"x",
                           headers={"content-length": str(300 * 1024 * 1024),
                                    "content-type": "application/octet-stream"})
    assert response.status_code == 413 and "nothing was changed" in response.text
    assert len(store_db.documents(db)) == 1


def test_an_admin_adds_disables_and_resets_accounts_and_is_the_actor(app, home, db):
    client = signed_in(app, AD)
    weak = post(client, "/admin/users", "/admin/users", name="jo", roles=["operator"],
                password="short")
    assert weak.status_code == 400 and "too short" in weak.text
    assert store_db.get_user(db, "jo") is None
    added = post(client, "/admin/users", "/admin/users", name="jo",
                 roles=["operator", "auditor"], password="a perfectly long phrase")
    assert added.status_code == 200 and "Account jo added" in added.text
    assert sign_in(TestClient(app), "jo", "a perfectly long phrase").status_code == 303
    reset = post(client, "/admin/users/jo/password", "/admin/users",
                 password="another long phrase")
    assert reset.status_code == 200
    assert sign_in(TestClient(app), "jo", "another long phrase").status_code == 303
    assert post(client, "/admin/users/jo/disable", "/admin/users").status_code == 200
    assert sign_in(TestClient(app), "jo", "another long phrase").status_code == 200  # refused
    changes = [e for e in events(home, "user.") if e["subject"] == "user:jo"
               and e["action"] in ("user.added", "user.password_changed", "user.disabled")]
    assert [e["actor"] for e in changes] == [ROLE_USERS[AD]] * 3
    assert "a perfectly long phrase" not in "".join(str(e) for e in events(home))
    listing = client.get("/admin/users").text
    assert "password_hash" not in listing and "$argon2" not in listing


def test_a_failed_sign_in_for_an_unknown_name_records_a_hash_not_the_name(app, home):
    typed = "my secret password"  # typed into the user-name field by mistake
    response = sign_in(TestClient(app), typed, PASSWORD)
    assert response.status_code == 200 and "do not match" in response.text
    (failure,) = events(home, "user.sign_in_failed")
    assert failure["actor"] == "unknown account"
    assert failure["subject"] == f"unknown account {accounts.typed_name_digest(typed)}"
    assert typed not in str(failure)


def test_exports_download_csv_and_the_document_export_is_audited(app, home, db):
    doc_id = seed_document(home, db)
    client = signed_in(app, AU)
    response = client.get("/exports/documents.csv")
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [row["id"] for row in rows] == [doc_id] and rows[0]["box"] == "box-1"
    assert events(home, "export.downloaded")[-1]["actor"] == ROLE_USERS[AU]
    certificates = client.get("/exports/certificates.csv")
    assert certificates.status_code == 200 and certificates.text.startswith("id,boxes,")


def test_head_requests_record_no_export_and_draw_no_qa_sample(app, home, db):
    seed_document(home, db)
    docs = [_stored_doc(home, db, "box-s", "complaint") for _ in range(2)]
    for doc_id in docs:
        _with_pages(db, doc_id, 3)
    client = signed_in(app, AU)
    head = client.head("/exports/documents.csv")
    assert head.status_code == 200 and head.headers["content-type"].startswith("text/csv")
    assert events(home, "export.downloaded") == []
    assert client.get("/exports/documents.csv").status_code == 200
    assert [e["actor"] for e in events(home, "export.downloaded")] == [ROLE_USERS[AU]]
    checker = signed_in(app, RM)
    assert checker.head("/qa?box=box-s").status_code == 200
    assert store_db.qa_samples(db, box="box-s") == []  # a HEAD draws nothing
    assert "sample drawn" in checker.get("/qa?box=box-s").text
    assert len(store_db.qa_samples(db, box="box-s")) == 1


def test_the_document_page_shows_the_chain_of_custody_ocr_attempts_and_page_flags(
        app, home, db):
    store_db.ensure_batch(db, "batch-s", "default", "box-1", "/scans", "test")
    stack_id = seed_split_stack(db, "test", "batch-s", "box-1", "stack-7.pdf", "a" * 64, "1-4")
    child = seed_document(home, db)
    store_db.update_document(
        db, child, "test", "test.custody", {}, stack_id=stack_id, source_file="stack-7.pdf",
        source_sha256="a" * 64, scan_pages="2-3",
        dropped_pages='[{"page": 1, "reason": "separator sheet"}, '
                      '{"page": 4, "reason": "blank page"}]',
        capture_warning="the scan's page count did not match the 5 the operator expected")
    pages = store_db.pages_of(db, child)
    pages[0]["ocr_attempts"] = {"kept": "cleaned", "attempts": [
        {"attempt": "first", "score": 117.4}, {"attempt": "cleaned", "score": 136.6}]}
    store_db.record_ocr_result(db, child, "test", [
        {k: p[k] for k in ("page_no", "confidence", "words", "rotation", "ocr_skipped",
                           "flagged", "flags", "ocr_attempts", "text")} for p in pages],
        {}, {})
    client = signed_in(app, AU)
    page = client.get(f"/documents/{child}").text
    assert "stack-7.pdf" in page and "a" * 64 in page
    assert f'href="/documents/{stack_id}"' in page
    assert "2-3" in page and "1: separator sheet; 4: blank page" in page
    assert "did not match the 5 the operator expected" in page
    assert "OCR attempts: cleaned kept (first 117.4, cleaned 136.6)" in page
    assert "skew</strong>: the page is skewed by about 8.0°" in page
    stack_page = client.get(f"/documents/{stack_id}").text
    assert f'<a href="/documents/{child}">{child}</a> (scan pages 2-3)' in stack_page


def test_the_batches_page_shows_no_worker_section_on_the_local_executor(app, home, db):
    seed_document(home, db)
    page = signed_in(app, OP).get("/batches").text
    assert "OCR workers" not in page and "Batches" in page
