"""``make bench`` (after bench.py): how fast the desk serves a home with 1,000 documents.

Seeds a fresh home through s4/db.py's functions (1,000 documents, a fifth waiting for
review, each with two pages of text; a few share real two-page PDFs so their page images
can be rendered), then through the real ASGI app (Starlette's TestClient, in process):
the median time to serve the review desk page, the document page, search and one box's
paper eligibility (``/paper/{box}``, whose records are filed) over ``--requests`` requests
each, and to render a page image the first time (poppler) and from the cache.
Prints a small table and writes the figures to .bench/desk.json. Not a timed test.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from starlette.testclient import TestClient  # noqa: E402

from s4 import accounts  # noqa: E402
from s4 import db as store_db  # noqa: E402
from s4.config import Home  # noqa: E402
from s4.home import initialise  # noqa: E402
from tests.conftest import write_scan  # noqa: E402
from tests.web_support import PASSWORD, csrf_from  # noqa: E402

PAPER_BOX = "box-000"  # its records are filed, so /paper/{box} checks each one's QA
WORDS = ["council", "tax", "bill", "account", "arrears", "payment", "reminder", "planning",
         "application", "housing", "benefit", "claim", "business", "rates", "notice"]


def seed(home: Home, documents: int, real_pdfs: int) -> list[str]:
    """The home's rows, written straight through db.py (no OCR): returns the doc ids."""
    database = store_db.connect(home.database)
    store_db.migrate(database)
    accounts.add_user(database, "bench", [accounts.RECORDS_MANAGER], PASSWORD, "bench")
    pdfs = [write_scan(home.work / "bench" / f"scan-{n}.pdf", pages=2)
            for n in range(real_pdfs)]
    ids = []
    for number in range(documents):
        box = f"box-{number // 50:03d}"
        store_db.ensure_batch(database, box, "default", box, "bench", "bench")
        doc_id = store_db.next_doc_id(database)
        pdf = pdfs[number % len(pdfs)]
        with store_db.transaction(database):
            store_db.insert_document(database, "bench", {
                "id": doc_id, "batch_id": box, "box": box, "position": number % 50 + 1,
                "source_name": f"scan-{number:04d}.pdf", "source_path": str(pdf),
                "source_size": 1, "source_mtime": 0.0, "sha256": f"{number:064x}",
                "pipeline": "default", "state": store_db.OCR})
        text = " ".join(WORDS[(number + k) % len(WORDS)] for k in range(60))
        store_db.record_ocr_result(
            database, doc_id, "bench",
            [{"page_no": n, "confidence": 88.0, "words": 60, "rotation": 0,
              "ocr_skipped": 0, "flagged": 0, "text": text} for n in (1, 2)],
            {"state": store_db.PROCESSED, "pages": 2, "output_pdf": str(pdf), "pdfa": 1,
             "ocr_conf_mean": 88.0, "ocr_conf_min": 88.0}, {})
        if box == PAPER_BOX and number % 5:  # filed: its paper's QA state is worked out
            store_db.update_document(
                database, doc_id, "bench", "document.filed", {}, state=store_db.FILED,
                record_class="council-tax", document_date="2024-04-01")
        elif number % 5 == 0:
            store_db.update_document(
                database, doc_id, "bench", "document.needs_review", {},
                state=store_db.NEEDS_REVIEW, proposed_class="council-tax",
                class_confidence=0.5, document_date="2024-04-01", refs='["12345678"]',
                classification='{"reason": "below the threshold", "alternatives": []}')
        ids.append(doc_id)
    database.conn.close()
    return ids


def median_ms(client: TestClient, url: str, requests: int) -> float:
    times = []
    for _ in range(requests):
        start = time.perf_counter()
        response = client.get(url)
        times.append(time.perf_counter() - start)
        assert response.status_code == 200, (url, response.status_code)
    return round(statistics.median(times) * 1000, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--workdir", type=Path, default=ROOT / ".bench")
    args = parser.parse_args()
    from s4.web.app import create_app

    root = args.workdir / "desk-home"
    shutil.rmtree(root, ignore_errors=True)
    home = Home(root)
    initialise(home)
    started = time.perf_counter()
    ids = seed(home, args.documents, real_pdfs=3)
    seeded = time.perf_counter() - started
    client = TestClient(create_app(home))
    form = client.get("/sign-in")
    client.post("/sign-in", data={"csrf_token": csrf_from(form.text), "username": "bench",
                                  "password": PASSWORD, "next": "/"})
    review_id = ids[0]  # waiting for review
    figures = {
        "documents": args.documents, "requests_each": args.requests,
        "seed_seconds": round(seeded, 1),
        "review_queue_ms": median_ms(client, "/review", args.requests),
        "review_item_ms": median_ms(client, f"/review/{review_id}", args.requests),
        "document_page_ms": median_ms(client, f"/documents/{ids[len(ids) // 2]}",
                                      args.requests),
        "search_ms": median_ms(client, "/search?q=arrears+payment", args.requests),
        "paper_box_ms": median_ms(client, f"/paper/{PAPER_BOX}", args.requests),
    }
    first, cached = [], []
    for doc_id in ids[:3]:  # each a different real PDF: a first render each time
        url = f"/documents/{doc_id}/pages/1.png"
        start = time.perf_counter()
        assert client.get(url).status_code == 200
        first.append(time.perf_counter() - start)
        for _ in range(args.requests // 3 or 1):
            start = time.perf_counter()
            assert client.get(url).status_code == 200
            cached.append(time.perf_counter() - start)
    figures["page_image_first_ms"] = round(statistics.median(first) * 1000, 1)
    figures["page_image_cached_ms"] = round(statistics.median(cached) * 1000, 1)
    print(f"Desk on a home with {args.documents} documents (median of {args.requests} "
          "requests, in-process ASGI):")
    rows = [("review queue (/review)", "review_queue_ms"),
            ("review item (/review/{id})", "review_item_ms"),
            ("document page (/documents/{id})", "document_page_ms"),
            ("search (/search?q=…)", "search_ms"),
            ("paper by box (/paper/{box}, 50 records)", "paper_box_ms"),
            ("page image, first render (900 px)", "page_image_first_ms"),
            ("page image, from the cache", "page_image_cached_ms")]
    for label, key in rows:
        print(f"  {label:<36} {figures[key]:>8.1f} ms")
    args.workdir.mkdir(parents=True, exist_ok=True)
    (args.workdir / "desk.json").write_text(json.dumps(figures, indent=2))
    print(f"Figures written to {args.workdir / 'desk.json'}")


if __name__ == "__main__":
    main()
