"""``make bench`` (part): how well S4 splits a scanned stack, and what separation costs.

Generates a stack of ``--documents`` documents (``samples/make_stacks.py``: box cover sheets,
separators, one in five turned, PATCH T sheets, duplex blank backs; degraded like scans),
then:

- separation accuracy: documents whose scan pages and box S4's plan gets exactly right,
  over all documents; and whether every left-out page (sheet, blank back) was found;
- separation time per page (rendering small, reading codes, measuring ink), on its own;
- OCR time per page with S4's OCR options on a few of the same pages, for comparison.

With ``--end-to-end`` it also runs ``s4 run`` on the stack and checks the records made.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "samples"))

import make_stacks  # noqa: E402

from s4 import sheets  # noqa: E402
from s4.config import load_pipeline  # noqa: E402
from s4.ocr import ocr_options_for_benchmark  # noqa: E402


def accuracy(plan: sheets.SplitPlan, truth: dict) -> tuple[int, int]:
    expected = [(r["scan_pages"], r["box"]) for r in truth["records"]]
    found = {(tuple(d.pages), d.box) for d in plan.documents}
    right = sum(1 for pages, box in expected if (tuple(pages), box) in found)
    return right, len(expected)


def ocr_seconds_per_page(stack: Path, pages: list[int], folder: Path) -> float:
    import ocrmypdf

    options = ocr_options_for_benchmark(load_pipeline(ROOT / "pipelines" / "default.yaml").ocr)
    source = folder / "ocr-sample.pdf"
    sheets.extract_pages(stack, pages, source)
    started = time.monotonic()
    ocrmypdf.ocr(source, folder / "ocr-out.pdf", **options)
    return (time.monotonic() - started) / len(pages)


def end_to_end(stack: Path, truth: dict, folder: Path) -> dict:
    home = folder / "home"
    s4 = [str(Path(sys.executable).parent / "s4"), "--home", str(home)]
    subprocess.run([*s4, "init"], check=True, capture_output=True)
    pipeline = home / "pipelines" / "default.yaml"
    pipeline.write_text(pipeline.read_text().replace(
        "  separation: file", "  separation: sheet").replace(
        "  blank_pages: keep", "  blank_pages: drop"))
    started = time.monotonic()
    ran = subprocess.run([*s4, "run", "--batch", "bench", str(stack)], capture_output=True,
                         text=True)
    seconds = time.monotonic() - started
    if ran.returncode not in (0, 1):
        print(ran.stdout[-3000:], ran.stderr[-3000:], file=sys.stderr)
    from s4 import db as store_db
    from s4.config import Home

    database = store_db.connect(Home(home).database)
    records = [d for d in store_db.documents(database) if d["stack_id"]]
    expected = [(sheets.page_ranges(r["scan_pages"]), r["box"]) for r in truth["records"]]
    made = {(d["scan_pages"], d["box"]) for d in records}
    return {"records": len(records), "expected": len(expected),
            "right": sum(1 for item in expected if item in made),
            "ocr_done": sum(1 for d in records if d["state"] in store_db.OCR_DONE_STATES),
            "seconds": round(seconds, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--documents", type=int, default=30)
    parser.add_argument("--dpi", type=int, default=200)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--ocr-pages", type=int, default=3)
    parser.add_argument("--end-to-end", action="store_true")
    parser.add_argument("--json", type=Path, help="Also write the results here.")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="s4-separation-") as tmp:
        folder = Path(tmp)
        truth = make_stacks.make_stack(
            folder, "stack", make_stacks.bench_stack_items(args.documents, args.seed),
            args.dpi, args.seed)
        stack = folder / truth["file"]
        prepared = folder / "prepared.pdf"  # what the worker reads: already a PDF
        prepared.write_bytes(stack.read_bytes())
        plan = sheets.analyse(prepared, "sheet", "drop", 0.25, 100)
        right, total = accuracy(plan, truth)
        dropped_ok = plan.dropped == truth["dropped"]
        first_pages = [r["scan_pages"][0] for r in truth["records"][:args.ocr_pages]]
        ocr_per_page = ocr_seconds_per_page(stack, first_pages, folder)
        results = {
            "documents": total, "scan_pages": truth["pages"], "dpi": args.dpi,
            "split_correctly": right, "accuracy": round(right / total, 4),
            "left_out_pages_exact": dropped_ok,
            "separation_seconds_per_page": round(plan.seconds / truth["pages"], 4),
            "ocr_seconds_per_page": round(ocr_per_page, 3),
        }
        results["separation_share_of_ocr"] = round(
            results["separation_seconds_per_page"] / results["ocr_seconds_per_page"], 4)
        if args.end_to_end:
            results["end_to_end"] = end_to_end(stack, truth, folder)
    print(f"Separation: {right}/{total} documents split correctly "
          f"({100 * right / total:.1f} %) on a {truth['pages']}-page stack at {args.dpi} dpi; "
          f"pages left out exactly as expected: {'yes' if dropped_ok else 'NO'}")
    print(f"Separation time: {results['separation_seconds_per_page'] * 1000:.0f} ms/page; "
          f"OCR: {results['ocr_seconds_per_page'] * 1000:.0f} ms/page "
          f"(separation = {100 * results['separation_share_of_ocr']:.1f} % of OCR)")
    if "end_to_end" in results:
        e = results["end_to_end"]
        print(f"s4 run: {e['records']} records ({e['right']}/{e['expected']} with the right "
              f"pages and box, {e['ocr_done']} OCRed) in {e['seconds']} s")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0 if right == total and dropped_ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
