"""What every store backend shares: the interface, errors, names and metadata.

A backend receives an :class:`Upload` (one filed record: the PDF/A, its hashes, where it goes
and its metadata) and a :class:`Journal` (the record's row in ``store_journal``), and returns
an :class:`Outcome`. It must be idempotent: called again after a crash at any point it
finishes the same record, never making a second copy and never overwriting another file.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from s4 import db as store_db

# SharePoint Online's rules (also applied to the local store, so both lay records out alike).
ILLEGAL_CHARACTERS = '"*:<>?/\\|'
RESERVED_NAMES = {"CON", "PRN", "AUX", "NUL", *(f"COM{n}" for n in range(1, 10)),
                  *(f"LPT{n}" for n in range(1, 10)), ".LOCK", "DESKTOP.INI"}
MAX_PATH = 400  # characters in the whole decoded path, site and library included
UNCLASSIFIED = "unclassified"
UNDATED = "undated"


class StoreError(Exception):
    """Base of store problems. Messages are for people and never carry secrets."""


class StoreUnavailable(StoreError):
    """The store cannot be reached or refuses service for now: retry later, nothing is lost."""


class StoreSetupError(StoreError):
    """The store is reachable but set up wrongly (sign-in, permission, library): a person
    has to fix it. ``hint`` says what to do."""

    def __init__(self, message: str, hint: str = ""):
        super().__init__(message)
        self.hint = hint


class RecordProblem(StoreError):
    """This one record cannot be stored as it is (its file is missing, say)."""


@dataclass
class Upload:
    """One filed record on its way to the store."""

    doc: dict[str, Any]
    path: Path  # the PDF/A to store
    size: int
    sha256: str
    quickxor: str
    folder: list[str]  # sanitised folder names, top first
    name: str  # sanitised file name
    metadata: dict[str, Any]

    @property
    def doc_id(self) -> str:
        return self.doc["id"]

    @property
    def relative_path(self) -> str:
        return "/".join([*self.folder, self.name])


@dataclass
class Outcome:
    """``uploaded``, ``already_present`` (same name, same content) or ``conflict``."""

    kind: str
    location: str = ""
    item_id: str = ""
    verify_method: str = ""
    detail: str = ""


@dataclass
class VerifyResult:
    ok: bool
    method: str
    detail: str = ""


@dataclass
class CheckLine:
    """One line of ``s4 store check``: what was checked, whether it is fine, what to do."""

    step: str
    ok: bool
    detail: str
    hint: str = ""


@dataclass
class Journal:
    """The record's row in ``store_journal``: pending → uploading → committed → fields_set →
    verified. Every change is written at once, so a crash resumes from the last step."""

    db: Any
    doc_id: str
    backend: str
    row: dict[str, Any] = field(default_factory=dict)

    def load(self) -> Journal:
        self.row = store_db.store_journal_get(self.db, self.doc_id) or {}
        if self.row.get("backend") not in (None, self.backend):
            self.row = {}  # a journal from another backend does not apply here
        return self

    @property
    def state(self) -> str:
        return self.row.get("state") or "pending"

    def get(self, key: str, default: Any = None) -> Any:
        return self.row.get(key, default) if self.row.get(key) is not None else default

    def set(self, **fields: Any) -> None:
        fields.setdefault("backend", self.backend)
        store_db.store_journal_set(self.db, self.doc_id, **fields)
        self.row.update(fields)


class Backend(Protocol):
    name: str

    def check(self) -> list[CheckLine]: ...

    def store(self, upload: Upload, journal: Journal) -> Outcome: ...

    def update_metadata(self, doc: dict[str, Any], metadata: dict[str, Any]) -> None: ...

    def verify(self, doc: dict[str, Any], journal: Journal, deep: bool) -> VerifyResult: ...

    def close(self) -> None: ...


# --------------------------------------------------------------------------- names


def sanitise_name(text: str, fallback: str = "untitled") -> str:
    """A file or folder name SharePoint accepts: no ``" * : < > ? / \\ |`` or control
    characters, no leading/trailing dots or spaces, no ``~$`` prefix, no ``_vti_``, not a
    reserved device name."""
    text = unicodedata.normalize("NFC", text)
    text = "".join("_" if ch in ILLEGAL_CHARACTERS or ord(ch) < 32 or ch == "\x7f" else ch
                   for ch in text)
    text = re.sub(r"_vti_", "_vti-", text, flags=re.IGNORECASE)
    text = re.sub(r"\s+", " ", text).strip(" .")
    if text.startswith("~$"):
        text = text[2:].strip(" .")
    stem = text.split(".")[0].upper()
    if text.upper() in RESERVED_NAMES or stem in RESERVED_NAMES:
        text = f"_{text}"
    return text or fallback


def file_name(doc: dict[str, Any], room: int = 255) -> str:
    """``D000012 - scan_0001.pdf``: the record id makes it unique and stable across retries;
    the title (the scan's file name) helps people. Shortened to ``room`` characters."""
    title = sanitise_name(Path(doc.get("source_name") or "").stem, fallback="")
    # Records are PDF/A; a disposal certificate's JSON twin keeps its own extension.
    prefix, suffix = doc["id"], (Path(doc.get("output_pdf") or "").suffix.lower() or ".pdf")
    name = f"{prefix} - {title}{suffix}" if title else f"{prefix}{suffix}"
    if len(name) > room:
        keep = max(0, room - len(prefix) - len(suffix) - 3)
        title = title[:keep].rstrip(" .")
        name = f"{prefix} - {title}{suffix}" if title else f"{prefix}{suffix}"
    return name


def folder_fields(doc: dict[str, Any]) -> dict[str, str]:
    date = doc.get("document_date") or ""
    disposal = doc.get("disposal_due") or ""
    return {
        "record_class": doc.get("record_class") or UNCLASSIFIED,
        "year": date[:4] if re.match(r"\d{4}", date) else UNDATED,
        "month": date[5:7] if re.match(r"\d{4}-\d{2}", date) else UNDATED,
        "batch": doc.get("batch_id") or "",
        "box": doc.get("box") or doc.get("batch_id") or "",
        "disposal_year": disposal[:4] if re.match(r"\d{4}", disposal) else UNDATED,
    }


def target_for(doc: dict[str, Any], template: str, prefix: str = "") -> tuple[list[str], str]:
    """Folders (sanitised, empty parts dropped) and file name for a record. ``prefix`` is what
    comes before the folder in the full path (site and library), counted in the 400 limit."""
    rendered = template.format(**folder_fields(doc))
    folders = [sanitise_name(part) for part in rendered.split("/") if part.strip(" .")]
    used = len(prefix) + sum(len(part) + 1 for part in folders)
    room = min(255, MAX_PATH - used)
    if room < len(doc["id"]) + 4:
        raise RecordProblem(
            f"the folder path for {doc['id']} is too long for SharePoint ({used} characters "
            f"before the file name; the limit is {MAX_PATH}): shorten the folder template")
    return folders, file_name(doc, room)


# --------------------------------------------------------------------------- metadata


def refs_list(value: Any) -> list[str]:
    if not value:
        return []
    if isinstance(value, list):
        return [str(v) for v in value]
    try:
        parsed = json.loads(value)
    except (TypeError, ValueError):
        return [str(value)]
    return [str(v) for v in parsed] if isinstance(parsed, list) else [str(parsed)]


def record_metadata(doc: dict[str, Any], sha256: str, size: int, quickxor: str) -> dict[str, Any]:
    """What S4 knows about a record, as stored beside it (sidecar / SharePoint columns)."""
    return {
        "id": doc["id"], "source_name": doc.get("source_name"),
        "sha256": sha256, "size": size, "quickxor": quickxor,
        "source_sha256": doc.get("sha256"), "pages": doc.get("pages"),
        "record_class": doc.get("record_class"), "class_confidence": doc.get("class_confidence"),
        "document_date": doc.get("document_date"), "refs": refs_list(doc.get("refs")),
        "disposal_due": doc.get("disposal_due"), "disposal_action": doc.get("disposal_action"),
        "rule_id": doc.get("rule_id"), "schedule_version": doc.get("schedule_version"),
        "batch": doc.get("batch_id"), "box": doc.get("box"),
        "superseded_by": doc.get("superseded_by"),  # replaced by a re-scan (s4 rescan)
    }


def redact_url(url: str) -> str:
    """An upload-session URL without its query (which carries a ``tempauth`` token)."""
    base = url.split("?", 1)[0]
    return base if len(base) <= 80 else base[:40] + "…" + base[-30:]
