"""The production line: claims files, keeps every core busy with OCR, records what happened.

One ``Line`` per process, under the home's lock (two writers would fight over recovery). It
submits ``OcrJob``s to an OCR executor (``s4.executor``: the local pool by default) with
several documents in flight, so short documents still use every core, and hands what comes
back to the ``Recorder``. The line's process is the only database writer.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from s4 import db as store_db
from s4.context import HomeContext
from s4.errors import ENVIRONMENT_ERRNOS, environment_error
from s4.executor import JobDone, JobFailed, LocalPool, OcrExecutor, WorkerCrashed
from s4.ingest import (
    Claim,
    Claimer,
    FileChanged,
    IgnoreRules,
    NotTaken,
    SourceUnreadable,
    display_name,
    iter_entries,
    recover,
)
from s4.ocr import OcrJob
from s4.recording import ProgressHook, Recorder
from s4.store import StoreWorker
from s4.workers import end_leftovers, forget_finished, init_worker, registry_folder

log = logging.getLogger("s4.line")

STORE_WAIT_SECONDS = 300.0  # how long `s4 run` waits at the end for uploads (store down?)


@dataclass
class BatchReport:
    batch_id: str
    documents: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)  # files not taken, with the reason
    files: int = 0  # files found under the paths given
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None

    @property
    def seconds(self) -> float:
        return (self.finished or time.monotonic()) - self.started


def local_pool(ctx: HomeContext, workers: int) -> LocalPool:
    """The default executor: OCR worker processes on this machine that die with the line."""
    settings = ctx.settings.ocr
    return LocalPool(
        workers, initializer=functools.partial(
            init_worker, str(registry_folder(ctx.home.root)), os.getpid()),
        job_timeout=settings.job_timeout_minutes * 60)


def make_executor(ctx: HomeContext, workers: int) -> OcrExecutor:
    """The executor ``[ocr] executor`` names: this machine's pool, or Celery workers."""
    settings = ctx.settings.ocr
    if settings.executor == "celery":
        from s4.executor_celery import CeleryExecutor  # only lines that use it need Celery

        return CeleryExecutor(settings, capacity=settings.workers)
    return local_pool(ctx, workers)


class Line:
    """Claim → OCR → record, for ``s4 run`` (one batch) and ``s4 watch`` (forever)."""

    def __init__(self, ctx: HomeContext, workers: int | None = None,
                 progress: ProgressHook | None = None, executor: OcrExecutor | None = None):
        self.ctx = ctx
        self.db = ctx.db
        self.cores = os.cpu_count() or 1
        self.workers = workers or ctx.settings.ocr.workers or self.cores
        self.executor = executor or make_executor(ctx, self.workers)
        self.rules = IgnoreRules(ctx.settings.ingest.ignore)
        self.claimer = Claimer(ctx.home, ctx.db, ctx.actor)
        self.progress = progress or (lambda event, data: None)
        self.pending: deque[str] = deque()
        self.unreadable: dict[Path, str] = {}  # scans that cannot be read, left in place
        self.stop_requested = threading.Event()
        self.store = StoreWorker(ctx.home, ctx.actor)
        self.recorder = Recorder(ctx, self.progress, on_filed=self.store.wake)

    # ---------------------------------------------------------------- queue

    def recover(self) -> None:
        # Workers of a line that was killed would OCR documents nobody is waiting for.
        for note in end_leftovers(registry_folder(self.ctx.home.root)):
            log.warning("recovery: %s", note)
        for note in recover(self.ctx.home, self.db, self.ctx.actor):
            log.warning("recovery: %s", note)
        self.enqueue_waiting()
        for doc in store_db.documents_in_states(self.db, (store_db.PROCESSED,)):
            self.recorder.file(doc["id"])  # OCRed before a stop, or a schedule error fixed

    def enqueue_waiting(self) -> None:
        """Queue every document waiting for OCR (e.g. retried from the desk meanwhile)."""
        for doc in store_db.documents_in_states(self.db, (store_db.RECEIVED,)):
            self.enqueue(doc["id"])

    def enqueue(self, doc_id: str) -> None:
        if doc_id not in self.pending and doc_id not in self.executor.in_flight():
            self.pending.append(doc_id)

    # ---------------------------------------------------------------- claiming

    def claim(self, path: Path, batch_id: str, pipeline: str, box: str | None,
              remove_source: bool, root: Path | None = None) -> Claim | None:
        """Claim one entry; ``root``: the folder it was found under (no links below it).

        An entry that cannot be read, or is not a regular file, is reported once and left
        where it is; ``s4 watch`` also lists the refused ones in ``s4 status``."""
        shown = display_name(path.name)
        try:
            claim = self.claimer.claim(path, batch_id, pipeline, box, remove_source, root=root)
        except FileChanged:
            log.info("%s: still changing; will try again when it is stable", shown)
            return None
        except FileNotFoundError:
            log.info("%s: gone before it could be claimed", shown)
            return None
        except (SourceUnreadable, NotTaken) as exc:
            new = self.unreadable.get(path) != str(exc)
            if isinstance(exc, NotTaken) and remove_source:  # an inbox entry: for s4 status
                new = store_db.note_not_taken(self.db, path_key(path),
                                              display_name(str(path)), str(exc)) or new
            if new:  # say it once, not at every rescan
                log.error("%s", exc)
            self.unreadable[path] = str(exc)
            self.progress("unreadable", {"path": display_name(str(path)), "reason": str(exc)})
            return None
        except OSError as exc:
            if exc.errno in ENVIRONMENT_ERRNOS:
                raise environment_error(exc, self.ctx.home.work) from None
            raise
        if self.unreadable.pop(path, None) is not None and remove_source:
            store_db.forget_not_taken(self.db, path_key(path))
        if claim.state == store_db.RECEIVED:
            self.enqueue(claim.doc_id)
        self.progress("claimed", {"doc_id": claim.doc_id, "state": claim.state})
        return claim

    # ---------------------------------------------------------------- OCR scheduling

    def fill(self) -> None:
        """Hand queued documents to free OCR workers."""
        while (self.pending and len(self.executor.in_flight()) < self.executor.capacity
               and not self.stop_requested.is_set()):
            doc_id = self.pending.popleft()
            doc = store_db.get_document(self.db, doc_id)
            if doc is None or doc["state"] != store_db.RECEIVED:
                continue
            pipeline = self.ctx.pipeline(doc["pipeline"])
            # Few documents left: give each more Tesseract jobs so no core idles.
            in_flight = len(self.executor.in_flight())
            documents = min(len(self.pending) + in_flight + 1, self.workers)
            jobs = max(1, self.cores // documents)
            job = OcrJob(
                doc_id=doc_id, original=doc["original_path"], work_dir=doc["work_dir"],
                source_name=doc["source_name"], settings=pipeline.ocr.model_dump(), jobs=jobs,
                max_file_bytes=int(self.ctx.settings.ingest.max_file_megabytes * 1024 * 1024),
                image_qa=pipeline.image_qa.model_dump(),
                # A document already split from a stack is not looked at again; a re-scan
                # replaces one record, so it is never split.
                capture=None if doc["stack_id"] else pipeline.capture.model_dump(),
                single=bool(doc["replaces"]),
                attempt=doc["attempts"] + 1, sha256=doc["sha256"],
            )
            store_db.update_document(
                self.db, doc_id, self.ctx.actor, "document.ocr_started",
                {"pipeline": pipeline.name, "tesseract_jobs": jobs},
                state=store_db.OCR, attempts=doc["attempts"] + 1,
            )
            self.executor.submit(job)

    def collect(self, timeout: float | None) -> int:
        """Record finished OCR work; returns how many documents finished."""
        events = self.executor.poll(timeout)
        if events:
            self.fill()  # the freed workers start on the next documents while these are recorded
        for event in events:
            doc_id = event.job.doc_id
            if isinstance(event, JobDone):
                for new_doc in self.recorder.ocr_done(event.outcome):  # a stack's documents
                    self.enqueue(new_doc)
            elif isinstance(event, WorkerCrashed):
                if self.recorder.worker_crashed(doc_id, event.detail):
                    self.enqueue(doc_id)
            elif isinstance(event, JobFailed):
                self._engine_failed(doc_id, event.error)
        return len(events)

    def _engine_failed(self, doc_id: str, error: BaseException) -> None:
        if isinstance(error, OSError) and error.errno in ENVIRONMENT_ERRNOS:
            self.recorder.interrupted(doc_id, f"environment error: {error.strerror}")
            raise environment_error(error, self.ctx.home.work) from None
        log.error("%s: unexpected error during OCR: %s: %s", doc_id, type(error).__name__,
                  error)
        self.recorder.quarantine(doc_id, f"unexpected error during OCR ({type(error).__name__}:"
                                 f" {error}); retry it with `s4 retry {doc_id}`; if it fails "
                                 "again, rescan it.")

    # ---------------------------------------------------------------- run

    def busy(self) -> bool:
        return bool(self.pending or self.executor.in_flight())

    def drain(self) -> None:
        """Run until nothing is queued or in flight (or a stop is requested)."""
        while self.busy() and not self.stop_requested.is_set():
            self.fill()
            self.collect(timeout=0.5)

    def finish(self) -> None:
        """OCR everything queued, then give the store time to take what was filed."""
        self.store.start()
        self.drain()
        self.store.drain(timeout=STORE_WAIT_SECONDS)

    def run_batch(self, paths: Iterable[Path], batch_id: str, pipeline: str,
                  box: str | None, expected_pages: int | None = None) -> BatchReport:
        self.ctx.pipeline(pipeline)  # fail early on a bad pipeline file
        report = BatchReport(batch_id)
        files = list(iter_entries(paths, self.rules))
        report.files = len(files)
        if not files:
            return report  # nothing to do: no empty batch is recorded
        store_db.ensure_batch(self.db, batch_id, pipeline, box, "run", self.ctx.actor)
        if expected_pages is not None:
            store_db.set_expected_pages(self.db, batch_id, expected_pages, self.ctx.actor)
        self.store.start()
        self.recover()
        self.progress("files", {"count": len(files)})
        for root, path in files:
            claim = self.claim(path, batch_id, pipeline, box, remove_source=False, root=root)
            if claim is not None:
                report.documents.append(claim.doc_id)
            elif path in self.unreadable:
                report.unreadable.append(self.unreadable[path])
            self.fill()
            self.collect(timeout=0)
        for doc in store_db.documents_in_states(self.db, (store_db.RECEIVED,), batch_id):
            self.enqueue(doc["id"])
        self.finish()
        self.check_page_count(batch_id)
        report.finished = time.monotonic()
        return report

    def check_page_count(self, batch_id: str) -> None:
        """When every record of the batch is through OCR, compare its pages with the count
        the operator typed; a difference flags the batch's last page for a person."""
        from s4.imageqa import page_count_flag

        batch = store_db.get_batch(self.db, batch_id)
        expected = batch and batch["expected_pages"]
        docs = [d for d in store_db.documents(self.db, batch_id)
                if d["state"] not in (store_db.DUPLICATE, store_db.SUPERSEDED)]
        if not expected or not docs or any(
                d["state"] in store_db.UNFINISHED_STATES for d in docs):
            return
        found = sum(d["pages"] or 0 for d in docs if d["state"] != store_db.QUARANTINED)
        last = max((d for d in docs if d["pages"]), key=lambda d: (d["position"] or 0, d["seq"]),
                   default=None)
        if found != expected and last is not None:
            flag = page_count_flag(found, expected)
            store_db.add_page_flag(self.db, last["id"], last["pages"], flag, self.ctx.actor)
            log.warning("batch %s: %s", batch_id, flag["reason"])

    def request_stop(self) -> None:
        self.stop_requested.set()
        self.store.release()  # do not sit out the store wait after Ctrl-C / SIGTERM

    def close(self) -> None:
        """Stop OCR workers. Documents still in OCR stay resumable (recovered at next start)."""
        self.store.stop()
        self.executor.close()
        forget_finished(registry_folder(self.ctx.home.root))


def path_key(path: Path) -> str:
    """The entry's path as it is on disk (bytes, as hex): display forms may collide."""
    return os.fsencode(str(path)).hex()


def install_stop_handlers(line: Line) -> None:
    def handler(signum: int, frame: object) -> None:
        log.warning("received %s: stopping; unfinished documents resume at next start",
                    signal.Signals(signum).name)
        line.request_stop()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
