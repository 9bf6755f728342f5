"""Second readings for pages whose first reading was poor, and how attempts are compared.

Runs inside an OCR worker, called from S4's ocrmypdf plugin (``s4.ocr_engine``). A page
whose mean word confidence is under the pipeline's ``repair_below`` is read again from a
cleaned copy of the OCR image (streaks out, contrast stretched, specks out, including
larger ones that stand alone; see ``s4.imagefilters``). If that second reading is still
poor (mean confidence under ``THIRD_READING_BELOW``) the page is read a third time from a
gentler copy that keeps every mark bigger than a pin-prick: on low-ink copies letters are
broken into fragments that stand as far apart as specks do. Tesseract binarises each copy
as usual (its Sauvola option read worse on the test page).

The attempt kept is the one with the higher *reading score*: over its words, confidence
(0–1) × the word's length, counted in full for a word in Tesseract's own English
dictionary or a number/reference and taken off at half for anything else. Characters are
what the error rate counts: a reading that adds confident garbage from speckle (". ~ _"
between a form's labels and answers, "|l" from streaks) loses by it, and one that reads more
real words of the page wins. (The earlier score gave garbage a quarter of a word's credit,
so a first reading full of noise beat a cleaner second one: scan_0002, 40 % CER kept over
24 %.)

Pages at or above the threshold are never read twice.
"""

from __future__ import annotations

import functools
import html
import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPAIR_ENV = "S4_OCR_REPAIR"
_WORD = re.compile(
    r"class=['\"]ocrx_word['\"][^>]*title=['\"][^'\"]*x_wconf (\d+)[^>]*>(.*?)</span>", re.S)
_TAG = re.compile(r"<[^>]+>")
_LETTERS = re.compile(r"[^A-Za-z']+")
_NUMBERISH = re.compile(r"^[\W_]*[A-Z]{0,4}[-/]?\d[\d,./:\-]*[A-Za-z]{0,2}[\W_]*$")
TESSDATA = Path("/usr/share/tesseract-ocr/5/tessdata")


@dataclass(frozen=True)
class RepairSettings:
    """The part of the pipeline's OCR settings the plugin needs (passed by environment)."""

    below: float = 0.0  # repair pages under this mean word confidence; 0 switches it off
    language: str = "eng"

    @classmethod
    def from_environment(cls) -> RepairSettings:
        raw = os.environ.get(REPAIR_ENV)
        if not raw:
            return cls()
        values = json.loads(raw)
        return cls(below=float(values.get("below", 0)), language=values.get("language", "eng"))


def repair_environment(repair_below: float, languages: list[str]) -> str:
    """The value of ``S4_OCR_REPAIR`` for a job (set by ``s4.ocr`` around ocrmypdf)."""
    return json.dumps({"below": repair_below, "language": "+".join(languages)})


@functools.lru_cache(maxsize=4)
def dictionary(language: str = "eng") -> frozenset[str]:
    """Lower-cased words of Tesseract's own dictionary for ``language`` (read from the
    installed traineddata, once per worker; empty if the tools or data are missing)."""
    words: set[str] = set()
    for code in language.split("+"):
        data = TESSDATA / f"{code}.traineddata"
        if not data.exists() or not shutil.which("dawg2wordlist"):
            continue
        with tempfile.TemporaryDirectory(prefix="s4-dict-") as folder:
            base = Path(folder) / code
            try:
                subprocess.run(["combine_tessdata", "-e", str(data), f"{base}.lstm-word-dawg",
                                f"{base}.lstm-unicharset"], capture_output=True, check=True,
                               timeout=30)
                subprocess.run(["dawg2wordlist", f"{base}.lstm-unicharset",
                                f"{base}.lstm-word-dawg", f"{base}.words"],
                               capture_output=True, check=True, timeout=30)
                text = Path(f"{base}.words").read_text(encoding="utf-8", errors="replace")
            except (subprocess.SubprocessError, OSError):
                continue
        words.update(word.lower() for word in text.split() if len(word) > 1)
    return frozenset(words)


def hocr_words(hocr: str) -> list[tuple[str, int]]:
    """(word, confidence 0–100) for every word in Tesseract hOCR."""
    found = []
    for confidence, inner in _WORD.findall(hocr):
        word = html.unescape(_TAG.sub("", inner)).strip()
        if word:
            found.append((word, int(confidence)))
    return found


def reading_score(words: list[tuple[str, int]], known: frozenset[str]) -> tuple[float, int]:
    """(score, dictionary hits): confidence × length of plausible words, less half that of
    the rest (see the module's note)."""
    score, hits = 0.0, 0
    for word, confidence in words:
        letters = _LETTERS.sub("", word).lower().strip("'")
        plausible = (len(letters) >= 2 and letters in known) or (
            len(letters) == 1 and letters in "aio") or bool(_NUMBERISH.match(word))
        if plausible:
            hits += 1
        score += confidence / 100 * len(word) * (1.0 if plausible else -0.5)
    return round(score, 2), hits


def attempt_record(name: str, hocr: str, known: frozenset[str]) -> dict[str, Any]:
    """What one reading of a page achieved, as recorded in the page's ``ocr_attempts``."""
    words = hocr_words(hocr)
    score, hits = reading_score(words, known)
    mean = round(sum(c for _, c in words) / len(words), 1) if words else None
    return {"attempt": name, "confidence": mean, "words": len(words), "dictionary_hits": hits,
            "score": score}


# The cleaned copies are read as one column of text of varying size (Tesseract's page
# segmentation mode 4). On damaged paper the automatic segmentation (mode 3) breaks lines into
# many small blocks around specks and broken letters and reads them out of order; on the
# rough benchmark pages mode 4 halved the character error rate of the worst pages.
CLEANED_PSM = "4"
# A second reading still under this mean confidence earns a third, from the gentle copy.
THIRD_READING_BELOW = 70.0


@dataclass(frozen=True)
class Cleaning:
    """One way of cleaning the OCR copy for a further reading (its name is the attempt's)."""

    name: str
    isolated_specks: bool


CLEANED = Cleaning("cleaned", isolated_specks=True)
GENTLE = Cleaning("gentle", isolated_specks=False)


def read_cleaned(image_path: Path, language: str, timeout: float,
                 cleaning: Cleaning = CLEANED) -> str | None:
    """Tesseract hOCR of a cleaned copy of the OCR image, or None if Tesseract failed."""
    from PIL import Image

    from s4.imagefilters import repair_copy

    with tempfile.TemporaryDirectory(prefix="s4-repair-") as folder:
        cleaned_path = Path(folder) / "cleaned.png"
        with Image.open(image_path) as image:
            dpi = image.info.get("dpi", (300, 300))
            cleaned = repair_copy(image, float(dpi[0]), isolated_specks=cleaning.isolated_specks)
            cleaned.save(cleaned_path, dpi=tuple(round(v) for v in dpi))
        base = Path(folder) / "out"
        try:
            subprocess.run(
                ["tesseract", str(cleaned_path), str(base), "-l", language,
                 "--psm", CLEANED_PSM, "-c", "tessedit_create_hocr=1",
                 "-c", "hocr_font_info=0"],
                capture_output=True, check=True, timeout=timeout,
                env={**os.environ, "OMP_THREAD_LIMIT": "1"})
        except (subprocess.SubprocessError, OSError):
            return None
        hocr_file = base.with_suffix(".hocr")
        return hocr_file.read_text(encoding="utf-8") if hocr_file.exists() else None


def further_readings(image_path: Path, language: str, timeout: float,
                     known: frozenset[str]) -> tuple[list[tuple[dict[str, Any], str]], int]:
    """(attempt record, hOCR) of each further reading of a poor page, and how many times
    Tesseract ran: the cleaned copy, and the gentle copy only if the cleaned one is still
    poor (or failed); each costs a full reading."""
    readings, runs = [], 0
    for cleaning in (CLEANED, GENTLE):
        runs += 1
        hocr = read_cleaned(image_path, language, timeout, cleaning)
        if hocr is None:
            continue
        record = attempt_record(cleaning.name, hocr, known)
        readings.append((record, hocr))
        if cleaning is CLEANED and (record["confidence"] or 0) >= THIRD_READING_BELOW:
            break
    return readings, runs


def hocr_text(hocr: str) -> str:
    """Plain text of an hOCR page, one line per ocr_line (for ocrmypdf's sidecar)."""
    lines = []
    for line in re.split(r"class=['\"]ocr_line['\"]", hocr)[1:]:
        words = [w for w, _ in hocr_words("class='ocr_line'" + line)]
        if words:
            lines.append(" ".join(words))
    return "\n".join(lines) + "\n"
