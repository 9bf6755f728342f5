"""Image QA on every page: the checks a scanning-room QA lead makes by eye, made on a small
render of each page so they cost little next to OCR (and never OCR anything).

Runs inside the OCR worker (``s4.ocr``) on the PDF that ocrmypdf reads: each page is
rendered once, in grey, at ``RENDER_DPI`` with pypdfium2, and measured with numpy:

* tone: the paper (a bright percentile) and the ink (a dark percentile) give "too dark",
  "too light" and "low contrast";
* blank: almost nothing darker than the paper (when the pipeline does not expect blanks);
* skew: a projection profile (ink rows summed along each candidate angle; the angle whose
  rows are sharpest is the skew) over the render, sideways pages included;
* cut off: ink touching an edge of the page along a share of that edge;
* small page: a page much smaller than the document's typical page (a folded page, a slip);
* resolution: for PDFs, the effective resolution of the page's scanned image.

Every failed check becomes a page flag ``{"check", "reason"}``; the reason says what was
measured, the pipeline's limit, and what a person should do.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from statistics import median
from typing import TYPE_CHECKING, Any

import numpy as np

from s4.page_geometry import ink_mask, page_levels, row_sharpness

if TYPE_CHECKING:
    from s4.config import ImageQaSettings

RENDER_DPI = 100  # enough for tone, skew and edges on an A4 page; about 1 megapixel
_SKEW_SEARCH_DEGREES = 20.0
_SKEW_STEP_DEGREES = 0.25
_MIN_INK_PIXELS_FOR_SKEW = 800  # less ink than this and no angle can be told reliably
_SKEW_POINTS = 20_000  # ink pixels the projection profile looks at, at most

Flag = dict[str, str]


@dataclass
class PageMeasures:
    """What was measured on one rendered page (grey levels 0 = black … 255 = white)."""

    paper: float  # the page's background level (a bright percentile)
    ink: float  # the darkest marks' level (a dark percentile)
    ink_share: float  # share of the page darker than paper and ink's midpoint
    skew_degrees: float | None  # None: too little text to tell
    edges_touched: dict[str, float]  # edge -> share of that edge that ink touches
    width_in: float
    height_in: float
    image_dpi: float | None = None  # the page's scanned image, when the page is one

    @property
    def contrast(self) -> float:
        return self.paper - self.ink


_STROKE_WINDOW = 7  # pixels of the render (under 2 mm): wider than a pen stroke


def estimate_skew(mask: np.ndarray) -> float | None:
    """The angle (degrees, counter-clockwise positive) that makes ink rows sharpest.

    Projection profile: the ink pixels' coordinates are projected onto each candidate
    angle's vertical axis and counted per row; lines of text give a spiky histogram only
    when the angle matches their slope. Pages lying sideways are measured on columns.
    """
    ys, xs = np.nonzero(mask)
    if len(ys) < _MIN_INK_PIXELS_FOR_SKEW:
        return None
    step = max(1, len(ys) // _SKEW_POINTS)  # an even thinning keeps every line's slope
    ys, xs = ys[::step], xs[::step]
    ys = ys.astype(np.float64) - ys.mean()
    xs = xs.astype(np.float64) - xs.mean()
    # Coarse whole degrees first, on both axes; then quarter degrees around the best.
    angles = np.arange(-_SKEW_SEARCH_DEGREES, _SKEW_SEARCH_DEGREES + 1e-9, 1.0)
    upright = row_sharpness(ys, xs, angles)
    sideways = row_sharpness(xs, -ys, angles)
    along, across, scores = (ys, xs, upright) if upright.max() >= sideways.max() else (
        xs, -ys, sideways)
    best = int(np.argmax(scores))
    # A flat profile (a photograph, a drawing, a few scribbles) says nothing about skew.
    if scores[best] < 1.15 * float(np.median(scores)):
        return None
    fine = np.arange(angles[best] - 1.0, angles[best] + 1.0 + 1e-9, _SKEW_STEP_DEGREES)
    return float(fine[int(np.argmax(row_sharpness(along, across, fine)))])


_LONGEST_MARK_INCHES = 0.4  # a cut line of text or a word is shorter along the edge


def _short_runs_share(touched: np.ndarray, longest: int) -> float:
    """Share of an edge covered by runs of ink no longer than ``longest`` pixels.

    Cut-off content touches an edge in many short pieces (one per line of text); the
    paper's own edge, a lid shadow or a scanner's dark border is one long run."""
    padded = np.concatenate(([False], touched, [False])).astype(np.int8)
    changes = np.flatnonzero(np.diff(padded))
    lengths = changes[1::2] - changes[0::2]
    return float(lengths[lengths <= longest].sum()) / max(len(touched), 1)


def _edge_touches(mask: np.ndarray) -> dict[str, float]:
    """For each edge, the share of its length where marks run into the outermost band."""
    height, width = mask.shape
    band = max(2, round(min(height, width) * 0.006))
    longest = round(_LONGEST_MARK_INCHES * RENDER_DPI)
    strips = {
        "top": mask[:band, :].any(axis=0), "bottom": mask[-band:, :].any(axis=0),
        "left": mask[:, :band].any(axis=1), "right": mask[:, -band:].any(axis=1),
    }
    return {edge: _short_runs_share(strip, longest) for edge, strip in strips.items()}


def measure(grey: np.ndarray, width_in: float, height_in: float) -> PageMeasures:
    """Measure one rendered page (a 2-D uint8 array)."""
    paper, ink = page_levels(grey)
    mask = ink_mask(grey, _STROKE_WINDOW, (paper, ink))
    return PageMeasures(
        paper=paper, ink=ink, ink_share=float(mask.mean()), skew_degrees=estimate_skew(mask),
        edges_touched=_edge_touches(mask), width_in=width_in, height_in=height_in)


def _page_image_dpi(page: Any, width_in: float, height_in: float) -> float | None:
    """The effective resolution of the largest image on the page (a scan is one image
    covering the page), or None when the page has no image covering most of it."""
    import pypdfium2.raw as pdfium_c

    best: tuple[float, float] | None = None  # (area share, dpi)
    for obj in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=2):
        try:
            left, bottom, right, top = obj.get_bounds()
            metadata = obj.get_metadata()
        except Exception:  # an image pdfium cannot describe: nothing to say about it
            continue
        shown_w, shown_h = (right - left) / 72, (top - bottom) / 72
        if shown_w <= 0 or shown_h <= 0 or metadata.width <= 0 or metadata.height <= 0:
            continue
        share = (shown_w * shown_h) / max(width_in * height_in, 1e-9)
        dpi = min(metadata.horizontal_dpi, metadata.vertical_dpi)
        if best is None or share > best[0]:
            best = (share, dpi)
    if best is None or best[0] < 0.5:
        return None
    return best[1]


def measure_pdf(pdf_path: Path, with_image_dpi: bool) -> list[PageMeasures]:
    """Render each page of a PDF once, small and grey, and measure it."""
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(str(pdf_path))
    try:
        measures = []
        for page in document:
            try:
                width_pt, height_pt = page.get_size()
                width_in, height_in = width_pt / 72, height_pt / 72
                bitmap = page.render(scale=RENDER_DPI / 72, grayscale=True)
                grey = np.asarray(bitmap.to_pil().convert("L"))
                result = measure(grey, width_in, height_in)
                if with_image_dpi:
                    result.image_dpi = _page_image_dpi(page, width_in, height_in)
                measures.append(result)
            finally:
                page.close()
        return measures
    finally:
        document.close()


# --------------------------------------------------------------------------- flags


def page_flags(number: int, page: PageMeasures, others: list[PageMeasures],
               settings: ImageQaSettings, min_dpi: int) -> list[Flag]:
    """Every image-QA check page ``number`` fails, each with its reason."""
    flags: list[Flag] = []
    if min_dpi and page.image_dpi is not None and page.image_dpi < min_dpi - 0.5:
        flags.append({"check": "resolution", "reason": (
            f"the page's image is {page.image_dpi:.0f} dpi, under the pipeline's {min_dpi} "
            "dpi minimum: small print may be unreadable; check the page, or rescan at 300 "
            "dpi")})
    typical = median(p.width_in * p.height_in for p in others) if len(others) > 1 else None
    area = page.width_in * page.height_in
    if typical and settings.small_page_ratio and area < settings.small_page_ratio * typical:
        flags.append({"check": "small_page", "reason": (
            f"{page.width_in:.1f} × {page.height_in:.1f} in, {area / typical:.0%} of the "
            f"document's usual page (limit {settings.small_page_ratio:.0%}): a folded page or "
            "a slip; unfold it and rescan, or check that nothing is hidden")})
    blank = page.ink_share < settings.blank_ink_below
    if blank:
        if settings.flag_blank:
            flags.append({"check": "blank", "reason": (
                f"the page is blank ({page.ink_share:.2%} of it carries marks, under the "
                f"pipeline's {settings.blank_ink_below:.2%}): check that the right side was "
                "scanned and nothing is missing")})
        return flags  # tone, skew and edges mean nothing on an empty page
    if page.paper < settings.dark_paper_below:
        flags.append({"check": "too_dark", "reason": (
            f"the paper reads as level {page.paper:.0f} of 255 (the pipeline's limit is "
            f"{settings.dark_paper_below:g}): the scan is too dark; check the page, or "
            "rescan with the brightness raised")})
    elif page.ink > settings.light_ink_above:
        flags.append({"check": "too_light", "reason": (
            f"the darkest marks read as level {page.ink:.0f} of 255 (the pipeline's limit "
            f"is {settings.light_ink_above:g}): the scan is too light or faded; check the "
            "page, or rescan darker")})
    elif page.contrast < settings.min_contrast:
        flags.append({"check": "low_contrast", "reason": (
            f"ink and paper differ by {page.contrast:.0f} grey levels, under the pipeline's "
            f"{settings.min_contrast:g}: text may be hard to read; check the page, or rescan "
            "with more contrast")})
    if page.skew_degrees is not None and abs(page.skew_degrees) > settings.max_skew_degrees:
        flags.append({"check": "skew", "reason": (
            f"the page is skewed by about {abs(page.skew_degrees):.1f}°, more than the "
            f"{settings.max_skew_degrees:g}° deskew is trusted to correct: check the text, "
            "or straighten the paper and rescan")})
    touched = {edge: share for edge, share in page.edges_touched.items()
               if share > settings.cut_off_edge_share}
    if touched:
        edges = ", ".join(f"{edge} ({share:.0%} of it)" for edge, share in touched.items())
        flags.append({"check": "cut_off", "reason": (
            f"ink runs into the {edges} edge: content may be cut off; check the page "
            "against the paper, or rescan it placed square on the glass")})
    return flags


def document_flags(pdf_path: Path, settings: ImageQaSettings, min_dpi: int,
                   pdf_resolution: bool) -> dict[int, list[Flag]]:
    """Page number -> image-QA flags for every page of a PDF (only pages with flags).

    ``pdf_resolution``: check each page's image resolution too (for PDFs as received;
    images have theirs checked from what the file states)."""
    if not settings.enabled:
        return {}
    measures = measure_pdf(pdf_path, with_image_dpi=pdf_resolution)
    flags = {}
    for number, page in enumerate(measures, start=1):
        found = page_flags(number, page, measures, settings, min_dpi if pdf_resolution else 0)
        if found:
            flags[number] = found
    return flags


def page_count_flag(found: int, expected: int) -> Flag:
    """The flag for a batch whose pages do not add up to the count the operator typed."""
    more_or_fewer = "fewer" if found < expected else "more"
    return {"check": "page_count", "reason": (
        f"the batch has {found} page(s), {more_or_fewer} than the {expected} the operator "
        "counted: a page may be missing, stuck together or fed twice; count the paper "
        "again and rescan what is missing")}
