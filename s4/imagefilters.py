"""Cleaning for the copy of a page that Tesseract reads (never the archival image).

Photocopied, faxed and carbon-copied paper carries damage that misleads Tesseract more than
it misleads a reader: drum streaks running the length of the page are read as rows of "|"
and "l", speckle as punctuation, and grey, blurred strokes are lost by a single global
threshold. These filters work on a greyscale copy with numpy and Pillow only; each returns a
new image of the same size and resolution, so the text layer stays aligned with the page.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageOps
from scipy import ndimage

_DARK = 128  # under this grey level a pixel is ink (despeckling)
# Streaks are found band by band: the page is cut across into _BANDS bands, and in each band
# each column's pixels are compared with the paper either side of the column (a closing of
# the band's mean-grey profile). A streak is a narrow run of columns dark in most rows of
# nearly every band, the outermost two included: a copier drum or a dirty scanner glass
# marks the paper from edge to edge. Table rules, box borders and underlines stop at the
# margins, so they are kept (on forms, taking them out scrambled Tesseract's reading order).
# Band by band, a streak that leans a few pixels over the page after deskewing is followed.
# The mean-grey profile costs one pass over the pixels; only columns darker than the paper
# in most bands are looked at further, so a page without streaks comes back untouched in
# about 10 ms.
_BANDS = 16
_STREAK_DARKER_BY = 30  # grey levels under the paper beside it: a dark pixel (twice that)
_STREAK_DARK_ROWS = 0.6  # share of a band's rows a streak darkens (JPEG, speckle, clipping)
_STREAK_IN_BANDS = 0.8  # share of the bands a streak must darken (speckle and text gaps)
# Pixels (at 300 dpi) a streak may move sideways from one band to the next: about 1.5°.
_STREAK_DRIFT = 6
_EDGE_300DPI = 24  # the page's outermost 2 mm: an edge shadow is not a streak
# Wider dark bands (a scanner-lid shadow, a black border, a logo) are not streaks.
_STREAK_MAX_WIDTH_300DPI = 14

Streak = list[tuple[int, int] | None]  # per band: the columns [start, stop) it darkens


def _grey(image: Image.Image) -> Image.Image:
    return image if image.mode == "L" else image.convert("L")


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """Runs [start, stop) of True in a 1-D array."""
    padded = np.concatenate(([False], flags, [False])).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def _band_darkness(pixels: np.ndarray) -> tuple[np.ndarray, int]:
    """For each band of rows and each column, the share of the band's rows in which the
    column is clearly darker than the paper beside it: (bands × columns), and the band
    height. A streak darkens nearly every row; a column through text, a fraction of them."""
    height = pixels.shape[0] // _BANDS
    bands = pixels[:height * _BANDS].reshape(_BANDS, height, -1)
    profile = (bands.sum(axis=1, dtype=np.uint32) / height).astype(np.float32)
    paper = ndimage.grey_closing(profile, size=(1, 2 * _STREAK_MAX_WIDTH_300DPI + 9))
    darker = (paper - profile) >= _STREAK_DARKER_BY / 2
    # Columns darker than the paper in many bands, give or take a leaning streak's drift.
    nearby = ndimage.maximum_filter1d(darker, 8 * _STREAK_DRIFT + 1, axis=1)
    candidates = darker.any(axis=0) & (nearby.sum(axis=0) >= _STREAK_IN_BANDS * _BANDS / 2)
    share = np.zeros_like(profile)
    if candidates.any():  # only columns whose mean is darker than the paper beside them
        columns = np.flatnonzero(candidates)
        limit = (paper[:, columns] - 2 * _STREAK_DARKER_BY)[:, None, :]
        share[:, columns] = (bands[:, :, columns] < limit).mean(axis=1)
    return share, height


def _narrow_runs(row: np.ndarray, low: float, high: float, widest: int) -> list[tuple[int, int]]:
    """Runs of ``row`` >= ``low`` that reach ``high`` and are at most ``widest`` wide; a run
    too wide (a streak beside text) is narrowed to its parts >= ``high``."""
    found = []
    for a, b in _runs(row >= low):
        if not (row[a:b] >= high).any():
            continue
        if b - a <= widest:
            found.append((a, b))
        else:
            found += [(a + c, a + d) for c, d in _runs(row[a:b] >= high) if d - c <= widest]
    return found


def _band_runs(darkness: np.ndarray, widest: int, margin: int) -> list[list[tuple[int, int]]]:
    """Per band, the narrow runs of columns dark in most of the band's rows (the paper
    within ``margin`` of the page's edge is left out: there is no paper beyond it)."""
    width = darkness.shape[1]
    found = []
    for band, row in enumerate(darkness):
        # The outermost bands may lose a corner of the streak to deskewing: half will do.
        high = _STREAK_DARK_ROWS if 0 < band < _BANDS - 1 else _STREAK_DARK_ROWS / 2
        found.append([(a, b) for a, b in _narrow_runs(row, _STREAK_DARK_ROWS / 2, high, widest)
                      if a >= margin and b <= width - margin])
    return found


def _find_streaks(darkness: np.ndarray, widest: int, drift: int, margin: int) -> list[Streak]:
    """Chains of dark runs from the first band to the last, each run within ``drift``
    columns per band of the one before (a streak leaning after an imperfect deskew), present
    in nearly every band."""
    per_band = _band_runs(darkness, widest, margin)
    streaks: dict[tuple[int, int], Streak] = {}  # by the run it reaches in the last band
    for first in per_band[0]:
        chain: Streak = [first]
        centre, since = (first[0] + first[1]) / 2, 1
        for runs in per_band[1:]:
            near = [r for r in runs if abs((r[0] + r[1]) / 2 - centre) <= drift * since]
            if near:
                best = min(near, key=lambda r: abs((r[0] + r[1]) / 2 - centre))
                chain.append(best)
                centre, since = (best[0] + best[1]) / 2, 1
            else:
                chain.append(None)
                since += 1
        present = sum(run is not None for run in chain)
        last = chain[-1]
        if last is None or present < _STREAK_IN_BANDS * _BANDS:
            continue
        if last in streaks:  # one streak broken into pieces at the top: one streak, wider
            chain = [_union(a, b) for a, b in zip(streaks[last], chain, strict=True)]
        streaks[last] = chain
    return list(streaks.values())


def _union(a: tuple[int, int] | None, b: tuple[int, int] | None) -> tuple[int, int] | None:
    if a is None or b is None:
        return a or b
    return min(a[0], b[0]), max(a[1], b[1])


def _fill_streaks(pixels: np.ndarray, dpi: float) -> tuple[np.ndarray, int]:
    """Replace streak columns, band by band, by interpolating between the paper either side."""
    darkness, band_height = _band_darkness(pixels)
    scale = dpi / 300
    widest = max(2, round(_STREAK_MAX_WIDTH_300DPI * scale))
    streaks = _find_streaks(darkness, widest, max(2, round(_STREAK_DRIFT * scale)),
                            margin=max(4, round(_EDGE_300DPI * scale)))
    if not streaks:
        return pixels, 0
    out = pixels.copy()
    width = pixels.shape[1]
    for chain in streaks:
        known = [run for run in chain if run is not None]
        for band, run in enumerate(chain):
            if run is None:  # speckle or text hid it in this band: span its neighbours
                before_run = next((r for r in reversed(chain[:band]) if r is not None), None)
                after_run = next((r for r in chain[band + 1:] if r is not None), known[-1])
                run = (min(before_run[0], after_run[0]), max(before_run[1], after_run[1])) \
                    if before_run else after_run
            top = band * band_height
            bottom = pixels.shape[0] if band == _BANDS - 1 else top + band_height
            # One more line each side: a streak's edge is soft after deskewing and JPEG.
            left, right = max(1, run[0] - 1), min(width - 2, run[1])
            before = pixels[top:bottom, left - 1].astype(np.float32)[:, None]
            after = pixels[top:bottom, right + 1].astype(np.float32)[:, None]
            weight = (np.arange(left, right + 1, dtype=np.float32) - left + 1) / (right - left + 2)
            out[top:bottom, left:right + 1] = (before * (1 - weight) + after * weight).astype(
                np.uint8)
    return out, len(streaks)


def remove_streaks(image: Image.Image, dpi: float = 300) -> tuple[Image.Image, int]:
    """Remove narrow dark streaks running the page's whole length, vertical and horizontal
    (a photocopier's drum, a scanner's dirty glass); return the image and how many were
    removed (0: the image itself comes back, unchanged)."""
    pixels = np.asarray(_grey(image))
    if min(pixels.shape) < 4 * _BANDS:
        return image, 0
    pixels, vertical = _fill_streaks(pixels, dpi)
    transposed, horizontal = _fill_streaks(pixels.T, dpi)
    if not vertical + horizontal:
        return image, 0
    cleaned = Image.fromarray(np.ascontiguousarray(transposed.T), mode="L")
    cleaned.info.update(image.info)
    return cleaned, vertical + horizontal


# Specks up to this size (pixels at 300 dpi, about 0.6 mm²) are dropped when they stand
# alone: no more than _SPECK_COMPANY pixels of other ink within _SPECK_REACH of them. On the
# rough benchmark pages Tesseract read the speckle between a form's labels and its answers
# as runs of ". - ~ _" (scan_0014: 28 % CER -> 13 %); a full stop, an i's dot or a comma sits
# within a letter's width of the word it belongs to, so it keeps its company and stays.
_TINY_SPECK_300DPI = 14
_ISOLATED_SPECK_300DPI = 80
_SPECK_REACH_300DPI = (10, 20)  # up and down, either side
_SPECK_COMPANY_300DPI = 20


def despeckle(image: Image.Image, dpi: float = 300, isolated: bool = True) -> Image.Image:
    """Remove specks: dark blobs far smaller than any letter (connected components under
    about 0.1 mm², ~14 pixels at 300 dpi; a full stop is larger than that at 8 pt) and, with
    ``isolated``, somewhat larger ones that stand alone, away from any other ink.

    ``isolated=False`` is for pages whose letters are broken into fragments (low-ink
    copies): a fragment can stand as far from its letter's other strokes as a speck does."""
    grey = _grey(image)
    pixels = np.asarray(grey)
    ink = pixels < _DARK
    labels, count = ndimage.label(ink)
    if not count:
        return image
    areas = np.bincount(labels.ravel())
    scale = (dpi / 300) ** 2
    specks = areas < max(2, round(_TINY_SPECK_300DPI * scale))
    if isolated:
        window = tuple(2 * max(1, round(reach * dpi / 300)) + 1 for reach in _SPECK_REACH_300DPI)
        # Ink pixels in the window around each pixel; a component's most crowded pixel
        # says how much ink keeps it company (its own pixels taken away).
        crowd = ndimage.uniform_filter(ink.astype(np.float32), size=window) * (
            window[0] * window[1])
        most = np.asarray(ndimage.maximum(crowd, labels, np.arange(count + 1)))
        alone = (most - areas) < _SPECK_COMPANY_300DPI * scale
        specks |= (areas < max(2, round(_ISOLATED_SPECK_300DPI * scale))) & alone
    specks[0] = False
    mask = specks[labels]
    cleaned_pixels = pixels.copy()
    cleaned_pixels[mask] = 255
    cleaned = Image.fromarray(cleaned_pixels, mode="L")
    cleaned.info.update(image.info)
    return cleaned


def stretch_contrast(image: Image.Image) -> Image.Image:
    """Spread the darkest and lightest 1 % to black and white (faint carbon copies)."""
    cleaned = ImageOps.autocontrast(_grey(image), cutoff=1)
    cleaned.info.update(image.info)
    return cleaned


def repair_copy(image: Image.Image, dpi: float = 300, isolated_specks: bool = True) -> Image.Image:
    """The repair for a page whose first reading was poor: streaks out, contrast stretched,
    speckle out (``isolated_specks=False``: only the tiniest specks, for broken strokes).
    Binarisation is left to Tesseract."""
    cleaned, _ = remove_streaks(image, dpi)
    return despeckle(stretch_contrast(cleaned), dpi, isolated=isolated_specks)
