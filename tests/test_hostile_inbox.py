"""Hostile inbox entries (links, FIFOs, sockets, names that are not UTF-8) for `s4 run` and
`s4 watch`: nothing outside the inbox is read or removed, nothing blocks, the line goes on."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import socket
from pathlib import Path

import pytest

from s4 import db as store_db
from s4.ingest import Claimer, NotTaken
from tests.conftest import doc_states, run_s4, wait_for, write_scan

RAW_NAME = os.fsdecode(b"b\xff-scan.png")  # the byte 0xff: not UTF-8
SHOWN_NAME = "b\\xff-scan.png"


class Hostile:
    """A folder full of hostile entries, pointing at real scans outside it."""

    def __init__(self, folder: Path, outside: Path):
        self.outside_file = write_scan(outside / "secret.png", lines=["Outside file"])
        self.outside_folder = outside / "elsewhere"
        self.outside_in_folder = write_scan(self.outside_folder / "kept.png",
                                            lines=["Outside folder"])
        self.outside_bytes = {p: p.read_bytes()
                              for p in (self.outside_file, self.outside_in_folder)}
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "link.png").symlink_to(self.outside_file)
        (folder / "box-link").symlink_to(self.outside_folder, target_is_directory=True)
        os.mkfifo(folder / "pipe.pdf")
        self.server = socket.socket(socket.AF_UNIX)
        self.server.bind(str(folder / "s.pdf"))
        self.raw = write_scan(folder / RAW_NAME, lines=["Odd name letter"])
        self.raw_bytes = self.raw.read_bytes()
        self.refused = ("link.png", "box-link", "pipe.pdf", "s.pdf")

    def assert_outside_untouched(self, home) -> None:
        for path, content in self.outside_bytes.items():
            assert path.read_bytes() == content, f"{path} changed or removed"
        digests = {hashlib.sha256(c).hexdigest() for c in self.outside_bytes.values()}
        database = store_db.connect(home.database)
        assert not digests & {d["sha256"] for d in store_db.documents(database)}
        for where in (home.work, home.quarantine, home.store):
            for path in where.rglob("*") if where.exists() else []:
                if path.is_file() and not path.is_symlink():
                    assert hashlib.sha256(path.read_bytes()).hexdigest() not in digests, path


def _raw_doc(home) -> dict:
    database = store_db.connect(home.database)
    (doc,) = [d for d in store_db.documents(database) if d["source_name"] == SHOWN_NAME]
    return doc


def test_run_refuses_links_pipes_and_sockets_and_takes_an_undecodable_name(home, tmp_path):
    folder = tmp_path / "scans"
    hostile = Hostile(folder, tmp_path / "outside")
    write_scan(folder / "good.png")
    code, output = run_s4(home, "run", "--batch", "b1", str(folder))
    assert code == 1, output  # something was not taken
    flat = " ".join(output.split())
    assert "link.png: not taken: a symbolic link; S4 never follows links" in flat
    assert "box-link: not taken: a symbolic link to a folder" in flat
    assert "pipe.pdf: not taken: a named pipe (FIFO)" in flat
    assert "s.pdf: not taken: a socket" in flat
    states = doc_states(home)
    assert states["good.png"] in store_db.OCR_DONE_STATES
    assert states[SHOWN_NAME] in store_db.OCR_DONE_STATES
    assert set(states) == {"good.png", SHOWN_NAME}
    doc = _raw_doc(home)
    assert bytes.fromhex(doc["source_name_raw"]) == b"b\xff-scan.png"
    assert "Odd name letter" in Path(doc["text_path"]).read_text()
    hostile.assert_outside_untouched(home)
    assert hostile.raw.read_bytes() == hostile.raw_bytes  # s4 run leaves the operator's files
    for name in hostile.refused:
        assert os.path.lexists(folder / name), name

    code, exported = run_s4(home, "export", "documents", "--format", "csv")
    assert code == 0, exported
    rows = {r["source_name"]: r for r in csv.DictReader(io.StringIO(exported))}
    assert rows[SHOWN_NAME]["source_name_raw"] == b"b\xff-scan.png".hex()
    code, exported = run_s4(home, "export", "documents", "--format", "jsonl")
    assert code == 0, exported
    assert SHOWN_NAME in {json.loads(line)["source_name"] for line in exported.splitlines()}
    database = store_db.connect(home.database)
    received = [e for e in store_db.events_for(database, doc["id"])
                if e["action"] == "document.received"]
    assert received[0]["details"]["source_name_raw"] == doc["source_name_raw"]


def test_a_linked_batch_folder_is_refused_even_if_swapped_in_after_listing(home, database,
                                                                           tmp_path):
    outside = tmp_path / "outside"
    victim = write_scan(outside / "scan.png")
    content = victim.read_bytes()
    (home.inbox / "box-1").symlink_to(outside, target_is_directory=True)
    store_db.migrate(database)
    store_db.ensure_batch(database, "box-1", "default", "box-1", "watch", "tester")
    claimer = Claimer(home, database, "tester")
    with pytest.raises(NotTaken, match="the folder box-1 is a symbolic link"):
        claimer.claim(home.inbox / "box-1" / "scan.png", "box-1", "default", "box-1",
                      remove_source=True, root=home.inbox)
    assert victim.read_bytes() == content
    assert store_db.documents(database) == []


def test_a_file_replaced_after_its_claim_is_not_removed(home, database, monkeypatch):
    """Only the very file that was claimed (same inode) leaves the inbox."""
    import s4.ingest

    scan = write_scan(home.inbox / "scan.png")
    newcomer = write_scan(home.root / "newcomer.png", lines=["A different scan"])
    newcomer_bytes = newcomer.read_bytes()
    store_db.migrate(database)
    store_db.ensure_batch(database, "b1", "default", None, "watch", "tester")
    real_copy = s4.ingest._copy_fd_durably

    def copy_then_swap(entry, target):
        digest = real_copy(entry, target)
        os.replace(newcomer, scan)  # another file takes the name while S4 registers it
        return digest

    monkeypatch.setattr(s4.ingest, "_copy_fd_durably", copy_then_swap)
    claim = Claimer(home, database, "tester").claim(scan, "b1", "default", None,
                                                    remove_source=True, root=home.inbox)
    assert claim.state == store_db.RECEIVED
    assert scan.read_bytes() == newcomer_bytes  # the newcomer is still there
    doc = store_db.get_document(database, claim.doc_id)
    assert hashlib.sha256(newcomer_bytes).hexdigest() != doc["sha256"]
    assert doc["inbox_cleared"] == 1  # the claimed file itself is gone: nothing to finish


def test_watch_keeps_working_with_hostile_entries_in_its_inbox(home, watcher_factory,
                                                               tmp_path):
    hostile = Hostile(home.inbox, tmp_path / "outside")
    write_scan(home.inbox / "box-7" / RAW_NAME, lines=["Odd name in a box"])
    watcher = watcher_factory(home)
    watcher.wait_ready()
    wait_for(lambda: doc_states(home).get(SHOWN_NAME) in store_db.OCR_DONE_STATES, 120,
             "the undecodable names to be processed")
    database = store_db.connect(home.database)
    refused = {e["path"].rsplit("/", 1)[-1]: e["reason"]
               for e in store_db.not_taken_entries(database)}
    assert set(refused) == set(hostile.refused)
    # Past several rescans, a good file dropped now is still processed.
    write_scan(home.inbox / "later.png", lines=["Dropped later"])
    wait_for(lambda: doc_states(home).get("later.png") in store_db.OCR_DONE_STATES, 120,
             "a file dropped later to be processed")
    assert not (home.inbox / "later.png").exists()
    (home.inbox / "pipe.pdf").unlink()  # the operator clears it: it leaves the status list
    wait_for(lambda: "pipe.pdf" not in " ".join(
        e["path"] for e in store_db.not_taken_entries(store_db.connect(home.database))), 60,
        "the removed FIFO to drop off the not-taken list")
    assert watcher.stop() == 0  # SIGTERM still stops it
    assert "Traceback" not in watcher.output()

    hostile.assert_outside_untouched(home)
    for name in hostile.refused:
        assert name == "pipe.pdf" or os.path.lexists(home.inbox / name), name
        assert watcher.output().count(f"{name}: not taken:") == 1, name  # said once
    assert not hostile.raw.exists()  # the undecodable name was claimed and removed
    boxed = [d for d in store_db.documents(database) if d["batch_id"] == "box-7"]
    assert [d["source_name"] for d in boxed] == [SHOWN_NAME]
    code, output = run_s4(home, "status")
    assert code == 0, output
    flat = " ".join(output.split())
    assert "Not taken from the inbox" in flat and "box-link" in flat and "a socket" in flat
