"""``s4 retention …`` (schedule checks, events, the disposition report) and ``s4 hold …``.

Thin over ``s4.services.retention``: parse, call, format.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import click
from rich import box
from rich.table import Table

from s4 import retention as rt
from s4.cli import common
from s4.config import ConfigError
from s4.errors import ExitCode, S4Error, exit_code_for
from s4.services import retention as service
from s4.services.exports import spreadsheet_safe
from s4.services.retention import REPORT_FIELDS, action_label


def _date_option(ctx: click.Context, param: click.Parameter, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return rt.parse_date(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@contextmanager
def _failures() -> Iterator[None]:
    """A request a service cannot do ends the command with its message and exit code."""
    try:
        yield
    except (S4Error, ConfigError) as exc:
        common.fail(str(exc), exit_code_for(exc))


def _context(obj, who: str | None = None, only_reads: bool = False):
    ctx = obj.context(only_reads=only_reads)
    return ctx.acting_as(who) if who else ctx


def _table(title: str | None = None) -> Table:
    """A compact table (no side borders) so reports fit an 80-column terminal."""
    return Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False,
                 show_edge=False, collapse_padding=True)


# --------------------------------------------------------------------------- retention


@click.group("retention")
def retention() -> None:
    """The retention schedule: check it, record events, see what is due, apply changes.

    \b
    Example:
      s4 retention check
      s4 retention event --type case_closed --reference FOI-2021-0042 \\
          --date 31/03/2021
      s4 retention due --before 2030-01-01 --action destroy
      s4 retention apply
    """


@retention.command("check")
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.pass_obj
def retention_check(obj, file: Path | None) -> None:
    """Validate a schedule and list its classes (default: every schedule in the home).

    Errors name the file, the line and the field, e.g.
    "uk-local-government.yaml:87: classes.3.retention.period: …".

    \b
    Example:
      s4 retention check
      s4 retention check retention_rules/uk-local-government.yaml
    """
    with _failures():
        result = service.check(obj.require_home() if file is None else None, file)
    for checked in result.checked:
        schedule = checked.schedule
        table = _table(f"{schedule.id}: {schedule.title}")
        table.add_column("class", no_wrap=True)
        table.add_column("rule", no_wrap=True)
        table.add_column("trigger", no_wrap=True)
        table.add_column("period")
        table.add_column("action")
        table.add_column("paper")
        for row in checked.rows:
            table.add_row(row.class_id, row.rule_id, row.trigger, row.period, row.action,
                          row.paper)
        common.out.print(table)
        common.out.print(f"{checked.path}: OK, {len(schedule.classes)} classes, version "
                      f"{schedule.version[:12]}", highlight=False)
    if result.errors:
        for message in result.errors:
            click.echo(f"error: {message}", err=True)
        sys.exit(ExitCode.USAGE)


@retention.command("event")
@click.option("--type", "event_type", required=True,
              help="Event type, e.g. case_closed, employment_ended, date_of_birth.")
@click.option("--reference", required=True, help="The reference (asset id) it happened to.")
@click.option("--date", "event_date", required=True, callback=_date_option,
              help="When it happened: 2021-03-31, 31/03/2021 or 31 March 2021.")
@click.option("--note", default="", help="Why, or where the evidence is.")
@click.option("--as", "who", default=None, help="Who records it (default: your login name).")
@click.pass_obj
def retention_event(obj, event_type: str, reference: str, event_date: date, note: str,
                    who: str | None) -> None:
    """Record an event; every record carrying REFERENCE whose rule waits for it gets its
    trigger date and a new disposal date.

    Records filed later with the same reference pick the event up when they are filed.
    Recording the same type again for a reference replaces the earlier date (a correction,
    or a case reopened and closed again).

    \b
    Example:
      s4 retention event --type employment_ended --reference EMP004512 \\
          --date 31/08/2022
      s4 retention event --type case_closed --reference FOI-2021-0042 \\
          --date "31 March 2021" --note "response sent; no review requested"
    """
    ctx = _context(obj, who)
    with _failures():
        outcome = service.record_event(ctx, event_type, reference, event_date, note)
    event = outcome.event
    common.out.print(f"Recorded {event_type} for {event['reference']} on "
                  f"{event_date.isoformat()} (event {event['id']}).", highlight=False)
    dated = outcome.dated
    common.out.print(f"{len(dated)} record(s) now have a trigger date from it.", highlight=False)
    if outcome.decisions:
        table = _table()
        for column in ("doc", "class", "rule", "action", "due"):
            table.add_column(column, overflow="fold")
        for doc_id, decision in outcome.decisions.items():
            table.add_row(doc_id, decision.record_class, decision.rule_id,
                          action_label(decision.action),
                          decision.disposal_due.isoformat() if decision.disposal_due
                          else decision.status)
        common.out.print(table)
    for doc_id, why in outcome.unaffected.items():
        common.out.print(f"  {doc_id} carries the reference but is not affected: {why}",
                      highlight=False)
    if not outcome.decisions and not outcome.unaffected:
        common.out.print("No record carries that reference yet; records filed with it later "
                      "will take this date.", highlight=False)


@retention.command("due")
@click.option("--before", callback=_date_option,
              help="List records due on or before this date (default: today).")
@click.option("--action", type=click.Choice(list(rt.REPORT_ACTIONS)),
              help="Only this disposal action.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "jsonl"]), default="table",
              show_default=True)
@click.pass_obj
def retention_due(obj, before: date | None, action: str | None, fmt: str) -> None:
    """The disposition report: records whose retention has run out.

    A record under a hold is listed as "held" with the hold ids and must not be disposed
    of. Records awaiting an event are not listed. Permanent records bound for the archives
    are listed with --action transfer (status "permanent": no date, they go to the record
    office when the service no longer needs them).

    Fields (csv, jsonl): id, record_class, rule_id, disposal_action, retention_trigger,
    trigger_date, disposal_due, status (due, blocked or permanent), holds, refs, state, box,
    source_name, schedule_version.

    \b
    Example:
      s4 retention due
      s4 retention due --before 31/03/2030 --action destroy --format csv > due.csv
    """
    with _failures():
        report = service.due(_context(obj, only_reads=True), before, action)
    before, rows = report.before, report.rows
    if fmt == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=REPORT_FIELDS, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow(spreadsheet_safe(row | {"holds": " ".join(row["holds"]),
                                                    "refs": " ".join(row["refs"])}))
        return
    if fmt == "jsonl":
        for row in rows:
            sys.stdout.write(json.dumps({k: row[k] for k in REPORT_FIELDS},
                                        ensure_ascii=False) + "\n")
        return
    what = f"{action} " if action else ""
    if not rows:
        common.out.print(f"Nothing {what}due on or before {before.isoformat()}.", highlight=False)
        return
    table = _table(f"Disposal {what}due on or before {before.isoformat()}")
    table.add_column("doc", no_wrap=True)
    table.add_column("class", no_wrap=True)
    table.add_column("rule", overflow="fold")
    table.add_column("action")
    table.add_column("due", no_wrap=True)
    table.add_column("status", overflow="fold")
    for row in rows:
        status = f"HELD {' '.join(row['holds'])}" if row["holds"] else row["status"]
        table.add_row(row["id"], row["record_class"], row["rule_id"],
                      action_label(row["disposal_action"]), row["disposal_due"] or "permanent",
                      status)
    common.out.print(table)
    blocked, permanent = report.held, report.permanent
    common.out.print(f"{report.due} due, {blocked} held (not to be disposed "
                  "of)" + (f", {permanent} permanent (to the archives when no longer needed)"
                           if permanent else "") + ".", highlight=False)


@retention.command("apply")
@click.option("--schedule", "schedule_name",
              help="Only records retained under this schedule (default: every record, each "
                   "under its pipeline's schedule).")
@click.option("--as", "who", default=None, help="Who applies it (default: your login name).")
@click.pass_obj
def retention_apply(obj, schedule_name: str | None, who: str | None) -> None:
    """Recompute the retention of every undisposed record after the schedule changed, and
    report the records whose disposal date, action or rule moved.

    \b
    Example:
      s4 retention check && s4 retention apply --as "A. Records-Manager"
    """
    with _failures():
        outcome = service.apply(_context(obj, who), schedule_name)
    for name, (version, count) in outcome.schedules.items():
        common.out.print(f"Schedule {name} (version {version[:12]}): {count} record(s) "
                      "recomputed.", highlight=False)
    if not outcome.recomputed:
        common.out.print("No filed or stored records to recompute.")
    if outcome.moved:
        table = _table(f"{len(outcome.moved)} record(s) moved")
        for column in ("doc", "class", "was", "now"):
            table.add_column(column, overflow="fold")
        for change in outcome.moved:
            table.add_row(change.doc_id, change.record_class, _summary(change.before),
                          _summary(change.after.columns()))
        common.out.print(table)
    elif outcome.recomputed:
        common.out.print("No disposal date, action or rule changed.")
    for refusal in outcome.refused:
        common.out.print(f"  {refusal.subject}: {refusal.reason}", highlight=False)
    sys.exit(ExitCode.OK if outcome.ok else ExitCode.PROBLEMS)


def _summary(columns: dict[str, Any]) -> str:
    due = columns.get("disposal_due") or "no date"
    return (f"{columns.get('rule_id') or '?'} {action_label(columns.get('disposal_action'))} "
            f"{due}")


# --------------------------------------------------------------------------- holds


@click.group("hold")
def hold() -> None:
    """Legal holds: freeze disposal of records for litigation, an inquiry or a request.

    A hold blocks every disposal path (the disposition report, paper destruction) until it
    is lifted. Placing and lifting are recorded in the audit trail with who and why.

    \b
    Example:
      s4 hold place --reason "ICO appeal EA/2021/0099" --reference FOI-2021-0042
      s4 hold place --reason "Public inquiry" --class looked-after-child
      s4 hold list
      s4 hold lift H0001 --reason "appeal dismissed 3 May 2022"
    """


@hold.command("place")
@click.option("--reason", required=True, help="The mandate: litigation, inquiry, request.")
@click.option("--reference", help="Hold every record carrying this reference.")
@click.option("--class", "class_id", help="Hold every record of this class.")
@click.option("--doc", help="Hold one record, e.g. D000012.")
@click.option("--as", "who", default=None, help="Who places it (default: your login name).")
@click.pass_obj
def hold_place(obj, reason: str, reference: str | None, class_id: str | None, doc: str | None,
               who: str | None) -> None:
    """Place a hold on a reference, a whole class, or one document.

    Records filed later that match the hold are held too.

    \b
    Example:
      s4 hold place --reason "Tribunal claim 2205123/2022" --reference EMP004512
      s4 hold place --reason "IICSA instruction" --class looked-after-child \\
          --as "Head of RM"
      s4 hold place --reason "Subject access request" --doc D000012
    """
    given = [(kind, value) for kind, value in
             (("reference", reference), ("class", class_id), ("doc", doc)) if value]
    if len(given) != 1:
        raise click.UsageError("give exactly one of --reference, --class or --doc")
    kind, value = given[0]
    with _failures():
        placed = service.place_hold(_context(obj, who), reason, kind, value)
    count = len(placed["documents"])
    common.out.print(f"Placed hold {placed['id']} on {kind} {placed['scope_value']}: {count} "
                  f"record(s) held now.", highlight=False)


@hold.command("lift")
@click.argument("hold_id")
@click.option("--reason", required=True, help="Why the hold is no longer needed.")
@click.option("--as", "who", default=None, help="Who lifts it (default: your login name).")
@click.pass_obj
def hold_lift(obj, hold_id: str, reason: str, who: str | None) -> None:
    """Lift a hold. Records it covered can be disposed of again when due (unless another
    hold still covers them).

    \b
    Example:
      s4 hold lift H0001 --reason "tribunal claim withdrawn 3 May 2022"
    """
    with _failures():
        lifted = service.lift_hold(_context(obj, who), hold_id, reason)
    common.out.print(f"Lifted hold {lifted['id']} ({lifted['scope_kind']} "
                  f"{lifted['scope_value']}).",
                  highlight=False)


@hold.command("list")
@click.option("--all", "include_lifted", is_flag=True, help="Include lifted holds.")
@click.pass_obj
def hold_list(obj, include_lifted: bool) -> None:
    """Holds in place (with --all, lifted ones too), and how many records each covers.

    \b
    Example:
      s4 hold list
      s4 hold list --all
    """
    rows = service.holds(_context(obj, only_reads=True), include_lifted)
    if not rows:
        common.out.print("No holds." if include_lifted else "No holds in place.")
        return
    table = _table("Holds")
    table.add_column("hold", no_wrap=True)
    table.add_column("on", overflow="fold")
    table.add_column("recs", justify="right")
    table.add_column("placed", overflow="fold")
    table.add_column("reason", overflow="fold", ratio=1)
    if include_lifted:
        table.add_column("lifted", overflow="fold")
    for held in rows:
        row = held.hold
        covered = "" if held.covers is None else str(held.covers)
        cells = [row["id"], f"{row['scope_kind']} {row['scope_value']}", covered,
                 f"{row['placed_at'][:10]} {row['placed_by']}", row["reason"]]
        if include_lifted:
            cells.append(f"{row['lifted_at'][:10]} {row['lifted_by']}: {row['lift_reason']}"
                         if row["lifted_at"] else "")
        table.add_row(*cells)
    common.out.print(table)
