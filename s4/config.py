"""Settings (``s4.toml``) and pipeline definitions (``pipelines/*.yaml``).

Both are validated with pydantic. Every error is reported as ``file:line: field: message`` so
an operator can go straight to the line that needs fixing.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from s4.errors import ExitCode, S4Error


class ConfigError(S4Error):
    """A settings, pipeline or schedule file is wrong; the message names file, line and field."""

    exit_code = ExitCode.USAGE


# --------------------------------------------------------------------------- YAML with lines


def _line_map(node: yaml.Node, path: tuple = (), lines: dict | None = None) -> dict:
    """Map each key path in a composed YAML tree to its (1-based) line number."""
    lines = {} if lines is None else lines
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key_path = (*path, key_node.value)
            lines[key_path] = key_node.start_mark.line + 1
            _line_map(value_node, key_path, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _line_map(item, (*path, index), lines)
    return lines


def load_yaml_with_lines(path: Path) -> tuple[Any, dict]:
    """Parse YAML safely and return the data plus a key-path → line map."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark else "?"
        raise ConfigError(f"{path}:{line}: YAML syntax: {exc.problem}") from None
    return data, (_line_map(node) if node is not None else {})


def _field_label(loc: tuple, data: Any) -> str:
    """``classes.3.retention`` -> ``classes[council-tax].retention`` when the item has an id:
    a records manager knows their classes by id, not by position."""
    parts, node = [], data
    for part in loc:
        if isinstance(part, int) and isinstance(node, list) and part < len(node):
            node = node[part]
            item_id = node.get("id") if isinstance(node, dict) else None
            parts[-1:] = [f"{parts[-1]}[{item_id}]" if item_id and parts else
                          f"{parts[-1] if parts else ''}.{part}".lstrip(".")]
            continue
        node = node.get(part) if isinstance(node, dict) else None
        parts.append(str(part))
    return ".".join(parts)


def describe_validation_error(path: Path, exc: ValidationError, lines: dict,
                              data: Any = None) -> str:
    """Turn a pydantic error into ``file:line: field: message`` lines."""
    messages = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        line = None
        for depth in range(len(loc), -1, -1):  # nearest enclosing key that has a line
            line = lines.get(loc[:depth])
            if line is not None:
                break
        field = _field_label(loc, data) or "(top level)"
        messages.append(f"{path}:{line or '?'}: {field}: {error['msg']}")
    return "\n".join(messages)


# --------------------------------------------------------------------------- pipelines


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OcrSettings(StrictModel):
    """How a batch class is OCRed. Mirrors the ocrmypdf options that matter to a scanning room."""

    language: list[str] = Field(default_factory=lambda: ["eng"], min_length=1)
    mode: Literal["skip_text", "force", "redo"] = "skip_text"
    rotate_pages: bool = True
    rotate_pages_threshold: float = Field(default=5.0, ge=0, le=100)
    deskew: bool = True
    clean: bool = False
    page_timeout_seconds: float = Field(default=180, gt=0)
    flag_confidence_below: float = Field(default=60, ge=0, le=100)
    # Pages whose first reading's mean word confidence is under this are read again from a
    # cleaned copy of the OCR image; the better reading is kept (0 switches repairs off).
    repair_below: float = Field(default=80, ge=0, le=100)
    assume_dpi: int = Field(default=300, ge=50, le=1200)
    # Pages whose image is of a lower resolution (stated by an image file, or measured on a
    # PDF page's scanned image) get a page flag (QA before the paper may go); 0: off.
    min_dpi: int = Field(default=200, ge=0, le=1200)
    # Scripts, automatic actions, embedded files and program-launching links in a PDF:
    # "strip" removes them from the archive copy (and says what), "refuse" quarantines.
    active_content: Literal["strip", "refuse"] = "strip"
    max_image_megapixels: float = Field(default=250, gt=0)
    optimize: Literal[0, 1, 2, 3] = 1
    pdf_renderer: Literal["auto", "hocr", "sandwich", "fpdf2"] = "auto"
    # "internal" (pikepdf) makes PDF/A without Ghostscript; Debian 12's Ghostscript 10.0
    # corrupts PDFs that already carry text and ocrmypdf refuses it for skip_text.
    pdfa_backend: Literal["internal", "ghostscript", "auto"] = "internal"

    @field_validator("language")
    @classmethod
    def _tesseract_codes(cls, value: list[str]) -> list[str]:
        for code in value:
            if not re.fullmatch(r"[a-z_]{3,12}", code):
                raise ValueError(f"{code!r} is not a Tesseract language code such as 'eng'")
        return value


class ClassifyPipelineSettings(StrictModel):
    """How sure S4 must be before it files a record without asking a person."""

    schedule: str = "uk-local-government"
    threshold: float = Field(default=0.8, gt=0, le=1)
    min_evidence: float = Field(default=5.0, ge=0)
    temperature: float = Field(default=2.0, gt=0)
    model_weight: float = Field(default=0.5, ge=0, le=1)


class PaperPipelineSettings(StrictModel):
    """When the paper originals of this batch class may be destroyed."""

    # Days the paper is kept after its digital copy is verified (BS 10008 practice: keep
    # originals for a while after QA). The record class may ask for longer.
    quarantine_days: int = Field(default=30, ge=0)


class ImageQaSettings(StrictModel):
    """Image QA on every page (``s4.imageqa``): limits past which a page is flagged.

    Grey levels run from 0 (black) to 255 (white), measured on a small render of the page.
    The defaults do not flag ordinary office scans (see the README's "Image QA")."""

    enabled: bool = True
    # Flag blank pages. Turn off for batches where blank pages are expected.
    flag_blank: bool = True
    # A page with less than this share of marks is blank.
    blank_ink_below: float = Field(default=0.0005, ge=0, le=1)
    # The paper reads darker than this: the scan is too dark.
    dark_paper_below: float = Field(default=120, ge=0, le=255)
    # The darkest marks read lighter than this: the scan is too light (or faded).
    light_ink_above: float = Field(default=170, ge=0, le=255)
    # Ink and paper differ by fewer grey levels than this: low contrast.
    min_contrast: float = Field(default=90, ge=0, le=255)
    # Skew beyond this many degrees is more than deskew is trusted to correct.
    max_skew_degrees: float = Field(default=5.0, ge=0, le=45)
    # Ink touching more than this share of an edge: content cut off at that edge.
    cut_off_edge_share: float = Field(default=0.08, ge=0, le=1)
    # A page smaller than this share of the document's median page: folded page or slip.
    # 0 switches the check off.
    small_page_ratio: float = Field(default=0.6, ge=0, le=1)


class QaPolicy(StrictModel):
    """The QA sample that releases a box (``s4 qa``): normal and tightened inspection."""

    # Share of a box's pages a person checks, and the fewest per box (all, if fewer).
    sample_rate: float = Field(default=0.10, ge=0, le=1)
    sample_minimum: int = Field(default=5, ge=0)
    # After a box fails its sample, the next boxes of this pipeline are sampled at this
    # multiple of the rate (tightened inspection) ...
    tightened_factor: float = Field(default=2.0, ge=1)
    # ... until this many consecutive boxes pass their samples (back to normal).
    passes_to_normal: int = Field(default=3, ge=1)


class CaptureSettings(StrictModel):
    """How a scanner's file becomes records: where documents start, which pages are left out.

    Read in the OCR worker before OCR, on pages rendered small (``s4.sheets``)."""

    # file: one record per file (as before). sheet: a new record at each separator sheet
    # (`s4 sheets separator`, or a PATCH T sheet); a box cover sheet (`s4 sheets box`) names
    # the box of what follows. blank: a new record at each blank page (simplex stacks with a
    # blank sheet between documents).
    separation: Literal["file", "sheet", "blank"] = "file"
    # keep: blank pages stay in the record. drop: duplex blank backs are left out of the
    # record's PDF (the record lists which scan pages were dropped and why).
    blank_pages: Literal["keep", "drop"] = "keep"
    # A page with less ink than this (percent of the page inside its margins) is blank.
    blank_ink_percent: float = Field(default=0.25, ge=0, le=100)
    # The resolution pages are rendered at to read codes and measure ink.
    analysis_dpi: int = Field(default=100, ge=50, le=300)

    @property
    def active(self) -> bool:
        """Whether the worker looks at the pages at all (``file`` + ``keep``: it does not)."""
        return self.separation != "file" or self.blank_pages == "drop"


class Pipeline(StrictModel):
    name: str
    description: str = ""
    ocr: OcrSettings = Field(default_factory=OcrSettings)
    capture: CaptureSettings = Field(default_factory=CaptureSettings)
    classify: ClassifyPipelineSettings = Field(default_factory=ClassifyPipelineSettings)
    paper: PaperPipelineSettings = Field(default_factory=PaperPipelineSettings)
    image_qa: ImageQaSettings = Field(default_factory=ImageQaSettings)
    qa: QaPolicy = Field(default_factory=QaPolicy)
    # Later stages (classify, retain, store, paper) add their own sections.
    source: Path | None = Field(default=None, exclude=True)


def load_pipeline(path: Path) -> Pipeline:
    data, lines = load_yaml_with_lines(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:1: (top level): expected a mapping of settings")
    try:
        pipeline = Pipeline.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(path, exc, lines)) from None
    pipeline.source = path
    return pipeline


# --------------------------------------------------------------------------- s4.toml


class IngestSettings(StrictModel):
    quiet_seconds: float = Field(default=5.0, ge=0)
    poll: bool = False
    poll_interval_seconds: float = Field(default=2.0, gt=0)
    rescan_seconds: float = Field(default=60.0, gt=0)
    max_file_megabytes: float = Field(default=500.0, gt=0)
    ignore: list[str] = Field(
        default_factory=lambda: [".*", "Thumbs.db", "desktop.ini", "~$*", "*.tmp", "*.part"]
    )


class OcrWorkerSettings(StrictModel):
    workers: int = Field(default=0, ge=0, description="0 means one per CPU core")
    # A document whose OCR worker dies (or overruns) this many times is quarantined.
    max_attempts: int = Field(default=3, ge=1)
    # One document's OCR may take this long before its worker is stopped (a hang guard).
    job_timeout_minutes: float = Field(default=60.0, gt=0)
    # Where OCR runs: "local" (worker processes of the line) or "celery" (`s4 worker`s on
    # any machine that reaches the Redis broker).
    executor: Literal["local", "celery"] = "local"
    broker: str = "redis://127.0.0.1:6379/0"
    # The NAME of the environment variable holding the broker's password (never the
    # password itself: s4.toml is readable by operators and copied into support tickets).
    broker_password_env: str = Field(default="S4_REDIS_PASSWORD",
                                     pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    # A Celery job whose worker sent no heartbeat for this long is charged as a crash.
    lease_seconds: float = Field(default=30.0, ge=3)
    # Scans travel through Redis as bytes; larger ones are quarantined with the reason.
    broker_max_file_megabytes: float = Field(default=200.0, gt=0, le=500)

    @field_validator("broker")
    @classmethod
    def _broker_without_secrets(cls, value: str) -> str:
        parsed = urlsplit(value)
        if parsed.scheme not in ("redis", "rediss") or not parsed.hostname:
            raise ValueError("the broker is a Redis address such as redis://10.0.0.5:6379/0")
        if parsed.password is not None or parsed.username is not None:
            raise ValueError("do not write the Redis password here: put it in the environment "
                             "variable named by broker_password_env (default S4_REDIS_PASSWORD)")
        return value


class GeneralSettings(StrictModel):
    council: str = ""  # required by `s4 paper destroy` (it is printed on the certificate)
    default_pipeline: str = "default"


# ---- store settings ([store] in s4.toml)

UPLOAD_FRAGMENT_UNIT = 320 * 1024  # Graph: upload-session fragments are multiples of 320 KiB
FOLDER_FIELDS = ("record_class", "year", "month", "batch", "box", "disposal_year")
# S4 metadata that can be written to SharePoint columns (key -> default column name).
DEFAULT_COLUMNS = {
    "record_class": "S4RecordClass", "disposal_due": "S4DisposalDate",
    "disposal_action": "S4DisposalAction", "document_date": "S4DocumentDate",
    "refs": "S4References", "batch": "S4Batch", "box": "S4Box", "id": "S4Id",
    "sha256": "S4SHA256",
    # Not written unless mapped: the record that replaced this one after a re-scan.
    "superseded_by": "",
}


def _check_folder_template(value: str) -> str:
    import string

    try:
        names = [field for _, field, _, _ in string.Formatter().parse(value) if field is not None]
    except ValueError as exc:
        raise ValueError(f"not a folder template: {exc}") from None
    unknown = [name for name in names if name not in FOLDER_FIELDS]
    if unknown:
        raise ValueError(f"unknown placeholder(s) {', '.join('{' + n + '}' for n in unknown)};"
                         f" known: {', '.join('{' + n + '}' for n in FOLDER_FIELDS)}")
    if value.startswith("/") or "\\" in value:
        raise ValueError("use a relative path with '/' between folders, e.g. "
                         "'{record_class}/{year}'")
    return value


class LocalStoreSettings(StrictModel):
    """The default store: a folder (``store/`` in the S4 home unless ``path`` is set)."""

    path: Path | None = None
    folder: str = "{record_class}/{year}"

    @field_validator("folder")
    @classmethod
    def _folder(cls, value: str) -> str:
        return _check_folder_template(value)


class SharePointSettings(StrictModel):
    """Microsoft Graph with an Entra app registration that signs in with a certificate."""

    tenant_id: str = ""
    client_id: str = ""
    certificate: Path | None = None  # PEM (key + certificate) or PFX/P12
    certificate_password_env: str | None = None  # NAME of the variable holding the password
    site: str = ""  # "contoso.sharepoint.com:/sites/records"
    library: str = "Documents"
    folder: str = "{record_class}/{year}"
    authority: str = "https://login.microsoftonline.com"
    graph_url: str = "https://graph.microsoft.com/v1.0"
    fragment_size: int = Field(default=32 * UPLOAD_FRAGMENT_UNIT, gt=0,
                               le=192 * UPLOAD_FRAGMENT_UNIT)
    columns: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_COLUMNS))
    connect_timeout_seconds: float = Field(default=10.0, gt=0)
    read_timeout_seconds: float = Field(default=120.0, gt=0)
    max_attempts: int = Field(default=6, ge=1, le=50)
    backoff_seconds: float = Field(default=1.0, gt=0)
    max_backoff_seconds: float = Field(default=60.0, gt=0)

    @field_validator("folder")
    @classmethod
    def _folder(cls, value: str) -> str:
        return _check_folder_template(value)

    @field_validator("fragment_size")
    @classmethod
    def _fragment_multiple(cls, value: int) -> int:
        if value % UPLOAD_FRAGMENT_UNIT:
            raise ValueError(
                f"must be a multiple of 320 KiB ({UPLOAD_FRAGMENT_UNIT} bytes), e.g. "
                f"{max(1, value // UPLOAD_FRAGMENT_UNIT) * UPLOAD_FRAGMENT_UNIT}")
        return value

    @field_validator("site")
    @classmethod
    def _site_form(cls, value: str) -> str:
        if value and not re.fullmatch(r"[A-Za-z0-9.-]+(:/[^:]*)?", value):
            raise ValueError("expected 'host:/sites/name', e.g. "
                             "'contoso.sharepoint.com:/sites/records'")
        return value

    @field_validator("authority", "graph_url")
    @classmethod
    def _https(cls, value: str) -> str:
        if not value.startswith("https://"):
            raise ValueError("must be an https:// URL")
        return value.rstrip("/")

    @field_validator("certificate_password_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
            raise ValueError("give the NAME of an environment variable (e.g. "
                             "'S4_CERT_PASSWORD'), never the password itself")
        return value

    @field_validator("columns")
    @classmethod
    def _known_columns(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(DEFAULT_COLUMNS))
        if unknown:
            raise ValueError(f"unknown S4 field(s) {', '.join(unknown)}; known: "
                             f"{', '.join(DEFAULT_COLUMNS)} (map a field to \"\" to skip it)")
        return {**DEFAULT_COLUMNS, **value}


class StoreSettings(StrictModel):
    backend: Literal["local", "sharepoint"] = "local"
    # While the store is unreachable, wait at most this long between attempts.
    retry_max_seconds: float = Field(default=300.0, gt=0)
    local: LocalStoreSettings = Field(default_factory=LocalStoreSettings)
    sharepoint: SharePointSettings = Field(default_factory=SharePointSettings)

    @model_validator(mode="after")
    def _sharepoint_complete(self) -> StoreSettings:
        if self.backend == "sharepoint":
            missing = [name for name in ("tenant_id", "client_id", "certificate", "site")
                       if not getattr(self.sharepoint, name)]
            if missing:
                raise ValueError(
                    "backend = 'sharepoint' needs " + ", ".join(
                        f"store.sharepoint.{name}" for name in missing))
        return self


class AuditSettings(StrictModel):
    """Anchoring the audit log's head with an RFC 3161 time-stamping authority (TSA)."""

    # Where ``s4 audit anchor`` POSTs its timestamp query (application/timestamp-query).
    tsa_url: str = ""
    # PEM file: the TSA's certificate first, then its CA chain up to the root (relative
    # paths are in the S4 home). Replies and stored tokens are checked against it.
    tsa_certificate: Path | None = None
    timeout_seconds: float = Field(default=30.0, gt=0)

    @field_validator("tsa_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if value and not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("tsa_url must be an http:// or https:// address")
        return value
class WebSettings(StrictModel):
    """The desk (``s4 serve``): sessions and sign-in limits."""

    # A session unused for this long is ended; the person signs in again.
    idle_minutes: float = Field(default=30, gt=0)
    # A session this old (since its sign-in) is ended however busy it is: a cookie copied
    # from an unattended browser, or one never left idle, still stops working.
    session_max_hours: float = Field(default=12, gt=0)
    # After this many failed sign-ins in a row the account is locked for lockout_minutes.
    max_failed_sign_ins: int = Field(default=5, ge=1)
    lockout_minutes: float = Field(default=15, gt=0)
    # True when the desk is served behind https (the reverse proxy): cookies get "Secure".
    https: bool = False


class Settings(StrictModel):
    s4: GeneralSettings = Field(default_factory=GeneralSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    ocr: OcrWorkerSettings = Field(default_factory=OcrWorkerSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    audit: AuditSettings = Field(default_factory=AuditSettings)


def _toml_line(text: str, loc: tuple) -> int | None:
    """Best-effort line of a TOML key: find its deepest ``[section]`` (``[a.b]`` too), then
    ``key =`` inside that section; else the section header's own line."""
    lines = text.splitlines()
    parts = [str(part) for part in loc]
    for depth in range(len(parts), 0, -1):
        name = r"\s*\.\s*".join(re.escape(part) for part in parts[:depth])
        header = re.compile(rf"^\s*\[\s*{name}\s*\]")
        start = next((n for n, line in enumerate(lines) if header.match(line)), None)
        if start is None:
            continue
        if depth < len(parts):
            key = re.compile(rf"^\s*{re.escape(parts[depth])}\s*=")
            for number in range(start + 1, len(lines)):
                if re.match(r"^\s*\[", lines[number]):
                    break
                if key.match(lines[number]):
                    return number + 1
        return start + 1
    if parts:
        key = re.compile(rf"^\s*{re.escape(parts[0])}\s*=")
        for number, line in enumerate(lines):
            if key.match(line):
                return number + 1
    return None


def load_settings(path: Path) -> Settings:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Settings()
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: TOML syntax: {exc}") from None
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        messages = []
        for error in exc.errors():
            loc = tuple(error["loc"])
            field = ".".join(str(part) for part in loc)
            messages.append(f"{path}:{_toml_line(text, loc) or '?'}: {field}: {error['msg']}")
        raise ConfigError("\n".join(messages)) from None


# --------------------------------------------------------------------------- the S4 home


@dataclass(frozen=True)
class Home:
    """The S4 home directory: settings, database, work area, quarantine and local store."""

    root: Path

    @classmethod
    def locate(cls, option: str | os.PathLike | None) -> Home:
        chosen = option or os.environ.get("S4_HOME") or Path.home() / "s4"
        return cls(Path(chosen).expanduser().resolve())

    @property
    def settings_file(self) -> Path:
        return self.root / "s4.toml"

    @property
    def database(self) -> Path:
        return self.root / "s4.db"

    @property
    def inbox(self) -> Path:
        return self.root / "inbox"

    @property
    def work(self) -> Path:
        return self.root / "work"

    @property
    def quarantine(self) -> Path:
        return self.root / "quarantine"

    @property
    def store(self) -> Path:
        return self.root / "store"

    @property
    def pipelines(self) -> Path:
        return self.root / "pipelines"

    @property
    def retention_rules(self) -> Path:
        return self.root / "retention_rules"

    def exists(self) -> bool:
        return self.database.exists()

    def settings(self) -> Settings:
        return load_settings(self.settings_file)

    def pipeline(self, name: str) -> Pipeline:
        path = self.pipelines / f"{name}.yaml"
        if not path.exists():
            known = ", ".join(sorted(p.stem for p in self.pipelines.glob("*.yaml"))) or "none"
            raise ConfigError(f"{path}: no such pipeline {name!r} (known: {known})")
        pipeline = load_pipeline(path)
        if pipeline.name != name:
            raise ConfigError(
                f"{path}:1: name: pipeline file is named {name!r} but says name: {pipeline.name!r}"
            )
        return pipeline
