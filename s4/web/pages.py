"""Page images for the desk, rendered from a record's PDF with pdf2image (poppler).

Each image is rendered once and kept under the home, at
``cache/pages/<doc>/<sha256 of the PDF>/<page>-<width>.png``: a new scan or a replaced PDF
has a new hash, so a stale image is never shown, and a view never re-renders.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path
from typing import Any

from pdf2image import convert_from_path

from s4.config import Home

WIDTHS = (400, 900, 1600)  # the only widths served: a client cannot fill the disk
DEFAULT_WIDTH = 900

_digests: dict[tuple[str, int, int], str] = {}
_locks: dict[Path, threading.Lock] = {}
_locks_guard = threading.Lock()


class NoPageImage(Exception):
    """The record has no readable PDF here (not processed yet, or stored only remotely)."""


def record_pdf(doc: dict[str, Any]) -> Path | None:
    """The record's PDF on this machine: the line's output, else the local store's copy."""
    for candidate in (doc.get("output_pdf"),
                      doc.get("store_location") if doc.get("store_backend") == "local"
                      else None):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def _pdf_digest(path: Path) -> str:
    info = path.stat()
    key = (str(path), info.st_size, info.st_mtime_ns)
    digest = _digests.get(key)
    if digest is None:
        sha = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                sha.update(block)
        digest = _digests[key] = sha.hexdigest()
    return digest


def cache_root(home: Home) -> Path:
    return home.root / "cache" / "pages"


def page_image(home: Home, doc: dict[str, Any], page_no: int, width: int) -> Path:
    """The cached PNG of one page (rendered now if it is the first view)."""
    if width not in WIDTHS:
        raise ValueError(f"width must be one of {', '.join(map(str, WIDTHS))}")
    pdf = record_pdf(doc)
    if pdf is None:
        raise NoPageImage(f"{doc['id']} has no PDF on this machine yet")
    if not 1 <= page_no <= (doc.get("pages") or 0):
        raise NoPageImage(f"{doc['id']} has no page {page_no}")
    target = cache_root(home) / doc["id"] / _pdf_digest(pdf) / f"{page_no}-{width}.png"
    if target.is_file():
        return target
    with _locks_guard:
        lock = _locks.setdefault(target, threading.Lock())
    with lock:  # two viewers of a new page wait for one render, not two
        if not target.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            (image,) = convert_from_path(pdf, first_page=page_no, last_page=page_no,
                                         size=(width, None), thread_count=1)
            partial = target.with_name(f".{target.name}.{os.getpid()}.part")
            image.save(partial, format="PNG", optimize=True)
            os.replace(partial, target)
    return target
