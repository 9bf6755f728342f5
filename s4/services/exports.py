"""Machine-readable exports: one dict per document or certificate, field names stable.

The interfaces write them out (CSV, JSONL, a download); the rows are shaped here once.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from s4 import db as store_db
from s4.context import HomeContext
from s4.retention import active_holds_for
from s4.sheets import dropped_text

DOCUMENT_FIELDS = [
    "id", "batch", "source_name", "sha256", "pages", "state", "quarantine_reason",
    "duplicate_of", "ocr_conf_mean", "ocr_conf_min", "flagged_pages", "pipeline", "media_type",
    "created_at", "updated_at", "output_pdf", "pdfa",
    # classification and retention
    "record_class", "class_confidence", "decided_by", "document_date", "references",
    "retention_trigger", "trigger_date", "disposal_due", "disposal_action", "rule_id",
    "schedule_version", "holds",
    # store
    "store_backend", "store_location", "store_item_id", "stored_at", "verified_at",
    "verify_method", "stored_sha256",
    # paper
    "box", "position", "paper_status", "certificate_id",
    # re-scans (s4 rescan)
    "replaces", "superseded_by", "last_verified_at",
    # a person's QA verdict, and when (the paper waits from then too)
    "qa_status", "qa_at",
    # the file name's bytes (hex) when they are not UTF-8; source_name shows them escaped
    "source_name_raw",
    # why each flagged page needs a check ("2: resolution: 72 dpi, …; 3: low_confidence: …")
    "page_flags",
    # chain of custody of a record made from (part of) a scanner's file (issue 13): the file
    # as received, the stack record it was split from, the scan pages it holds, and the
    # scan pages left out of it with why ("1: separator sheet; 4: blank page")
    "source_file", "source_sha256", "stack_id", "scan_pages", "dropped_pages",
    "capture_warning",
    # pages read twice (first reading poor): each reading's score and which one was kept
    "ocr_attempts",
]

CERTIFICATE_FIELDS = [
    "id", "boxes", "destroyed_at", "operator", "witness", "method", "contractor",
    "contractor_cert", "documents", "pages", "seal_seq", "seal_hash", "body_sha256",
    "json_sha256", "pdf_sha256", "json_location", "pdf_location",
]


# A cell starting with one of these is run as a formula by Excel, LibreOffice and Sheets
# (`=cmd|' /C calc'!A0`, `=HYPERLINK(...)`): a file name, OCR text, a quarantine reason or a
# witness typed by anyone would then act in the reader's spreadsheet.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(row: dict[str, Any]) -> dict[str, Any]:
    """The row for a CSV file: text a spreadsheet would run as a formula gets a leading
    apostrophe, so it shows as the text it is (nothing else is changed; JSONL needs none)."""
    return {key: "'" + value if isinstance(value, str) and value.startswith(FORMULA_STARTS)
            else value for key, value in row.items()}


def document_fields(with_text: bool = False) -> list[str]:
    return DOCUMENT_FIELDS + (["text"] if with_text else [])


def document_rows(ctx: HomeContext, batch: str | None = None,
                  with_text: bool = False) -> Iterator[dict[str, Any]]:
    """One dict per document (all, or one batch), with exactly ``document_fields``."""
    fields = document_fields(with_text)
    for row in store_db.export_rows(ctx.db, batch, with_text):
        row["batch"] = row["batch_id"]
        row["references"] = " ".join(json.loads(row["refs"] or "[]"))
        row["holds"] = " ".join(h["id"] for h in active_holds_for(ctx.db, row))
        row["source_file"] = row["source_file"] or row["source_name"]
        row["source_sha256"] = row["source_sha256"] or row["sha256"]
        row["dropped_pages"] = dropped_text(json.loads(row["dropped_pages"] or "[]")) or None
        if row["state"] == store_db.SUPERSEDED:
            row["paper_status"] = "superseded"  # the paper is represented by superseded_by
        elif row["box"] and row["state"] not in (store_db.QUARANTINED, store_db.DUPLICATE):
            row["paper_status"] = row["paper_status"] or "in_box"
        yield {name: row.get(name) for name in fields}


def certificate_rows(ctx: HomeContext) -> Iterator[dict[str, Any]]:
    """One dict per disposal certificate, with exactly ``CERTIFICATE_FIELDS``."""
    for record in store_db.destructions(ctx.db):
        record["boxes"] = ", ".join(json.loads(record["boxes"]))
        for kind in ("json", "pdf"):  # where the stored copy (a record of its own) lives
            doc = store_db.get_document(ctx.db, record[f"{kind}_doc"]) \
                if record[f"{kind}_doc"] else None
            record[f"{kind}_location"] = doc["store_location"] if doc else None
        yield {name: record.get(name) for name in CERTIFICATE_FIELDS}
