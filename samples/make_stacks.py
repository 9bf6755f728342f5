#!/usr/bin/env python3
"""Generate scanned *stacks*: several documents in one scanner file, as a scanning room makes.

Reuses ``make_samples.py``'s documents, page renderer and degradations. Between documents it
puts S4's own separator sheets (rendered from ``s4 sheets separator``'s PDF, then printed-and-
scanned: skewed, speckled, faded, sometimes upside down or turned 90°), box cover sheets
(``s4 sheets box``), PATCH T sheets (a Code 128 barcode reading ``PATCHT``) and duplex blank
backs. Each stack comes with what S4 should make of it: the records, their scan pages and
box, and the pages left out with why.

A stack is described by a list of items: ``("box", "BOX-ID")``, ``("sep", rotation)``,
``("patcht", rotation)``, ``("doc", duplex)``, ``("blank",)``.

Usage::

    python samples/make_stacks.py --out /tmp/stacks --documents 30 --dpi 150
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_samples as samples

Item = tuple[Any, ...]


def _pdf_page_image(data: bytes, dpi: int) -> Image.Image:
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(data)
    try:
        page = document[0]
        image = page.render(scale=dpi / 72).to_pil().convert("RGB")
        page.close()
        return image
    finally:
        document.close()


def separator_image(dpi: int) -> Image.Image:
    from s4.sheets import separator_sheets

    return _pdf_page_image(separator_sheets(1), dpi)


def box_image(box_id: str, dpi: int) -> Image.Image:
    from s4.sheets import box_sheets

    return _pdf_page_image(box_sheets(box_id, 1), dpi)


def patch_t_image(dpi: int) -> Image.Image:
    """A PATCH T sheet as paperless-ngx users print it: a big Code 128 barcode "PATCHT"."""
    import numpy as np
    import zxingcpp

    size = (round(samples.A4_MM[0] / 25.4 * dpi), round(samples.A4_MM[1] / 25.4 * dpi))
    page = Image.new("RGB", size, (255, 255, 255))
    code = Image.fromarray(np.array(zxingcpp.create_barcode(
        "PATCHT", zxingcpp.BarcodeFormat.Code128).to_image(scale=1))).convert("RGB")
    module = max(2, round(0.8 / 25.4 * dpi))  # 0.8 mm bars
    code = code.resize((code.width * module, round(60 / 25.4 * dpi)), Image.Resampling.NEAREST)
    page.paste(code, ((size[0] - code.width) // 2, size[1] // 3))
    draw = ImageDraw.Draw(page)
    font = samples.FontBook("portable").get("sans", True, round(40 / 72 * dpi))
    draw.text((size[0] // 2, size[1] // 6), "PATCH T", fill=(0, 0, 0), font=font, anchor="mm")
    return page


def blank_image(dpi: int) -> Image.Image:
    size = (round(samples.A4_MM[0] / 25.4 * dpi), round(samples.A4_MM[1] / 25.4 * dpi))
    return Image.new("RGB", size, (255, 255, 255))


def _scanned(img: Image.Image, rng: random.Random, dpi: int, rotation: int = 0) -> Image.Image:
    """Print-and-scan damage, as on the other samples; ``rotation`` as fed to the scanner."""
    deg = samples.plan_degradations(rng, "jpeg-grey")
    deg["rotation"] = rotation
    return samples.degrade(img, deg, dpi, colour=False)


def make_stack(out: Path, name: str, items: Sequence[Item], dpi: int, seed: int,
               documents: list[samples.Planned] | None = None) -> dict[str, Any]:
    """Write ``name``.pdf in ``out`` and return its ground truth."""
    fonts = samples.FontBook("portable")
    renderer = samples.Renderer(fonts, dpi)
    rng = random.Random(f"s4-stacks/{seed}/{name}")
    wanted = sum(1 for item in items if item[0] == "doc")
    planned = documents or _one_page_documents(wanted, seed)
    images: list[Image.Image] = []
    expected: list[dict[str, Any]] = []
    dropped: list[dict[str, Any]] = []
    box: str | None = None
    index = 0
    for item in items:
        kind = item[0]
        if kind == "box":
            box = item[1]
            images.append(_scanned(box_image(box, dpi), rng, dpi))
            dropped.append({"page": len(images), "reason": f"box cover sheet ({box})"})
        elif kind == "sep":
            images.append(_scanned(separator_image(dpi), rng, dpi, item[1]))
            dropped.append({"page": len(images), "reason": "separator sheet"})
        elif kind == "patcht":
            images.append(_scanned(patch_t_image(dpi), rng, dpi, item[1]))
            dropped.append({"page": len(images), "reason": "separator sheet"})
        elif kind == "blank":
            images.append(_scanned(blank_image(dpi), rng, dpi))
            dropped.append({"page": len(images), "reason": "blank page"})
        elif kind == "doc":
            document = planned[index]
            index += 1
            record = {"template": document.template, "box": box, "scan_pages": [],
                      "blank_backs": []}
            duplex = item[1]
            for page, deg in zip(document.pages, document.degradations, strict=True):
                upright, _lines = renderer.render(page)
                images.append(samples.degrade(upright, deg | {"rotation": 0}, dpi, False))
                record["scan_pages"].append(len(images))
                if duplex:
                    images.append(_scanned(blank_image(dpi), rng, dpi))
                    record["blank_backs"].append(len(images))
                    dropped.append({"page": len(images), "reason": "blank page"})
            expected.append(record)
    data = samples.encode(images, "pdf", "jpeg-grey", dpi, dt.datetime(2025, 3, 3, 9, 0))
    path = out / f"{name}.pdf"
    path.write_bytes(data)
    return {"file": path.name, "pages": len(images), "records": expected, "dropped": dropped}


def _one_page_documents(count: int, seed: int) -> list[samples.Planned]:
    """``count`` different one-page documents from the sample templates."""
    chosen: list[samples.Planned] = []
    attempt = 0
    while len(chosen) < count:
        batch = samples.plan(count * 3 + 15, seed + attempt, None)
        chosen.extend(p for p in batch if len(p.pages) == 1 and p.template != "junk/blank-page")
        attempt += 1
    return chosen[:count]


def bench_stack_items(documents: int, seed: int) -> list[Item]:
    """A long stack as a room makes it: box covers every ten documents, separators (one in
    five upside down or turned, one in seven a PATCH T), a third scanned duplex."""
    rng = random.Random(f"s4-stacks/{seed}/bench")
    items: list[Item] = []
    for number in range(documents):
        if number % 10 == 0:
            items.append(("box", f"BOX-{number // 10 + 1:04d}"))
        elif number:
            rotation = rng.choice([180, 90, 270]) if rng.random() < 0.2 else 0
            items.append(("patcht", rotation) if rng.random() < 1 / 7 else ("sep", rotation))
        items.append(("doc", rng.random() < 1 / 3))
    return items


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--documents", type=int, default=30)
    parser.add_argument("--dpi", type=int, default=150)
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    truth = make_stack(args.out, "stack_bench", bench_stack_items(args.documents, args.seed),
                       args.dpi, args.seed)
    (args.out / "stack_bench.json").write_text(json.dumps(truth, indent=2) + "\n")
    print(f"{truth['file']}: {truth['pages']} pages, {len(truth['records'])} documents",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
