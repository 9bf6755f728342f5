"""Ingest: stability, ignore rules, and a claim protocol that never loses or doubles a file."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

import pytest

from s4 import db as store_db
from s4 import ingest
from s4.ingest import (
    Claimer,
    FileChanged,
    IgnoreRules,
    StabilityTracker,
    recover,
    sha256_file,
)
from tests.conftest import write_scan


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_growing_file_is_not_ready_until_quiet(tmp_path):
    clock = FakeClock()
    tracker = StabilityTracker(quiet_seconds=5, clock=clock)
    path = tmp_path / "scan.pdf"
    path.write_bytes(b"%PDF-1.7 part one")
    tracker.touch(path)
    for step in range(4):  # the scanner keeps appending every 3 s
        clock.now += 3
        assert tracker.ready() == [], f"taken while still growing (step {step})"
        with path.open("ab") as handle:
            handle.write(b" more")
    clock.now += 3
    assert tracker.ready() == []  # size changed at the last look: clock restarted
    clock.now += 5
    assert tracker.ready() == [path]


def test_vanished_file_is_forgotten(tmp_path):
    clock = FakeClock()
    tracker = StabilityTracker(quiet_seconds=1, clock=clock)
    path = tmp_path / "scan.pdf"
    path.write_bytes(b"x")
    tracker.touch(path)
    path.unlink()
    clock.now += 2
    assert tracker.ready() == []
    assert path not in tracker.candidates


def test_ignore_rules_cover_scanner_and_desktop_leftovers():
    rules = IgnoreRules([".*", "Thumbs.db", "desktop.ini", "~$*", "*.tmp", "*.part"])
    for name in (".DS_Store", "Thumbs.db", "desktop.ini", "~$letter.docx", "a.tmp", "b.pdf.part"):
        assert rules.ignored(Path(name)), name
    assert not rules.ignored(Path("scan_0001.pdf"))


def _claimer(home, database) -> Claimer:
    store_db.ensure_batch(database, "b1", "default", "box-1", "watch", "tester")
    return Claimer(home, database, "tester")


def test_claim_moves_file_registers_it_and_only_then_clears_the_inbox(home, database):
    scan = write_scan(home.inbox / "scan.png")
    digest = sha256_file(scan)
    claim = _claimer(home, database).claim(scan, "b1", "default", "box-1", remove_source=True)
    doc = store_db.get_document(database, claim.doc_id)
    assert not scan.exists()
    assert doc["state"] == store_db.RECEIVED and doc["inbox_cleared"] == 1
    assert sha256_file(Path(doc["original_path"])) == digest == doc["sha256"]
    assert doc["box"] == "box-1" and doc["position"] == 1


def test_same_content_twice_gives_one_record_and_a_duplicate_note(home, database):
    first = write_scan(home.inbox / "scan.png")
    second = home.inbox / "scan-again.png"
    second.write_bytes(first.read_bytes())
    claimer = _claimer(home, database)
    one = claimer.claim(first, "b1", "default", None, remove_source=True)
    two = claimer.claim(second, "b1", "default", None, remove_source=True)
    assert two.state == store_db.DUPLICATE and two.duplicate_of == one.doc_id
    records = [d for d in store_db.documents(database) if d["state"] != store_db.DUPLICATE]
    assert len(records) == 1
    assert not second.exists()
    assert store_db.get_document(database, two.doc_id)["work_dir"] is None


def test_crash_after_commit_before_inbox_removal_does_not_duplicate(home, database):
    scan = write_scan(home.inbox / "scan.png")
    claimer = _claimer(home, database)
    first = claimer.claim(scan, "b1", "default", None, remove_source=False)
    # Simulate the crash window: row committed, inbox file still there, not yet cleared.
    database.conn.execute("UPDATE documents SET inbox_cleared = 0 WHERE id = ?", (first.doc_id,))
    again = claimer.claim(scan, "b1", "default", None, remove_source=True)
    assert again.state == "already-claimed" and again.doc_id == first.doc_id
    assert not scan.exists()
    assert len(store_db.documents(database)) == 1


def test_recovery_removes_uncommitted_copies_but_keeps_registered_work(home, database):
    scan = write_scan(home.inbox / "scan.png")
    claim = _claimer(home, database).claim(scan, "b1", "default", None, remove_source=False)
    orphan = home.work / "D999999"
    orphan.mkdir()
    (orphan / "original.png").write_bytes(b"half")
    half_copy = home.work / ".claiming" / "abc.part"
    half_copy.write_bytes(b"half")
    notes = recover(home, database, "tester")
    assert not orphan.exists() and not half_copy.exists()
    assert Path(store_db.get_document(database, claim.doc_id)["work_dir"]).exists()
    assert any("D999999" in note for note in notes)
    assert scan.exists()  # the inbox copy is untouched by recovery


def test_interrupted_ocr_is_queued_again(home, database):
    scan = write_scan(home.inbox / "scan.png")
    claim = _claimer(home, database).claim(scan, "b1", "default", None, remove_source=True)
    store_db.update_document(database, claim.doc_id, "tester", "document.ocr_started",
                             state=store_db.OCR)
    work_dir = Path(store_db.get_document(database, claim.doc_id)["work_dir"])
    (work_dir / f"{claim.doc_id}.partial-123.pdf").write_bytes(b"partial")
    recover(home, database, "tester")
    assert store_db.get_document(database, claim.doc_id)["state"] == store_db.RECEIVED
    assert not list(work_dir.glob("*.partial*"))


def _work_items(home) -> list[Path]:
    return [p for p in home.work.iterdir() if p.name != ".claiming"] + \
        list((home.work / ".claiming").iterdir())


def test_inbox_file_survives_a_failed_registration(home, database, monkeypatch):
    scan = write_scan(home.inbox / "scan.png")
    content = scan.read_bytes()
    claimer = _claimer(home, database)

    def refuse(*args, **kwargs):
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(store_db, "insert_document", refuse)
    with pytest.raises(sqlite3.OperationalError, match="disk I/O error"):
        claimer.claim(scan, "b1", "default", None, remove_source=True)
    assert scan.exists() and scan.read_bytes() == content  # nothing left the inbox
    assert store_db.documents(database) == []  # the transaction rolled back
    monkeypatch.undo()

    recover(home, database, "tester")
    assert _work_items(home) == [], "orphan copies in work/ after recovery"
    claim = claimer.claim(scan, "b1", "default", None, remove_source=True)  # next try works
    assert claim.state == store_db.RECEIVED and not scan.exists()
    assert sha256_file(Path(store_db.get_document(database, claim.doc_id)["original_path"])) \
        == hashlib.sha256(content).hexdigest()


def test_file_that_grows_while_being_hashed_is_not_claimed(home, database, monkeypatch):
    scan = write_scan(home.inbox / "scan.png")
    real_sha256 = ingest.sha256_fd

    def scanner_still_writing(fd: int) -> str:
        with scan.open("ab") as handle:  # the scanner appends while S4 reads: the hash
            handle.write(b"more of the scan")  # covers what was there at the end, and the
        return real_sha256(fd)  # copy would match it, but more may still be coming

    monkeypatch.setattr(ingest, "sha256_fd", scanner_still_writing)
    with pytest.raises(FileChanged):
        _claimer(home, database).claim(scan, "b1", "default", None, remove_source=True)
    assert scan.exists()
    assert store_db.documents(database) == []
    assert _work_items(home) == []


def test_file_rewritten_in_place_while_being_claimed_is_not_claimed(home, database,
                                                                    monkeypatch):
    """Same size, same mtime, different bytes (a scanner overwriting a file in place, with a
    coarse network-share clock): only the copy's own hash can tell."""
    scan = write_scan(home.inbox / "scan.png")
    real_sha256 = ingest.sha256_fd

    def rewritten_after_hashing(fd: int) -> str:
        digest = real_sha256(fd)
        info = scan.stat()
        data = bytearray(scan.read_bytes())
        data[-1] ^= 0xFF
        scan.write_bytes(bytes(data))
        os.utime(scan, ns=(info.st_atime_ns, info.st_mtime_ns))
        return digest

    monkeypatch.setattr(ingest, "sha256_fd", rewritten_after_hashing)
    with pytest.raises(FileChanged):
        _claimer(home, database).claim(scan, "b1", "default", None, remove_source=True)
    assert scan.exists()
    assert store_db.documents(database) == []
    assert _work_items(home) == []
