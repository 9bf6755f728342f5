"""An ocrmypdf plugin: Tesseract as usual, plus per-page confidence and a rotation safety net.

Loaded by ``s4.ocr`` through ``ocrmypdf.ocr(..., plugins=["s4.ocr_engine"])``. It subclasses
ocrmypdf's own Tesseract engine, so OCR itself is unchanged:

* ``generate_hocr`` lets Tesseract write its hOCR as normal, then reads the word
  confidences (``x_wconf``) out of that same file. Confidence costs no extra OCR.
* ``get_orientation`` first reads the page's densest band of lines quickly
  (``s4.page_geometry.upright_check``); a band that gives enough confident dictionary words
  proves the page upright and Tesseract's orientation detector is not run at all. Other
  pages go to the detector, on a copy reduced to about 150 dpi, and its answer is checked by
  reading the band turned that way (for "upright", turned upside down: the detector does
  take upside-down pages for upright, and then every word is garbled). Where it is unsure
  or its turn does not read, S4 compares a quick recognition of a reduced copy at
  0/90/180/270° and takes the orientation that reads best.
* ``get_deskew`` measures the skew with a projection profile of the ink on the reduced copy
  (``s4.page_geometry.deskew_angle``), a tenth of the cost of Tesseract's layout analysis
  and closer to the true angle on the benchmark pages; pages without lines of text to go by
  are measured by Tesseract as before.

Results go as small JSON files into the folder named by ``S4_OCR_SINK`` (one OCR worker
process handles one document at a time, so an environment variable is safe).
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import tempfile
from pathlib import Path

from ocrmypdf import hookimpl
from ocrmypdf.builtin_plugins.tesseract_ocr import TesseractOcrEngine
from ocrmypdf.pluginspec import OrientationConfidence
from PIL import Image

from s4.imagefilters import remove_streaks
from s4.ocr_repair import (
    RepairSettings,
    attempt_record,
    dictionary,
    further_readings,
    hocr_text,
)
from s4.page_geometry import (
    deskew_angle,
    ink_share,
    reduced_grey,
    reduction_factor,
    upright_check,
)

try:  # ocrmypdf's own test of "nothing read this image's pixels yet" (ocrmypdf >= 17)
    from ocrmypdf.imageops import has_decoded_pixels
except ImportError:  # older ocrmypdf writes the OCR image again anyway

    def has_decoded_pixels(image: Image.Image) -> bool:
        return True

log = logging.getLogger("s4.ocr_engine")

SINK_ENV = "S4_OCR_SINK"
_WORD = re.compile(r"class=['\"]ocrx_word['\"][^>]*title=['\"][^'\"]*x_wconf (\d+)")
_PAGE_NUMBER = re.compile(r"(\d+)")
_UNSURE_BELOW = 5.0  # Tesseract OSD confidence under which S4 double-checks
# Below this many degrees a page is left as it is: the turn would move no pixel that
# matters, and ocrmypdf then copies the image instead of resampling it.
_LEVEL_ENOUGH_DEGREES = 0.05


def _turned(image: Image.Image, counter_clockwise: int) -> Image.Image:
    """The image turned by a multiple of 90° counter-clockwise, keeping its resolution."""
    turns = {90: Image.Transpose.ROTATE_90, 180: Image.Transpose.ROTATE_180,
             270: Image.Transpose.ROTATE_270}
    turned = image.transpose(turns[counter_clockwise % 360])
    turned.info.update(image.info)
    return turned


def _decided(page: int, angle: int, method: str, record: dict,
             confidence: float = 15.0) -> OrientationConfidence:
    """Record how the page's orientation was decided and return it to ocrmypdf. 15 is
    Tesseract's "very confident": enough to pass any rotate threshold."""
    _sink("orientation", page, {**record, "method": method, "angle": angle,
                                "confidence": confidence})
    return OrientationConfidence(angle=angle, confidence=confidence)


# A page with marks on less than this share of it, where Tesseract read no word at all, is
# blank (a duplex back, a divider): reading it again finds nothing either.
_BLANK_INK_SHARE = 0.002


def _blank(image_path: Path) -> bool:
    with Image.open(image_path) as image:
        return ink_share(image) < _BLANK_INK_SHARE


def _languages(options) -> str:
    return "+".join(options.languages or ["eng"])


def _page_number(image: Path) -> int:
    match = _PAGE_NUMBER.match(image.name)
    return int(match.group(1)) if match else 0


def _sink(kind: str, page: int, payload: dict) -> None:
    folder = os.environ.get(SINK_ENV)
    if not folder:
        return
    target = Path(folder) / f"{kind}-{page:06d}.json"
    target.write_text(json.dumps(payload), encoding="utf-8")


def hocr_confidence(hocr: str) -> tuple[float | None, int]:
    """Mean word confidence (0–100) and word count from Tesseract hOCR."""
    scores = [int(value) for value in _WORD.findall(hocr)]
    if not scores:
        return None, 0
    return sum(scores) / len(scores), len(scores)


def _quick_read_score(image: Image.Image, timeout: float) -> float:
    """Confident dictionary-like words found by a fast recognition of a reduced image."""
    with tempfile.TemporaryDirectory(prefix="s4-orient-") as folder:
        path = Path(folder) / "page.png"
        image.save(path)
        try:
            result = subprocess.run(
                ["tesseract", str(path), "stdout", "--psm", "6", "-c", "tessedit_do_invert=0",
                 "tsv"],
                capture_output=True, text=True, timeout=timeout, check=False,
                env={**os.environ, "OMP_THREAD_LIMIT": "1"},
            )
        except subprocess.TimeoutExpired:
            return 0.0
    score = 0.0
    for line in result.stdout.splitlines()[1:]:
        parts = line.split("\t")
        if len(parts) == 12 and parts[11].strip():
            confidence = float(parts[10])
            word = parts[11].strip()
            if confidence > 60 and sum(ch.isalpha() for ch in word) >= 3:
                score += confidence / 100
    return score


def best_orientation(image_path: Path, timeout: float = 30) -> tuple[int, float]:
    """Try the four orientations of a reduced page.

    Returns the clockwise turn that reads best and its lead over the runner-up (a sum of
    word confidences, so a margin of 2 means about two more confidently read words).
    """
    with Image.open(image_path) as original:
        page = original.convert("L")
        page.thumbnail((1400, 1400))
    scores = {}
    for clockwise in (0, 90, 180, 270):
        # PIL rotates counter-clockwise, so a negative angle turns the page clockwise.
        turned = page.rotate(-clockwise, expand=True)
        scores[clockwise] = _quick_read_score(turned, timeout)
    best = max(scores, key=lambda a: scores[a])
    runner_up = max(score for angle, score in scores.items() if angle != best)
    return best, scores[best] - runner_up


def measured_on_reduced_copy(input_file: Path, page: Image.Image, measure) -> object:
    """``measure(path)`` on a copy of ``page`` (the image in ``input_file``, already open)
    reduced towards ``MEASURE_DPI``."""
    if reduction_factor(page) == 1:
        return measure(Path(input_file))
    reduced, dpi = reduced_grey(page)
    with tempfile.TemporaryDirectory(prefix="s4-measure-") as folder:
        path = Path(folder) / "reduced.png"
        reduced.save(path, dpi=(dpi, dpi))
        return measure(path)


class S4TesseractEngine(TesseractOcrEngine):
    @staticmethod
    def get_orientation(input_file: Path, options) -> OrientationConfidence:
        """Which way up the page is, in Tesseract's sense (degrees counter-clockwise).

        A band that reads well proves the page upright. Otherwise the orientation detector
        answers, and its answer is checked by reading the band turned that way (for
        "upright", turned upside down: a page upside down that the detector took for
        upright is the worst case, every word garbled). Where the detector is unsure, or
        its turn does not read, the four turns of a reduced page are compared."""
        page = _page_number(Path(input_file))
        languages = _languages(options)
        known = dictionary(languages)
        with Image.open(input_file) as opened:
            preview = opened.convert("L")
            preview.info.update(opened.info)
        quick = upright_check(preview, known, languages)
        record: dict = {"quick_read_words": quick.dictionary_words}
        if quick.upright:
            return _decided(page, 0, "quick_read", record)
        try:
            detected = measured_on_reduced_copy(
                Path(input_file), preview,
                lambda path: TesseractOcrEngine.get_orientation(path, options))
        except Exception as exc:  # OSD gives up on very sparse pages
            log.debug("page %s: orientation detection failed: %s", page, exc)
            detected = OrientationConfidence(angle=0, confidence=0.0)
        record |= {"osd_angle": detected.angle, "osd_confidence": detected.confidence}
        if detected.confidence >= _UNSURE_BELOW:
            check_turn = detected.angle or 180
            if upright_check(_turned(preview, check_turn), known, languages).upright:
                method = "detector_checked" if detected.angle else "quick_read_upside_down"
                return _decided(page, check_turn, method, record)
            if detected.angle == 0:  # an upright page too rough for the band to read
                return _decided(page, 0, "detector", record, detected.confidence)
        clockwise, margin = best_orientation(Path(input_file))
        if margin >= 2:
            # ocrmypdf speaks Tesseract's "Orientation in degrees" (counter-clockwise).
            return _decided(page, (360 - clockwise) % 360, "four_turns", record)
        return _decided(page, detected.angle, "detector", record, detected.confidence)

    @staticmethod
    def get_deskew(input_file: Path, options) -> float:
        """Degrees to turn the page counter-clockwise to level it (ocrmypdf rotates by it)."""
        with Image.open(input_file) as image:
            angle = deskew_angle(image)
        if angle is None:  # no lines of text to go by: Tesseract's layout analysis decides
            angle = TesseractOcrEngine.get_deskew(input_file, options)
        return 0.0 if abs(angle) < _LEVEL_ENOUGH_DEGREES else angle

    @staticmethod
    def generate_hocr(input_file, output_hocr, output_text, options) -> None:
        """Read the page; read it again from a cleaned copy only if the first was poor.

        The kept attempt's hOCR is what ocrmypdf renders into the PDF's text layer, so a
        repaired reading is the searchable text. The OCR image is a copy: the archival page
        image never passes through here.
        """
        page = _page_number(Path(input_file))
        TesseractOcrEngine.generate_hocr(input_file, output_hocr, output_text, options)
        first_hocr = Path(output_hocr).read_text(encoding="utf-8")
        mean, words = hocr_confidence(first_hocr)
        repair = RepairSettings.from_environment()
        payload: dict = {"confidence": mean, "words": words, "ocr_runs": 1}
        if repair.below and (mean is None or mean < repair.below) and not (
                mean is None and _blank(Path(input_file))):
            known = dictionary(repair.language)
            readings = [(attempt_record("first", first_hocr, known), first_hocr)]
            further, runs = further_readings(Path(input_file), repair.language,
                                             options.tesseract.timeout or 180, known)
            readings += further
            payload["ocr_runs"] = 1 + runs
            kept, kept_hocr = max(readings, key=lambda reading: reading[0]["score"])
            if kept["attempt"] != "first":
                Path(output_hocr).write_text(kept_hocr, encoding="utf-8")
                Path(output_text).write_text(hocr_text(kept_hocr), encoding="utf-8")
                payload["confidence"], payload["words"] = hocr_confidence(kept_hocr)
            payload["attempts"] = [record for record, _ in readings]
            payload["kept"] = kept["attempt"]
        _sink("page", page, payload)


@hookimpl
def filter_ocr_image(page, image: Image.Image) -> Image.Image:
    """The image Tesseract reads (a copy; the PDF keeps the scan as rotated and deskewed).

    Photocopier streaks are taken out before the first reading: Tesseract reads a streak as
    a column divider and scrambles the reading order of every line it crosses, with high
    confidence, so a confidence test alone would never send such a page for repair.
    """
    from ocrmypdf.builtin_plugins import tesseract_ocr

    image = tesseract_ocr.filter_ocr_image(page=page, image=image)  # size limits, as before
    if not RepairSettings.from_environment().below:
        return image
    dpi = image.info.get("dpi", (300, 300))
    if getattr(image, "filename", None) and not has_decoded_pixels(image):
        # Looked for on a copy of its own: ocrmypdf links the file Tesseract reads instead
        # of writing it again (about 0.2 s a page) when nothing decoded this image.
        with Image.open(image.filename) as separate:
            cleaned, streaks = remove_streaks(separate, float(dpi[0]))
            if streaks:
                cleaned.load()
    else:
        cleaned, streaks = remove_streaks(image, float(dpi[0]))
    if not streaks:
        return image
    _sink("filter", page.pageno + 1, {"streaks_removed": streaks})
    return cleaned.convert(image.mode) if image.mode not in ("L", "1") else cleaned


@hookimpl
def get_ocr_engine(options):
    return S4TesseractEngine()
