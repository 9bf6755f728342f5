"""SharePoint store against the loopback Graph fake: real HTTPS, real MSAL, real client code."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import logging
import os
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from s4 import db as store_db
from s4.config import DEFAULT_COLUMNS
from s4.store import StoreWorker
from tests.conftest import S4_BIN, run_s4, wait_for
from tests.graph_fake import FRAGMENT_UNIT, FakeGraph, sha256
from tests.store_support import add_filed, make_pdf

TENANT = "7d3f4e1c-0000-4000-8000-00000000c0c1"
CLIENT = "a1b2c3d4-0000-4000-8000-0000000000a9"
SITE = "contoso.sharepoint.com:/sites/records"
CERT_PASSWORD = "correct horse battery staple"


def make_certificate(path: Path, password: str | None = None) -> x509.Certificate:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "S4 test app")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=365))
            .sign(key, hashes.SHA256()))
    encryption = (serialization.BestAvailableEncryption(password.encode()) if password
                  else serialization.NoEncryption())
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                          encryption) + cert.public_bytes(serialization.Encoding.PEM))
    return cert


def store_settings(graph: FakeGraph, **overrides: str) -> str:
    values = {
        "tenant_id": TENANT, "client_id": CLIENT, "certificate": "s4-app.pem",
        "certificate_password_env": "S4_TEST_CERT_PASSWORD", "site": SITE,
        "library": "Records", "authority": graph.base, "graph_url": f"{graph.base}/v1.0",
        **overrides,
    }
    lines = "\n".join(f'{key} = "{value}"' for key, value in values.items())
    return (f'\n[store]\nbackend = "sharepoint"\nretry_max_seconds = 2.0\n\n'
            f"[store.sharepoint]\n{lines}\nfragment_size = {FRAGMENT_UNIT}\n"
            "backoff_seconds = 0.05\nmax_backoff_seconds = 3.0\n"
            "connect_timeout_seconds = 2.0\nread_timeout_seconds = 2.0\n")


@pytest.fixture
def graph(tmp_path, monkeypatch):
    fake = FakeGraph(tmp_path).start()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(fake.ca_path))
    monkeypatch.setenv("S4_TEST_CERT_PASSWORD", CERT_PASSWORD)
    yield fake
    fake.stop()


@pytest.fixture
def sp(home, graph):
    """A home set up for SharePoint, an app registration and a site granted 'write'."""
    cert = make_certificate(home.root / "s4-app.pem", CERT_PASSWORD)
    graph.add_app(TENANT, CLIENT, cert)
    graph.add_site(SITE, {CLIENT: "write"},
                   {"Records": set(DEFAULT_COLUMNS.values()), "Documents": set()})
    base = home.settings_file.read_text()
    home.settings_file.write_text(base + store_settings(graph))
    graph.base_settings = base  # what s4 init wrote, before the [store] part
    return graph


def drive_root(graph: FakeGraph, library: str = "Records") -> str:
    drive = next(d for d in graph.drives.values() if d["name"] == library)
    return drive["root"]


def put_file(graph: FakeGraph, path: str, content: bytes) -> dict:
    """Put a file in the fake library as a person would (folders created as needed)."""
    with graph.lock:
        parent = drive_root(graph)
        drive = graph.items[parent]["drive"]
        *folders, name = path.split("/")
        for folder in folders:
            child = graph._child(parent, folder)
            parent = (child or graph._new_item(drive, parent, folder, folder=True))["id"]
        return graph._new_item(drive, parent, name, folder=False, content=content)


# --------------------------------------------------------------------------- the batch


def test_a_batch_with_faults_is_stored_exactly_once_verified_with_fields(home, sp, db,
                                                                          tmp_path):
    graph = sp
    pdfs = {n: make_pdf(tmp_path / f"scan_{n}.pdf", n, side=700 + 50 * n) for n in range(5)}
    faults = [
        graph.fault("POST", "createUploadSession", "status", status=429, retry_after=1),
        graph.fault("PUT", "^/upload/", "status", status=503, after=1),
        graph.fault("PUT", "^/upload/", "drop", after=3),  # connection lost mid-fragment
        graph.fault("GET", "^/upload/", "status", status=500),  # while asking where it was
        graph.fault("PATCH", "listItem/fields", "expire_tokens", after=1),  # 401 → refresh
        graph.fault("POST", "/children$", "race"),  # folder made by someone else meanwhile
        graph.fault("GET", r"/items/[^/:]+$", "slow", delay=2.5),  # past the read timeout
        graph.fault("GET", "/drives$", "status", status=503, retry_after=0),
    ]
    worker = StoreWorker(home, "tester", poll_seconds=30)
    worker.start()
    try:
        ids = [add_filed(db, home, f"scan_{n:04d}.tif", pdf,
                         record_class="council-tax" if n % 2 else "planning-applications",
                         document_date=f"20{10 + n}-06-0{n + 1}")
               for n, pdf in pdfs.items()]
        worker.wake()
        assert worker.drain(timeout=90), worker.last_problem
    finally:
        worker.stop()

    assert [f.hits for f in faults] == [1] * len(faults), "every injected fault happened"
    files = graph.files()
    assert len(files) == len(ids), "each record exactly once, nothing extra"
    assert not graph.sessions, "no upload session left open"
    assert not list((home.work / ".store-sessions").glob("*")), "no session file left"
    for doc_id, (n, pdf) in zip(ids, pdfs.items(), strict=True):
        doc = store_db.get_document(db, doc_id)
        assert doc["state"] == store_db.STORED
        item = graph.items[doc["store_item_id"]]
        assert item["content"] == pdf.read_bytes(), "bytes identical"
        folder = "council-tax" if n % 2 else "planning-applications"
        assert graph.path_of(item) == f"{folder}/20{10 + n}/{doc_id} - scan_{n:04d}.pdf"
        assert item["fields"] == {
            "S4Id": doc_id, "S4SHA256": sha256(pdf.read_bytes()), "S4RecordClass": folder,
            "S4References": "CT-40012345", "S4DisposalDate": "2028-04-01T00:00:00Z",
            "S4DisposalAction": "destroy", "S4DocumentDate": f"20{10 + n}-06-0{n + 1}T00:00:00Z",
            "S4Batch": "box-0042", "S4Box": "box-0042",
        }
        assert doc["stored_sha256"] == sha256(pdf.read_bytes())
        assert doc["verify_method"] == "size+quickXorHash" and doc["verified_at"]
        assert doc["store_location"].startswith("https://contoso.sharepoint.com/sites/records/")
        assert store_db.store_journal_get(db, doc_id)["state"] == "verified"
    # one file per record means one completed session per record, however many retries
    commits = [e for e in graph.requests("PUT", "^/upload/") if e["status"] == 201]
    assert len(commits) == len(ids)
    # throttling: the retried createUploadSession came no sooner than Retry-After allowed
    creates = graph.requests("POST", "createUploadSession")
    assert creates[1]["t"] - creates[0]["t"] >= 1.0
    # upload URLs never get the bearer token; Graph calls always identify S4
    assert not any(e["auth"] for e in graph.requests("PUT", "^/upload/"))
    assert all(e["user_agent"].startswith("ISV|S4|S4/") for e in graph.requests(path="^/v1.0/"))
    # the real MSAL signed a certificate assertion the fake could verify
    assertion = graph.assertions[0]
    assert assertion["header"]["alg"] in ("PS256", "RS256")
    assert assertion["claims"]["iss"] == CLIENT
    assert len(graph.assertions) >= 2, "a fresh token was fetched after the 401"


# --------------------------------------------------------------------------- crash and resume


def test_resume_after_kill_9_mid_upload_uses_next_expected_ranges(home, sp, db, tmp_path):
    graph = sp
    pdf = make_pdf(tmp_path / "big.pdf", 99, side=1200)  # ~1.4 MB: 5 fragments
    size = pdf.stat().st_size
    assert size > 4 * FRAGMENT_UNIT
    doc_id = add_filed(db, home, "big.tif", pdf)
    # The server accepts the second fragment but its answer never reaches S4: kill -9 then.
    hold = graph.fault("PUT", "^/upload/", "hold", after=1)
    process = subprocess.Popen([str(S4_BIN), "--home", str(home.root), "store", "sync"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env={**os.environ, "OMP_THREAD_LIMIT": "1"})
    try:
        assert hold.reached.wait(60), "the upload reached the second fragment"
        session_file = home.work / ".store-sessions" / f"{doc_id}.url"
        assert session_file.stat().st_mode & 0o777 == 0o600  # it holds a tempauth URL
    finally:
        process.kill()
        process.wait(30)
        hold.release.set()
    journal = store_db.store_journal_get(db, doc_id)
    assert journal["state"] == "uploading" and journal["offset"] == FRAGMENT_UNIT
    assert "tempauth" not in (journal["session"] or "")
    (session,) = graph.sessions.values()
    assert len(session["data"]) == 2 * FRAGMENT_UNIT  # the server is ahead of the journal
    puts_before = len(graph.requests("PUT", "^/upload/"))

    code, output = run_s4(home, "store", "sync")
    assert code == 0, output
    doc = store_db.get_document(db, doc_id)
    assert doc["state"] == store_db.STORED
    (item,) = graph.files()
    assert item["content"] == pdf.read_bytes()
    resumed = graph.requests("PUT", "^/upload/")[puts_before:]
    assert resumed[0]["range"].startswith(f"bytes {2 * FRAGMENT_UNIT}-"), \
        "resumed where the server said, not where the journal said, nor from 0"
    assert graph.requests("GET", "^/upload/"), "asked the session for nextExpectedRanges"
    assert len(graph.requests("POST", "createUploadSession")) == 1, "no second session"
    assert not graph.sessions and not session_file.exists()


# --------------------------------------------------------------------------- idempotence


def test_same_name_same_content_is_marked_stored_without_upload(home, sp, db, tmp_path):
    graph = sp
    pdf = make_pdf(tmp_path / "a.pdf", 7)
    doc_id = add_filed(db, home, "scan_0001.pdf", pdf)
    existing = put_file(graph, f"council-tax/2021/{doc_id} - scan_0001.pdf", pdf.read_bytes())
    code, output = run_s4(home, "store", "sync")
    assert code == 0, output
    assert "already there (same content)" in output
    assert not graph.requests("POST", "createUploadSession") and not graph.requests("PUT")
    doc = store_db.get_document(db, doc_id)
    assert doc["state"] == store_db.STORED and doc["store_item_id"] == existing["id"]
    assert existing["fields"]["S4Id"] == doc_id  # the metadata is still set
    assert store_db.events_for(db, doc_id)[-1]["details"]["uploaded"] is False


def test_same_name_different_content_is_quarantined_never_overwritten(home, sp, db, tmp_path):
    graph = sp
    pdf = make_pdf(tmp_path / "a.pdf", 8)
    doc_id = add_filed(db, home, "scan_0001.pdf", pdf)
    other = put_file(graph, f"council-tax/2021/{doc_id} - scan_0001.pdf", b"%PDF-1.7 other")
    code, output = run_s4(home, "store", "sync")
    assert code == 1, output
    doc = store_db.get_document(db, doc_id)
    assert doc["state"] == store_db.QUARANTINED
    reason = doc["quarantine_reason"]
    assert "already in SharePoint" in reason and "never overwrites" in reason
    assert "s4 store sync --retry-conflicts" in reason
    assert other["content"] == b"%PDF-1.7 other" and len(graph.files()) == 1
    assert not graph.requests("PUT") and Path(doc["output_pdf"]).exists()

    with graph.lock:  # a person renames the other file in SharePoint
        other["name"] = "older copy.pdf"
    code, output = run_s4(home, "store", "sync", "--retry-conflicts")
    assert code == 0, output
    assert store_db.get_document(db, doc_id)["state"] == store_db.STORED
    assert len(graph.files()) == 2


def test_retry_after_is_honoured(home, sp, db, tmp_path):
    graph = sp
    add_filed(db, home, "scan.pdf", make_pdf(tmp_path / "a.pdf", 9))
    graph.fault("GET", r"/root$", "status", status=429, retry_after=1)
    graph.fault("PUT", "^/upload/", "status", status=503, retry_after=1)
    assert run_s4(home, "store", "sync")[0] == 0
    roots = graph.requests("GET", r"/root$")
    assert [e["status"] for e in roots] == [429, 200]
    assert roots[1]["t"] - roots[0]["t"] >= 1.0
    puts = graph.requests("PUT", "^/upload/")
    assert puts[0]["status"] == 503 and puts[1]["t"] - puts[0]["t"] >= 1.0


def test_uploads_wait_while_sharepoint_is_down_and_drain_when_it_returns(home, sp, db,
                                                                        tmp_path):
    graph = sp
    outage = graph.fault("GET", "^/v1.0/sites/", "status", status=503, times=10_000)
    worker = StoreWorker(home, "tester", poll_seconds=30)
    worker.start()
    try:
        doc_id = add_filed(db, home, "scan.pdf", make_pdf(tmp_path / "a.pdf", 11))
        worker.wake()
        assert not worker.drain(timeout=1.5)  # down: nothing stored, nothing lost
        assert store_db.get_document(db, doc_id)["state"] == store_db.FILED
        wait_for(lambda: worker.last_problem, 10, "the worker to notice the outage")
        outage.times = 0  # SharePoint is back
        assert worker.drain(timeout=30)
    finally:
        worker.stop()
    assert store_db.get_document(db, doc_id)["state"] == store_db.STORED
    assert len(graph.files()) == 1


# --------------------------------------------------------------------------- verify


def test_verify_deep_catches_what_size_and_quickxorhash_cannot(home, sp, db, tmp_path):
    graph = sp
    doc_id = add_filed(db, home, "scan.pdf", make_pdf(tmp_path / "a.pdf", 12))
    assert run_s4(home, "store", "sync")[0] == 0
    code, output = run_s4(home, "store", "verify", "--deep")
    assert code == 0 and "1 of 1 record(s) verified" in output, output

    (item,) = graph.files()
    tampered = bytearray(item["content"])
    tampered[1000] ^= 0x5A  # QuickXorHash is linear: the same change 160 bytes on
    tampered[1160] ^= 0x5A  # cancels out, so only the SHA-256 can tell
    item["content"] = bytes(tampered)
    code, output = run_s4(home, "store", "verify")
    assert code == 0, "size and quickXorHash cannot see this tampering"
    code, output = run_s4(home, "store", "verify", "--deep")
    assert code == 1 and "MISMATCH" in output, output
    doc = store_db.get_document(db, doc_id)
    assert doc["verified_at"] is None and doc["verify_method"].startswith("FAILED")

    item["content"] = b"x" * 10  # a cruder change: the quick check catches it
    code, output = run_s4(home, "store", "verify")
    assert code == 1 and "MISMATCH" in output


# --------------------------------------------------------------------------- store check


def test_store_check_all_good(home, sp):
    code, output = run_s4(home, "store", "check")
    assert code == 0, output
    for text in ("certificate", "thumbprint", "signed in", "Records", "all 9 mapped columns",
                 "The store is ready."):
        assert text in output


@pytest.mark.parametrize(("change", "expected", "hint"), [
    ("tenant", "tenant '00000000-dead-beef-0000-000000000000' was not found",
     "Directory (tenant) ID"),
    ("certificate", "certificate was not accepted", "Certificates & secrets"),
    ("client", "no app", "Application (client) ID"),
    ("permission", "no permission on the site", "POST /sites/{site-id}/permissions"),
    ("library", "library 'Archive' not found", "Records, Documents"),
    ("columns", "missing: S4Box", "[store.sharepoint.columns]"),
    ("password", "could not be opened", "S4_TEST_CERT_PASSWORD"),
])
def test_store_check_says_what_is_wrong(home, sp, monkeypatch, change, expected, hint):
    graph = sp
    settings: dict[str, str] = {}
    if change == "tenant":
        settings["tenant_id"] = "00000000-dead-beef-0000-000000000000"
    elif change == "certificate":  # the app registration has some other certificate
        graph.tenants[TENANT]["apps"][CLIENT]["certs"].clear()
        graph.add_app(TENANT, CLIENT, make_certificate(home.root / "other.pem"))
    elif change == "client":
        settings["client_id"] = "99999999-0000-4000-8000-000000000000"
    elif change == "permission":
        graph.sites[SITE]["grants"].clear()
    elif change == "library":
        settings["library"] = "Archive"
    elif change == "columns":
        next(d for d in graph.drives.values() if d["name"] == "Records")["columns"] \
            .discard("S4Box")
    elif change == "password":
        monkeypatch.setenv("S4_TEST_CERT_PASSWORD", "Wr0ng-Passw0rd-XYZ")
    home.settings_file.write_text(graph.base_settings + store_settings(graph, **settings))
    code, output = run_s4(home, "store", "check")
    assert code == 3, output
    flat = " ".join(output.split())
    assert expected in flat and hint in flat
    assert "Traceback" not in output
    assert CERT_PASSWORD not in output and "Wr0ng-Passw0rd-XYZ" not in output


def test_sync_when_sign_in_fails_exits_3_with_advice(home, sp, db, tmp_path):
    graph = sp
    graph.tenants[TENANT]["apps"][CLIENT]["certs"].clear()
    doc_id = add_filed(db, home, "scan.pdf", make_pdf(tmp_path / "a.pdf", 13))
    code, output = run_s4(home, "store", "sync")
    assert code == 3, output
    assert "certificate was not accepted" in output and "Traceback" not in output
    assert store_db.get_document(db, doc_id)["state"] == store_db.FILED  # waits, not lost


# --------------------------------------------------------------------------- secrets


def test_secrets_never_reach_logs_database_or_exports(home, sp, db, tmp_path, caplog):
    graph = sp
    for name in ("urllib3", "msal", "s4"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    caplog.set_level(logging.DEBUG)
    outputs = []
    try:
        for n in range(2):
            add_filed(db, home, f"scan_{n}.pdf", make_pdf(tmp_path / f"{n}.pdf", 30 + n,
                                                          side=800))
        graph.fault("PUT", "^/upload/", "drop", after=1)
        graph.fault("GET", r"/items/[^/:]+$", "expire_tokens")
        outputs.append(run_s4(home, "-v", "store", "sync")[1])
        outputs.append(run_s4(home, "-v", "store", "verify", "--deep")[1])
        outputs.append(run_s4(home, "export", "documents", "--format", "jsonl")[1])
        outputs.append(run_s4(home, "export", "documents", "--format", "csv")[1])
        graph.tenants[TENANT]["apps"][CLIENT]["certs"].clear()  # an error path too
        outputs.append(run_s4(home, "-v", "store", "check")[1])
    finally:
        for name in ("urllib3", "msal", "s4"):
            logging.getLogger(name).setLevel(logging.NOTSET)
    rows = list(csv.DictReader(io.StringIO(outputs[3])))
    assert rows and rows[0]["store_backend"] == "sharepoint" and rows[0]["store_item_id"]
    assert json.loads(outputs[2].splitlines()[0])["verified_at"]

    pem = (home.root / "s4-app.pem").read_text()
    key_lines = [line for line in pem.split("-----END ENCRYPTED PRIVATE KEY-----")[0]
                 .splitlines() if line and not line.startswith("-----")]
    secrets_ = [*graph.issued_tokens, *graph.session_secrets, CERT_PASSWORD, *key_lines]
    assert graph.issued_tokens and graph.session_secrets and len(key_lines) > 10
    database_text = "\n".join(db.conn.iterdump())
    raw = b"".join(p.read_bytes() for p in home.root.glob("s4.db*"))
    log_file = (home.root / "logs" / "s4.log").read_text()
    assert "HTTP/1.1" in caplog.text or "https://127.0.0.1" in caplog.text  # logging was on
    places = {"captured logs": caplog.text, "s4.log": log_file, "database": database_text,
              "command output": "\n".join(outputs)}
    for secret in secrets_:
        for where, text in places.items():
            assert secret not in text, f"a secret leaked into {where}"
        assert secret.encode() not in raw, "a secret is in the database file"
    assert not list((home.work / ".store-sessions").glob("*"))


# --------------------------------------------------------------------------- later decisions


def test_a_later_decision_sets_the_columns_again_without_a_second_upload(home, sp, db,
                                                                         tmp_path):
    graph = sp
    doc_id = add_filed(db, home, "scan.tif", make_pdf(tmp_path / "a.pdf", 3))
    code, output = run_s4(home, "store", "sync")
    assert code == 0, output
    item_id = store_db.get_document(db, doc_id)["store_item_id"]
    assert graph.items[item_id]["fields"]["S4RecordClass"] == "council-tax"
    code, output = run_s4(home, "review", "set", doc_id, "--class", "complaint",
                          "--reason", "a complaint about the bill")
    assert code == 0, output
    code, output = run_s4(home, "store", "sync")
    assert code == 0, output
    doc = store_db.get_document(db, doc_id)
    fields = graph.items[item_id]["fields"]
    assert fields["S4RecordClass"] == "complaint" and doc["store_meta_stale"] == 0
    assert fields["S4DisposalAction"] == doc["disposal_action"]
    assert [i["id"] for i in graph.files()] == [item_id]  # the file itself was not touched
    assert len(graph.requests("PUT", "^/upload/")) == 1


@pytest.mark.timeout(120)  # the point: a dead store must not hold `s4 run` for its full wait
def test_waiting_for_a_dead_store_gives_up_and_records_stay_filed(home, sp, db, tmp_path):
    graph = sp
    graph.fault("GET", "/sites/", "status", status=503, times=1000)
    doc_id = add_filed(db, home, "scan.tif", make_pdf(tmp_path / "a.pdf", 3))
    worker = StoreWorker(home, "tester", poll_seconds=30)
    try:
        assert worker.drain(timeout=3600) is False
        assert worker.failures >= 3 and "503" in worker.last_problem
    finally:
        worker.stop()
    assert store_db.get_document(db, doc_id)["state"] == store_db.FILED


def test_a_name_taken_by_a_file_the_app_cannot_see_ends_as_a_bounded_conflict(home, sp, db,
                                                                              tmp_path):
    """409 on createUploadSession but 404 when looking the name up (a checked-out file with
    no checked-in version): S4 once looped on this at ~11 requests a second."""
    graph = sp
    hidden_doc = add_filed(db, home, "scan_0001.pdf", make_pdf(tmp_path / "a.pdf", 21))
    behind = add_filed(db, home, "scan_0002.pdf", make_pdf(tmp_path / "b.pdf", 22))
    ghost = put_file(graph, f"council-tax/2021/{hidden_doc} - scan_0001.pdf", b"%PDF draft")
    ghost["hidden"] = True
    code, output = run_s4(home, "store", "sync")
    assert code == 1, output  # a conflict to sort out, not a store outage (3)
    creates = [r for r in graph.requests("POST", "createUploadSession")
               if f"{hidden_doc}" in r["path"]]
    assert 1 <= len(creates) <= 5
    assert len(graph.requests()) < 60  # bounded: the loop used to run until killed
    doc = store_db.get_document(db, hidden_doc)
    assert doc["state"] == store_db.QUARANTINED
    reason = doc["quarantine_reason"]
    assert "cannot see" in reason and "checked-in version" in reason
    assert "item-level permissions" in reason and "--retry-conflicts" in reason
    assert ghost["content"] == b"%PDF draft"  # never overwritten
    assert store_db.get_document(db, behind)["state"] == store_db.STORED


def test_the_background_worker_does_not_spin_on_a_hidden_name(home, sp, db, tmp_path):
    graph = sp
    doc_id = add_filed(db, home, "scan_0001.pdf", make_pdf(tmp_path / "a.pdf", 23))
    put_file(graph, f"council-tax/2021/{doc_id} - scan_0001.pdf", b"%PDF draft")["hidden"] = True
    worker = StoreWorker(home, "tester", poll_seconds=0.2)
    worker.start()
    try:
        assert worker.drain(60)
    finally:
        worker.stop()
    assert store_db.get_document(db, doc_id)["state"] == store_db.QUARANTINED
    assert len(graph.requests("POST", "createUploadSession")) <= 5


def test_long_names_are_cut_to_sharepoints_path_limit_and_others_still_upload(home, sp, db,
                                                                             tmp_path):
    graph = sp
    long_doc = add_filed(db, home, "Ärger " * 80 + ".pdf", make_pdf(tmp_path / "a.pdf", 24))
    behind = add_filed(db, home, "scan_0002.pdf", make_pdf(tmp_path / "b.pdf", 25))
    code, output = run_s4(home, "store", "sync")
    assert code == 0, output
    for doc_id in (long_doc, behind):
        assert store_db.get_document(db, doc_id)["state"] == store_db.STORED
    names = {graph.path_of(item) for item in graph.files()}
    long_path = next(n for n in names if n.startswith(f"council-tax/2021/{long_doc} - "))
    assert long_path.endswith(".pdf") and len(long_path.rsplit("/", 1)[1]) <= 255
    prefix = "https://contoso.sharepoint.com/sites/records/Records/"
    assert len(prefix + long_path) <= 400


def test_fields_one_item_refuses_quarantine_that_record_only(home, sp, db, tmp_path):
    graph = sp
    refused = add_filed(db, home, "scan_0001.pdf", make_pdf(tmp_path / "a.pdf", 26))
    fine = add_filed(db, home, "scan_0002.pdf", make_pdf(tmp_path / "b.pdf", 27))
    graph.fault("PATCH", "/listItem/fields$", "status", status=400, body={"error": {
        "code": "invalidRequest", "message": "The value is too long for S4RecordClass"}})
    code, output = run_s4(home, "store", "sync")
    assert code == 1, output
    doc = store_db.get_document(db, refused)
    assert doc["state"] == store_db.QUARANTINED
    assert "too long for S4RecordClass" in doc["quarantine_reason"]
    assert store_db.get_document(db, fine)["state"] == store_db.STORED
    assert run_s4(home, "store", "sync", "--retry-conflicts")[0] == 0  # no second copy
    assert store_db.get_document(db, refused)["state"] == store_db.STORED
    assert len(graph.files()) == 2
