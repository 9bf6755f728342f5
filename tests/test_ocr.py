"""OCR stage: bad input is refused with a reason; good input becomes searchable PDF/A."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pikepdf
import pytest

from s4.config import OcrSettings
from s4.ocr import InputRejected, OcrJob, inspect_input, run_ocr_job, worker_init
from s4.ocr_engine import hocr_confidence
from tests.conftest import LETTER, write_scan

SETTINGS = OcrSettings()
LIMIT = 500 * 1024 * 1024


def png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG that claims to be width×height but carries almost no data (an image bomb)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                     + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))
    return path


def rejection(path: Path, name: str | None = None) -> str:
    with pytest.raises(InputRejected) as caught:
        inspect_input(path, name or path.name, SETTINGS, LIMIT)
    return caught.value.reason


def test_empty_file(tmp_path):
    path = tmp_path / "scan.pdf"
    path.write_bytes(b"")
    assert rejection(path).startswith("empty file (0 bytes)")


def test_text_file_named_pdf(tmp_path):
    path = tmp_path / "minutes.pdf"
    path.write_text("Minutes of the meeting held on 3 March 2021\n")
    assert "named .pdf but contains plain text" in rejection(path)


def test_unknown_extension_even_with_valid_content(tmp_path):
    path = write_scan(tmp_path / "scan.png")
    renamed = path.rename(tmp_path / "scan.docx")
    reason = rejection(renamed)
    assert reason.startswith("unsupported file type .docx")
    assert "looks like a PNG image" in reason


def test_content_that_does_not_match_the_extension(tmp_path):
    path = write_scan(tmp_path / "scan.jpg")
    renamed = path.rename(tmp_path / "scan.pdf")
    assert "named .pdf but contains a JPEG image: rename it to scan.jpg" in rejection(renamed)


def test_corrupt_pdf(tmp_path):
    good = write_scan(tmp_path / "good.pdf")
    corrupt = tmp_path / "corrupt.pdf"
    corrupt.write_bytes(good.read_bytes()[:300])
    assert rejection(corrupt).startswith("PDF is damaged and cannot be read")


def test_password_protected_pdf(tmp_path):
    good = write_scan(tmp_path / "good.pdf")
    locked = tmp_path / "locked.pdf"
    with pikepdf.open(good) as pdf:
        pdf.save(locked, encryption=pikepdf.Encryption(user="secret", owner="secret"))
    reason = rejection(locked)
    assert reason.startswith("PDF is password-protected")
    assert "secret" not in reason




def test_image_bomb(tmp_path):
    bomb = png_header_only(tmp_path / "bomb.png", 40000, 40000)
    reason = rejection(bomb)
    assert "40000 × 40000 pixels (1600 megapixels)" in reason
    assert "decompression bomb" in reason


def test_truncated_image(tmp_path):
    good = write_scan(tmp_path / "good.jpg")
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(good.read_bytes()[:2000])
    assert rejection(cut).startswith("image is damaged or truncated")


def test_oversized_file(tmp_path):
    path = write_scan(tmp_path / "scan.png")
    with pytest.raises(InputRejected, match="over the 0 MB limit"):
        inspect_input(path, path.name, SETTINGS, max_bytes=10)


def test_hocr_confidence_reads_word_scores():
    hocr = ("<span class='ocrx_word' id='w1' title='bbox 1 2 3 4; x_wconf 90'>A</span>"
            "<span class='ocrx_word' id='w2' title='bbox 1 2 3 4; x_wconf 70'>B</span>")
    assert hocr_confidence(hocr) == (80.0, 2)
    assert hocr_confidence("<div class='ocr_page'></div>") == (None, 0)


def _run(tmp_path: Path, scan: Path, **overrides) -> object:
    worker_init()
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    settings = SETTINGS.model_copy(update=overrides).model_dump()
    return run_ocr_job(OcrJob("D000001", str(scan), str(work), scan.name, settings))


def test_multipage_tiff_becomes_pdfa_with_per_page_text_and_confidence(tmp_path):
    scan = write_scan(tmp_path / "in" / "letter.tif", pages=2)
    outcome = _run(tmp_path, scan)
    assert outcome.ok, outcome.reason
    assert [p["page_no"] for p in outcome.pages] == [1, 2]
    for number, page in enumerate(outcome.pages, start=1):
        assert "Council Tax Department" in page["text"]
        assert f"Page {number} of 2" in page["text"]
        assert page["confidence"] > 80 and page["words"] > 20
    with pikepdf.open(outcome.output_pdf) as pdf:
        assert len(pdf.pages) == 2
        meta = pdf.open_metadata()
        assert meta.pdfa_status == "2B"
    assert Path(outcome.text_path).read_text().count("\f") == 1


@pytest.mark.parametrize("ccw, clockwise_fix", [(180, 180), (90, 90)])
def test_turned_pages_are_put_right(tmp_path, ccw, clockwise_fix):
    scan = write_scan(tmp_path / "in" / "turned.png", rotate=ccw)
    outcome = _run(tmp_path, scan)
    assert outcome.ok, outcome.reason
    page = outcome.pages[0]
    assert page["rotation"] == clockwise_fix
    assert "Council Tax Department" in page["text"]
    assert page["confidence"] > 80


def test_sparse_sideways_page_is_double_checked_and_turned(tmp_path):
    """Orientation detection is unsure on a page with one line; S4's check fixes it."""
    scan = write_scan(tmp_path / "in" / "slip.jpg", lines=["Signed: J. Smith  Date: 3 March 2021"],
                      rotate=90, numbered=False)
    outcome = _run(tmp_path, scan)
    assert outcome.ok
    assert "3 March 2021" in outcome.pages[0]["text"]
    assert outcome.pages[0]["rotation"] == 90


def test_born_digital_pdf_is_not_ocred_again(tmp_path):
    from fpdf import FPDF

    document = FPDF()
    document.add_page()
    document.set_font("helvetica", size=12)
    for line in LETTER:
        document.cell(0, 10, line, new_x="LMARGIN", new_y="NEXT")
    path = tmp_path / "in" / "born-digital.pdf"
    path.parent.mkdir()
    document.output(str(path))
    outcome = _run(tmp_path, path)
    assert outcome.ok, outcome.reason
    page = outcome.pages[0]
    assert page["ocr_skipped"] == 1
    assert page["confidence"] is None
    assert "Account reference CT-40012345" in page["text"]
    # pikepdf cannot confirm PDF/A for unembedded Helvetica: S4 says so instead of failing.
    assert outcome.pdfa is False


def test_blank_page_is_flagged(tmp_path):
    scan = write_scan(tmp_path / "in" / "blank.png", lines=[], numbered=False)
    outcome = _run(tmp_path, scan)
    assert outcome.ok
    assert outcome.pages[0]["flagged"] == 1


def test_pdf_that_only_opens_after_repair_is_quarantined_as_damaged(home, tmp_path):
    """qpdf can reopen a cut-off PDF, but the pages are gone: say so, not 'unexpected error'."""
    from tests.conftest import run_s4

    samples = Path(__file__).resolve().parent.parent / "samples" / "scans"
    folder = tmp_path / "scans"
    folder.mkdir()
    (folder / "cut.pdf").write_bytes((samples / "scan_0002.pdf").read_bytes()[:20000])
    code, output = run_s4(home, "run", "--batch", "b1", str(folder))
    assert code == 1, output
    from s4 import db as store_db

    (doc,) = store_db.documents(store_db.connect(home.database), "b1")
    assert doc["state"] == "quarantined"
    assert doc["quarantine_reason"].startswith("PDF is damaged"), doc["quarantine_reason"]
    assert "ocrmypdf.io" not in doc["quarantine_reason"] and "unexpected" not in output
