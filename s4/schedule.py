"""The retention schedule: record classes, how to recognise them, and what happens to them.

A schedule is one YAML file in the home's ``retention_rules/`` folder. Each record class says

* how to recognise it (``recognition``: weighted keywords, phrases, negative terms and regular
  expressions for reference formats — those marked ``reference: true`` are the record's asset
  ids, which event-based retention and holds match on);
* what happens to it (``retention``: a trigger, a period and a disposal action, with the
  authority a records manager can point to);
* whether the paper original may be destroyed once the digital copy is verified (``paper``).

The file's SHA-256 is the schedule's version; it is recorded with every retention decision,
so a decision can always be traced to the exact text of the rule that produced it.
Validation errors name the file, the line and the field (``file:line: field: message``).
"""

from __future__ import annotations

import hashlib
import re
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, PrivateAttr, ValidationError, ValidationInfo, field_validator

from s4.config import ConfigError, StrictModel, describe_validation_error, load_yaml_with_lines

TRIGGERS = ("document_date", "financial_year_end", "calendar_year_end", "event", "date_of_birth")
ACTIONS = ("destroy", "review", "transfer", "retain_permanently")
_PERIOD = re.compile(r"(?:(\d{1,3})y)?(?:(\d{1,4})m)?")
_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_EVENT_TYPE = re.compile(r"[a-z][a-z0-9_]*")


def _check_weights(terms: dict[str, float]) -> dict[str, float]:
    for term, weight in terms.items():
        if not term.strip():
            raise ValueError("a term is empty")
        if weight <= 0:
            raise ValueError(f"weight of {term!r} must be above 0 (negative terms are listed "
                             "under `negative` with a positive weight)")
    return terms


class Pattern(StrictModel):
    """A regular expression for a reference format or a tell-tale line.

    With ``reference: true`` every match is one of the record's references (asset ids). If the
    expression has a named group ``ref``, only that group is the reference (so a label such as
    "Employee No:" can anchor the match without becoming part of the id).
    """

    name: str
    regex: str
    weight: float = Field(3.0, ge=0)
    reference: bool = False
    _compiled: re.Pattern = PrivateAttr()

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            compiled = re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
        if compiled.search("") is not None:
            raise ValueError("matches empty text, so it would fire on every document")
        if compiled.groupindex and set(compiled.groupindex) != {"ref"}:
            raise ValueError("the only named group allowed is (?P<ref>…), the reference itself")
        return value

    def model_post_init(self, context: Any) -> None:
        self._compiled = re.compile(self.regex)

    @property
    def compiled(self) -> re.Pattern:
        return self._compiled

    def find_references(self, text: str) -> list[str]:
        """Each match as a reference: the ``ref`` group (or whole match), upper-cased, no spaces."""
        found: list[str] = []
        group = "ref" if "ref" in self._compiled.groupindex else 0
        for match in self._compiled.finditer(text):
            value = normalise_reference(match.group(group) or "")
            if value and value not in found:
                found.append(value)
        return found


class Recognition(StrictModel):
    keywords: dict[str, float] = Field(default_factory=dict)
    phrases: dict[str, float] = Field(default_factory=dict)
    patterns: list[Pattern] = Field(default_factory=list)
    negative: dict[str, float] = Field(default_factory=dict)

    @field_validator("keywords", "phrases", "negative")
    @classmethod
    def _weights(cls, value: dict[str, float]) -> dict[str, float]:
        return _check_weights(value)

    @property
    def empty(self) -> bool:
        return not (self.keywords or self.phrases or self.patterns)

    def find_references(self, text: str) -> list[str]:
        found: list[str] = []
        for pattern in self.patterns:
            if pattern.reference:
                found.extend(r for r in pattern.find_references(text) if r not in found)
        return found


class Retention(StrictModel):
    rule_id: str = Field(min_length=1)
    trigger: Literal["document_date", "financial_year_end", "calendar_year_end", "event",
                     "date_of_birth"]
    event_type: str | None = Field(None, validate_default=True)
    period: str
    action: Literal["destroy", "review", "transfer", "retain_permanently"]
    authority: str = Field(min_length=1)
    citation: str = ""
    notes: str = ""

    @field_validator("event_type")
    @classmethod
    def _event_type_with_event_trigger(cls, value: str | None, info: ValidationInfo) -> str | None:
        trigger = info.data.get("trigger")
        if trigger == "event" and not value:
            raise ValueError("trigger 'event' needs an event_type (e.g. employment_ended, "
                             "case_closed) so events can be matched to records")
        if trigger is not None and trigger != "event" and value:
            raise ValueError(f"event_type is only used with trigger 'event' (trigger is "
                             f"{trigger!r})")
        if value and not _EVENT_TYPE.fullmatch(value):
            raise ValueError(f"{value!r} is not an event type: lower case letters, digits and "
                             "underscores, e.g. case_closed")
        return value

    @field_validator("period")
    @classmethod
    def _period_format(cls, value: str) -> str:
        value = value.strip().lower()
        if value == "permanent":
            return value
        match = _PERIOD.fullmatch(value)
        if not value or match is None:
            raise ValueError(f"{value!r} is not a period: use years and/or months such as "
                             "'6y', '18m', '6y6m', or 'permanent'")
        return value

    @field_validator("action")
    @classmethod
    def _action_fits_period(cls, value: str, info: ValidationInfo) -> str:
        period = info.data.get("period")
        if period == "permanent" and value == "destroy":
            raise ValueError("a permanent record cannot have the action 'destroy' (use "
                             "transfer or retain_permanently, or give a period)")
        if period is not None and period != "permanent" and value == "retain_permanently":
            raise ValueError(f"'retain_permanently' needs period 'permanent' (period is "
                             f"{period!r})")
        return value

    @property
    def permanent(self) -> bool:
        return self.period == "permanent"

    def _parts(self) -> tuple[int, int]:
        if self.permanent:
            return 0, 0
        match = _PERIOD.fullmatch(self.period)
        assert match is not None  # validated
        return int(match.group(1) or 0), int(match.group(2) or 0)

    @property
    def period_years(self) -> int:
        return self._parts()[0]

    @property
    def period_months(self) -> int:
        return self._parts()[1]

    @property
    def trigger_label(self) -> str:
        """``event:case_closed`` for event triggers, else the trigger itself."""
        return f"event:{self.event_type}" if self.trigger == "event" else self.trigger

    @property
    def event_key(self) -> str | None:
        """The recorded-event type this rule waits for (``date_of_birth`` counts as one)."""
        if self.trigger == "event":
            return self.event_type
        return "date_of_birth" if self.trigger == "date_of_birth" else None


class PaperPolicy(StrictModel):
    destroy_allowed: bool = True
    min_days_after_verification: int = Field(0, ge=0)


class RecordClass(StrictModel):
    id: str
    title: str = Field(min_length=1)
    scope: str = ""
    recognition: Recognition = Field(default_factory=Recognition)
    retention: Retention
    paper: PaperPolicy = Field(default_factory=PaperPolicy)

    @field_validator("id")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not _SLUG.fullmatch(value):
            raise ValueError(f"{value!r} is not a class id: lower case letters, digits and "
                             "single hyphens, e.g. council-tax")
        return value


class Schedule(StrictModel):
    id: str
    title: str
    jurisdiction: str = ""
    financial_year_end: str = "03-31"
    classes: list[RecordClass] = Field(min_length=1)
    _source: Path | None = PrivateAttr(default=None)
    _version: str | None = PrivateAttr(default=None)

    @field_validator("financial_year_end")
    @classmethod
    def _month_day(cls, value: str) -> str:
        match = re.fullmatch(r"(\d{2})-(\d{2})", value.strip())
        try:
            if match is None:
                raise ValueError
            date(2001, int(match.group(1)), int(match.group(2)))  # a non-leap year
        except ValueError:
            raise ValueError(f"{value!r} is not a month and day such as '03-31' (29 February "
                             "is not allowed: not every year has one)") from None
        return value.strip()

    @field_validator("classes")
    @classmethod
    def _unique_ids(cls, value: list[RecordClass]) -> list[RecordClass]:
        seen: dict[str, int] = {}
        for index, record_class in enumerate(value):
            if record_class.id in seen:
                raise ValueError(f"duplicate class id {record_class.id!r} (classes "
                                 f"{seen[record_class.id]} and {index})")
            seen[record_class.id] = index
        return value

    @property
    def source(self) -> Path | None:
        return self._source

    @property
    def version(self) -> str:
        """SHA-256 of the schedule file's bytes (of the model's JSON if built in memory)."""
        if self._version is None:
            self._version = hashlib.sha256(self.model_dump_json().encode()).hexdigest()
        return self._version

    def get(self, class_id: str) -> RecordClass | None:
        for record_class in self.classes:
            if record_class.id == class_id:
                return record_class
        return None

    @property
    def class_ids(self) -> list[str]:
        return [c.id for c in self.classes]

    def event_types(self) -> set[str]:
        """Event types that some class waits for (including ``date_of_birth``)."""
        return {c.retention.event_key for c in self.classes if c.retention.event_key}


def normalise_reference(text: str) -> str:
    """How a reference is stored: upper case, no white space (OCR often splits them)."""
    return re.sub(r"\s+", "", text).upper()


def _duplicate_class_line(path: Path, data: Any, lines: dict) -> None:
    """Name the line of a repeated class id (pydantic can only point at ``classes``)."""
    classes = data.get("classes") if isinstance(data, dict) else None
    if not isinstance(classes, list):
        return
    seen: dict[str, int] = {}
    for index, item in enumerate(classes):
        if isinstance(item, dict) and isinstance(item.get("id"), str):
            class_id = item["id"]
            if class_id in seen:
                line = lines.get(("classes", index, "id"), "?")
                first = lines.get(("classes", seen[class_id], "id"), "?")
                raise ConfigError(f"{path}:{line}: classes.{index}.id: duplicate class id "
                                  f"{class_id!r} (first used at line {first})")
            seen[class_id] = index


def load_schedule(path: Path) -> Schedule:
    """Read and validate a schedule file; errors are ``file:line: field: message``."""
    path = Path(path)
    data, lines = load_yaml_with_lines(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:1: (top level): expected a mapping with id, title, classes")
    _duplicate_class_line(path, data, lines)
    try:
        schedule = Schedule.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(path, exc, lines, data)) from None
    schedule._source = path
    schedule._version = hashlib.sha256(path.read_bytes()).hexdigest()
    return schedule


def schedule_for(home: Any, name: str) -> Schedule:
    """The schedule ``retention_rules/NAME.yaml`` of an S4 home."""
    folder: Path = home.retention_rules
    path = folder / f"{name}.yaml"
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in folder.glob("*.yaml"))) or "none"
        raise ConfigError(f"{path}: no such retention schedule {name!r} (known: {known})")
    schedule = load_schedule(path)
    if schedule.id != name:
        line = _id_line(path)
        raise ConfigError(f"{path}:{line}: id: schedule file is named {name!r} but says "
                          f"id: {schedule.id!r}")
    return schedule


def _id_line(path: Path) -> int | str:
    _, lines = load_yaml_with_lines(path)
    return lines.get(("id",), "?")
