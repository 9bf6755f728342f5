"""OCR on other machines: the Celery app, what travels through Redis, and the worker's task.

How a job travels (one Redis database per S4 home; see the README's "OCR on several
machines"):

- The coordinator (``s4 run``/``s4 watch``, the only database writer) stores the scan's bytes
  under ``s4:input:<job>`` and sends a Celery task with the job's metadata: document id,
  attempt, pipeline OCR settings, the SHA-256 of the bytes, and the versions it runs
  (``fingerprint``). ``<job>`` is the document id and attempt number, so every attempt has
  its own key and a late duplicate result is recognised and dropped.
- The worker (``s4 worker``) refuses a job from a coordinator with other versions, fetches
  the bytes, checks their hash, OCRs them in a temporary folder, stores every file the
  outcome points at (``OUTCOME_FILES``: the PDF and text, or a stack's prepared PDF when the
  scan is to be split) under ``s4:output:<job>:<field>`` and pushes a small JSON result
  (with the SHA-256 of each of those files) onto ``s4:results``. While it works it
  refreshes a lease (``s4:lease:<job>``); the coordinator charges a job whose lease lapsed
  as a crashed attempt, as the local pool charges a worker process that died.
- Celery delivers with late acknowledgement: a worker that dies mid-job leaves the message
  unacknowledged and Celery hands it out again. The worker that gets such a redelivery does
  not OCR it: it reports the previous worker's death, so the coordinator counts attempts (a
  scan that kills every worker ends in quarantine after ``[ocr] max_attempts``).

Nothing here touches the database.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import shutil
import socket
import tempfile
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis
from celery import Celery, signals

from s4 import __version__
from s4.config import OcrWorkerSettings
from s4.ocr import OcrJob, OcrOutcome, run_ocr_job, worker_init

log = logging.getLogger("s4.worker")

QUEUE = "s4-ocr"
TASK = "s4.ocr"
RESULTS = "s4:results"
WORKER_PREFIX = "s4:workers:"
PAGES = "s4:pages"  # sorted set: "<job>|<worker>|<pages>" scored by the time it finished
PAGES_WINDOW_SECONDS = 600.0
# Outputs and inputs wait this long in Redis past the job's own time limit at most.
KEY_SLACK_SECONDS = 3600
# Test hook: a worker whose environment names a file crashes (os._exit) on it, as a scan
# that kills Tesseract would. Only the test suite sets it.
CRASH_ON_NAME_ENV = "S4_TEST_CRASH_ON_NAME"


# The OcrOutcome fields that name a file in the worker's work dir, and the name the file
# gets in the document's work dir on the coordinator (the names the local pool uses).
OUTCOME_FILES = {"output_pdf": "{doc_id}.pdf", "text_path": "{doc_id}.txt",
                 "stack_pdf": "stack.pdf"}


def outcome_files(outcome: OcrOutcome) -> dict[str, Path]:
    """The files this outcome points at, by field (an OCRed record: PDF and text; a stack
    to split: its prepared PDF)."""
    return {name: Path(value) for name in OUTCOME_FILES
            if (value := getattr(outcome, name))}


def output_key(job: str, field_name: str) -> str:
    return f"{key('output', job)}:{field_name}"


def job_key(doc_id: str, attempt: int) -> str:
    return f"{doc_id}-{attempt}"


def key(kind: str, job: str) -> str:
    """``s4:input:<job>``, ``s4:job:<job>`` (state, starts, worker), ``s4:lease:<job>``…"""
    return f"s4:{kind}:{job}"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------- broker address


def broker_url(settings: OcrWorkerSettings) -> str:
    """The broker address with the password from the environment variable the settings name.

    Never log this value: use ``shown_broker`` instead."""
    password = os.environ.get(settings.broker_password_env)
    if not password:
        return settings.broker
    parts = urlsplit(settings.broker)
    netloc = f":{password}@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def shown_broker(settings: OcrWorkerSettings) -> str:
    """The broker address as logs and messages show it (s4.toml never holds a password)."""
    with_password = " (password from $" + settings.broker_password_env + ")" \
        if os.environ.get(settings.broker_password_env) else ""
    return settings.broker + with_password


def redis_client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5,
                                health_check_interval=10)


def broker_problem(exc: BaseException, settings: OcrWorkerSettings) -> str:
    """A broker error in words, without the address (it may carry the password)."""
    variable = f"${settings.broker_password_env}"
    if isinstance(exc, redis.AuthenticationError | redis.ResponseError) and (
            "NOAUTH" in str(exc) or "auth" in str(exc).lower()):
        if not os.environ.get(settings.broker_password_env):
            return f"the broker wants a password: set {variable} ([ocr] broker_password_env)"
        return f"the broker refused the password in {variable}"
    return f"the broker cannot be reached ({type(exc).__name__}); is redis-server running there?"


# --------------------------------------------------------------------------- versions


@functools.lru_cache(maxsize=1)
def fingerprint() -> dict[str, str]:
    """The versions a job's result depends on; coordinator and worker must agree on them."""
    import ocrmypdf
    from ocrmypdf._exec import tesseract

    return {"s4": __version__, "ocrmypdf": ocrmypdf.__version__,
            "tesseract": str(tesseract.version())}


def mismatch(theirs: dict[str, str], ours: dict[str, str]) -> str | None:
    """What differs, in words, or None."""
    different = [f"{name} {ours.get(name, 'none')} here but {theirs.get(name, 'none')} on the "
                 "line" for name in sorted(set(theirs) | set(ours))
                 if theirs.get(name) != ours.get(name)]
    return "; ".join(different) or None


# --------------------------------------------------------------------------- the Celery app


def make_app(settings: OcrWorkerSettings) -> Celery:
    """The Celery app both sides use: late acknowledgement, redelivery on a lost worker,
    one job prefetched per worker process."""
    job_seconds = settings.job_timeout_minutes * 60
    app = Celery("s4", broker=broker_url(settings), set_as_current=False)
    app.conf.update(
        task_acks_late=True,  # acknowledged when the job ends, not when a worker takes it
        task_reject_on_worker_lost=True,  # a worker process that dies: the job is redelivered
        worker_prefetch_multiplier=1,  # no worker hoards jobs another could run now
        # Redis redelivers an unacknowledged job after this long: longer than any job may
        # run (a whole worker machine lost is noticed sooner, by its lapsed lease).
        broker_transport_options={"visibility_timeout": int(job_seconds + KEY_SLACK_SECONDS)},
        task_time_limit=int(job_seconds + 60),
        task_ignore_result=True,  # results come back on s4:results, checked by hash
        task_serializer="json", accept_content=["json"],
        task_default_queue=QUEUE,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,  # a Redis restart: keep trying
        worker_hijack_root_logger=False,
        worker_cancel_long_running_tasks_on_connection_loss=False,
    )
    app.task(name=TASK, bind=True, acks_late=True, reject_on_worker_lost=True)(_ocr_task)
    return app


# --------------------------------------------------------------------------- worker side

_clients: dict[int, redis.Redis] = {}


def _client(url: str) -> redis.Redis:
    """One Redis client per worker process (a forked child must not share its parent's)."""
    pid = os.getpid()
    if pid not in _clients:
        _clients[pid] = redis_client(url)
    return _clients[pid]


def _retrying(action: Any, seconds: float) -> Any:
    """Run a Redis action, retrying through a broker restart for up to ``seconds``."""
    deadline = time.monotonic() + seconds
    pause = threading.Event()
    while True:
        try:
            return action()
        except (redis.ConnectionError, redis.TimeoutError):
            if time.monotonic() >= deadline:
                raise
            pause.wait(0.5)


class _Heartbeat(threading.Thread):
    """Refreshes the job's lease while the worker OCRs it (and re-creates the job's entry
    after a broker restart, so the coordinator sees it is still being worked on)."""

    def __init__(self, client: redis.Redis, job: str, worker: str, lease: float):
        super().__init__(daemon=True, name=f"s4-lease-{job}")
        self.client, self.job, self.worker, self.lease = client, job, worker, lease
        self.done = threading.Event()

    def beat(self) -> None:
        with self.client.pipeline() as pipe:
            pipe.set(key("lease", self.job), self.worker, px=int(self.lease * 1000))
            pipe.hset(key("job", self.job), mapping={"state": "started", "worker": self.worker})
            pipe.expire(key("job", self.job), KEY_SLACK_SECONDS)
            pipe.execute()

    def run(self) -> None:
        while not self.done.wait(self.lease / 3):
            with contextlib.suppress(redis.RedisError):
                self.beat()


def worker_name(pid: int | None = None) -> str:
    """``host:pid`` of an ``s4 worker`` (its main process): its name in the registry."""
    return f"{socket.gethostname()}:{pid or os.getpid()}"


def process_name() -> str:
    """``host:worker-pid/process-pid`` of the OCR process running a job (a prefork child)."""
    return f"{worker_name(os.getppid())}/{os.getpid()}"


def _push(client: redis.Redis, result: dict[str, Any], lease: float) -> None:
    _retrying(lambda: client.rpush(RESULTS, json.dumps(result)), lease)


def _ocr_task(task: Any, payload: dict[str, Any]) -> None:
    """One delivery of one job (a Celery task; runs in a worker process)."""
    client = _client(task.app.conf.broker_url)
    job = payload["key"]
    lease = float(payload["lease_seconds"])
    me = process_name()
    base = {"key": job, "doc_id": payload["doc_id"], "worker": me}
    if client.exists(key("abandoned", job)):
        log.info("%s: the line no longer waits for this job; skipped", job)
        return
    starts = client.hincrby(key("job", job), "starts", 1)
    if starts > 1:  # Celery redelivered it: the worker before us died on it
        previous = (client.hget(key("job", job), "worker") or b"another worker").decode()
        client.hset(key("job", job), "state", "ended")
        _push(client, {**base, "kind": "crashed",
                       "detail": f"the OCR worker ({previous}) died while OCRing it"}, lease)
        return
    heartbeat = _Heartbeat(client, job, me, lease)
    heartbeat.beat()
    heartbeat.start()
    try:
        _push(client, {**base, **_run(client, payload)}, lease)
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        # The broker went away while the scan was fetched or the outputs stored (a Redis
        # restart): not the document's fault, so the line sends the job again.
        log.warning("%s: the broker could not be reached during the job: %s", job, exc)
        _push(client, {**base, "kind": "lost", "detail": (
            f"the broker could not be reached during the job ({type(exc).__name__})")}, lease)
    except Exception as exc:  # told to the line, which decides what it means
        log.exception("%s: OCR failed", job)
        _push(client, {**base, "kind": "failed", "error": f"{type(exc).__name__}: {exc}"},
              lease)
    finally:
        heartbeat.done.set()
        with contextlib.suppress(redis.RedisError):
            client.delete(key("lease", job))
            client.hset(key("job", job), "state", "ended")


def _run(client: redis.Redis, payload: dict[str, Any]) -> dict[str, Any]:
    """Check, fetch, OCR, store the outputs; the result's fields for the coordinator."""
    job = payload["key"]
    different = mismatch(payload["fingerprint"], fingerprint())
    if different:
        return {"kind": "refused", "reason": (
            f"the OCR worker on {socket.gethostname()} refused the job: it runs other versions "
            f"than the line ({different}). Install the same S4 version on the worker (and the "
            "same ocrmypdf and Tesseract), restart it, then retry the document.")}
    data = client.get(key("input", job))
    if data is None:
        return {"kind": "lost", "detail": "the scan's bytes were gone from the broker"}
    received = sha256(data)
    if received != payload["input_sha256"]:
        return {"kind": "crashed", "detail": "the scan arrived damaged (SHA-256 differs)",
                "input_sha256": received}
    if os.environ.get(CRASH_ON_NAME_ENV) == payload["source_name"]:
        os._exit(70)  # the test suite's poison document
    folder = Path(tempfile.mkdtemp(prefix=f"s4-worker-{job}-"))
    try:
        original = folder / "received"
        original.write_bytes(data)
        work_dir = folder / "work"
        work_dir.mkdir()
        outcome = run_ocr_job(OcrJob(
            doc_id=payload["doc_id"], original=str(original), work_dir=str(work_dir),
            source_name=payload["source_name"], settings=payload["settings"],
            jobs=1,  # one Tesseract page per worker process: `--concurrency` is the cores
            max_file_bytes=payload["max_file_bytes"], image_qa=payload.get("image_qa"),
            capture=payload.get("capture"), single=bool(payload.get("single"))))
        result: dict[str, Any] = {"kind": "done", "input_sha256": received,
                                  "outcome": _portable(outcome, str(original))}
        if outcome.ok:
            files = {name: path.read_bytes() for name, path in outcome_files(outcome).items()}
            keep = int(payload["job_seconds"] + KEY_SLACK_SECONDS)
            with client.pipeline() as pipe:
                for name, data in files.items():
                    pipe.set(output_key(job, name), data, ex=keep)
                pipe.zadd(PAGES, {f"{job}|{worker_name(os.getppid())}|{len(outcome.pages)}":
                                  time.time()})
                pipe.zremrangebyscore(PAGES, 0, time.time() - PAGES_WINDOW_SECONDS)
                pipe.execute()
            result["files"] = {name: sha256(data) for name, data in files.items()}
        return result
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _portable(outcome: OcrOutcome, original: str) -> dict[str, Any]:
    """The outcome without this machine's paths (the coordinator writes its own files)."""
    fields = asdict(outcome)
    for name in OUTCOME_FILES:
        fields[name] = None
    if fields["reason"]:
        fields["reason"] = fields["reason"].replace(original, "the scan")
    return fields


@signals.worker_process_init.connect
def _init_worker_process(**_: Any) -> None:
    worker_init()
    logging.getLogger("fontTools").setLevel(logging.WARNING)  # font subsetting chatter


# --------------------------------------------------------------------------- worker registry


class WorkerRegistry(threading.Thread):
    """Keeps ``s4:workers:<name>`` alive while this worker runs, for ``s4 status --workers``."""

    def __init__(self, url: str, concurrency: int, every: float = 5.0):
        super().__init__(daemon=True, name="s4-worker-registry")
        self.url, self.concurrency, self.every = url, concurrency, every
        self.name_key = WORKER_PREFIX + worker_name()
        self.ready = threading.Event()
        self.stopped = threading.Event()
        self.since = time.time()

    def record(self, client: redis.Redis) -> None:
        entry = {"host": socket.gethostname(), "pid": os.getpid(),
                 "concurrency": self.concurrency, "versions": fingerprint(),
                 "since": self.since}
        client.set(self.name_key, json.dumps(entry), ex=int(self.every * 3))

    def run(self) -> None:
        client = redis_client(self.url)
        self.ready.wait()
        while not self.stopped.is_set():
            with contextlib.suppress(redis.RedisError):
                self.record(client)
            self.stopped.wait(self.every)
        with contextlib.suppress(redis.RedisError):
            client.delete(self.name_key)
