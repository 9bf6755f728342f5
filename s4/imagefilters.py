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

# A column is a streak when it is dark in more than this share of the page's rows; text, even
# dense text, darkens a column in far fewer rows (the gaps between lines are paper).
_STREAK_DARK_SHARE = 0.45
_DARK = 128
# Wider dark bands (a scanner-lid shadow, a black border, a logo) are not streaks.
_STREAK_MAX_WIDTH_300DPI = 14


def _grey(image: Image.Image) -> Image.Image:
    return image if image.mode == "L" else image.convert("L")


def _streak_runs(dark_share: np.ndarray) -> list[tuple[int, int]]:
    """Runs [start, stop) of neighbouring lines that are dark along most of their length."""
    marked = dark_share > _STREAK_DARK_SHARE
    runs, start = [], None
    for index, flag in enumerate(marked):
        if flag and start is None:
            start = index
        elif not flag and start is not None:
            runs.append((start, index))
            start = None
    if start is not None:
        runs.append((start, len(marked)))
    return runs


def _fill_columns(pixels: np.ndarray, dpi: float) -> tuple[np.ndarray, int]:
    """Replace streak columns by interpolating between the paper either side of them."""
    dark_share = (pixels < _DARK).mean(axis=0)
    widest = max(2, round(_STREAK_MAX_WIDTH_300DPI * dpi / 300))
    runs = [(a, b) for a, b in _streak_runs(dark_share) if b - a <= widest]
    if not runs:
        return pixels, 0
    out = pixels.astype(np.float32)
    width = pixels.shape[1]
    for start, stop in runs:
        # One more line each side: a streak's edge is soft after deskewing and JPEG.
        start, stop = max(0, start - 1), min(width, stop + 1)
        left = out[:, start - 1] if start > 0 else out[:, min(stop, width - 1)]
        right = out[:, stop] if stop < width else left
        span = stop - start + 1
        for offset, column in enumerate(range(start, stop), start=1):
            weight = offset / span
            out[:, column] = left * (1 - weight) + right * weight
    return out.astype(np.uint8), len(runs)


def remove_streaks(image: Image.Image, dpi: float = 300) -> tuple[Image.Image, int]:
    """Remove narrow dark streaks running the page's length, vertical and horizontal (a
    photocopier's drum, a scanner's dirty glass); return the image and how many were
    removed (0: the image itself comes back unchanged)."""
    grey = _grey(image)
    pixels = np.asarray(grey)
    pixels, vertical = _fill_columns(pixels, dpi)
    transposed, horizontal = _fill_columns(np.ascontiguousarray(pixels.T), dpi)
    found = vertical + horizontal
    if not found:
        return image, 0
    cleaned = Image.fromarray(np.ascontiguousarray(transposed.T), mode="L")
    cleaned.info.update(image.info)
    return cleaned, found


def despeckle(image: Image.Image, dpi: float = 300) -> Image.Image:
    """Remove specks: dark blobs far smaller than any letter (connected components under
    about 0.25 mm², i.e. ~14 pixels at 300 dpi). A full stop is larger than that at 8 pt."""
    grey = _grey(image)
    pixels = np.asarray(grey)
    ink = pixels < _DARK
    labels, count = ndimage.label(ink)
    if not count:
        return image
    areas = np.bincount(labels.ravel())
    smallest = max(2, round(14 * (dpi / 300) ** 2))
    specks = areas < smallest
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


def repair_copy(image: Image.Image, dpi: float = 300) -> Image.Image:
    """The full repair for a page whose first reading was poor: streaks out, speckle out,
    contrast stretched. Binarisation is left to Tesseract."""
    cleaned, _ = remove_streaks(image, dpi)
    cleaned = despeckle(stretch_contrast(cleaned), dpi)
    return cleaned
