"""OCR stage: check the input, make it a PDF, run ocrmypdf, collect per-page results.

``run_ocr_job`` runs inside an OCR worker process and never touches the database: it returns
an ``OcrOutcome`` that the pipeline's main process records. Anything wrong with the input
raises ``InputRejected`` with a reason written for the operator who has to act on it.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from s4.config import CaptureSettings, OcrSettings
from s4.ocr_repair import REPAIR_ENV, repair_environment

log = logging.getLogger("s4.ocr")

ACCEPTED_SUFFIXES = {
    ".pdf": "pdf", ".tif": "tiff", ".tiff": "tiff", ".jpg": "jpeg", ".jpeg": "jpeg",
    ".png": "png",
}
_MAGIC = (
    (b"%PDF-", "pdf"), (b"II*\x00", "tiff"), (b"MM\x00*", "tiff"), (b"\xff\xd8\xff", "jpeg"),
    (b"\x89PNG\r\n\x1a\n", "png"),
)
_KIND_NAMES = {"pdf": "a PDF", "tiff": "a TIFF image", "jpeg": "a JPEG image", "png": "a PNG image"}
_CONTAINER_LABELS = {
    "zip": "a ZIP archive (Office documents are ZIP archives too)",
    "ole": "an old-style Office document or Outlook message",
    "rar": "a RAR archive", "7z": "a 7-Zip archive", "gzip": "a gzip-compressed file",
}
_CONTAINER_NAMES = set(_CONTAINER_LABELS)
_SUFFIX_FOR = {"pdf": ".pdf", "tiff": ".tif", "jpeg": ".jpg", "png": ".png"}


class InputRejected(Exception):
    """The file cannot become a record as it is. ``reason`` says what a person should do."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class OcrJob:
    doc_id: str
    original: str
    work_dir: str
    source_name: str
    settings: dict[str, Any]
    jobs: int = 1
    max_file_bytes: int = 500 * 1024 * 1024
    # The pipeline's image_qa limits (s4.config.ImageQaSettings); None: the defaults.
    image_qa: dict[str, Any] | None = None
    # The pipeline's capture settings (separation, blank pages); None: one record per file,
    # every page kept, nothing looked at (a document already split from a stack).
    capture: dict[str, Any] | None = None
    # A re-scan of one record: never split it, whatever sheets it holds.
    single: bool = False
    attempt: int = 1  # the document's attempt number: with doc_id, names the job
    sha256: str | None = None  # the scan as received: what a remote worker must be sent


@dataclass
class OcrOutcome:
    doc_id: str
    ok: bool
    reason: str | None = None
    media_type: str | None = None
    output_pdf: str | None = None
    text_path: str | None = None
    pages: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    pdfa: bool = False
    # What was taken out of a PDF before OCR (active content, owner-password restrictions).
    removed: list[str] = field(default_factory=list)
    # Image pages that stated no resolution and were laid out at the pipeline's assume_dpi.
    assumed_dpi_pages: list[int] = field(default_factory=list)
    # Capture (``s4.sheets``). ``split``: the file holds several documents, each
    # {pages, box, dropped}; nothing was OCRed and ``stack_pdf`` is the prepared PDF to
    # take their pages from. Otherwise, when capture ran: the scan pages this record holds,
    # the scan pages left out of it with reasons, and the box a box cover sheet named.
    split: list[dict[str, Any]] | None = None
    stack_pdf: str | None = None
    scan_page_count: int | None = None
    scan_pages: list[int] | None = None
    dropped_pages: list[dict[str, Any]] = field(default_factory=list)
    box: str | None = None
    capture_warnings: list[str] = field(default_factory=list)
    capture_seconds: float = 0.0


# --------------------------------------------------------------------------- inspection


# Containers that are often mis-named as scans. They can hold "%PDF-" somewhere inside (a
# zipped PDF stored uncompressed), so they are recognised before the lenient PDF search.
_CONTAINERS = (
    (b"PK\x03\x04", "zip"), (b"PK\x05\x06", "zip"), (b"PK\x07\x08", "zip"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "ole"), (b"Rar!\x1a\x07", "rar"),
    (b"7z\xbc\xaf\x27\x1c", "7z"), (b"\x1f\x8b", "gzip"),
)
_OFFICE_PARTS = {"word/": "a Word document (.docx)", "xl/": "an Excel workbook (.xlsx)",
                 "ppt/": "a PowerPoint presentation (.pptx)"}


def sniff(path: Path) -> str | None:
    """The kind of file the content says it is: a scan format, a container, or None.

    A PDF may have junk before ``%PDF-`` (readers accept up to 1 KiB of it), but not when
    the file starts as a known container: then the "%PDF-" is inside it.
    """
    with path.open("rb") as handle:
        head = handle.read(1024)
    for magic, kind in _CONTAINERS:
        if head.startswith(magic):
            return kind
    for magic, kind in _MAGIC:
        if head.startswith(magic) or (kind == "pdf" and magic in head):
            return kind
    return None


def _container_reason(path: Path, kind: str, suffix: str, expected: str | None) -> str:
    """What the container is and what to do with it, in the operator's words."""
    wanted = _KIND_NAMES[expected] if expected else "a scan"
    if kind == "zip":
        import zipfile

        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
                mimetype = (archive.read("mimetype").decode("ascii", "replace")
                            if "mimetype" in names else "")
        except (zipfile.BadZipFile, OSError, KeyError, RuntimeError, ValueError):
            names, mimetype = [], ""
        office = next((label for prefix, label in _OFFICE_PARTS.items()
                       if any(name.startswith(prefix) for name in names)), None)
        if office is None and mimetype.startswith("application/vnd.oasis.opendocument"):
            office = "an OpenDocument file (LibreOffice)"
        if office:
            return (f"named {suffix} but this is {office}, not {wanted} (Office documents are ZIP "
                    "archives inside): open it and save or print it as PDF, or print and scan "
                    "the paper, and drop that in.")
        return (f"named {suffix} but this is a ZIP archive, not {wanted}: unzip it and drop the "
                "scans in.")
    if kind == "ole":
        return (f"named {suffix} but this is an old-style Microsoft Office document or Outlook "
                f"message (.doc, .xls, .ppt, .msg), not {wanted}: open it and save or print it "
                "as PDF, and drop that in.")
    label = {"rar": "a RAR archive", "7z": "a 7-Zip archive", "gzip": "a gzip-compressed file"}
    return (f"named {suffix} but this is {label[kind]}, not {wanted}: unpack it and drop the "
            "scans in.")


def _looks_like_text(path: Path) -> bool:
    with path.open("rb") as handle:
        head = handle.read(4096)
    if not head or b"\x00" in head:
        return False
    try:
        decoded = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    printable = sum(ch.isprintable() or ch in "\r\n\t" for ch in decoded)
    return printable / len(decoded) > 0.95


def inspect_input(path: Path, name: str, settings: OcrSettings, max_bytes: int) -> tuple[str, int]:
    """Return (media type, page count) or raise InputRejected with an actionable reason."""
    size = path.stat().st_size
    if size == 0:
        raise InputRejected(
            "empty file (0 bytes): the scanner or copy wrote nothing. Rescan the document "
            "and drop the new file into the inbox."
        )
    if size > max_bytes:
        raise InputRejected(
            f"file is {size / 1e6:.0f} MB, over the {max_bytes / 1e6:.0f} MB limit "
            "([ingest] max_file_megabytes in s4.toml): split the scan into smaller files "
            "or raise the limit, then retry."
        )
    suffix = Path(name).suffix.lower()
    expected = ACCEPTED_SUFFIXES.get(suffix)
    kind = sniff(path)
    if kind in _CONTAINER_NAMES and expected is not None:
        raise InputRejected(_container_reason(path, kind, suffix, expected))
    if expected is None:
        shown = suffix or "(no extension)"
        found = f"; the content looks like {_KIND_NAMES[kind]}" if kind in _KIND_NAMES else ""
        if kind in _CONTAINER_NAMES:
            found = f"; the content is {_CONTAINER_LABELS[kind]}"
        raise InputRejected(
            f"unsupported file type {shown}{found}. S4 takes scans as PDF, TIFF, JPEG or PNG: "
            "export the document in one of those formats (or rename it if the extension is "
            "wrong) and drop it in again."
        )
    if kind is None:
        if _looks_like_text(path):
            raise InputRejected(
                f"named {suffix} but contains plain text, not {_KIND_NAMES[expected]}: this is "
                "not a scan. Print and scan it, or save it as PDF, and drop it in again."
            )
        raise InputRejected(
            f"named {suffix} but the content is not {_KIND_NAMES[expected]} (unrecognised or "
            "damaged data): rescan the document or re-export it from the scanner."
        )
    if kind != expected:
        raise InputRejected(
            f"named {suffix} but contains {_KIND_NAMES[kind]}: rename it to "
            f"{Path(name).stem}{_SUFFIX_FOR[kind]} and retry, or check it is the right file."
        )
    if kind == "pdf":
        return kind, _inspect_pdf(path)
    return kind, _inspect_image(path, settings)


def _inspect_pdf(path: Path) -> int:
    """Page count. A PDF that opens without a password (restricted only by an owner
    password) is accepted: ``prepare_pdf`` makes an unrestricted working copy."""
    import pikepdf

    try:
        with pikepdf.open(path) as pdf:
            pages = len(pdf.pages)
    except pikepdf.PasswordError:
        raise InputRejected(
            "PDF is password-protected and cannot be opened. Ask the sender for an unprotected "
            "copy, or print and rescan it."
        ) from None
    except pikepdf.PdfError as exc:
        raise InputRejected(
            f"PDF is damaged and cannot be read ({_short(exc)}). It may not have been fully "
            "written: rescan the document or copy it from the scanner again."
        ) from None
    if pages == 0:
        raise InputRejected("PDF has no pages. Rescan the document.")
    return pages


# The smallest and largest physical page S4 takes from an image. A scanned record is at
# least a slip of paper; under an inch it is an icon, a tracking pixel or a wrong resolution.
MIN_PAGE_INCHES = 1.0
MAX_PAGE_INCHES = 200.0  # the PDF page-size limit (14,400 units of 1/72 in)


@dataclass
class FrameResolution:
    """The resolution one image page is laid out at, and whether the file said so."""

    width_px: int
    height_px: int
    dpi: tuple[float, float]
    stated: bool


def stated_dpi(info: dict[str, Any]) -> tuple[float, float] | None:
    """The resolution the image really states, or None.

    Pillow puts a ``dpi`` entry in ``info`` only for an absolute unit (PNG pHYs in metres,
    JFIF/EXIF in inches or cm, TIFF ResolutionUnit inch/cm); an aspect ratio alone (PNG
    pHYs unit 0, JFIF unit 0, TIFF unit "none") gives no ``dpi``. Writers that have no
    resolution to give often write 1 dpi (Pillow's own TIFF default): that is not one either.
    """
    dpi = info.get("dpi")
    try:
        x, y = float(dpi[0]), float(dpi[1])
    except (TypeError, ValueError, IndexError):
        return None
    if x <= 1 or y <= 1:
        return None
    return _tidy_dpi(x), _tidy_dpi(y)


def _tidy_dpi(value: float) -> float:
    """PNG stores pixels per metre, so 300 dpi reads back as 299.9994: call it 300."""
    nearest = round(value)
    return float(nearest) if abs(value - nearest) < 0.1 else round(value, 1)


def _frame_resolution(frame: Any, assume_dpi: int) -> FrameResolution:
    width, height = frame.size
    dpi = stated_dpi(frame.info)
    return FrameResolution(width, height, dpi or (float(assume_dpi), float(assume_dpi)),
                           stated=dpi is not None)


def _check_page_size(number: int, res: FrameResolution) -> None:
    """Refuse an image whose page would be implausibly small or impossibly large."""
    inches = (res.width_px / res.dpi[0], res.height_px / res.dpi[1])
    where = f"page {number} is" if number > 1 else "image is"
    said = (f"it states {res.dpi[0]:g} dpi" if res.stated else
            f"it states no resolution, so S4 assumed the pipeline's {res.dpi[0]:g} dpi")
    size = f"{res.width_px} × {res.height_px} pixels ({inches[0]:.2g} × {inches[1]:.2g} in; {said})"
    if min(inches) < MIN_PAGE_INCHES:
        raise InputRejected(
            f"{where} {size}: too small to be a scanned page (an icon, a thumbnail or a "
            "wrong resolution). Rescan the paper at 300 dpi and drop the new file in; if "
            "the pixels are right but the resolution is wrong, correct it in the scanner "
            "settings."
        )
    if max(inches) > MAX_PAGE_INCHES:
        raise InputRejected(
            f"{where} {size}: over the {MAX_PAGE_INCHES:.0f}-inch largest PDF page, so the "
            "stated resolution must be wrong. Rescan at 300 dpi, or correct the resolution "
            "the scanner writes into the file."
        )


def image_resolutions(path: Path, assume_dpi: int) -> list[FrameResolution]:
    """Each page of an image file with the resolution it will be laid out at."""
    from PIL import Image, ImageSequence

    previous = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None  # checked, with a reason, by _inspect_image
    try:
        with Image.open(path) as image:
            return [_frame_resolution(frame, assume_dpi)
                    for frame in ImageSequence.Iterator(image)]
    finally:
        Image.MAX_IMAGE_PIXELS = previous


def _inspect_image(path: Path, settings: OcrSettings) -> int:
    from PIL import Image, ImageSequence

    limit = settings.max_image_megapixels * 1_000_000
    previous = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None  # S4 applies its own, explained, limit below
    try:
        with Image.open(path) as image:
            pages = 0
            for frame in ImageSequence.Iterator(image):
                pages += 1
                width, height = frame.size
                if width * height > limit:
                    raise InputRejected(
                        f"page {pages} is {width} × {height} pixels "
                        f"({width * height / 1e6:.0f} megapixels), over the "
                        f"{settings.max_image_megapixels:.0f}-megapixel limit: this is a "
                        "mis-scan or a decompression bomb. Rescan at 300 dpi, or raise "
                        "ocr.max_image_megapixels in the pipeline if the page really is that "
                        "large."
                    )
                _check_page_size(pages, _frame_resolution(frame, settings.assume_dpi))
                frame.load()
    except InputRejected:
        raise
    except (OSError, ValueError, SyntaxError) as exc:
        raise InputRejected(
            f"image is damaged or truncated ({_short(exc)}): it was probably not fully "
            "written. Rescan the document or copy it from the scanner again."
        ) from None
    finally:
        Image.MAX_IMAGE_PIXELS = previous
    return pages


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    text = re.sub(r"\S*/ocrmypdf\.io\.[^\s:]*:?\s*", "", text)  # temporary paths mean nothing
    return text[:160] + ("…" if len(text) > 160 else "")


# --------------------------------------------------------------------------- conversion


def _layout_for(resolutions: list[FrameResolution]) -> Any:
    """An img2pdf layout that gives page n its own resolution (stated, or assumed)."""
    pending = iter(resolutions)

    def layout(width_px: int, height_px: int, _ndpi: Any) -> tuple[float, ...]:
        dpi = next(pending).dpi
        width, height = width_px * 72 / dpi[0], height_px * 72 / dpi[1]
        return width, height, width, height

    return layout


def image_to_pdf(source: Path, target: Path, assume_dpi: int) -> list[FrameResolution]:
    """Wrap scanner images losslessly in a PDF (img2pdf); re-encode only what it refuses.

    Every page is laid out at S4's reading of its resolution (``stated_dpi``, else the
    pipeline's ``assume_dpi``), never at img2pdf's own default for files that state none.
    """
    import img2pdf
    from PIL import Image, ImageSequence

    resolutions = image_resolutions(source, assume_dpi)
    try:
        target.write_bytes(img2pdf.convert(str(source), layout_fun=_layout_for(resolutions),
                                           rotation=img2pdf.Rotation.ifvalid))
        return resolutions
    except Exception as exc:  # alpha channels, 16-bit, odd TIFF layouts
        log.info("%s: img2pdf refused (%s); converting frames with Pillow", source.name, exc)
    with tempfile.TemporaryDirectory(prefix="s4-frames-") as folder, Image.open(source) as image:
        frames = []
        for number, frame in enumerate(ImageSequence.Iterator(image)):
            grey = frame.mode in ("L", "I;16", "I")
            mode = "1" if frame.mode == "1" else ("L" if grey else "RGB")
            converted = frame.convert(mode)
            out = Path(folder) / f"{number:05d}.png"
            converted.save(out, dpi=resolutions[number].dpi)
            frames.append(str(out))
        target.write_bytes(img2pdf.convert(frames, layout_fun=_layout_for(resolutions)))
    return resolutions


# --------------------------------------------------------------------------- OCR


def worker_init() -> None:
    """Run once in each OCR worker process."""
    os.environ["OMP_THREAD_LIMIT"] = "1"  # one Tesseract thread; parallelism is ours
    # Ctrl-C reaches the whole process group; the main process decides how to stop workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.getLogger("ocrmypdf").setLevel(logging.ERROR)
    logging.getLogger("PIL").setLevel(logging.WARNING)
    # Scanners write odd EXIF blocks; the pixels are what matter, and the warning says nothing
    # an operator can act on.
    warnings.filterwarnings("ignore", message="Corrupt EXIF data", category=UserWarning)
    import ocrmypdf  # noqa: F401  (warm the import so the first document is not slower)


def _ocrmypdf_options(settings: OcrSettings, jobs: int) -> dict[str, Any]:
    redo = settings.mode == "redo"
    return {
        # With the internal backend, "auto" means PDF/A-2b whenever pikepdf can confirm it,
        # else a plain PDF (born-digital files with unembedded fonts); S4 records which.
        "output_type": "auto" if settings.pdfa_backend == "internal" else "pdfa-2",
        "pdfa_backend": settings.pdfa_backend,
        "language": settings.language,
        "rotate_pages": settings.rotate_pages,
        "rotate_pages_threshold": settings.rotate_pages_threshold,
        "deskew": settings.deskew and not redo,  # ocrmypdf cannot deskew while redoing OCR
        "clean": settings.clean,
        "skip_text": settings.mode == "skip_text",
        "force_ocr": settings.mode == "force",
        "redo_ocr": redo,
        "tesseract_timeout": settings.page_timeout_seconds,
        "optimize": settings.optimize,
        "max_image_mpixels": settings.max_image_megapixels,
        "pdf_renderer": settings.pdf_renderer,
        "jobs": jobs,
        "use_threads": True,  # Tesseract runs as a subprocess; threads just wait on it
        "progress_bar": False,
        "plugins": ["s4.ocr_engine"],
    }


def ocr_options_for_benchmark(settings: OcrSettings) -> dict[str, Any]:
    """The same OCR options S4 uses, minus S4's plugin, for a like-for-like comparison."""
    options = _ocrmypdf_options(settings, jobs=1)
    options.pop("plugins")
    options.pop("use_threads")
    options.pop("progress_bar")
    return options


def _pdfa_part(pdf_path: Path) -> str | None:
    """The PDF/A conformance the file declares (e.g. "2B"), or None."""
    import pikepdf

    with pikepdf.open(pdf_path) as pdf:
        return pdf.open_metadata().pdfa_status or None


def _pdf_page_texts(pdf_path: Path) -> list[str]:
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(str(pdf_path))
    try:
        texts = []
        for page in document:
            textpage = page.get_textpage()
            texts.append(textpage.get_text_bounded().replace("\r\n", "\n"))
            textpage.close()
            page.close()
        return texts
    finally:
        document.close()


def run_ocr_job(job: OcrJob) -> OcrOutcome:
    """Process one document end to end in this worker. Never raises for bad input."""
    started = time.monotonic()
    settings = OcrSettings.model_validate(job.settings)
    original = Path(job.original)
    work_dir = Path(job.work_dir)
    try:
        media_type, _pages = inspect_input(original, job.source_name, settings,
                                               job.max_file_bytes)
        return _ocr(job, settings, original, work_dir, media_type, started)
    except InputRejected as rejected:
        return OcrOutcome(job.doc_id, ok=False, reason=rejected.reason,
                          seconds=time.monotonic() - started)


RESTRICTIONS_REMOVED = "permission restrictions removed (owner password only)"


def prepare_pdf(original: Path, target: Path, settings: OcrSettings) -> list[str]:
    """Write the copy of a PDF that ocrmypdf reads; return what was removed from it.

    The file as received stays untouched (it is the chain-of-custody copy). The working copy
    has no active content (or the file is refused, per ``ocr.active_content``) and no
    owner-password restrictions (the file opened without a password, so nothing is secret).
    """
    import pikepdf

    from s4.active_content import find_active_content, strip_active_content

    with pikepdf.open(original) as pdf:
        restricted = pdf.is_encrypted
        try:
            found = strip_active_content(pdf)
        except (ValueError, TypeError, KeyError, RecursionError) as exc:  # malformed trees
            raise InputRejected(
                f"PDF is malformed where scripts and attachments are kept ({_short(exc)}), so "
                "S4 cannot make sure it carries nothing executable. Print and rescan the "
                "paper, or ask the sender for a plain copy."
            ) from None
        if found and settings.active_content == "refuse":
            raise InputRejected(
                f"PDF carries active content ({'; '.join(found)}). This pipeline refuses such "
                "files (ocr.active_content: refuse): ask the sender for a copy without it, "
                "print and rescan the paper, or process it under a pipeline that strips it."
            )
        pdf.save(target)  # written unencrypted
    with pikepdf.open(target) as prepared:
        left = find_active_content(prepared)
    if left:
        raise InputRejected(
            f"PDF carries active content S4 could not remove safely ({'; '.join(left)}): it "
            "is not stored. Print and rescan the paper, or ask the sender for a plain copy."
        )
    return found + ([RESTRICTIONS_REMOVED] if restricted else [])


def _check_output(output: Path) -> None:
    """Defence in depth: the archive copy itself must carry nothing executable."""
    import pikepdf

    from s4.active_content import find_active_content

    with pikepdf.open(output) as pdf:
        left = find_active_content(pdf)
    if left:
        raise InputRejected(
            f"the archive copy made by OCR still carried active content ({'; '.join(left)}), "
            "so it is not stored. Print and rescan the paper, or ask the sender for a plain "
            "copy."
        )


def _resolution_flags(resolutions: list[FrameResolution], settings: OcrSettings
                      ) -> dict[int, list[dict[str, str]]]:
    """Page flags for images stating less than the pipeline's ``min_dpi``."""
    flags: dict[int, list[dict[str, str]]] = {}
    for number, res in enumerate(resolutions, start=1):
        low = min(res.dpi)
        if res.stated and settings.min_dpi and low < settings.min_dpi:
            shown = f"{res.dpi[0]:g}" if res.dpi[0] == res.dpi[1] else \
                f"{res.dpi[0]:g} × {res.dpi[1]:g}"
            flags[number] = [{"check": "resolution", "reason": (
                f"{shown} dpi, under the pipeline's {settings.min_dpi} dpi minimum: small "
                "print may be unreadable; check the page, or rescan at 300 dpi")}]
    return flags


def _merge_flags(into: dict[int, list[dict[str, str]]],
                 more: dict[int, list[dict[str, str]]]) -> None:
    for number, flags in more.items():
        into.setdefault(number, []).extend(flags)


def _image_qa_flags(job: OcrJob, settings: OcrSettings, source: Path, media_type: str
                    ) -> dict[int, list[dict[str, str]]]:
    """Image QA (``s4.imageqa``) on the PDF ocrmypdf is about to read. A page that cannot
    be measured is flagged for a person's eyes rather than passed unmeasured."""
    from s4.config import ImageQaSettings
    from s4.imageqa import document_flags

    limits = ImageQaSettings.model_validate(job.image_qa or {})
    try:
        return document_flags(source, limits, settings.min_dpi,
                              pdf_resolution=media_type == "pdf")
    except Exception as exc:  # a page pdfium cannot render must not stop the line
        log.warning("%s: image QA could not measure the pages: %s", job.doc_id, _short(exc))
        return {1: [{"check": "image_qa", "reason": (
            f"the page images could not be measured ({_short(exc)}): check every page "
            "by eye")}]} if limits.enabled else {}


def _ocr(job: OcrJob, settings: OcrSettings, original: Path, work_dir: Path, media_type: str,
         started: float) -> OcrOutcome:
    import ocrmypdf
    import pikepdf
    from ocrmypdf import exceptions as ocr_errors

    output_pdf = work_dir / f"{job.doc_id}.pdf"
    text_path = work_dir / f"{job.doc_id}.txt"
    # The pid keeps an orphaned worker (its parent killed) from clobbering a new one's files.
    partial_pdf = work_dir / f"{job.doc_id}.partial-{os.getpid()}.pdf"
    partial_txt = work_dir / f"{job.doc_id}.partial-{os.getpid()}.txt"
    sink = Path(tempfile.mkdtemp(prefix=f"s4-{job.doc_id}-"))
    removed: list[str] = []
    image_flags: dict[int, list[dict[str, str]]] = {}
    assumed_dpi_pages: list[int] = []
    try:
        source = work_dir / f"input.partial-{os.getpid()}.pdf"
        if media_type == "pdf":
            try:
                removed = prepare_pdf(original, source, settings)
            except pikepdf.PdfError as exc:
                raise InputRejected(
                    f"PDF is damaged and cannot be read ({_short(exc)}). Copy it from the "
                    "scanner again, or rescan the document."
                ) from None
        else:
            resolutions = image_to_pdf(original, source, settings.assume_dpi)
            image_flags = _resolution_flags(resolutions, settings)
            assumed_dpi_pages = [n for n, r in enumerate(resolutions, start=1) if not r.stated]
        capture: dict[str, Any] = {}
        if job.capture is not None and CaptureSettings.model_validate(job.capture).active:
            plan = _capture_plan(job, source)
            capture = {"scan_page_count": plan.scan_pages, "capture_warnings": plan.warnings,
                       "capture_seconds": plan.seconds}
            if len(plan.documents) > 1:  # the line makes a record of each; OCR comes then
                stack_pdf = work_dir / "stack.pdf"
                os.replace(source, stack_pdf)
                return OcrOutcome(
                    job.doc_id, ok=True, media_type=media_type, removed=removed,
                    split=[asdict(d) for d in plan.documents], stack_pdf=str(stack_pdf),
                    dropped_pages=plan.dropped, seconds=time.monotonic() - started, **capture)
            document = plan.documents[0]
            capture |= {"scan_pages": document.pages, "dropped_pages": document.dropped,
                        "box": document.box}
            if len(document.pages) != plan.scan_pages:  # OCR only the pages kept
                from s4.sheets import extract_pages

                kept = work_dir / f"kept.partial-{os.getpid()}.pdf"
                extract_pages(source, document.pages, kept)
                source = kept
                old_to_new = {old: new for new, old in enumerate(document.pages, start=1)}
                image_flags = {old_to_new[n]: f for n, f in image_flags.items()
                               if n in old_to_new}
                assumed_dpi_pages = [old_to_new[n] for n in assumed_dpi_pages
                                     if n in old_to_new]
        _merge_flags(image_flags, _image_qa_flags(job, settings, source, media_type))
        os.environ["S4_OCR_SINK"] = str(sink)
        _set_repair_environment(settings)
        try:
            code = ocrmypdf.ocr(source, partial_pdf, sidecar=partial_txt,
                                **_ocrmypdf_options(settings, job.jobs))
        except ocr_errors.EncryptedPdfError:
            raise InputRejected("PDF is encrypted; ask for an unprotected copy or rescan it.") \
                from None
        except ocr_errors.DigitalSignatureError:
            raise InputRejected(
                "PDF is digitally signed; OCR would invalidate the signature. File the signed "
                "original directly or ask the records manager how to handle it."
            ) from None
        except ocr_errors.InputFileError as exc:
            raise InputRejected(f"ocrmypdf cannot read the input ({_short(exc)}); rescan it.") \
                from None
        except ocr_errors.ExitCodeException as exc:
            raise InputRejected(
                f"OCR failed ({type(exc).__name__}: {_short(exc) or 'no detail'}). Retry; if it "
                "fails again, rescan the document."
            ) from None
        except pikepdf.PdfError as exc:  # opened only by qpdf's repair, then fell apart
            raise InputRejected(
                f"PDF is damaged or truncated ({_short(exc)}); it may not have been fully "
                "written. Copy it from the scanner again, or rescan the document."
            ) from None
        _check_output(partial_pdf)
        pdfa = int(code) == 0 and _pdfa_part(partial_pdf) is not None
        texts = _pdf_page_texts(partial_pdf)
        pages = _collect_pages(sink, texts, settings, image_flags)
        os.replace(partial_pdf, output_pdf)
        text_path_tmp = work_dir / f"{job.doc_id}.partial-{os.getpid()}.text"
        text_path_tmp.write_text("\f".join(texts), encoding="utf-8")
        os.replace(text_path_tmp, text_path)
        return OcrOutcome(
            job.doc_id, ok=True, media_type=media_type, output_pdf=str(output_pdf),
            text_path=str(text_path), pages=pages, seconds=time.monotonic() - started,
            pdfa=pdfa, removed=removed, assumed_dpi_pages=assumed_dpi_pages, **capture,
        )
    finally:
        os.environ.pop("S4_OCR_SINK", None)
        os.environ.pop(REPAIR_ENV, None)
        shutil.rmtree(sink, ignore_errors=True)
        for leftover in work_dir.glob(f"*.partial-{os.getpid()}.*"):
            leftover.unlink(missing_ok=True)


def _capture_plan(job: OcrJob, source: Path) -> Any:
    """Where the documents in this scan start and which pages to leave out (``s4.sheets``)."""
    from s4.sheets import analyse, dropped_text

    capture = CaptureSettings.model_validate(job.capture)
    try:
        plan = analyse(source, capture.separation, capture.blank_pages,
                       capture.blank_ink_percent, capture.analysis_dpi, single=job.single)
    except Exception as exc:  # pdfium refusing a page: the file's problem
        raise InputRejected(
            f"the pages could not be rendered to look for separator sheets and blank pages "
            f"({type(exc).__name__}: {_short(exc)}): rescan the stack, or process it under a "
            "pipeline with capture.separation: file") from None
    if not plan.documents:
        raise InputRejected(
            f"no page of this scan has anything on it but separator sheets or blank pages "
            f"({dropped_text(plan.dropped)}): check that the documents were fed the right "
            "way round, then rescan them")
    return plan


def _set_repair_environment(settings: OcrSettings) -> None:
    """Hook for S4's plugin: tell it when a page deserves a second reading (s4.ocr_repair)."""
    os.environ[REPAIR_ENV] = repair_environment(settings.repair_below, settings.language)


def _collect_pages(sink: Path, texts: list[str], settings: OcrSettings,
                   extra_flags: dict[int, list[dict[str, str]]] | None = None
                   ) -> list[dict[str, Any]]:
    """Per-page results. ``flags`` lists every check a page failed, each with a reason a
    person can act on; ``flagged`` is 1 when there is any (it holds the paper for QA)."""
    pages = []
    for number, text in enumerate(texts, start=1):
        page_file = sink / f"page-{number:06d}.json"
        orientation_file = sink / f"orientation-{number:06d}.json"
        ocred = page_file.exists()
        result = json.loads(page_file.read_text()) if ocred else {}
        orientation = json.loads(orientation_file.read_text()) if orientation_file.exists() else {}
        confidence = result.get("confidence")
        words = result.get("words", len(text.split()))
        # Stored as the clockwise turn applied (ocrmypdf reports counter-clockwise degrees).
        turned = orientation.get("confidence", 0) >= settings.rotate_pages_threshold
        rotated = (360 - orientation.get("angle", 0)) % 360 if turned else 0
        flags = list((extra_flags or {}).get(number, []))
        if ocred and confidence is None:
            flags.append({"check": "low_confidence", "reason": (
                "no words recognised (a blank page, or unreadable): check the page")})
        elif ocred and confidence < settings.flag_confidence_below:
            flags.append({"check": "low_confidence", "reason": (
                f"mean word confidence {confidence:.0f}, under the pipeline's "
                f"{settings.flag_confidence_below:g}: check the text against the page")})
        pages.append({
            "page_no": number, "confidence": confidence, "words": words, "rotation": rotated,
            "ocr_skipped": 0 if ocred else 1, "flagged": 1 if flags else 0, "flags": flags,
            "text": text, "ocr_attempts": _attempts_record(result),
        })
    return pages


def _attempts_record(result: dict[str, Any]) -> dict[str, Any] | None:
    """The page's readings (each with its score) and which one was kept; None when the first
    reading was good enough to need no second."""
    if "attempts" not in result:
        return None
    return {"attempts": result["attempts"], "kept": result["kept"]}


def outcome_to_dict(outcome: OcrOutcome) -> dict[str, Any]:
    return asdict(outcome)
