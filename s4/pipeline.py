"""The production line: claims files, keeps every core busy with OCR, records what happened.

One ``Line`` per process holds an exclusive lock on the S4 home (two writers would fight over
recovery). OCR runs in a pool of worker processes — one per core by default, each running
one Tesseract page at a time — with several documents in flight so short documents still
use every core. The main process is the only database writer.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import shutil
import signal
import stat
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from s4 import db as store_db
from s4.config import ConfigError, Home, Pipeline, Settings, load_yaml_with_lines
from s4.ingest import (
    Claimer,
    FileChanged,
    IgnoreRules,
    InboxWatcher,
    NotTaken,
    SourceUnreadable,
    StabilityTracker,
    batch_for_inbox_path,
    display_name,
    iter_entries,
    iter_files,
    recover,
)
from s4.ocr import OcrJob, OcrOutcome, run_ocr_job
from s4.store import StoreWorker
from s4.workers import end_leftovers, forget_finished, init_worker, registry_folder

log = logging.getLogger("s4.pipeline")

MAX_WORKER_CRASHES = 3
ENVIRONMENT_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.EDQUOT}


class S4Error(Exception):
    """A problem with the environment (disk, permissions, lock) rather than with one file."""


class HomeLock:
    """An exclusive lock on the S4 home, held by ``s4 run`` and ``s4 watch``."""

    def __init__(self, home: Home):
        self.path = home.root / ".lock"
        self.handle = None

    def __enter__(self) -> HomeLock:
        self.handle = self.path.open("a+")
        try:
            fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.handle.seek(0)
            holder = self.handle.read().strip() or "another process"
            self.handle.close()
            raise S4Error(
                f"{self.path.parent} is in use by {holder}: only one `s4 run` or `s4 watch` "
                "may work on a home at a time. Wait for it to finish or stop it."
            ) from None
        self.handle.seek(0)
        self.handle.truncate()
        self.handle.write(f"pid {os.getpid()}\n")
        self.handle.flush()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.handle:
            fcntl.flock(self.handle, fcntl.LOCK_UN)
            self.handle.close()


def check_home_location(home: Home, database) -> None:
    """Refuse a home opened from a path other than its own (moved, copied, restored elsewhere).

    The database holds absolute paths to work files, the store and certificates; opened from
    a copy, recovery would treat the copy's work files as strays and S4 would read and write
    the original home's files. Refusing is the safe answer.
    """
    here = str(home.root.resolve())
    recorded = store_db.home_root_of(database, here)
    if recorded != here:
        raise S4Error(
            f"{home.database} belongs to the S4 home at {recorded}, not {here}: an S4 home "
            f"keeps absolute paths, so it cannot be used after being moved or copied. Open it "
            f"at {recorded} (restore a backup to that path). Nothing was changed.")


def environment_error(exc: OSError, where: Path | str) -> S4Error:
    reason = {
        errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is used up",
        errno.EROFS: "the file system is read-only", errno.EACCES: "permission denied",
        errno.EPERM: "permission denied",
    }.get(exc.errno, exc.strerror or str(exc))
    return S4Error(f"cannot write to {where}: {reason}. Nothing was lost; fix it and run again.")


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


ProgressHook = Callable[[str, dict[str, Any]], None]


class Line:
    """Claim → OCR → record, for ``s4 run`` (one batch) and ``s4 watch`` (forever)."""

    def __init__(self, home: Home, actor: str, workers: int | None = None,
                 progress: ProgressHook | None = None):
        self.home = home
        self.actor = actor
        self.settings: Settings = home.settings()
        self.db = store_db.connect(home.database)
        store_db.migrate(self.db)
        check_home_location(home, self.db)
        self.cores = os.cpu_count() or 1
        self.workers = workers or self.settings.ocr.workers or self.cores
        self.rules = IgnoreRules(self.settings.ingest.ignore)
        self.claimer = Claimer(home, self.db, actor)
        self.progress = progress or (lambda event, data: None)
        self.executor: ProcessPoolExecutor | None = None
        self.in_flight: dict[Future, str] = {}
        self.pending: deque[str] = deque()
        self.unreadable: dict[Path, str] = {}  # scans that cannot be read, left in place
        self._pipelines: dict[str, Pipeline] = {}
        self.stop_requested = threading.Event()
        from s4.context import HomeContext
        from s4.filing import Filer  # imported here: filing pulls in scikit-learn lazily

        self.filer = Filer(HomeContext(home, self.db, self.settings, actor))
        self.store = StoreWorker(home, actor)

    # ---------------------------------------------------------------- helpers

    def pipeline(self, name: str) -> Pipeline:
        if name not in self._pipelines:
            pipeline = self.home.pipeline(name)
            try:  # a pipeline naming a schedule that is not there fails now, not per document
                self.filer.ctx.schedule(pipeline.classify.schedule)
            except ConfigError as exc:
                if "no such retention schedule" not in str(exc):
                    raise  # the schedule itself is wrong: its own file, line and field
                path = self.home.pipelines / f"{name}.yaml"
                _, lines = load_yaml_with_lines(path)
                where = lines.get(("classify", "schedule"), "?")
                raise ConfigError(f"{path}:{where}: classify.schedule: {exc}") from None
            self._pipelines[name] = pipeline
        return self._pipelines[name]

    def recover(self) -> None:
        # Workers of a line that was killed would OCR documents nobody is waiting for.
        for note in end_leftovers(registry_folder(self.home.root)):
            log.warning("recovery: %s", note)
        for note in recover(self.home, self.db, self.actor):
            log.warning("recovery: %s", note)
        for doc in store_db.documents_in_states(self.db, (store_db.RECEIVED,)):
            self.enqueue(doc["id"])
        for doc in store_db.documents_in_states(self.db, (store_db.PROCESSED,)):
            self.file(doc["id"])  # OCRed before a stop, or a schedule error since fixed

    def enqueue(self, doc_id: str) -> None:
        if doc_id not in self.pending and doc_id not in self.in_flight.values():
            self.pending.append(doc_id)

    def _executor(self) -> ProcessPoolExecutor:
        if self.executor is None:
            self.executor = ProcessPoolExecutor(
                max_workers=self.workers, mp_context=get_context("spawn"),
                initializer=init_worker,
                initargs=(str(registry_folder(self.home.root)), os.getpid()),
            )
        return self.executor

    # ---------------------------------------------------------------- claiming

    def claim(self, path: Path, batch_id: str, pipeline: str, box: str | None,
              remove_source: bool, root: Path | None = None) -> store_db.Any | None:
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
                new = store_db.note_not_taken(self.db, _path_key(path),
                                              display_name(str(path)), str(exc)) or new
            if new:  # say it once, not at every rescan
                log.error("%s", exc)
            self.unreadable[path] = str(exc)
            self.progress("unreadable", {"path": display_name(str(path)), "reason": str(exc)})
            return None
        except OSError as exc:
            if exc.errno in ENVIRONMENT_ERRNOS:
                raise environment_error(exc, self.home.work) from None
            raise
        if self.unreadable.pop(path, None) is not None and remove_source:
            store_db.forget_not_taken(self.db, _path_key(path))
        if claim.state == store_db.RECEIVED:
            self.enqueue(claim.doc_id)
        self.progress("claimed", {"doc_id": claim.doc_id, "state": claim.state})
        return claim

    # ---------------------------------------------------------------- OCR scheduling

    def fill(self) -> None:
        """Hand queued documents to free OCR workers."""
        while (self.pending and len(self.in_flight) < self.workers
               and not self.stop_requested.is_set()):
            doc_id = self.pending.popleft()
            doc = store_db.get_document(self.db, doc_id)
            if doc is None or doc["state"] != store_db.RECEIVED:
                continue
            pipeline = self.pipeline(doc["pipeline"])
            # Few documents left: give each more Tesseract jobs so no core idles.
            documents = min(len(self.pending) + len(self.in_flight) + 1, self.workers)
            jobs = max(1, self.cores // documents)
            job = OcrJob(
                doc_id=doc_id, original=doc["original_path"], work_dir=doc["work_dir"],
                source_name=doc["source_name"], settings=pipeline.ocr.model_dump(), jobs=jobs,
                max_file_bytes=int(self.settings.ingest.max_file_megabytes * 1024 * 1024),
            )
            store_db.update_document(
                self.db, doc_id, self.actor, "document.ocr_started",
                {"pipeline": pipeline.name, "tesseract_jobs": jobs},
                state=store_db.OCR, attempts=doc["attempts"] + 1,
            )
            future = self._executor().submit(run_ocr_job, job)
            self.in_flight[future] = doc_id

    def collect(self, timeout: float | None) -> int:
        """Record finished OCR work; returns how many documents finished."""
        if not self.in_flight:
            return 0
        done, _ = wait(list(self.in_flight), timeout=timeout, return_when=FIRST_COMPLETED)
        broken = False
        for future in done:
            doc_id = self.in_flight.pop(future)
            try:
                outcome = future.result()
            except BrokenProcessPool:
                broken = True
                self._worker_crashed(doc_id)
                continue
            except OSError as exc:
                if exc.errno in ENVIRONMENT_ERRNOS:
                    self._requeue_after_environment_error(doc_id, exc)
                    raise environment_error(exc, self.home.work) from None
                self._quarantine(doc_id, f"unexpected error during OCR ({exc}); retry it with "
                                 f"`s4 retry {doc_id}`; if it fails again, rescan it.")
                continue
            except Exception as exc:
                log.exception("%s: unexpected error", doc_id)
                self._quarantine(doc_id, f"unexpected error during OCR ({type(exc).__name__}: "
                                 f"{exc}); retry it with `s4 retry {doc_id}`; if it fails "
                                 "again, rescan it.")
                continue
            self._record(outcome)
        if broken:
            self._reset_executor()
        return len(done)

    def _reset_executor(self) -> None:
        if self.executor is not None:
            self.executor.shutdown(wait=False, cancel_futures=True)
            self.executor = None
        for future, doc_id in list(self.in_flight.items()):
            self.in_flight.pop(future)
            self._worker_crashed(doc_id)

    def _worker_crashed(self, doc_id: str) -> None:
        doc = store_db.get_document(self.db, doc_id)
        if doc["attempts"] >= MAX_WORKER_CRASHES:
            self._quarantine(doc_id, f"the OCR worker crashed {doc['attempts']} times on this "
                             "document (out of memory, or a malformed page): rescan it, or "
                             "split it into smaller files.")
            return
        store_db.update_document(self.db, doc_id, self.actor, "document.ocr_interrupted",
                                 {"note": "OCR worker process died; queued again"},
                                 state=store_db.RECEIVED)
        self.enqueue(doc_id)

    def _requeue_after_environment_error(self, doc_id: str, exc: OSError) -> None:
        store_db.update_document(self.db, doc_id, self.actor, "document.ocr_interrupted",
                                 {"note": f"environment error: {exc.strerror}"},
                                 state=store_db.RECEIVED)

    def _record(self, outcome: OcrOutcome) -> None:
        doc = store_db.get_document(self.db, outcome.doc_id)
        if not outcome.ok:
            self._quarantine(outcome.doc_id, outcome.reason or "unknown problem")
            return
        confidences = [p["confidence"] for p in outcome.pages if p["confidence"] is not None]
        flagged = [p["page_no"] for p in outcome.pages if p["flagged"]]
        fields = {
            "state": store_db.PROCESSED, "media_type": outcome.media_type,
            "pages": len(outcome.pages), "output_pdf": outcome.output_pdf,
            "pdfa": 1 if outcome.pdfa else 0,
            "text_path": outcome.text_path,
            "ocr_conf_mean": round(sum(confidences) / len(confidences), 2) if confidences else None,
            "ocr_conf_min": round(min(confidences), 2) if confidences else None,
            "flagged_pages": ",".join(map(str, flagged)) or None,
            "quarantine_reason": None,
        }
        details = {
            "pages": len(outcome.pages), "seconds": round(outcome.seconds, 2),
            "pdfa": outcome.pdfa, "flagged_pages": flagged,
            "rotated_pages": {p["page_no"]: p["rotation"] for p in outcome.pages if p["rotation"]},
            "ocr_skipped_pages": [p["page_no"] for p in outcome.pages if p["ocr_skipped"]],
        }
        store_db.record_ocr_result(self.db, outcome.doc_id, self.actor, outcome.pages, fields,
                                   details)
        log.info("%s (%s): OCR done, %d page(s), mean confidence %s%s", doc["source_name"],
                 outcome.doc_id, len(outcome.pages), fields["ocr_conf_mean"],
                 f", flagged pages {flagged}" if flagged else "")
        state = self.file(outcome.doc_id)
        self.progress("processed", {"doc_id": outcome.doc_id, "pages": len(outcome.pages),
                                    "state": state})

    def file(self, doc_id: str) -> str:
        """Classify and apply retention; a filed record is handed to the store."""
        doc = store_db.get_document(self.db, doc_id)
        try:
            state = self.filer.file_document(doc_id, self.pipeline(doc["pipeline"]))
        except ConfigError as exc:
            log.error("%s (%s): not classified, the schedule has an error (fix it and "
                      "restart; the document waits): %s", doc["source_name"], doc_id, exc)
            return store_db.PROCESSED
        updated = store_db.get_document(self.db, doc_id)
        if state == store_db.FILED:
            log.info("%s (%s): filed as %s (confidence %.2f)", doc["source_name"], doc_id,
                     updated["record_class"], updated["class_confidence"])
            self.store.wake()
        else:
            log.info("%s (%s): needs review (proposed %s, confidence %.2f)",
                     doc["source_name"], doc_id, updated["proposed_class"],
                     updated["class_confidence"] or 0)
        return state

    # ---------------------------------------------------------------- quarantine

    def _quarantine(self, doc_id: str, reason: str) -> None:
        doc = store_db.get_document(self.db, doc_id)
        quarantine_dir = self.home.quarantine / doc_id
        quarantine_dir.mkdir(parents=True, exist_ok=True)
        target = quarantine_dir / doc["source_name"]
        work_dir = Path(doc["work_dir"]) if doc["work_dir"] else None
        if doc["original_path"] and Path(doc["original_path"]).exists():
            shutil.copy2(doc["original_path"], target)
            # Point the person at the copy they can open, not the work file about to go.
            reason = reason.replace(doc["original_path"], str(target))
        (quarantine_dir / "REASON.txt").write_text(
            f"{doc['source_name']} ({doc_id}, batch {doc['batch_id']})\n\n{reason}\n\n"
            f"After fixing the file here, run: s4 retry {doc_id}\n"
            f"Or scan the paper again and run: s4 rescan {doc_id} FILE --reason \"...\"\n",
            encoding="utf-8",
        )
        store_db.update_document(
            self.db, doc_id, self.actor, "document.quarantined", {"reason": reason},
            state=store_db.QUARANTINED, quarantine_reason=reason, quarantine_path=str(target),
            work_dir=None, original_path=None, output_pdf=None, text_path=None,
        )
        if work_dir is not None:
            shutil.rmtree(work_dir, ignore_errors=True)
        log.warning("%s (%s): quarantined: %s", doc["source_name"], doc_id, reason)
        self.progress("quarantined", {"doc_id": doc_id, "reason": reason})

    def retry(self, doc_id: str) -> None:
        """Bring a quarantined file back into the work area and queue it again."""
        doc = store_db.get_document(self.db, doc_id)
        if doc is None:
            raise KeyError(f"no document {doc_id}")
        if doc["state"] != store_db.QUARANTINED:
            raise ValueError(f"{doc_id} is {doc['state']}, not quarantined: nothing to retry")
        if not doc["quarantine_path"]:
            raise ValueError(f"{doc_id} was quarantined by the store (a different file already "
                             "has its name there); after sorting that out, run "
                             "`s4 store sync --retry-conflicts`")
        source = Path(doc["quarantine_path"])
        if not source.exists():
            raise ValueError(f"{doc_id}: the quarantined file {source} is missing; drop a new "
                             "scan into the inbox instead")
        from s4.ingest import _copy_durably

        work_dir = self.home.work / doc_id
        work_dir.mkdir(parents=True, exist_ok=True)
        target = work_dir / f"original{source.suffix.lower() or '.bin'}"
        sha256 = _copy_durably(source, target)
        store_db.update_document(
            self.db, doc_id, self.actor, "document.retried",
            {"sha256": sha256, "changed": sha256 != doc["sha256"]},
            state=store_db.RECEIVED, sha256=sha256, work_dir=str(work_dir),
            original_path=str(target), quarantine_reason=None, quarantine_path=None, attempts=0,
        )
        shutil.rmtree(source.parent, ignore_errors=True)
        self.enqueue(doc_id)

    def rescan(self, doc_id: str, path: Path, reason: str) -> str:
        """Register ``path`` as a new scan of ``doc_id``'s paper, which it supersedes.

        The old record keeps its history (and any stored copy); the new one takes its box
        position, its holds and its place on the line. Returns the new record's id.
        """
        doc = store_db.get_document(self.db, doc_id)
        if doc is None:
            raise KeyError(f"no document {doc_id}")
        if not reason.strip():
            raise ValueError("say why the paper was scanned again (--reason)")
        refusal = {
            store_db.DUPLICATE: f"it is a duplicate of {doc['duplicate_of']}; rescan "
                                f"{doc['duplicate_of']} instead",
            store_db.SUPERSEDED: f"it was already replaced by {doc['superseded_by']}; rescan "
                                 f"{doc['superseded_by']} instead",
            store_db.RECEIVED: "it is still waiting for OCR; let it finish first",
            store_db.OCR: "it is being OCRed; let it finish first",
        }.get(doc["state"])
        if doc["paper_status"] == "destroyed":
            refusal = f"its paper was destroyed (certificate {doc['certificate_id']})"
        if doc["record_class"] == "disposal-certificate" or doc["box"] is None:
            refusal = "it is not a scan of paper in a box (a disposal certificate S4 made)"
        if refusal:
            raise ValueError(f"{doc_id} cannot be rescanned: {refusal}")
        if not path.is_file():
            raise ValueError(f"{path}: no such file")
        in_inbox = path.resolve().is_relative_to(self.home.inbox.resolve())
        claim = self.claimer.claim(path, doc["batch_id"], doc["pipeline"], doc["box"],
                                   remove_source=in_inbox, rescan_of=doc, reason=reason.strip(),
                                   root=self.home.inbox if in_inbox else None)
        log.info("%s: re-scan of %s registered as %s", display_name(path.name), doc_id,
                 claim.doc_id)
        self.enqueue(claim.doc_id)
        return claim.doc_id

    # ---------------------------------------------------------------- run / watch

    def drain(self) -> None:
        """Run until nothing is queued or in flight (or a stop is requested)."""
        while (self.pending or self.in_flight) and not self.stop_requested.is_set():
            self.fill()
            self.collect(timeout=0.5)

    def finish(self) -> None:
        """OCR everything queued, then give the store time to take what was filed."""
        self.store.start()
        self.drain()
        self.store.drain(timeout=self.settings_store_wait())

    def run_batch(self, paths: Iterable[Path], batch_id: str, pipeline: str,
                  box: str | None) -> BatchReport:
        self.pipeline(pipeline)  # fail early on a bad pipeline file
        report = BatchReport(batch_id)
        files = list(iter_entries(paths, self.rules))
        report.files = len(files)
        if not files:
            return report  # nothing to do: no empty batch is recorded
        store_db.ensure_batch(self.db, batch_id, pipeline, box, "run", self.actor)
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
        report.finished = time.monotonic()
        return report

    def settings_store_wait(self) -> float:
        """How long `s4 run` waits at the end for uploads (the store may be down)."""
        return 300.0

    def watch(self, pipeline: str, poll: bool | None = None,
              ready: Callable[[], None] | None = None) -> None:
        ingest = self.settings.ingest
        self.pipeline(pipeline)
        self.home.inbox.mkdir(parents=True, exist_ok=True)
        self.store.start()
        self.recover()
        tracker = StabilityTracker(ingest.quiet_seconds)
        watcher = InboxWatcher(self.home.inbox, ingest.poll if poll is None else poll,
                               ingest.poll_interval_seconds)
        watcher.start()
        default_batch = f"inbox-{datetime.now():%Y%m%d}"
        next_rescan = 0.0
        log.info("watching %s (pipeline %s, %d OCR workers)", self.home.inbox, pipeline,
                 self.workers)
        if ready:
            ready()
        try:
            while not self.stop_requested.is_set():
                for path in watcher.drain():
                    if _not_a_folder(path) and not self._ignored(path):
                        tracker.touch(path)
                if time.monotonic() >= next_rescan:  # start-up scan, then periodic rescans
                    for path in iter_files([self.home.inbox], self.rules):
                        if path not in tracker.candidates:
                            tracker.touch(path)
                    self._forget_vanished_refusals()
                    next_rescan = time.monotonic() + ingest.rescan_seconds
                for path in tracker.ready():
                    tracker.forget(path)
                    batch = batch_for_inbox_path(self.home.inbox, path, default_batch)
                    store_db.ensure_batch(self.db, batch, pipeline, batch, "watch", self.actor)
                    self.claim(path, batch, pipeline, batch, remove_source=True,
                               root=self.home.inbox)
                    self._remove_empty_batch_folder(path.parent)
                self.fill()
                if self.in_flight:
                    self.collect(timeout=0.25)
                else:
                    self.stop_requested.wait(0.25)
        finally:
            watcher.stop()

    def _forget_vanished_refusals(self) -> None:
        """Entries refused earlier and since removed from the inbox drop off ``s4 status``."""
        for entry in store_db.not_taken_entries(self.db):
            try:
                os.lstat(bytes.fromhex(entry["path_hex"]))
            except FileNotFoundError:
                store_db.forget_not_taken(self.db, entry["path_hex"])
                self.unreadable = {p: r for p, r in self.unreadable.items()
                                   if _path_key(p) != entry["path_hex"]}
            except (OSError, ValueError):
                continue

    def _ignored(self, path: Path) -> bool:
        relative = path.relative_to(self.home.inbox) if path.is_relative_to(self.home.inbox) \
            else Path(path.name)
        return any(self.rules.ignored(Path(part)) for part in relative.parts)

    def _remove_empty_batch_folder(self, folder: Path) -> None:
        if folder != self.home.inbox and folder.is_relative_to(self.home.inbox):
            with contextlib.suppress(OSError):
                folder.rmdir()  # only succeeds when empty

    def request_stop(self) -> None:
        self.stop_requested.set()
        self.store.release()  # do not sit out the store wait after Ctrl-C / SIGTERM

    def close(self) -> None:
        """Stop OCR workers. Documents still in OCR stay resumable (recovered at next start)."""
        self.store.stop()
        if self.executor is not None:
            processes = list(getattr(self.executor, "_processes", {}).values())
            self.executor.shutdown(wait=False, cancel_futures=True)
            for process in processes:  # don't wait minutes for a long document to finish
                if process.is_alive():
                    process.terminate()
            for process in processes:
                process.join(timeout=10)
            self.executor = None
            forget_finished(registry_folder(self.home.root))
        self.db.conn.close()


def _path_key(path: Path) -> str:
    """The entry's path as it is on disk (bytes, as hex): display forms may collide."""
    return os.fsencode(str(path)).hex()


def _not_a_folder(path: Path) -> bool:
    """The entry exists and is not a folder (a link is not followed: links are candidates,
    refused and reported when claimed)."""
    try:
        return not stat.S_ISDIR(path.lstat().st_mode)
    except OSError:
        return False


def install_stop_handlers(line: Line) -> None:
    def handler(signum: int, frame: object) -> None:
        log.warning("received %s: stopping; unfinished documents resume at next start",
                    signal.Signals(signum).name)
        line.request_stop()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


__all__ = ["BatchReport", "ConfigError", "HomeLock", "Line", "S4Error", "install_stop_handlers"]
