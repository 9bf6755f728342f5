"""Splitting a scanned stack into records: one per document the OCR worker found.

The worker (``s4.ocr`` with ``s4.sheets``) returns a split plan; here, in the line's process
(the only database writer), each document's pages are taken into a PDF of its own and
registered as a record, and the stack is marked ``split``.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from s4 import db as store_db
from s4.ingest import sha256_file
from s4.ocr import OcrOutcome
from s4.sheets import custody_fields, dropped_text, extract_pages, page_ranges

if TYPE_CHECKING:
    from s4.context import HomeContext

log = logging.getLogger("s4.line")


def split_stack(ctx: HomeContext, stack: dict[str, Any], outcome: OcrOutcome,
                quarantine: Callable[[str, str], None], interrupted: Callable[[str, str], None],
                progress: Callable[[str, dict[str, Any]], None]) -> list[str]:
    """Make a record of each document the worker found in a stack; mark the stack split.

    Each record's pages are taken from the prepared stack PDF (active content already
    removed) into its own PDF, which is its original from here on; it starts as
    ``received`` in the stack's batch, in stack order. The stack keeps its file as
    received and its SHA-256. All records and the stack's new state are one transaction;
    returns the records waiting for OCR."""
    stack_id = stack["id"]
    stack_pdf = Path(outcome.stack_pdf or "")
    stem = Path(stack["source_name"]).stem
    made: list[Path] = []
    children: list[dict[str, Any]] = []
    try:
        with store_db.transaction(ctx.db):
            for planned in outcome.split or []:
                child_id = store_db.next_doc_id(ctx.db)
                ranges = page_ranges(planned["pages"])
                work_dir = ctx.home.work / child_id
                work_dir.mkdir(parents=True, exist_ok=True)
                made.append(work_dir)
                target = work_dir / "original.pdf"
                extract_pages(stack_pdf, planned["pages"], target)
                with target.open("rb") as handle:
                    os.fsync(handle.fileno())
                sha256 = sha256_file(target)
                fields: dict[str, Any] = {
                    "id": child_id, "batch_id": stack["batch_id"],
                    "box": planned["box"] or stack["box"],
                    "position": store_db.next_position(ctx.db, stack["batch_id"]),
                    "source_name": f"{stem} pages {ranges}.pdf",
                    "source_path": stack["source_path"],
                    "source_size": target.stat().st_size,
                    "source_mtime": stack["source_mtime"], "sha256": sha256,
                    "pipeline": stack["pipeline"], "inbox_cleared": 1,
                    "stack_id": stack_id, "source_file": stack["source_name"],
                    "source_sha256": stack["sha256"],
                    **custody_fields(planned["pages"], planned["dropped"], []),
                }
                original = store_db.find_original_by_sha256(ctx.db, sha256)
                if original is not None:  # the same pages again: a duplicate, as ever
                    shutil.rmtree(work_dir, ignore_errors=True)
                    fields |= {"state": store_db.DUPLICATE, "duplicate_of": original["id"]}
                else:
                    fields |= {"state": store_db.RECEIVED, "work_dir": str(work_dir),
                               "original_path": str(target)}
                store_db.insert_document(ctx.db, ctx.actor, fields)
                children.append(fields)
            details = {
                "documents": [c["id"] for c in children],
                "scan_pages": outcome.scan_page_count,
                "pages_of": {c["id"]: c["scan_pages"] for c in children},
                "capture_seconds": round(outcome.capture_seconds, 3),
            }
            if outcome.dropped_pages:
                details["dropped_pages"] = dropped_text(outcome.dropped_pages)
            boxes = {c["id"]: c["box"] for c in children if c["box"] != stack["box"]}
            if boxes:
                details["box_from_cover_sheet"] = boxes
            if outcome.removed:
                details["removed"] = outcome.removed
            store_db.update_document(
                ctx.db, stack_id, ctx.actor, "document.split", details,
                state=store_db.SPLIT, media_type=outcome.media_type,
                scan_pages=page_ranges(list(range(1, (outcome.scan_page_count or 0) + 1))),
                dropped_pages=json.dumps(outcome.dropped_pages) if outcome.dropped_pages
                else None,
                source_file=stack["source_name"], source_sha256=stack["sha256"])
    except OSError as exc:
        for folder in made:
            shutil.rmtree(folder, ignore_errors=True)
        from s4.errors import ENVIRONMENT_ERRNOS

        if exc.errno in ENVIRONMENT_ERRNOS:
            interrupted(stack_id, f"environment error while splitting: {exc.strerror}")
            raise
        quarantine(stack_id, f"the stack could not be split into its documents "
                        f"({exc}): retry it with `s4 retry {stack_id}`")
        return []
    except Exception as exc:  # pikepdf refusing a page of the prepared PDF
        for folder in made:
            shutil.rmtree(folder, ignore_errors=True)
        quarantine(stack_id, f"the stack could not be split into its documents "
                        f"({type(exc).__name__}: {exc}): rescan it, or process it under "
                        "a pipeline with capture.separation: file")
        return []
    stack_pdf.unlink(missing_ok=True)
    log.info("%s (%s): split into %d document(s): %s", stack["source_name"], stack_id,
             len(children), ", ".join(f"{c['id']} (scan pages {c['scan_pages']})"
                                      for c in children))
    progress("split", {"doc_id": stack_id, "documents": [c["id"] for c in children]})
    return [c["id"] for c in children if c["state"] == store_db.RECEIVED]

