"""``s4 paper …``: which boxes of paper may go, and recording their destruction."""

from __future__ import annotations

import fcntl
import json
import sys
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import click
from rich.table import Table

from s4 import db as store_db
from s4 import disposal
from s4.cli_audit import audit
from s4.config import ConfigError

EXIT_OK, EXIT_BLOCKED, EXIT_USAGE = 0, 1, 2


def _cli():
    from s4 import cli

    return cli


def _export_group():
    from s4.cli import export

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
    cli = _cli()
    database = obj.database(only_reads=True)
    if not store_db.is_read_only(database):  # a read-only home is shown as it is
        _finish_interrupted(obj, database)
    today = date.fromisoformat(on_date) if on_date else date.today()
    try:
        statuses = disposal.box_status(database, obj.require_home(), list(boxes) or None, today)
    except ConfigError as exc:
        cli.fail(str(exc), EXIT_USAGE)
    if not statuses:
        cli.out.print("No boxes yet.")
        return
    table = Table(title=f"Paper by box (as of {today.isoformat()})", title_justify="left")
    for column in ("box", "docs", "in box", "eligible", "blocked", "pulled", "destroyed",
                   "earliest"):
        table.add_column(column, justify="right" if column not in ("box", "earliest")
                         else "left", overflow="fold")
    for status in statuses:
        papers = [c.doc["paper_status"] or disposal.IN_BOX for c in status.checks]
        earliest = status.earliest
        table.add_row(status.box, str(len(status.checks)), str(len(status.in_box)),
                      str(len(status.eligible)), str(len(status.blocked)),
                      str(papers.count(disposal.PULLED)), str(papers.count(disposal.DESTROYED)),
                      "now" if earliest and earliest <= today else
                      (earliest.isoformat() if earliest else "—"))
    cli.out.print(table)
    blocked = [c for s in statuses for c in s.blocked]
    if blocked:
        cli.out.print(_blocked_table(blocked))


@contextmanager
def _issuing(home):
    """One destruction or certificate repair at a time (a lock the OS drops if S4 dies), so
    a certificate still being written is never mistaken for one a crash left unfinished."""
    with (home.root / ".paper.lock").open("a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _finish_interrupted(obj, database) -> None:
    """A destruction sealed just before a crash still gets its certificate files."""
    home = obj.require_home()
    with _issuing(home):
        finished = disposal.finish_unissued_certificates(database, home,
                                                         store_db.default_actor())
    for certificate_id in finished:
        _cli().out.print(f"Finished issuing certificate {certificate_id} (S4 had stopped "
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
    cli = _cli()
    doc_id = cli._doc_id_or_fail(doc)
    try:
        disposal.pull(obj.database(), doc_id, reason, who or store_db.default_actor())
    except (LookupError, ValueError) as exc:
        cli.fail(str(exc), EXIT_USAGE)
    cli.out.print(f"{doc_id}: paper pulled from its box ({reason}).", highlight=False)


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
    cli = _cli()
    if passed == failed:
        raise click.UsageError("say either --pass or --fail")
    doc_id = cli._doc_id_or_fail(doc)
    try:
        disposal.set_qa(obj.database(), doc_id, passed, reason, who or store_db.default_actor())
    except LookupError as exc:
        cli.fail(str(exc), EXIT_USAGE)
    cli.out.print(f"{doc_id}: QA {'passed' if passed else 'failed'}.")


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
    cli = _cli()
    database = obj.database()
    _finish_interrupted(obj, database)
    try:
        with _issuing(obj.require_home()):
            certificate = disposal.destroy(database, obj.require_home(), list(boxes), method,
                                           witness, who or store_db.default_actor(),
                                           contractor, contractor_cert)
    except disposal.Refused as refused:
        cli.out.print(_blocked_table(refused.blocked))
        click.echo(f"refused: {len(refused.blocked)} document(s) in {', '.join(boxes)} are not "
                   "eligible; nothing was recorded.", err=True)
        sys.exit(EXIT_BLOCKED)
    except (LookupError, ValueError, ConfigError) as exc:
        cli.fail(str(exc), EXIT_USAGE)
    record = store_db.get_destruction(database, certificate["certificate"])
    cli.out.print(f"Destruction recorded: certificate {certificate['certificate']} — "
                  f"{certificate['totals']['records']} records, "
                  f"{certificate['totals']['pages']} pages, boxes {', '.join(boxes)}.",
                  highlight=False)
    cli.out.print(f"  PDF:  {record['pdf_path']}\n  JSON: {record['json_path']}\n"
                  f"  sealed by audit entry {record['seal_seq']} ({record['seal_hash'][:16]}…)",
                  highlight=False)
    _store_certificate_now(obj.require_home(), database, record, who or store_db.default_actor())


def _store_certificate_now(home, database, record: dict, actor: str) -> None:
    """The certificate is a record too: put it in the store straight away when possible."""
    from s4.context import HomeLock
    from s4.errors import S4Error
    from s4.store import sync_all

    cli = _cli()
    try:
        with HomeLock(home), cli.console.status("Storing the certificate…"):
            report = sync_all(home, actor)
    except S4Error:
        cli.out.print("  The running `s4 watch` stores the certificate records.")
        return
    docs = [store_db.get_document(database, d) for d in (record["json_doc"], record["pdf_doc"])]
    if all(doc["state"] == store_db.STORED for doc in docs):
        for doc in docs:
            cli.out.print(f"  stored and verified: {doc['store_location']}", highlight=False)
    else:
        cli.out.print(f"  Not yet in the store ({report.unavailable or 'waiting'}); the "
                      "certificate is safe in the S4 home and `s4 store sync` uploads it.",
                      highlight=False)


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
    cli = _cli()
    database = obj.database(only_reads=True)
    record = store_db.get_destruction(database, certificate_id)
    if record is None:
        cli.fail(f"no certificate {certificate_id}", EXIT_USAGE)
    problems = [p for p in disposal.verify_certificates(database, obj.require_home())
                if p.startswith(f"{certificate_id}:")]
    try:
        if pdf_target:
            pdf_target.write_bytes(Path(record["pdf_path"]).read_bytes())
            cli.out.print(f"Wrote {pdf_target}", highlight=False)
        else:
            click.echo(Path(record["json_path"]).read_text(encoding="utf-8"), nl=False)
    except OSError as exc:
        cli.fail(f"{exc.filename}: {exc.strerror}", EXIT_USAGE)
    for problem in problems:  # an auditor reading a certificate must see it does not check out
        click.echo(f"WARNING: {problem}", err=True)
    if problems:
        sys.exit(EXIT_BLOCKED)


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
    database = obj.database(only_reads=True)
    if output:
        try:
            stream = output.open("w", encoding="utf-8", newline="")
        except OSError as exc:
            _cli().fail(f"cannot write {output}: {exc.strerror}", EXIT_USAGE)
        with stream:
            export_certificates(database, fmt, stream)
    else:
        export_certificates(database, fmt, sys.stdout)


def export_certificates(database, fmt: str, stream) -> None:
    import csv

    fields = ["id", "boxes", "destroyed_at", "operator", "witness", "method", "contractor",
              "contractor_cert", "documents", "pages", "seal_seq", "seal_hash", "body_sha256",
              "json_sha256", "pdf_sha256", "json_location", "pdf_location"]
    writer = csv.DictWriter(stream, fieldnames=fields, extrasaction="ignore") \
        if fmt == "csv" else None
    if writer:
        writer.writeheader()
    for record in store_db.destructions(database):
        record["boxes"] = ", ".join(json.loads(record["boxes"]))
        for kind in ("json", "pdf"):  # where the stored copy (a record of its own) lives
            doc = store_db.get_document(database, record[f"{kind}_doc"]) \
                if record[f"{kind}_doc"] else None
            record[f"{kind}_location"] = doc["store_location"] if doc else None
        if writer:
            writer.writerow(record)
        else:
            stream.write(json.dumps({k: record.get(k) for k in fields}) + "\n")
