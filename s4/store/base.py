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
    text = "".join("_" if ch in ILLEGAL_CHARACTERS or ord(ch) < 32 or ch == "\x7f"
                   or 0xD800 <= ord(ch) <= 0xDFFF else ch  # (undecodable bytes of a name)
                   for ch in text)
    text = re.sub(r"_vti_", "_vti-", text, flags=re.IGNORECASE)
    text = re.sub(r"\s+", " ", text).strip(" .")
    if text.startswith("~$"):
        text = text[2:].strip(" .")
    stem = text.split(".")[0].upper()
    if text.upper() in RESERVED_NAMES or stem in RESERVED_NAMES:
        text = f"_{text}"
    return text or fallback


@dataclass(frozen=True)
class NameLimits:
    """What a store accepts. SharePoint counts characters (255 per name, 400 for the whole
    decoded path with site and library); a local file system counts UTF-8 bytes (NAME_MAX
    per component, PATH_MAX for the whole path). ``companion`` is the suffix of a file kept
    beside each record (the local sidecar's ``.json``): the record's name leaves room for it."""

    component_chars: int = 255
    path_chars: int = MAX_PATH
    component_bytes: int | None = None
    path_bytes: int | None = None
    root_bytes: int = 0  # bytes of the path before the folders (the store folder itself)
    companion: str = ""


SHAREPOINT_LIMITS = NameLimits()
_JOINERS = {"\u200d", "\u034f", *(chr(c) for c in range(0xFE00, 0xFE10))}  # ZWJ, selectors


def _utf8_len(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def cut_text(text: str, max_chars: int, max_bytes: int | None = None) -> str:
    """The longest start of ``text`` within both limits, cut between characters (never inside
    a UTF-8 sequence, never leaving a lone accent or joiner at the end). Deterministic."""
    kept: list[str] = []
    size = 0
    for ch in text[:max(0, max_chars)]:
        size += _utf8_len(ch)
        if max_bytes is not None and size > max_bytes:
            break
        kept.append(ch)
    cut = len(kept)
    # Cut inside a combining sequence (a letter and its accents): drop the whole sequence.
    while 0 < cut < len(text) and (unicodedata.combining(text[cut])
                                   or text[cut] in _JOINERS):
        cut -= 1
    while cut > 0 and text[cut - 1] in _JOINERS:
        cut -= 1
    return text[:cut]


def file_name(doc: dict[str, Any], room: int = 255, room_bytes: int | None = None) -> str:
    """``D000012 - scan_0001.pdf``: the record id makes it unique and stable across retries;
    the title (the scan's file name) helps people. A title too long for ``room`` characters
    (and ``room_bytes`` UTF-8 bytes) is cut on a character boundary, always the same way, so
    the same record always gets the same name; the id and the extension are always kept."""
    title = sanitise_name(Path(doc.get("source_name") or "").stem, fallback="")
    # Records are PDF/A; a disposal certificate's JSON twin keeps its own extension.
    prefix, suffix = doc["id"], (Path(doc.get("output_pdf") or "").suffix.lower() or ".pdf")
    name = f"{prefix} - {title}{suffix}" if title else f"{prefix}{suffix}"
    if len(name) > room or (room_bytes is not None and _utf8_len(name) > room_bytes):
        fixed = f"{prefix} - {suffix}"
        title = cut_text(title, room - len(fixed),
                         None if room_bytes is None else room_bytes - _utf8_len(fixed))
        title = title.rstrip(" .")
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


def target_for(doc: dict[str, Any], template: str, prefix: str = "",
               limits: NameLimits = SHAREPOINT_LIMITS) -> tuple[list[str], str]:
    """Folders (sanitised, empty parts dropped, each cut to fit) and file name for a record.
    ``prefix`` is what comes before the folder in the full path (site and library), counted
    in the character limit; ``limits.root_bytes`` likewise for the byte limit."""
    rendered = template.format(**folder_fields(doc))
    folders = []
    for part in rendered.split("/"):
        if not part.strip(" ."):
            continue
        name = cut_text(sanitise_name(part), limits.component_chars, limits.component_bytes)
        folders.append(name.rstrip(" .") or "_")
    companion = len(limits.companion)
    used = len(prefix) + sum(len(part) + 1 for part in folders)
    room = min(limits.component_chars, limits.path_chars - used) - companion
    room_bytes = None
    if limits.component_bytes is not None or limits.path_bytes is not None:
        used_bytes = limits.root_bytes + sum(_utf8_len(part) + 1 for part in folders)
        room_bytes = min(limits.component_bytes or 10**6,
                         (limits.path_bytes or 10**6) - used_bytes - 1) - companion
    needed = len(doc["id"]) + 5
    if room < needed or (room_bytes is not None and room_bytes < needed):
        raise RecordProblem(
            f"the folder path for {doc['id']} is too long for the store ({used} characters "
            f"before the file name; the limit is {limits.path_chars}"
            + (f", {limits.path_bytes} bytes on this file system" if limits.path_bytes else "")
            + "): shorten the folder template, then run `s4 store sync --retry-conflicts`")
    return folders, file_name(doc, room, room_bytes)


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
