"""The local store (the default): atomic writes, sidecars, idempotence, conflicts, fixity."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from s4 import db as store_db
from s4.config import ConfigError, load_settings
from s4.store import StoreWorker
from s4.store.base import MAX_PATH, sanitise_name, target_for
from tests.conftest import run_s4
from tests.store_support import add_filed, make_pdf


def test_sync_stores_each_record_once_with_a_sidecar(home, db, tmp_path):
    first = add_filed(db, home, 'scan: "0001"?.pdf', make_pdf(tmp_path / "a.pdf", 1))
    second = add_filed(db, home, "CON.pdf", make_pdf(tmp_path / "b.pdf", 2), record_class=None,
                       document_date=None)
    code, output = run_s4(home, "store", "sync")
    assert code == 0, output
    assert "uploaded and verified" in output

    one = store_db.get_document(db, first)
    assert one["state"] == store_db.STORED
    stored = home.store / "council-tax" / "2021" / "D000001 - scan_ _0001__.pdf"
    assert one["store_location"] == str(stored)
    assert stored.read_bytes() == (tmp_path / "a.pdf").read_bytes()
    sidecar = json.loads(stored.with_name(stored.name + ".json").read_text())
    assert sidecar["id"] == first and sidecar["refs"] == ["CT-40012345"]
    assert sidecar["sha256"] == one["stored_sha256"] != one["sha256"]  # the PDF/A, not the scan
    assert sidecar["disposal_due"] == "2028-04-01" and sidecar["record_class"] == "council-tax"
    assert one["verified_at"] and one["verify_method"] == "size+sha256"
    # unknown class and date: unclassified/undated; a reserved name is made safe
    two = store_db.get_document(db, second)
    assert two["store_location"].endswith("unclassified/undated/D000002 - _CON.pdf")
    assert not list(home.store.rglob(".*.part"))  # no temporary files left behind
    events = [e["action"] for e in store_db.events_for(db, first)]
    assert events[-1] == "document.stored"

    code, output = run_s4(home, "store", "sync")  # nothing left to do
    assert code == 0 and "still waiting" in output
    assert len(list(home.store.rglob("*.pdf"))) == 2


def test_same_name_same_content_is_marked_stored_without_rewriting(home, db, tmp_path):
    pdf = make_pdf(tmp_path / "a.pdf", 3)
    doc_id = add_filed(db, home, "scan_0001.pdf", pdf)
    target = home.store / "council-tax" / "2021" / f"{doc_id} - scan_0001.pdf"
    target.parent.mkdir(parents=True)
    target.write_bytes(pdf.read_bytes())
    inode = target.stat().st_ino
    code, output = run_s4(home, "store", "sync")
    assert code == 0, output
    assert "already there (same content)" in output
    assert target.stat().st_ino == inode  # not replaced
    assert store_db.get_document(db, doc_id)["state"] == store_db.STORED
    stored_event = store_db.events_for(db, doc_id)[-1]
    assert stored_event["details"]["uploaded"] is False


def test_same_name_different_content_is_a_conflict_never_an_overwrite(home, db, tmp_path):
    pdf = make_pdf(tmp_path / "a.pdf", 4)
    doc_id = add_filed(db, home, "scan_0001.pdf", pdf)
    target = home.store / "council-tax" / "2021" / f"{doc_id} - scan_0001.pdf"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"somebody else's file")
    code, output = run_s4(home, "store", "sync")
    assert code == 1, output
    doc = store_db.get_document(db, doc_id)
    assert doc["state"] == store_db.QUARANTINED
    assert "never overwrites" in doc["quarantine_reason"]
    assert "--retry-conflicts" in doc["quarantine_reason"]
    assert target.read_bytes() == b"somebody else's file"
    assert os.path.exists(doc["output_pdf"])  # the PDF/A is kept for the retry

    target.unlink()  # a person moved the other file away
    code, output = run_s4(home, "store", "sync", "--retry-conflicts")
    assert code == 0, output
    assert store_db.get_document(db, doc_id)["state"] == store_db.STORED
    assert target.read_bytes() == pdf.read_bytes()


def test_verify_detects_a_tampered_copy_and_withdraws_verification(home, db, tmp_path):
    doc_id = add_filed(db, home, "scan.pdf", make_pdf(tmp_path / "a.pdf", 5))
    assert run_s4(home, "store", "sync")[0] == 0
    code, output = run_s4(home, "store", "verify", "--deep")
    assert code == 0 and "1 of 1 record(s) verified" in output
    stored = store_db.get_document(db, doc_id)["store_location"]
    path = Path(stored)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one byte different
    path.write_bytes(bytes(data))
    code, output = run_s4(home, "store", "verify")
    assert code == 1, output
    assert "MISMATCH" in output
    doc = store_db.get_document(db, doc_id)
    assert doc["verified_at"] is None and doc["verify_method"].startswith("FAILED")
    assert store_db.events_for(db, doc_id)[-1]["action"] == "document.verify_failed"


def test_a_routine_fixity_check_does_not_restart_the_paper_clock(home, db, tmp_path):
    doc_id = add_filed(db, home, "scan.pdf", make_pdf(tmp_path / "a.pdf", 5))
    assert run_s4(home, "store", "sync")[0] == 0
    first = "2026-01-05T09:00:00.000Z"
    db.conn.execute("UPDATE documents SET verified_at = ?, last_verified_at = ? WHERE id = ?",
                    (first, first, doc_id))
    db.conn.commit()
    code, output = run_s4(home, "store", "verify", "--deep")
    assert code == 0, output
    doc = store_db.get_document(db, doc_id)
    assert doc["verified_at"] == first  # the paper quarantine counts from here
    assert doc["last_verified_at"] > first and doc["verify_method"] == "size+sha256"


def test_missing_pdf_is_quarantined_with_a_reason(home, db, tmp_path):
    pdf = make_pdf(tmp_path / "a.pdf", 6)
    doc_id = add_filed(db, home, "scan.pdf", pdf)
    pdf.unlink()
    assert run_s4(home, "store", "sync")[0] == 1
    doc = store_db.get_document(db, doc_id)
    assert doc["state"] == store_db.QUARANTINED and "missing" in doc["quarantine_reason"]


def test_worker_drains_in_the_background(home, db, tmp_path):
    worker = StoreWorker(home, "tester", poll_seconds=30)
    worker.start()
    try:
        ids = [add_filed(db, home, f"scan_{n}.pdf", make_pdf(tmp_path / f"{n}.pdf", 10 + n))
               for n in range(3)]
        worker.wake()
        assert worker.drain(timeout=30)  # long poll: only wake() can have made it this fast
        assert all(store_db.get_document(db, d)["state"] == store_db.STORED for d in ids)
        later = add_filed(db, home, "late.pdf", make_pdf(tmp_path / "late.pdf", 20))
        assert worker.drain(timeout=30)
        assert store_db.get_document(db, later)["state"] == store_db.STORED
    finally:
        worker.stop()


def test_names_follow_sharepoint_rules():
    assert sanitise_name('a"b*c:d<e>f?g/h\\i|j') == "a_b_c_d_e_f_g_h_i_j"
    assert sanitise_name("  ..report.. ") == "report"
    assert sanitise_name("LPT1") == "_LPT1" and sanitise_name("nul.txt") == "_nul.txt"
    assert sanitise_name("x_vti_y") == "x_vti-y"
    assert sanitise_name("~$draft") == "draft"
    doc = {"id": "D000007", "source_name": "x" * 600 + ".tif", "record_class": "hr"}
    prefix = "https://contoso.sharepoint.com/sites/records/Records/"
    folders, name = target_for(doc, "{record_class}/{year}", prefix)
    assert name.startswith("D000007 - xxx") and name.endswith(".pdf")
    assert len(prefix) + len("/".join([*folders, name])) <= MAX_PATH


def test_store_settings_errors_name_file_line_and_field(tmp_path):
    path = tmp_path / "s4.toml"
    path.write_text('[store]\nbackend = "sharepoint"\n\n[store.sharepoint]\ntenant_id = "t"\n'
                    'client_id = "c"\ncertificate = "/x.pem"\nsite = "h:/sites/r"\n'
                    "fragment_size = 1000000\n")
    with pytest.raises(ConfigError, match=rf"{path}:9: store.sharepoint.fragment_size: .*"
                                          r"multiple of 320 KiB"):
        load_settings(path)
    path.write_text('[store]\nbackend = "sharepoint"\n')
    with pytest.raises(ConfigError, match=rf"{path}:1: store: .*store.sharepoint.tenant_id"):
        load_settings(path)
    path.write_text('[store.sharepoint]\ncertificate_password_env = "hunter2!"\n')
    with pytest.raises(ConfigError, match=r":2: store.sharepoint.certificate_password_env"):
        load_settings(path)


def test_the_documented_store_example_in_s4_toml_is_valid():
    import re
    import tomllib

    from s4.config import Settings
    from s4.home import DEFAULT_SETTINGS

    uncommented = "\n".join(
        line[2:] if line.startswith("# [store") or re.match(r"# [a-z_]+ = ", line) else line
        for line in DEFAULT_SETTINGS.splitlines())
    store = Settings.model_validate(tomllib.loads(uncommented)).store
    assert store.backend == "sharepoint"
    assert store.sharepoint.fragment_size % (320 * 1024) == 0
    assert Settings.model_validate(tomllib.loads(DEFAULT_SETTINGS)).store.backend == "local"


def test_a_later_decision_updates_the_sidecar_and_never_refiles(home, db, tmp_path):
    doc_id = add_filed(db, home, "scan.pdf", make_pdf(tmp_path / "a.pdf", 5))
    assert run_s4(home, "store", "sync")[0] == 0
    stored = Path(store_db.get_document(db, doc_id)["store_location"])
    code, output = run_s4(home, "review", "set", doc_id, "--class", "complaint",
                          "--as", "R. Manager", "--reason", "a complaint, not a bill")
    assert code == 0, output
    doc = store_db.get_document(db, doc_id)
    assert (doc["state"], doc["store_meta_stale"]) == (store_db.STORED, 1)
    code, output = run_s4(home, "store", "sync")
    assert code == 0, output
    sidecar = json.loads(Path(str(stored) + ".json").read_text())
    doc = store_db.get_document(db, doc_id)
    assert sidecar["record_class"] == "complaint" == doc["record_class"]
    assert sidecar["disposal_due"] == doc["disposal_due"] != "2028-04-01"
    assert doc["store_meta_stale"] == 0 and doc["store_location"] == str(stored)
    assert [p.name for p in home.store.rglob("*.pdf")] == [stored.name]  # no second copy
    assert store_db.events_for(db, doc_id)[-1]["action"] == "document.metadata_updated"


def test_a_stored_record_is_not_sent_back_to_review_by_a_missing_date(home, db, tmp_path):
    doc_id = add_filed(db, home, "scan.pdf", make_pdf(tmp_path / "a.pdf", 5),
                       document_date=None)
    assert run_s4(home, "store", "sync")[0] == 0
    before = store_db.get_document(db, doc_id)
    code, output = run_s4(home, "review", "set", doc_id, "--class", "business-rates",
                          "--reason", "rates, not council tax")
    assert code == 2 and "give it with --date" in output, output
    after = store_db.get_document(db, doc_id)
    assert (after["state"], after["record_class"]) == (store_db.STORED, before["record_class"])


def test_a_decision_made_while_waiting_for_the_store_reaches_its_fields(home, db, tmp_path):
    doc_id = add_filed(db, home, "scan.pdf", make_pdf(tmp_path / "a.pdf", 5))
    code, output = run_s4(home, "review", "set", doc_id, "--class", "complaint")
    assert code == 0, output
    assert store_db.get_document(db, doc_id)["store_meta_stale"] == 1  # may be uploading
    assert run_s4(home, "store", "sync")[0] == 0
    doc = store_db.get_document(db, doc_id)
    sidecar = json.loads(Path(doc["store_location"] + ".json").read_text())
    assert sidecar["record_class"] == "complaint" and doc["store_meta_stale"] == 0


def test_a_missing_stored_file_is_reported_and_the_other_records_still_refresh(
        home, db, tmp_path):
    gone = add_filed(db, home, "one.pdf", make_pdf(tmp_path / "a.pdf", 5))
    kept = add_filed(db, home, "two.pdf", make_pdf(tmp_path / "b.pdf", 6))
    assert run_s4(home, "store", "sync")[0] == 0
    for doc_id in (gone, kept):
        assert run_s4(home, "review", "set", doc_id, "--class", "complaint")[0] == 0
    Path(store_db.get_document(db, gone)["store_location"]).unlink()
    code, output = run_s4(home, "store", "sync")
    assert code == 1 and f"{gone} fields not updated" in output, output
    assert store_db.get_document(db, kept)["store_meta_stale"] == 0
    assert store_db.get_document(db, gone)["store_meta_stale"] == 1


def test_a_decision_during_a_refresh_is_not_lost(home, db, tmp_path, monkeypatch):
    from s4.store import sync_all
    from s4.store.local import LocalBackend

    doc_id = add_filed(db, home, "scan.pdf", make_pdf(tmp_path / "a.pdf", 5))
    assert run_s4(home, "store", "sync")[0] == 0
    assert run_s4(home, "review", "set", doc_id, "--class", "complaint")[0] == 0
    original = LocalBackend.update_metadata

    def slow_write(self, doc, metadata):  # a records manager decides again meanwhile
        original(self, doc, metadata)
        assert run_s4(home, "review", "set", doc_id, "--class", "foi-request")[0] == 0

    monkeypatch.setattr(LocalBackend, "update_metadata", slow_write)
    sync_all(home, "tester")
    assert store_db.get_document(db, doc_id)["store_meta_stale"] == 1  # still to be written
    monkeypatch.undo()
    sync_all(home, "tester")
    doc = store_db.get_document(db, doc_id)
    sidecar = json.loads(Path(doc["store_location"] + ".json").read_text())
    assert sidecar["record_class"] == "foi-request" and doc["store_meta_stale"] == 0


def test_long_scan_names_are_shortened_deterministically_and_block_nobody(home, db, tmp_path):
    """A 250-character name, and one of 200 two-byte letters (400 bytes), no longer stop the
    queue: each is stored under a name cut to the file system's 255 bytes (with room for its
    sidecar), keeping the record id and extension; the record behind them is stored too."""
    long_ascii = add_filed(db, home, "x" * 250 + ".pdf", make_pdf(tmp_path / "a.pdf", 11))
    long_utf8 = add_filed(db, home, "Жалоба " * 28 + "é.pdf", make_pdf(tmp_path / "b.pdf", 12))
    behind = add_filed(db, home, "scan_0003.pdf", make_pdf(tmp_path / "c.pdf", 13))
    code, output = run_s4(home, "store", "sync")
    assert code == 0, output
    from s4.store.local import LocalBackend

    backend = LocalBackend(home.store)
    for doc_id in (long_ascii, long_utf8, behind):
        doc = store_db.get_document(db, doc_id)
        assert doc["state"] == store_db.STORED, doc["quarantine_reason"]
        stored = Path(doc["store_location"])
        assert stored.name.startswith(f"{doc_id} - ") and stored.name.endswith(".pdf")
        assert len(os.fsencode(stored.name + ".json")) <= 255
        assert stored.read_bytes() == Path(doc["output_pdf"]).read_bytes()
        assert stored.with_name(stored.name + ".json").is_file()
        # the same record always gets the same name (idempotent re-upload, verification)
        assert target_for(doc, "{record_class}/{year}", "", backend.limits)[1] == stored.name
    shortened = Path(store_db.get_document(db, long_utf8)["store_location"]).name
    assert shortened.encode("utf-8").decode("utf-8") == shortened  # cut between characters
    assert len(shortened) < len("Жалоба " * 28)
    assert run_s4(home, "store", "verify")[0] == 0


def test_a_record_the_store_refuses_is_quarantined_and_the_others_are_stored(home, db,
                                                                            tmp_path):
    blocked = add_filed(db, home, "scan_0001.pdf", make_pdf(tmp_path / "a.pdf", 14),
                        document_date="2019-05-01")
    fine = add_filed(db, home, "scan_0002.pdf", make_pdf(tmp_path / "b.pdf", 15))
    (home.store / "council-tax").mkdir(parents=True)
    (home.store / "council-tax" / "2019").write_text("a file where S4 needs a folder")
    code, output = run_s4(home, "store", "sync")
    assert code == 1, output  # a conflict, not "the store is unavailable" (3)
    assert "not available" not in output
    doc = store_db.get_document(db, blocked)
    assert doc["state"] == store_db.QUARANTINED
    assert "council-tax/2019" in doc["quarantine_reason"]
    assert "--retry-conflicts" in doc["quarantine_reason"]
    assert store_db.get_document(db, fine)["state"] == store_db.STORED
