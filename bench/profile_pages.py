"""Where OCR time goes per page: ocrmypdf's steps timed, with S4's plugin and without.

    .venv/bin/python bench/profile_pages.py [--files 10] [--workdir .bench]

Runs ocrmypdf in this process, one page at a time (``--jobs 1``), on the first ``--files``
documents of ``make bench``'s corpus (made by ``bench/bench.py``), once as plain ocrmypdf
with S4's options and once with S4's plugin and second readings on, and prints the wall time
per page of each step (rasterising, orientation, deskew, the OCR image, the reading, the PDF).
Run it on a quiet machine: the steps are timed by the clock, not by CPU use.
"""

from __future__ import annotations

import argparse
import collections
import functools
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

STEPS = ("rasterize_preview", "get_orientation_correction", "rasterize", "preprocess_deskew",
         "create_ocr_image", "ocr_engine_hocr", "create_pdf_page_from_image", "postprocess")


def timed_steps(totals: dict[str, float]) -> None:
    """Wrap ocrmypdf's per-page steps (where its pipeline looks them up) in timers."""
    from ocrmypdf import _pipeline
    from ocrmypdf._pipelines import _common, ocr

    def wrap(module, name: str) -> None:
        original = getattr(module, name)

        @functools.wraps(original)
        def timer(*args, **kwargs):
            started = time.monotonic()
            try:
                return original(*args, **kwargs)
            finally:
                totals[name] += time.monotonic() - started

        setattr(module, name, timer)

    for name in STEPS:
        for module in (_common, _pipeline, ocr):
            if name in vars(module):
                wrap(module, name)


def run(files: list[Path], with_s4: bool) -> tuple[int, float, dict[str, float]]:
    import ocrmypdf
    import pikepdf

    from s4.config import load_pipeline
    from s4.ocr import REPAIR_ENV, _ocrmypdf_options, ocr_options_for_benchmark, worker_init
    from s4.ocr_repair import repair_environment

    settings = load_pipeline(ROOT / "pipelines" / "default.yaml").ocr
    worker_init()
    if with_s4:
        os.environ[REPAIR_ENV] = repair_environment(80, settings.language)
        options = _ocrmypdf_options(settings, jobs=1)
    else:
        os.environ.pop(REPAIR_ENV, None)
        options = {**ocr_options_for_benchmark(settings), "use_threads": True,
                   "progress_bar": False}
    totals: dict[str, float] = collections.defaultdict(float)
    timed_steps(totals)
    pages, started = 0, time.monotonic()
    for path in files:
        with pikepdf.open(path) as pdf:
            pages += len(pdf.pages)
        ocrmypdf.ocr(path, ROOT / ".bench" / "profile-out.pdf", **options)
    return pages, time.monotonic() - started, dict(totals)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10)
    parser.add_argument("--workdir", type=Path, default=ROOT / ".bench")
    parser.add_argument("--side", choices=("plain", "s4"), help="one side only (internal)")
    args = parser.parse_args()
    files = sorted((args.workdir / "corpus" / "pdf").glob("*.pdf"))[:args.files]
    if not files:
        raise SystemExit("no corpus: run bench/bench.py first (make bench)")
    if args.side:  # each side in a fresh process, so the timers wrap only its own run
        pages, seconds, totals = run(files, with_s4=args.side == "s4")
        print(f"{args.side}: {pages} pages, {seconds / pages:.2f} s/page")
        for name in STEPS:
            print(f"  {name:<28} {totals.get(name, 0.0) / pages:.2f} s/page")
        return
    import subprocess

    for side in ("plain", "s4"):
        subprocess.run([sys.executable, __file__, "--files", str(args.files), "--workdir",
                        str(args.workdir), "--side", side], check=True,
                       env={**os.environ, "OMP_THREAD_LIMIT": "1"})


if __name__ == "__main__":
    main()
