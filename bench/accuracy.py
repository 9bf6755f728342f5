"""Character error rate (CER) of S4's OCR text against the samples' ground truth.

    .venv/bin/python bench/accuracy.py --home .demo-home --manifest samples/scans/manifest.json

CER = edit distance / length of the ground truth, after folding whitespace (line breaks and
layout spacing are not reading errors). Documents are matched by file name; each one is
reported, and the total is the sum of edits over the sum of ground-truth characters.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rapidfuzz.distance import Levenshtein

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from s4 import db as store_db  # noqa: E402


def fold(text: str) -> str:
    return " ".join(text.split())


def measure(home: Path, manifest: Path, batch: str | None = None) -> dict:
    entries = json.loads(manifest.read_text(encoding="utf-8"))["documents"]
    database = store_db.connect(home / "s4.db")
    docs = {d["source_name"]: d for d in store_db.documents(database, batch)
            if d["state"] not in (store_db.DUPLICATE, store_db.QUARANTINED)}
    rows, edits, total = [], 0, 0
    for entry in entries:
        doc = docs.get(entry["file"])
        if doc is None:
            continue
        truth = fold((manifest.parent / entry["ground_truth"]).read_text(encoding="utf-8"))
        ocr = fold(store_db.document_text(database, doc["id"]))
        distance = Levenshtein.distance(ocr, truth)
        edits += distance
        total += len(truth)
        rotations = sorted({p.get("rotation", 0) for p in entry.get("page_details", [])})
        rows.append({"file": entry["file"], "doc": doc["id"], "pages": entry["pages"],
                     "rotations": rotations, "cer": round(distance / max(len(truth), 1), 4)})
    database.conn.close()
    return {"documents": len(rows), "characters": total,
            "cer": round(edits / total, 4) if total else None, "per_document": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--manifest", type=Path, default=ROOT / "samples/scans/manifest.json")
    parser.add_argument("--batch")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = measure(args.home, args.manifest, args.batch)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    for row in result["per_document"]:
        turned = ",".join(str(r) for r in row["rotations"] if r) or "-"
        print(f"{row['file']:16} {row['doc']}  pages {row['pages']}  turned {turned:8} "
              f"CER {row['cer']:.2%}")
    if result["cer"] is None:
        raise SystemExit("no processed documents matched the manifest")
    print(f"overall CER {result['cer']:.2%} over {result['characters']} characters in "
          f"{result['documents']} documents")


if __name__ == "__main__":
    main()
