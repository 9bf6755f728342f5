"""The local OCR executor on its own: real worker processes, engines that work, fail, crash
or hang. (What the line does with these events is pinned in test_line_failures.py.)"""

from __future__ import annotations

import os
import threading
import time

from s4.executor import JobDone, JobFailed, LocalPool, WorkerCrashed
from s4.ocr import OcrJob, OcrOutcome


def _job(doc_id: str) -> OcrJob:
    return OcrJob(doc_id=doc_id, original="/nowhere", work_dir="/nowhere", source_name="x.pdf",
                  settings={})


def echo_engine(job: OcrJob) -> OcrOutcome:
    return OcrOutcome(job.doc_id, ok=True, reason=str(os.getpid()))


def crashing_engine(job: OcrJob) -> OcrOutcome:
    if job.doc_id == "POISON":
        os._exit(70)  # as a segfault or the OOM killer would: no exception, no cleanup
    return OcrOutcome(job.doc_id, ok=True)


def raising_engine(job: OcrJob) -> OcrOutcome:
    raise OSError(28, "No space left on device")


def hanging_engine(job: OcrJob) -> OcrOutcome:
    if job.doc_id == "HANG":
        threading.Event().wait()  # hangs: nothing ever sets it
    return OcrOutcome(job.doc_id, ok=True)


def _collect(pool: LocalPool, count: int, deadline: float = 60.0) -> list:
    events: list = []
    end = time.monotonic() + deadline
    while len(events) < count and time.monotonic() < end:
        events.extend(pool.poll(timeout=1.0))
    return events


def test_jobs_run_in_worker_processes_one_per_slot():
    pool = LocalPool(2, engine=echo_engine, initializer=None)
    try:
        pool.submit(_job("A"))
        pool.submit(_job("B"))
        assert pool.in_flight() == {"A", "B"}
        events = _collect(pool, 2)
        assert {type(e) for e in events} == {JobDone}
        assert {e.job.doc_id for e in events} == {"A", "B"}
        assert all(int(e.outcome.reason) != os.getpid() for e in events)  # not in this process
        assert pool.in_flight() == set()
    finally:
        pool.close()


def test_a_crash_is_charged_to_its_own_job_only():
    pool = LocalPool(2, engine=crashing_engine, initializer=None)
    try:
        pool.submit(_job("POISON"))
        pool.submit(_job("GOOD"))
        events = {e.job.doc_id: e for e in _collect(pool, 2)}
        assert isinstance(events["POISON"], WorkerCrashed)
        assert "exit 70" in events["POISON"].detail
        assert isinstance(events["GOOD"], JobDone)
        pool.submit(_job("AFTER"))  # a fresh worker takes the dead one's place
        assert isinstance(_collect(pool, 1)[0], JobDone)
    finally:
        pool.close()


def test_an_engine_error_comes_back_as_a_failure_with_the_exception():
    pool = LocalPool(1, engine=raising_engine, initializer=None)
    try:
        pool.submit(_job("A"))
        (event,) = _collect(pool, 1)
        assert isinstance(event, JobFailed)
        assert isinstance(event.error, OSError) and event.error.errno == 28
    finally:
        pool.close()


def test_a_hanging_job_is_stopped_at_its_deadline():
    pool = LocalPool(2, engine=hanging_engine, initializer=None, job_timeout=2.0)
    try:
        pool.submit(_job("HANG"))
        pool.submit(_job("QUICK"))
        events = {e.job.doc_id: e for e in _collect(pool, 2, deadline=30)}
        assert isinstance(events["QUICK"], JobDone)
        assert isinstance(events["HANG"], WorkerCrashed)
        assert "longer than 2 s" in events["HANG"].detail
        assert pool.in_flight() == set()
    finally:
        pool.close()


def test_close_ends_busy_workers_at_once():
    pool = LocalPool(1, engine=hanging_engine, initializer=None)
    pool.submit(_job("HANG"))
    pids = pool.pids()
    pool.close()
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        # A zombie not yet reaped is gone for our purposes; a live process is not.
        with open(f"/proc/{pid}/stat") as stat:
            assert stat.read().split()[2] == "Z"
