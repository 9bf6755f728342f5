"""OCR on several machines: real redis-server, real `s4 worker` and `s4 run` processes.

Each test kills something real (a worker process, the broker) and checks that every
document is recorded exactly once, or quarantined with its reason."""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path

import pytest

from s4 import db as store_db
from s4.config import ConfigError, load_settings
from tests.celery_support import PASSWORD_ENV, RedisServer, S4Process, registered, use_celery
from tests.conftest import LETTER, wait_for, write_scan

pytestmark = pytest.mark.slow


@pytest.fixture
def redis_server(tmp_path: Path):
    folder = tmp_path / "redis"
    folder.mkdir()
    server = RedisServer(folder)
    server.start()
    yield server
    server.kill()


@pytest.fixture
def s4_processes():
    started: list[S4Process] = []

    def start(*args, **kwargs) -> S4Process:
        process = S4Process(*args, **kwargs)
        started.append(process)
        return process

    yield start
    for process in started:
        process.end()


def _scans(folder: Path, count: int, pages: int = 1) -> list[Path]:
    """Distinct scans (the same content twice would be a duplicate, not OCRed again)."""
    return [write_scan(folder / f"letter-{n}.png" if pages == 1 else folder / f"letter-{n}.pdf",
                       [*LETTER, f"Our reference BX-{n:04d}"], pages=pages)
            for n in range(count)]


def _workers(home, server, start, count: int, env: dict[str, str] | None = None) -> list:
    workers = [start(home, server, f"worker-{n}", "worker", "--concurrency", "1", env=env)
               for n in range(count)]
    names = {f"{socket.gethostname()}:{w.pid}" for w in workers}
    wait_for(lambda: names <= registered(server) or any(w.process.poll() is not None
                                                        for w in workers),
             60, "the workers to register")
    for w in workers:
        assert w.process.poll() is None, w.output()
    return workers


def _documents(home) -> list[dict]:
    connection = store_db.connect(home.database)
    try:
        return [dict(doc, actions=[e["action"] for e in store_db.events_for(connection,
                                                                               doc["id"])])
                for doc in store_db.documents(connection)]
    finally:
        connection.conn.close()


def _completed_once(documents: list[dict]) -> None:
    for doc in documents:
        assert doc["actions"].count("document.ocr_completed") == 1, doc["actions"]
        assert doc["state"] in (store_db.FILED, store_db.NEEDS_REVIEW, store_db.STORED), doc


def _lease_holders(server) -> list[str]:
    client = server.client()
    try:
        return [v.decode() for v in client.mget(list(client.scan_iter("s4:lease:*")) or ["-"])
                if v]
    finally:
        client.close()


def test_a_batch_through_two_workers_is_ocred_exactly_once(home, tmp_path, redis_server,
                                                           s4_processes):
    use_celery(home, redis_server)
    workers = _workers(home, redis_server, s4_processes, 2)
    _scans(tmp_path / "scans", 4)
    line = s4_processes(home, redis_server, "run", "-v", "run", "--batch", "b1",
                        str(tmp_path / "scans"))
    assert line.wait(timeout=240) == 0, line.output()
    documents = _documents(home)
    assert len(documents) == 4
    _completed_once(documents)
    for worker in workers:  # both took jobs: prefetch 1, nobody hoards
        assert "succeeded" in worker.output(), worker.output()
    status = s4_processes(home, redis_server, "status", "status", "--workers")
    assert status.wait(timeout=60) == 0, status.output()
    shown = status.output()
    for worker in workers:
        assert f"{socket.gethostname()}:{worker.pid}" in shown, shown
    assert "Jobs waiting for a worker: 0" in shown
    for log in (line.output(), shown, *(w.output() for w in workers),
                home.settings_file.read_text()):
        assert redis_server.password not in log  # the password is never written anywhere


def test_a_worker_killed_mid_job_has_its_document_redelivered_and_recorded_once(
        home, tmp_path, redis_server, s4_processes):
    # A long lease: what is pinned here is Celery's redelivery, not the lease running out.
    use_celery(home, redis_server, lease_seconds=60.0)
    _workers(home, redis_server, s4_processes, 2)
    _scans(tmp_path / "scans", 1, pages=3)
    line = s4_processes(home, redis_server, "run", "-v", "run", "--batch", "b1",
                        str(tmp_path / "scans"))
    (holder,) = wait_for(lambda: _lease_holders(redis_server), 120, "a worker to take the job")
    os.kill(int(holder.rsplit("/", 1)[1]), signal.SIGKILL)  # the OCR process, mid-page
    assert line.wait(timeout=240) == 0, line.output()
    (doc,) = _documents(home)
    _completed_once([doc])
    interrupted = [e for e in _events(home, doc["id"]) if e["action"] ==
                   "document.ocr_interrupted"]
    assert len(interrupted) == 1  # the death is charged to that attempt, once
    assert "died while OCRing it" in str(interrupted[0]["details"])


def test_a_worker_machine_that_vanishes_loses_its_lease_and_the_job_runs_elsewhere(
        home, tmp_path, redis_server, s4_processes):
    use_celery(home, redis_server, lease_seconds=3.0)
    first, second = _workers(home, redis_server, s4_processes, 2)
    _scans(tmp_path / "scans", 1, pages=3)
    line = s4_processes(home, redis_server, "run", "-v", "run", "--batch", "b1",
                        str(tmp_path / "scans"))
    (holder,) = wait_for(lambda: _lease_holders(redis_server), 120, "a worker to take the job")
    owner = first if holder.startswith(f"{socket.gethostname()}:{first.pid}/") else second
    owner.end()  # kill -9 of the whole worker and its OCR processes: nobody requeues it
    assert line.wait(timeout=240) == 0, line.output()
    (doc,) = _documents(home)
    _completed_once([doc])
    assert "sent no heartbeat" in line.output()


def test_a_redis_restart_mid_batch_loses_no_document(home, tmp_path, redis_server,
                                                    s4_processes):
    use_celery(home, redis_server)
    (worker,) = _workers(home, redis_server, s4_processes, 1)
    _scans(tmp_path / "scans", 3)
    line = s4_processes(home, redis_server, "run", "-v", "run", "--batch", "b1",
                        str(tmp_path / "scans"))
    wait_for(lambda: _lease_holders(redis_server), 120, "the first job to start")
    redis_server.restart()  # queue, leases, inputs and results: all gone
    assert line.wait(timeout=300) == 0, line.output()
    documents = _documents(home)
    assert len(documents) == 3
    _completed_once(documents)
    assert "sending it again" in line.output()
    for log in (line.output(), worker.output()):  # reconnection messages included
        assert redis_server.password not in log


def test_a_document_that_kills_every_worker_is_quarantined_after_max_attempts(
        home, tmp_path, redis_server, s4_processes):
    use_celery(home, redis_server, max_attempts=2)
    _workers(home, redis_server, s4_processes, 1, env={"S4_TEST_CRASH_ON_NAME": "poison.png"})
    write_scan(tmp_path / "scans" / "poison.png", [*LETTER, "Poison"])
    write_scan(tmp_path / "scans" / "good.png")
    line = s4_processes(home, redis_server, "run", "-v", "run", "--batch", "b1",
                        str(tmp_path / "scans"))
    assert line.wait(timeout=240) == 1, line.output()  # 1: quarantined
    by_name = {doc["source_name"]: doc for doc in _documents(home)}
    poison, good = by_name["poison.png"], by_name["good.png"]
    assert poison["state"] == store_db.QUARANTINED
    assert "failed 2 times" in poison["quarantine_reason"]
    # Seen as a redelivery after the death, or as the dead process's lapsed lease.
    assert ("died while OCRing it" in poison["quarantine_reason"]
            or "sent no heartbeat" in poison["quarantine_reason"])
    assert poison["actions"].count("document.ocr_started") == 2
    assert (home.quarantine / poison["id"] / "poison.png").exists()  # nothing lost
    _completed_once([good])


def test_a_worker_at_another_version_refuses_jobs_with_a_clear_reason(
        home, tmp_path, redis_server, s4_processes, monkeypatch):
    from s4 import executor_celery
    from s4.context import HomeContext
    from s4.line import Line

    use_celery(home, redis_server)
    _workers(home, redis_server, s4_processes, 1)
    scan = write_scan(tmp_path / "scans" / "letter.png")
    # This line claims another S4 version than the worker runs (as after a half-done upgrade).
    real = executor_celery.fingerprint()
    monkeypatch.setattr(executor_celery, "fingerprint", lambda: {**real, "s4": "0.0.1-old"})
    monkeypatch.setenv("S4_REDIS_PASSWORD", redis_server.password)
    ctx = HomeContext.open(home, "tester")
    line = Line(ctx)
    try:
        report = line.run_batch([scan.parent], "b1", "default", None)
    finally:
        line.close()
        ctx.close()
    (doc,) = [d for d in _documents(home) if d["id"] in report.documents]
    assert doc["state"] == store_db.QUARANTINED
    reason = doc["quarantine_reason"]
    assert "refused the job" in reason
    assert f"s4 {real['s4']} here but 0.0.1-old on the line" in reason
    assert "document.ocr_completed" not in doc["actions"]


def test_a_password_in_the_broker_address_is_refused_without_repeating_it(tmp_path):
    settings = tmp_path / "s4.toml"
    settings.write_text('[ocr]\nexecutor = "celery"\nbroker = "redis://:hunter2@10.0.0.5/0"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(settings)
    assert "broker_password_env" in str(caught.value)
    assert "hunter2" not in str(caught.value)


def _events(home, doc_id: str) -> list[dict]:
    connection = store_db.connect(home.database)
    try:
        return store_db.events_for(connection, doc_id)
    finally:
        connection.conn.close()


def test_a_stack_ocred_through_a_worker_splits_into_its_records(home, tmp_path, redis_server,
                                                                s4_processes):
    """The split plan travels back with the prepared stack PDF (checked by SHA-256); the
    line splits it and the workers OCR each record."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "samples"))
    import make_stacks

    pipeline = home.pipelines / "default.yaml"
    pipeline.write_text(pipeline.read_text()
                        + "\ncapture:\n  separation: sheet\n  blank_pages: drop\n")
    use_celery(home, redis_server)
    _workers(home, redis_server, s4_processes, 1)
    scans = tmp_path / "scans"
    scans.mkdir()
    made = make_stacks._one_page_documents(2, seed=7)
    make_stacks.make_stack(scans, "stack", [("doc", False), ("sep", 0), ("doc", False)],
                           150, 3, made)
    line = s4_processes(home, redis_server, "run", "-v", "run", "--batch", "b1", str(scans))
    assert line.wait(timeout=240) == 0, line.output()
    documents = {d["id"]: d for d in _documents(home)}
    [stack] = [d for d in documents.values() if d["stack_id"] is None]
    children = [d for d in documents.values() if d["stack_id"] == stack["id"]]
    assert stack["state"] == store_db.SPLIT, stack
    assert [c["scan_pages"] for c in sorted(children, key=lambda c: c["position"])] == \
        ["1", "3"]
    _completed_once(children)
    assert not list(redis_server.client().scan_iter("s4:output:*"))  # nothing left behind


def test_the_desk_batches_page_shows_the_live_workers_and_a_broker_that_is_down(
        home, redis_server, s4_processes, monkeypatch):
    from starlette.testclient import TestClient

    from s4 import accounts
    from s4.web.app import create_app
    from tests.web_support import PASSWORD, sign_in

    use_celery(home, redis_server)
    [worker] = _workers(home, redis_server, s4_processes, 1)
    connection = store_db.connect(home.database)
    store_db.migrate(connection)
    accounts.add_user(connection, "olly", [accounts.OPERATOR], PASSWORD, "test-admin")
    connection.conn.close()
    monkeypatch.setenv(PASSWORD_ENV, redis_server.password)  # as `s4 serve` is started
    client = TestClient(create_app(home), raise_server_exceptions=False)
    assert sign_in(client, "olly").status_code == 303
    page = client.get("/batches").text
    assert "OCR workers" in page
    assert f"{socket.gethostname()}:{worker.pid}" in page
    assert "Jobs waiting for a worker: 0" in page
    assert redis_server.password not in page
    redis_server.kill()
    down = client.get("/batches")
    assert down.status_code == 200 and "the broker cannot be reached" in down.text
