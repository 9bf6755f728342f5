"""``s4 audit …``: prove the audit trail is intact, keep its head, and read it.

These commands open the database without migrating it: migration re-creates missing
triggers, which would hide that someone dropped them.
"""

from __future__ import annotations

import json
import sys

import click
from rich import box as rich_box
from rich.table import Table
from rich.text import Text

from s4 import audit as audit_log
from s4.cli import common
from s4.config import ConfigError
from s4.errors import ExitCode, S4Error, exit_code_for
from s4.events import readable_details
from s4.services import audit as audit_service


def _context(obj):
    # Reading only, and never migrated; a read-only home is opened read-only.
    return obj.context(only_reads=True, migrate=False)


def _run(service, *args):
    """Call a service; an error a person can act on ends the command with its exit code."""
    try:
        return service(*args)
    except (S4Error, ConfigError) as exc:
        common.fail(str(exc), exit_code_for(exc))


def _head_option(ctx: click.Context, param: click.Parameter, value: str | None):
    if value is None:
        return None
    try:
        return audit_log.parse_head(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _since_option(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A date or date-time (ISO; UTC unless it carries an offset)."""
    if value is None:
        return None
    try:
        audit_log.log_time(value)  # checked here for click's message; the service converts
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    return value


@click.group()
def audit() -> None:
    """Check and read the audit trail: every transition and decision S4 recorded.

    \b
    Example:
      s4 audit verify
      s4 audit head >> ~/s4-heads.txt        # keep it outside S4
      s4 audit verify --head "$(tail -1 ~/s4-heads.txt)"
      s4 audit log --doc D000012
      s4 audit anchor                        # daily: a TSA signs the head

    \b
    Exit status: 0 the log is intact; 1 verification found a problem;
    2 usage error; 3 the time-stamping authority could not be reached.
    """


# --------------------------------------------------------------------------- verify


@audit.command()
@click.option("--head", "kept", callback=_head_option, metavar="SEQ:HASH",
              help="A head printed earlier by `s4 audit head`: prove the log still "
                   "extends it, so nothing up to it was rewritten.")
@click.pass_obj
def verify(obj, kept: tuple[int, str, str | None] | None) -> None:
    """Recompute the hash chain over every entry and check everything that protects it.

    Finds edited, deleted, inserted, swapped and reordered entries — also when the
    database file was edited directly — and names the first bad one. Entries deleted from
    the end are found from the head S4 writes beside the database after every commit
    (audit/head, audit/heads.log). Also checks that the database still refuses UPDATE and
    DELETE on the log, every timestamp token stored by `s4 audit anchor` (signed by the
    configured TSA, covering the entry the log holds at that seq today), that the log
    extends a head you kept (--head), and that every disposal certificate matches its
    sealing entry and its stored copy.

    A forger who recomputes every hash and rewrites the head files is caught by an anchor
    made before the forgery, or by --head: keep the output of `s4 audit head` somewhere S4
    cannot write.

    \b
    Example:
      s4 audit verify
      s4 audit verify --head \\
          1042:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08

    Exit status 0 only when everything holds; 1 when anything does not; 2 usage error.
    """
    with _context(obj) as ctx:
        report = _run(audit_service.verify, ctx, kept)
    echo = click.echo
    echo(f"entries checked: {report.entries}")
    echo(f"head: {report.head_seq}:{report.head_hash}"
         + (f" {report.head_at}" if report.head_at else ""))
    finding = report.finding
    if finding is None:
        echo("chain: every entry matches its hash and follows the one before it")
    else:
        echo(f"FIRST BAD ENTRY: seq {finding.seq} ({finding.kind})")
        echo(f"  what is wrong: {finding.describe()}")
        entry = finding.entry
        if entry is not None:
            echo(f"  as stored: at {entry['at']}  actor {entry['actor']}  action "
                 f"{entry['action']}  subject {entry['subject']}")
        else:
            echo(f"  as stored: no entry {finding.seq} in the log")
    for problem in report.structure_problems:
        echo(f"PROBLEM: {problem}")
    if not report.structure_problems:
        echo("protection: the database still refuses UPDATE and DELETE on the log")
    for problem in report.head_file_problems:
        echo(f"PROBLEM: {problem}")
    for warning in report.head_file_warnings:
        echo(f"WARNING: {warning}")
    if report.head_file is not None and not report.head_file_problems:
        echo(f"head file: the log still holds head {report.head_file.seq} that S4 recorded "
             "outside the database")
    if obj.verbose:
        for note in report.head_file_notes:
            echo(f"note: {note}")
    if report.anchors_checked:
        newest = report.newest_anchor
        echo(f"anchors: {report.anchors_checked} timestamp token(s) checked, "
             f"{len(report.anchor_problems)} problem(s)"
             + (f"; newest good anchor: entry {newest[0]} at {newest[1]}" if newest else ""))
    for problem in report.anchor_problems:
        echo(f"PROBLEM: {problem}")
    if report.kept_head is not None:
        seq, digest = report.kept_head
        if report.head_problem:
            echo(f"KEPT HEAD NOT EXTENDED: {seq}:{digest[:16]}…: {report.head_problem}")
        else:
            echo(f"kept head {seq}:{digest[:16]}…: the log still extends it")
    if report.certificate_checks == 0:
        echo("certificates: no certificate checks run")
    else:
        echo(f"certificates: {report.certificate_checks} check(s) run, "
             f"{len(report.certificate_problems)} problem(s)")
        for problem in report.certificate_problems:
            label = "WAITING" if audit_service.is_waiting(problem) else "PROBLEM"
            echo(f"{label}: {problem}")
    problems = report.problems()
    if audit_service.only_waiting(report):
        echo(f"audit log intact, but {len(problems)} certificate copy(ies) are not in the store "
             "yet: not everything holds until they are (run `s4 store sync`)")
        sys.exit(ExitCode.PROBLEMS)
    if problems:
        echo(f"audit log NOT intact: {len(problems)} problem(s)")
        sys.exit(ExitCode.PROBLEMS)
    echo("audit log intact")


# --------------------------------------------------------------------------- head


@audit.command()
@click.pass_obj
def head(obj) -> None:
    """Print the chain head as one line: SEQ:HASH and the entry's time (UTC).

    Keep that line outside S4 (a ticket, an email to the auditor, a printed sign-off).
    Later, `s4 audit verify --head LINE` proves that nothing up to that entry has been
    rewritten since — even by someone who recomputed every hash.

    \b
    Example:
      s4 audit head
      s4 audit head | mail -s "S4 audit head $(date -I)" records@council.example
    """
    with _context(obj) as ctx:
        kept = _run(audit_service.head, ctx)
    click.echo(kept.line())
    click.echo("Keep this line outside S4; check it later with "
               "`s4 audit verify --head LINE`.", err=True)


# --------------------------------------------------------------------------- anchor


@audit.command()
@click.pass_obj
def anchor(obj) -> None:
    """Have a time-stamping authority (RFC 3161) sign the current head, and keep its token.

    The token proves, with the TSA's signature, that the log held this entry with this
    hash at that time. `s4 audit verify` checks every token: a forger who rewrites the log,
    recomputes every hash and rewrites audit/head is still caught at the anchored entry.
    The token is stored in the database and as audit/anchors/SEQ-HASH.tsr; copy those
    files off the machine too (`openssl ts -verify` checks them independently).

    Needs `[audit] tsa_url` and `tsa_certificate` in s4.toml. Schedule it, e.g. daily:

    \b
      cron:    15 2 * * *  s4 --home /srv/s4 audit anchor
      systemd: a s4-anchor.service running `s4 --home /srv/s4 audit anchor`, with a
               s4-anchor.timer: [Timer] OnCalendar=daily, Persistent=true

    Exit status: 0 anchored; 1 the TSA's reply did not prove the head (nothing
    stored); 2 settings missing or wrong; 3 the TSA could not be reached.
    """
    with _context(obj) as ctx:
        made = _run(audit_service.anchor, ctx)
    click.echo(f"anchored {made['seq']}:{made['hash']} at {made['tsa_time']} by {made['tsa']}")
    click.echo(f"token: {made['file']} (recorded as audit entry {made['event_seq']})")


# --------------------------------------------------------------------------- log


@audit.command("log")
@click.option("--doc", help="Only events about this document (e.g. D000012).")
@click.option("--box", "box_id", metavar="ID",
              help="Only events about this box, its batches and its documents.")
@click.option("--since", callback=_since_option, metavar="DATE",
              help="Only events at or after DATE (2026-05-01 or 2026-05-01T14:30; UTC).")
@click.option("--format", "fmt", type=click.Choice(["table", "jsonl"]), default="table",
              show_default=True, help="jsonl: one JSON object per event, for scripts.")
@click.pass_obj
def log(obj, doc: str | None, box_id: str | None, since: str | None, fmt: str) -> None:
    """The audit trail, oldest first. Filters combine.

    \b
    JSONL fields: seq, at, actor, action, subject, details (an object), prev_hash,
    hash.

    \b
    Example:
      s4 audit log --doc D000012
      s4 audit log --box box-0042 --since 2026-05-01
      s4 audit log --format jsonl | jq 'select(.action == "paper.destroyed")'
    """
    with _context(obj) as ctx:
        # Filters are checked (exit 2) before anything is read.
        events = _run(audit_service.log, ctx, doc, box_id, since)
        if fmt == "jsonl":
            for event in events:
                click.echo(json.dumps(event.record(), ensure_ascii=False))
            return
        rows = [[str(e.seq), e.at[:19].replace("T", " "), e.actor, e.action, e.subject,
                 readable_details(e.details_json)] for e in events]
    if not rows:
        common.out.print("No audit entries match.", highlight=False)
        return
    # Widths that add up to 80 columns; actor, action and details wrap rather than being
    # cut (an auditor must be able to read them); details take any extra width.
    table = Table(box=rich_box.SIMPLE_HEAD, show_edge=False, padding=0, expand=True,
                  title="Audit log (times UTC)", title_justify="left")
    table.add_column("#", justify="right", no_wrap=True,
                     width=max(3, max(len(r[0]) for r in rows)))
    table.add_column("time", no_wrap=True, width=19)
    table.add_column("actor", overflow="fold", width=10)
    table.add_column("action", overflow="fold", width=16)
    table.add_column("subject", overflow="fold", width=12)
    table.add_column("details", overflow="fold", ratio=1, min_width=10)
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))
    common.out.print(table)
