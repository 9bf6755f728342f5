"""Classification on templates the model never saw: ``make evaluate``.

1. Generate labelled scans (``samples/make_samples.py``): every template, several times.
2. Split by template: for each record type the first template (alphabetically) is for
   training, every other template is held out. Junk is never trained on.
3. Train S4's model on the training documents' text (as a records manager's confirmed
   decisions would give it).
4. OCR the held-out documents with ``s4 run`` (real Tesseract) and classify their OCR text
   with the shipped schedule: rules alone, and rules + the trained model.

Prints precision of what S4 would file automatically, the share sent to review, junk filed
(must be 0) and the mistakes. The schedule's rules are hand-written, so "held out" applies
to the model; the rules were not tuned on these documents' generator either way.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))

from s4 import db as store_db  # noqa: E402
from s4.classify import ClassifySettings, TextModel  # noqa: E402
from s4.config import load_pipeline  # noqa: E402
from s4.schedule import load_schedule  # noqa: E402
from s4.services.classification import evaluate  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=62, help="documents to generate")
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--workdir", type=Path, default=ROOT / ".bench" / "holdout")
    args = parser.parse_args()

    shutil.rmtree(args.workdir, ignore_errors=True)
    scans = args.workdir / "scans"
    subprocess.run([sys.executable, str(ROOT / "samples" / "make_samples.py"), "--out",
                    str(scans), "--count", str(args.count), "--seed", str(args.seed),
                    "--quiet"], check=True)
    entries = json.loads((scans / "manifest.json").read_text())["documents"]
    templates: dict[str, set[str]] = defaultdict(set)
    for entry in entries:
        templates[entry["record_type"]].add(entry["template"])
    train_templates = {sorted(names)[0] for kind, names in templates.items() if kind != "junk"}
    train = [e for e in entries if e["template"] in train_templates]
    held_out = [e for e in entries if e["template"] not in train_templates]

    model = TextModel.train(
        [(scans / e["ground_truth"]).read_text(encoding="utf-8") for e in train],
        [e["record_type"] for e in train], [e["template"] for e in train])

    home = args.workdir / "home"
    subprocess.run([str(BIN / "s4"), "--home", str(home), "init"], check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run([str(BIN / "s4"), "--home", str(home), "run", "--batch", "holdout",
                    *[str(scans / e["file"]) for e in held_out]], check=False,
                   stdout=subprocess.DEVNULL)
    database = store_db.connect(home / "s4.db")
    docs = {d["source_name"]: d["id"] for d in store_db.documents(database, "holdout")}
    pairs = [(e, store_db.document_text(database, docs[e["file"]])) for e in held_out
             if e["file"] in docs]

    pipeline = load_pipeline(ROOT / "pipelines" / "default.yaml").classify
    schedule = load_schedule(ROOT / "retention_rules" / f"{pipeline.schedule}.yaml")
    settings = ClassifySettings(threshold=pipeline.threshold, min_evidence=pipeline.min_evidence,
                                temperature=pipeline.temperature,
                                model_weight=pipeline.model_weight)
    print(f"trained on {len(train)} documents from {len(train_templates)} templates; "
          f"evaluated on {len(pairs)} OCRed documents from "
          f"{len({e['template'] for e, _ in pairs})} held-out templates")
    results = {}
    leaked = evaluate(pairs, schedule, settings, model)["templates_seen_in_training"]
    if leaked:  # the split above is the whole point of this measurement
        sys.exit(f"held-out documents share templates with training: {leaked}")
    for label, used in (("rules only", None), ("rules + model", model)):
        result = evaluate(pairs, schedule, settings, used)
        results[label] = result
        print(f"{label:14} auto-filed {result['auto_filed']}/{result['documents']}, "
              f"precision {result['precision_auto_filed']}, review share "
              f"{result['review_share']}, junk filed {result['junk_auto_filed']}/"
              f"{result['junk_documents']}; mistakes: "
              + (", ".join(f"{m['file']} {m['true']}→{m['decided']}" for m in
                           result["mistakes"]) or "none"))
    (args.workdir / "results.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
