"""Helpers for the store tests: real small PDFs and documents in state ``filed``."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import img2pdf
from PIL import Image

from s4 import db as store_db


def make_pdf(path: Path, seed: int, side: int = 300) -> Path:
    """A real PDF around ``side``² bytes: one page of noise (incompressible, so the size is
    predictable and an upload takes several fragments when ``side`` is large)."""
    rng = random.Random(seed)
    image = Image.frombytes("L", (side, side), rng.randbytes(side * side))
    png = path.with_suffix(".png")
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(png)
    path.write_bytes(img2pdf.convert(str(png)))
    png.unlink()
    return path


def add_filed(database, home, name: str, pdf: Path, batch: str = "box-0042",
              **fields) -> str:
    """Register a document as the earlier stages would leave it: ``filed``, with metadata."""
    store_db.ensure_batch(database, batch, "default", batch, "test", "tester")
    data = pdf.read_bytes()
    metadata = {"record_class": "council-tax", "document_date": "2021-03-14",
                "refs": json.dumps(["CT-40012345"]), "disposal_due": "2028-04-01",
                "disposal_action": "destroy", "rule_id": "CT-1", "schedule_version": "abc123",
                "class_confidence": 0.93, "pages": 1}
    metadata.update(fields)
    # One transaction: a store worker running meanwhile never sees a half-seeded record.
    with store_db.transaction(database):
        doc_id = store_db.next_doc_id(database)
        store_db.insert_document(database, "tester", {
            "id": doc_id, "batch_id": batch, "box": batch,
            "position": store_db.next_position(database, batch), "source_name": name,
            "source_path": str(home.inbox / name), "source_size": len(data),
            "source_mtime": 0.0, "sha256": hashlib.sha256(data + b"scan").hexdigest(),
            "pipeline": "default", "state": store_db.FILED,  # seeded as filed
            "output_pdf": str(pdf), **metadata,
        })
        store_db.update_document(database, doc_id, "tester", "document.filed", {"test": True})
    return doc_id
