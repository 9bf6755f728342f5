"""Store stage: put each filed record (PDF/A + metadata) in the configured store, verified.

Backends: ``local`` (default; ``s4.store.local``) and ``sharepoint`` (Microsoft Graph;
``s4.store.sharepoint``). A record in state ``filed`` is stored, then verified by hash, and
only then becomes ``stored``. A name already taken by a different file quarantines the record
with a reason (never overwrite); the same file already there is simply recorded as stored.

The pipeline hands records over through :class:`StoreWorker`; ``s4 store sync`` drains the
same queue by hand (:func:`sync_all`) and ``s4 store verify`` re-checks stored records
(:func:`verify_stored`).
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from s4 import db as store_db
from s4.config import Home, Settings
from s4.qa import draw_when_complete
from s4.store.base import (
    SHAREPOINT_LIMITS,
    Backend,
    CheckLine,
    Journal,
    Outcome,
    RecordProblem,
    StoreError,
    StoreSetupError,
    StoreUnavailable,
    Upload,
    VerifyResult,
    record_metadata,
    target_for,
)
from s4.store.quickxor import QuickXorHash

log = logging.getLogger("s4.store")

__all__ = [
    "CheckLine", "Outcome", "StoreError", "StoreSetupError", "StoreUnavailable", "StoreWorker",
    "SyncReport", "VerifyResult", "make_backend", "store_record", "sync_all", "verify_stored",
]


def make_backend(home: Home, settings: Settings,
                 stop: threading.Event | None = None) -> Backend:
    store = settings.store
    if store.backend == "sharepoint":
        from s4.store.sharepoint import SharePointBackend

        return SharePointBackend(store.sharepoint, home.root, stop)
    from s4.store.local import LocalBackend

    root = store.local.path or home.store
    return LocalBackend(root if root.is_absolute() else home.root / root)


def _template(settings: Settings) -> str:
    store = settings.store
    return store.sharepoint.folder if store.backend == "sharepoint" else store.local.folder


def _hash_file(path: Path) -> tuple[int, str, str]:
    sha, quick, size = hashlib.sha256(), QuickXorHash(), 0
    with path.open("rb") as handle:
        while block := handle.read(4 * 1024 * 1024):
            sha.update(block)
            quick.update(block)
            size += len(block)
    return size, sha.hexdigest(), quick.b64digest()


def store_record(db, backend: Backend, settings: Settings, doc: dict[str, Any],
                 actor: str) -> Outcome:
    """Store one filed record and record the result (stored, or quarantined as a conflict).

    Raises StoreUnavailable/StoreSetupError when the store cannot take it now; the record
    then stays ``filed`` and its journal says where to resume."""
    doc_id = doc["id"]
    journal = Journal(db, doc_id, backend.name).load()
    try:
        path = Path(doc["output_pdf"] or "")
        if not doc["output_pdf"] or not path.is_file():
            raise RecordProblem(
                f"the PDF/A to store ({doc['output_pdf'] or 'none recorded'}) is missing from "
                f"the work area; restore it, or rescan the paper, then run "
                f"`s4 store sync --retry-conflicts`")
        try:
            size, sha256, quickxor = _hash_file(path)
        except OSError as exc:  # this record's file, not the store: it must not block others
            raise RecordProblem(
                f"the PDF/A to store ({path}) cannot be read: {exc.strerror}; fix it, or "
                "rescan the paper, then run `s4 store sync --retry-conflicts`") from None
        if journal.state in ("uploading", "committed", "fields_set") and journal.get("target"):
            *folders, name = journal.get("target").split("/")  # resume where it was going
        else:
            limits = getattr(backend, "limits", None) or SHAREPOINT_LIMITS
            folders, name = target_for(doc, _template(settings),
                                       getattr(backend, "path_prefix", ""), limits)
        upload = Upload(doc=doc, path=path, size=size, sha256=sha256, quickxor=quickxor,
                        folder=folders, name=name,
                        metadata=record_metadata(doc, sha256, size, quickxor))
        outcome = backend.store(upload, journal)
    except RecordProblem as exc:
        outcome = Outcome("conflict", detail=str(exc))
    if outcome.kind == "conflict":
        store_db.store_mark_conflict(db, doc_id, actor, outcome.detail,
                                     {"backend": backend.name, "location": outcome.location})
        log.warning("%s: not stored: %s", doc_id, outcome.detail)
        return outcome
    store_db.store_mark_stored(
        db, doc_id, actor, backend=backend.name, location=outcome.location,
        item_id=outcome.item_id, sha256=sha256, verify_method=outcome.verify_method,
        details={"uploaded": outcome.kind == "uploaded", "size": size, "quickxor": quickxor},
    )
    log.info("%s: stored at %s (%s)", doc_id, outcome.location,
             "uploaded" if outcome.kind == "uploaded" else "already there, same content")
    return outcome


def refresh_metadata(db, backend: Backend, doc: dict[str, Any], actor: str) -> None:
    """Write a stored record's changed class/retention into the store's fields."""
    metadata = record_metadata(doc, doc["stored_sha256"], doc["stored_size"],
                               doc["stored_quickxor"])
    backend.update_metadata(doc, metadata)
    with store_db.transaction(db):
        now = store_db.get_document(db, doc["id"])
        if now is None or record_metadata(now, doc["stored_sha256"], doc["stored_size"],
                                          doc["stored_quickxor"]) != metadata:
            return  # decided again meanwhile: stays flagged, the next pass writes that
        store_db.update_document(
            db, doc["id"], actor, "document.metadata_updated",
            {key: metadata[key] for key in ("record_class", "disposal_due", "disposal_action",
                                            "document_date", "refs", "schedule_version",
                                            "superseded_by")},
            store_meta_stale=0)
    log.info("%s: fields in the store updated (class %s, disposal %s)", doc["id"],
             doc["record_class"], doc["disposal_due"] or doc["disposal_action"])


@dataclass
class SyncReport:
    stored: list[str] = field(default_factory=list)
    already_present: list[str] = field(default_factory=list)
    conflicts: list[tuple[str, str]] = field(default_factory=list)
    refreshed: list[str] = field(default_factory=list)  # fields rewritten after a decision
    problems: list[tuple[str, str]] = field(default_factory=list)  # records that could not be
    pending: int = 0
    unavailable: str = ""
    hint: str = ""

    @property
    def ok(self) -> bool:
        return not self.conflicts and not self.unavailable


def sync_all(home: Home, actor: str, settings: Settings | None = None,
             retry_conflicts: bool = False,
             on_record: Callable[[str, Outcome], None] | None = None) -> SyncReport:
    """Store every filed record now, in this thread. Stops at the first store outage."""
    settings = settings or home.settings()
    db = store_db.connect(home.database)
    store_db.migrate(db)
    report = SyncReport()
    backend = make_backend(home, settings)
    try:
        if retry_conflicts:
            for doc in store_db.store_conflicts(db):
                store_db.store_requeue_conflict(db, doc["id"], actor)
        for doc in store_db.store_pending(db):
            try:
                outcome = store_record(db, backend, settings, doc, actor)
            except StoreSetupError as exc:
                report.unavailable, report.hint = str(exc), exc.hint
                break
            except StoreError as exc:
                store_db.store_note_failure(db, doc["id"], str(exc))
                report.unavailable = str(exc)
                break
            {"uploaded": report.stored, "already_present": report.already_present}.get(
                outcome.kind, []).append(doc["id"])
            if outcome.kind != "conflict":
                draw_when_complete(home, db, [doc["id"]], actor)
            if outcome.kind == "conflict":
                report.conflicts.append((doc["id"], outcome.detail))
            if on_record:
                on_record(doc["id"], outcome)
        if not report.unavailable:
            for doc in store_db.store_stale_metadata(db, backend.name):
                try:
                    refresh_metadata(db, backend, doc, actor)
                except RecordProblem as exc:  # this record only: say so and go on
                    store_db.store_note_failure(db, doc["id"], str(exc))
                    report.problems.append((doc["id"], str(exc)))
                    continue
                except StoreError as exc:
                    report.unavailable = str(exc)
                    break
                report.refreshed.append(doc["id"])
        report.pending = store_db.store_pending_count(db)
    finally:
        backend.close()
        db.conn.close()
    return report


def verify_stored(home: Home, actor: str, deep: bool = False, doc_ids: list[str] | None = None,
                  settings: Settings | None = None,
                  ) -> list[tuple[dict[str, Any], VerifyResult]]:
    """Re-check stored records against the store (a fixity check); records each result."""
    settings = settings or home.settings()
    db = store_db.connect(home.database)
    store_db.migrate(db)
    backend = make_backend(home, settings)
    results = []
    try:
        for doc in store_db.stored_documents(db, doc_ids):
            if doc["store_backend"] != backend.name:
                results.append((doc, VerifyResult(
                    False, "skipped", f"stored in {doc['store_backend']}, but the configured "
                                      f"store is {backend.name}")))
                continue
            journal = Journal(db, doc["id"], backend.name).load()
            result = backend.verify(doc, journal, deep)
            store_db.store_record_verification(db, doc["id"], actor, result.ok, result.method,
                                               result.detail)
            results.append((doc, result))
    finally:
        backend.close()
        db.conn.close()
    return results


class StoreWorker:
    """Uploads filed records in the background so OCR never waits for the store.

    Used by the pipeline's ``Line``::

        worker = StoreWorker(home, actor)
        worker.start()          # when processing begins: uploads whatever is pending
        worker.wake()           # whenever a document becomes ``filed``
        worker.drain(timeout)   # at the end of ``s4 run``: True once nothing is pending
        worker.stop()           # on close; an unfinished upload resumes from its journal

    The worker thread has its own database connection. While the store is unreachable (or
    set up wrongly) it backs off — exponentially, with jitter, up to
    ``[store] retry_max_seconds`` — and tries again; records wait in state ``filed`` and the
    queue drains when the store returns. It also looks for filed records every
    ``poll_seconds``, so records filed by another process are not left behind.
    """

    def __init__(self, home: Home, actor: str, poll_seconds: float = 5.0,
                 settings: Settings | None = None):
        self.home = home
        self.actor = actor
        self.poll_seconds = poll_seconds
        self.settings = settings
        self.last_problem = ""
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._state = threading.Condition()
        self._passes_started = 0
        self._idle_pass = 0
        self.failures = 0  # consecutive passes that found the store unavailable
        self._released = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Begin uploading whatever is pending."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="s4-store", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """A record was filed: look for pending work now rather than at the next tick."""
        self._wake.set()

    def drain(self, timeout: float) -> bool:
        """Wait until nothing filed is waiting for the store (True), or give up (False: the
        timeout passed, the store failed three passes running, or a stop was requested); the
        records then stay ``filed`` and resume later."""
        self.start()
        with self._state:  # (a release stays set: a Ctrl-C during OCR counts here too)
            target = self._passes_started + 1  # a pass that starts after this call
            self._wake.set()
            deadline = time.monotonic() + timeout
            while self._idle_pass < target:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.failures >= 3 or self._released.is_set():
                    return False
                # Woken by the worker; the short cap notices a release from a signal handler.
                self._state.wait(min(remaining, 0.5))
            return True

    def release(self) -> None:
        """Stop waiting in ``drain`` now (Ctrl-C / SIGTERM); safe from a signal handler."""
        self._released.set()

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the current step and stop; unfinished uploads resume from their journal."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        try:
            settings = self.settings or self.home.settings()
        except Exception as exc:  # the pipeline validated s4.toml already; be safe anyway
            self.last_problem = f"cannot read the store settings: {exc}"
            log.error("store worker not started: %s", self.last_problem)
            return
        db = store_db.connect(self.home.database)
        store_db.migrate(db)
        backend: Backend | None = None
        failures = 0
        skip: dict[str, int] = {}  # records that failed unexpectedly: attempts so far
        try:
            while not self._stop.is_set():
                with self._state:
                    self._passes_started += 1
                    this_pass = self._passes_started
                    self._wake.clear()
                try:
                    if backend is None:
                        backend = make_backend(self.home, settings, self._stop)
                    pending = [d for d in store_db.store_pending(db) if skip.get(d["id"], 0) < 3]
                    for doc in pending:
                        if self._stop.is_set():
                            break
                        try:
                            if store_record(db, backend, settings, doc,
                                            self.actor).kind != "conflict":
                                draw_when_complete(self.home, db, [doc["id"]], self.actor)
                        except StoreError:
                            raise
                        except Exception as exc:  # a bug must not stop the other records
                            log.exception("%s: unexpected error while storing", doc["id"])
                            store_db.store_note_failure(db, doc["id"],
                                                        f"{type(exc).__name__}: {exc}")
                            skip[doc["id"]] = skip.get(doc["id"], 0) + 1
                    for doc in store_db.store_stale_metadata(db, backend.name):
                        if self._stop.is_set() or skip.get(doc["id"], 0) >= 3:
                            continue
                        try:
                            refresh_metadata(db, backend, doc, self.actor)
                        except RecordProblem as exc:
                            log.warning("%s: fields not updated: %s", doc["id"], exc)
                            store_db.store_note_failure(db, doc["id"], str(exc))
                            skip[doc["id"]] = 3  # not again until the next run
                        except StoreError:
                            raise
                        except Exception:  # a bug must not stop the other records
                            log.exception("%s: unexpected error updating its fields", doc["id"])
                            skip[doc["id"]] = skip.get(doc["id"], 0) + 1
                    failures = self.failures = 0
                    self.last_problem = ""
                except StoreError as exc:
                    if self._stop.is_set():
                        break
                    failures += 1
                    with self._state:
                        self.failures = failures
                        self._state.notify_all()
                    delay = min(settings.store.retry_max_seconds, 2.0 ** min(failures, 16))
                    delay = random.uniform(delay / 2, delay)  # jitter, not crypto
                    hint = getattr(exc, "hint", "")
                    if str(exc) != self.last_problem:
                        log.warning("store unavailable, records wait and are retried: %s%s",
                                    exc, f" — {hint}" if hint else "")
                    self.last_problem = str(exc)
                    self._stop.wait(delay)
                    continue
                if not pending:
                    with self._state:
                        self._idle_pass = this_pass
                        self._state.notify_all()
                    self._wake.wait(self.poll_seconds)
        finally:
            if backend is not None:
                backend.close()
            db.conn.close()
