"""Services for documents on the line: retry a quarantined one, replace one by a re-scan.

They change the database and the work area only; the OCR itself is the line's job (``s4
retry`` and ``s4 rescan`` run the line afterwards; from the desk, the running ``s4 watch``
picks the documents up at its next rescan).
"""

from __future__ import annotations

import logging
import secrets
import shutil
from collections.abc import Sequence
from pathlib import Path

from s4 import db as store_db
from s4.context import HomeContext
from s4.errors import NotFound, UsageProblem
from s4.ingest import Claimer, _copy_durably, display_name
from s4.services.results import Outcome

log = logging.getLogger("s4.services")


def get(ctx: HomeContext, doc_id: str) -> dict:
    doc = store_db.get_document(ctx.db, doc_id)
    if doc is None:
        raise NotFound(f"no document {doc_id}")
    return doc


def _retry_refusal(doc: dict) -> str | None:
    if doc["state"] != store_db.QUARANTINED:
        return f"{doc['id']} is {doc['state']}, not quarantined: nothing to retry"
    if not doc["quarantine_path"]:
        return (f"{doc['id']} was quarantined by the store (a different file already has its "
                "name there); after sorting that out, run `s4 store sync --retry-conflicts`")
    if not Path(doc["quarantine_path"]).exists():
        return (f"{doc['id']}: the quarantined file {doc['quarantine_path']} is missing; drop "
                "a new scan into the inbox instead")
    return None


def retry(ctx: HomeContext, doc_ids: Sequence[str]) -> Outcome:
    """Bring quarantined files (as they are now, perhaps corrected) back to the line."""
    outcome = Outcome()
    for doc_id in doc_ids:
        doc = store_db.get_document(ctx.db, doc_id)
        refusal = f"no document {doc_id}" if doc is None else _retry_refusal(doc)
        if refusal:
            outcome.refuse(doc_id, refusal)
            continue
        source = Path(doc["quarantine_path"])
        work_dir = ctx.home.work / doc_id
        work_dir.mkdir(parents=True, exist_ok=True)
        target = work_dir / f"original{source.suffix.lower() or '.bin'}"
        sha256 = _copy_durably(source, target)
        store_db.update_document(
            ctx.db, doc_id, ctx.actor, "document.retried",
            {"sha256": sha256, "changed": sha256 != doc["sha256"]},
            state=store_db.RECEIVED, sha256=sha256, work_dir=str(work_dir),
            original_path=str(target), quarantine_reason=None, quarantine_path=None, attempts=0,
        )
        shutil.rmtree(source.parent, ignore_errors=True)
        outcome.changed.append(doc_id)
    return outcome


def quarantined(ctx: HomeContext) -> list[str]:
    return [d["id"] for d in store_db.documents_in_states(ctx.db, (store_db.QUARANTINED,))]


def _rescan_refusal(doc: dict) -> str | None:
    refusal = {
        store_db.DUPLICATE: f"it is a duplicate of {doc['duplicate_of']}; rescan "
                            f"{doc['duplicate_of']} instead",
        store_db.SUPERSEDED: f"it was already replaced by {doc['superseded_by']}; rescan "
                             f"{doc['superseded_by']} instead",
        store_db.RECEIVED: "it is still waiting for OCR; let it finish first",
        store_db.OCR: "it is being OCRed; let it finish first",
        store_db.SPLIT: "it is a scanned stack that was split into documents (`s4 show "
                        f"{doc['id']}` lists them); rescan the one document that needs it",
    }.get(doc["state"])
    if doc["paper_status"] == "destroyed":
        refusal = f"its paper was destroyed (certificate {doc['certificate_id']})"
    if doc["record_class"] == "disposal-certificate" or doc["box"] is None:
        refusal = "it is not a scan of paper in a box (a disposal certificate S4 made)"
    return refusal


def rescan(ctx: HomeContext, doc_id: str, path: Path, reason: str) -> str:
    """Register ``path`` as a new scan of ``doc_id``'s paper, which it supersedes.

    The old record keeps its history (and any stored copy); the new one takes its box
    position, its holds and its place on the line. Returns the new record's id. Raises
    ``FileChanged``/``SourceUnreadable`` for a file still being written or unreadable.
    """
    doc = get(ctx, doc_id)
    if not reason.strip():
        raise UsageProblem("say why the paper was scanned again (--reason)")
    refusal = _rescan_refusal(doc)
    if refusal:
        raise UsageProblem(f"{doc_id} cannot be rescanned: {refusal}")
    if not path.is_file():
        raise UsageProblem(f"{path}: no such file")
    inbox = ctx.home.inbox
    in_inbox = path.resolve().is_relative_to(inbox.resolve())
    try:
        claim = Claimer(ctx.home, ctx.db, ctx.actor).claim(
            path, doc["batch_id"], doc["pipeline"], doc["box"], remove_source=in_inbox,
            rescan_of=doc, reason=reason.strip(), root=inbox if in_inbox else None)
    except ValueError as exc:
        if type(exc) is not ValueError:  # FileChanged, SourceUnreadable, NotTaken: the caller's
            raise
        raise UsageProblem(str(exc)) from None
    log.info("%s: re-scan of %s registered as %s", display_name(path.name), doc_id,
             claim.doc_id)
    return claim.doc_id


#: The largest re-scan the desk accepts in one upload.
UPLOAD_LIMIT_BYTES = 200 * 1024 * 1024
UPLOAD_SUFFIXES = (".pdf", ".tif", ".tiff", ".png", ".jpg", ".jpeg")


def upload_area(ctx: HomeContext) -> Path:
    """Where uploaded re-scans wait while they are registered (outside the inbox, so the
    watcher never claims a half-written upload, and outside work/, which recovery owns)."""
    return ctx.home.root / "uploads"


def rescan_upload(ctx: HomeContext, doc_id: str, file_name: str, chunks, reason: str,
                  limit: int = UPLOAD_LIMIT_BYTES) -> str:
    """A re-scan sent through the desk: save it (at most ``limit`` bytes) and register it
    with ``rescan``. ``chunks`` yields the upload's bytes. The saved copy is removed once
    the line has its own copy; a refusal leaves nothing behind."""
    get(ctx, doc_id)
    if not reason.strip():
        raise UsageProblem("say why the paper was scanned again")
    suffix = Path(file_name or "").suffix.lower()
    if suffix not in UPLOAD_SUFFIXES:
        raise UsageProblem(f"choose a PDF, TIFF, PNG or JPEG scan (the file "
                           f"{display_name(file_name or '(none)')!r} is not one)")
    folder = upload_area(ctx) / secrets.token_hex(8)
    folder.mkdir(parents=True)
    target = folder / f"rescan-of-{doc_id}{suffix}"
    try:
        size = 0
        with target.open("wb") as handle:
            for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise UsageProblem(f"the file is larger than {limit // (1024 * 1024)} MB;"
                                       " split the scan or drop it into the inbox")
                handle.write(chunk)
        if size == 0:
            raise UsageProblem("the uploaded file is empty")
        return rescan(ctx, doc_id, target, reason)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
