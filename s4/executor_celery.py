"""The Celery executor: the line's OCR jobs run on ``s4 worker``s reached through Redis.

What travels and how it is checked is in ``s4.celery_ocr``. This side (in the line's
process) sends jobs, takes results off ``s4:results``, checks the SHA-256 of what it sent
and of every file that came back, writes them into the document's work dir (the PDF and
text, or a stack's prepared PDF to split), and turns every
other ending into the executor events the local pool gives: a lapsed lease or a worker that
died is ``WorkerCrashed`` (the line retries, then quarantines), a refusal or a rejected scan
is a ``JobDone`` whose outcome carries the reason. A job the broker lost (Redis restarted) is
sent again under the same key, at no cost to the document's attempts; whichever result for
a key comes first wins, later ones are logged and dropped.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from s4.celery_ocr import (
    KEY_SLACK_SECONDS,
    OUTCOME_FILES,
    QUEUE,
    RESULTS,
    TASK,
    WORKER_PREFIX,
    broker_problem,
    broker_url,
    fingerprint,
    job_key,
    key,
    make_app,
    output_key,
    redis_client,
    sha256,
    shown_broker,
)
from s4.config import OcrWorkerSettings
from s4.executor import ExecutorEvent, JobDone, JobFailed, WorkerCrashed
from s4.ocr import OcrJob, OcrOutcome

log = logging.getLogger("s4.executor")

CAPACITY_REFRESH_SECONDS = 2.0
CHECK_EVERY_SECONDS = 0.5


@dataclass
class _Sent:
    job: OcrJob
    key: str
    input_sha256: str = ""
    sent: bool = False  # False: the broker was down; sent again at the next poll
    started_at: float | None = None
    missing_since: float | None = None
    ended_since: float | None = None


class CeleryExecutor:
    """``OcrExecutor`` over Celery and Redis. ``capacity``: jobs kept in flight (0: twice
    the live workers' processes, so none waits for the line between two jobs)."""

    def __init__(self, settings: OcrWorkerSettings, capacity: int = 0,
                 clock: Callable[[], float] = time.monotonic):
        self.settings = settings
        self.fixed_capacity = capacity
        self.clock = clock
        self.app = make_app(settings)
        self.redis = redis_client(broker_url(settings))
        self.job_seconds = settings.job_timeout_minutes * 60
        self._jobs: dict[str, _Sent] = {}  # by document id
        self._ready: list[ExecutorEvent] = []  # decided without the broker (too large…)
        self._capacity = 1
        self._capacity_checked = -CAPACITY_REFRESH_SECONDS
        self._last_check = -CHECK_EVERY_SECONDS
        self.health = BrokerHealth(settings)
        self._pause = threading.Event()  # never set: a pause that is not a busy loop

    # ---------------------------------------------------------------- capacity

    @property
    def capacity(self) -> int:
        if self.fixed_capacity:
            return self.fixed_capacity
        now = self.clock()
        if now - self._capacity_checked >= CAPACITY_REFRESH_SECONDS:
            self._capacity_checked = now
            with contextlib.suppress(redis.RedisError):
                self._capacity = max(1, 2 * sum(w["concurrency"] for w in live_workers(
                    self.redis)))
        return self._capacity

    def in_flight(self) -> set[str]:
        return set(self._jobs)

    # ---------------------------------------------------------------- submit

    def submit(self, job: OcrJob) -> None:
        key_ = job_key(job.doc_id, job.attempt)
        sent = _Sent(job, key_)
        self._jobs[job.doc_id] = sent
        try:
            size = Path(job.original).stat().st_size
        except OSError as exc:
            self._ready.append(JobFailed(job, exc))
            return
        limit = self.settings.broker_max_file_megabytes * 1024 * 1024
        if size > limit:
            self._ready.append(JobDone(job, OcrOutcome(job.doc_id, ok=False, reason=(
                f"the scan is {size / 1048576:.0f} MB, more than the "
                f"{self.settings.broker_max_file_megabytes:g} MB that may travel to the OCR "
                "workers ([ocr] broker_max_file_megabytes): split it into smaller files, or "
                "OCR it on a line with [ocr] executor = \"local\"."))))
            return
        self._send(sent)

    def _send(self, sent: _Sent) -> None:
        job = sent.job
        data = Path(job.original).read_bytes()
        sent.input_sha256 = sha256(data)
        if job.sha256 and sent.input_sha256 != job.sha256:
            self._jobs.pop(job.doc_id, None)  # never hand a worker a changed work copy
            self._ready.append(JobDone(job, OcrOutcome(job.doc_id, ok=False, reason=(
                "the work copy no longer matches the scan as received (its SHA-256 "
                "differs), so it was not OCRed: rescan the paper, or copy the scanner's file "
                f"again and run `s4 rescan {job.doc_id} FILE`."))))
            return
        payload = {
            "key": sent.key, "doc_id": job.doc_id, "attempt": job.attempt,
            "source_name": job.source_name, "settings": job.settings,
            "max_file_bytes": job.max_file_bytes, "input_sha256": sent.input_sha256,
            # the pipeline's image QA limits and capture settings travel too, so a worker
            # flags and splits exactly as the local pool would
            "image_qa": job.image_qa, "capture": job.capture, "single": job.single,
            "fingerprint": fingerprint(), "lease_seconds": self.settings.lease_seconds,
            "job_seconds": self.job_seconds,
        }
        keep = int(self.job_seconds + KEY_SLACK_SECONDS)
        try:
            with self.redis.pipeline() as pipe:
                pipe.set(key("input", sent.key), data, ex=keep)
                pipe.delete(key("job", sent.key))
                pipe.hset(key("job", sent.key), "state", "queued")
                pipe.expire(key("job", sent.key), keep)
                pipe.execute()
            self.app.send_task(TASK, args=[payload], task_id=sent.key, queue=QUEUE,
                               retry=True, retry_policy={"max_retries": 2,
                                                         "interval_start": 0.2,
                                                         "interval_step": 0.5})
        except Exception as exc:  # the broker is down: try again at the next poll
            self.health.down(exc)
            sent.sent = False
            return
        sent.sent, sent.started_at, sent.missing_since = True, None, None
        self.health.up()

    # ---------------------------------------------------------------- poll

    def poll(self, timeout: float | None) -> list[ExecutorEvent]:
        """Results and crashes, waiting up to ``timeout`` seconds for the first one."""
        events, self._ready = self._ready, []
        if not self._jobs and not events:
            return []
        deadline = self.clock() + (timeout if timeout is not None else 3600.0)
        while True:
            for sent in [s for s in self._jobs.values() if not s.sent]:
                self._send(sent)
            events.extend(self._take_results(
                block=0 if events else max(0.0, min(deadline - self.clock(), 0.5))))
            if self.clock() - self._last_check >= CHECK_EVERY_SECONDS:
                self._last_check = self.clock()
                events.extend(self._check_leases())
            events.extend(self._ready)
            self._ready = []
            if events or self.clock() >= deadline or not self._jobs:
                return events

    def _take_results(self, block: float) -> list[ExecutorEvent]:
        events: list[ExecutorEvent] = []
        try:
            if block > 0:
                item = self.redis.blpop([RESULTS], timeout=block)
                raw = [item[1]] if item else []
            else:
                raw = []
            while True:
                more = self.redis.lpop(RESULTS)
                if more is None:
                    break
                raw.append(more)
        except redis.RedisError as exc:
            self.health.down(exc)
            self._pause.wait(min(block, 0.5))  # the broker is down: nothing to wait on
            return events
        self.health.up()
        for item in raw:
            event = self._result(json.loads(item))
            if event is not None:
                events.append(event)
        return events

    def _result(self, result: dict[str, Any]) -> ExecutorEvent | None:
        sent = self._jobs.get(result.get("doc_id", ""))
        if sent is None or sent.key != result.get("key"):
            log.info("%s: a result for a job no longer waited for (a duplicate, or an "
                     "earlier attempt) from %s: dropped", result.get("key"), result.get("worker"))
            forget_outputs(self.redis, result.get("key", ""))
            return None
        job, kind = sent.job, result["kind"]
        where = result.get("worker", "a worker")
        if kind == "lost":  # the broker restarted before or during the job
            log.warning("%s: %s; sending it again", sent.key, result.get("detail"))
            self._send(sent)
            return None
        self._jobs.pop(job.doc_id)
        forget_input(self.redis, sent.key)
        if kind == "crashed":
            return self._crashed(sent, result["detail"])
        if kind == "refused":
            log.error("%s: %s", job.doc_id, result["reason"])
            return JobDone(job, OcrOutcome(job.doc_id, ok=False, reason=result["reason"]))
        if kind == "failed":
            return JobFailed(job, RuntimeError(f"{result['error']} (on {where})"))
        if result.get("input_sha256") != sent.input_sha256:
            return self._crashed(sent, f"the worker {where} OCRed other bytes than were sent "
                                       "(SHA-256 differs)")
        outcome = OcrOutcome(**result["outcome"])
        if outcome.ok:
            problem = write_outputs(self.redis, sent, result, outcome)
            if problem:
                return self._crashed(sent, problem)
        log.info("%s: OCR done on %s", sent.key, where)
        return JobDone(job, outcome)

    def _check_leases(self) -> list[ExecutorEvent]:
        """Crashes the broker shows: a started job whose lease lapsed, or that overran."""
        waiting = [s for s in self._jobs.values() if s.sent]
        if not waiting:
            return []
        try:
            with self.redis.pipeline() as pipe:
                for sent in waiting:
                    pipe.hget(key("job", sent.key), "state")
                    pipe.exists(key("lease", sent.key))
                answers = pipe.execute()
        except redis.RedisError as exc:
            self.health.down(exc)
            return []
        self.health.up()
        events: list[ExecutorEvent] = []
        now = self.clock()
        for index, sent in enumerate(waiting):
            verdict = lease_verdict(sent, answers[2 * index], bool(answers[2 * index + 1]), now,
                                    self.settings.lease_seconds, self.job_seconds)
            if verdict == RESEND:
                log.warning("%s: the broker lost the job (restarted?); sending it again",
                            sent.key)
                self._send(sent)
            elif verdict is not None:
                abandon(self.redis, sent.key, self.job_seconds)
                events.append(self._crashed(sent, verdict))
        return events

    def _crashed(self, sent: _Sent, detail: str) -> WorkerCrashed:
        self._jobs.pop(sent.job.doc_id, None)
        log.warning("%s: %s", sent.job.doc_id, detail)
        return WorkerCrashed(sent.job, detail)

    def close(self) -> None:
        """Stop waiting: jobs still out are abandoned (the line resumes them at next start
        as new attempts, so a late result cannot be recorded twice)."""
        for sent in self._jobs.values():
            abandon(self.redis, sent.key, self.job_seconds)
        self._jobs.clear()
        with contextlib.suppress(Exception):
            self.redis.close()
        with contextlib.suppress(Exception):
            self.app.close()

def write_outputs(client: redis.Redis, sent: _Sent, result: dict[str, Any],
                  outcome: OcrOutcome) -> str | None:
    """Put every file the worker sent back into the work dir once its SHA-256 checks out,
    and point the outcome at them; the problem in words, or None."""
    digests: dict[str, str] = result.get("files") or {}
    needed = {"stack_pdf"} if outcome.split else {"output_pdf", "text_path"}
    if not needed <= set(digests) or not set(digests) <= set(OUTCOME_FILES):
        forget_outputs(client, sent.key)
        return ("the OCR result did not list the files it should carry (a worker at "
                "another version?)")
    with client.pipeline() as pipe:
        for name in digests:
            pipe.get(output_key(sent.key, name))
        contents = dict(zip(digests, pipe.execute(), strict=True))
    forget_outputs(client, sent.key)
    if any(data is None for data in contents.values()):
        return "the OCR result was gone from the broker before it could be collected"
    if any(sha256(contents[name]) != digest for name, digest in digests.items()):
        return "the OCR result came back damaged (SHA-256 differs)"
    work_dir = Path(sent.job.work_dir)
    for name, data in contents.items():
        target = work_dir / OUTCOME_FILES[name].format(doc_id=sent.job.doc_id)
        partial = target.with_name(f"{target.stem}.partial-{os.getpid()}{target.suffix}")
        partial.write_bytes(data)
        os.replace(partial, target)
        setattr(outcome, name, str(target))
    return None


RESEND = "resend"


def lease_verdict(sent: _Sent, state: bytes | None, leased: bool, now: float,
                  lease_seconds: float, job_seconds: float) -> str | None:
    """What the broker's view of a job means: None (wait), RESEND, or why it crashed."""
    if state is None and not leased:
        # The broker forgot the job (restarted without its data): send it again, unless a
        # worker still holding it answers within half a lease.
        sent.missing_since = sent.missing_since or now
        return RESEND if now - sent.missing_since >= lease_seconds / 2 else None
    sent.missing_since = None
    if state == b"ended" and not leased:  # finished: its result should be on the list
        sent.ended_since = sent.ended_since or now
        if now - sent.ended_since >= lease_seconds:
            return "the OCR worker finished but its result never arrived"
        return None
    if state == b"started" or leased:
        sent.started_at = sent.started_at or now
        if not leased:
            return (f"the OCR worker sent no heartbeat for {lease_seconds:g} s (its machine "
                    "stopped or lost the network)")
        if now - sent.started_at > job_seconds:
            return f"the OCR worker took longer than {job_seconds:.0f} s and was given up"
    return None


# --------------------------------------------------------------------------- broker housekeeping


class BrokerHealth:
    """Says once that the broker is down, and once that it is back."""

    def __init__(self, settings: OcrWorkerSettings):
        self.settings = settings
        self.is_down = False

    def down(self, exc: BaseException) -> None:
        if not self.is_down:
            log.error("OCR broker %s: %s; documents wait and are sent when it is back",
                      shown_broker(self.settings), broker_problem(exc, self.settings))
        self.is_down = True

    def up(self) -> None:
        if self.is_down:
            log.warning("OCR broker %s is back", shown_broker(self.settings))
        self.is_down = False


def abandon(client: redis.Redis, job: str, job_seconds: float) -> None:
    """A worker that gets this job later skips it; its bytes are dropped now."""
    with contextlib.suppress(redis.RedisError):
        client.set(key("abandoned", job), 1, ex=int(job_seconds + KEY_SLACK_SECONDS))
        client.delete(key("input", job))


def forget_input(client: redis.Redis, job: str) -> None:
    with contextlib.suppress(redis.RedisError):
        client.delete(key("input", job))


def forget_outputs(client: redis.Redis, job: str) -> None:
    with contextlib.suppress(redis.RedisError):
        client.delete(*(output_key(job, name) for name in OUTCOME_FILES))


def live_workers(client: redis.Redis) -> list[dict[str, Any]]:
    """The registry entries of the workers alive now (each refreshes its own)."""
    names = list(client.scan_iter(match=WORKER_PREFIX + "*", count=500))
    if not names:
        return []
    entries = client.mget(names)
    return [json.loads(entry) | {"name": name.decode()[len(WORKER_PREFIX):]}
            for name, entry in zip(names, entries, strict=True) if entry]

