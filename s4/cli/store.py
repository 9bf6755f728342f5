"""``s4 store …`` commands: check the store's set-up, upload what is waiting, fixity checks."""

from __future__ import annotations

import sys

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from s4.errors import ExitCode, S4Error, exit_code_for
from s4.services import store as store_service

out = Console()
console = Console(stderr=True)


def _fail(message: str, code: int, hint: str = "") -> None:
    click.echo(f"error: {message}", err=True)
    if hint:
        click.echo(f"  what to do: {hint}", err=True)
    sys.exit(code)


def _run(service, *args):
    """Call a service; an error a person can act on ends the command with its exit code."""
    try:
        return service(*args)
    except S4Error as exc:
        _fail(str(exc), exit_code_for(exc), getattr(exc, "hint", ""))


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
    with obj.context() as ctx:
        result = _run(store_service.check, ctx)
    table = Table(title=f"Store: {result.backend}", title_justify="left")
    table.add_column("check", no_wrap=True)
    table.add_column("", no_wrap=True)
    table.add_column("result", overflow="fold")
    for line in result.lines:
        table.add_row(line.step, "[green]ok[/]" if line.ok else "[red]FAILED[/]",
                      escape(line.detail))
    out.print(table)
    for line in result.failed:  # again in full, unwrapped: easy to read, copy and search for
        out.print(f"[red]FAILED[/] [bold]{line.step}[/]: {escape(line.detail)}", highlight=False,
                  soft_wrap=True)
        if line.hint:
            out.print(f"  what to do: {escape(line.hint)}", highlight=False, soft_wrap=True)
    if not result.ok:
        sys.exit(ExitCode.ENVIRONMENT)
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
    with obj.context() as ctx, console.status("Storing records…"):
        report = _run(store_service.sync, ctx, retry_conflicts)
        backend = ctx.settings.store.backend
    table = Table(title=f"Store sync ({backend})", title_justify="left",
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
              "wait and are uploaded when it is back.", ExitCode.ENVIRONMENT,
              report.hint or "run `s4 store check`")
    sys.exit(ExitCode.PROBLEMS if report.conflicts or report.problems else ExitCode.OK)


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
    with obj.context() as ctx, console.status("Verifying stored records…"):
        results = _run(store_service.verify, ctx, docs, deep)
    if not results:
        out.print("No stored records to verify.")
        sys.exit(ExitCode.OK)
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
    sys.exit(ExitCode.PROBLEMS if bad else ExitCode.OK)
