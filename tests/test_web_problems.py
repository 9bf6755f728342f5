"""When part of a desk page cannot be built: S4's own errors are shown as written (file,
line, field; the home's paths relative to it), anything else only as a plain sentence with
an error id, its text and traceback in the server's log."""

from __future__ import annotations

import logging

import pytest

from s4 import accounts
from s4.context import HomeContext
from s4.services import paper as paper_service
from s4.services import qa as qa_service
from s4.services import retention as retention_service
from s4.web import app as desk_app
from s4.web.app import create_app
from s4.web.common import without_server_paths
from tests.test_disposal import _stored_doc
from tests.web_support import Clock, add_role_users, seed_review_document, signed_in

OP, RM = accounts.OPERATOR, accounts.RECORDS_MANAGER
SECRET = "/secret/path boom"
PLAIN = "the server log has the details"


@pytest.fixture
def seeded(home, db):
    add_role_users(db)
    return seed_review_document(home, db)


def test_a_broken_schedule_file_is_named_on_each_page_without_the_servers_paths(
        home, db, seeded):
    _stored_doc(home, db, "box-s", "complaint")  # its paper depends on the schedule
    schedule = home.retention_rules / "uk-local-government.yaml"
    schedule.write_text(schedule.read_text(encoding="utf-8") + "\nclasses: [\n",
                        encoding="utf-8")
    client = signed_in(create_app(home, clock=Clock()), RM)
    for url in ("/retention", "/paper", "/paper/box-s", "/boxes/box-s",
                f"/review/{seeded}"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert "retention_rules/uk-local-government.yaml:" in response.text, url
        assert "YAML syntax" in response.text, url
        assert str(home.root) not in response.text, url
        assert PLAIN not in response.text, url


def _raise(*_args, **_kwargs):
    raise RuntimeError(SECRET)


# (what is broken, the page that shows it, who looks)
BREAKAGES = [
    ((retention_service, "due"), "/retention", RM),
    ((retention_service, "home_schedules"), "/retention", RM),
    ((paper_service, "status"), "/paper", RM),
    ((paper_service, "status"), "/paper/box-1", RM),
    ((paper_service, "status"), "/boxes/box-1", OP),
    ((paper_service, "document_check"), "/documents/{doc}", OP),
    ((qa_service, "draw_due"), "/qa", OP),
    ((HomeContext, "schedule_for"), "/review/{doc}", RM),
    ((desk_app, "ocr_workers"), "/batches", OP),
]


@pytest.mark.parametrize(("target", "url", "role"), BREAKAGES,
                         ids=[f"{t[1]}-{u}" for t, u, _r in BREAKAGES])
def test_an_unexpected_error_is_a_plain_sentence_and_its_text_goes_to_the_log(
        home, db, seeded, monkeypatch, caplog, target, url, role):
    monkeypatch.setattr(*target, _raise)
    client = signed_in(create_app(home, clock=Clock()), role)
    with caplog.at_level(logging.ERROR, logger="s4.web"):
        response = client.get(url.replace("{doc}", seeded))
    assert response.status_code == 200  # the rest of the page still shows
    assert "Something went wrong" not in response.text  # not the desk's error page
    assert PLAIN in response.text
    assert SECRET not in response.text and "RuntimeError" not in response.text
    error_id = response.text.split("error id: ")[1][:12]
    (record,) = [r for r in caplog.records if error_id in r.getMessage()]
    assert record.exc_info and str(record.exc_info[1]) == SECRET
    assert record.exc_text is None or "Traceback" in record.exc_text


def test_paths_outside_the_home_are_cut_to_their_name(tmp_path):
    root = tmp_path / "home"
    assert without_server_paths(f"{root}/pipelines/default.yaml:3: ocr.dpi: too low",
                                root) == "pipelines/default.yaml:3: ocr.dpi: too low"
    assert without_server_paths("cannot read '/etc/s4/tsa.pem': permission denied",
                                root) == "cannot read 'tsa.pem': permission denied"
    # An address is not a path: the broker stays as written.
    assert without_server_paths("OCR broker redis://10.0.0.5:6379/0: refused", root) == \
        "OCR broker redis://10.0.0.5:6379/0: refused"
