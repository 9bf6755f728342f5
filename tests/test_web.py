"""The desk at the HTTP level: who may do what, CSRF, sessions, lock-out, headers, errors."""

from __future__ import annotations

import io
import logging

import pytest
from click.testing import CliRunner
from PIL import Image
from starlette.routing import Route
from starlette.testclient import TestClient

from s4 import accounts
from s4 import db as store_db
from s4.cli import cli
from s4.context import HomeContext
from s4.services import paper
from s4.services import retention as retention_service
from s4.web import auth
from s4.web.app import SECURITY_HEADERS, create_app
from tests.test_disposal import _stored_doc
from tests.web_support import (
    PASSWORD,
    ROLE_USERS,
    Clock,
    add_role_users,
    csrf_from,
    events,
    pdf_path,
    seed_document,
    sign_in,
)

OP, RM, AU, AD = accounts.OPERATOR, accounts.RECORDS_MANAGER, accounts.AUDITOR, accounts.ADMIN
# Written out by hand (not read from the code) so that loosening a route's roles fails here.
EXPECTED = {
    ("GET", "/"): {OP, RM, AU, AD},
    ("GET", "/batches"): {OP, RM, AU},
    ("GET", "/boxes/{box}"): {OP, RM, AU},
    ("GET", "/documents/{doc}"): {OP, RM, AU},
    ("GET", "/documents/{doc}/pages/{page:int}.png"): {OP, RM, AU},
    ("GET", "/documents/{doc}/pdf"): {RM, AU},
    ("GET", "/audit"): {RM, AU},
    ("POST", "/account/sign-out"): {OP, RM, AU, AD},
    # part 2: the decision screens
    ("POST", "/documents/{doc}/retry"): {OP},
    ("POST", "/documents/{doc}/rescan"): {OP, RM},
    ("GET", "/review"): {RM},
    ("GET", "/review/{doc}"): {RM},
    ("POST", "/review/{doc}"): {RM},
    ("GET", "/qa"): {OP, RM},
    ("GET", "/qa/{doc}/{page:int}"): {OP, RM},
    ("POST", "/qa/{doc}/{page:int}"): {OP, RM},
    ("GET", "/paper"): {OP, RM, AU},
    ("GET", "/paper/{box}"): {OP, RM, AU},
    ("POST", "/paper/{box}/destroy"): {RM},
    ("GET", "/certificates/{cert}"): {RM, AU},
    ("GET", "/certificates/{cert}/pdf"): {RM, AU},
    ("GET", "/exports/documents.csv"): {RM, AU},
    ("GET", "/exports/certificates.csv"): {RM, AU},
    ("GET", "/retention"): {RM, AU},
    ("GET", "/retention/due.csv"): {RM, AU},
    ("POST", "/retention/holds"): {RM},
    ("POST", "/retention/holds/{hold}/lift"): {RM},
    ("POST", "/retention/events"): {RM},
    ("GET", "/search"): {OP, RM, AU},
    ("GET", "/admin/users"): {AD},
    ("POST", "/admin/users"): {AD},
    ("POST", "/admin/users/{name}/disable"): {AD},
    ("POST", "/admin/users/{name}/password"): {AD},
}


@pytest.fixture
def desk(home, db):
    add_role_users(db)
    doc_id = seed_document(home, db)
    clock = Clock()
    app = create_app(home, clock=clock)
    return home, app, clock, doc_id


@pytest.fixture
def desk_with_records(desk, db):
    """The desk, plus a destroyed box with its certificate, a hold and a spare account."""
    home = desk[0]
    accounts.add_user(db, "spare", [OP], PASSWORD, "test-admin")
    with HomeContext.open(home, actor="A. Approver") as ctx:
        _stored_doc(home, db, "box-gone", "complaint")
        certificate = paper.destroy(ctx, ["box-gone"], "shred", "B. Witness").certificate
        hold = retention_service.place_hold(ctx, "FOI 2026/7", "reference", "REF-1")
    return (*desk, {"{cert}": certificate["certificate"], "{hold}": hold["id"],
                    "{name}": "spare"})


def client_for(app, role: str | None) -> TestClient:
    client = TestClient(app, raise_server_exceptions=False)
    if role is not None:
        assert sign_in(client, ROLE_USERS[role]).status_code == 303
    return client


def concrete(path: str, doc_id: str, names: dict[str, str] | None = None) -> str:
    path = (path.replace("{box}", "box-1").replace("{doc}", doc_id)
            .replace("{page:int}", "1"))
    for name, value in (names or {}).items():
        path = path.replace(name, value)
    return path


def test_every_guarded_route_is_in_the_matrix(desk):
    declared = {(method, rule.path) for rule in auth.ROUTE_RULES for method in rule.methods}
    assert declared == set(EXPECTED)
    for rule in auth.ROUTE_RULES:
        for method in rule.methods:
            assert rule.roles == EXPECTED[(method, rule.path)], rule.path


def test_authorisation_matrix_every_route_every_role_and_signed_out(desk_with_records):
    home, app, _clock, doc_id, names = desk_with_records
    before = {e["seq"] for e in events(home)}
    clients = {role: client_for(app, role) for role in (None, *accounts.ROLES)}
    for (method, path), allowed in EXPECTED.items():
        url = concrete(path, doc_id, names)
        for role, client in clients.items():
            if method == "POST":  # a fresh session each time: signing out ends it
                client = client_for(app, role)
                token = csrf_from(client.get("/").text) if role else "x"
                response = client.post(url, data={"csrf_token": token},
                                       follow_redirects=False)
            else:
                response = client.get(url, follow_redirects=False)
            where = f"{method} {url} as {role or 'signed out'}"
            if role is None and method == "GET":
                assert response.status_code == 303, where
                assert response.headers["location"].startswith("/sign-in?next="), where
            elif role is None or role not in allowed:
                assert response.status_code == 403, where
                assert "nothing was changed" in response.text, where
            else:  # allowed: done (200/303), or the empty form refused as bad input (400)
                assert response.status_code in (200, 303, 400), where
                if method == "GET":
                    assert response.status_code == 200, where
    # Refused requests changed nothing; the empty forms the allowed roles posted changed
    # nothing but the spare account (disabled by the admin) and the downloads and exports.
    changed = [e for e in events(home) if e["seq"] not in before]
    assert {e["action"] for e in changed} <= {"document.downloaded", "export.downloaded",
                                              "user.disabled", "user.signed_in",
                                              "user.signed_out"}, changed
    assert {e["actor"] for e in changed if e["action"] == "user.disabled"} == {ROLE_USERS[AD]}
    # An operator was refused the PDF: no download was recorded for anyone but allowed roles.
    downloaders = {e["actor"] for e in events(home, "document.downloaded")}
    assert downloaders == {ROLE_USERS[RM], ROLE_USERS[AU]}


def test_post_without_or_with_a_wrong_csrf_token_is_refused_and_changes_nothing(desk):
    home, app, _clock, _doc = desk
    client = client_for(app, RM)
    for data in ({}, {"csrf_token": "forged"}):
        response = client.post("/account/sign-out", data=data, follow_redirects=False)
        assert response.status_code == 403
        assert client.get("/", follow_redirects=False).status_code == 200  # still signed in
    assert events(home, "user.signed_out") == []
    # The sign-in form has its own token: a sign-in posted from elsewhere opens no session.
    stranger = TestClient(app, raise_server_exceptions=False)
    response = stranger.post("/sign-in", data={"username": ROLE_USERS[RM],
                                               "password": PASSWORD}, follow_redirects=False)
    assert response.status_code == 403
    assert auth.SESSION_COOKIE not in response.cookies
    assert len(events(home, "user.signed_in")) == 1


def test_an_idle_session_expires_and_activity_keeps_it_alive(desk):
    home, app, clock, _doc = desk
    client = client_for(app, OP)
    clock.advance(minutes=29)
    assert client.get("/batches", follow_redirects=False).status_code == 200
    clock.advance(minutes=29)  # 58 minutes since sign-in, 29 since last seen
    assert client.get("/batches", follow_redirects=False).status_code == 200
    clock.advance(minutes=31)
    response = client.get("/batches", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/sign-in?next=%2Fbatches"
    (expired,) = events(home, "user.session_expired")
    assert expired["actor"] == ROLE_USERS[OP]
    clock.advance(minutes=1)  # the session is gone, not just asleep
    assert client.get("/batches", follow_redirects=False).status_code == 303


def test_a_busy_session_still_ends_session_max_hours_after_sign_in(desk):
    home, app, clock, _doc = desk
    client = client_for(app, OP)
    for _ in range(24):  # never idle: a request every 29 minutes, 11 h 36 min in all
        clock.advance(minutes=29)
        assert client.get("/batches", follow_redirects=False).status_code == 200
    clock.advance(minutes=25)  # 12 h 1 min since sign-in (default session_max_hours = 12)
    response = client.get("/batches", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/sign-in?next=%2Fbatches"
    (expired,) = events(home, "user.session_expired")
    assert expired["actor"] == ROLE_USERS[OP] and "too old" in expired["details"]
    # A form posted with the old cookie is refused the same way, and a new sign-in works.
    refused = client.post("/account/sign-out", data={"csrf_token": "x"},
                          follow_redirects=False)
    assert refused.status_code == 403 and "not signed in" in refused.text
    assert sign_in(client, ROLE_USERS[OP]).status_code == 303
    assert client.get("/batches", follow_redirects=False).status_code == 200


def test_session_max_hours_is_read_from_the_settings(desk, home):
    _home, _app, clock, _doc = desk
    settings = home.settings_file.read_text()
    assert "session_max_hours = 12" in settings  # the example s4.toml documents it
    home.settings_file.write_text(settings.replace("session_max_hours = 12",
                                                   "session_max_hours = 1"))
    client = client_for(create_app(home, clock=clock), OP)
    clock.advance(minutes=29)
    assert client.get("/batches", follow_redirects=False).status_code == 200
    clock.advance(minutes=29)
    assert client.get("/batches", follow_redirects=False).status_code == 200
    clock.advance(minutes=3)  # 61 minutes since sign-in, 3 since last seen
    assert client.get("/batches", follow_redirects=False).status_code == 303


def test_lock_out_after_repeated_failures_then_unlocks_after_the_period(desk):
    home, app, clock, _doc = desk
    client = TestClient(app, raise_server_exceptions=False)
    name, wrong = ROLE_USERS[AU], "not-the-password-xyzzy"
    for _ in range(5):  # default [web] max_failed_sign_ins = 5
        response = sign_in(client, name, wrong)
        assert response.status_code == 200
        assert "do not match" in response.text
    failures = events(home, "user.sign_in_failed")
    assert len(failures) == 5
    assert {e["actor"] for e in failures} == {name}
    (locked,) = events(home, "user.locked_out")
    assert locked["actor"] == name
    everything = "".join(str(e) for e in events(home))
    assert wrong not in everything and PASSWORD not in everything
    # Even the right password is refused while locked.
    response = sign_in(client, name, PASSWORD)
    assert response.status_code == 200 and "locked" in response.text
    clock.advance(minutes=16)
    assert sign_in(client, name, PASSWORD).status_code == 303


def test_a_disabled_user_cannot_sign_in_and_their_session_ends(desk):
    home, app, _clock, _doc = desk
    client = client_for(app, RM)
    database = store_db.connect(home.database)
    accounts.disable_user(database, ROLE_USERS[RM], "test-admin")
    database.conn.close()
    assert client.get("/", follow_redirects=False).status_code == 303
    response = sign_in(TestClient(app), ROLE_USERS[RM])
    assert response.status_code == 200 and "do not match" in response.text
    assert events(home, "user.sign_in_failed")[-1]["details"].count("disabled") == 1


def test_sign_in_and_sign_out_events_name_the_account_not_the_os_user(desk):
    home, app, _clock, _doc = desk
    client = client_for(app, AU)
    response = client.post("/account/sign-out",
                           data={"csrf_token": csrf_from(client.get("/").text)},
                           follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/sign-in"
    assert client.get("/", follow_redirects=False).status_code == 303
    (signed_in,) = events(home, "user.signed_in")
    (signed_out,) = events(home, "user.signed_out")
    assert signed_in["actor"] == signed_out["actor"] == ROLE_USERS[AU]
    assert store_db.default_actor() != ROLE_USERS[AU]


def test_security_headers_and_cookie_flags_on_every_kind_of_response(desk, home):
    _home, app, _clock, doc_id = desk
    client = client_for(app, RM)
    for url in ("/sign-in", "/", "/batches", f"/documents/{doc_id}", "/no-such-page",
                f"/documents/{doc_id}/pages/1.png", "/static/s4.css"):
        response = client.get(url, follow_redirects=False)
        for name, value in SECURITY_HEADERS.items():
            assert response.headers[name] == value, (url, name)
        expected_cache = "max-age=3600" if url.startswith("/static/") else "no-store"
        assert response.headers["cache-control"] == expected_cache, url
    cookie = sign_in(TestClient(app), ROLE_USERS[OP]).headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "secure" not in cookie
    settings = home.settings_file.read_text().replace("https = false", "https = true")
    home.settings_file.write_text(settings)
    secure_app = create_app(home)  # behind https: a browser sends Secure cookies only there
    response = sign_in(TestClient(secure_app, base_url="https://testserver"), ROLE_USERS[OP])
    assert response.status_code == 303 and "; secure" in response.headers["set-cookie"].lower()


def test_an_error_shows_an_id_and_no_traceback_and_logs_the_traceback(desk, caplog):
    _home, app, _clock, _doc = desk

    def broken(request):
        raise RuntimeError("secret internal detail")

    app.router.routes.append(Route("/broken", broken))
    with caplog.at_level(logging.ERROR, logger="s4.web"):
        response = TestClient(app, raise_server_exceptions=False).get("/broken")
    assert response.status_code == 500
    assert "Traceback" not in response.text and "secret internal detail" not in response.text
    assert response.headers["content-security-policy"] == SECURITY_HEADERS[
        "content-security-policy"]
    error_id = response.text.split('class="error-id">')[1].split("<")[0]
    assert len(error_id) == 12
    (record,) = [r for r in caplog.records if error_id in r.getMessage()]
    assert record.exc_info and "secret internal detail" in str(record.exc_info[1])


def test_page_images_are_rendered_once_and_served_from_the_cache(desk):
    home, app, _clock, doc_id = desk
    client = client_for(app, OP)
    page = client.get(f"/documents/{doc_id}")
    assert f'src="/documents/{doc_id}/pages/2.png?w=900"' in page.text
    assert "flagged for a person to check" in page.text
    assert "<strong>skew</strong>: the page is skewed by about 8.0°" in page.text  # why
    first = client.get(f"/documents/{doc_id}/pages/2.png")
    assert first.status_code == 200 and first.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(first.content)).size[0] == 900
    (cached,) = (home.root / "cache" / "pages" / doc_id).glob("*/2-900.png")
    stamp = cached.stat().st_mtime_ns
    second = client.get(f"/documents/{doc_id}/pages/2.png")
    assert second.content == first.content
    assert cached.stat().st_mtime_ns == stamp  # served, not rendered again
    for bad in ("/pages/3.png", "/pages/1.png?w=5000", "/pages/0.png"):
        assert client.get(f"/documents/{doc_id}{bad}").status_code == 404, bad
    assert client.get("/documents/..%2F..%2Fetc/pages/1.png").status_code == 404


def test_pdf_download_is_by_record_id_and_is_recorded(desk):
    home, app, _clock, doc_id = desk
    response = client_for(app, RM).get(f"/documents/{doc_id}/pdf")
    assert response.status_code == 200
    assert response.content == pdf_path(home).read_bytes()
    assert f'filename="{doc_id}.pdf"' in response.headers["content-disposition"]
    (download,) = events(home, "document.downloaded")
    assert download["actor"] == ROLE_USERS[RM] and download["subject"] == doc_id


def test_a_head_request_for_the_pdf_is_not_recorded_as_a_download(desk):
    home, app, _clock, doc_id = desk
    client = client_for(app, RM)
    head = client.head(f"/documents/{doc_id}/pdf")
    assert head.status_code == 200 and head.headers["content-type"] == "application/pdf"
    assert head.content == b""
    assert events(home, "document.downloaded") == []
    signed_out = TestClient(app).head(f"/documents/{doc_id}/pdf", follow_redirects=False)
    assert signed_out.status_code == 303  # sent to sign in, as a GET would be
    assert client.get(f"/documents/{doc_id}/pdf").status_code == 200
    (download,) = events(home, "document.downloaded")
    assert download["actor"] == ROLE_USERS[RM] and download["subject"] == doc_id


def test_audit_page_filters_verifies_and_explains_bad_dates(desk):
    _home, app, _clock, doc_id = desk
    client = client_for(app, AU)
    page = client.get("/audit", params={"action": "user.", "person": ROLE_USERS[AU]}).text
    assert "The whole log verifies" in page
    assert "user.signed_in" in page and "document.received" not in page
    page = client.get("/audit", params={"document": doc_id}).text
    assert "document.received" in page and "user.signed_in" not in page
    page = client.get("/audit", params={"from": "last tuesday"}).text
    assert "is not a date: use 2026-05-01" in page


def test_batches_and_box_pages_show_counts_and_quarantine_reasons(desk, db):
    _home, app, _clock, doc_id = desk
    store_db.update_document(db, doc_id, "test", "document.quarantined", {},
                             state=store_db.QUARANTINED,
                             quarantine_reason="page 2 is unreadable: rescan at 300 dpi")
    client = client_for(app, OP)
    for url in ("/batches", "/boxes/box-1"):
        page = client.get(url).text
        assert "page 2 is unreadable: rescan at 300 dpi" in page, url
        assert "quarantined</span> 1" in page, url
    assert client.get("/boxes/no-such-box").status_code == 404


def test_user_commands_record_the_os_user_and_never_the_password(home):
    runner = CliRunner()
    base = ["--home", str(home.root), "user"]
    secret = "another long passphrase"
    result = runner.invoke(cli, [*base, "add", "jo", "--role", "operator", "--role",
                                 "auditor", "--password-stdin"], input=secret + "\n")
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli, [*base, "add", "jo", "--role", "operator",
                                 "--password-stdin"], input=secret + "\n")
    assert result.exit_code == 2 and "already a user 'jo'" in result.output
    result = runner.invoke(cli, [*base, "add", "kim", "--role", "admin", "--password-stdin"],
                           input="short\n")
    assert result.exit_code == 2 and "too short" in result.output
    assert runner.invoke(cli, [*base, "password", "jo", "--password-stdin"],
                         input="a brand new passphrase\n").exit_code == 0
    assert runner.invoke(cli, [*base, "disable", "jo"]).exit_code == 0
    listing = runner.invoke(cli, [*base, "list"]).output
    assert "jo" in listing and "operator, auditor" in listing and "yes" in listing
    changes = events(home, "user.")
    assert [e["action"] for e in changes] == ["user.added", "user.password_changed",
                                              "user.disabled"]
    assert {e["actor"] for e in changes} == {store_db.default_actor()}
    assert secret not in "".join(str(e) for e in events(home))


def test_user_and_serve_commands_have_help_with_an_example(home):
    for command in (["user"], ["user", "add"], ["user", "list"], ["user", "disable"],
                    ["user", "password"], ["serve"]):
        result = CliRunner().invoke(cli, ["--home", str(home.root), *command, "--help"])
        assert result.exit_code == 0 and "Example" in result.output, command
