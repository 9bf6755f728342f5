"""``s4 status``, ``s4 show`` and ``s4 export documents``: what the home holds."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Any

import click
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from s4 import db as store_db
from s4.cli.common import (
    EXIT_USAGE,
    Context,
    doc_id_or_fail,
    fail,
    gist,
    num,
    out,
)
from s4.events import readable_details
from s4.services.workers import WorkersView, ocr_workers

# --------------------------------------------------------------------------- status / show


@click.command()
@click.argument("batch", required=False)
@click.option("--workers", "show_workers", is_flag=True,
              help="The OCR workers alive now and the jobs waiting for them (executor celery).")
@click.pass_obj
def status(obj: Context, batch: str | None, show_workers: bool) -> None:
    """Batches with document counts per state; with BATCH (or a box id), its documents.

    \b
    Example:
      s4 status
      s4 status box-0042
      s4 status --workers
    """
    if show_workers:
        print_workers(ocr_workers(obj.require_home().settings().ocr))
        return
    database = obj.database(only_reads=True)
    if batch:
        if store_db.get_batch(database, batch) is not None:
            documents, title = store_db.documents(database, batch), f"Batch {batch}"
        else:  # operators think in boxes: a box id works too
            documents, title = store_db.documents_in_boxes(database, [batch]), f"Box {batch}"
        if not documents and title.startswith("Box"):
            fail(f"no batch or box {batch!r}; `s4 status` lists them", EXIT_USAGE)
        table = Table(title=title, title_justify="left")
        for column in ("doc", "pos", "file", "state", "pages", "conf", "note"):
            table.add_column(column, overflow="fold")
        for doc in documents:
            note = gist(doc["quarantine_reason"]) or (f"duplicate of {doc['duplicate_of']}"
                                                       if doc["duplicate_of"] else "")
            if doc["record_class"]:
                note = doc["record_class"]
            elif doc["state"] == store_db.NEEDS_REVIEW:
                note = f"review (proposed {doc['proposed_class'] or 'none'})"
            if doc["flagged_pages"]:
                note += f"; check pages {doc['flagged_pages']}"
            if doc["superseded_by"]:
                note = f"rescanned as {doc['superseded_by']}"
            elif doc["replaces"]:
                note = f"{note}; rescan of {doc['replaces']}".lstrip("; ")
            table.add_row(doc["id"], str(doc["position"] or ""), doc["source_name"], doc["state"],
                          str(doc["pages"] or ""), num(doc["ocr_conf_mean"]), note)
        out.print(table)
        return
    rows = store_db.batch_counts(database)
    states = sorted({r["state"] for r in rows if r["state"]})
    table = Table(title="Batches", title_justify="left")
    table.add_column("batch", overflow="fold")
    table.add_column("pipeline")
    table.add_column("docs", justify="right")
    table.add_column("pages", justify="right")
    for state in states:
        table.add_column(state, justify="right")
    summary: dict[str, dict[str, Any]] = {}
    for row in rows:
        entry = summary.setdefault(row["batch"], {"pipeline": row["pipeline"], "docs": 0,
                                                  "pages": 0})
        if row["state"]:
            entry[row["state"]] = row["n"]
            entry["docs"] += row["n"]
            entry["pages"] += row["pages"]
    for batch_id, entry in summary.items():
        table.add_row(batch_id, entry["pipeline"], str(entry["docs"]), str(entry["pages"]),
                      *(str(entry.get(state, 0)) for state in states))
    out.print(table if summary else "No batches yet.")
    refused = store_db.not_taken_entries(database)
    if refused:  # links, pipes and the like `s4 watch` found in the inbox and left alone
        entries = Table(title="Not taken from the inbox (left as they are)",
                        title_justify="left")
        entries.add_column("entry", overflow="fold")
        entries.add_column("reason", overflow="fold")
        entries.add_column("since", no_wrap=True)
        for entry in refused:
            entries.add_row(entry["path"], entry["reason"], entry["first_seen"])
        out.print(entries)


@click.command()
@click.argument("doc")
@click.pass_obj
def show(obj: Context, doc: str) -> None:
    """One document: where it came from, its pages and confidence, files, and history.

    \b
    Example:
      s4 show D000012
    """
    database = obj.database(only_reads=True)
    doc_id = doc_id_or_fail(doc)
    record = store_db.get_document(database, doc_id)
    if record is None:
        fail(f"no document {doc_id}", EXIT_USAGE)
    details = Table.grid(padding=(0, 2))
    details.add_column(style="bold")
    details.add_column(overflow="fold")
    for key in ("id", "batch_id", "box", "position", "source_name", "sha256", "media_type",
                "pipeline", "state", "quarantine_reason", "quarantine_path", "duplicate_of",
                "replaces", "superseded_by", "source_file", "source_sha256", "stack_id",
                "scan_pages", "capture_warning",
                "pages", "ocr_conf_mean", "ocr_conf_min", "flagged_pages", "output_pdf", "pdfa",
                "text_path", "record_class", "class_confidence", "decided_by", "document_date",
                "refs", "rule_id", "schedule_version", "retention_trigger", "trigger_date",
                "disposal_due", "disposal_action", "store_backend", "store_location",
                "verified_at", "last_verified_at", "verify_method", "qa_status", "qa_at",
                "paper_status",
                "certificate_id", "created_at", "updated_at"):
        if record.get(key) not in (None, ""):
            details.add_row(key, str(record[key]))
    from s4.retention import active_holds_for

    for hold in active_holds_for(database, record):
        details.add_row("hold", f"{hold['id']}: {hold['reason']}")
    for dropped in json.loads(record.get("dropped_pages") or "[]"):  # never in the record
        details.add_row("scan page left out", f"{dropped['page']}: {dropped['reason']}")
    for part in store_db.documents_of_stack(database, doc_id):
        details.add_row("document in this scan",
                        f"{part['id']}: scan pages {part['scan_pages']} ({part['state']})")
    out.print(details)
    pages = store_db.pages_of(database, doc_id)
    if pages:
        table = Table(title="Pages", title_justify="left")
        for column in ("page", "confidence", "words", "turned", "OCR", "flag", "starts"):
            table.add_column(column, overflow="ellipsis")
        for page in pages:
            table.add_row(str(page["page_no"]), num(page["confidence"]), str(page["words"]),
                          f"{page['rotation']}°" if page["rotation"] else "",
                          "skipped (has text)" if page["ocr_skipped"] else "yes",
                          ", ".join(f["check"] for f in page["flags"]) or
                          ("check" if page["flagged"] else ""),
                          " ".join(page["text"].split())[:40])
        out.print(table)
        for page in pages:  # the reasons in full: a table cell would cut them short
            for flag in page["flags"]:
                out.print(f"page {page['page_no']} {flag['check']}: {flag['reason']}",
                          highlight=False)
            if page["ocr_attempts"]:
                out.print(f"page {page['page_no']} read twice: "
                          f"{store_db.describe_attempts(page['ocr_attempts'])}", highlight=False)
    # One entry per paragraph: a details column squeezed beside four others is unreadable
    # in an 80-column terminal, and these details are what a person came to read.
    out.print("[bold]History (UTC)[/]")
    for event in store_db.events_for(database, doc_id):
        out.print(Text.assemble(
            (f"{event['seq']:>5}  {event['at'][:19].replace('T', ' ')}  ", "dim"),
            (event["action"], "bold"), f"  by {event['actor']}"))
        details = readable_details(event["details"])
        if details:
            out.print(Padding(Text(details), (0, 0, 0, 7)))


# --------------------------------------------------------------------------- export


@click.group()
def export() -> None:
    """Machine-readable exports for auditors and scripts (field names are stable).

    \b
    Example:
      s4 export documents --format csv -o documents.csv
      s4 export certificates --format jsonl
    """


@export.command("documents")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default="csv",
              show_default=True)
@click.option("--batch", help="Only this batch.")
@click.option("--with-text", is_flag=True,
              help="Add a `text` field: the OCR text, pages separated by form feeds.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to this file instead of standard output.")
@click.pass_obj
def export_documents(obj: Context, fmt: str, batch: str | None, with_text: bool,
                     output: Path | None) -> None:
    """One row per document.

    Fields: id, batch, source_name, sha256, pages, state, quarantine_reason,
    duplicate_of, ocr_conf_mean, ocr_conf_min, flagged_pages, pipeline, media_type,
    created_at, updated_at, output_pdf, pdfa (1 when the output is PDF/A-2b);
    record_class, class_confidence, decided_by (rules, rules+model, person),
    document_date, references, retention_trigger, trigger_date, disposal_due,
    disposal_action, rule_id, schedule_version, holds (active hold ids);
    store_backend, store_location, store_item_id, stored_at, verified_at,
    verify_method, stored_sha256; box, position, paper_status, certificate_id;
    replaces, superseded_by (links between a record and its re-scan); last_verified_at
    (the latest passing fixity check; verified_at is the first, which the paper waits on);
    qa_status, qa_at (a person's QA verdict and when: the paper waits from then too);
    source_name_raw (the file name's bytes in hex, only when they are not valid UTF-8;
    source_name then shows them escaped, e.g. b\\xff.pdf);
    page_flags (each flagged page with the check it failed and why);
    ocr_attempts (pages read twice: each reading's score and which was kept);
    and text with --with-text (pages separated by form feeds).

    \b
    Example:
      s4 export documents --format csv --batch box-0042 -o box-0042.csv
      s4 export documents --format jsonl --with-text | jq .
    """
    from s4.services import exports

    ctx = obj.context(only_reads=True)
    fields = exports.document_fields(with_text)
    try:
        stream = output.open("w", encoding="utf-8", newline="") if output else sys.stdout
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror}", EXIT_USAGE)
    try:
        writer = csv.DictWriter(stream, fieldnames=fields) if fmt == "csv" else None
        if writer:
            writer.writeheader()
        for record in exports.document_rows(ctx, batch, with_text):
            if writer:
                writer.writerow(exports.spreadsheet_safe(record))
            else:
                stream.write(json.dumps(record, ensure_ascii=False) + "\n")
    finally:
        if output:
            stream.close()
        ctx.close()




def print_workers(view: WorkersView) -> None:
    if view.executor != "celery":
        out.print('OCR runs on this machine ([ocr] executor = "local"): no separate workers.')
        return
    table = Table(title=f"OCR workers (broker {view.broker})", title_justify="left")
    for column in ("worker", "host", "concurrency", "jobs in hand", "pages/minute"):
        table.add_column(column, justify="left" if column in ("worker", "host") else "right")
    for row in view.workers:
        table.add_row(row.name, row.host, str(row.concurrency), str(row.jobs_in_hand),
                      f"{row.pages_per_minute:g}")
    out.print(table if view.workers else "No OCR workers are running: start `s4 worker` on "
              "an OCR machine.", highlight=False)
    out.print(f"Jobs waiting for a worker: {view.waiting}", highlight=False)
