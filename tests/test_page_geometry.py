"""Skew and upright measured cheaply for OCR (issue 15): real Tesseract, real ocrmypdf."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from s4.ocr_repair import dictionary
from s4.page_geometry import deskew_angle, upright_check
from tests.conftest import LETTER, make_page
from tests.test_ocr_repair import run

LONG_LETTER = [*LETTER, "The amount due this year is shown overleaf with the dates.",
               "Payments can be made online, by telephone or at the council offices."]


def page(turn_ccw: float = 0.0) -> Image.Image:
    image = make_page(LONG_LETTER).convert("L")
    if turn_ccw:
        image = image.rotate(turn_ccw, resample=Image.Resampling.BICUBIC, fillcolor=255,
                             expand=turn_ccw % 90 == 0)
    image.info["dpi"] = (150, 150)
    return image


@pytest.mark.parametrize("turned", [2.0, -1.3, 0.4, -4.5])
def test_the_deskew_angle_undoes_the_skew(turned):
    # ocrmypdf turns the page counter-clockwise by the angle: it must undo the turn.
    assert deskew_angle(page(turned)) == pytest.approx(-turned, abs=0.12)


def test_a_level_page_measures_level():
    assert abs(deskew_angle(page())) <= 0.05


def test_no_angle_is_made_up_for_a_page_without_lines():
    blank = Image.new("L", (1240, 1754), 255)
    assert deskew_angle(blank) is None
    noise = Image.new("L", (1240, 1754), 255)
    draw = ImageDraw.Draw(noise)
    rng = random.Random(3)
    for _ in range(4000):  # scattered marks: a photograph's grain, not lines of text
        x, y = rng.randrange(1240), rng.randrange(1754)
        draw.ellipse((x, y, x + 4, y + 4), fill=0)
    assert deskew_angle(noise) is None


def test_the_quick_band_proves_an_upright_page_and_nothing_else():
    known = dictionary("eng")
    assert known, "Tesseract's dictionary could not be read"
    upright = upright_check(page(), known)
    assert upright.upright and upright.dictionary_words >= 6
    for turn in (180, 90, 270):
        check = upright_check(page(turn), known)
        assert not check.upright, (turn, check)
    # Without a dictionary nothing can be proved: the detector decides.
    assert not upright_check(page(), frozenset()).upright


def calls_with(log: Path, flag: str) -> list[str]:
    return [line for line in log.read_text().splitlines() if flag in line]


def test_an_upright_page_skips_the_orientation_detector_and_tesseracts_deskew(
        tmp_path, monkeypatch):
    scan = tmp_path / "in" / "upright.png"
    scan.parent.mkdir()
    page(1.5).save(scan, dpi=(150, 150))
    outcome, readings = run(tmp_path, scan, "upright", monkeypatch, repair_below=80)
    log = tmp_path / "bin-upright" / "calls.log"  # every Tesseract call run() made
    assert len(readings) == 1
    assert calls_with(log, "--psm 0") == []  # no orientation detector
    assert calls_with(log, "--psm 2") == []  # no Tesseract layout analysis for the skew
    assert outcome.pages[0]["rotation"] == 0
    assert "council tax bill" in outcome.pages[0]["text"]


def test_an_upside_down_page_still_goes_to_the_detector_and_is_turned(tmp_path, monkeypatch):
    scan = tmp_path / "in" / "upside-down.png"
    scan.parent.mkdir()
    page(180).save(scan, dpi=(150, 150))
    outcome, _ = run(tmp_path, scan, "flipped", monkeypatch, repair_below=80)
    log = tmp_path / "bin-flipped" / "calls.log"
    assert len(calls_with(log, "--psm 0")) >= 1
    assert outcome.pages[0]["rotation"] == 180
    assert "council tax bill" in outcome.pages[0]["text"]
    assert outcome.pages[0]["confidence"] >= 80


def test_an_upside_down_page_the_detector_takes_for_upright_is_still_turned(
        tmp_path, monkeypatch):
    """Tesseract's orientation detector is sometimes confidently wrong; the band reading
    turned upside down catches the case that garbles every word."""
    from ocrmypdf.builtin_plugins.tesseract_ocr import TesseractOcrEngine
    from ocrmypdf.pluginspec import OrientationConfidence

    asked = []

    def wrong_but_sure(input_file, options):
        asked.append(input_file)
        return OrientationConfidence(angle=0, confidence=10.0)

    monkeypatch.setattr(TesseractOcrEngine, "get_orientation", staticmethod(wrong_but_sure))
    scan = tmp_path / "in" / "upside-down.png"
    scan.parent.mkdir()
    page(180).save(scan, dpi=(150, 150))
    outcome, _ = run(tmp_path, scan, "fooled", monkeypatch, repair_below=80)
    assert asked  # the detector was asked (the band did not prove the page upright) ...
    assert outcome.pages[0]["rotation"] == 180  # ... and its wrong answer was not taken
    assert "council tax bill" in outcome.pages[0]["text"]


def test_the_ocr_copy_of_a_page_without_streaks_is_not_decoded_again(tmp_path, monkeypatch):
    """ocrmypdf links the file Tesseract reads instead of writing it again when nothing
    decoded the image; S4's streak check must look at a copy of its own to keep that."""
    from types import SimpleNamespace

    from ocrmypdf.imageops import has_decoded_pixels

    from s4.ocr_engine import filter_ocr_image
    from s4.ocr_repair import REPAIR_ENV, repair_environment

    monkeypatch.setenv(REPAIR_ENV, repair_environment(80, ["eng"]))
    no_options = SimpleNamespace(options=SimpleNamespace(), pageno=0)
    clean = tmp_path / "clean.png"
    page().save(clean, dpi=(150, 150))
    with Image.open(clean) as opened:
        assert filter_ocr_image(page=no_options, image=opened) is opened
        assert not has_decoded_pixels(opened)
    streaked = tmp_path / "streaked.png"
    image = page()
    ImageDraw.Draw(image).rectangle((600, 0, 602, image.height), fill=30)
    image.save(streaked, dpi=(150, 150))
    with Image.open(streaked) as opened:
        cleaned = filter_ocr_image(page=no_options, image=opened)
        assert cleaned is not opened
        assert (np.asarray(cleaned)[:, 598:606] < 128).mean() < 0.05  # the streak is gone
