"""Hostile or odd file contents: active content, mis-named containers, tiny or low-resolution
images, owner-password PDFs. Real files through real ocrmypdf and Tesseract."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pikepdf
import pytest
from PIL import Image

from s4 import db as store_db
from s4.config import OcrSettings
from s4.ocr import (
    RESTRICTIONS_REMOVED,
    InputRejected,
    OcrJob,
    image_to_pdf,
    inspect_input,
    run_ocr_job,
    worker_init,
)
from tests.conftest import LETTER, make_page, run_s4, write_scan

SETTINGS = OcrSettings()
LIMIT = 500 * 1024 * 1024


def hostile_pdf(path: Path) -> Path:
    """A scanned letter carrying everything a PDF can run: open-action JavaScript, a
    JavaScript name tree, an embedded .exe and a link that launches a program."""
    clean = write_scan(path.with_name(f"clean-{path.name}"))
    with pikepdf.open(clean) as pdf:
        pdf.Root.OpenAction = pdf.make_indirect(pikepdf.Dictionary(
            S=pikepdf.Name.JavaScript, JS=pikepdf.String("app.launchURL('http://x.test')")))
        script = pdf.make_indirect(pikepdf.Dictionary(
            S=pikepdf.Name.JavaScript, JS=pikepdf.String("this.exportDataObject('x')")))
        pdf.Root.Names = pikepdf.Dictionary(
            JavaScript=pikepdf.Dictionary(Names=pikepdf.Array([pikepdf.String("init"), script])))
        pdf.attachments["setup.exe"] = pikepdf.AttachedFileSpec(
            pdf, b"MZ\x90\x00 a program", filename="setup.exe")
        link = pdf.make_indirect(pikepdf.Dictionary(
            Type=pikepdf.Name.Annot, Subtype=pikepdf.Name.Link, Rect=[0, 0, 200, 50],
            A=pikepdf.Dictionary(S=pikepdf.Name.Launch, F=pikepdf.String("cmd.exe"))))
        pdf.pages[0].obj.Annots = pdf.make_indirect(pikepdf.Array([link]))
        pdf.save(path)
    clean.unlink()
    return path


def _run(tmp_path: Path, scan: Path, **overrides) -> object:
    worker_init()
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    settings = SETTINGS.model_copy(update=overrides).model_dump()
    return run_ocr_job(OcrJob("D000001", str(scan), str(work), scan.name, settings))


def rejection(path: Path) -> str:
    with pytest.raises(InputRejected) as caught:
        inspect_input(path, path.name, SETTINGS, LIMIT)
    return caught.value.reason


def _doc(home, batch: str) -> dict:
    database = store_db.connect(home.database)
    try:
        (doc,) = store_db.documents(database, batch)
        return doc
    finally:
        database.conn.close()


# --------------------------------------------------------------------------- active content


def test_active_content_is_stripped_and_the_history_says_what_went(home, tmp_path):
    folder = tmp_path / "scans"
    hostile = hostile_pdf(folder / "letter.pdf")
    received = hostile.read_bytes()
    code, output = run_s4(home, "run", "--batch", "b1", str(folder))
    assert code == 0, output
    doc = _doc(home, "b1")
    assert doc["state"] != "quarantined", doc["quarantine_reason"]
    with pikepdf.open(doc["output_pdf"]) as pdf:
        assert "/OpenAction" not in pdf.Root
        assert "/Names" not in pdf.Root or not any(
            key in pdf.Root.Names for key in ("/JavaScript", "/EmbeddedFiles"))
        assert "/AF" not in pdf.Root and len(pdf.attachments) == 0
        annots = pdf.pages[0].obj.get("/Annots", pikepdf.Array())
        assert not [a for a in annots if str(a.get("/Subtype")) == "/Link"]
        for obj in pdf.objects:  # nothing executable anywhere, not even unreferenced
            if isinstance(obj, pikepdf.Dictionary | pikepdf.Stream):
                assert "/JS" not in obj and str(obj.get("/S")) not in ("/Launch", "/JavaScript")
                assert str(obj.get("/Type")) != "/EmbeddedFile"
        assert "Council Tax Department" in Path(doc["text_path"]).read_text()
    # the file as received (chain of custody) is untouched
    assert Path(doc["original_path"]).read_bytes() == received
    code, shown = run_s4(home, "show", doc["id"])
    assert code == 0
    flat = " ".join(shown.split())
    for removed in ("document open action (JavaScript)", "document JavaScript 'init'",
                    "embedded file 'setup.exe'", "link on page 1 (Launch)"):
        assert removed in flat, shown


def test_active_content_is_refused_when_the_pipeline_says_so(tmp_path):
    hostile = hostile_pdf(tmp_path / "in" / "letter.pdf")
    outcome = _run(tmp_path, hostile, active_content="refuse")
    assert not outcome.ok
    assert outcome.reason.startswith("PDF carries active content (")
    for found in ("JavaScript", "setup.exe", "Launch", "ocr.active_content: refuse"):
        assert found in outcome.reason, outcome.reason
    assert not list((tmp_path / "work").glob("*.pdf"))  # nothing was made for the archive


# --------------------------------------------------------------------------- owner password


def _encrypted(tmp_path: Path, user: str) -> Path:
    good = write_scan(tmp_path / "good.pdf")
    locked = tmp_path / "in" / f"locked-{user or 'none'}.pdf"
    locked.parent.mkdir(exist_ok=True)
    with pikepdf.open(good) as pdf:
        pdf.save(locked, encryption=pikepdf.Encryption(user=user, owner="owner-pw"))
    return locked


def test_owner_password_only_pdf_is_processed_and_restrictions_recorded(home, tmp_path):
    folder = _encrypted(tmp_path, user="").parent
    code, output = run_s4(home, "run", "--batch", "b1", str(folder))
    assert code == 0, output
    doc = _doc(home, "b1")
    assert doc["state"] != "quarantined", doc["quarantine_reason"]
    with pikepdf.open(doc["output_pdf"]) as pdf:
        assert not pdf.is_encrypted
    database = store_db.connect(home.database)
    (event,) = [e for e in store_db.events_for(database, doc["id"])
                if e["action"] == "document.ocr_completed"]
    assert event["details"]["removed"] == [RESTRICTIONS_REMOVED]
    assert "owner-pw" not in json.dumps(event["details"])


def test_user_password_pdf_is_still_quarantined(tmp_path):
    locked = _encrypted(tmp_path, user="secret")
    outcome = _run(tmp_path, locked)
    assert not outcome.ok
    assert outcome.reason.startswith("PDF is password-protected")
    assert "secret" not in outcome.reason


# --------------------------------------------------------------------------- containers


def test_zip_named_pdf_is_not_a_pdf(tmp_path):
    """Stored uncompressed, the zipped PDF's "%PDF-" sits in the ZIP's first KiB."""
    inner = write_scan(tmp_path / "inner.pdf")
    archive = tmp_path / "scans.pdf"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as zipped:
        zipped.write(inner, "scan_0001.pdf")
    assert b"%PDF-" in archive.read_bytes()[:1024]
    assert rejection(archive) == ("named .pdf but this is a ZIP archive, not a PDF: unzip it "
                                  "and drop the scans in.")


def test_word_document_named_pdf_says_it_is_an_office_file(tmp_path):
    document = tmp_path / "letter.pdf"
    with zipfile.ZipFile(document, "w") as zipped:
        zipped.writestr("[Content_Types].xml", "<Types/>")
        zipped.writestr("word/document.xml", "<w:document/>")
    reason = rejection(document)
    assert "this is a Word document (.docx), not a PDF" in reason
    assert "Office documents are ZIP archives" in reason


# --------------------------------------------------------------------------- images


def test_one_pixel_png_is_refused_with_what_is_wrong(home, tmp_path):
    folder = tmp_path / "scans"
    folder.mkdir()
    Image.new("L", (1, 1), 255).save(folder / "pixel.png")
    code, output = run_s4(home, "run", "--batch", "b1", str(folder))
    assert code == 1, output
    reason = _doc(home, "b1")["quarantine_reason"]
    assert reason.startswith("image is 1 × 1 pixels"), reason
    assert "too small to be a scanned page" in reason and "Rescan" in reason
    assert "unexpected" not in reason and "Retry" not in reason


def test_72_dpi_image_page_is_flagged_with_the_reason(home, tmp_path):
    folder = tmp_path / "scans"
    folder.mkdir()
    make_page(LETTER, size=(900, 640), font_size=22).save(folder / "low.png", dpi=(72, 72))
    code, output = run_s4(home, "run", "--batch", "b1", str(folder))
    assert code == 0, output
    doc = _doc(home, "b1")
    assert doc["flagged_pages"] == "1"
    database = store_db.connect(home.database)
    (page,) = store_db.pages_of(database, doc["id"])
    assert page["flagged"] == 1
    assert {"check": "resolution", "reason": page["flags"][0]["reason"]} in page["flags"]
    assert page["flags"][0]["reason"].startswith("72 dpi, under the pipeline's 200 dpi minimum")
    code, shown = run_s4(home, "show", doc["id"])
    assert "page 1 resolution: 72 dpi, under the pipeline's 200 dpi minimum" in shown
    code, exported = run_s4(home, "export", "documents", "--format", "jsonl")
    (row,) = map(json.loads, exported.splitlines())
    assert row["page_flags"].startswith("1: resolution: 72 dpi")
    code, status = run_s4(home, "paper", "status", "--box", "b1")
    assert "pages 1 not yet checked" in " ".join(status.split()), status  # QA holds the paper


def test_image_stating_no_resolution_is_laid_out_at_assume_dpi(tmp_path):
    """PNG without pHYs, JPEG with JFIF unit 0, TIFF written with Pillow's 1-dpi default:
    each page is pixels / assume_dpi, not some library default."""
    image = Image.new("L", (600, 840), 255)
    for name in ("nophys.png", "aspect.jpg", "nounit.tif"):
        source = tmp_path / name
        image.save(source)
        target = tmp_path / f"{name}.pdf"
        (res,) = image_to_pdf(source, target, assume_dpi=150)
        assert res.stated is False
        with pikepdf.open(target) as pdf:
            box = [float(v) for v in pdf.pages[0].mediabox]
        assert box[2:] == pytest.approx([600 / 150 * 72, 840 / 150 * 72]), name


def test_jpeg_with_a_resolution_is_wrapped_losslessly_at_exactly_that_resolution(tmp_path):
    """The old call passed img2pdf a layout of None and rotation as a string, both refused:
    every image was re-encoded by the fallback instead of wrapped as it is."""
    source = write_scan(tmp_path / "letter.jpg")  # 150 dpi
    target = tmp_path / "letter.pdf"
    image_to_pdf(source, target, assume_dpi=300)
    with pikepdf.open(target) as pdf:
        page = pdf.pages[0]
        (image,) = [page.obj.Resources.XObject[k] for k in page.obj.Resources.XObject]
        assert image.Filter == pikepdf.Name.DCTDecode
        assert image.read_raw_bytes() == source.read_bytes()
        assert [float(v) for v in page.mediabox[2:]] == pytest.approx(
            [1240 / 150 * 72, 1754 / 150 * 72])
    with Image.open(io.BytesIO(source.read_bytes())) as original:
        assert original.info["dpi"] == (150, 150)
