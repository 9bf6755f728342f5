"""The ``s4`` command line. Every command has ``--help`` with an example.

Exit status (scripts may rely on these):

\b
  0  everything asked for succeeded
  1  the work finished, but some documents were quarantined (see the summary)
  2  usage, settings, pipeline or schedule error (the message names file, line and field)
  3  environment problem: disk full, read-only or unwritable folder, home in use
"""

from __future__ import annotations

import csv
import errno
import getpass
import json
import logging
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.logging import RichHandler
from rich.padding import Padding
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from s4 import __version__
from s4 import db as store_db
from s4.config import ConfigError, Home
from s4.context import HomeContext, check_home_location
from s4.errors import ExitCode, S4Error, environment_error
from s4.events import readable_details
from s4.home import initialise
from s4.ingest import FileChanged, SourceUnreadable
from s4.line import Line, install_stop_handlers
from s4.services import documents as document_services
from s4.watching import watch as watch_inbox

# The documented exit codes (s4.errors.ExitCode), by the names this module has always used.
EXIT_OK, EXIT_QUARANTINED = ExitCode.OK, ExitCode.PROBLEMS
EXIT_USAGE, EXIT_ENVIRONMENT = ExitCode.USAGE, ExitCode.ENVIRONMENT

console = Console(stderr=True)
out = Console()


def setup_logging(home: Home | None, verbose: bool) -> None:
    root = logging.getLogger("s4")
    root.handlers.clear()
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    level = logging.DEBUG if verbose else logging.WARNING
    if console.is_terminal:
        handler: logging.Handler = RichHandler(console=console, show_path=False, markup=False)
    else:  # a service log or a pipe: one unwrapped line per record, easy to grep
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    handler.setLevel(level)
    root.addHandler(handler)
    if home is not None and (home.root / "logs").is_dir():
        try:
            file_handler = logging.FileHandler(home.root / "logs" / "s4.log", encoding="utf-8")
        except OSError:  # a read-only home: reading commands still work, without a log file
            return
        file_handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        file_handler.setLevel(logging.INFO)
        root.addHandler(file_handler)


class Context:
    def __init__(self, home: Home, verbose: bool):
        self.home = home
        self.verbose = verbose
        self.read_only_noted = False

    def require_home(self) -> Home:
        if not self.home.exists():
            raise click.UsageError(
                f"{self.home.root} is not an S4 home. "
                f"Create it with: s4 --home {self.home.root} init"
            )
        return self.home

    def require_writable(self) -> Home:
        """Exit 3 with a plain message when the home's database cannot be written."""
        home = self.require_home()
        blocked = store_db.unwritable_parts(home.database)
        if blocked:
            fail(read_only_message(blocked), EXIT_ENVIRONMENT)
        return home

    def database(self, only_reads: bool = False, migrate: bool = True):
        """The home's database. A command that ``only_reads`` still works on a home S4 may
        not write (read-only file system or permissions): it is opened read-only as it is.
        Any other command against such a home exits 3 saying which file is read-only."""
        home = self.require_home()
        blocked = store_db.unwritable_parts(home.database)
        if blocked and not only_reads:
            fail(read_only_message(blocked), EXIT_ENVIRONMENT)
        if blocked:
            return self._read_only_database(home)
        database = store_db.connect(home.database)
        if migrate:
            store_db.migrate(database)
            try:
                check_home_location(home, database)
            except S4Error as exc:
                fail(str(exc), EXIT_ENVIRONMENT)
        return database

    def context(self, actor: str | None = None, only_reads: bool = False,
                migrate: bool = True) -> HomeContext:
        """The opened home for a service, with this command line's exits (2 settings, 3
        read-only or moved home). A read-only home opens as it is for ``only_reads``."""
        database = self.database(only_reads, migrate)
        try:
            settings = self.home.settings()
        except ConfigError:
            database.conn.close()
            raise
        return HomeContext(self.home, database, settings, actor or store_db.default_actor())

    def _read_only_database(self, home: Home):
        database = store_db.connect(home.database, read_only=True)
        gaps = store_db.schema_gaps(database)
        if gaps:
            fail(f"{home.database} was written by an older S4 and must be upgraded before it "
                 f"can be read (missing: {', '.join(gaps[:5])}), which needs write access: "
                 "run any S4 command once on a writable copy at the same path. Nothing was "
                 "changed.", EXIT_ENVIRONMENT)
        recorded, here = store_db.recorded_home_root(database), str(home.root.resolve())
        if recorded not in (None, here):
            fail(f"{home.database} belongs to the S4 home at {recorded}, not {here}: an S4 "
                 f"home keeps absolute paths, so it cannot be used after being moved or "
                 f"copied. Open it at {recorded}. Nothing was changed.", EXIT_ENVIRONMENT)
        if not self.read_only_noted:
            self.read_only_noted = True
            console.print(f"note: {home.root} is read-only for S4; showing it as it is "
                          "(nothing can be changed until it is writable again).",
                          highlight=False, soft_wrap=True)
        return database


def read_only_message(blocked: list[str]) -> str:
    """Which part of the home is read-only, and what to do about it."""
    return (f"the S4 home cannot be written: {'; '.join(blocked)} "
            f"{'is' if len(blocked) == 1 else 'are'} read-only for user {getpass.getuser()}. "
            "Make them writable by the S4 user (the database's -wal and -shm files too: "
            "e.g. `chmod u+w s4.db s4.db-wal s4.db-shm` and the folder, or `chown`), or "
            "remount the file system read-write, then run again. Commands that only read "
            "(status, show, export, audit, review list/show, retention due, hold list, "
            "paper status) still work. Nothing was changed.")


def fail(message: str, code: int) -> None:
    # Plain text, never wrapped: scripts grep these lines and editors jump to file:line.
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


_ENVIRONMENT_ERRNOS = {errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EDQUOT}
_ENVIRONMENT_SQLITE = ("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_FULL", "SQLITE_IOERR",
                       "SQLITE_PERM")


class S4Group(click.Group):
    """The command group: an environment failure that escapes a command (a read-only or
    full disk met half-way) ends with exit 3 and a plain message, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except S4Error as exc:  # ConfigError too: each carries its documented exit code
            fail(str(exc), exc.exit_code)
        except sqlite3.OperationalError as exc:
            name = getattr(exc, "sqlite_errorname", "") or ""
            if not name.startswith(_ENVIRONMENT_SQLITE):
                raise
            home = ctx.obj.home if isinstance(ctx.obj, Context) else None
            blocked = store_db.unwritable_parts(home.database) if home else []
            if blocked or name.startswith("SQLITE_READONLY"):
                fail(read_only_message(blocked or [str(home.database if home else "s4.db")]),
                     EXIT_ENVIRONMENT)
            fail(f"the S4 database {home.database if home else ''} cannot be used: {exc} "
                 f"({name}). Nothing was lost; fix it and run again.", EXIT_ENVIRONMENT)
        except OSError as exc:
            if exc.errno not in _ENVIRONMENT_ERRNOS:
                raise
            where = exc.filename or (ctx.obj.home.root if isinstance(ctx.obj, Context) else "")
            fail(str(environment_error(exc, where)), EXIT_ENVIRONMENT)


@click.group(cls=S4Group,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--home", "home_path", envvar="S4_HOME", type=click.Path(file_okay=False),
              help="S4 home directory (default: $S4_HOME, else ~/s4).")
@click.option("-v", "--verbose", is_flag=True, help="Log every step, not just problems.")
@click.version_option(__version__, prog_name="s4")
@click.pass_context
def cli(ctx: click.Context, home_path: str | None, verbose: bool) -> None:
    """S4 — Scan it, Scrap it, Store it.

    Turns scanned council records into searchable PDF/A, files them under the retention
    schedule, and keeps an audit trail from scan to the paper's destruction.

    \b
    Example:
      s4 --home /srv/s4 init
      s4 --home /srv/s4 run --batch box-0042 /scans/box-0042
      s4 --home /srv/s4 status

    \b
    Exit status: 0 success; 1 some documents quarantined; 2 usage or configuration
    error; 3 environment problem (disk full, unwritable folder, home in use).
    """
    home = Home.locate(home_path)
    setup_logging(home if home.exists() else None, verbose)
    ctx.obj = Context(home, verbose)


# --------------------------------------------------------------------------- init


@cli.command()
@click.pass_obj
def init(obj: Context) -> None:
    """Create the S4 home: settings, folders, database, editable pipelines and schedules.

    Safe to run again: it only adds what is missing and never overwrites an edited file.

    \b
    Example:
      s4 --home /srv/s4 init
    """
    try:
        created = initialise(obj.home)
    except OSError as exc:
        fail(f"cannot create {obj.home.root}: {exc.strerror}", EXIT_ENVIRONMENT)
    if created:
        out.print(f"Initialised S4 home [bold]{obj.home.root}[/]")
        for item in created:
            out.print(f"  created {item}", highlight=False)
    else:
        out.print(f"S4 home {obj.home.root} is already complete; nothing changed.")
    out.print(f"Next: drop scans into {obj.home.inbox} and run `s4 watch`, or `s4 run PATH`.",
              highlight=False)


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


@cli.command()
@click.argument("paths", nargs=-1, required=True,
                type=click.Path(exists=True, path_type=Path))
@click.option("--pipeline", "pipeline_name", help="Pipeline (batch class) to use.")
@click.option("--batch", "batch_id", help="Batch id (default: run-YYYYMMDD-HHMMSS).")
@click.option("--box", help="Box of paper these scans came from (default: the batch id).")
@click.pass_obj
def run(obj: Context, paths: tuple[Path, ...], pipeline_name: str | None, batch_id: str | None,
        box: str | None) -> None:
    """Process files and folders now, as one batch, then print a summary.

    The files are copied in; the originals are left where they are.

    \b
    Example:
      s4 run --batch box-0042 /scans/box-0042
      s4 run --pipeline default scan_0001.pdf scan_0002.tif

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

    line = _open_line(obj, on_progress)
    pipeline_name = pipeline_name or line.ctx.settings.s4.default_pipeline
    with _running(obj, line), progress:
        report = line.run_batch(paths, batch_id, pipeline_name, box or batch_id)
    if not report.files:
        fail(f"no scans found in {', '.join(str(p) for p in paths)} (hidden and temporary "
             "files are ignored); nothing was done", EXIT_USAGE)
    database = obj.database()
    docs = [store_db.get_document(database, doc_id) for doc_id in report.documents]
    sys.exit(_print_batch_summary(batch_id, docs, report.seconds, report.unreadable))


def _print_batch_summary(batch_id: str, docs: list[dict], seconds: float,
                         unreadable: list[str]) -> int:
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
        ("documents", len(docs)), ("pages OCRed", pages), ("succeeded (OCR)", len(processed)),
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


@cli.command()
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


# --------------------------------------------------------------------------- status / show


@cli.command()
@click.argument("batch", required=False)
@click.pass_obj
def status(obj: Context, batch: str | None) -> None:
    """Batches with document counts per state; with BATCH (or a box id), its documents.

    \b
    Example:
      s4 status
      s4 status box-0042
    """
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
            note = _gist(doc["quarantine_reason"]) or (f"duplicate of {doc['duplicate_of']}"
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
                          str(doc["pages"] or ""), _num(doc["ocr_conf_mean"]), note)
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


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.0f}"


def _gist(reason: str | None, limit: int = 60) -> str:
    """The start of a long reason, for a table cell; `s4 show DOC` has the whole of it."""
    if not reason or len(reason) <= limit:
        return reason or ""
    cut = reason[:limit].rsplit(" ", 1)[0].rstrip(" ,;:(")
    return f"{cut}… (s4 show)"


def _doc_id_or_fail(text: str) -> str:
    try:
        return store_db.normalise_doc_id(text)
    except ValueError as exc:
        fail(str(exc), EXIT_USAGE)


@cli.command()
@click.argument("doc")
@click.pass_obj
def show(obj: Context, doc: str) -> None:
    """One document: where it came from, its pages and confidence, files, and history.

    \b
    Example:
      s4 show D000012
    """
    database = obj.database(only_reads=True)
    doc_id = _doc_id_or_fail(doc)
    record = store_db.get_document(database, doc_id)
    if record is None:
        fail(f"no document {doc_id}", EXIT_USAGE)
    details = Table.grid(padding=(0, 2))
    details.add_column(style="bold")
    details.add_column(overflow="fold")
    for key in ("id", "batch_id", "box", "position", "source_name", "sha256", "media_type",
                "pipeline", "state", "quarantine_reason", "quarantine_path", "duplicate_of",
                "replaces", "superseded_by",
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
    out.print(details)
    pages = store_db.pages_of(database, doc_id)
    if pages:
        table = Table(title="Pages", title_justify="left")
        for column in ("page", "confidence", "words", "turned", "OCR", "flag", "starts"):
            table.add_column(column, overflow="ellipsis")
        for page in pages:
            table.add_row(str(page["page_no"]), _num(page["confidence"]), str(page["words"]),
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


# --------------------------------------------------------------------------- retry


@cli.command()
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
            [_doc_id_or_fail(d) for d in docs]
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


@cli.command()
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
    doc_id = _doc_id_or_fail(doc)
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


# --------------------------------------------------------------------------- export


@cli.group()
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
                writer.writerow(record)
            else:
                stream.write(json.dumps(record, ensure_ascii=False) + "\n")
    finally:
        if output:
            stream.close()
        ctx.close()


def main() -> None:
    try:
        cli.main(standalone_mode=True)
    except ConfigError as exc:
        fail(str(exc), EXIT_USAGE)


if __name__ == "__main__":
    main()


from s4.cli_audit import audit as _audit_commands  # noqa: E402
from s4.cli_paper import paper as _paper_commands  # noqa: E402
from s4.cli_retention import hold as _hold_commands  # noqa: E402
from s4.cli_retention import retention as _retention_commands  # noqa: E402
from s4.cli_review import classify_group as _classify_commands  # noqa: E402
from s4.cli_review import review as _review_commands  # noqa: E402
from s4.cli_store import store as _store_commands  # noqa: E402  (registered after cli exists)
from s4.cli_users import serve as _serve_command  # noqa: E402
from s4.cli_users import user as _user_commands  # noqa: E402

cli.add_command(_store_commands)
cli.add_command(_retention_commands)
cli.add_command(_hold_commands)
cli.add_command(_audit_commands)
cli.add_command(_paper_commands)
cli.add_command(_review_commands)
cli.add_command(_classify_commands)
cli.add_command(_user_commands)
cli.add_command(_serve_command)
