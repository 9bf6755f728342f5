"""OCR quality and speed on rough paper: S4 against plain ocrmypdf on the same files.

    .venv/bin/python bench/quality.py            # part of ``make bench``

The corpus is ``samples/make_samples.py --rough`` output (deterministic for the seeds given),
wrapped as image-only PDFs exactly as ``bench/bench.py`` does. The baseline is plain
``ocrmypdf --rotate-pages --deskew`` with S4's other OCR options, one process per core, its
text taken from ``--sidecar``; S4 is ``s4 run`` on the same folder, its text taken from the
database. The character error rate (``bench/accuracy.py``'s measure: edit distance over the
ground truth's length, whitespace folded) is summed per degradation level of the page
(clean / office / rough, from the manifest), then divided. Writes ``.bench/quality.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from rapidfuzz.distance import Levenshtein

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from accuracy import fold  # noqa: E402

from bench import count_pages, make_corpus, run_baseline, run_s4  # noqa: E402
from s4 import db as store_db  # noqa: E402
from s4.config import load_pipeline  # noqa: E402
from s4.ocr import ocr_options_for_benchmark  # noqa: E402

LEVELS = ("clean", "office", "rough")


def page_truths(raw: Path) -> dict[str, list[tuple[str, str, list[str]]]]:
    """For each document (by file stem): its pages' (level, ground truth text, kinds of
    rough damage)."""
    manifest = json.loads((raw / "manifest.json").read_text(encoding="utf-8"))
    truths = {}
    for entry in manifest["documents"]:
        texts = (raw / entry["ground_truth"]).read_text(encoding="utf-8").split("\f")
        details = entry["page_details"]
        truths[Path(entry["file"]).stem] = [
            (page.get("level", "office"), text, list(page.get("rough_damage") or []))
            for page, text in zip(details, texts, strict=True)]
    return truths


class Tally:
    """Edits and ground-truth characters per level."""

    def __init__(self) -> None:
        self.edits = dict.fromkeys(LEVELS, 0)
        self.chars = dict.fromkeys(LEVELS, 0)
        self.pages = dict.fromkeys(LEVELS, 0)
        self.per_page: list[dict] = []
        # Rough pages per kind of damage (a page with several kinds counts for each).
        self.damage_edits: dict[str, int] = {}
        self.damage_chars: dict[str, int] = {}

    def add(self, level: str, ocr: str, truth: str, page: str = "",
            damage: list[str] | None = None) -> None:
        truth = fold(truth)
        distance = Levenshtein.distance(fold(ocr), truth)
        self.edits[level] += distance
        self.chars[level] += len(truth)
        self.pages[level] += 1
        for kind in damage or []:
            self.damage_edits[kind] = self.damage_edits.get(kind, 0) + distance
            self.damage_chars[kind] = self.damage_chars.get(kind, 0) + len(truth)
        self.per_page.append({"page": page, "level": level, "damage": damage or [],
                              "cer": round(distance / max(len(truth), 1), 4)})

    def merge(self, other: Tally, seed: int) -> None:
        for level in LEVELS:
            self.edits[level] += other.edits[level]
            self.chars[level] += other.chars[level]
            self.pages[level] += other.pages[level]
        for kind, chars in other.damage_chars.items():
            self.damage_chars[kind] = self.damage_chars.get(kind, 0) + chars
            self.damage_edits[kind] = self.damage_edits.get(kind, 0) + other.damage_edits[kind]
        self.per_page += [{**row, "seed": seed} for row in other.per_page]

    def damage_cer(self) -> dict[str, float]:
        return {kind: round(self.damage_edits[kind] / chars, 4)
                for kind, chars in sorted(self.damage_chars.items()) if chars}

    def cer(self) -> dict[str, float | None]:
        result = {level: round(self.edits[level] / self.chars[level], 4)
                  if self.chars[level] else None for level in LEVELS}
        total = sum(self.chars.values())
        result["all"] = round(sum(self.edits.values()) / total, 4) if total else None
        return result


def score(truths: dict[str, list[tuple[str, str]]], texts: dict[str, str]) -> Tally:
    """CER tally of one side's texts (pages separated by form feeds) against the truth."""
    tally = Tally()
    for stem, pages in truths.items():
        if stem not in texts:
            raise SystemExit(f"{stem}: no text from this side (quarantined or not run)")
        read = texts[stem].split("\f")
        for index, (level, truth, damage) in enumerate(pages):
            tally.add(level, read[index] if index < len(read) else "", truth,
                      f"{stem}/{index + 1}", damage)
    return tally


def s4_texts(home: Path) -> dict[str, str]:
    database = store_db.connect(home / "s4.db")
    try:
        return {Path(doc["source_name"]).stem: store_db.document_text(database, doc["id"])
                for doc in store_db.documents(database, None)
                if doc["state"] not in (store_db.DUPLICATE, store_db.QUARANTINED)}
    finally:
        database.conn.close()


def s4_repairs(home: Path) -> dict[str, int]:
    """How many pages were read twice, and how many kept the second reading."""
    database = store_db.connect(home / "s4.db")
    try:
        read_twice = kept_second = 0
        for doc in store_db.documents(database, None):
            for page in store_db.pages_of(database, doc["id"]):
                if page["ocr_attempts"]:
                    read_twice += 1
                    kept_second += page["ocr_attempts"]["kept"] != "first"
        return {"pages_read_twice": read_twice, "pages_kept_second_reading": kept_second}
    finally:
        database.conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=16, help="documents per seed")
    parser.add_argument("--rough", type=float, default=0.5, help="share of rough pages")
    parser.add_argument("--seeds", default="21,22", help="comma-separated corpus seeds")
    parser.add_argument("--workdir", type=Path, default=ROOT / ".bench" / "quality")
    args = parser.parse_args()

    cores = os.cpu_count() or 1
    options = ocr_options_for_benchmark(load_pipeline(ROOT / "pipelines" / "default.yaml").ocr)
    baseline, s4 = Tally(), Tally()
    pages = 0
    baseline_seconds = s4_seconds = 0.0
    repairs = {"pages_read_twice": 0, "pages_kept_second_reading": 0}
    for seed in (int(s) for s in args.seeds.split(",")):
        corpus = args.workdir / f"corpus-{seed}"
        files = make_corpus(corpus, args.count, seed, rough=args.rough, count=args.count)
        truths = page_truths(corpus / "raw")
        pages += count_pages(files)
        out = args.workdir / f"baseline-{seed}"
        baseline_seconds += run_baseline(files, out, options, cores, sidecar=True)
        score_texts = {path.stem: path.read_text(encoding="utf-8")
                       for path in out.glob("*.txt")}
        baseline_tally = score(truths, score_texts)
        home = args.workdir / f"home-{seed}"
        seconds, _ = run_s4(corpus / "pdf", home, repair_below=80)  # the default, explicit
        s4_seconds += seconds
        s4_tally = score(truths, s4_texts(home))
        baseline.merge(baseline_tally, seed)
        s4.merge(s4_tally, seed)
        for key, value in s4_repairs(home).items():
            repairs[key] += value
    baseline_rate = pages / (baseline_seconds / 60)
    s4_rate = pages / (s4_seconds / 60)
    result = {
        "command": " ".join(["bench/quality.py", *sys.argv[1:]]),
        "seeds": args.seeds, "count": args.count, "rough": args.rough, "cores": cores,
        "pages": pages, "pages_per_level": s4.pages,
        "cer_ocrmypdf": baseline.cer(), "cer_s4": s4.cer(),
        "rough_cer_by_damage": {kind: {"ocrmypdf": theirs, "s4": s4.damage_cer()[kind]}
                                for kind, theirs in baseline.damage_cer().items()},
        "ocrmypdf_pages_per_minute": round(baseline_rate, 1),
        "s4_pages_per_minute": round(s4_rate, 1),
        "ratio": round(s4_rate / baseline_rate, 3), **repairs,
        "per_page": [{**ours, "cer_ocrmypdf": theirs["cer"]}
                     for ours, theirs in zip(s4.per_page, baseline.per_page, strict=True)],
    }
    args.workdir.mkdir(parents=True, exist_ok=True)
    (ROOT / ".bench" / "quality.json").write_text(json.dumps(result, indent=2))
    print(f"corpus: seeds {args.seeds}, {pages} pages "
          + ", ".join(f"{s4.pages[level]} {level}" for level in LEVELS) + f"; {cores} cores")
    print(f"{'CER':8} {'ocrmypdf':>9} {'s4':>9}")
    for level in (*LEVELS, "all"):
        theirs, ours = result["cer_ocrmypdf"][level], result["cer_s4"][level]
        shown = [f"{v:9.2%}" if v is not None else f"{'-':>9}" for v in (theirs, ours)]
        print(f"{level:8} {shown[0]} {shown[1]}")
    print("rough pages by kind of damage (a page with several kinds counts for each):")
    for kind, pair in result["rough_cer_by_damage"].items():
        print(f"  {kind:16} {pair['ocrmypdf']:9.2%} {pair['s4']:9.2%}")
    print(f"pages/minute: ocrmypdf {baseline_rate:.1f}, s4 {s4_rate:.1f}, "
          f"ratio {result['ratio']:.3f}; pages read twice {repairs['pages_read_twice']}, "
          f"second reading kept {repairs['pages_kept_second_reading']}")


if __name__ == "__main__":
    main()
