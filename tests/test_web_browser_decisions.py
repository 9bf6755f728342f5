"""Each role's main path through the decision screens, in Debian's Chromium (Playwright)
against a real `s4 serve` process, beside a held line lock (as if `s4 watch` ran)."""

from __future__ import annotations

import os
import subprocess

import pytest
from playwright.sync_api import expect, sync_playwright

from s4 import accounts
from s4 import db as store_db
from s4.config import Home
from s4.context import HomeLock
from s4.home import initialise
from tests.conftest import S4_BIN, wait_for
from tests.test_disposal import _stored_doc
from tests.test_web_browser import CHROMIUM, answers, free_port, shot
from tests.web_support import PASSWORD, quarantine, seed_document, seed_review_document

PEOPLE = {"olly": [accounts.OPERATOR], "rita": [accounts.RECORDS_MANAGER],
          "aude": [accounts.AUDITOR]}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    home = Home(tmp_path_factory.mktemp("desk") / "s4home")
    initialise(home)
    settings = home.settings_file.read_text().replace(
        'council = ""', 'council = "Borsetshire District Council"')
    home.settings_file.write_text(settings)
    database = store_db.connect(home.database)
    store_db.migrate(database)
    for name, roles in PEOPLE.items():
        accounts.add_user(database, name, roles, PASSWORD, "test-admin")
    records = {"quarantined": seed_document(home, database, "box-1"),
               "review": seed_review_document(home, database, "box-2"),
               "flagged": seed_document(home, database, "box-3")}
    quarantine(home, database, records["quarantined"], "page 2 is unreadable: rescan it")
    records["eligible"] = [_stored_doc(home, database, "box-9", "complaint")
                           for _ in range(2)]
    database.conn.close()
    port = free_port()
    line_lock = HomeLock(home).__enter__()
    log = (home.root / "serve.log").open("wb")
    server = subprocess.Popen([str(S4_BIN), "--home", str(home.root), "serve", "--port",
                               str(port)], stdout=log, stderr=subprocess.STDOUT,
                              env={**os.environ, "OMP_THREAD_LIMIT": "1"})
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: answers(f"{base}/sign-in") or server.poll() is not None, 60,
                 "s4 serve to answer")
        assert server.poll() is None, (home.root / "serve.log").read_text()
        yield base, home, records
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
        line_lock.__exit__(None, None, None)


@pytest.fixture
def browser_page():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        errors: list[str] = []
        page.on("console", lambda message: errors.append(message.text)
                if message.type == "error" else None)
        yield page, errors
        browser.close()
    assert errors == []  # no CSP violation or failed load


def sign_in_as(page, base: str, name: str, target: str) -> None:
    page.goto(f"{base}{target}")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{base}{target}")


def document(home: Home, doc_id: str) -> dict:
    database = store_db.connect(home.database)
    try:
        return store_db.get_document(database, doc_id)
    finally:
        database.conn.close()


def wait_image(image) -> None:
    expect(image).to_be_visible()
    wait_for(lambda: image.evaluate("img => img.complete && img.naturalWidth") > 0, 60,
             "the page image to load")


def test_an_operator_retries_a_quarantined_document(served, browser_page):
    base, home, records = served
    page, _errors = browser_page
    doc_id = records["quarantined"]
    sign_in_as(page, base, "olly", "/batches")
    expect(page.get_by_text("page 2 is unreadable: rescan it").first).to_be_visible()
    shot(page, "batches-quarantined")
    page.get_by_role("button", name=f"Retry {doc_id}").first.click()
    expect(page.get_by_role("status")).to_contain_text("back on the line")
    assert document(home, doc_id)["state"] == store_db.RECEIVED


def test_a_records_manager_reviews_a_document_looking_at_its_page_and_files_it(
        served, browser_page):
    base, home, records = served
    page, _errors = browser_page
    doc_id = records["review"]
    sign_in_as(page, base, "rita", "/review")
    shot(page, "review-queue")
    page.get_by_role("link", name=doc_id).first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Review {doc_id}")
    wait_image(page.get_by_alt_text(f"Page 1 of {doc_id}"))
    shot(page, "review")
    page.keyboard.press("a")  # the keyboard shortcut submits Accept
    expect(page.get_by_role("status")).to_contain_text(f"Your decision on {doc_id}")
    filed = document(home, doc_id)
    assert filed["state"] == store_db.FILED and filed["record_class"] == "council-tax"


def test_a_qa_checker_passes_a_flagged_page(served, browser_page):
    base, home, records = served
    page, _errors = browser_page
    doc_id = records["flagged"]
    sign_in_as(page, base, "olly", "/qa")
    shot(page, "qa-queue")
    page.get_by_role("link", name=f"Check page 2 of {doc_id}").click()
    wait_image(page.get_by_alt_text(f"Page 2 of {doc_id}"))
    shot(page, "qa")
    page.get_by_label("Reason (needed to fail)").fill("page 2 is legible")
    page.get_by_role("button", name="Pass: the page is legible and complete").click()
    expect(page.get_by_role("status")).to_contain_text(f"Your QA verdict on {doc_id} page 2")
    database = store_db.connect(home.database)
    try:
        verdict = store_db.qa_verdicts(database, [doc_id])[(doc_id, 2)]
    finally:
        database.conn.close()
    assert (verdict["result"], verdict["actor"]) == ("passed", "olly")


def test_a_records_manager_destroys_an_eligible_box_with_a_witness_then_an_auditor_traces_it(
        served, browser_page):
    base, home, records = served
    page, errors = browser_page
    sign_in_as(page, base, "rita", "/paper")
    shot(page, "paper")
    page.get_by_role("link", name="box-9").click()
    page.get_by_label("Method").fill("cross-cut shred, DIN 66399 P-4")
    page.get_by_label("Witness").fill("rita")  # the approver cannot witness
    page.get_by_role("button", name="Record the destruction of box box-9").click()
    expect(page.get_by_role("alert")).to_contain_text("the witness must be a different person")
    assert errors == ["Failed to load resource: the server responded with a status of 403 "
                      "(Forbidden)"]  # the refusal itself, answered 403
    errors.clear()
    page.get_by_label("Witness").fill("B. Witness")
    page.get_by_label("Contractor (optional)").fill("Shred Ltd")
    shot(page, "paper-box")
    page.get_by_role("button", name="Record the destruction of box box-9").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Certificate")
    shot(page, "certificate")
    certificate_url = page.url
    for doc_id in records["eligible"]:
        assert document(home, doc_id)["paper_status"] == "destroyed"
    page.get_by_role("button", name="Sign out").click()

    sign_in_as(page, base, "aude", "/audit")
    page.get_by_role("link", name=certificate_url.rsplit("/", 1)[1]).click()
    expect(page).to_have_url(certificate_url)
    page.get_by_role("link", name=records["eligible"][0]).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"Document {records['eligible'][0]}")
    page.goto(f"{base}/retention")
    expect(page.get_by_role("button", name="Place the hold")).to_have_count(0)
    shot(page, "retention")
    # The auditor's own session posting a change is refused, and nothing changes.
    token = page.locator('input[name="csrf_token"]').first.get_attribute("value")
    response = page.request.post(f"{base}/retention/holds", form={
        "csrf_token": token, "reason": "x", "scope_kind": "reference", "scope_value": "R"})
    assert response.status == 403
    database = store_db.connect(home.database)
    assert store_db.holds(database) == []
    database.conn.close()
    page.goto(f"{base}/search?q=council")
    expect(page.get_by_role("link", name=records["review"])).to_be_visible()
    shot(page, "search")
