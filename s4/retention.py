"""Retain stage: when may a record be disposed of, under which rule, and what blocks it.

A record class's rule gives a trigger, a period and a disposal action. The trigger date comes
from the document (its date, or the end of the financial or calendar year it falls in) or
from a recorded event (case closed, employment ended, a date of birth …) matched to the
record through its references. Disposal is due on trigger date + period; a record whose event
has not happened yet is kept ("awaiting event"). Every decision is stored with the rule id
and the schedule version, as an audit event. Holds block every disposal while in place.
"""

from __future__ import annotations

import calendar
import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from s4 import db as store_db
from s4.schedule import RecordClass, Schedule, normalise_reference

SCHEDULED = "scheduled"  # disposal date known
AWAITING_EVENT = "awaiting_event"  # kept until its event is recorded
PERMANENT = "permanent"  # never disposed of (transferred or kept)
NO_DOCUMENT_DATE = "no_document_date"  # the rule counts from a date S4 does not have: review

HOLD_SCOPES = ("reference", "class", "doc")
REPORT_ACTIONS = ("destroy", "review", "transfer")

# --------------------------------------------------------------------------- date arithmetic


def add_period(d: date, years: int = 0, months: int = 0) -> date:
    """``d`` plus whole years and months; a day past the end of the month is clamped to it
    (31 Jan + 1 month = 28/29 Feb; 29 Feb + 1 year = 28 Feb)."""
    total = d.year * 12 + (d.month - 1) + years * 12 + months
    year, month0 = divmod(total, 12)
    month = month0 + 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


def _month_day(mm_dd: str) -> tuple[int, int]:
    month, day = (int(part) for part in mm_dd.split("-"))
    return month, day


def financial_year_end(d: date, mm_dd: str = "03-31") -> date:
    """The last day of the financial year that ``d`` falls in (the year end on or after d)."""
    month, day = _month_day(mm_dd)
    end = date(d.year, month, day)
    return end if end >= d else date(d.year + 1, month, day)


def calendar_year_end(d: date) -> date:
    return date(d.year, 12, 31)


# --------------------------------------------------------------------------- dates typed by people

_MONTHS = {name.lower(): number for number, name in enumerate(calendar.month_name) if name}
_MONTHS |= {name.lower(): number for number, name in enumerate(calendar.month_abbr) if name}
_MONTHS["sept"] = 9
_NUMERIC = re.compile(r"(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{2,4})")
_WORDY = re.compile(r"(\d{1,2})(?:st|nd|rd|th)?\s+([A-Za-z]+)\.?,?\s+(\d{2,4})")
_DATE_HELP = "use 2021-03-31, 31/03/2021 or 31 March 2021 (day first)"


def parse_date(text: str) -> date:
    """A date typed by a person: ISO, or UK day-first. Anything else is refused, not guessed."""
    value = text.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{text!r} is not a real date ({_DATE_HELP})") from None
    numeric = _NUMERIC.fullmatch(value)
    wordy = _WORDY.fullmatch(value)
    if numeric:
        day, month, year = (int(part) for part in numeric.groups())
    elif wordy:
        day, year = int(wordy.group(1)), int(wordy.group(3))
        name = wordy.group(2).lower()
        if name not in _MONTHS:
            raise ValueError(f"{text!r}: {wordy.group(2)!r} is not a month ({_DATE_HELP})")
        month = _MONTHS[name]
    else:
        raise ValueError(f"{text!r} is not a date ({_DATE_HELP})")
    if (numeric or wordy) and len((numeric or wordy).group(3)) != 4:
        raise ValueError(f"{text!r}: give the year in full, e.g. 2021 ({_DATE_HELP})")
    if numeric and month > 12 >= day:
        raise ValueError(f"{text!r}: there is no month {month}; dates are day first, "
                         f"e.g. {month:02d}/{day:02d}/{year}")
    try:
        return date(year, month, day)
    except ValueError:
        raise ValueError(f"{text!r} is not a real date ({_DATE_HELP})") from None


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _as_date(value: Any) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        return None


# --------------------------------------------------------------------------- decisions


@dataclass
class Decision:
    """What the schedule says about one record, and why."""

    rule_id: str
    trigger: str  # document_date, financial_year_end, calendar_year_end, event, date_of_birth
    trigger_date: date | None
    disposal_due: date | None
    action: str
    status: str  # scheduled, awaiting_event, permanent, no_document_date
    authority: str
    citation: str
    schedule_version: str
    record_class: str = ""
    event_type: str | None = None
    period: str = ""
    explanation: str = ""

    @property
    def trigger_label(self) -> str:
        return f"event:{self.event_type}" if self.trigger == "event" else self.trigger

    def columns(self) -> dict[str, Any]:
        """The ``documents`` columns this decision sets."""
        return {
            "retention_trigger": self.trigger_label,
            "trigger_date": _iso(self.trigger_date),
            "disposal_due": _iso(self.disposal_due),
            "disposal_action": self.action,
            "rule_id": self.rule_id,
            "schedule_version": self.schedule_version,
        }

    def details(self) -> dict[str, Any]:
        """JSON-ready, for the audit event."""
        data = asdict(self)
        data["trigger_date"] = _iso(self.trigger_date)
        data["disposal_due"] = _iso(self.disposal_due)
        return data


def decide(record_class: RecordClass, schedule: Schedule, document_date: date | None,
           event_dates: dict[str, date]) -> Decision:
    """Apply a class's rule to one record. Pure: no database, no clock."""
    rule = record_class.retention
    trigger_date: date | None = None
    status = SCHEDULED
    if rule.trigger in ("event", "date_of_birth"):
        key = rule.event_key or ""
        trigger_date = event_dates.get(key)
        if trigger_date is None:
            status = AWAITING_EVENT
            why = (f"kept until a {key} event is recorded for one of its references "
                   f"(`s4 retention event --type {key} --reference REF --date DATE`)")
        else:
            why = f"{key} recorded as {trigger_date.isoformat()}"
    elif document_date is None:
        status = NO_DOCUMENT_DATE
        why = (f"the rule counts from the document date ({rule.trigger}) and this record has "
               "none: a person must give it before a disposal date can be set")
    elif rule.trigger == "financial_year_end":
        trigger_date = financial_year_end(document_date, schedule.financial_year_end)
        why = (f"document dated {document_date.isoformat()}; its financial year ends "
               f"{trigger_date.isoformat()}")
    elif rule.trigger == "calendar_year_end":
        trigger_date = calendar_year_end(document_date)
        why = f"document dated {document_date.isoformat()}; year end {trigger_date.isoformat()}"
    else:
        trigger_date = document_date
        why = f"document dated {document_date.isoformat()}"
    due = None
    if rule.permanent:
        status = PERMANENT
        why += f"; kept permanently ({rule.action.replace('_', ' ')})"
    elif trigger_date is not None:
        due = add_period(trigger_date, rule.period_years, rule.period_months)
        why += f"; + {rule.period} → {rule.action} on {due.isoformat()}"
    return Decision(
        rule_id=rule.rule_id, trigger=rule.trigger, trigger_date=trigger_date,
        disposal_due=due, action=rule.action, status=status, authority=rule.authority,
        citation=rule.citation, schedule_version=schedule.version,
        record_class=record_class.id, event_type=rule.event_type, period=rule.period,
        explanation=why,
    )


def event_dates_for(database, refs: list[str]) -> dict[str, date]:
    """Trigger dates by event type for a record carrying ``refs``.

    For one reference and type, the most recently *recorded* event wins (it corrects or
    supersedes earlier ones, e.g. a case reopened and closed again). Across several
    references the latest date wins: the record is kept for the longest period that applies.
    """
    latest: dict[tuple[str, str], date] = {}
    for row in store_db.retention_events_for(database, refs):
        value = _as_date(row["event_date"])
        if value is not None:
            latest[(row["ref_key"], row["event_type"])] = value  # ordered by id: last wins
    dates: dict[str, date] = {}
    for (_, event_type), value in latest.items():
        if event_type not in dates or value > dates[event_type]:
            dates[event_type] = value
    return dates


def _refs(doc: dict[str, Any]) -> list[str]:
    try:
        refs = json.loads(doc.get("refs") or "[]")
    except ValueError:
        return []
    return [str(r) for r in refs] if isinstance(refs, list) else []


def _compute(database, doc: dict[str, Any], record_class: RecordClass,
             schedule: Schedule) -> Decision:
    return decide(record_class, schedule, _as_date(doc.get("document_date")),
                  event_dates_for(database, _refs(doc)))


def _class_or_fail(schedule: Schedule, class_id: str) -> RecordClass:
    record_class = schedule.get(class_id)
    if record_class is None:
        raise ValueError(f"no record class {class_id!r} in schedule {schedule.id} "
                         f"(known: {', '.join(schedule.class_ids)})")
    return record_class


def apply_decision(database, doc_id: str, record_class_id: str, schedule: Schedule,
                   actor: str) -> Decision:
    """Compute a record's retention from its class and store it, with a
    ``retention.decided`` event naming the rule, the schedule version and the dates."""
    doc = store_db.get_document(database, doc_id)
    if doc is None:
        raise KeyError(f"no document {doc_id}")
    decision = _compute(database, doc, _class_or_fail(schedule, record_class_id), schedule)
    store_db.update_document(database, doc_id, actor, "retention.decided",
                             decision.details(), **decision.columns(), **_stale_if_stored(doc))
    return decision


def _stale_if_stored(doc: dict[str, Any]) -> dict[str, Any]:
    """A stored record's fields in the store (sidecar, SharePoint columns) must follow. A
    filed record may be on its way up with the old values right now, so it is flagged too
    (a refresh after storing is harmless when nothing changed)."""
    return {"store_meta_stale": 1} if doc["state"] in (store_db.FILED, store_db.STORED) else {}


# --------------------------------------------------------------------------- events

SchedulePicker = Schedule | Callable[[dict[str, Any]], Schedule]


def _picker(schedules: SchedulePicker) -> Callable[[dict[str, Any]], Schedule]:
    if isinstance(schedules, Schedule):
        return lambda doc: schedules
    return schedules


@dataclass
class EventOutcome:
    event: dict[str, Any]
    decisions: dict[str, Decision] = field(default_factory=dict)  # doc id → new decision
    unaffected: dict[str, str] = field(default_factory=dict)  # doc id → why not

    @property
    def dated(self) -> list[str]:
        """Records that now have a trigger date from this event."""
        return [doc_id for doc_id, d in self.decisions.items() if d.trigger_date is not None]


def record_event(database, schedules: SchedulePicker, event_type: str, reference: str,
                 event_date: date, actor: str, note: str = "") -> EventOutcome:
    """Record an event against a reference; every retained record carrying that reference
    whose rule waits for this event type gets its trigger date and a new decision.
    All in one transaction. ``schedules``: a Schedule, or a function doc → its Schedule."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*", event_type):
        raise ValueError(f"{event_type!r} is not an event type (e.g. case_closed)")
    reference = normalise_reference(reference)
    if not reference:
        raise ValueError("the reference is empty")
    pick = _picker(schedules)
    with store_db.transaction(database):
        candidates = store_db.documents_with_reference(database, reference)
        row = store_db.insert_retention_event(
            database, event_type, reference, event_date.isoformat(), actor, note,
            {"documents": [d["id"] for d in candidates]})
        outcome = EventOutcome(event=row)
        for doc in candidates:
            if doc["state"] not in store_db.RETAINED_STATES or not doc["record_class"]:
                outcome.unaffected[doc["id"]] = (f"{doc['state']}, not filed: its retention "
                                                 "is decided when it is filed")
                continue
            schedule = pick(doc)
            record_class = schedule.get(doc["record_class"])
            if record_class is None:
                outcome.unaffected[doc["id"]] = (f"class {doc['record_class']} is not in "
                                                 f"schedule {schedule.id}")
                continue
            if record_class.retention.event_key != event_type:
                outcome.unaffected[doc["id"]] = (f"{record_class.id} counts from "
                                                 f"{record_class.retention.trigger_label}")
                continue
            outcome.decisions[doc["id"]] = apply_decision(
                database, doc["id"], record_class.id, schedule, actor)
    return outcome


# --------------------------------------------------------------------------- holds


def _hold_covers(hold: dict[str, Any], doc: dict[str, Any], ref_keys: set[str]) -> bool:
    kind, value = hold["scope_kind"], hold["scope_value"]
    if kind == "doc":  # a hold on a record also binds every re-scan that replaced it
        return doc["id"] == value or value in json.loads(doc.get("lineage") or "[]")
    if kind == "class":
        return doc.get("record_class") == value
    return store_db.reference_key(value) in ref_keys


def _covering(active: list[dict[str, Any]], doc: dict[str, Any]) -> list[dict[str, Any]]:
    ref_keys = {store_db.reference_key(r) for r in _refs(doc)}
    return [hold for hold in active if _hold_covers(hold, doc, ref_keys)]


def active_holds_for(database, doc: dict[str, Any] | str) -> list[dict[str, Any]]:
    """Holds in place on this record: by its id, its class, or any of its references."""
    if isinstance(doc, str):
        found = store_db.get_document(database, store_db.normalise_doc_id(doc))
        if found is None:
            raise KeyError(f"no document {doc}")
        doc = found
    return _covering(store_db.holds(database), doc)


def held_documents(database, hold: dict[str, Any]) -> list[str]:
    """Retained records a hold covers now (records filed later are covered too)."""
    return [doc["id"] for doc in store_db.retained_documents(database)
            if _hold_covers(hold, doc, {store_db.reference_key(r) for r in _refs(doc)})]


def place_hold(database, reason: str, scope_kind: str, scope_value: str,
               actor: str) -> dict[str, Any]:
    """Freeze disposal of the records in scope until the hold is lifted."""
    reason = reason.strip()
    if not reason:
        raise ValueError("a hold needs a reason (the mandate: litigation, inquiry, FOI …)")
    if scope_kind not in HOLD_SCOPES:
        raise ValueError(f"hold scope must be one of {', '.join(HOLD_SCOPES)}")
    if scope_kind == "doc":
        scope_value = store_db.normalise_doc_id(scope_value)
    elif scope_kind == "reference":
        scope_value = normalise_reference(scope_value)
    else:
        scope_value = scope_value.strip()
    if not scope_value:
        raise ValueError(f"the {scope_kind} to hold is empty")
    probe = {"scope_kind": scope_kind, "scope_value": scope_value}
    covered = held_documents(database, probe)
    hold = store_db.insert_hold(database, reason, scope_kind, scope_value, actor,
                                {"documents": covered})
    return hold | {"documents": covered}


def lift_hold(database, hold_id: str, reason: str, actor: str) -> dict[str, Any]:
    reason = reason.strip()
    if not reason:
        raise ValueError("lifting a hold needs a reason")
    hold_id = hold_id.strip().upper()
    existing = store_db.get_hold(database, hold_id)
    if existing is None:
        raise LookupError(f"no hold {hold_id}; `s4 hold list --all` lists them")
    if existing["lifted_at"]:
        raise ValueError(f"hold {hold_id} was already lifted on {existing['lifted_at']} by "
                         f"{existing['lifted_by']}")
    covered = held_documents(database, existing)
    return store_db.lift_hold(database, hold_id, reason, actor, {"documents": covered})


# --------------------------------------------------------------------------- the report


def due_report(database, before: date | None = None,
               action: str | None = None) -> list[dict[str, Any]]:
    """Records whose disposal is due on or before ``before`` (all dated ones if None).

    A record under a hold is listed with status ``blocked`` and the hold ids — never as due.
    Asked for transfers, it also lists permanent records bound for the archives (status
    ``permanent``: no date; they go when the service no longer needs them).
    """
    if action is not None and action not in REPORT_ACTIONS:
        raise ValueError(f"action must be one of {', '.join(REPORT_ACTIONS)}")
    active = store_db.holds(database)
    rows = []
    candidates = store_db.disposal_candidates(database, _iso(before), action)
    if action == "transfer":
        candidates += store_db.permanent_transfers(database)
    for doc in candidates:
        hold_ids = [hold["id"] for hold in _covering(active, doc)]
        status = "blocked" if hold_ids else "due" if doc["disposal_due"] else PERMANENT
        rows.append({
            "id": doc["id"], "record_class": doc["record_class"], "rule_id": doc["rule_id"],
            "disposal_action": doc["disposal_action"],
            "retention_trigger": doc["retention_trigger"], "trigger_date": doc["trigger_date"],
            "disposal_due": doc["disposal_due"],
            "status": status, "holds": hold_ids,
            "refs": _refs(doc), "schedule_version": doc["schedule_version"],
            "state": doc["state"], "box": doc["box"], "source_name": doc["source_name"],
        })
    return rows


# --------------------------------------------------------------------------- schedule changes

_COMPARED = ("retention_trigger", "trigger_date", "disposal_due", "disposal_action", "rule_id")


@dataclass
class Change:
    doc_id: str
    record_class: str
    before: dict[str, Any]
    after: Decision | None  # None: the class is no longer in the schedule (left unchanged)
    problem: str = ""


def reapply_schedule(database, schedule: Schedule, actor: str,
                     docs: list[dict[str, Any]] | None = None) -> list[Change]:
    """Recompute the retention of undisposed records (``docs``, default every retained one)
    under ``schedule``. Records whose decision moved are returned; a record whose version
    alone changed is re-recorded quietly; a class missing from the schedule is reported and
    its record left as it was."""
    changes: list[Change] = []
    targets = store_db.retained_documents(database) if docs is None else docs
    with store_db.transaction(database):
        for doc in targets:
            before = {name: doc[name] for name in (*_COMPARED, "schedule_version")}
            record_class = schedule.get(doc["record_class"])
            if record_class is None:
                changes.append(Change(doc["id"], doc["record_class"], before, None,
                                      f"class {doc['record_class']!r} is not in schedule "
                                      f"{schedule.id}; its decision was left unchanged"))
                continue
            decision = _compute(database, doc, record_class, schedule)
            after = decision.columns()
            if all(after[name] == before[name] for name in (*_COMPARED, "schedule_version")):
                continue
            store_db.update_document(database, doc["id"], actor, "retention.decided",
                                     decision.details() | {"reapplied": True,
                                                           "previous": before},
                                     **after, **_stale_if_stored(doc))
            if any(after[name] != before[name] for name in _COMPARED):
                changes.append(Change(doc["id"], doc["record_class"], before, decision))
    return changes
