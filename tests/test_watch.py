"""``s4 watch`` as a real process: stability, crash safety, batches, clean stops."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from s4 import db as store_db
from s4.events import verify_chain
from s4.ingest import sha256_file
from tests.conftest import doc_states, wait_for, write_scan


def _all_processed(home, names: set[str]):
    def check():
        states = doc_states(home)
        return names <= set(states) and all(states[n] in store_db.OCR_DONE_STATES
                                            for n in names)
    return check


def test_files_present_at_startup_and_in_subfolders_become_batches(home, watcher_factory):
    write_scan(home.inbox / "loose.png")
    write_scan(home.inbox / "box-0007" / "scan_0001.jpg")
    (home.inbox / "box-0007" / "Thumbs.db").write_bytes(b"ignore me")
    watcher = watcher_factory(home)
    watcher.wait_ready()
    wait_for(_all_processed(home, {"loose.png", "scan_0001.jpg"}), 120, "both files processed")
    database = store_db.connect(home.database)
    docs = {d["source_name"]: d for d in store_db.documents(database)}
    assert docs["scan_0001.jpg"]["batch_id"] == "box-0007"
    assert docs["scan_0001.jpg"]["box"] == "box-0007"
    assert docs["loose.png"]["batch_id"].startswith("inbox-")
    assert (home.inbox / "box-0007" / "Thumbs.db").exists()  # ignored, never claimed
    assert not (home.inbox / "loose.png").exists()
    assert watcher.stop() == 0


def test_file_still_being_written_is_not_taken_until_complete(home, watcher_factory):
    watcher = watcher_factory(home)
    watcher.wait_ready()
    complete = write_scan(home.root / "staging" / "slow.tif", pages=2).read_bytes()
    target = home.inbox / "slow.tif"
    chunk = len(complete) // 6 + 1
    pause = threading.Event()
    with target.open("wb") as handle:
        for start in range(0, len(complete), chunk):
            handle.write(complete[start:start + chunk])
            handle.flush()
            # A slow scanner: a write every 0.4 s, inside the 1 s quiet period.
            assert "slow.tif" not in doc_states(home), "claimed while still being written"
            pause.wait(0.4)
    wait_for(_all_processed(home, {"slow.tif"}), 120, "slow.tif processed")
    database = store_db.connect(home.database)
    (doc,) = store_db.documents(database)
    assert doc["source_size"] == len(complete) and doc["pages"] == 2
    assert sha256_file(Path(doc["original_path"])) == doc["sha256"]
    assert watcher.stop() == 0


def test_same_file_dropped_twice_gives_one_record(home, watcher_factory):
    watcher = watcher_factory(home)
    watcher.wait_ready()
    first = write_scan(home.inbox / "a.png")
    content = first.read_bytes()
    wait_for(_all_processed(home, {"a.png"}), 120, "first copy processed")
    (home.inbox / "a.png").write_bytes(content)  # the operator drops it again
    wait_for(lambda: len(store_db.documents(store_db.connect(home.database))) == 2, 60,
             "second drop registered")
    docs = store_db.documents(store_db.connect(home.database))
    assert docs[0]["state"] in store_db.OCR_DONE_STATES and docs[1]["state"] == "duplicate"
    assert docs[1]["duplicate_of"] == docs[0]["id"]
    assert watcher.stop() == 0


def test_kill_9_mid_ocr_then_restart_processes_everything_exactly_once(home, watcher_factory):
    names = {f"scan_{n:04d}.tif" for n in range(1, 6)}
    for name in names:
        write_scan(home.inbox / name, pages=3, lines=[f"Record {name}", "Borsetshire Council",
                                                      "Housing Benefit claim HB/123456"])
    watcher = watcher_factory(home)
    watcher.wait_ready()
    wait_for(lambda: "ocr" in doc_states(home).values(), 120, "a document to be in OCR")
    watcher.kill_hard()
    states = doc_states(home)
    assert "ocr" in states.values()
    # Every file is either still in the inbox or registered: nothing is lost.
    in_inbox = {p.name for p in home.inbox.iterdir()}
    assert names <= in_inbox | set(states)

    restarted = watcher_factory(home)
    restarted.wait_ready()
    wait_for(_all_processed(home, names), 240, "all documents processed after restart")
    assert restarted.stop() == 0

    database = store_db.connect(home.database)
    docs = store_db.documents(database)
    assert sorted(d["source_name"] for d in docs) == sorted(names)  # exactly once each
    assert not list(home.inbox.iterdir())
    known = {Path(d["work_dir"]).name for d in docs}
    in_work = {p.name for p in home.work.iterdir() if p.name != ".claiming"}
    assert in_work == known, "orphans in work/"
    assert not list(home.work.rglob("*partial*"))
    assert not list((home.work / ".claiming").iterdir())
    for doc in docs:
        assert doc["pages"] == 3
        assert f"Record {doc['source_name']}" in Path(doc["text_path"]).read_text()
    assert any(e["action"] == "document.ocr_interrupted"
               for e in store_db.iter_events(database))
    assert verify_chain(store_db.iter_events(database)) is None


def test_sigterm_stops_cleanly_and_work_resumes(home, watcher_factory):
    for n in range(3):
        write_scan(home.inbox / f"s{n}.tif", pages=3, lines=[f"Complaint COMP-2022-11{n}"])
    watcher = watcher_factory(home)
    watcher.wait_ready()
    wait_for(lambda: "ocr" in doc_states(home).values(), 120, "OCR to start")
    assert watcher.stop() == 0
    assert "Stopped." in watcher.output() and "Traceback" not in watcher.output()
    restarted = watcher_factory(home)
    restarted.wait_ready()
    wait_for(_all_processed(home, {"s0.tif", "s1.tif", "s2.tif"}), 240, "resumed work done")
    assert restarted.stop() == 0


def test_second_watcher_on_the_same_home_is_refused(home, watcher_factory):
    first = watcher_factory(home)
    first.wait_ready()
    second = watcher_factory(home)
    assert second.process.wait(timeout=60) == 3
    assert "in use by pid" in second.output()
    assert first.stop() == 0


@pytest.mark.parametrize("name, content, reason", [
    pytest.param("notes.pdf", b"just some text\n",
                 "named .pdf but contains plain text, not a PDF", id="text-named-pdf"),
    pytest.param("empty.tif", b"", "empty file (0 bytes): the scanner or copy wrote nothing",
                 id="zero-bytes"),
])
def test_bad_file_in_inbox_is_quarantined_and_the_line_keeps_running(home, watcher_factory,
                                                                     name, content, reason):
    watcher = watcher_factory(home)
    watcher.wait_ready()
    bad = home.inbox / name
    bad.write_bytes(content)
    write_scan(home.inbox / "good.png")
    wait_for(_all_processed(home, {"good.png"}), 120, "good file processed")
    wait_for(lambda: doc_states(home).get(name) == "quarantined", 60, "bad file quarantined")
    assert not bad.exists()
    database = store_db.connect(home.database)
    (doc,) = [d for d in store_db.documents(database) if d["source_name"] == name]
    assert doc["quarantine_reason"].startswith(reason), doc["quarantine_reason"]
    kept = home.quarantine / doc["id"]
    assert (kept / name).read_bytes() == content  # the file itself, to fix and retry
    assert doc["quarantine_reason"] in (kept / "REASON.txt").read_text()
    assert f"s4 retry {doc['id']}" in (kept / "REASON.txt").read_text()
    assert watcher.stop() == 0


# ------------------------------------------------- events and polling, without the rescan


def _no_periodic_rescan(home) -> None:
    """Only the start-up scan: a file dropped later is found by the watcher or not at all."""
    settings = home.settings_file.read_text()
    assert "rescan_seconds = 2.0" in settings
    home.settings_file.write_text(settings.replace("rescan_seconds = 2.0",
                                                   "rescan_seconds = 3600.0"))


def _past_the_startup_scan(home, watcher) -> None:
    """Wait until the start-up scan has certainly run: a file that was already in the inbox
    (an empty one, quarantined at once without OCR) has been claimed."""
    watcher.wait_ready()
    wait_for(lambda: doc_states(home).get("startup.tif") == "quarantined", 60,
             "the file present at start-up to be taken")


def _inotify_watches(pid: int) -> int:
    """How many inotify instances the process holds (the kernel's view, not S4's)."""
    count = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            count += os.readlink(fd) == "anon_inode:inotify"
        except OSError:  # closed while we looked
            continue
    return count


def test_file_system_events_alone_get_a_new_file_taken(home, watcher_factory):
    _no_periodic_rescan(home)
    (home.inbox / "startup.tif").write_bytes(b"")
    watcher = watcher_factory(home)
    _past_the_startup_scan(home, watcher)
    assert _inotify_watches(watcher.process.pid) >= 1  # the inbox is watched by inotify
    write_scan(home.inbox / "evented.png")
    wait_for(_all_processed(home, {"evented.png"}), 120, "evented.png taken on its events")
    assert not (home.inbox / "evented.png").exists()
    assert watcher.stop() == 0


def test_poll_mode_takes_a_new_file_without_inotify(home, watcher_factory):
    """``--poll`` is for SMB/NFS shares, where inotify never fires: S4 must find new files
    by polling alone, so it must not rely on inotify at all."""
    _no_periodic_rescan(home)
    (home.inbox / "startup.tif").write_bytes(b"")
    watcher = watcher_factory(home, "--poll", "0.5")
    _past_the_startup_scan(home, watcher)
    assert _inotify_watches(watcher.process.pid) == 0
    write_scan(home.inbox / "polled.png")
    wait_for(_all_processed(home, {"polled.png"}), 120, "polled.png taken by polling")
    assert not (home.inbox / "polled.png").exists()
    assert watcher.stop() == 0
