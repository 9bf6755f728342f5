"""What the line does when OCR does not come back: a worker that crashes, one that hangs,
an engine that raises. Engines are injected through the executor, so these paths run for
real (worker processes that really die) without a malformed scan that happens to crash
Tesseract."""

from __future__ import annotations

import os
import threading

from s4 import db as store_db
from s4.context import HomeContext
from s4.executor import LocalPool
from s4.line import Line
from s4.ocr import OcrJob, OcrOutcome
from tests.conftest import write_scan


def crashing_engine(job: OcrJob) -> OcrOutcome:
    os._exit(70)  # as the out-of-memory killer or a segfault would


def hanging_engine(job: OcrJob) -> OcrOutcome:
    threading.Event().wait()  # hangs: nothing ever sets it
    raise AssertionError("unreachable")


def raising_engine(job: OcrJob) -> OcrOutcome:
    raise RuntimeError("engine bug")


def _run(home, tmp_path, engine, **pool_options) -> tuple[dict, list[dict]]:
    scan = write_scan(tmp_path / "scans" / "letter.png")
    ctx = HomeContext.open(home, "tester")
    line = Line(ctx, workers=1, executor=LocalPool(1, engine=engine, initializer=None,
                                                   **pool_options))
    try:
        report = line.run_batch([scan.parent], "b1", "default", "b1")
    finally:
        line.close()
    (doc_id,) = report.documents
    doc = store_db.get_document(ctx.db, doc_id)
    events = store_db.events_for(ctx.db, doc_id)
    ctx.close()
    return doc, events


def _set_attempts(home, attempts: int) -> None:
    text = home.settings_file.read_text()
    home.settings_file.write_text(text.replace("max_attempts = 3", f"max_attempts = {attempts}"))


def test_a_crashing_worker_is_retried_then_the_document_quarantined(home, tmp_path):
    _set_attempts(home, 2)
    doc, events = _run(home, tmp_path, crashing_engine)
    assert doc["state"] == store_db.QUARANTINED
    assert "failed 2 times" in doc["quarantine_reason"]
    assert "exit 70" in doc["quarantine_reason"]
    actions = [e["action"] for e in events]
    assert actions.count("document.ocr_started") == 2  # tried again once, then given up
    assert actions.count("document.ocr_interrupted") == 1
    assert (home.quarantine / doc["id"] / "REASON.txt").exists()


def test_a_hanging_worker_is_stopped_and_counted_as_a_failed_attempt(home, tmp_path):
    _set_attempts(home, 1)
    doc, events = _run(home, tmp_path, hanging_engine, job_timeout=2.0)
    assert doc["state"] == store_db.QUARANTINED
    assert "took longer than 2 s" in doc["quarantine_reason"]
    assert [e["action"] for e in events].count("document.ocr_started") == 1


def test_an_unexpected_engine_error_quarantines_with_the_error_and_advice(home, tmp_path):
    doc, _ = _run(home, tmp_path, raising_engine)
    assert doc["state"] == store_db.QUARANTINED
    assert "unexpected error during OCR (RuntimeError: engine bug)" in doc["quarantine_reason"]
    assert f"s4 retry {doc['id']}" in doc["quarantine_reason"]
