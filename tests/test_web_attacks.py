"""The desk attacked as a hostile insider or a hostile web page would, on loopback: each test
pins a hole that was found open, so closing it stays closed."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import threading

import pytest

from s4 import accounts
from s4 import db as store_db
from s4.config import WebSettings
from s4.context import HomeContext
from s4.services import paper
from s4.web import auth
from tests.test_disposal import _stored_doc
from tests.web_support import (
    PASSWORD,
    ROLE_USERS,
    add_role_users,
    desk_with_role_users,
    events,
    post,
    quarantine,
    seed_document,
    signed_in,
)

OP, RM, AU, AD = accounts.OPERATOR, accounts.RECORDS_MANAGER, accounts.AUDITOR, accounts.ADMIN


@pytest.fixture
def app(home, db):
    return desk_with_role_users(home, db)


# --------------------------------------------------------------------------- witness rule


@pytest.mark.parametrize("look_alike", [
    "recordsmanager.",                # a trailing dot
    "records\u200bmanager",           # a zero-width space
    "records\u00admanager",           # a soft hyphen (invisible)
    "r\u0435cordsmanager",            # a Cyrillic е
    "r\u0435c\u043erd\u0455manager",   # Cyrillic е, о and ѕ together
    "\uff52\uff45\uff43\uff4f\uff52\uff44\uff53manager",  # full-width letters
    "Records Manager",                # the same name written as a person would
    "records-manager",
    "re\u0301cordsmanager",           # an accent added with a combining mark
    "rec0rdsmanager",                 # the digit 0 for the letter o
])
def test_the_approver_cannot_witness_under_a_look_alike_of_their_own_name(
        app, home, db, look_alike):
    _stored_doc(home, db, "box-9", "complaint")
    client = signed_in(app, RM)
    refused = post(client, "/paper/box-9/destroy", "/paper/box-9", witness=look_alike,
                   method="cross-cut shred P-4")
    assert refused.status_code == 403, look_alike
    assert "the witness must be a different person" in refused.text
    assert store_db.destructions(db) == []


def test_a_witness_with_a_name_in_another_script_is_still_accepted(home, db):
    _stored_doc(home, db, "box-9", "complaint")
    with HomeContext.open(home, actor="jane.smith") as ctx:
        done = paper.destroy(ctx, ["box-9"], "shred", "Дмитрий Иванов")
    assert done.certificate is not None
    assert store_db.destructions(db)[0]["witness"] == "Дмитрий Иванов"


# --------------------------------------------------------------------------- CSV exports


FORMULAS = ["=cmd|' /C calc'!A0", "+SUM(1+1)*cmd|' /C calc'!A0", "-2+3+cmd|'/C calc'!A0",
            "@SUM(1+1)", "\t=1+1", "\r=1+1"]


def test_csv_exports_never_hand_a_spreadsheet_a_formula(app, home, db):
    doc_ids = []
    for formula in FORMULAS:
        doc_id = seed_document(home, db)
        quarantine(home, db, doc_id, formula)
        doc_ids.append(doc_id)
    _stored_doc(home, db, "box-9", "complaint")
    with HomeContext.open(home, actor="A. Approver") as ctx:
        paper.destroy(ctx, ["box-9"], "=HYPERLINK(\"http://evil.example\",\"x\")",
                      "@witness")
    client = signed_in(app, AU)
    rows = list(csv.DictReader(io.StringIO(client.get("/exports/documents.csv").text)))
    reasons = {row["id"]: row["quarantine_reason"] for row in rows}
    for doc_id, formula in zip(doc_ids, FORMULAS, strict=True):
        assert reasons[doc_id] == "'" + formula, formula  # shown as text, nothing lost
    (certificate,) = csv.DictReader(io.StringIO(client.get("/exports/certificates.csv").text))
    assert certificate["method"] == "'=HYPERLINK(\"http://evil.example\",\"x\")"
    assert certificate["witness"] == "'@witness"
    assert not any(cell[:1] in "=+-@\t\r" for row in rows for cell in row.values() if cell)


# --------------------------------------------------------------------------- request bodies


def _post_streamed(app, path: str, total: int, headers: list[tuple[bytes, bytes]],
                   chunk: int = 64 * 1024) -> tuple[int, int]:
    """POST ``total`` bytes to the app in chunks, the way a server hands them over; returns
    the status and how many bytes the app pulled before answering."""
    pulled = 0
    status: list[int] = []

    async def receive() -> dict:
        nonlocal pulled
        if pulled >= total:
            return {"type": "http.disconnect"}
        size = min(chunk, total - pulled)
        pulled += size  # each chunk its own small field: no single field is over-long
        body = b"&f=" + b"a" * (size - 3)
        return {"type": "http.request", "body": body, "more_body": pulled < total}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(),
             "root_path": "", "query_string": b"", "client": ("127.0.0.1", 5000),
             "server": ("127.0.0.1", 8440), "headers": headers}
    asyncio.run(app(scope, receive, send))
    return status[0], pulled


FORM = (b"content-type", b"application/x-www-form-urlencoded")
TEN_MB = 10 * 1024 * 1024


@pytest.mark.parametrize("path", ["/sign-in", "/account/sign-out", "/retention/holds"])
def test_a_body_without_a_length_is_not_read_past_the_form_limit(app, path):
    status, pulled = _post_streamed(app, path, TEN_MB, [FORM])  # chunked: no length
    assert status in (403, 413), path
    assert pulled <= auth.FORM_LIMIT_BYTES + 64 * 1024, (path, pulled)


def test_a_body_longer_than_its_declared_length_is_not_read_past_the_limit(app):
    status, pulled = _post_streamed(app, "/sign-in", TEN_MB,
                                    [FORM, (b"content-length", b"20")])
    assert status == 413
    assert pulled <= auth.FORM_LIMIT_BYTES + 64 * 1024


def test_an_upload_from_someone_signed_out_is_refused_before_it_is_read(app, home, db):
    doc_id = seed_document(home, db)
    total = 50 * 1024 * 1024  # under the upload limit, so only the sign-in can stop it
    status, pulled = _post_streamed(
        app, f"/documents/{doc_id}/rescan", total,
        [(b"content-type", b"multipart/form-data; boundary=x"),
         (b"content-length", str(total).encode())])
    assert status == 403
    assert pulled <= 64 * 1024


# --------------------------------------------------------------------------- lock-out


def test_parallel_guesses_get_no_more_tries_than_the_lock_out_allows(home, db):
    """Many wrong passwords sent at once must not each be checked against a count read
    before the others were written: the lock-out is per try, not per wave."""
    add_role_users(db)
    settings = WebSettings()
    name, guesses = ROLE_USERS[AU], 12
    start = threading.Barrier(guesses)
    outcomes: list[accounts.SignIn] = []

    def guess(n: int) -> None:
        connection = store_db.connect(home.database)
        try:
            start.wait()
            outcomes.append(accounts.sign_in(connection, name, f"wrong guess {n:04d}",
                                             settings, accounts.utc_now()))
        finally:
            connection.conn.close()

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(guesses)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(outcomes) == guesses and not any(o.ok for o in outcomes)
    checked = [e for e in events(home, "user.sign_in_failed")
               if '"wrong password"' in e["details"]]
    assert len(checked) <= settings.max_failed_sign_ins
    user = store_db.get_user(db, name)
    assert user["locked_until"] is not None
    # Locked: even the right password is refused now.
    assert not accounts.sign_in(db, name, PASSWORD, settings, accounts.utc_now()).ok


# --------------------------------------------------------------------------- leaks


def test_a_missing_certificate_pdf_is_explained_without_the_servers_paths(app, home, db):
    _stored_doc(home, db, "box-9", "complaint")
    with HomeContext.open(home, actor="A. Approver") as ctx:
        done = paper.destroy(ctx, ["box-9"], "shred", "B. Witness")
    (record,) = store_db.destructions(db)
    from pathlib import Path
    Path(record["pdf_path"]).unlink()
    client = signed_in(app, AU)
    response = client.get(f"/certificates/{done.certificate['certificate']}/pdf")
    assert response.status_code == 404
    assert "certificate" in response.text.lower()
    assert str(home.root) not in response.text
    assert Path(record["pdf_path"]).name not in response.text


# --------------------------------------------------------------------------- search


@pytest.mark.parametrize("words", ["Council\x00Tax", "\x00", "Council \x1b Tax\x7f"])
def test_control_characters_in_a_search_are_only_separators(app, home, db, words):
    doc_id = seed_document(home, db)
    response = signed_in(app, OP).get("/search", params={"q": words})
    assert response.status_code == 200, words
    if words.strip("\x00"):
        assert f'href="/documents/{doc_id}' in response.text


def test_password_checks_run_at_most_two_at_a_time(monkeypatch):
    """Argon2 uses ~64 MiB per check: a flood of sign-ins queues instead of using GBs."""
    import threading as _threading

    from s4 import accounts

    running = {"now": 0, "most": 0}
    lock = _threading.Lock()
    gate = _threading.Barrier(2, timeout=5)

    class CountingHasher:
        def verify(self, password_hash: str, password: str) -> bool:
            with lock:
                running["now"] += 1
                running["most"] = max(running["most"], running["now"])
            with contextlib.suppress(_threading.BrokenBarrierError):
                gate.wait()  # two checks meet here: proves two may run together
            with lock:
                running["now"] -= 1
            return False

    monkeypatch.setattr(accounts, "_hasher", CountingHasher())
    threads = [_threading.Thread(target=accounts._verify, args=("h", "p")) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert running["most"] == 2
