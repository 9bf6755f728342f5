"""`s4 audit`: tampering with the event log is found and named, even with the triggers
dropped; a head kept outside S4 catches a forger who recomputes every hash."""

from __future__ import annotations

import hashlib
import json
import re

import pytest

from s4 import audit as audit_log
from s4 import db as store_db
from s4.cli import cli
from s4.cli.audit import audit
from s4.events import canonical_json, entry_hash
from tests.conftest import run_s4

TRIGGER_DDL = """
CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: UPDATE refused'); END;
CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: DELETE refused'); END;
"""


@pytest.fixture(autouse=True)
def _audit_registered():
    if "audit" not in cli.commands:  # until cli.py registers the group itself
        cli.add_command(audit)


def _append(database, n: int, subject: str = "subject") -> None:
    for i in range(n):
        with store_db.transaction(database):
            store_db.append_event(database, "tester", "test.event", f"{subject}-{i}", {"i": i})


@pytest.fixture
def log(database):
    """Entry 1 is home.initialised; this adds entries 2–7."""
    _append(database, 6)
    return database


def _tamper(database, *statements, params=()) -> None:
    """Edit the file as an attacker would: drop the triggers, change rows, put them back
    (so the chain alone must find it)."""
    conn = database.conn
    conn.execute("DROP TRIGGER events_no_update")
    conn.execute("DROP TRIGGER events_no_delete")
    for statement in statements:
        conn.execute(statement, params)
    conn.executescript(TRIGGER_DDL)


def _rows(database) -> dict[int, dict]:
    return {row["seq"]: dict(row) for row in database.conn.execute("SELECT * FROM events")}


def _forge(seq: int, prev_hash: str, at="2026-01-01T00:00:00.000Z", actor="mallory",
           action="test.event", subject="forged", details=None) -> tuple:
    details_text = canonical_json(details or {"forged": True})
    digest = entry_hash(prev_hash, seq, at, actor, action, subject, details_text)
    return (seq, at, actor, action, subject, details_text, prev_hash, digest)


def _insert(database, row: tuple) -> None:
    database.conn.execute(
        "INSERT INTO events (seq, at, actor, action, subject, details, prev_hash, hash)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row)


def _rehash_from(database, seq: int) -> None:
    """What a careful forger does after an edit: recompute every hash from there on."""
    rows = _rows(database)
    prev = rows[seq - 1]["hash"]
    for n in range(seq, max(rows) + 1):
        row = rows[n]
        digest = entry_hash(prev, n, row["at"], row["actor"], row["action"], row["subject"],
                            row["details"])
        database.conn.execute("UPDATE events SET prev_hash = ?, hash = ? WHERE seq = ?",
                              (prev, digest, n))
        prev = digest


def _verify(home, *args) -> tuple[int, str, tuple[int, str] | None]:
    code, output = run_s4(home, "audit", "verify", *args)
    match = re.search(r"FIRST BAD ENTRY: seq (\d+) \((\w+)\)", output)
    return code, output, (int(match[1]), match[2]) if match else None


def _head(home) -> str:
    code, output = run_s4(home, "audit", "head")
    assert code == 0, output
    return output.splitlines()[0]


# --------------------------------------------------------------------------- intact


def test_intact_log_passes(home, log):
    code, output, bad = _verify(home)
    assert code == 0, output
    assert bad is None
    assert "entries checked: 7" in output
    seq, digest = audit_log.head(log)
    assert seq == 7 and f"head: 7:{digest}" in output
    assert output.strip().endswith("audit log intact")
    assert audit_log.verify_log(log, certificate_checks=[]).ok


def test_verify_does_not_repair_what_it_checks(home, log):
    """Opening the home for `audit verify` must not re-create dropped triggers."""
    log.conn.execute("DROP TRIGGER events_no_delete")
    run_s4(home, "audit", "verify")
    assert "events_no_delete" not in store_db.audit_event_triggers(log)


# --------------------------------------------------------------------------- tampering


@pytest.mark.parametrize("column, value", [
    ("details", '{"i":99}'), ("actor", "mallory"), ("at", "2020-01-01T00:00:00.000Z"),
    ("action", "document.destroyed"), ("subject", "D000999"),
])
def test_edited_entry_is_named(home, log, column, value):
    _tamper(log, f"UPDATE events SET {column} = ? WHERE seq = 4", params=(value,))
    code, output, bad = _verify(home)
    assert code == 1, output
    assert bad == (4, "edited")
    assert f"{column} {value}" in output or column == "details"  # shown as stored


def test_entry_edited_and_rehashed_alone_is_named(home, log):
    rows = _rows(log)
    forged = _forge(4, rows[3]["hash"])
    _tamper(log, "DELETE FROM events WHERE seq = 4")
    _insert(log, forged)
    code, output, bad = _verify(home)
    assert code == 1 and bad == (4, "edited"), output
    assert "recomputed" in output


def test_deleted_middle_entry_is_named(home, log):
    _tamper(log, "DELETE FROM events WHERE seq = 4")
    code, output, bad = _verify(home)
    assert code == 1 and bad == (4, "missing"), output
    assert "no entry 4 in the log" in output


def test_deleted_last_entries_are_named_without_a_kept_head(home, log):
    """The chain cannot know what came after its end; the head file S4 keeps does."""
    _tamper(log, "DELETE FROM events WHERE seq >= 5")
    code, output, bad = _verify(home)
    assert code == 1, output
    assert bad is None  # the chain itself is intact: only the head file shows the loss
    assert "the log ends at entry 4 but S4 recorded head 7:" in output
    assert "entries 5–7 were deleted from the end of the log" in output
    assert output.strip().endswith("audit log NOT intact: 1 problem(s)")


def test_deleted_last_entry_is_also_caught_by_a_kept_head(home, log):
    kept = _head(home)
    _tamper(log, "DELETE FROM events WHERE seq = 7")
    code, output, _ = _verify(home, "--head", kept)
    assert code == 1, output
    assert "entry 7 was deleted from the end of the log" in output
    assert "no longer reaches the kept head 7" in output


@pytest.mark.parametrize("correct_hash", [True, False])
def test_entry_inserted_in_the_middle_with_renumbering_is_named(home, log, correct_hash):
    rows = _rows(log)
    forged = _forge(4, rows[3]["hash"])
    if not correct_hash:
        forged = (*forged[:7], "f" * 64)
    _tamper(log, "UPDATE events SET seq = -seq WHERE seq >= 4",
            "UPDATE events SET seq = 1 - seq WHERE seq < 0")
    _insert(log, forged)
    assert sorted(_rows(log)) == list(range(1, 9))
    code, output, bad = _verify(home)
    assert code == 1 and bad == (4, "inserted"), output
    assert "actor mallory" in output


def test_entry_appended_with_a_wrong_hash_is_named(home, log):
    rows = _rows(log)
    forged = _forge(8, rows[7]["hash"])
    _insert(log, (*forged[:7], hashlib.sha256(forged[5].encode()).hexdigest()))
    code, output, bad = _verify(home)
    assert code == 1 and bad == (8, "edited"), output


def test_swapped_rows_are_named(home, log):
    rows = _rows(log)
    columns = ("at", "actor", "action", "subject", "details", "prev_hash", "hash")
    statements = ["UPDATE events SET hash = 'x' || hash WHERE seq IN (4, 5)"]
    for seq, other in ((4, 5), (5, 4)):
        values = ", ".join(f"{c} = '{rows[other][c]}'" for c in columns)
        statements.append(f"UPDATE events SET {values} WHERE seq = {seq}")
    _tamper(log, *statements)
    code, output, bad = _verify(home)
    assert code == 1 and bad == (4, "out_of_order"), output


def test_swapped_contents_are_named(home, log):
    rows = _rows(log)
    statements = []
    for seq, other in ((4, 5), (5, 4)):
        source = rows[other]
        values = ", ".join(f"{c} = '{source[c]}'"
                           for c in ("at", "actor", "action", "subject", "details"))
        statements.append(f"UPDATE events SET {values} WHERE seq = {seq}")
    _tamper(log, *statements)
    code, output, bad = _verify(home)
    assert code == 1 and bad == (4, "moved"), output
    assert "holds the content of entry 5" in output


def test_reordered_rowids_are_named(home, log):
    _tamper(log, "UPDATE events SET seq = 100 WHERE seq = 4",
            "UPDATE events SET seq = 4 WHERE seq = 5",
            "UPDATE events SET seq = 5 WHERE seq = 100")
    code, output, bad = _verify(home)
    assert code == 1 and bad == (4, "out_of_order"), output


def test_table_rebuilt_with_rows_stored_out_of_order(home, log):
    """Same rows, same seqs, but a new table whose storage order differs from seq order."""
    conn = log.conn
    conn.executescript("""
        CREATE TABLE events_new (seq INTEGER, at TEXT, actor TEXT, action TEXT, subject TEXT,
                                 details TEXT, prev_hash TEXT, hash TEXT);
        INSERT INTO events_new SELECT * FROM events WHERE seq < 4 ORDER BY seq;
        INSERT INTO events_new SELECT * FROM events WHERE seq >= 4 ORDER BY seq DESC;
        DROP TABLE events;
        ALTER TABLE events_new RENAME TO events;
    """)
    conn.executescript(TRIGGER_DDL)
    code, output, bad = _verify(home)
    assert code == 1 and bad == (4, "out_of_order"), output
    assert "seq is no longer its integer primary key" in output


def test_dropped_triggers_alone_fail_verification(home, log):
    log.conn.execute("DROP TRIGGER events_no_update")
    code, output, bad = _verify(home)
    assert code == 1 and bad is None, output
    assert "trigger events_no_update was dropped" in output
    assert "events_no_delete" not in output
    log.conn.execute("DROP TRIGGER events_no_delete")
    code, output, _ = _verify(home)
    assert code == 1 and "trigger events_no_delete was dropped" in output


def test_neutered_trigger_fails_verification(home, log):
    log.conn.executescript("""
        DROP TRIGGER events_no_delete;
        CREATE TRIGGER events_no_delete BEFORE DELETE ON events
        WHEN 0 BEGIN SELECT RAISE(ABORT, 'never'); END;
    """)
    code, output, _ = _verify(home)
    assert code == 1 and "trigger events_no_delete was altered" in output, output


# --------------------------------------------------------------------------- kept head


def test_head_line_is_seq_hash_and_time(home, log):
    code, output = run_s4(home, "audit", "head")
    seq, digest = audit_log.head(log)
    at = _rows(log)[seq]["at"]
    assert code == 0
    assert output.splitlines()[0] == f"{seq}:{digest} {at}"


def test_kept_head_passes_on_an_extended_log(home, log):
    kept = _head(home)
    _append(log, 3, "later")
    for given in (kept, kept.split()[0]):  # the whole line, or just SEQ:HASH
        code, output, _ = _verify(home, "--head", given)
        assert code == 0, output
        assert "the log still extends it" in output
    assert audit_log.verify_extends(log, *audit_log.parse_head(kept)) is None


def _rewrite_head_files(home, database) -> None:
    """The forger's best move after rehashing: make audit/head and audit/heads.log agree."""
    rows = _rows(database)
    lines = [f"{seq}:{rows[seq]['hash']} {rows[seq]['at']}\n" for seq in sorted(rows)]
    (home.root / "audit" / "heads.log").write_text("".join(lines))
    (home.root / "audit" / "head").write_text(lines[-1])


def _rehash_forgery(home, log) -> tuple[str, str]:
    """Entry 3 edited and every hash after it recomputed; returns (kept head, 2:hash)."""
    kept = _head(home)  # 7:…, written into the auditor's ticket
    before_edit = f"2:{_rows(log)[2]['hash']}"
    _append(log, 2, "later")
    log.conn.execute("DROP TRIGGER events_no_update")
    log.conn.execute("UPDATE events SET details = '{\"i\":99}' WHERE seq = 3")
    _rehash_from(log, 3)
    log.conn.executescript(TRIGGER_DDL)
    return kept, before_edit


def test_forger_who_recomputes_every_hash_is_caught_by_the_head_files(home, log):
    _rehash_forgery(home, log)
    code, output, bad = _verify(home)
    assert code == 1 and bad is None, output  # the chain is self-consistent again …
    # … but not what S4 recorded outside the database after each commit
    assert "entry 9 is not the entry S4 recorded in audit/head" in output
    assert "entry 3 is not the entry S4 recorded in audit/heads.log:3" in output


def test_forger_who_also_rewrites_the_head_files_is_caught_by_the_kept_head(home, log):
    kept, before_edit = _rehash_forgery(home, log)
    _rewrite_head_files(home, log)
    code, output, bad = _verify(home)
    assert code == 0 and bad is None, output  # nothing inside the home shows it …
    code, output, _ = _verify(home, "--head", kept)
    assert code == 1, output  # … but it no longer extends what the auditor kept
    assert "KEPT HEAD NOT EXTENDED" in output and "history up to entry 7 was rewritten" in output
    code, output, _ = _verify(home, "--head", before_edit)  # history before the edit holds
    assert code == 0, output
    seq, digest, _ = audit_log.parse_head(kept)
    assert "rewritten" in audit_log.verify_extends(log, seq, digest)


def test_kept_head_fails_when_the_chain_before_it_is_broken(home, log):
    kept = _head(home)
    _tamper(log, "UPDATE events SET actor = 'mallory' WHERE seq = 3")
    seq, digest, _ = audit_log.parse_head(kept)
    problem = audit_log.verify_extends(log, seq, digest)
    assert problem is not None and "entry 3" in problem


def test_truncated_log_fails_the_kept_head(home, log):
    kept = _head(home)
    _tamper(log, "DELETE FROM events WHERE seq >= 6")
    code, output, _ = _verify(home, "--head", kept)
    assert code == 1 and "it ends at entry 5" in output, output


@pytest.mark.parametrize("bad", ["7", "7:abc", "x:" + "a" * 64, "7:" + "g" * 64])
def test_malformed_head_is_a_usage_error(home, log, bad):
    code, output, _ = _verify(home, "--head", bad)
    assert code == 2, output


# --------------------------------------------------------------------------- certificates


def test_certificate_checks_run_and_their_problems_fail_verification(home, log):
    seen = []

    def check(database, check_home):
        seen.append(check_home.root)
        return ["certificate C000001: JSON copy does not match its sealing entry 5"]

    report = audit_log.verify_log(log, home, certificate_checks=[check, check])  # once only
    assert report.certificate_checks == 1 and not report.ok
    assert report.problems() == [
        "certificate C000001: JSON copy does not match its sealing entry 5"]
    assert seen == [home.root]


def test_certificate_check_that_crashes_fails_verification(home, log):
    def broken(database, check_home):
        raise RuntimeError("store unreachable")

    report = audit_log.verify_log(log, home, certificate_checks=[broken])
    assert not report.ok
    (problem,) = report.certificate_problems
    assert "could not run: RuntimeError: store unreachable" in problem, problem


def test_verify_log_finds_its_home_for_certificate_checks(home, log):
    homes = []
    report = audit_log.verify_log(
        log, certificate_checks=[lambda database, h: homes.append(h.root) or []])
    assert report.ok
    assert homes == [home.root]


def test_verify_log_needs_its_certificate_checks_named():
    """No registry filled by importing s4.disposal: a caller says which checks run."""
    import inspect

    parameter = inspect.signature(audit_log.verify_log).parameters["certificate_checks"]
    assert parameter.kind is inspect.Parameter.KEYWORD_ONLY
    assert parameter.default is inspect.Parameter.empty
    assert not hasattr(audit_log, "register_certificate_check")


# --------------------------------------------------------------------------- log


@pytest.fixture
def boxes(database, monkeypatch):
    """Two boxes with a batch and a document each; box-7 on 1 May 2030, box-8 on 2 May, a
    note about box-7 on 3 May (home.initialised is at the real time, earlier)."""
    clock = {"now": ""}
    monkeypatch.setattr(store_db, "now", lambda: clock["now"])
    for n, box in ((1, "box-7"), (2, "box-8")):
        clock["now"] = f"2030-05-0{n}T09:00:00.000Z"
        store_db.ensure_batch(database, f"b{n}", "default", box, "test", "tester")
        with store_db.transaction(database):
            store_db.insert_document(database, "tester", {
                "id": store_db.doc_label(n), "batch_id": f"b{n}", "box": box, "position": 1,
                "source_name": f"scan{n}.png", "source_path": f"/in/scan{n}.png",
                "source_size": 10, "source_mtime": 0.0, "sha256": f"{n}" * 64,
                "pipeline": "default", "state": store_db.RECEIVED})
    clock["now"] = "2030-05-03T09:00:00.000Z"
    with store_db.transaction(database):
        store_db.append_event(database, "manager", "box.noted", "box:box-7", {"note": "x"})
    return database


def _jsonl(home, *args) -> list[dict]:
    code, output = run_s4(home, "audit", "log", "--format", "jsonl", *args)
    assert code == 0, output
    return [json.loads(line) for line in output.splitlines()]


def test_log_filters(home, boxes):
    everything = _jsonl(home)
    assert [e["seq"] for e in everything] == list(range(1, 7))
    assert everything[2]["details"]["sha256"] == "1" * 64  # details is an object
    assert [(e["subject"], e["action"]) for e in _jsonl(home, "--doc", "d1")] == \
        [("D000001", "document.received")]
    assert [e["subject"] for e in _jsonl(home, "--box", "box-7")] == \
        ["batch:b1", "D000001", "box:box-7"]
    assert [e["subject"] for e in _jsonl(home, "--box", "box-8")] == ["batch:b2", "D000002"]
    assert [e["seq"] for e in _jsonl(home, "--since", "2030-05-02")] == [4, 5, 6]
    assert [e["seq"] for e in _jsonl(home, "--box", "box-7", "--since", "2030-05-02")] == [6]
    assert [e["seq"] for e in _jsonl(home, "--since", "2030-05-02T09:00:00.001")] == [6]
    assert [e["seq"] for e in _jsonl(home, "--since", "2030-05-02T11:00:01+02:00")] == [6]
    assert [e["seq"] for e in _jsonl(home, "--since", "2030-05-02T10:00+01:00")] == [4, 5, 6]


def test_log_table_fits_80_columns(home, boxes):
    with store_db.transaction(boxes):
        store_db.append_event(boxes, "a-very-long-actor-name", "a.very.long.action.name.x",
                              "certificate:CERT-000000001", {"long": "[bold]x[/] " * 40})
    code, output = run_s4(home, "audit", "log")
    assert code == 0
    assert max(len(line) for line in output.splitlines()) <= 80, output
    assert "box:box-7" in output and "2030-05-03 09:00:00" in output
    assert "note=x" in output
    assert "long=[bold]x" in output  # details shown literally, not as markup


@pytest.mark.parametrize("args", [["--doc", "letter"], ["--since", "last tuesday"]])
def test_log_rejects_bad_filters(home, boxes, args):
    code, _ = run_s4(home, "audit", "log", *args)
    assert code == 2


def test_every_audit_command_has_an_example(home):
    for name in ("audit", "audit verify", "audit head", "audit log"):
        code, output = run_s4(home, *name.split(), "--help")
        assert code == 0 and "Example" in output, name
