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

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator


class ConfigError(Exception):
    """A settings, pipeline or schedule file is wrong; the message names file, line and field."""


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


def describe_validation_error(path: Path, exc: ValidationError, lines: dict) -> str:
    """Turn a pydantic error into ``file:line: field: message`` lines."""
    messages = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        line = None
        for depth in range(len(loc), -1, -1):  # nearest enclosing key that has a line
            line = lines.get(loc[:depth])
            if line is not None:
                break
        field = ".".join(str(part) for part in loc) or "(top level)"
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
    assume_dpi: int = Field(default=300, ge=50, le=1200)
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


class Pipeline(StrictModel):
    name: str
    description: str = ""
    ocr: OcrSettings = Field(default_factory=OcrSettings)
    classify: ClassifyPipelineSettings = Field(default_factory=ClassifyPipelineSettings)
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


class GeneralSettings(StrictModel):
    council: str = "Borsetshire District Council"
    default_pipeline: str = "default"


class Settings(StrictModel):
    s4: GeneralSettings = Field(default_factory=GeneralSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    ocr: OcrWorkerSettings = Field(default_factory=OcrWorkerSettings)


def _toml_line(text: str, loc: tuple) -> int | None:
    """Best-effort line of a TOML key: find its ``[section]`` then ``key =`` below it."""
    lines = text.splitlines()
    start = 0
    if len(loc) > 1:
        header = re.compile(rf"^\s*\[\s*{re.escape(str(loc[0]))}\s*\]")
        for number, line in enumerate(lines):
            if header.match(line):
                start = number
                break
    key = re.compile(rf"^\s*{re.escape(str(loc[-1 if len(loc) < 3 else 1]))}\s*=")
    for number in range(start, len(lines)):
        if key.match(lines[number]):
            return number + 1
    return start + 1 if start else None


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
