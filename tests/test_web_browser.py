"""The desk in a real browser: Debian's Chromium driven by Playwright against `s4 serve`.

The server is the real command in its own process, on a home whose record went through the
real line (Tesseract, ocrmypdf). With S4_SCREENSHOTS=1, each screen's screenshot is saved
into docs/screenshots/ (ordinary runs leave the work tree alone).
"""

from __future__ import annotations

import os
import socket
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from s4 import accounts
from s4 import db as store_db
from s4.context import HomeLock
from tests.conftest import S4_BIN, run_s4, wait_for, write_scan
from tests.web_support import PASSWORD

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"


def shot(page, name: str) -> None:
    """Save the screen for the README, only when asked (S4_SCREENSHOTS=1)."""
    if os.environ.get("S4_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


@pytest.fixture
def served(home):
    pdf = write_scan(home.root / "scans" / "letter.pdf")
    code, output = run_s4(home, "run", "--batch", "box-7", str(pdf))
    assert code in (0, 1), output
    database = store_db.connect(home.database)
    store_db.migrate(database)
    accounts.add_user(database, "rita", [accounts.RECORDS_MANAGER, accounts.AUDITOR],
                      PASSWORD, "test-admin")
    (doc,) = store_db.documents(database)
    database.conn.close()
    port = free_port()
    line_lock = HomeLock(home).__enter__()  # as if `s4 watch` were running: serve must not care
    log = (home.root / "serve.log").open("wb")
    server = subprocess.Popen([str(S4_BIN), "--home", str(home.root), "serve", "--port",
                               str(port)], stdout=log, stderr=subprocess.STDOUT,
                              env={**os.environ, "OMP_THREAD_LIMIT": "1"})
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: answers(f"{base}/sign-in") or server.poll() is not None, 60,
                 "s4 serve to answer")
        assert server.poll() is None, (home.root / "serve.log").read_text()
        yield base, doc
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
        line_lock.__exit__(None, None, None)


def test_sign_in_see_batches_open_a_document_see_its_page_and_sign_out(served):
    base, doc = served
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        errors: list[str] = []
        page.on("console", lambda message: errors.append(message.text)
                if message.type == "error" else None)

        page.goto(f"{base}/batches")  # signed out: the desk asks who you are first
        expect(page).to_have_url(f"{base}/sign-in?next=%2Fbatches")
        page.get_by_label("User name").fill("rita")
        page.get_by_label("Password").fill(PASSWORD)
        shot(page, "sign-in")
        page.get_by_role("button", name="Sign in").click()

        expect(page).to_have_url(f"{base}/batches")
        expect(page.get_by_role("heading", level=1)).to_have_text("Batches")
        expect(page.get_by_role("cell", name="box-7", exact=True).first).to_be_visible()
        shot(page, "batches")

        page.get_by_role("link", name="box-7").first.click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Box box-7")
        shot(page, "box")

        page.get_by_role("link", name=doc["id"]).first.click()
        expect(page.get_by_role("heading", level=1)).to_have_text(f"Document {doc['id']}")
        image = page.get_by_alt_text(f"Page 1 of {doc['id']}")
        expect(image).to_be_visible()
        wait_for(lambda: image.evaluate("img => img.complete && img.naturalWidth") > 0, 60,
                 "the page image to load")
        assert image.evaluate("img => img.naturalWidth") == 900
        shot(page, "document")

        page.get_by_role("link", name="Audit").click()
        expect(page.get_by_text("The whole log verifies")).to_be_visible()
        shot(page, "audit")

        page.get_by_role("link", name="Home").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Welcome, rita")
        shot(page, "home")

        page.get_by_role("button", name="Sign out").click()
        expect(page).to_have_url(f"{base}/sign-in")
        page.goto(f"{base}/documents/{doc['id']}")
        expect(page).to_have_url(f"{base}/sign-in?next=%2Fdocuments%2F{doc['id']}")
        browser.close()
    assert errors == []  # no CSP violation or failed load on any screen
