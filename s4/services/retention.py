"""Retention and legal holds: check the schedules, record events, the disposition report,
re-apply a changed schedule, and place, lift and list holds.

The rules themselves live in ``s4.retention``; this module finds the schedule that governs
each record (through the HomeContext), checks what a person asked for, and returns what
changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from s4 import db as store_db
from s4 import retention as rt
from s4.config import ConfigError, Home
from s4.context import HomeContext
from s4.errors import NotFound, UsageProblem
from s4.schedule import Retention, Schedule, load_schedule
from s4.services.results import Outcome

HOLD_SCOPES = ("reference", "class", "doc")


def home_schedules(home: Home) -> list[Schedule]:
    """Every schedule in the home's retention_rules/ (ConfigError on the first bad one)."""
    return [load_schedule(path) for path in sorted(home.retention_rules.glob("*.yaml"))]


def action_label(action: str | None) -> str:
    """A disposal action as a person reads it."""
    return "retain" if action == "retain_permanently" else (action or "")


# --------------------------------------------------------------------------- check


@dataclass(frozen=True)
class ClassRow:
    """One record class of a schedule as ``retention check`` lists it."""

    class_id: str
    rule_id: str
    trigger: str
    period: str
    action: str
    paper: str  # "keep", or how many days after verification the paper may go ("30d")


@dataclass
class CheckedSchedule:
    path: Path
    schedule: Schedule
    rows: list[ClassRow]


@dataclass
class ScheduleCheck:
    checked: list[CheckedSchedule] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # file:line: field: problem

    @property
    def ok(self) -> bool:
        return not self.errors


_SHORT_TRIGGERS = {"document_date": "doc date", "financial_year_end": "FY end",
                   "calendar_year_end": "year end", "date_of_birth": "birth"}


def _trigger(rule: Retention) -> str:
    return rule.event_type if rule.trigger == "event" else _SHORT_TRIGGERS[rule.trigger]


def _class_rows(schedule: Schedule) -> list[ClassRow]:
    rows = []
    for record_class in schedule.classes:
        rule = record_class.retention
        paper = ("keep" if not record_class.paper.destroy_allowed
                 else f"{record_class.paper.min_days_after_verification}d")
        rows.append(ClassRow(record_class.id, rule.rule_id, _trigger(rule), rule.period,
                             action_label(rule.action), paper))
    return rows


def check(home: Home | None, file: Path | None = None) -> ScheduleCheck:
    """Validate one schedule file, or every schedule in the home, and list their classes.

    Takes a Home, not a HomeContext: checking a schedule never opens the database, so it
    works on a file before it is installed in any home."""
    if file is not None:
        paths = [file]
    else:
        if home is None:
            raise UsageProblem("give a schedule file, or the S4 home whose schedules to check")
        paths = sorted(home.retention_rules.glob("*.yaml"))
        if not paths:
            raise UsageProblem(f"no schedules in {home.retention_rules}")
    result = ScheduleCheck()
    for path in paths:
        try:
            schedule = load_schedule(path)
        except ConfigError as exc:
            result.errors.append(str(exc))
            continue
        result.checked.append(CheckedSchedule(path, schedule, _class_rows(schedule)))
    return result


# --------------------------------------------------------------------------- events


def record_event(ctx: HomeContext, event_type: str, reference: str, event_date: date,
                 note: str = "") -> rt.EventOutcome:
    """Record an event against a reference: every record carrying it whose rule waits for
    this event type gets its trigger date and a new disposal date."""
    known = set().union(*(s.event_types() for s in home_schedules(ctx.home)))
    if event_type not in known:
        raise UsageProblem(f"no record class waits for a {event_type!r} event (known: "
                           f"{', '.join(sorted(known)) or 'none'})")
    try:
        return rt.record_event(ctx.db, ctx.schedule_for, event_type,
                               reference, event_date, ctx.actor, note)
    except ValueError as exc:
        raise UsageProblem(str(exc)) from None


# --------------------------------------------------------------------------- the report

#: The fields of the disposition report, in the order exports write them.
REPORT_FIELDS = ["id", "record_class", "rule_id", "disposal_action", "retention_trigger",
                 "trigger_date", "disposal_due", "status", "holds", "refs", "state", "box",
                 "source_name", "schedule_version"]


@dataclass
class DueReport:
    before: date
    action: str | None
    rows: list[dict[str, Any]]  # the REPORT_FIELDS of each record

    @property
    def held(self) -> int:
        """Records that are due but under a hold: not to be disposed of."""
        return sum(1 for row in self.rows if row["holds"])

    @property
    def permanent(self) -> int:
        return sum(1 for row in self.rows if row["status"] == rt.PERMANENT)

    @property
    def due(self) -> int:
        return len(self.rows) - self.held - self.permanent


def due(ctx: HomeContext, before: date | None = None, action: str | None = None) -> DueReport:
    """Records whose retention runs out on or before ``before`` (default today); a held
    record is listed with its hold ids and status ``blocked``, never as due."""
    before = before or date.today()
    try:
        rows = rt.due_report(ctx.db, before, action)
    except ValueError as exc:
        raise UsageProblem(str(exc)) from None
    return DueReport(before, action, rows)


# --------------------------------------------------------------------------- schedule changes


@dataclass
class ApplyOutcome(Outcome):
    #: schedule name → (its version, how many records were recomputed under it)
    schedules: dict[str, tuple[str, int]] = field(default_factory=dict)
    moved: list[rt.Change] = field(default_factory=list)

    @property
    def recomputed(self) -> int:
        return sum(count for _, count in self.schedules.values())


def apply(ctx: HomeContext, schedule_name: str | None = None) -> ApplyOutcome:
    """Recompute the retention of every undisposed record (or those under one schedule)
    after a schedule changed. Records whose date, action or rule moved are ``moved``; a
    record whose class left the schedule is refused and left as it was."""
    if schedule_name:
        ctx.schedule(schedule_name)  # fail early on a bad name or file
    groups: dict[str, list[dict[str, Any]]] = {}
    for doc in store_db.retained_documents(ctx.db):
        name = ctx.schedule_name_for(doc)
        if schedule_name in (None, name):
            groups.setdefault(name, []).append(doc)
    outcome = ApplyOutcome()
    for name, docs in groups.items():
        schedule = ctx.schedule(name)
        outcome.schedules[name] = (schedule.version, len(docs))
        for change in rt.reapply_schedule(ctx.db, schedule, ctx.actor, docs):
            if change.after is None:
                outcome.refuse(change.doc_id, change.problem)
            else:
                outcome.moved.append(change)
                outcome.changed.append(change.doc_id)
    return outcome


# --------------------------------------------------------------------------- holds


def place_hold(ctx: HomeContext, reason: str, scope_kind: str, scope_value: str
               ) -> dict[str, Any]:
    """Hold every record carrying a reference, of a class, or one document; records filed
    later that match are held too. Returns the hold with the ``documents`` held now."""
    if scope_kind not in HOLD_SCOPES:
        raise UsageProblem(f"a hold is on one of {', '.join(HOLD_SCOPES)}, not {scope_kind!r}")
    if scope_kind == "class":
        known = set().union(*(set(s.class_ids) for s in home_schedules(ctx.home)))
        if scope_value not in known:
            raise UsageProblem(f"no record class {scope_value!r} in the schedules (known: "
                               f"{', '.join(sorted(known))})")
    if scope_kind == "doc":
        try:
            scope_value = store_db.normalise_doc_id(scope_value)
        except ValueError as exc:
            raise UsageProblem(str(exc)) from None
        if store_db.get_document(ctx.db, scope_value) is None:
            raise NotFound(f"no document {scope_value}")
    try:
        return rt.place_hold(ctx.db, reason, scope_kind, scope_value, ctx.actor)
    except ValueError as exc:
        raise UsageProblem(str(exc)) from None


def lift_hold(ctx: HomeContext, hold_id: str, reason: str) -> dict[str, Any]:
    """Lift a hold: the records it covered may be disposed of again when due (unless
    another hold still covers them)."""
    try:
        return rt.lift_hold(ctx.db, hold_id, reason, ctx.actor)
    except LookupError as exc:
        raise NotFound(str(exc).strip("'\"")) from None
    except ValueError as exc:
        raise UsageProblem(str(exc)) from None


@dataclass(frozen=True)
class HoldRow:
    hold: dict[str, Any]  # the hold's columns: id, scope_kind, scope_value, placed_…, lifted_…
    covers: int | None  # records it covers now; None for a lifted hold


def holds(ctx: HomeContext, include_lifted: bool = False) -> list[HoldRow]:
    """Holds in place (and lifted ones if asked), with how many records each covers."""
    return [HoldRow(row, None if row["lifted_at"] else len(rt.held_documents(ctx.db, row)))
            for row in store_db.holds(ctx.db, include_lifted)]
