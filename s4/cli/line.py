"""``s4 run``, ``s4 watch``, ``s4 retry`` and ``s4 rescan``: the commands that drive the line."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from s4 import db as store_db
from s4.cli.common import (
    EXIT_OK,
    EXIT_QUARANTINED,
    EXIT_USAGE,
    Context,
    console,
    doc_id_or_fail,
    fail,
    out,
)
from s4.errors import environment_error
from s4.ingest import FileChanged, SourceUnreadable
from s4.line import Line, install_stop_handlers
from s4.services import documents as document_services
from s4.sheets import dropped_text
from s4.watching import watch as watch_inbox

# --------------------------------------------------------------------------- run


def _open_line(obj: Context, progress=None, actor: str | None = None) -> Line:
    """The line on the home (errors end the command with their exit code: see S4Group)."""
    try:
        return Line(obj.context(actor), progress=progress)
    except OSError as exc:
        raise environment_error(exc, obj.home.root) from None


@contextmanager
def _running(obj: Context, line: Line) -> Iterator[None]:
    """Hold the home's lock while the line works. The line is closed whatever happens, so
    worker processes never outlive the command."""
    try:
        with line.ctx.lock():
            install_stop_handlers(line)
            yield
    finally:
        line.close()
        line.ctx.close()


@click.command()
@click.argument("paths", nargs=-1, required=True,
                type=click.Path(exists=True, path_type=Path))
@click.option("--pipeline", "pipeline_name", help="Pipeline (batch class) to use.")
@click.option("--batch", "batch_id", help="Batch id (default: run-YYYYMMDD-HHMMSS).")
@click.option("--box", help="Box of paper these scans came from (default: the batch id).")
@click.option("--expect-pages", type=click.IntRange(min=1), default=None,
              help="The pages the operator counted; a different total flags the batch.")
@click.pass_obj
def run(obj: Context, paths: tuple[Path, ...], pipeline_name: str | None, batch_id: str | None,
        box: str | None, expect_pages: int | None) -> None:
    """Process files and folders now, as one batch, then print a summary.

    The files are copied in; the originals are left where they are.

    \b
    Example:
      s4 run --batch box-0042 /scans/box-0042
      s4 run --pipeline default scan_0001.pdf scan_0002.tif
      s4 run --batch box-0043 --expect-pages 212 /scans/box-0043

    Exit status 0 when every document succeeded, 1 when some were quarantined (the batch
    still completes), 2 for usage or configuration errors, 3 for environment problems.
    """
    batch_id = batch_id or f"run-{datetime.now():%Y%m%d-%H%M%S}"
    progress = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[pages]} pages"), TimeElapsedColumn(), console=console,
        transient=True,
    )
    task = progress.add_task("documents", total=None, pages=0)
    counts = {"pages": 0}

    def on_progress(event: str, data: dict[str, Any]) -> None:
        if event == "files":
            progress.update(task, total=data["count"])
        elif event == "unreadable" or (event == "claimed" and data["state"] != store_db.RECEIVED):
            progress.advance(task)
        elif event in ("processed", "quarantined"):
            counts["pages"] += data.get("pages", 0)
            progress.update(task, advance=1, pages=counts["pages"])
        elif event == "split":  # one file became several documents
            total = progress.tasks[0].total or 0
            progress.update(task, total=total + len(data["documents"]) - 1)

    line = _open_line(obj, on_progress)
    pipeline_name = pipeline_name or line.ctx.settings.s4.default_pipeline
    with _running(obj, line), progress:
        report = line.run_batch(paths, batch_id, pipeline_name, box or batch_id,
                                expected_pages=expect_pages)
    if not report.files:
        fail(f"no scans found in {', '.join(str(p) for p in paths)} (hidden and temporary "
             "files are ignored); nothing was done", EXIT_USAGE)
    database = obj.database()
    docs, stacks = _documents_of_run(database, report.documents)
    sys.exit(_print_batch_summary(batch_id, docs, report.seconds, report.unreadable, stacks))


def _documents_of_run(database: Any, doc_ids: list[str]) -> tuple[list[dict], list[dict]]:
    """The records a run made: a stack split into documents counts as those documents."""
    docs, stacks = [], []
    for doc_id in doc_ids:
        doc = store_db.get_document(database, doc_id)
        if doc["state"] == store_db.SPLIT:
            stacks.append(doc)
            docs.extend(store_db.documents_of_stack(database, doc_id))
        else:
            docs.append(doc)
    return docs, stacks


def _print_batch_summary(batch_id: str, docs: list[dict], seconds: float,
                         unreadable: list[str], stacks: list[dict] | None = None) -> int:
    by_state: dict[str, list[dict]] = {}
    for doc in docs:
        by_state.setdefault(doc["state"], []).append(doc)
    processed = [d for d in docs if d["state"] in store_db.OCR_DONE_STATES]
    quarantined = by_state.get(store_db.QUARANTINED, [])
    pages = sum(doc["pages"] or 0 for doc in processed)
    rate = pages / (seconds / 60) if seconds > 0 else 0.0
    unfinished = sum(len(v) for k, v in by_state.items() if k in store_db.UNFINISHED_STATES)
    table = Table(title=f"Batch {batch_id}", title_justify="left", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value", justify="right")
    for label, value in (
        ("documents", len(docs)),
        ("  from scans split at sheets or blanks", sum(1 for d in docs if d.get("stack_id"))),
        ("pages OCRed", pages), ("succeeded (OCR)", len(processed)),
        ("  stored and verified", len(by_state.get(store_db.STORED, []))),
        ("  filed, waiting for the store", len(by_state.get(store_db.FILED, []))),
        ("  waiting for review (s4 review list)", len(by_state.get(store_db.NEEDS_REVIEW, []))),
        ("  not yet classified", len(by_state.get(store_db.PROCESSED, []))),
        ("duplicates (not processed again)", len(by_state.get(store_db.DUPLICATE, []))),
        ("quarantined", len(quarantined)),
        ("not taken (unreadable, links, pipes)", len(unreadable)),
        ("unfinished", unfinished),
        ("elapsed", f"{seconds:.1f} s"), ("pages/minute", f"{rate:.1f}"),
    ):
        table.add_row(label, str(value))
    out.print(table)
    not_pdfa = [d["id"] for d in processed if not d["pdfa"]]
    if not_pdfa:
        out.print(f"Not PDF/A (a plain PDF was kept; check before relying on it for "
                  f"preservation): {', '.join(not_pdfa)}", highlight=False)
    flagged = [d for d in processed if d["flagged_pages"]]
    if flagged:
        out.print(f"{len(flagged)} document(s) have flagged pages to check: "
                  + ", ".join(f"{d['id']} (pages {d['flagged_pages']})" for d in flagged),
                  highlight=False)
    for doc in docs:
        if doc.get("capture_warning"):
            out.print(f"{doc['id']} ({doc['source_name']}): {doc['capture_warning']}",
                      highlight=False)
    for stack in stacks or []:
        made = [d for d in docs if d.get("stack_id") == stack["id"]]
        dropped = dropped_text(json.loads(stack["dropped_pages"] or "[]")) or "none"
        out.print(f"{stack['source_name']} ({stack['id']}): {len(made)} document(s) "
                  + ", ".join(f"{d['id']} (scan pages {d['scan_pages']})" for d in made)
                  + f"; pages left out: {dropped}", highlight=False)
    for reason in unreadable:
        out.print(f"not taken: {reason}", highlight=False)
    if quarantined:
        reasons = Table(title="Quarantined", title_justify="left", expand=False)
        reasons.add_column("document", no_wrap=True)
        reasons.add_column("file", overflow="fold")
        reasons.add_column("reason", overflow="fold")
        for doc in quarantined:
            reasons.add_row(doc["id"], doc["source_name"], doc["quarantine_reason"])
        out.print(reasons)
        out.print("Fix the files in quarantine/ and run `s4 retry DOC`, or scan the paper "
                  "again and run `s4 rescan DOC FILE --reason …`.")
        return EXIT_QUARANTINED
    if unfinished:
        out.print("Stopped before every document finished; run the same command again to "
                  "finish them.")
        return EXIT_QUARANTINED
    return EXIT_QUARANTINED if unreadable else EXIT_OK


# --------------------------------------------------------------------------- watch


@click.command()
@click.option("--pipeline", "pipeline_name", help="Pipeline (batch class) for new files.")
@click.option("--poll", type=float, default=None, metavar="SECONDS",
              help="Poll the inbox every SECONDS instead of using file-system events "
                   "(needed on SMB/NFS shares).")
@click.pass_obj
def watch(obj: Context, pipeline_name: str | None, poll: float | None) -> None:
    """Watch the inbox and process every scan that lands in it, until stopped.

    A sub-folder of the inbox is a batch (and box) named after the folder. A file is taken
    only once it has stopped changing. Ctrl-C or SIGTERM stops cleanly; documents being
    OCRed are picked up again at the next start.

    \b
    Example:
      s4 watch
      s4 watch --pipeline default --poll 5     # inbox on a network share
    """
    line = _open_line(obj)
    if poll is not None:
        line.ctx.settings.ingest.poll_interval_seconds = poll
    pipeline_name = pipeline_name or line.ctx.settings.s4.default_pipeline
    with _running(obj, line):
        console.print(f"Watching {obj.home.inbox} — Ctrl-C to stop.", highlight=False)
        watch_inbox(line, pipeline_name, poll=True if poll is not None else None,
                    ready=lambda: logging.getLogger("s4").info("ready"))
    console.print("Stopped.")


# --------------------------------------------------------------------------- retry


@click.command()
@click.argument("docs", nargs=-1)
@click.option("--all-quarantined", is_flag=True, help="Retry every quarantined document.")
@click.pass_obj
def retry(obj: Context, docs: tuple[str, ...], all_quarantined: bool) -> None:
    """Process quarantined documents again (after fixing or replacing their file).

    The file in quarantine/DOC/ is taken as it is now, so a corrected copy saved there
    under the same name is what gets processed.

    \b
    Example:
      s4 retry D000012 D000013
      s4 retry --all-quarantined
    """
    if not docs and not all_quarantined:
        raise click.UsageError("name documents to retry, or use --all-quarantined")
    line = _open_line(obj)
    with _running(obj, line):
        line.recover()
        targets = document_services.quarantined(line.ctx) if all_quarantined else \
            [doc_id_or_fail(d) for d in docs]
        for doc_id in targets:
            outcome = document_services.retry(line.ctx, [doc_id])
            for refusal in outcome.refused:
                fail(refusal.reason, EXIT_USAGE)
            line.enqueue(doc_id)
        with console.status(f"Processing {len(targets)} document(s)…"):
            line.finish()
    database = obj.database()
    results = [store_db.get_document(database, doc_id) for doc_id in targets]
    for doc in results:
        note = doc["quarantine_reason"] or ""
        out.print(f"{doc['id']} {doc['source_name']}: {doc['state']} {note}", highlight=False)
    sys.exit(EXIT_QUARANTINED if any(d["state"] == store_db.QUARANTINED for d in results)
             else EXIT_OK)


# --------------------------------------------------------------------------- rescan


@click.command()
@click.argument("doc")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--reason", required=True, help="Why the paper was scanned again.")
@click.option("--as", "who", default=None, help="Who rescanned it (default: your login name).")
@click.pass_obj
def rescan(obj: Context, doc: str, file: Path, reason: str, who: str | None) -> None:
    """Replace a record with a new scan of the same paper, and process the new scan now.

    Use it when a document failed QA (unreadable pages, pages missing, wrong way up) and
    the paper was put through the scanner again. The new scan becomes a new record in the
    old one's box position; the old record is marked superseded by it (its history, and any
    copy already in the store, are kept). Holds on the old record bind the new one. A file
    with exactly the same content as a known record is refused: that is not a new scan.

    \b
    Example:
      s4 rescan D000012 ~/rescans/box-0042-p17.pdf --reason "page 2 unreadable"
    """
    doc_id = doc_id_or_fail(doc)
    line = _open_line(obj, actor=who)
    with _running(obj, line):
        line.recover()
        try:
            new_id = document_services.rescan(line.ctx, doc_id, file, reason)
            line.enqueue(new_id)
        except FileChanged:
            fail(f"{file} is still being written; try again when the scanner has finished",
                 EXIT_USAGE)
        except SourceUnreadable as exc:
            fail(str(exc), EXIT_USAGE)
        except (KeyError, ValueError) as exc:
            fail(str(exc).strip("'\""), EXIT_USAGE)
        with console.status(f"Processing {new_id}…"):
            line.finish()
    new = store_db.get_document(obj.database(), new_id)
    out.print(f"{doc_id} is superseded by {new_id} ({file.name}): {new['state']} "
              f"{new['quarantine_reason'] or ''}".rstrip(), highlight=False)
    sys.exit(EXIT_QUARANTINED if new["state"] == store_db.QUARANTINED else EXIT_OK)


