"""Recording what happened to a document on the line: OCR results, filing, quarantine.

The OCR executor reports events; the ``Recorder`` turns each into database rows and audit
events (the line's main process is the only writer). Quarantine copies the file as received
to ``quarantine/<id>/`` with a REASON.txt a person can act on.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from s4 import db as store_db
from s4.config import ConfigError
from s4.context import HomeContext
from s4.ocr import OcrOutcome
from s4.sheets import custody_fields, dropped_text
from s4.splitting import split_stack

log = logging.getLogger("s4.line")

ProgressHook = Callable[[str, dict[str, Any]], None]


class Recorder:
    """Writes the line's outcomes for one home, as the line's acting person."""

    def __init__(self, ctx: HomeContext, progress: ProgressHook, on_filed: Callable[[], None]):
        self.ctx = ctx
        self.db = ctx.db
        self.progress = progress
        self.on_filed = on_filed
        from s4.filing import Filer  # imported here: filing pulls in scikit-learn lazily

        self.filer = Filer(ctx)

    # ---------------------------------------------------------------- OCR finished

    def ocr_done(self, outcome: OcrOutcome) -> list[str]:
        """Record an OCR outcome; returns new documents waiting for OCR (a stack's)."""
        doc = store_db.get_document(self.db, outcome.doc_id)
        if not outcome.ok:
            self.quarantine(outcome.doc_id, outcome.reason or "unknown problem")
            return []
        if outcome.split is not None:
            return self.split(doc, outcome)
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
        details: dict[str, Any] = {
            "pages": len(outcome.pages), "seconds": round(outcome.seconds, 2),
            "pdfa": outcome.pdfa, "flagged_pages": flagged,
            "rotated_pages": {p["page_no"]: p["rotation"] for p in outcome.pages if p["rotation"]},
            "ocr_skipped_pages": [p["page_no"] for p in outcome.pages if p["ocr_skipped"]],
        }
        page_flags = {p["page_no"]: [f"{f['check']}: {f['reason']}" for f in p["flags"]]
                      for p in outcome.pages if p.get("flags")}
        if page_flags:
            details["page_flags"] = page_flags
        if outcome.removed:  # what the archive copy no longer carries, for `s4 show`
            details["removed"] = outcome.removed
        if outcome.assumed_dpi_pages:
            details["assumed_dpi_pages"] = outcome.assumed_dpi_pages
        if outcome.scan_pages is not None:  # capture looked at the pages (s4.sheets)
            fields |= custody_fields(outcome.scan_pages, outcome.dropped_pages,
                                      outcome.capture_warnings)
            details |= {"scan_pages": fields["scan_pages"],
                        "capture_seconds": round(outcome.capture_seconds, 3)}
            if outcome.dropped_pages:
                details["dropped_pages"] = dropped_text(outcome.dropped_pages)
            if outcome.capture_warnings:
                details["warning"] = " ".join(outcome.capture_warnings)
            if outcome.box and outcome.box != doc["box"]:
                fields["box"] = outcome.box
                details["box_from_cover_sheet"] = outcome.box
        store_db.record_ocr_result(self.db, outcome.doc_id, self.ctx.actor, outcome.pages,
                                   fields, details)
        log.info("%s (%s): OCR done, %d page(s), mean confidence %s%s", doc["source_name"],
                 outcome.doc_id, len(outcome.pages), fields["ocr_conf_mean"],
                 f", flagged pages {flagged}" if flagged else "")
        for warning in outcome.capture_warnings:
            log.warning("%s (%s): %s", doc["source_name"], outcome.doc_id, warning)
        state = self.file(outcome.doc_id)
        self.progress("processed", {"doc_id": outcome.doc_id, "pages": len(outcome.pages),
                                    "state": state})
        return []

    # ---------------------------------------------------------------- a stack split

    def split(self, stack: dict[str, Any], outcome: OcrOutcome) -> list[str]:
        """A stack of several documents: a record of each (``s4.splitting``)."""
        return split_stack(self.ctx, stack, outcome, self.quarantine, self.interrupted,
                           self.progress)

    def file(self, doc_id: str) -> str:
        """Classify and apply retention; a filed record is handed to the store."""
        doc = store_db.get_document(self.db, doc_id)
        try:
            state = self.filer.file_document(doc_id, self.ctx.pipeline(doc["pipeline"]))
        except ConfigError as exc:
            log.error("%s (%s): not classified, the schedule has an error (fix it and "
                      "restart; the document waits): %s", doc["source_name"], doc_id, exc)
            return store_db.PROCESSED
        updated = store_db.get_document(self.db, doc_id)
        if state == store_db.FILED:
            log.info("%s (%s): filed as %s (confidence %.2f)", doc["source_name"], doc_id,
                     updated["record_class"], updated["class_confidence"])
            self.on_filed()
        else:
            log.info("%s (%s): needs review (proposed %s, confidence %.2f)",
                     doc["source_name"], doc_id, updated["proposed_class"],
                     updated["class_confidence"] or 0)
        return state

    # ---------------------------------------------------------------- OCR did not finish

    def worker_crashed(self, doc_id: str, detail: str) -> bool:
        """The worker died on this document. Returns True when it should be OCRed again;
        after the configured number of attempts it is quarantined instead."""
        doc = store_db.get_document(self.db, doc_id)
        limit = self.ctx.settings.ocr.max_attempts
        if doc["attempts"] >= limit:
            self.quarantine(doc_id, f"the OCR worker failed {doc['attempts']} times on this "
                            f"document ({detail}: out of memory, a malformed page, or a page "
                            "that never finishes): rescan it, or split it into smaller files.")
            return False
        store_db.update_document(self.db, doc_id, self.ctx.actor, "document.ocr_interrupted",
                                 {"note": f"{detail}; queued again", "attempt": doc["attempts"]},
                                 state=store_db.RECEIVED)
        return True

    def interrupted(self, doc_id: str, note: str) -> None:
        """OCR stopped for a reason that is not the document's (e.g. the disk filled up)."""
        store_db.update_document(self.db, doc_id, self.ctx.actor, "document.ocr_interrupted",
                                 {"note": note}, state=store_db.RECEIVED)

    def quarantine(self, doc_id: str, reason: str) -> None:
        doc = store_db.get_document(self.db, doc_id)
        home = self.ctx.home
        quarantine_dir = home.quarantine / doc_id
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
            self.db, doc_id, self.ctx.actor, "document.quarantined", {"reason": reason},
            state=store_db.QUARANTINED, quarantine_reason=reason, quarantine_path=str(target),
            work_dir=None, original_path=None, output_pdf=None, text_path=None,
        )
        if work_dir is not None:
            shutil.rmtree(work_dir, ignore_errors=True)
        log.warning("%s (%s): quarantined: %s", doc["source_name"], doc_id, reason)
        self.progress("quarantined", {"doc_id": doc_id, "reason": reason})

