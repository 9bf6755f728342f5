"""``s4 store …`` commands: check the store's set-up, upload what is waiting, fixity checks."""

from __future__ import annotations

import sys

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from s4 import db as store_db
from s4.config import ConfigError

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, EXIT_ENVIRONMENT = 0, 1, 2, 3

out = Console()
console = Console(stderr=True)


def _fail(message: str, code: int, hint: str = "") -> None:
    click.echo(f"error: {message}", err=True)
    if hint:
        click.echo(f"  what to do: {hint}", err=True)
    sys.exit(code)


def _settings(obj):
    home = obj.require_home()
    obj.database().conn.close()  # refuses a home opened from a copied or moved path
    try:
        return home, home.settings()
    except ConfigError as exc:
        _fail(str(exc), EXIT_USAGE)


@click.group()
def store() -> None:
    """Where filed records go: the local folder (default) or SharePoint.

    Records classified and given a retention decision (state `filed`) are uploaded with
    their metadata, verified by hash, and become `stored`. `s4 run` and `s4 watch` do this
    in the background; these commands check the set-up, catch up by hand, and re-check.

    \b
    Example:
      s4 store check
      s4 store sync
      s4 store verify --deep

    Exit status: 0 fine; 1 some records conflicted or failed verification; 2 settings
    error; 3 the store is unreachable or set up wrongly (sign-in, permission, library).
    """


@store.command()
@click.pass_obj
def check(obj) -> None:
    """Sign in and find the site and library; say exactly what is wrong, if anything.

    For SharePoint: reads the certificate, signs in to Entra, resolves the site and the
    library, and looks for the mapped columns. For the local store: checks the folder is
    writable.

    \b
    Example:
      s4 store check
    """
    from s4.store import StoreError, make_backend

    home, settings = _settings(obj)
    backend = make_backend(home, settings)
    try:
        lines = backend.check()
    except StoreError as exc:  # anything the steps did not catch themselves
        _fail(str(exc), EXIT_ENVIRONMENT, getattr(exc, "hint", ""))
    finally:
        backend.close()
    table = Table(title=f"Store: {settings.store.backend}", title_justify="left")
    table.add_column("check", no_wrap=True)
    table.add_column("", no_wrap=True)
    table.add_column("result", overflow="fold")
    for line in lines:
        table.add_row(line.step, "[green]ok[/]" if line.ok else "[red]FAILED[/]",
                      escape(line.detail))
    out.print(table)
    failed = [line for line in lines if not line.ok]
    for line in failed:  # again in full, unwrapped: easy to read, copy and search for
        out.print(f"[red]FAILED[/] [bold]{line.step}[/]: {escape(line.detail)}", highlight=False,
                  soft_wrap=True)
        if line.hint:
            out.print(f"  what to do: {escape(line.hint)}", highlight=False, soft_wrap=True)
    if failed:
        sys.exit(EXIT_ENVIRONMENT)
    out.print("The store is ready.")


@store.command()
@click.option("--retry-conflicts", is_flag=True,
              help="First put records quarantined by a store conflict back in the queue "
                   "(after a person moved the other file away).")
@click.pass_obj
def sync(obj, retry_conflicts: bool) -> None:
    """Upload every record waiting for the store (state `filed`) now.

    Safe to run again at any time: an interrupted upload resumes, a record already in the
    store with the same content is simply marked stored, and a different file with the
    same name is never overwritten (the record is quarantined with a reason instead).

    \b
    Example:
      s4 store sync
      s4 store sync --retry-conflicts
    """
    from s4.context import HomeLock
    from s4.errors import S4Error
    from s4.store import sync_all

    home, settings = _settings(obj)
    try:
        with HomeLock(home), console.status("Storing records…"):
            report = sync_all(home, store_db.default_actor(), settings,
                              retry_conflicts=retry_conflicts)
    except S4Error as exc:
        _fail(f"{exc} (a running `s4 watch` or `s4 run` stores records by itself)",
              EXIT_ENVIRONMENT)
    table = Table(title=f"Store sync ({settings.store.backend})", title_justify="left",
                  show_header=False)
    table.add_column("what", style="bold")
    table.add_column("count", justify="right")
    for label, value in (("uploaded and verified", len(report.stored)),
                         ("already there (same content)", len(report.already_present)),
                         ("conflicts (quarantined)", len(report.conflicts)),
                         ("fields updated after a decision", len(report.refreshed)),
                         ("fields not updated (see below)", len(report.problems)),
                         ("still waiting", report.pending)):
        table.add_row(label, str(value))
    out.print(table)
    for doc_id, reason in report.conflicts:  # unwrapped: the reason is the instructions
        out.print(f"[bold]{doc_id}[/] not stored: {escape(reason)}", highlight=False,
                  soft_wrap=True)
    for doc_id, reason in report.problems:
        out.print(f"[bold]{doc_id}[/] fields not updated: {escape(reason)}", highlight=False,
                  soft_wrap=True)
    if report.unavailable:
        _fail(f"the store is not available: {report.unavailable}. {report.pending} record(s) "
              "wait and are uploaded when it is back.", EXIT_ENVIRONMENT,
              report.hint or "run `s4 store check`")
    sys.exit(EXIT_SOME_FAILED if report.conflicts or report.problems else EXIT_OK)


@store.command()
@click.argument("docs", nargs=-1)
@click.option("--deep", is_flag=True,
              help="Also download each file and compare its SHA-256 (slow; reads every byte).")
@click.pass_obj
def verify(obj, docs: tuple[str, ...], deep: bool) -> None:
    """Re-check stored records against the store: a fixity check to run regularly.

    Compares size and hash (SharePoint: size and quickXorHash as Graph reports them; local:
    size and SHA-256). A record that fails loses its `verified_at` (so its paper cannot be
    destroyed on its strength) and the failure is in its history.

    \b
    Example:
      s4 store verify
      s4 store verify --deep D000012 D000013
    """
    from s4.store import StoreError, verify_stored

    home, settings = _settings(obj)
    try:
        doc_ids = [store_db.normalise_doc_id(d) for d in docs] or None
    except ValueError as exc:
        _fail(str(exc), EXIT_USAGE)
    try:
        with console.status("Verifying stored records…"):
            results = verify_stored(home, store_db.default_actor(), deep, doc_ids, settings)
    except StoreError as exc:
        _fail(f"the store is not available: {exc}", EXIT_ENVIRONMENT,
              getattr(exc, "hint", "") or "run `s4 store check`")
    if not results:
        out.print("No stored records to verify.")
        sys.exit(EXIT_OK)
    table = Table(title=f"Verify ({'deep' if deep else 'hashes'})", title_justify="left")
    table.add_column("record", no_wrap=True)
    table.add_column("result", no_wrap=True)
    table.add_column("method")
    table.add_column("location / problem", overflow="fold")
    bad = 0
    for doc, result in results:
        bad += not result.ok
        table.add_row(doc["id"], "[green]ok[/]" if result.ok else "[red]MISMATCH[/]",
                      result.method,
                      escape(doc["store_location"] if result.ok else result.detail))
    out.print(table)
    out.print(f"{len(results) - bad} of {len(results)} record(s) verified"
              + (f"; {bad} MISMATCH — investigate before any paper is destroyed" if bad else ""),
              highlight=False)
    sys.exit(EXIT_SOME_FAILED if bad else EXIT_OK)
