"""The audit trail is append-only and hash-chained from the first record."""

from __future__ import annotations

import itertools
import sqlite3

import pytest

from s4 import db as store_db
from s4.events import GENESIS_HASH, verify_chain


def _append(database, n: int) -> None:
    for i in range(n):
        with store_db.transaction(database):
            store_db.append_event(database, "tester", "test.event", f"subject-{i}", {"i": i})


def test_each_entry_carries_the_previous_hash(database):
    _append(database, 3)
    events = list(store_db.iter_events(database))
    assert events[0]["prev_hash"] == GENESIS_HASH  # home.initialised is entry 1
    for before, after in itertools.pairwise(events):
        assert after["prev_hash"] == before["hash"]
    assert verify_chain(events) is None


def test_database_refuses_update_and_delete(database):
    _append(database, 2)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        database.conn.execute("UPDATE events SET actor = 'mallory' WHERE seq = 2")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        database.conn.execute("DELETE FROM events WHERE seq = 2")


def _drop_triggers(database) -> None:
    database.conn.execute("DROP TRIGGER events_no_update")
    database.conn.execute("DROP TRIGGER events_no_delete")


def test_edit_with_triggers_dropped_is_detected_at_that_entry(database):
    _append(database, 5)
    _drop_triggers(database)
    database.conn.execute("UPDATE events SET details = '{\"i\":99}' WHERE seq = 4")
    problem = verify_chain(store_db.iter_events(database))
    assert problem is not None and problem.seq == 4
    assert "edited" in problem.problem


def test_deleted_entry_is_detected(database):
    _append(database, 5)
    _drop_triggers(database)
    database.conn.execute("DELETE FROM events WHERE seq = 3")
    problem = verify_chain(store_db.iter_events(database))
    assert problem is not None and problem.seq == 3


def test_swapped_entries_are_detected(database):
    _append(database, 5)
    _drop_triggers(database)
    rows = {r["seq"]: r for r in store_db.iter_events(database)}
    for seq, other in ((3, 4), (4, 3)):
        source = rows[other]
        database.conn.execute(
            "UPDATE events SET actor=?, action=?, subject=?, details=? WHERE seq=?",
            (source["actor"], source["action"], source["subject"], source["details"], seq))
    problem = verify_chain(store_db.iter_events(database))
    assert problem is not None and problem.seq == 3


def test_events_written_with_state_changes(home, tmp_path):
    from tests.conftest import run_s4, write_scan

    scan = write_scan(tmp_path / "letter.png")
    code, _ = run_s4(home, "run", "--batch", "b1", str(scan))
    assert code == 0
    database = store_db.connect(home.database)
    actions = [e["action"] for e in store_db.events_for(database, "D000001")]
    assert actions[:3] == ["document.received", "document.ocr_started",
                           "document.ocr_completed"]
    # then the classify → retain → store stages, each as its own event
    assert actions[3:] == ["document.classified", "retention.decided", "document.filed",
                           "document.stored"]
    assert verify_chain(store_db.iter_events(database)) is None


def test_restoring_dropped_triggers_is_itself_an_audit_event(home, database):
    from tests.conftest import run_s4

    _drop_triggers(database)
    code, _ = run_s4(home, "status")  # any command that opens the home migrates it
    assert code == 0
    names = {r["name"] for r in database.conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    assert {"events_no_update", "events_no_delete"} <= names
    restored = [e for e in store_db.iter_events(database)
                if e["action"] == "audit.triggers_restored"]
    assert len(restored) == 1 and "events_no_update" in restored[0]["details"]
