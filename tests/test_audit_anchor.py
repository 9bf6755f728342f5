"""The head S4 keeps outside the database, and RFC 3161 anchors of it against a real local
time-stamping authority (OpenSSL's ``ts -reply`` behind a loopback HTTP server)."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap

import pytest

from s4 import db as store_db
from s4.cli import cli
from s4.cli.audit import audit
from s4.events import KeptHead, read_head_file, read_heads_log, record_head
from tests.conftest import run_s4
from tests.test_audit import TRIGGER_DDL, _append, _rehash_from, _rewrite_head_files
from tests.tsa_local import start_local_tsa


@pytest.fixture(autouse=True)
def _audit_registered():
    if "audit" not in cli.commands:
        cli.add_command(audit)


@pytest.fixture(scope="module")
def tsa(tmp_path_factory):
    server = start_local_tsa(tmp_path_factory.mktemp("tsa"))
    yield server
    server.stop()


def _configure(home, url: str, certificate) -> None:
    """Fill in the [audit] section s4 init wrote (its keys are commented out)."""
    text = home.settings_file.read_text()
    assert "\n[audit]\n" in text
    home.settings_file.write_text(text.replace(
        "\n[audit]\n", f'\n[audit]\ntsa_url = "{url}"\ntsa_certificate = "{certificate}"\n'
                       "timeout_seconds = 5.0\n", 1))


@pytest.fixture
def anchored(home, database, tsa):
    """Entries 1–7, entry 7 anchored (the anchor itself is entry 8), then entries 9–10."""
    _configure(home, tsa.url, tsa.bundle)
    _append(database, 6)
    code, output = run_s4(home, "audit", "anchor")
    assert code == 0, output
    _append(database, 2, "later")
    return database


def _verify(home, *args) -> tuple[int, str]:
    return run_s4(home, *args, "audit", "verify") if args else run_s4(home, "audit", "verify")


# --------------------------------------------------------------------------- head file


def test_every_commit_moves_the_head_file(home, database):
    _append(database, 3)
    head = read_head_file(home.root / "audit")
    last = store_db.audit_last_event(database)
    assert head == KeptHead(last["seq"], last["hash"], last["at"])
    assert [h.seq for _, h, _ in read_heads_log(home.root / "audit")] == [1, 2, 3, 4]


def test_head_file_never_moves_backwards(home):
    folder = home.root / "audit"
    record_head(folder, KeptHead(50, "a" * 64, "t50"))
    assert record_head(folder, KeptHead(49, "b" * 64, "t49")) is False
    assert record_head(folder, KeptHead(50, "c" * 64, "t50")) is False
    assert read_head_file(folder).seq == 50 and read_head_file(folder).hash == "a" * 64


WRITER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from s4 import db as store_db
    database = store_db.connect(Path(sys.argv[1]))
    for i in range(int(sys.argv[2])):
        with store_db.transaction(database):
            store_db.append_event(database, "writer", "test.event", sys.argv[3], {"i": i})
""")


def test_head_file_follows_two_concurrent_writers_forwards_only(home, database):
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(home.database), "40", name])
               for name in ("watch", "cli")]
    assert [w.wait(timeout=120) for w in writers] == [0, 0]
    last = store_db.audit_last_event(database)
    assert last["seq"] == 81
    assert read_head_file(home.root / "audit").seq == 81
    seqs = [h.seq for _, h, _ in read_heads_log(home.root / "audit")]
    assert seqs == sorted(set(seqs)) and seqs[-1] == 81  # every move went forwards
    code, output = _verify(home)
    assert code == 0, output


def test_log_ahead_of_the_head_file_is_fine_and_said_in_verbose(home, database):
    _append(database, 2)
    folder = home.root / "audit"
    rows = {r["seq"]: r for r in database.conn.execute("SELECT * FROM events")}
    (folder / "head").write_text(f"2:{rows[2]['hash']} {rows[2]['at']}\n")  # a lost write
    code, output = _verify(home)
    assert code == 0, output
    assert "note:" not in output
    code, output = _verify(home, "-v")
    assert code == 0, output
    assert "the log is 1 entr(y/ies) past audit/head (2)" in output


def test_home_without_a_head_file_warns_and_gets_one_on_the_next_write(home, database):
    folder = home.root / "audit"
    for name in ("head", "heads.log"):
        (folder / name).unlink()
    code, output = _verify(home)
    assert code == 0, output
    assert "WARNING: no audit/head yet" in output
    _append(database, 1)
    assert read_head_file(folder).seq == 2
    code, output = _verify(home)
    assert code == 0 and "WARNING" not in output, output


def test_deleted_head_file_with_its_history_left_fails(home, database):
    _append(database, 2)
    (home.root / "audit" / "head").unlink()
    code, output = _verify(home)
    assert code == 1, output
    assert "audit/head is missing, though S4 kept one (audit/heads.log" in output


def test_garbled_head_file_fails_and_is_not_overwritten(home, database):
    (home.root / "audit" / "head").write_text("45:not-a-hash\n")
    _append(database, 1)
    assert (home.root / "audit" / "head").read_text() == "45:not-a-hash\n"
    code, output = _verify(home)
    assert code == 1 and "does not hold SEQ:HASH" in output, output


# --------------------------------------------------------------------------- anchors


def test_anchor_is_stored_and_verified(home, anchored, tsa):
    anchors = store_db.audit_anchors(anchored)
    assert [(a["seq"], a["hash"]) for a in anchors] == \
        [(7, store_db.audit_event_by_seq(anchored, 7)["hash"])]
    assert store_db.audit_event_by_seq(anchored, 8)["action"] == "audit.anchored"
    token_file = home.root / "audit" / "anchors" / f"7-{anchors[0]['hash']}.tsr"
    assert token_file.read_bytes() == anchors[0]["token"]
    assert tsa.requests, "the TSA was asked"
    code, output = _verify(home)
    assert code == 0, output
    assert "anchors: 1 timestamp token(s) checked, 0 problem(s); newest good anchor: entry 7" \
        in output


def test_forger_who_rehashes_and_rewrites_the_head_files_is_caught_by_the_anchor(home,
                                                                                 anchored):
    anchored.conn.execute("DROP TRIGGER events_no_update")
    anchored.conn.execute("UPDATE events SET actor = 'mallory' WHERE seq = 5")
    _rehash_from(anchored, 5)
    anchored.conn.executescript(TRIGGER_DDL)
    _rewrite_head_files(home, anchored)
    code, output = _verify(home)
    assert code == 1, output
    assert "chain: every entry matches its hash" in output  # the forgery is self-consistent
    assert "anchor 1 (entry 7," in output
    assert "entry 7 in the log now has hash" in output and "rewritten at or before entry 7" \
        in output


def test_anchor_row_edited_to_the_forged_hash_fails_its_signature(home, anchored):
    anchored.conn.execute("DROP TRIGGER events_no_update")
    anchored.conn.execute("UPDATE events SET actor = 'mallory' WHERE seq = 5")
    _rehash_from(anchored, 5)
    anchored.conn.executescript(TRIGGER_DDL)
    _rewrite_head_files(home, anchored)
    forged = store_db.audit_event_by_seq(anchored, 7)["hash"]
    anchored.conn.execute("UPDATE audit_anchors SET hash = ?", (forged,))
    for token in (home.root / "audit" / "anchors").glob("*.tsr"):
        token.unlink()
    code, output = _verify(home)
    assert code == 1, output
    assert "anchor 1 (entry 7," in output and "is not a valid signature of the configured TSA" \
        in output


def test_corrupted_token_fails_verification(home, anchored):
    token = bytearray(store_db.audit_anchors(anchored)[0]["token"])
    token[-20] ^= 0x01
    anchored.conn.execute("UPDATE audit_anchors SET token = ?", (bytes(token),))
    code, output = _verify(home)
    assert code == 1, output
    assert "PROBLEM: anchor 1 (entry 7," in output


def test_truncated_token_is_reported_as_damaged(home, anchored):
    token = store_db.audit_anchors(anchored)[0]["token"]
    anchored.conn.execute("UPDATE audit_anchors SET token = ?", (token[:40],))
    code, output = _verify(home)
    assert code == 1 and "timestamp token is damaged" in output, output


def test_tsa_unreachable_exits_3_and_stores_nothing(home, database, tsa):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    _configure(home, f"http://user:s3cret@127.0.0.1:{port}/tsa", tsa.bundle)
    code, output = run_s4(home, "audit", "anchor")
    assert code == 3, output
    assert "could not be reached" in output and f"127.0.0.1:{port}" in output
    assert "s3cret" not in output
    assert store_db.audit_anchors(database) == []


def test_reply_from_another_tsa_is_refused(home, database, tsa, tmp_path):
    other = start_local_tsa(tmp_path / "other")
    try:
        _configure(home, other.url, tsa.bundle)  # trusts the first TSA only
        code, output = run_s4(home, "audit", "anchor")
    finally:
        other.stop()
    assert code == 1, output
    assert "does not prove the head" in output
    assert store_db.audit_anchors(database) == []


def test_anchor_without_settings_is_a_usage_error(home):
    code, output = run_s4(home, "audit", "anchor")
    assert code == 2 and "audit.tsa_url: not set" in output, output
