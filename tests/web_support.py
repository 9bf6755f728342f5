"""Shared set-up for the desk's tests: accounts for every role and a record with a real PDF."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from starlette.testclient import TestClient

from s4 import accounts
from s4 import db as store_db
from s4.config import Home
from tests.conftest import write_scan

PASSWORD = "a long test passphrase"
ROLE_USERS = {role: role.replace("-", "") for role in accounts.ROLES}  # e.g. recordsmanager


class Clock:
    """An injectable clock: tests move time on instead of sleeping."""

    def __init__(self) -> None:
        self.now = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def add_role_users(database) -> None:
    for role, name in ROLE_USERS.items():
        accounts.add_user(database, name, [role], PASSWORD, "test-admin")


def desk_with_role_users(home: Home, database):
    """The desk over ``home``, with an account for every role and a clock the test moves."""
    from s4.web.app import create_app

    add_role_users(database)
    return create_app(home, clock=Clock())


def seed_document(home: Home, database, box: str = "box-1") -> str:
    """One processed record whose PDF is a real two-page scan (no OCR needed to view it)."""
    pdf = write_scan(home.work / "seed" / "letter.pdf", pages=2)
    store_db.ensure_batch(database, "batch-1", "default", box, str(pdf.parent), "test")
    doc_id = store_db.next_doc_id(database)
    with store_db.transaction(database):
        store_db.insert_document(database, "test", {
            "id": doc_id, "batch_id": "batch-1", "box": box, "position": 1,
            "source_name": "letter.pdf", "source_path": str(pdf), "source_size": 1,
            "source_mtime": 0.0, "sha256": "0" * 64, "pipeline": "default",
            "state": store_db.OCR})  # seeded as handed to OCR
    store_db.record_ocr_result(
        database, doc_id, "test",
        [{"page_no": n, "confidence": 91.0 - n, "words": 40, "rotation": 0, "ocr_skipped": 0,
          "flagged": int(n == 2), "text": "Council Tax",
          "flags": [{"check": "skew", "reason": "the page is skewed by about 8.0°"}] if n == 2
          else []} for n in (1, 2)],
        {"state": store_db.PROCESSED, "pages": 2, "output_pdf": str(pdf), "pdfa": 1,
         "ocr_conf_mean": 89.5, "ocr_conf_min": 89.0, "flagged_pages": "2"}, {})
    return doc_id


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the page has no CSRF field"
    return match[1]


def sign_in(client: TestClient, name: str, password: str = PASSWORD, next_page: str = "/"):
    form = client.get("/sign-in")
    return client.post("/sign-in", data={"csrf_token": csrf_from(form.text), "username": name,
                                          "password": password, "next": next_page},
                       follow_redirects=False)


def events(home: Home, action_prefix: str = "") -> list[dict]:
    connection = store_db.connect(home.database)
    try:
        return [e for e in store_db.iter_events(connection)
                if e["action"].startswith(action_prefix)]
    finally:
        connection.conn.close()


def pdf_path(home: Home) -> Path:
    return home.work / "seed" / "letter.pdf"


def seed_review_document(home: Home, database, box: str = "box-1",
                         text: str = "Council Tax bill account 12345678") -> str:
    """A record whose class S4 was unsure of: waiting for a records manager."""
    doc_id = seed_document(home, database, box)
    store_db.update_document(
        database, doc_id, "test", "document.needs_review", {},
        state=store_db.NEEDS_REVIEW, proposed_class="council-tax", class_confidence=0.55,
        classification='{"reason": "below the threshold", "alternatives": '
                       '[["business-rates", 0.3]], "evidence": []}',
        document_date="2024-04-01", refs='["12345678"]')
    return doc_id


def quarantine(home: Home, database, doc_id: str, reason: str) -> None:
    """Quarantine a seeded record the way the line does: its file kept under quarantine/."""
    kept = home.quarantine / doc_id / "letter.pdf"
    kept.parent.mkdir(parents=True, exist_ok=True)
    kept.write_bytes(pdf_path(home).read_bytes())
    store_db.update_document(database, doc_id, "test", "document.quarantined",
                             {"reason": reason}, state=store_db.QUARANTINED,
                             quarantine_reason=reason, quarantine_path=str(kept))


def signed_in(app, role: str) -> TestClient:
    """A client signed in as the test account holding ``role``."""
    client = TestClient(app, raise_server_exceptions=False)
    assert sign_in(client, ROLE_USERS[role]).status_code == 303
    return client


def post(client: TestClient, url: str, page: str = "/", **data):
    """POST a form with the CSRF token taken from ``page``, as a browser would."""
    token = csrf_from(client.get(page).text)
    return client.post(url, data={"csrf_token": token, **data}, follow_redirects=False)
