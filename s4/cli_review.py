"""``s4 review …`` (records managers' queue) and ``s4 classify train|evaluate``."""

from __future__ import annotations

import fnmatch
import json
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from s4 import db as store_db
from s4.classify import ClassifySettings, TextModel, classify
from s4.config import ConfigError

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, EXIT_ENVIRONMENT = 0, 1, 2, 3


def _cli():
    from s4 import cli  # the shared console, Context and helpers

    return cli


def parse_uk_date(text: str) -> date:
    """ISO (2021-03-31) or UK day-first (31/03/2021, 31 March 2021): as everywhere in S4."""
    from s4.retention import parse_date

    try:
        return parse_date(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _date_option(ctx: click.Context, param: click.Parameter, value: str | None) -> date | None:
    return parse_uk_date(value) if value else None


def _filer(obj):
    from s4.filing import Filer

    return Filer(obj.require_home(), obj.database(), store_db.default_actor())


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
    cli = _cli()
    queue = store_db.review_queue(obj.database(only_reads=True))
    if not queue:
        cli.out.print("The review queue is empty.")
        return
    table = Table(title=f"Review queue ({len(queue)})", title_justify="left")
    table.add_column("doc", no_wrap=True)
    table.add_column("file", overflow="fold")
    table.add_column("proposed", overflow="fold")
    table.add_column("conf", justify="right")
    table.add_column("why", overflow="fold", ratio=1)
    for doc in queue:
        explanation = json.loads(doc["classification"] or "{}")
        table.add_row(doc["id"], doc["source_name"], doc["proposed_class"] or "—",
                      f"{doc['class_confidence'] or 0:.2f}", explanation.get("reason", ""))
    cli.out.print(table)


@review.command("show")
@click.argument("doc")
@click.pass_obj
def review_show(obj, doc: str) -> None:
    """What S4 saw: text excerpt, proposed class, confidence, evidence and alternatives.

    \b
    Example:
      s4 review show D000012
    """
    cli = _cli()
    database = obj.database(only_reads=True)
    doc_id = cli._doc_id_or_fail(doc)
    record = store_db.get_document(database, doc_id)
    if record is None:
        cli.fail(f"no document {doc_id}", EXIT_USAGE)
    explanation = json.loads(record["classification"] or "{}")
    decided = record["decided_by"] or "—"
    decisions = [e for e in store_db.events_for(database, doc_id)
                 if e["action"] in ("review.accepted", "review.set", "review.not_a_record")]
    if record["decided_by"] == "person" and decisions:  # the person's word, not the model's
        last = decisions[-1]
        decided = f"{last['actor']} on {last['at'][:10]}: {last['details'].get('reason', '')}"
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column(overflow="fold")
    for label, value in (
        ("document", f"{record['id']}  {record['source_name']}  ({record['state']})"),
        ("proposed class", record["proposed_class"] or "none recognised"),
        ("filed as", record["record_class"] or "—"),
        ("confidence", f"{record['class_confidence'] or 0:.2f}"),
        ("decided by", decided),
        ("S4's reasoning" if record["decided_by"] == "person" else "why",
         explanation.get("reason", "")),
        ("model probability", str(explanation.get("model_probability") or "no model yet")),
        ("document date", record["document_date"] or "not found"),
        ("references", ", ".join(json.loads(record["refs"] or "[]")) or "none found"),
        ("alternatives", ", ".join(f"{c} {p:.2f}" for c, p in explanation.get(
            "alternatives", [])) or "none"),
    ):
        grid.add_row(label, value)
    cli.out.print(grid)
    evidence = explanation.get("evidence", [])
    if evidence:
        table = Table(title="Evidence for the proposed class", title_justify="left")
        for column in ("kind", "term", "weight"):
            table.add_column(column)
        for item in evidence:
            table.add_row(item["kind"], item["term"], f"{item['weight']:+g}")
        cli.out.print(table)
    text = " ".join(store_db.document_text(database, doc_id).split())
    cli.out.print(f"[bold]Text (first 600 characters)[/]\n{text[:600]}", highlight=False)


def _decision_summary(cli, doc_id: str, decision) -> None:
    due = decision.disposal_due.isoformat() if decision.disposal_due else decision.status
    cli.out.print(f"{doc_id}: filed under rule {decision.rule_id}; {decision.action} "
                  f"{'on ' + due if decision.disposal_due else '(' + due + ')'}", highlight=False)


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
    cli = _cli()
    filer = _filer(obj)
    who = who or store_db.default_actor()
    for doc in docs:
        doc_id = cli._doc_id_or_fail(doc)
        try:
            decision = filer.accept(doc_id, who, reason)
        except (LookupError, ValueError, ConfigError) as exc:
            cli.fail(str(exc), EXIT_USAGE)
        _decision_summary(cli, doc_id, decision)


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
    cli = _cli()
    filer = _filer(obj)
    for doc in docs:
        doc_id = cli._doc_id_or_fail(doc)
        try:
            filer.not_a_record(doc_id, who or store_db.default_actor(), reason)
        except (LookupError, ValueError) as exc:
            cli.fail(str(exc), EXIT_USAGE)
        cli.out.print(f"{doc_id}: not a record ({reason}); it will not be filed.",
                      highlight=False)


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
    cli = _cli()
    doc_id = cli._doc_id_or_fail(doc)
    try:
        decision = _filer(obj).set_class(doc_id, class_id, who or store_db.default_actor(),
                                         reason, document_date, reference)
    except (LookupError, ValueError, ConfigError) as exc:
        cli.fail(str(exc), EXIT_USAGE)
    _decision_summary(cli, doc_id, decision)


# --------------------------------------------------------------------------- classify


@click.group("classify")
def classify_group() -> None:
    """Train and evaluate the classifier.

    \b
    Example:
      s4 classify train
      s4 classify evaluate samples/scans/manifest.json --ground-truth
    """


def _labelled(manifest: Path, templates: str | None, exclude: str | None) -> list[dict]:
    """The labelled documents of a manifest: a JSON list (or {"documents": [...]}) of
    {"file": NAME, "record_type": CLASS or "junk", "template": optional}."""
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except OSError as exc:
        raise click.UsageError(f"{manifest}: cannot read it ({exc.strerror})") from None
    except ValueError as exc:
        raise click.UsageError(f"{manifest}: not valid JSON ({exc})") from None
    entries = data.get("documents") if isinstance(data, dict) else data
    if not isinstance(entries, list):
        raise click.UsageError(f'{manifest}: expected a list of labelled documents, or an '
                               f'object with a "documents" list')
    for number, entry in enumerate(entries, 1):
        if not isinstance(entry, dict) or not (entry.get("file") or entry.get("file_name")
                                               or entry.get("name")):
            raise click.UsageError(f'{manifest}: document {number}: needs a "file" name')
        if not entry.get("record_type"):
            raise click.UsageError(f'{manifest}: document {number} ({_entry_name(entry)}): '
                                   'needs a "record_type" (a class id, or "junk")')
    chosen = []
    for entry in entries:
        template = entry.get("template", "")
        if templates and not fnmatch.fnmatch(template, templates):
            continue
        if exclude and fnmatch.fnmatch(template, exclude):
            continue
        chosen.append(entry)
    return chosen


def _entry_name(entry: dict) -> str:
    return entry.get("file") or entry.get("file_name") or entry["name"]


def _texts_for(entries: list[dict], manifest: Path, ground_truth: bool, database,
               batch: str | None) -> list[tuple[dict, str]]:
    """Text per labelled file: its ground truth, or S4's OCR text of the same file name."""
    pairs = []
    if ground_truth:
        for entry in entries:
            name = _entry_name(entry)
            truth = manifest.parent / f"{Path(name).stem}.gt.txt"
            if not truth.exists():
                truth = manifest.parent / f"{name}.gt.txt"
            if not truth.exists():
                raise click.UsageError(f"{manifest}: no ground-truth text {truth.name} for "
                                       f"{name} beside it")
            pairs.append((entry, truth.read_text(encoding="utf-8")))
        return pairs
    docs = {d["source_name"]: d for d in store_db.documents(database, batch)
            if d["state"] not in (store_db.DUPLICATE, store_db.QUARANTINED)}
    for entry in entries:
        doc = docs.get(_entry_name(entry))
        if doc is not None:
            pairs.append((entry, store_db.document_text(database, doc["id"])))
    return pairs


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
    cli = _cli()
    database = obj.database()
    if labels:
        entries = _labelled(labels, templates, exclude_templates)
        pairs = _texts_for(entries, labels, ground_truth, database, batch)
        texts = [text for _, text in pairs]
        targets = [entry["record_type"] for entry, _ in pairs]
        used_templates = [str(entry.get("template", "")) for entry, _ in pairs]
    else:
        examples = store_db.confirmed_examples(database)
        texts = [e["text"] for e in examples]
        targets = [e["record_class"] for e in examples]
        used_templates = []
    counts = Counter(targets)
    if len(counts) < 2 or len(texts) < 4:
        cli.fail(f"not enough confirmed decisions to train on ({len(texts)} documents, "
                 f"{len(counts)} classes; need at least 4 documents in 2 classes). Confirm "
                 "more with `s4 review accept/set`.", EXIT_USAGE)
    model = TextModel.train(texts, targets, used_templates)
    models = obj.home.root / "models"
    models.mkdir(exist_ok=True)
    path = models / f"classifier-{store_db.now().replace(':', '').replace('.', '')}.json"
    digest = model.save(path)
    store_db.record_model(database, str(path), digest, who or store_db.default_actor(),
                          len(texts), sorted(counts))
    cli.out.print(f"Trained on {len(texts)} documents in {len(counts)} classes; saved "
                  f"{path.name} (sha256 {digest[:12]}…).", highlight=False)


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
    cli = _cli()
    from s4.filing import Filer

    database = obj.database()
    filer = Filer(obj.require_home(), database, store_db.default_actor())
    try:
        settings = obj.home.pipeline(pipeline_name or obj.home.settings().s4.default_pipeline)
        schedule = filer.schedule(settings.classify.schedule)
    except ConfigError as exc:
        cli.fail(str(exc), EXIT_USAGE)
    entries = _labelled(labels, templates, exclude_templates)
    pairs = _texts_for(entries, labels, ground_truth, database, batch)
    if not pairs:
        cli.fail("no labelled documents matched (check --batch, or use --ground-truth)",
                 EXIT_USAGE)
    options = settings.classify
    model = filer.model()
    results = evaluate(pairs, schedule, ClassifySettings(
        threshold=options.threshold, min_evidence=options.min_evidence,
        temperature=options.temperature, model_weight=options.model_weight), model)
    if as_json:
        click.echo(json.dumps(results, indent=2))
        return
    if results["seen_in_training"] or results["templates_seen_in_training"]:
        cli.console.print(
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
    cli.out.print(summary)
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
    cli.out.print(matrix)
    if results["mistakes"]:
        cli.out.print("Auto-filed wrongly: " + ", ".join(
            f"{m['file']} ({m['true']} → {m['decided']})" for m in results["mistakes"]),
            highlight=False)


def evaluate(pairs: list[tuple[dict, str]], schedule, settings: ClassifySettings,
             model: TextModel | None) -> dict[str, Any]:
    confusion: dict[str, Counter] = {}
    auto_filed = correct = junk = junk_filed = 0
    mistakes = []
    for entry, text in pairs:
        truth = entry["record_type"]
        result = classify(text, schedule, settings, model)
        decided = result.proposed_class if result.auto_file else "review"
        confusion.setdefault(truth, Counter())[decided] += 1
        junk += truth == "junk"
        if result.auto_file:
            auto_filed += 1
            junk_filed += truth == "junk"
            if result.proposed_class == truth:
                correct += 1
            else:
                mistakes.append({"file": _entry_name(entry), "true": truth, "decided": decided})
    columns = [*sorted({c for row in confusion.values() for c in row} - {"review"}), "review"]
    trained_on = set(model.templates) if model else set()
    return {
        "documents": len(pairs), "auto_filed": auto_filed, "auto_filed_correct": correct,
        "precision_auto_filed": round(correct / auto_filed, 3) if auto_filed else None,
        "review_share": round(1 - auto_filed / len(pairs), 3),
        "junk_documents": junk, "junk_auto_filed": junk_filed,
        "model": "trained model + rules" if model else "rules only",
        "confusion_columns": columns,
        "confusion": {k: dict(v) for k, v in sorted(confusion.items())},
        "mistakes": mistakes,
        # Documents/templates the model learnt from: figures on them are not generalisation.
        "seen_in_training": sum(model.seen(text) for _, text in pairs) if model else 0,
        "templates_seen_in_training": sorted(
            {str(e.get("template")) for e, _ in pairs if e.get("template") in trained_on}),
    }


__all__ = ["classify_group", "review"]
