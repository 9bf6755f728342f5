"""How a page lies — its skew and whether it is upright — measured cheaply for OCR.

ocrmypdf asks Tesseract for both: its orientation detector (``--psm 0``) for every page, and
its layout analysis (``--psm 2``) for the deskew angle. Profiled on ``make bench``'s batch,
those two calls cost about as much as reading the page. S4's OCR plugin (``s4.ocr_engine``)
measures both here instead, on a copy of the page reduced to about 150 dpi:

* skew: a projection profile of the ink (the angle whose rows of ink are sharpest), searched
  coarsely and then finely — a few tens of milliseconds with numpy;
* upright: the page's densest band of lines is read quickly (a strip of the reduced copy,
  one Tesseract call of about a tenth of a second). Text read upside down or sideways gives
  few confident dictionary words, so a band that reads well proves the page upright; only
  the pages it cannot prove are given to Tesseract's orientation detector.

When a measure cannot tell (a page without lines of text, a photograph), the caller falls
back to Tesseract's own answer, so no page gets less care than plain ocrmypdf gives it.
"""

from __future__ import annotations

import math
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

MEASURE_DPI = 150  # the reduced copy's resolution: text is still legible, 1/4 of the pixels
_SKEW_POINTS = 60_000  # ink pixels projected per angle, at most
_MIN_INK_POINTS = 2_000  # less ink than this and the profile cannot tell an angle
_COARSE_SEARCH = 10.0  # degrees either way; image QA flags pages beyond 5°
_COARSE_STEP = 0.5
_FINE_STEP = 0.02
_FINE_ROWS_PER_PIXEL = 2  # half-pixel rows: a 0.02° turn moves a line's end by one
# The sharpest angle must stand out from the typical one by this much, else the profile is
# flat (a drawing, a photograph, a page of scattered marks) and says nothing.
_CLEAR_PEAK = 1.15
_STROKE_WINDOW = 5  # pixels of the reduced copy (under 1 mm): wider than a pen stroke


def reduction_factor(image: Image.Image) -> int:
    """The whole factor that brings ``image`` down to about ``MEASURE_DPI`` (1: leave it)."""
    dpi = float(image.info.get("dpi", (300, 300))[0]) or 300.0
    return max(1, int(dpi / MEASURE_DPI + 0.05))  # PNG keeps 300 dpi as 299.9994


def reduced_grey(image: Image.Image) -> tuple[Image.Image, float]:
    """A greyscale copy reduced towards ``MEASURE_DPI``, and its resolution."""
    dpi = float(image.info.get("dpi", (300, 300))[0]) or 300.0
    factor = reduction_factor(image)
    grey = image.convert("L") if image.mode != "L" else image
    return (grey.reduce(factor) if factor > 1 else grey.copy()), dpi / factor


def page_levels(grey: np.ndarray) -> tuple[float, float]:
    """(paper, ink): the page's paper grey (90th percentile) and its darkest marks (0.5th)."""
    return float(np.percentile(grey, 90)), float(np.percentile(grey, 0.5))


def ink_mask(grey: np.ndarray, stroke_window: int = _STROKE_WINDOW,
             levels: tuple[float, float] | None = None) -> np.ndarray:
    """Marks on the paper: pixels darker than the paper right around them by half the page's
    ink-to-paper difference, and by a clear margin (so grain is not ink).

    The local paper level is the brightest pixel within ``stroke_window`` pixels, wider than
    a pen stroke: a stroke stands out against it, while a lid shadow, a tinted margin or a
    stain changes slowly and is paper, however dark. ``levels``: (paper, ink) if already
    measured (``page_levels``)."""
    paper, ink = levels or page_levels(grey)
    margin = max((paper - ink) / 2, 25)
    local = ndimage.maximum_filter(grey, size=stroke_window)
    return grey.astype(np.int16) < local.astype(np.int16) - margin


def ink_share(image: Image.Image) -> float:
    """The share of the page (reduced copy) that is marks on the paper."""
    grey, _ = reduced_grey(image)
    return float(ink_mask(np.asarray(grey)).mean())


def row_sharpness(along: np.ndarray, across: np.ndarray, angles_degrees: np.ndarray,
                  rows_per_pixel: int = 1) -> np.ndarray:
    """For each angle, how spiky the ink's row histogram is (sum of squared row counts).

    The points are projected on the axis turned by the angle; lines of text pile into few
    rows only when the angle matches their slope."""
    scores = []
    for angle in np.radians(angles_degrees):
        projected = (along * math.cos(angle) + across * math.sin(angle)) * rows_per_pixel
        rows = np.round(projected).astype(np.int64)
        counts = np.bincount(rows - rows.min())
        scores.append(float(np.dot(counts, counts)))
    return np.asarray(scores)


def _ink_points(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    ys, xs = np.nonzero(mask)
    if len(ys) < _MIN_INK_POINTS:
        return None
    step = max(1, len(ys) // _SKEW_POINTS)  # an even thinning keeps every line's slope
    ys, xs = ys[::step].astype(np.float64), xs[::step].astype(np.float64)
    # Each point is moved at random within its pixel (the same way every time): on the bare
    # pixel grid the level angle would win by aliasing alone, the rows falling exactly into
    # histogram bins there and straddling them at any other angle.
    jitter = np.random.default_rng(0).random((2, len(ys))) - 0.5
    ys, xs = ys + jitter[0], xs + jitter[1]
    return ys - ys.mean(), xs - xs.mean()


def deskew_angle(image: Image.Image) -> float | None:
    """Degrees to turn the page counter-clockwise (PIL's and ocrmypdf's sense) to level its
    lines of text; None when the page has no lines to go by.

    Only horizontal lines are looked for: by the time a page is deskewed it has been turned
    upright. A streak running the page's length is one line among many and does not
    outweigh the text; ``s4.imagefilters`` removes streaks from the OCR copy later."""
    grey, _ = reduced_grey(image)
    points = _ink_points(ink_mask(np.asarray(grey)))
    if points is None:
        return None
    ys, xs = points
    coarse = np.arange(-_COARSE_SEARCH, _COARSE_SEARCH + 1e-9, _COARSE_STEP)
    scores = row_sharpness(ys, xs, coarse)
    best = int(np.argmax(scores))
    if scores[best] < _CLEAR_PEAK * float(np.median(scores)):
        return None
    fine = np.arange(coarse[best] - _COARSE_STEP, coarse[best] + _COARSE_STEP + 1e-9,
                     _FINE_STEP)
    fine_scores = row_sharpness(ys, xs, fine, _FINE_ROWS_PER_PIXEL)
    # rows = y·cos(a) + x·sin(a) is level along a line when a = −(its slope); in image
    # co-ordinates (y down) turning the page counter-clockwise by the slope levels it.
    return round(-float(fine[int(np.argmax(fine_scores))]), 3)


# ----------------------------------------------------------------------------- upright check

_BAND_INCHES = 0.8  # the strip read: three or four lines of ordinary type
_MIN_WORDS = 6  # confident dictionary words the strip must give to prove the page upright
# ... and this share of all it read: an upright band of ordinary type reads at 60-80 %, a
# band read upside down or sideways at under 10 % (a few short words by chance).
_MIN_WORD_SHARE = 0.4
_WORD_CONFIDENCE = 70


@dataclass(frozen=True)
class UprightCheck:
    """The quick reading of a page's densest band: how many words it gave that are
    confidently read, three letters or longer and in Tesseract's dictionary."""

    upright: bool
    dictionary_words: int
    words: int


def densest_band(grey: Image.Image, dpi: float) -> Image.Image:
    """The horizontal strip of the page (``_BAND_INCHES`` tall) with the most ink."""
    pixels = np.asarray(grey)
    mask = ink_mask(pixels)
    height = min(pixels.shape[0], max(1, round(_BAND_INCHES * dpi)))
    per_row = mask.sum(axis=1).astype(np.int64)
    windows = np.convolve(per_row, np.ones(height, dtype=np.int64), mode="valid")
    top = int(np.argmax(windows)) if len(windows) else 0
    columns = np.flatnonzero(mask[top:top + height].any(axis=0))
    if len(columns) == 0:
        return grey.crop((0, top, grey.width, top + height))
    pad = round(0.1 * dpi)  # the margins are paper: not worth reading
    left, right = max(0, int(columns[0]) - pad), min(grey.width, int(columns[-1]) + 1 + pad)
    return grey.crop((left, top, right, top + height))


def upright_check(image: Image.Image, known: frozenset[str], language: str = "eng",
                  timeout: float = 30) -> UprightCheck:
    """Read the densest band of the reduced page and say whether it proves the page upright.

    ``known`` is the lower-cased dictionary (``s4.ocr_repair.dictionary``). Without one, the
    check never proves anything and the caller asks Tesseract's orientation detector."""
    grey, dpi = reduced_grey(image)
    band = densest_band(grey, dpi)
    words = _quick_words(band, dpi, language, timeout)
    confident = [w for w, c in words if c >= _WORD_CONFIDENCE]
    hits = sum(1 for w in confident if len(w) >= 3 and w.lower() in known)
    upright = bool(known) and hits >= _MIN_WORDS and hits >= _MIN_WORD_SHARE * len(words)
    return UprightCheck(upright=upright, dictionary_words=hits, words=len(words))


def _quick_words(band: Image.Image, dpi: float, language: str, timeout: float
                 ) -> list[tuple[str, float]]:
    """(letters of the word, confidence) from one fast Tesseract reading of the band."""
    with tempfile.TemporaryDirectory(prefix="s4-upright-") as folder:
        path = Path(folder) / "band.png"
        band.save(path, dpi=(round(dpi), round(dpi)))
        try:
            result = subprocess.run(
                ["tesseract", str(path), "stdout", "-l", language, "--psm", "6",
                 "-c", "tessedit_do_invert=0", "tsv"],
                capture_output=True, text=True, timeout=timeout, check=False,
                env={**os.environ, "OMP_THREAD_LIMIT": "1"})
        except (subprocess.TimeoutExpired, OSError):
            return []
    words = []
    for line in result.stdout.splitlines()[1:]:
        parts = line.split("\t")
        if len(parts) == 12 and parts[11].strip():
            letters = "".join(ch for ch in parts[11] if ch.isalpha())
            if letters:
                words.append((letters, float(parts[10])))
    return words
