"""Image QA on every page: each check fires on a page made for it, and on none of the
normal sample scans; a batch's page count is compared with the operator's."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import img2pdf
import pytest
from PIL import Image, ImageDraw, ImageFont

from s4 import db as store_db
from s4.config import ImageQaSettings
from s4.imageqa import document_flags
from s4.ocr import image_to_pdf
from tests.conftest import FONT_PATH, LETTER, make_page, run_s4, write_scan

SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "scans"
TEXT = [*LETTER, *LETTER[2:]]  # a fuller page, so skew has lines to go by


def _page(paper: int = 255, ink: int = 0, left: int = 100, size=(1240, 1754)) -> Image.Image:
    font = ImageFont.truetype(FONT_PATH, 30)
    page = Image.new("L", size, paper)
    draw = ImageDraw.Draw(page)
    for number, line in enumerate(TEXT):
        draw.text((left, 120 + number * 54), line, font=font, fill=ink)
    return page


def _pdf(path: Path, pages: list[Image.Image], dpi: int = 150) -> Path:
    with tempfile.TemporaryDirectory() as folder:
        frames = []
        for number, page in enumerate(pages):
            frame = Path(folder) / f"{number}.png"
            page.save(frame, dpi=(dpi, dpi))
            frames.append(str(frame))
        layout = img2pdf.get_fixed_dpi_layout_fun((dpi, dpi))
        path.write_bytes(img2pdf.convert(frames, layout_fun=layout))
    return path


def _checks(path: Path, min_dpi: int = 0) -> dict[int, list[str]]:
    flags = document_flags(path, ImageQaSettings(), min_dpi, pdf_resolution=True)
    return {page: [flag["check"] for flag in found] for page, found in flags.items()}


@pytest.mark.parametrize("name, page, check", [
    ("dark", lambda: _page(paper=80), "too_dark"),
    ("light", lambda: _page(ink=205), "too_light"),
    ("low contrast", lambda: _page(paper=170, ink=110), "low_contrast"),
    ("skewed", lambda: _page().rotate(9, fillcolor=255, resample=Image.BICUBIC), "skew"),
    ("cut off", lambda: _page(left=-60), "cut_off"),
    ("blank", lambda: Image.new("L", (1240, 1754), 250), "blank"),
])
def test_each_check_fires_on_the_page_made_for_it_and_only_there(tmp_path, name, page, check):
    path = _pdf(tmp_path / "scan.pdf", [_page(), page()])
    assert _checks(path) == {2: [check]}, name


def test_a_small_slip_among_full_pages_is_flagged(tmp_path):
    slip = _page(size=(1240, 560))  # a third of an A4 page
    path = _pdf(tmp_path / "scan.pdf", [_page(), slip, _page()])
    assert _checks(path) == {2: ["small_page"]}


def test_a_pdf_page_scanned_under_the_minimum_resolution_is_flagged(tmp_path):
    low = _page().resize((620, 877))  # the same A4 page at 75 dpi
    path = _pdf(tmp_path / "scan.pdf", [low], dpi=75)
    flags = document_flags(path, ImageQaSettings(), 200, pdf_resolution=True)
    assert [f["check"] for f in flags[1]] == ["resolution"]
    assert "75 dpi, under the pipeline's 200 dpi minimum" in flags[1][0]["reason"]
    assert _checks(_pdf(tmp_path / "fine.pdf", [_page()]), min_dpi=150) == {}


def test_reasons_say_what_was_measured_and_what_to_do(tmp_path):
    path = _pdf(tmp_path / "scan.pdf", [_page(paper=80)])
    (flag,) = document_flags(path, ImageQaSettings(), 0, pdf_resolution=True)[1]
    assert "level 80 of 255" in flag["reason"] and "rescan" in flag["reason"]


def test_no_check_fires_on_the_normal_sample_scans(tmp_path):
    """The false-flag rate on samples/scans (16 pages, degraded, skewed, shadowed) is 0."""
    flagged, pages = {}, 0
    for scan in sorted(SAMPLES.glob("scan_*")):
        if scan.suffix == ".txt":
            continue
        pdf = scan if scan.suffix == ".pdf" else tmp_path / f"{scan.stem}.pdf"
        if pdf != scan:
            image_to_pdf(scan, pdf, 300)
        found = document_flags(pdf, ImageQaSettings(), 200, pdf_resolution=True)
        import pypdfium2 as pdfium

        pages += len(pdfium.PdfDocument(str(pdf)))
        flagged.update({(scan.name, n): f for n, f in found.items()})
    assert pages == 16
    assert flagged == {}


@pytest.mark.slow
def test_run_flags_a_batch_whose_pages_do_not_match_the_count_and_show_lists_it(home):
    scans = Path(tempfile.mkdtemp(dir=home.root))
    write_scan(scans / "letter.pdf", pages=2)
    _pdf(scans / "skewed.pdf", [make_page(TEXT).rotate(9, fillcolor=255)])
    code, output = run_s4(home, "run", "--batch", "box-9", "--expect-pages", "4", str(scans))
    assert code == 0, output
    database = store_db.connect(home.database)
    docs = {d["source_name"]: d for d in store_db.documents(database, "box-9")}
    skewed, letter = docs["skewed.pdf"], docs["letter.pdf"]
    last = max(docs.values(), key=lambda d: d["position"])
    pages = {p["page_no"]: p for p in store_db.pages_of(database, last["id"])}
    checks = [f["check"] for f in pages[last["pages"]]["flags"]]
    assert "page_count" in checks
    assert "the batch has 3 page(s), fewer than the 4 the operator counted" in \
        json.dumps(pages[last["pages"]]["flags"])
    assert "skew" in [f["check"] for f in store_db.pages_of(database, skewed["id"])[0]["flags"]]
    assert not any(f["check"] == "skew" for p in store_db.pages_of(database, letter["id"])
                   for f in p["flags"])
    code, output = run_s4(home, "show", skewed["id"])
    assert "skew" in output and "skewed by about" in output
    code, output = run_s4(home, "paper", "status", "--box", "box-9")
    assert skewed["id"] in output and "flagged pages" in output
