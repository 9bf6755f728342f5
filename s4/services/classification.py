"""Training and measuring the classifier: from review decisions or a labelled manifest.

A labelled manifest is a JSON list (or ``{"documents": [...]}``) of
``{"file": NAME, "record_type": CLASS or "junk", "template": optional}``. Its text is the
ground truth beside it (``NAME.gt.txt``) or S4's OCR text of the document with that file name.
"""

from __future__ import annotations

import fnmatch
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from s4 import db as store_db
from s4.classify import ClassifySettings, TextModel, classify
from s4.context import HomeContext
from s4.errors import UsageProblem
from s4.schedule import Schedule

#: The fewest documents and classes a model is trained on.
MIN_DOCUMENTS, MIN_CLASSES = 4, 2


class ManifestProblem(UsageProblem):
    """The labelled manifest cannot be used as given (unreadable, not JSON, an entry
    without a file name or record type, a missing ground-truth file)."""


# --------------------------------------------------------------------------- the manifest


def entry_name(entry: dict) -> str:
    return entry.get("file") or entry.get("file_name") or entry["name"]


def labelled(manifest: Path, templates: str | None = None,
             exclude: str | None = None) -> list[dict]:
    """The labelled documents of a manifest whose template matches ``templates`` (a glob)
    and not ``exclude``."""
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ManifestProblem(f"{manifest}: cannot read it ({exc.strerror})") from None
    except ValueError as exc:
        raise ManifestProblem(f"{manifest}: not valid JSON ({exc})") from None
    entries = data.get("documents") if isinstance(data, dict) else data
    if not isinstance(entries, list):
        raise ManifestProblem(f'{manifest}: expected a list of labelled documents, or an '
                              f'object with a "documents" list')
    for number, entry in enumerate(entries, 1):
        if not isinstance(entry, dict) or not (entry.get("file") or entry.get("file_name")
                                               or entry.get("name")):
            raise ManifestProblem(f'{manifest}: document {number}: needs a "file" name')
        if not entry.get("record_type"):
            raise ManifestProblem(f'{manifest}: document {number} ({entry_name(entry)}): '
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


def texts_for(ctx: HomeContext, entries: list[dict], manifest: Path, ground_truth: bool,
              batch: str | None) -> list[tuple[dict, str]]:
    """Text per labelled file: its ground truth, or S4's OCR text of the same file name
    (entries with no such document are left out)."""
    pairs = []
    if ground_truth:
        for entry in entries:
            name = entry_name(entry)
            truth = manifest.parent / f"{Path(name).stem}.gt.txt"
            if not truth.exists():
                truth = manifest.parent / f"{name}.gt.txt"
            if not truth.exists():
                raise ManifestProblem(f"{manifest}: no ground-truth text {truth.name} for "
                                      f"{name} beside it")
            pairs.append((entry, truth.read_text(encoding="utf-8")))
        return pairs
    docs = {d["source_name"]: d for d in store_db.documents(ctx.db, batch)
            if d["state"] not in (store_db.DUPLICATE, store_db.QUARANTINED)}
    for entry in entries:
        doc = docs.get(entry_name(entry))
        if doc is not None:
            pairs.append((entry, store_db.document_text(ctx.db, doc["id"])))
    return pairs


# --------------------------------------------------------------------------- training


@dataclass(frozen=True)
class Trained:
    path: Path
    sha256: str
    documents: int
    classes: list[str]


def train(ctx: HomeContext, labels: Path | None = None, ground_truth: bool = False,
          batch: str | None = None, templates: str | None = None,
          exclude_templates: str | None = None) -> Trained:
    """Train a model on the classes records managers confirmed (or on a labelled manifest),
    save it as JSON in the home's models/ and record its SHA-256."""
    if labels:
        pairs = texts_for(ctx, labelled(labels, templates, exclude_templates), labels,
                          ground_truth, batch)
        texts = [text for _, text in pairs]
        targets = [entry["record_type"] for entry, _ in pairs]
        used_templates = [str(entry.get("template", "")) for entry, _ in pairs]
    else:
        examples = store_db.confirmed_examples(ctx.db)
        texts = [e["text"] for e in examples]
        targets = [e["record_class"] for e in examples]
        used_templates = []
    counts = Counter(targets)
    if len(counts) < MIN_CLASSES or len(texts) < MIN_DOCUMENTS:
        raise UsageProblem(
            f"not enough confirmed decisions to train on ({len(texts)} documents, "
            f"{len(counts)} classes; need at least {MIN_DOCUMENTS} documents in "
            f"{MIN_CLASSES} classes). Confirm more with `s4 review accept/set`.")
    model = TextModel.train(texts, targets, used_templates)
    models = ctx.home.root / "models"
    models.mkdir(exist_ok=True)
    path = models / f"classifier-{store_db.now().replace(':', '').replace('.', '')}.json"
    digest = model.save(path)
    store_db.record_model(ctx.db, str(path), digest, ctx.actor, len(texts), sorted(counts))
    return Trained(path, digest, len(texts), sorted(counts))


# --------------------------------------------------------------------------- evaluation


def evaluate_labels(ctx: HomeContext, labels: Path, ground_truth: bool = False,
                    batch: str | None = None, pipeline_name: str | None = None,
                    templates: str | None = None,
                    exclude_templates: str | None = None) -> dict[str, Any]:
    """Measure the classifier, under a pipeline's thresholds and the latest model, on a
    labelled manifest: the figures of ``evaluate``."""
    from s4.filing import Filer  # imported here: filing pulls in scikit-learn lazily

    pipeline = ctx.pipeline(pipeline_name or ctx.settings.s4.default_pipeline)
    schedule = ctx.schedule(pipeline.classify.schedule)
    pairs = texts_for(ctx, labelled(labels, templates, exclude_templates), labels,
                      ground_truth, batch)
    if not pairs:
        raise UsageProblem("no labelled documents matched (check --batch, or use "
                           "--ground-truth)")
    options = pipeline.classify
    return evaluate(pairs, schedule, ClassifySettings(
        threshold=options.threshold, min_evidence=options.min_evidence,
        temperature=options.temperature, model_weight=options.model_weight),
        Filer(ctx).model())


def evaluate(pairs: list[tuple[dict, str]], schedule: Schedule, settings: ClassifySettings,
             model: TextModel | None) -> dict[str, Any]:
    """Precision of what would be filed automatically, the share sent to review, junk
    filed, and the confusion matrix by true class (label ``junk``: must not be filed)."""
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
                mistakes.append({"file": entry_name(entry), "true": truth, "decided": decided})
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
