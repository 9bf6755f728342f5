"""``s4 review …`` (records managers' queue) and ``s4 classify train|evaluate``.

Thin over ``s4.services.review`` and ``s4.services.classification``: parse, call, format.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import click
from rich.table import Table

from s4.cli import common
from s4.config import ConfigError
from s4.errors import ExitCode, S4Error, exit_code_for
from s4.services import classification
from s4.services import review as review_service
from s4.services.classification import ManifestProblem


def parse_uk_date(text: str) -> date:
    """ISO (2021-03-31) or UK day-first (31/03/2021, 31 March 2021): as everywhere in S4."""
    from s4.retention import parse_date

    try:
        return parse_date(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _date_option(ctx: click.Context, param: click.Parameter, value: str | None) -> date | None:
    return parse_uk_date(value) if value else None


@contextmanager
def _failures() -> Iterator[None]:
    """A request a service cannot do ends the command with its message and exit code."""
    try:
        yield
    except ManifestProblem as exc:
        raise click.UsageError(str(exc)) from None
    except (S4Error, ConfigError) as exc:
        common.fail(str(exc), exit_code_for(exc))


# --------------------------------------------------------------------------- review


@click.group()
def review() -> None:
    """The review queue: records S4 was not sure enough to file by itself.

    \b
    Example:
      s4 review list
      s4 review show D000012
      s4 review accept D000012 --as "A. Records-Manager"
      s4 review set D000013 --class complaint --date 2022-05-03 \\
          --reference COMP-2022-118
    """


@review.command("list")
@click.pass_obj
def review_list(obj) -> None:
    """Documents waiting for a decision, oldest first.

    \b
    Example:
      s4 review list
    """
    items = review_service.queue(obj.context(only_reads=True))
    if not items:
        common.out.print("The review queue is empty.")
        return
    table = Table(title=f"Review queue ({len(items)})", title_justify="left")
    table.add_column("doc", no_wrap=True)
    table.add_column("file", overflow="fold")
    table.add_column("proposed", overflow="fold")
    table.add_column("conf", justify="right")
    table.add_column("why", overflow="fold", ratio=1)
    for item in items:
        table.add_row(item.doc_id, item.source_name, item.proposed_class or "—",
                      f"{item.confidence:.2f}", item.reason)
    common.out.print(table)


@review.command("show")
@click.argument("doc")
@click.pass_obj
def review_show(obj, doc: str) -> None:
    """What S4 saw: text excerpt, proposed class, confidence, evidence and alternatives.

    \b
    Example:
      s4 review show D000012
    """
    with _failures():
        seen = review_service.explain(obj.context(only_reads=True), doc)
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column(overflow="fold")
    for label, value in (
        ("document", f"{seen.doc_id}  {seen.source_name}  ({seen.state})"),
        ("proposed class", seen.proposed_class or "none recognised"),
        ("filed as", seen.record_class or "—"),
        ("confidence", f"{seen.confidence:.2f}"),
        ("decided by", seen.decided_by or "—"),
        ("S4's reasoning" if seen.decided_by_person else "why", seen.reason),
        ("model probability", str(seen.model_probability or "no model yet")),
        ("document date", seen.document_date or "not found"),
        ("references", ", ".join(seen.references) or "none found"),
        ("alternatives", ", ".join(f"{c} {p:.2f}" for c, p in seen.alternatives) or "none"),
    ):
        grid.add_row(label, value)
    common.out.print(grid)
    if seen.evidence:
        table = Table(title="Evidence for the proposed class", title_justify="left")
        for column in ("kind", "term", "weight"):
            table.add_column(column)
        for item in seen.evidence:
            table.add_row(item["kind"], item["term"], f"{item['weight']:+g}")
        common.out.print(table)
    common.out.print(f"[bold]Text (first 600 characters)[/]\n{seen.text[:600]}", highlight=False)


def _report(common, outcome: review_service.ReviewOutcome, done: str | None = None) -> None:
    """Each decided document's line (its retention, or ``done``); a refusal ends with 2."""
    for doc_id in outcome.changed:
        decision = outcome.decisions.get(doc_id)
        if decision is None:
            common.out.print(f"{doc_id}: {done}", highlight=False)
            continue
        due = decision.disposal_due.isoformat() if decision.disposal_due else decision.status
        common.out.print(f"{doc_id}: filed under rule {decision.rule_id}; {decision.action} "
                      f"{'on ' + due if decision.disposal_due else '(' + due + ')'}",
                      highlight=False)
    for refusal in outcome.refused:
        common.fail(refusal.reason, ExitCode.USAGE)


def _one_by_one(obj, docs: tuple[str, ...], who: str | None, decide, done: str | None = None
                ) -> None:
    """Decide documents in the order given, stopping at the first that is refused (the
    ones before it stay decided), as this command always has."""
    ctx = obj.context()
    if who:
        ctx = ctx.acting_as(who)
    for doc in docs:
        _report(common, decide(ctx, [doc]), done)


@review.command("accept")
@click.argument("docs", nargs=-1, required=True)
@click.option("--as", "who", default=None, help="Who decides (default: your login name).")
@click.option("--reason", default="proposal confirmed", show_default=True)
@click.pass_obj
def review_accept(obj, docs: tuple[str, ...], who: str | None, reason: str) -> None:
    """Confirm S4's proposed class; the record is filed and its retention set.

    \b
    Example:
      s4 review accept D000012 D000014 --as "A. Records-Manager"
    """
    _one_by_one(obj, docs, who, lambda ctx, one: review_service.accept(ctx, one, reason))


@review.command("not-a-record")
@click.argument("docs", nargs=-1, required=True)
@click.option("--reason", required=True, help="What it is, e.g. \"canteen menu\".")
@click.option("--as", "who", default=None, help="Who decides (default: your login name).")
@click.pass_obj
def review_not_a_record(obj, docs: tuple[str, ...], reason: str, who: str | None) -> None:
    """Decide that documents in review are not records (junk that came in the box).

    They are not filed or stored, and their paper can go with the box. Changed your mind?
    `s4 review set DOC --class ID` files it after all.

    \b
    Example:
      s4 review not-a-record D000015 --reason "canteen menu" --as "A. Manager"
    """
    _one_by_one(obj, docs, who, lambda ctx, one: review_service.not_a_record(ctx, one, reason),
                f"not a record ({reason}); it will not be filed.")


@review.command("set")
@click.argument("doc")
@click.option("--class", "class_id", required=True, help="Record class id from the schedule.")
@click.option("--date", "document_date", callback=_date_option,
              help="Document date (2021-03-31 or 31/03/2021).")
@click.option("--reference", help="A reference (asset id) to add, e.g. an employee number.")
@click.option("--as", "who", default=None, help="Who decides (default: your login name).")
@click.option("--reason", default="set by reviewer", show_default=True)
@click.pass_obj
def review_set(obj, doc: str, class_id: str, document_date: date | None,
               reference: str | None, who: str | None, reason: str) -> None:
    """Decide the class yourself (also to correct a filed record, until it is disposed of).

    \b
    Example:
      s4 review set D000013 --class complaint --date 03/05/2022 \\
          --reference COMP-2022-118
    """
    _one_by_one(obj, (doc,), who, lambda ctx, one: review_service.set_class(
        ctx, one[0], class_id, reason, document_date, reference))


# --------------------------------------------------------------------------- classify


@click.group("classify")
def classify_group() -> None:
    """Train and evaluate the classifier.

    \b
    Example:
      s4 classify train
      s4 classify evaluate samples/scans/manifest.json --ground-truth
    """


@classify_group.command("train")
@click.option("--labels", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Train from a labelled manifest (file → record_type) instead of the "
                   "decisions confirmed in review.")
@click.option("--ground-truth", is_flag=True, help="With --labels: use the .gt.txt files.")
@click.option("--batch", help="With --labels: take OCR text from this batch.")
@click.option("--templates", help="With --labels: only templates matching this pattern.")
@click.option("--exclude-templates", help="With --labels: skip templates matching this.")
@click.option("--as", "who", default=None)
@click.pass_obj
def classify_train(obj, labels: Path | None, ground_truth: bool, batch: str | None,
                   templates: str | None, exclude_templates: str | None,
                   who: str | None) -> None:
    """Learn from the classes records managers confirmed (or a labelled set).

    The model is saved as JSON (never pickle) and its SHA-256 recorded; a model file changed
    outside S4 is refused.

    \b
    Example:
      s4 classify train
      s4 classify train --labels samples/scans/manifest.json --ground-truth
    """
    ctx = obj.context()
    if who:
        ctx = ctx.acting_as(who)
    with _failures():
        trained = classification.train(ctx, labels, ground_truth, batch, templates,
                                       exclude_templates)
    common.out.print(f"Trained on {trained.documents} documents in {len(trained.classes)} "
                  f"classes; saved {trained.path.name} (sha256 {trained.sha256[:12]}…).",
                  highlight=False)


@classify_group.command("evaluate")
@click.argument("labels", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--ground-truth", is_flag=True,
              help="Classify the .gt.txt texts instead of S4's OCR text.")
@click.option("--batch", help="Take OCR text from this batch (matched by file name).")
@click.option("--pipeline", "pipeline_name", default=None, help="Pipeline whose thresholds apply.")
@click.option("--templates", help="Only templates matching this pattern.")
@click.option("--exclude-templates", help="Skip templates matching this pattern.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.pass_obj
def classify_evaluate(obj, labels: Path, ground_truth: bool, batch: str | None,
                      pipeline_name: str | None, templates: str | None,
                      exclude_templates: str | None, as_json: bool) -> None:
    """Measure the classifier on labelled documents: precision of what it would file
    automatically, the share it would send to review, and a confusion matrix.

    Label `junk` means "must not be filed under any class".

    \b
    Example:
      s4 run --batch eval /data/labelled
      s4 classify evaluate /data/labelled/manifest.json --batch eval
    """
    with _failures():
        results = classification.evaluate_labels(obj.context(), labels, ground_truth, batch,
                                                 pipeline_name, templates, exclude_templates)
    if as_json:
        click.echo(json.dumps(results, indent=2))
        return
    if results["seen_in_training"] or results["templates_seen_in_training"]:
        common.console.print(
            f"Warning: {results['seen_in_training']} of {results['documents']} documents (and "
            f"{len(results['templates_seen_in_training'])} template(s)) were in the model's "
            "training set, so these figures overstate how it will do on new documents. "
            "Evaluate on documents and templates it has not seen (--exclude-templates).",
            highlight=False)
    summary = Table(title="Classification on labelled documents", title_justify="left",
                    show_header=False)
    summary.add_column(style="bold")
    summary.add_column(justify="right")
    for key in ("documents", "auto_filed", "auto_filed_correct", "precision_auto_filed",
                "review_share", "junk_documents", "junk_auto_filed", "model",
                "seen_in_training"):
        summary.add_row(key.replace("_", " "), str(results[key]))
    common.out.print(summary)
    # The full matrix is in --json; per true class it reads: right, sent to review, wrong.
    matrix = Table(title="Confusion by true class", title_justify="left")
    for column in ("true class", "docs", "filed right", "review", "filed wrongly as"):
        matrix.add_column(column, overflow="fold",
                          justify="left" if column in ("true class", "filed wrongly as")
                          else "right")
    for true_class, row in results["confusion"].items():
        wrong = {c: n for c, n in row.items() if c not in (true_class, "review")}
        matrix.add_row(true_class, str(sum(row.values())), str(row.get(true_class, 0)),
                       str(row.get("review", 0)),
                       ", ".join(f"{c} ×{n}" for c, n in wrong.items()) or "")
    common.out.print(matrix)
    if results["mistakes"]:
        common.out.print("Auto-filed wrongly: " + ", ".join(
            f"{m['file']} ({m['true']} → {m['decided']})" for m in results["mistakes"]),
            highlight=False)


__all__ = ["classify_group", "review"]
