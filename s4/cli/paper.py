"""``s4 paper …``: which boxes of paper may go, and recording their destruction."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import click
from rich.table import Table

from s4 import disposal
from s4.cli import common
from s4.cli.audit import audit
from s4.errors import ExitCode, S4Error, exit_code_for
from s4.services import exports
from s4.services import paper as paper_service


def _export_group():
    from s4.cli.documents import export

    return export


export = _export_group()


@click.group()
def paper() -> None:
    """Paper originals: eligibility by box, QA decisions, pulls and destruction.

    \b
    Example:
      s4 paper status --box box-0042
      s4 paper destroy --box box-0042 --method "cross-cut shred, DIN 66399 P-4" \\
          --witness "B. Witness" --contractor "Shred Ltd" \\
          --contractor-cert SL-99812
    """


@paper.command("status")
@click.option("--box", "boxes", multiple=True, help="Only this box (repeatable).")
@click.option("--on", "on_date", default=None, help="Check as of this date (YYYY-MM-DD).")
@click.pass_obj
def paper_status(obj, boxes: tuple[str, ...], on_date: str | None) -> None:
    """Per box: documents, eligible, blocked (with the reason for each), and the earliest
    date the box can go.

    \b
    Example:
      s4 paper status
      s4 paper status --box box-0042
    """
    today = date.fromisoformat(on_date) if on_date else date.today()
    with obj.context(only_reads=True) as ctx:
        report = _run(paper_service.status, ctx, list(boxes), today)
    _print_finished(report.finished_certificates)
    if not report.boxes:
        common.out.print("No boxes yet.")
        return
    table = Table(title=f"Paper by box (as of {today.isoformat()})", title_justify="left")
    for column in ("box", "docs", "in box", "eligible", "blocked", "pulled", "destroyed",
                   "earliest"):
        table.add_column(column, justify="right" if column not in ("box", "earliest")
                         else "left", overflow="fold")
    for status in report.boxes:
        counts = paper_service.paper_counts(status)
        earliest = status.earliest
        table.add_row(status.box, str(len(status.checks)), str(len(status.in_box)),
                      str(len(status.eligible)), str(len(status.blocked)),
                      str(counts[disposal.PULLED]), str(counts[disposal.DESTROYED]),
                      "now" if earliest and earliest <= today else
                      (earliest.isoformat() if earliest else "—"))
    common.out.print(table)
    if report.blocked:
        common.out.print(_blocked_table(report.blocked))


def _run(service, *args, **kwargs):
    """Call a service; an error a person can act on ends the command with its exit code."""
    from s4.config import ConfigError

    try:
        return service(*args, **kwargs)
    except (S4Error, ConfigError) as exc:
        common.fail(str(exc), exit_code_for(exc))


def _print_finished(certificate_ids: list[str]) -> None:
    for certificate_id in certificate_ids:
        common.out.print(f"Finished issuing certificate {certificate_id} (S4 had stopped "
                         "after recording the destruction).", highlight=False)

def _blocked_table(blocked: list[disposal.PaperCheck]) -> Table:
    table = Table(title="Blocked documents", title_justify="left")
    table.add_column("box/pos", no_wrap=True)
    table.add_column("doc", no_wrap=True)
    table.add_column("why", overflow="fold", ratio=1)
    for check in blocked:
        doc = check.doc
        table.add_row(f"{doc['box']}/{doc['position']}", doc["id"], "; ".join(check.blockers))
    return table


@paper.command("pull")
@click.argument("doc")
@click.option("--reason", required=True, help="Why the paper is kept.")
@click.option("--as", "who", default=None, help="Who pulled it (default: your login name).")
@click.pass_obj
def paper_pull(obj, doc: str, reason: str, who: str | None) -> None:
    """Record that a document's paper was taken out of its box to be kept, so the rest of the
    box can go.

    \b
    Example:
      s4 paper pull D000017 --reason "adoption record: paper kept by law"
    """
    doc_id = common.doc_id_or_fail(doc)
    with _acting(obj, who) as ctx:
        _run(paper_service.pull, ctx, doc_id, reason)
    common.out.print(f"{doc_id}: paper pulled from its box ({reason}).", highlight=False)


@paper.command("qa")
@click.argument("doc")
@click.option("--pass", "passed", is_flag=True, help="The copy is good.")
@click.option("--fail", "failed", is_flag=True, help="The copy is not good enough (rescan).")
@click.option("--reason", required=True, help="What was checked, against what.")
@click.option("--as", "who", default=None, help="Who checked (default: your login name).")
@click.pass_obj
def paper_qa(obj, doc: str, passed: bool, failed: bool, reason: str, who: str | None) -> None:
    """Record a person's quality check of a document's digital copy (e.g. after looking at
    its low-confidence pages).

    \b
    Example:
      s4 paper qa D000012 --pass --reason "page 2 checked against the paper"
    """
    if passed == failed:
        raise click.UsageError("say either --pass or --fail")
    doc_id = common.doc_id_or_fail(doc)
    with _acting(obj, who) as ctx:
        _run(paper_service.qa, ctx, doc_id, passed, reason)
    common.out.print(f"{doc_id}: QA {'passed' if passed else 'failed'}.")


def _acting(obj, who: str | None):
    ctx = obj.context()
    return ctx.acting_as(who) if who else ctx


@paper.command("destroy")
@click.option("--box", "boxes", multiple=True, required=True, help="Box to destroy (repeat).")
@click.option("--method", required=True, help='e.g. "cross-cut shred, DIN 66399 P-4".')
@click.option("--witness", required=True)
@click.option("--contractor", default=None)
@click.option("--contractor-cert", default=None, help="The contractor's certificate reference.")
@click.option("--as", "who", default=None, help="Operator (default: your login name).")
@click.pass_obj
def paper_destroy(obj, boxes: tuple[str, ...], method: str, witness: str,
                  contractor: str | None, contractor_cert: str | None, who: str | None) -> None:
    """Record the destruction of whole boxes and issue the certificate (PDF and JSON).

    Refused — listing every blocking document — unless every document still in those boxes
    is eligible. Exit status 1 when refused.

    \b
    Example:
      s4 paper destroy --box box-0042 --method "cross-cut shred, DIN 66399 P-4" \\
          --witness "B. Witness" --contractor "Shred Ltd" \\
          --contractor-cert SL-99812
    """
    with _acting(obj, who) as ctx:
        result = _run(paper_service.destroy, ctx, list(boxes), method, witness, contractor,
                      contractor_cert)
        _print_finished(result.finished_certificates)
        if result.blocked:
            common.out.print(_blocked_table(result.blocked))
            click.echo(f"refused: {len(result.blocked)} document(s) in {', '.join(boxes)} are "
                       "not eligible; nothing was recorded.", err=True)
            sys.exit(ExitCode.PROBLEMS)
        certificate, record = result.certificate, result.record
        common.out.print(f"Destruction recorded: certificate {certificate['certificate']} — "
                      f"{certificate['totals']['records']} records, "
                      f"{certificate['totals']['pages']} pages, boxes {', '.join(boxes)}.",
                      highlight=False)
        common.out.print(f"  PDF:  {record['pdf_path']}\n  JSON: {record['json_path']}\n"
                      f"  sealed by audit entry {record['seal_seq']} "
                      f"({record['seal_hash'][:16]}…)", highlight=False)
        with common.console.status("Storing the certificate…"):
            storing = paper_service.store_certificate_now(ctx, record)
    if storing.line_busy:
        common.out.print("  The running `s4 watch` stores the certificate records.")
    elif storing.waiting_reason is None:
        for location in storing.stored_locations:
            common.out.print(f"  stored and verified: {location}", highlight=False)
    else:
        common.out.print(f"  Not yet in the store ({storing.waiting_reason}); the certificate is "
                      "safe in the S4 home and `s4 store sync` uploads it.", highlight=False)


@audit.command("certificate")
@click.argument("certificate_id")
@click.option("--pdf", "pdf_target", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the PDF certificate to this file instead of printing the JSON.")
@click.pass_obj
def audit_certificate(obj, certificate_id: str, pdf_target: Path | None) -> None:
    """Print a disposal certificate (JSON), or save its PDF.

    \b
    Example:
      s4 audit certificate CERT-2026-0001
      s4 audit certificate CERT-2026-0001 --pdf cert.pdf
    """
    with obj.context(only_reads=True) as ctx:
        view = _run(paper_service.certificate, ctx, certificate_id)
    if pdf_target:
        data = _run(view.pdf_bytes)
        try:
            pdf_target.write_bytes(data)
        except OSError as exc:
            common.fail(f"{exc.filename}: {exc.strerror}", ExitCode.USAGE)
        common.out.print(f"Wrote {pdf_target}", highlight=False)
    else:
        click.echo(_run(view.json_text), nl=False)
    for problem in view.problems:  # an auditor reading a certificate must see it does not check out
        click.echo(f"WARNING: {problem}", err=True)
    if view.problems:
        sys.exit(ExitCode.PROBLEMS)


@export.command("certificates")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default="csv",
              show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_obj
def export_certificates_command(obj, fmt: str, output: Path | None) -> None:
    """One row per disposal certificate: boxes, when, who, method, seal and file hashes.

    \b
    Example:
      s4 export certificates --format csv -o certificates.csv
    """
    with obj.context(only_reads=True) as ctx:
        if output:
            try:
                stream = output.open("w", encoding="utf-8", newline="")
            except OSError as exc:
                common.fail(f"cannot write {output}: {exc.strerror}", ExitCode.USAGE)
            with stream:
                _write_certificates(ctx, fmt, stream)
        else:
            _write_certificates(ctx, fmt, sys.stdout)


def _write_certificates(ctx, fmt: str, stream) -> None:
    import csv
    import json

    writer = csv.DictWriter(stream, fieldnames=exports.CERTIFICATE_FIELDS) \
        if fmt == "csv" else None
    if writer:
        writer.writeheader()
    for row in exports.certificate_rows(ctx):
        if writer:
            writer.writerow(exports.spreadsheet_safe(row))
        else:
            stream.write(json.dumps(row) + "\n")
