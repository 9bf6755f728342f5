"""Paper disposal: every blocking condition refuses, certificates are sealed and checkable,
and the whole story runs on real sample scans."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from s4 import db as store_db
from s4 import retention
from tests.conftest import run_s4, seed_split_stack

SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "scans"
LONG_AGO = (datetime.now(UTC) - timedelta(days=400)).isoformat(timespec="seconds")


def _stored_doc(home, database, box: str, cls: str, **overrides) -> str:
    """A record as the pipeline leaves it once stored and verified (file in the store)."""
    store_db.ensure_batch(database, box, "default", box, "run", "tester")
    pdf = home.store / f"{box}-{store_db.next_doc_id(database)}.pdf"
    pdf.write_bytes(b"%PDF-1.7 stand-in for a verified PDF/A " + box.encode())
    with store_db.transaction(database):
        doc_id = store_db.next_doc_id(database)
        store_db.insert_document(database, "tester", {
            "id": doc_id, "batch_id": box, "box": box,
            "position": store_db.next_position(database, box), "source_name": f"{doc_id}.tif",
            "source_path": f"/scans/{doc_id}.tif", "source_size": 10, "source_mtime": 0.0,
            "sha256": doc_id.lower() * 8, "pipeline": "default", "state": store_db.STORED,
            "output_pdf": str(pdf), "pages": 2, "pdfa": 1, "record_class": cls,
            "rule_id": "R1", "schedule_version": _schedule_version(home),
            "store_location": str(pdf),
            "store_backend": "local", "stored_sha256": "x", "verified_at": LONG_AGO,
            "decided_by": "rules", "refs": "[]", "document_date": "2021-03-03",
            **overrides,
        })
    return doc_id


def _schedule_version(home) -> str:
    from s4.schedule import schedule_for

    return schedule_for(home, "uk-local-government").version


def _destroy(home, box: str) -> tuple[int, str]:
    return run_s4(home, "paper", "destroy", "--box", box, "--method", "cross-cut shred P-4",
                  "--witness", "B. Witness", "--contractor", "Shred Ltd",
                  "--contractor-cert", "SL-1", "--as", "A. Operator")


def _nothing_recorded(database) -> None:
    assert store_db.destructions(database) == []
    assert not [e for e in store_db.iter_events(database) if e["action"] == "paper.destroyed"]


@pytest.mark.parametrize("blocker, overrides, expected", [
    ("not verified", {"state": store_db.FILED, "verified_at": None}, "not verified"),
    ("fixity lost", {"verified_at": None}, "not verified"),  # stored, but no longer verified
    ("QA flagged", {"flagged_pages": "2"}, "QA: low-confidence pages 2"),
    ("QA failed", {"qa_status": "failed"}, "QA failed"),
    ("not PDF/A", {"pdfa": 0}, "not PDF/A"),
    ("quarantine", {"verified_at": datetime.now(UTC).isoformat(timespec="seconds")},
     "paper quarantine until"),
    ("review", {"state": store_db.NEEDS_REVIEW, "record_class": None},
     "awaiting classification review"),
    ("quarantined", {"state": store_db.QUARANTINED}, "quarantined"),
    ("keeps paper", {"record_class": "adoption"}, "class adoption keeps the paper"),
    ("schedule changed", {"schedule_version": "0ld5chedule0"},
     "schedule changed"),
])
def test_each_blocking_condition_refuses_the_whole_box(home, database, blocker, overrides,
                                                       expected):
    _stored_doc(home, database, "box-1", "complaint")
    blocked = _stored_doc(home, database, "box-1", "complaint", **overrides)
    code, output = _destroy(home, "box-1")
    assert code == 1, output
    assert blocked in output and expected in output
    _nothing_recorded(database)
    code, output = run_s4(home, "paper", "status", "--box", "box-1")
    assert code == 0 and expected in output


def test_hold_refuses_and_lifting_it_allows(home, database):
    doc = _stored_doc(home, database, "box-2", "complaint", refs='["COMP-2022-118"]')
    hold = retention.place_hold(database, "Ombudsman investigation", "reference",
                                "COMP-2022-118", "records.manager")
    code, output = _destroy(home, "box-2")
    assert code == 1 and doc in output and f"hold {hold['id']}" in output
    _nothing_recorded(database)
    retention.lift_hold(database, hold["id"], "investigation closed", "records.manager")
    code, output = _destroy(home, "box-2")
    assert code == 0, output


def test_pulled_paper_lets_the_rest_of_the_box_go(home, database):
    keep = _stored_doc(home, database, "box-3", "adoption")
    go = _stored_doc(home, database, "box-3", "complaint")
    code, _ = run_s4(home, "paper", "pull", keep, "--reason", "adoption: paper kept by law")
    assert code == 0
    code, output = _destroy(home, "box-3")
    assert code == 0, output
    (record,) = store_db.destructions(database)
    certificate = json.loads(Path(record["json_path"]).read_text())
    assert [r["s4_id"] for r in certificate["records"]] == [go]
    assert store_db.get_document(database, keep)["paper_status"] == "pulled"
    assert store_db.get_document(database, go)["paper_status"] == "destroyed"


def test_a_hold_on_a_duplicate_copy_blocks_its_box(home, database):
    original = _stored_doc(home, database, "box-5", "complaint")
    copy = _stored_doc(home, database, "box-5", "complaint", state=store_db.DUPLICATE,
                       duplicate_of=original)
    retention.place_hold(database, "Ombudsman case 42", "doc", copy, "records.manager")
    code, output = _destroy(home, "box-5")
    assert code == 1 and copy in output and "Ombudsman case 42" in output, output
    _nothing_recorded(database)


def test_a_duplicate_is_blocked_by_whatever_blocks_its_original(home, database):
    original = _stored_doc(home, database, "box-6", "complaint", qa_status="failed")
    copy = _stored_doc(home, database, "box-6", "complaint", state=store_db.DUPLICATE,
                       duplicate_of=original)
    status = disposal_status(home, database, "box-6", date.today())
    assert {c.doc["id"]: c.blockers for c in status.blocked}[copy] == \
        [f"duplicate of {original}: QA failed: rescan the document"]


def disposal_status(home, database, box: str, today: date):
    from s4 import disposal

    (status,) = disposal.box_status(_context(home, database), [box], today)
    return status


def _context(home, database, actor: str = "tester"):
    from s4.context import HomeContext

    return HomeContext(home, database, home.settings(), actor)


def _verified_on(day: date) -> str:
    return f"{day.isoformat()}T12:00:00Z"


def test_paper_period_ends_exactly_on_its_last_day(home, database):
    today = date(2026, 6, 30)
    ready = _stored_doc(home, database, "box-7", "complaint",
                        verified_at=_verified_on(today - timedelta(days=30)))
    waiting = _stored_doc(home, database, "box-7", "complaint",
                          verified_at=_verified_on(today - timedelta(days=29)))
    status = disposal_status(home, database, "box-7", today)
    assert [c.doc["id"] for c in status.eligible] == [ready]
    (blocked,) = status.blocked
    assert blocked.doc["id"] == waiting
    assert blocked.blockers == ["paper quarantine until 2026-07-01"]
    assert status.earliest == date(2026, 7, 1)


def test_the_longer_of_pipeline_and_class_paper_periods_applies(home, database):
    today = date(2026, 6, 30)
    child = _stored_doc(home, database, "box-8", "looked-after-child",
                        verified_at=_verified_on(today - timedelta(days=100)))
    status = disposal_status(home, database, "box-8", today)
    assert status.blocked[0].doc["id"] == child  # the class's 180 days, not the pipeline's 30
    assert status.earliest == today + timedelta(days=80)
    pipeline = home.root / "pipelines" / "default.yaml"
    pipeline.write_text(pipeline.read_text().replace("quarantine_days: 30",
                                                     "quarantine_days: 60"))
    complaint = _stored_doc(home, database, "box-9b", "complaint",
                            verified_at=_verified_on(today - timedelta(days=45)))
    status = disposal_status(home, database, "box-9b", today)
    assert status.blocked[0].doc["id"] == complaint  # the pipeline's 60 days, not the class's 30
    assert status.earliest == today + timedelta(days=15)


def test_the_paper_clock_starts_again_when_a_person_passes_qa_later(home, database):
    today = date(2026, 6, 30)
    doc = _stored_doc(home, database, "box-qa", "complaint", flagged_pages="2",
                      verified_at=_verified_on(today - timedelta(days=100)))
    assert disposal_status(home, database, "box-qa", today).blocked[0].blockers == [
        "QA: low-confidence pages 2 not yet checked (`s4 paper qa DOC --pass`)"]
    code, output = run_s4(home, "paper", "qa", doc, "--pass", "--reason", "page 2 read fine")
    assert code == 0, output
    passed_on = store_db.get_document(database, doc)["qa_at"][:10]
    code, output = run_s4(home, "export", "documents", "--format", "jsonl")
    (row,) = [json.loads(line) for line in output.splitlines() if doc in line]
    assert (row["qa_status"], row["qa_at"][:10]) == ("passed", passed_on)
    ready = date.fromisoformat(passed_on) + timedelta(days=30)
    (blocked,) = disposal_status(home, database, "box-qa", ready - timedelta(days=1)).blocked
    assert blocked.blockers == [f"paper quarantine until {ready.isoformat()}"]
    assert [c.doc["id"] for c in disposal_status(home, database, "box-qa", ready).eligible] \
        == [doc]


def test_a_changed_schedule_blocks_paper_until_it_is_applied(home, database):
    doc = _stored_doc(home, database, "box-sv", "complaint")
    schedule = home.retention_rules / "uk-local-government.yaml"
    schedule.write_text(schedule.read_text() + "\n# reviewed by the records manager\n")
    code, output = _destroy(home, "box-sv")
    assert code == 1 and doc in output and "run `s4 retention apply`" in output, output
    _nothing_recorded(database)
    code, output = run_s4(home, "retention", "apply", "--as", "R. Manager")
    assert code == 0, output
    assert store_db.get_document(database, doc)["schedule_version"] == _schedule_version(home)
    code, output = _destroy(home, "box-sv")
    assert code == 0, output
    (record,) = store_db.destructions(database)
    (row,) = json.loads(Path(record["json_path"]).read_text())["records"]
    assert row["schedule_version"] == _schedule_version(home)  # the version that allowed it


def test_the_box_can_go_when_its_last_document_is_ready(home, database):
    today = date(2026, 6, 30)
    for age in (10, 20):
        _stored_doc(home, database, "box-10", "complaint",
                    verified_at=_verified_on(today - timedelta(days=age)))
    assert disposal_status(home, database, "box-10", today).earliest == date(2026, 7, 20)
    code, output = run_s4(home, "paper", "status", "--box", "box-10", "--on", "2026-06-30")
    assert code == 0 and "2026-07-20" in output, output


def test_destroying_several_boxes_is_refused_if_any_is_blocked(home, database):
    _stored_doc(home, database, "box-a", "complaint")
    blocked = _stored_doc(home, database, "box-b", "complaint", qa_status="failed")
    code, output = run_s4(home, "paper", "destroy", "--box", "box-a", "--box", "box-b",
                          "--method", "shred", "--witness", "B. Witness")
    assert code == 1 and blocked in output and "QA failed" in output, output
    _nothing_recorded(database)


def test_audit_verify_catches_a_deleted_certificate_row(home, database):
    record = _destroyed_box(home, database)
    database.conn.execute("DELETE FROM destructions WHERE id = ?", (record["id"],))
    database.conn.commit()
    code, output = run_s4(home, "audit", "verify")
    assert code == 1
    assert f"{record['id']}: audit entry {record['seal_seq']} seals this certificate" in output


def test_audit_verify_catches_paper_status_reset_behind_its_back(home, database):
    record = _destroyed_box(home, database)
    (doc_id, *_) = [d["id"] for d in store_db.documents(database, "box-9")]
    database.conn.execute("UPDATE documents SET paper_status = NULL, certificate_id = NULL "
                          "WHERE id = ?", (doc_id,))
    database.conn.commit()
    code, output = run_s4(home, "audit", "verify")
    assert code == 1
    assert f"{doc_id}: audit entry" in output and f"destroyed under {record['id']}" in output


def _destroyed_box(home, database) -> dict:
    _stored_doc(home, database, "box-9", "complaint")
    _stored_doc(home, database, "box-9", "council-tax")
    code, output = _destroy(home, "box-9")
    assert code == 0, output
    code, output = run_s4(home, "store", "sync")
    assert code == 0, output
    (record,) = store_db.destructions(database)
    return record


def test_certificate_lists_every_record_and_is_sealed(home, database):
    record = _destroyed_box(home, database)
    certificate = json.loads(Path(record["json_path"]).read_text())
    assert certificate["council"] == "Borsetshire District Council"
    assert certificate["witness"] == "B. Witness" and certificate["operator"] == "A. Operator"
    assert certificate["contractor_certificate"] == "SL-1"
    assert certificate["totals"] == {"records": 2, "pages": 4, "boxes": 1}
    assert {r["record_class"] for r in certificate["records"]} == {"complaint", "council-tax"}
    assert all(r["stored_sha256"] and r["verified_at"] for r in certificate["records"])
    seal = store_db.get_event(database, certificate["seal"]["audit_seq"])
    assert seal["hash"] == certificate["seal"]["audit_hash"]
    assert Path(record["pdf_path"]).read_bytes().startswith(b"%PDF")
    text = subprocess.run(["pdftotext", "-layout", record["pdf_path"], "-"], check=True,
                          capture_output=True, text=True).stdout
    assert "Records destroyed" in text and "pages" in text
    for row in certificate["records"]:  # every record, with its pages, on the sign-off copy
        assert re.search(rf"{row['s4_id']}\s+box-9/{row['position']}\s+{row['pages']}\s", text)
    # the certificate files are records of their own, stored and verified
    for doc_id in (record["json_doc"], record["pdf_doc"]):
        doc = store_db.get_document(database, doc_id)
        assert doc["record_class"] == "disposal-certificate" and doc["state"] == "stored"
        assert doc["disposal_action"] == "retain_permanently"
    code, output = run_s4(home, "audit", "verify")
    assert code == 0, output
    code, output = run_s4(home, "export", "certificates", "--format", "jsonl")
    assert json.loads(output.splitlines()[0])["id"] == record["id"]


def test_altered_certificate_json_fails_audit_verify(home, database):
    record = _destroyed_box(home, database)
    path = Path(record["json_path"])
    certificate = json.loads(path.read_text())
    certificate["witness"] = "Somebody Else"
    path.write_text(json.dumps(certificate, indent=2))
    code, output = run_s4(home, "audit", "verify")
    assert code == 1
    assert f"{record['id']}: the JSON certificate" in output and "altered" in output


def test_reading_an_altered_certificate_warns_the_auditor(home, database):
    record = _destroyed_box(home, database)
    code, output = run_s4(home, "audit", "certificate", record["id"])
    assert code == 0 and json.loads(output)["certificate"] == record["id"]
    path = Path(record["json_path"])
    path.write_text(path.read_text().replace("B. Witness", "Z. Witness"))
    code, output = run_s4(home, "audit", "certificate", record["id"])
    assert code == 1
    assert f"WARNING: {record['id']}: the JSON certificate" in output and "altered" in output


def test_certificate_export_says_where_the_stored_copies_are(home, database):
    record = _destroyed_box(home, database)
    code, output = run_s4(home, "export", "certificates", "--format", "jsonl")
    assert code == 0, output
    (row,) = map(json.loads, output.splitlines())
    for kind in ("json", "pdf"):
        stored = store_db.get_document(database, record[f"{kind}_doc"])["store_location"]
        assert row[f"{kind}_location"] == stored and Path(stored).is_file()


def test_qa_needs_exactly_one_verdict(home, database):
    doc_id = _stored_doc(home, database, "box-q", "complaint")
    code, output = run_s4(home, "paper", "qa", doc_id, "--pass", "--fail", "--reason", "ok")
    assert code == 2 and "either --pass or --fail" in output
    assert store_db.get_document(database, doc_id)["qa_status"] is None


def test_altered_certificate_pdf_and_stored_copy_fail_audit_verify(home, database):
    record = _destroyed_box(home, database)
    pdf = Path(record["pdf_path"])
    pdf.write_bytes(pdf.read_bytes() + b"%tampered\n")
    stored = Path(store_db.get_document(database, record["json_doc"])["store_location"])
    stored.write_bytes(stored.read_bytes().replace(b"B. Witness", b"C. Witness"))
    code, output = run_s4(home, "audit", "verify")
    assert code == 1
    assert "PDF certificate" in output and "altered" in output
    assert "stored JSON copy" in output


def _pass_qa_sample(home, box: str) -> None:
    """A person checks every page of the box's QA sample and passes it."""
    code, output = run_s4(home, "qa", "list", "--box", box)
    assert code == 0, output
    pages = re.findall(r"(D\d{6})\s*│\s*(\d+)\s*│\s*sampled", output)
    assert pages, output
    for doc_id, page in pages:
        assert run_s4(home, "qa", "pass", doc_id, page, "--reason", "matches the paper")[0] == 0


@pytest.mark.slow
def test_whole_story_on_sample_scans(home, tmp_path):
    """scan → OCR → classify → store → verify → quarantine over → destroy → certificate →
    audit verify."""
    scans = tmp_path / "box-0042"
    scans.mkdir()
    for name in ("scan_0003.jpg", "scan_0006.jpg", "scan_0012.png"):  # HR, invoice, adoption
        shutil.copy(SAMPLES / name, scans / name)
    code, output = run_s4(home, "run", "--batch", "box-0042", str(scans))
    assert code == 0, output
    database = store_db.connect(home.database)
    docs = {d["source_name"]: d for d in store_db.documents(database, "box-0042")}
    assert {d["state"] for d in docs.values()} == {"stored"}, docs
    assert docs["scan_0012.png"]["record_class"] == "adoption"
    code, output = _destroy(home, "box-0042")
    assert code == 1 and "paper quarantine until" in output  # just verified: too soon
    # The quarantine period passes (the clock is moved by back-dating verification).
    database.conn.execute("UPDATE documents SET verified_at = ?", (LONG_AGO,))
    code, output = _destroy(home, "box-0042")
    assert code == 1 and "class adoption keeps the paper" in output
    adoption = docs["scan_0012.png"]["id"]
    assert run_s4(home, "paper", "pull", adoption, "--reason", "adoption: keep paper")[0] == 0
    code, output = _destroy(home, "box-0042")
    assert code == 1 and "QA sample: 2 of 2 pages" in output  # drawn when all were stored
    _pass_qa_sample(home, "box-0042")
    code, output = _destroy(home, "box-0042")
    assert code == 0, output
    assert run_s4(home, "store", "sync")[0] == 0
    code, output = run_s4(home, "audit", "verify")
    assert code == 0, output
    code, output = run_s4(home, "export", "documents", "--format", "jsonl", "--batch",
                          "box-0042")
    rows = {r["source_name"]: r for r in map(json.loads, output.splitlines())}
    assert rows["scan_0003.jpg"]["paper_status"] == "destroyed"
    assert rows["scan_0003.jpg"]["certificate_id"].startswith("CERT-")
    assert rows["scan_0012.png"]["paper_status"] == "pulled"


def test_rescan_replaces_a_record_and_its_paper_goes_with_the_new_copy(home, tmp_path):
    """A QA-failed scan is rescanned: the new record takes its box place and its holds, the
    old one stops blocking the box, and the certificate lists the new record only."""
    from PIL import Image

    scans = tmp_path / "box-7"
    scans.mkdir()
    shutil.copy(SAMPLES / "scan_0003.jpg", scans / "scan_0003.jpg")
    assert run_s4(home, "run", "--batch", "box-7", str(scans))[0] == 0
    database = store_db.connect(home.database)
    (old,) = store_db.documents(database, "box-7")
    assert old["state"] == "stored"
    assert run_s4(home, "paper", "qa", old["id"], "--fail", "--reason", "smudged")[0] == 0
    assert run_s4(home, "hold", "place", "--doc", old["id"], "--reason", "FOI 2026/77")[0] == 0
    rescan = tmp_path / "rescan.png"  # the same paper through the scanner again
    Image.open(SAMPLES / "scan_0003.jpg").save(rescan)

    code, output = run_s4(home, "rescan", old["id"], str(rescan), "--reason",
                          "page smudged", "--as", "O. Perator")
    assert code == 0, output
    old = store_db.get_document(database, old["id"])
    (new,) = [d for d in store_db.documents(database, "box-7") if d["id"] != old["id"]]
    assert f"{old['id']} is superseded by {new['id']}" in output
    assert (old["state"], old["superseded_by"]) == ("superseded", new["id"])
    assert new["replaces"] == old["id"] and new["state"] == "stored"
    # the old copy stays in the store, and its sidecar says what replaced it
    sidecar = json.loads(Path(old["store_location"] + ".json").read_text())
    assert sidecar["superseded_by"] == new["id"] and old["store_meta_stale"] == 0
    assert (new["box"], new["position"]) == (old["box"], old["position"])
    (event,) = [e for e in store_db.events_for(database, old["id"])
                if e["action"] == "document.superseded"]
    assert event["actor"] == "O. Perator"
    assert event["details"] == {"by": new["id"], "reason": "page smudged", "was": "stored"}

    database.conn.execute("UPDATE documents SET verified_at = ?", (LONG_AGO,))
    code, output = _destroy(home, "box-7")
    assert code == 1, output  # the hold on the old record binds its re-scan
    assert new["id"] in output and "FOI 2026/77" in output and old["id"] not in output
    (hold,) = store_db.holds(database)
    assert run_s4(home, "hold", "lift", hold["id"], "--reason", "answered")[0] == 0
    _pass_qa_sample(home, "box-7")
    code, output = _destroy(home, "box-7")
    assert code == 0, output
    (record,) = store_db.destructions(database)
    certificate = json.loads(Path(record["json_path"]).read_text())
    assert [(r["s4_id"], r["replaces"]) for r in certificate["records"]] == \
        [(new["id"], [old["id"]])]
    code, output = run_s4(home, "export", "documents", "--format", "jsonl", "--batch", "box-7")
    rows = {r["id"]: r for r in map(json.loads, output.splitlines())}
    assert (rows[old["id"]]["paper_status"], rows[old["id"]]["superseded_by"]) == \
        ("superseded", new["id"])
    assert (rows[new["id"]]["paper_status"], rows[new["id"]]["replaces"]) == \
        ("destroyed", old["id"])
    code, output = run_s4(home, "audit", "verify")
    assert code == 0, output


@pytest.mark.parametrize("state, expected", [
    (store_db.SUPERSEDED, "already replaced by D000009"),
    (store_db.RECEIVED, "still waiting for OCR"),
    ("destroyed", "its paper was destroyed"),
])
def test_rescan_refusals_change_nothing(home, database, tmp_path, state, expected):
    overrides = {"state": store_db.SUPERSEDED, "superseded_by": "D000009"} \
        if state == store_db.SUPERSEDED else {"state": state} if state != "destroyed" \
        else {"paper_status": "destroyed", "certificate_id": "CERT-2026-0001"}
    doc_id = _stored_doc(home, database, "box-3", "complaint", **overrides)
    scan = tmp_path / "again.png"
    scan.write_bytes((SAMPLES / "scan_0001.png").read_bytes())
    before = store_db.event_count(database)
    code, output = run_s4(home, "rescan", doc_id, str(scan), "--reason", "again")
    assert code == 2 and expected in output, output
    assert [d["id"] for d in store_db.documents(database)] == [doc_id]
    assert store_db.event_count(database) == before


def test_rescan_with_the_same_content_is_refused(home, database, tmp_path):
    doc_id = _stored_doc(home, database, "box-4", "complaint")
    scan = tmp_path / "same.tif"
    scan.write_bytes(b"identical bytes")
    store_db.ensure_batch(database, "box-4", "default", "box-4", "run", "tester")
    database.conn.execute("UPDATE documents SET sha256 = ? WHERE id = ?",
                          (hashlib.sha256(b"identical bytes").hexdigest(), doc_id))
    code, output = run_s4(home, "rescan", doc_id, str(scan), "--reason", "again")
    assert code == 2 and f"exactly the same content as {doc_id}" in output, output
    assert store_db.get_document(database, doc_id)["state"] == store_db.STORED
    assert len(store_db.documents(database)) == 1


def test_junk_declared_not_a_record_lets_its_box_go(home, database):
    _stored_doc(home, database, "box-j", "complaint")
    junk = _stored_doc(home, database, "box-j", "complaint", state=store_db.NEEDS_REVIEW,
                       record_class=None, verified_at=None, store_location=None)
    code, output = _destroy(home, "box-j")
    assert code == 1 and junk in output and "awaiting classification review" in output
    code, output = run_s4(home, "review", "not-a-record", junk, "--reason", "canteen menu",
                          "--as", "R. Manager")
    assert code == 0, output
    (event,) = [e for e in store_db.events_for(database, junk)
                if e["action"] == "review.not_a_record"]
    assert event["actor"] == "R. Manager" and event["details"]["reason"] == "canteen menu"
    code, output = _destroy(home, "box-j")
    assert code == 0, output
    (record,) = store_db.destructions(database)
    rows = {r["s4_id"]: r for r in json.loads(Path(record["json_path"]).read_text())["records"]}
    assert rows[junk]["record_class"] == "(not a record)" and rows[junk]["stored_location"] is None
    # The sign-off copy does not claim junk had a verified digital copy.
    text = " ".join(subprocess.run(["pdftotext", record["pdf_path"], "-"], check=True,
                                   capture_output=True, text=True).stdout.split())
    assert "Except rows marked (not a record)" in text and "checked only for holds" in text


def test_not_a_record_is_only_for_documents_in_review_and_can_be_reversed(home, database):
    filed = _stored_doc(home, database, "box-k", "complaint")
    code, output = run_s4(home, "review", "not-a-record", filed, "--reason", "menu")
    assert code == 2 and "only a document waiting for review" in output
    assert store_db.get_document(database, filed)["state"] == store_db.STORED
    junk = _stored_doc(home, database, "box-k", "complaint", state=store_db.NEEDS_REVIEW,
                       record_class=None, verified_at=None)
    assert run_s4(home, "review", "not-a-record", junk, "--reason", "menu")[0] == 0
    code, output = run_s4(home, "review", "set", junk, "--class", "complaint")
    assert code == 0, output
    doc = store_db.get_document(database, junk)
    assert (doc["state"], doc["record_class"]) == (store_db.FILED, "complaint")


def test_destroy_needs_the_councils_name(home, database):
    _stored_doc(home, database, "box-c", "complaint")
    home.settings_file.write_text(home.settings_file.read_text().replace(
        'council = "Borsetshire District Council"', 'council = ""'))
    code, output = _destroy(home, "box-c")
    assert code == 2 and "s4.council is empty" in output and str(home.settings_file) in output
    _nothing_recorded(database)


def test_audit_log_of_a_box_includes_its_certificate(home, database):
    record = _destroyed_box(home, database)
    code, output = run_s4(home, "audit", "log", "--box", "box-9", "--format", "jsonl")
    assert code == 0, output
    entries = [json.loads(line) for line in output.splitlines()]
    subject = f"certificate:{record['id']}"
    assert {e["action"] for e in entries if e["subject"] == subject} == \
        {"certificate.sealed", "certificate.issued"}
    assert {e["action"] for e in entries if e["subject"].startswith("D")} >= {"paper.destroyed"}


def test_a_crash_after_sealing_is_finished_by_the_next_paper_command(home, database,
                                                                   monkeypatch):
    from s4 import disposal

    _stored_doc(home, database, "box-z", "complaint")

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("power cut while writing the certificate")

    monkeypatch.setattr(disposal, "_write_certificate_files", crash)
    with pytest.raises(KeyboardInterrupt):
        disposal.destroy(_context(home, database, "A. Operator"), ["box-z"], "shred",
                         "B. Witness", None, None)
    monkeypatch.undo()
    (record,) = store_db.destructions(database)
    assert record["json_path"] is None  # sealed, but no files: what a crash leaves
    code, output = run_s4(home, "audit", "verify")
    assert code == 1 and "no certificate.issued entry" in output
    code, output = run_s4(home, "paper", "status")
    assert code == 0 and f"Finished issuing certificate {record['id']}" in output
    assert run_s4(home, "store", "sync")[0] == 0
    code, output = run_s4(home, "audit", "verify")
    assert code == 0, output
    code, output = run_s4(home, "paper", "status")
    assert "Finished issuing" not in output  # once only
    docs = [d for d in store_db.documents(database, "disposal-certificates")]
    assert len(docs) == 2  # one JSON and one PDF record, never filed twice


def test_rescanning_pulled_paper_keeps_it_out_of_the_box(home, database, tmp_path):
    kept = _stored_doc(home, database, "box-p", "complaint", pdfa=0)
    _stored_doc(home, database, "box-p", "complaint")
    assert run_s4(home, "paper", "pull", kept, "--reason", "kept for the inquiry")[0] == 0
    scan = tmp_path / "again.png"
    scan.write_bytes((SAMPLES / "scan_0001.png").read_bytes())
    code, output = run_s4(home, "rescan", kept, str(scan), "--reason", "not PDF/A")
    assert code == 0, output
    new = store_db.get_document(database, kept)["superseded_by"]
    assert store_db.get_document(database, new)["paper_status"] == "pulled"
    database.conn.execute("UPDATE documents SET verified_at = ?", (LONG_AGO,))
    database.conn.commit()
    code, output = _destroy(home, "box-p")
    assert code == 0, output
    (record,) = store_db.destructions(database)
    ids = [r["s4_id"] for r in json.loads(Path(record["json_path"]).read_text())["records"]]
    assert new not in ids and kept not in ids and len(ids) == 1


def test_certificate_records_cannot_be_rescanned_or_reclassified(home, database, tmp_path):
    record = _destroyed_box(home, database)
    scan = tmp_path / "fake.png"
    scan.write_bytes((SAMPLES / "scan_0001.png").read_bytes())
    code, output = run_s4(home, "rescan", record["json_doc"], str(scan), "--reason", "x")
    assert code == 2 and "not a scan of paper in a box" in output
    code, output = run_s4(home, "review", "set", record["pdf_doc"], "--class", "complaint")
    assert code == 2 and "its class is fixed" in output
    code, output = run_s4(home, "audit", "verify")
    assert code == 0, output


def test_junk_whose_paper_went_cannot_become_a_record_afterwards(home, database):
    _stored_doc(home, database, "box-n", "complaint")
    junk = _stored_doc(home, database, "box-n", "complaint", state=store_db.NEEDS_REVIEW,
                       record_class=None, verified_at=None, store_location=None)
    assert run_s4(home, "review", "not-a-record", junk, "--reason", "menu")[0] == 0
    assert _destroy(home, "box-n")[0] == 0
    code, output = run_s4(home, "review", "set", junk, "--class", "adoption")
    assert code == 2 and "its paper was destroyed" in output
    assert store_db.get_document(database, junk)["state"] == store_db.NOT_A_RECORD


def test_a_certificate_for_a_box_of_split_records_lists_their_source_file_and_pages(
        home, db):
    """Records split from one scanner's file: the certificate (JSON and the signed PDF) names
    that file, its SHA-256, each record's scan pages and the pages left out of it."""
    store_db.ensure_batch(db, "box-st", "default", "box-st", "run", "tester")
    stack = seed_split_stack(db, "tester", "box-st", "box-st", "stack-12.pdf", "5" * 64, "1-5")
    custody = {"stack_id": stack, "source_file": "stack-12.pdf", "source_sha256": "5" * 64}
    first = _stored_doc(home, db, "box-st", "complaint", scan_pages="2", dropped_pages=(
        '[{"page": 1, "reason": "box cover sheet (box-st)"}, '
        '{"page": 3, "reason": "separator sheet"}]'), **custody)
    second = _stored_doc(home, db, "box-st", "complaint", scan_pages="4-5", **custody)
    code, output = _destroy(home, "box-st")
    assert code == 0, output
    (record,) = store_db.destructions(db)
    certificate = json.loads(Path(record["json_path"]).read_text())
    rows = {r["s4_id"]: r for r in certificate["records"]}
    assert set(rows) == {first, second}  # the stack itself is no paper record
    assert {(r["source_file"], r["source_sha256"]) for r in rows.values()} == \
        {("stack-12.pdf", "5" * 64)}
    assert (rows[first]["scan_pages"], rows[second]["scan_pages"]) == ("2", "4-5")
    assert rows[first]["dropped_pages"][1] == {"page": 3, "reason": "separator sheet"}
    text = subprocess.run(["pdftotext", "-raw", record["pdf_path"], "-"], check=True,
                          capture_output=True, text=True).stdout
    assert text.count("stack-12.pdf") == 2 and "pages 4-5" in text
    assert re.search(r"left\s+out\s+1:\s+box\s+cover\s+sheet", text), text


def test_a_box_s_qa_state_is_built_once_per_status_not_once_per_record(home, db,
                                                                      monkeypatch):
    """Paper eligibility reads a box's QA state (every sampled and flagged page) once for
    the whole box: per record it was quadratic in the box's size."""
    from s4 import disposal, qa
    from s4.context import HomeContext

    for _ in range(4):
        _stored_doc(home, db, "box-n", "complaint")
    calls = []
    real = qa.box_qa
    monkeypatch.setattr(qa, "box_qa", lambda database, box: calls.append(box) or
                        real(database, box))
    with HomeContext.open(home, actor="tester") as ctx:
        (status,) = disposal.box_status(ctx, ["box-n"])
    assert len(status.checks) == 4 and status.eligible
    assert calls == ["box-n"]
