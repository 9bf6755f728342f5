"""Sheets S4 prints for the scanning room, and reading them back from a scanned stack.

A *separator sheet* goes between documents; a *box cover sheet* goes before the documents of
a box and names it. Both carry a QR code (error correction H, big modules, a wide quiet zone,
printed twice) and large text a person can read, so a photocopied, skewed or upside-down
sheet is still recognised. A barcode reading ``PATCHT`` (the PATCH T sheets paperless-ngx
users already own) is a separator too.

Reading runs inside the OCR worker (``s4.ocr``), on pages rendered small (about 100 dpi grey)
with pypdfium2: codes are read with zxing-cpp, and blank pages are found by ink coverage on
the same image. Nothing here is OCR: a page is never OCRed for separation.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

SEPARATOR_PAYLOAD = "S4:SEP"
BOX_PAYLOAD_PREFIX = "S4:BOX:"
PATCH_T_PAYLOAD = "PATCHT"
_BOX_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$")

Separation = Literal["file", "sheet", "blank"]
BlankPages = Literal["keep", "drop"]


class BadBoxId(ValueError):
    """A box id that cannot be printed as a code and read back unchanged."""


def check_box_id(box_id: str) -> str:
    if not _BOX_ID.match(box_id or ""):
        raise BadBoxId(f"box id {box_id!r}: use 1–64 letters, digits and . _ / - (starting "
                       "with a letter or digit), e.g. BOX-0042")
    return box_id


def box_payload(box_id: str) -> str:
    return BOX_PAYLOAD_PREFIX + check_box_id(box_id)


# --------------------------------------------------------------------------- printing


def _code_image(payload: str) -> Any:
    """The QR code as a greyscale PIL image, 10 px per module, with its quiet zone."""
    import numpy as np
    import zxingcpp
    from PIL import Image

    barcode = zxingcpp.create_barcode(payload, zxingcpp.BarcodeFormat.QRCode, ec_level="H")
    modules = Image.fromarray(np.array(barcode.to_image(scale=1, add_quiet_zones=True)))
    return modules.resize((modules.width * 10, modules.height * 10), Image.Resampling.NEAREST)


def _sheets_pdf(payload: str, heading: str, big_text: str, note: str, count: int) -> bytes:
    from fpdf import FPDF

    from s4.certificate_pdf import FONT_DIR

    if count < 1:
        raise ValueError("--count must be at least 1")
    pdf = FPDF(orientation="P", unit="mm", format="A4")
    pdf.set_auto_page_break(auto=False)
    pdf.set_creator("S4")
    pdf.set_title(heading)
    bold = FONT_DIR / "DejaVuSans-Bold.ttf"
    family = "helvetica"
    if bold.exists():
        pdf.add_font("sheet", "B", str(bold))
        pdf.add_font("sheet", "", str(FONT_DIR / "DejaVuSans.ttf"))
        family = "sheet"
    code = _code_image(payload)
    for _ in range(count):
        pdf.add_page()
        pdf.set_font(family, "B", 34)
        pdf.set_xy(10, 18)
        pdf.multi_cell(190, 15, heading, align="C")
        if big_text:
            pdf.set_font(family, "B", 48)
            pdf.set_xy(10, pdf.get_y() + 4)
            pdf.multi_cell(190, 20, big_text, align="C")
        pdf.image(code, x=52.5, y=95, w=105, h=105)  # the main code: 105 mm, centred
        pdf.image(code, x=150, y=232, w=45, h=45)  # a second copy, should the first be marked
        pdf.set_font(family, "", 12)
        pdf.set_xy(15, 214)
        pdf.multi_cell(130, 6, note)
        pdf.set_xy(15, 262)
        pdf.set_font(family, "", 9)
        pdf.multi_cell(130, 5, f"Code: {payload}")
    return bytes(pdf.output())


def separator_sheets(count: int = 1) -> bytes:
    """``count`` A4 separator sheets as one PDF."""
    return _sheets_pdf(
        SEPARATOR_PAYLOAD, "S4 DOCUMENT SEPARATOR", "",
        "Put this sheet in front of each document in the stack. S4 starts a new record at "
        "this sheet and leaves the sheet itself out of every record. Reuse it after "
        "scanning; a photocopy works too.", count)


def box_sheets(box_id: str, count: int = 1) -> bytes:
    """``count`` A4 box cover sheets for ``box_id`` as one PDF."""
    return _sheets_pdf(
        box_payload(box_id), "S4 BOX", box_id,
        "Put this sheet on top of the documents of this box. Every document after it in the "
        "scan is recorded in this box (until the next box cover sheet), whatever box the "
        "batch names. The sheet itself is left out of every record.", count)


# --------------------------------------------------------------------------- reading


@dataclass
class PageLook:
    """What the small rendering of one scanned page shows."""

    page_no: int
    codes: list[str] = field(default_factory=list)
    ink_percent: float = 0.0

    @property
    def mark(self) -> tuple[str, str | None] | None:
        """("separator", None), ("box", BOX-ID), or None for an ordinary page."""
        for text in self.codes:
            if text in (SEPARATOR_PAYLOAD, PATCH_T_PAYLOAD):
                return "separator", None
            if text.startswith(BOX_PAYLOAD_PREFIX) and _BOX_ID.match(
                    text[len(BOX_PAYLOAD_PREFIX):]):
                return "box", text[len(BOX_PAYLOAD_PREFIX):]
        return None


def ink_percent(grey: Any) -> float:
    """Share of the page (margins left out: scanner shadows, punched holes) that is ink.

    A 3×3 median first removes isolated dust and speckle, which a scanner leaves on a blank
    back but which is not writing."""
    from PIL import ImageFilter

    width, height = grey.size
    inner = grey.crop((int(width * 0.08), int(height * 0.06), int(width * 0.92),
                       int(height * 0.94))).filter(ImageFilter.MedianFilter(3))
    histogram = inner.histogram()
    dark = sum(histogram[:160])
    return 100.0 * dark / max(1, inner.width * inner.height)


# QR (S4's sheets), DataMatrix (sheets other tools print), Code 128 and 39 (PATCH T sheets).
_FORMATS = ("QRCode", "DataMatrix", "Code128", "Code39")


def look_at_pages(pdf_path: Path, dpi: int, read_codes: bool) -> list[PageLook]:
    """Render every page small and grey; read its codes and measure its ink."""
    import pypdfium2 as pdfium
    import zxingcpp

    formats = [getattr(zxingcpp.BarcodeFormat, name) for name in _FORMATS]
    looks = []
    document = pdfium.PdfDocument(str(pdf_path))
    try:
        for index in range(len(document)):
            page = document[index]
            try:
                image = page.render(scale=dpi / 72, grayscale=True).to_pil().convert("L")
            finally:
                page.close()
            look = PageLook(index + 1, ink_percent=ink_percent(image))
            if read_codes:
                found = zxingcpp.read_barcodes(image, formats=formats)
                look.codes = [code.text for code in found if code.valid]
            looks.append(look)
    finally:
        document.close()
    return looks


# --------------------------------------------------------------------------- planning

SEPARATOR_REASON = "separator sheet"
BLANK_REASON = "blank page"
BLANK_BREAK_REASON = "blank page (document break)"


def box_reason(box_id: str) -> str:
    return f"box cover sheet ({box_id})"


@dataclass
class PlannedDocument:
    """One record to be made from a stack: its scan pages, box override, dropped pages."""

    pages: list[int] = field(default_factory=list)
    box: str | None = None  # from a box cover sheet; None: the batch's box
    dropped: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class SplitPlan:
    documents: list[PlannedDocument]
    dropped: list[dict[str, Any]]
    scan_pages: int
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def is_whole_file(self) -> bool:
        """One record of every page, in the batch's box: nothing to split or leave out."""
        return (len(self.documents) == 1 and not self.dropped
                and self.documents[0].box is None)


def plan_split(looks: list[PageLook], separation: Separation, blank_pages: BlankPages,
               blank_below: float, single: bool = False) -> SplitPlan:
    """Decide the records a scan holds.

    Separator and box cover sheets are never in a record. A dropped page is charged to the
    record it belongs to: a sheet to the record after it, a blank back to its own record
    (pages left over at the end, to the last). ``single`` (a re-scan of one document) keeps
    every content page in one record whatever sheets it finds, and says so.
    """
    documents: list[PlannedDocument] = []
    dropped: list[dict[str, Any]] = []
    pending: list[dict[str, Any]] = []  # dropped, waiting for the record they precede
    current: PlannedDocument | None = None
    box: str | None = None
    sheets_seen = 0

    def close() -> None:
        nonlocal current
        current = None

    for look in looks:
        mark = look.mark if separation != "file" else None
        blank = look.ink_percent < blank_below and mark is None
        if mark is not None:
            sheets_seen += 1
            kind, value = mark
            entry = {"page": look.page_no,
                     "reason": SEPARATOR_REASON if kind == "separator" else box_reason(value)}
            if kind == "box":
                box = value
            dropped.append(entry)
            pending.append(entry)
            close()
            continue
        if blank and separation == "blank":
            entry = {"page": look.page_no, "reason": BLANK_BREAK_REASON}
            dropped.append(entry)
            pending.append(entry)
            close()
            continue
        if blank and blank_pages == "drop":
            entry = {"page": look.page_no, "reason": BLANK_REASON}
            dropped.append(entry)
            (current.dropped if current is not None else pending).append(entry)
            continue
        if current is None:
            current = PlannedDocument(box=box)
            current.dropped.extend(pending)
            pending.clear()
            documents.append(current)
        current.pages.append(look.page_no)
    if pending and documents:
        documents[-1].dropped.extend(pending)
    plan = SplitPlan(documents, dropped, len(looks))
    if separation == "sheet" and sheets_seen == 0 and documents:
        plan.warnings.append(
            "no separator sheet was found in this scan, so it was kept as one record; if it "
            "holds several documents, put separator sheets (`s4 sheets separator`) between "
            "them and rescan")
    if single and len(documents) > 1:
        merged = PlannedDocument(box=documents[0].box)
        for document in documents:
            merged.pages.extend(document.pages)
            merged.dropped.extend(document.dropped)
        merged.dropped.sort(key=lambda entry: entry["page"])
        plan.documents = [merged]
        plan.warnings.append(
            f"this re-scan holds {len(documents)} documents by its sheets, but a re-scan "
            "replaces one record, so all its pages were kept as that one record: check it")
    return plan


def analyse(pdf_path: Path, separation: Separation, blank_pages: BlankPages,
            blank_below: float, dpi: int, single: bool = False) -> SplitPlan:
    started = time.monotonic()
    looks = look_at_pages(pdf_path, dpi, read_codes=separation != "file")
    plan = plan_split(looks, separation, blank_pages, blank_below, single)
    plan.seconds = time.monotonic() - started
    return plan


def page_ranges(pages: list[int]) -> str:
    """``[1, 2, 3, 5]`` → ``"1-3,5"``: the scan pages a record holds."""
    parts: list[str] = []
    start = previous = None
    for number in pages:
        if start is None:
            start = previous = number
        elif number == previous + 1:
            previous = number
        else:
            parts.append(f"{start}-{previous}" if start != previous else str(start))
            start = previous = number
    if start is not None:
        parts.append(f"{start}-{previous}" if start != previous else str(start))
    return ",".join(parts)


def dropped_text(dropped: list[dict[str, Any]]) -> str:
    """``"1: separator sheet; 4: blank page"``."""
    return "; ".join(f"{entry['page']}: {entry['reason']}" for entry in dropped)


def custody_fields(scan_pages: list[int], dropped: list[dict[str, Any]],
                   warnings: list[str]) -> dict[str, Any]:
    """The chain-of-custody columns of a record made from (part of) a scan."""
    import json

    return {"scan_pages": page_ranges(scan_pages),
            "dropped_pages": json.dumps(dropped) if dropped else None,
            "capture_warning": " ".join(warnings) or None}


def extract_pages(source: Path, pages: list[int], target: Path) -> None:
    """Write the given pages (1-based, in order) of ``source`` as a new PDF, deterministically
    (same pages in, same bytes out: a retried split gives the same SHA-256)."""
    import pikepdf

    with pikepdf.open(source) as pdf, pikepdf.new() as out:
        for number in pages:
            out.pages.append(pdf.pages[number - 1])
        out.save(target, deterministic_id=True, linearize=False,
                 fix_metadata_version=False)
