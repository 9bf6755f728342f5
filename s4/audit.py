"""Checking the audit trail: is the event log still exactly what S4 wrote?

``verify_log`` replays the hash chain over every row, also when someone edited the SQLite
file directly with the append-only triggers dropped, and names the first bad entry with a
reason a person can act on (edited, missing, inserted, moved/out of order). It also checks
that the triggers are still in place and runs the certificate checks its caller names.

A hash chain alone cannot show entries deleted from its end, nor stop a forger who
recomputes every hash after an edit. Three defences, each checked here:

* the head file S4 writes beside the database after every commit (``audit/head``, and the
  append-only ``audit/heads.log``): the log must still hold every head recorded there, so
  deleting the last entries is found without anyone having kept a head;
* RFC 3161 timestamp tokens over the head (``s4 audit anchor``, see ``anchor.py``): a forger
  who also rewrites the head files cannot make the TSA's signature cover the new hashes;
* a head an auditor kept outside S4: ``head`` gives ``SEQ:HASH`` for a ticket or email,
  and ``verify_extends`` later proves the log still contains that entry with that hash.

Verification streams the rows (constant memory) and only looks rows up by hash or
sequence number when it has found a problem and needs to explain it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from s4 import db as store_db
from s4.anchor import check_anchors
from s4.events import (
    GENESIS_HASH,
    HEAD_FILE,
    HEADS_LOG,
    KeptHead,
    audit_folder,
    entry_hash,
    read_head_file,
    read_heads_log,
)

# The triggers db.py creates; each must exist and still refuse its statement.
REQUIRED_TRIGGERS = {"events_no_update": "update", "events_no_delete": "delete"}

# How far around a bad entry to look for the row whose content it now holds.
_NEIGHBOURHOOD = 100

#: ``check(database, home) -> list of problems``; s4.disposal.verify_certificates is one.
CertificateCheck = Callable[[Any, Any], list[str]]


@dataclass(frozen=True)
class Finding:
    """The first entry that does not fit the chain."""

    seq: int
    kind: str  # edited | missing | inserted | duplicated | out_of_order | moved | prev_hash
    explanation: str
    entry: dict[str, Any] | None = None  # the row stored at ``seq``, if there is one

    def describe(self) -> str:
        return f"entry {self.seq}: {self.explanation}"


@dataclass
class AuditReport:
    entries: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS_HASH
    head_at: str | None = None
    finding: Finding | None = None
    structure_problems: list[str] = field(default_factory=list)  # triggers, table shape
    head_problem: str | None = None  # only when a kept head was given
    kept_head: tuple[int, str] | None = None
    certificate_checks: int = 0
    certificate_problems: list[str] = field(default_factory=list)
    head_file: KeptHead | None = None  # what audit/head says
    head_file_problems: list[str] = field(default_factory=list)
    head_file_warnings: list[str] = field(default_factory=list)  # reported, exit status 0
    head_file_notes: list[str] = field(default_factory=list)  # only shown with --verbose
    anchors_checked: int = 0
    anchor_problems: list[str] = field(default_factory=list)
    newest_anchor: tuple[int, str] | None = None

    @property
    def ok(self) -> bool:
        return not self.problems()

    def problems(self) -> list[str]:
        found = [self.finding.describe()] if self.finding else []
        found += self.structure_problems
        if self.head_problem:
            found.append(self.head_problem)
        found += self.head_file_problems + self.anchor_problems
        return found + self.certificate_problems


# --------------------------------------------------------------------------- the chain


def _hash_of(row: dict[str, Any], seq: int | None = None, prev: str | None = None) -> str:
    return entry_hash(
        row["prev_hash"] if prev is None else prev, row["seq"] if seq is None else seq,
        row["at"], row["actor"], row["action"], row["subject"], row["details"],
    )


def _self_consistent(row: dict[str, Any]) -> bool:
    return _hash_of(row) == row["hash"]


class _Peekable:
    def __init__(self, rows: Iterator[dict[str, Any]]):
        self._rows = rows
        self._next: list[dict[str, Any]] = []

    def __iter__(self) -> _Peekable:
        return self

    def __next__(self) -> dict[str, Any]:
        return self._next.pop() if self._next else next(self._rows)

    def peek(self) -> dict[str, Any] | None:
        if not self._next:
            try:
                self._next.append(next(self._rows))
            except StopIteration:
                return None
        return self._next[0]


def _walk(database, rows: Iterator[dict[str, Any]], stop_after: int | None = None
          ) -> tuple[int, dict[str, Any] | None, Finding | None]:
    """Replay the chain over rows in sequence order.

    Returns (entries that verified, the last verified row, the first finding or None).
    With ``stop_after``, stops once that sequence number has verified.
    """
    expected_prev, expected_seq = GENESIS_HASH, 1
    last: dict[str, Any] | None = None
    count = 0
    stream = _Peekable(rows)
    for row in stream:
        seq = row["seq"]
        if seq > expected_seq:
            return count, last, _missing(database, expected_seq, row)
        if seq < expected_seq:
            return count, last, Finding(
                seq, "duplicated", f"appears again after entry {expected_seq - 1} "
                "(a duplicated entry: the table was rebuilt)", row)
        if row["prev_hash"] != expected_prev:
            return count, last, _broken_link(database, row, last)
        if not _self_consistent(row):
            return count, last, _bad_content(database, row, stream.peek(), expected_prev)
        expected_prev, expected_seq, last = row["hash"], seq + 1, row
        count += 1
        if stop_after is not None and seq >= stop_after:
            break
    return count, last, None


def _missing(database, seq: int, found: dict[str, Any]) -> Finding:
    gap = found["seq"] - seq
    moved = store_db.audit_event_by_hash(database, found["prev_hash"])
    if moved is not None:
        return Finding(seq, "moved", f"is not where it belongs: entry {found['seq'] - 1}'s "
                       f"content is now stored as entry {moved['seq']} (entry {found['seq']} "
                       "points back to it)", None)
    what = f"entries {seq}–{found['seq'] - 1} are" if gap > 1 else "is"
    return Finding(seq, "missing", f"{what} missing (deleted): the log jumps from entry "
                   f"{seq - 1} to entry {found['seq']}", None)


def _broken_link(database, row: dict[str, Any], last: dict[str, Any] | None) -> Finding:
    seq = row["seq"]
    target = store_db.audit_event_by_hash(database, row["prev_hash"])
    if target is None:
        if last is None:
            return Finding(seq, "prev_hash", "does not start from the genesis hash "
                           "(the start of the log was replaced)", row)
        if _self_consistent(row):
            previous = store_db.audit_event_by_seq(database, seq - 1) or last
            return Finding(seq - 1, "edited", "was edited or replaced and its hash "
                           f"recomputed: entry {seq} still points to the original entry "
                           f"{seq - 1}'s hash", previous)
        return Finding(seq, "prev_hash", "its prev_hash was altered: it matches no entry "
                       "in the log", row)
    if target["seq"] > seq:
        return Finding(seq, "out_of_order", f"is out of order: it was written after entry "
                       f"{target['seq']}, which now comes after it (rows swapped or "
                       "renumbered)", row)
    if target["seq"] < seq - 1:
        inserted = target["seq"] + 1
        span = f"entries {inserted}–{seq - 1} were" if seq - 1 > inserted else "it was"
        return Finding(inserted, "inserted", f"was inserted (or duplicated): entry {seq} "
                       f"points back to entry {target['seq']}, so {span} not written "
                       "there by S4", store_db.audit_event_by_seq(database, inserted))
    return Finding(seq, "prev_hash", "prev_hash does not match the previous entry's hash",
                   row)


def _bad_content(database, row: dict[str, Any], following: dict[str, Any] | None,
                 expected_prev: str) -> Finding:
    seq = row["seq"]
    if following is not None and following["prev_hash"] == expected_prev:
        return Finding(seq, "inserted", f"was inserted (or duplicated): entry "
                       f"{following['seq']} points back past it to entry {seq - 1}", row)
    for other in store_db.audit_events_between(database, seq - _NEIGHBOURHOOD,
                                               seq + _NEIGHBOURHOOD):
        if other["seq"] != seq and _hash_of(row, other["seq"], other["prev_hash"]) \
                == other["hash"]:
            return Finding(seq, "moved", f"holds the content of entry {other['seq']} "
                           "(entries swapped or moved)", row)
    return Finding(seq, "edited", "content does not match its hash: the entry was edited "
                   "(at, actor, action, subject or details changed) or written outside S4",
                   row)


def _order_problem(database) -> Finding | None:
    """Rows read in storage (rowid) order must come in sequence order too."""
    by_rowid = store_db.audit_events_ordered(database, "rowid")
    by_seq = store_db.audit_events_ordered(database, "seq")
    for stored, expected in zip(by_rowid, by_seq, strict=False):
        if stored["seq"] != expected["seq"]:
            return Finding(expected["seq"], "out_of_order",
                           f"is stored out of order: entry {stored['seq']} is stored in its "
                           "place (the table was rebuilt with its rows reordered)", expected)
    return None


def _structure_problems(database) -> list[str]:
    problems = []
    triggers = store_db.audit_event_triggers(database)
    for name, statement in REQUIRED_TRIGGERS.items():
        sql = triggers.get(name)
        if sql is None:
            problems.append(f"trigger {name} was dropped: the database no longer refuses "
                            f"{statement.upper()} on the audit log")
            continue
        text = re.sub(r"\s+", " ", sql.lower())
        if f"before {statement} on events" not in text or "raise(abort" not in text \
                or " when " in text:
            problems.append(f"trigger {name} was altered: it no longer refuses every "
                            f"{statement.upper()} on the audit log")
    if not store_db.audit_seq_is_rowid(database):
        problems.append("the events table was rebuilt: seq is no longer its integer primary "
                        "key")
    return problems


def log_time(text: str) -> str:
    """A date or date-time (ISO; UTC unless it carries an offset) -> the log's time form.

    Used by ``s4 audit log --since`` and the desk's audit filters; a ValueError says what
    form to use.
    """
    value = text.strip()
    try:
        if len(value) == 10:
            moment = datetime.combine(date.fromisoformat(value), datetime.min.time(), UTC)
        else:
            moment = datetime.fromisoformat(value.replace(" ", "T", 1))
            moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None \
                else moment.astimezone(UTC)
    except ValueError:
        raise ValueError(f"{text!r} is not a date: use 2026-05-01 or 2026-05-01T14:30 "
                         "(UTC unless an offset is given)") from None
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def head(database) -> tuple[int, str]:
    """(sequence number, hash) of the last entry; (0, GENESIS_HASH) for an empty log."""
    last = store_db.audit_last_event(database)
    return (last["seq"], last["hash"]) if last else (0, GENESIS_HASH)


def parse_head(text: str) -> tuple[int, str, str | None]:
    """``SEQ:HASH``, optionally followed by the timestamp ``s4 audit head`` prints."""
    match = re.fullmatch(r"\s*(\d+):([0-9a-fA-F]{64})(?:\s+(\S+))?\s*", text)
    if not match:
        raise ValueError(f"{text!r} is not a head: expected SEQ:HASH as printed by "
                         "`s4 audit head`, e.g. 42:9f86d081…(64 hex digits)")
    return int(match[1]), match[2].lower(), match[3]


def verify_extends(database, seq: int, digest: str, at: str | None = None) -> str | None:
    """None when the log still holds entry ``seq`` with hash ``digest`` and verifies from
    the first entry up to it; otherwise what is wrong."""
    with store_db.audit_snapshot(database):
        problem = _kept_entry_problem(database, seq, digest, at)
        if problem is not None or seq == 0:
            return problem
        _, _, finding = _walk(database, store_db.audit_events_ordered(database, "seq"),
                              stop_after=seq)
    return _chain_before_head_problem(seq, finding)


def _kept_entry_problem(database, seq: int, digest: str, at: str | None) -> str | None:
    digest = digest.lower()
    if seq == 0:
        return None if digest == GENESIS_HASH else "head 0 must carry the genesis hash"
    entry = store_db.audit_event_by_seq(database, seq)
    if entry is None:
        last_seq, _ = head(database)
        return (f"the log no longer reaches the kept head {seq}: it ends at entry "
                f"{last_seq} (entries were removed from the end)")
    if entry["hash"] != digest:
        moved = store_db.audit_event_by_hash(database, digest)
        where = (f" (the kept entry is now stored as entry {moved['seq']}: entries were "
                 "inserted or removed before it)") if moved is not None else ""
        return (f"entry {seq} now has hash {entry['hash'][:16]}…, not the kept "
                f"{digest[:16]}…: history up to entry {seq} was rewritten{where}")
    if at is not None and entry["at"] != at:
        return f"entry {seq} now has time {entry['at']}, not the kept {at}"
    return None


def _chain_before_head_problem(seq: int, finding: Finding | None) -> str | None:
    if finding is not None and finding.seq <= seq:
        return f"the chain up to the kept head {seq} is broken at {finding.describe()}"
    return None


def _home_of(database):
    from s4.config import Home

    path = store_db.audit_database_path(database)
    return Home(Path(path).parent) if path else None


# --------------------------------------------------------------------------- head file


@dataclass
class _HeadFileState:
    folder: Path | None
    head: KeptHead | None = None
    garbled: str | None = None


def _read_head_state(database) -> _HeadFileState:
    """Read audit/head *before* the database snapshot: it is written only after a commit,
    so everything it names is already in any snapshot taken later."""
    path = store_db.audit_database_path(database)
    if path is None:
        return _HeadFileState(None)
    state = _HeadFileState(audit_folder(path))
    try:
        state.head = read_head_file(state.folder)
    except ValueError as exc:
        state.garbled = str(exc)
    except OSError as exc:
        state.garbled = f"{state.folder / HEAD_FILE} cannot be read: {exc.strerror}"
    return state


def _missing_span(last_seq: int, head: KeptHead, source: str) -> str:
    first = last_seq + 1
    span = f"entries {first}–{head.seq} were" if head.seq > first else f"entry {first} was"
    when = f" at {head.at}" if head.at else ""
    return (f"the log ends at entry {last_seq} but S4 recorded head {head.seq}:"
            f"{head.hash[:16]}…{when} in {source}: {span} deleted from the end of the log")


def _changed_entry(entry: dict[str, Any], head: KeptHead, source: str) -> str:
    return (f"entry {head.seq} is not the entry S4 recorded in {source} (recorded hash "
            f"{head.hash[:16]}…, the log now has {entry['hash'][:16]}…): the log was "
            f"replaced or rewritten at or before entry {head.seq}")


def _head_file_checks(database, state: _HeadFileState, report: AuditReport) -> None:
    """Call inside the snapshot. Compares audit/head and audit/heads.log with the log."""
    if state.folder is None:
        return
    head_name = f"audit/{HEAD_FILE}"
    last_seq = report.head_seq
    if state.garbled:
        report.head_file_problems.append(state.garbled)
    elif state.head is not None:
        report.head_file = state.head
        entry = store_db.audit_event_by_seq(database, state.head.seq)
        if entry is None and state.head.seq > last_seq:
            report.head_file_problems.append(_missing_span(last_seq, state.head, head_name))
        elif entry is None:
            report.head_file_problems.append(
                f"entry {state.head.seq}, recorded as head in {head_name}, is missing")
        elif entry["hash"] != state.head.hash:
            report.head_file_problems.append(_changed_entry(entry, state.head, head_name))
        elif last_seq > state.head.seq:
            report.head_file_notes.append(
                f"the log is {last_seq - state.head.seq} entr(y/ies) past {head_name} "
                f"({state.head.seq}): a commit whose head was not written (a crash, a full "
                "disk); the next commit brings the head file up to date")
        else:
            report.head_file_notes.append(f"{head_name} matches the last entry")
    limit = state.head.seq if state.head is not None else None
    history_name = f"audit/{HEADS_LOG}"
    history_lines = 0
    for number, head, line in read_heads_log(state.folder):
        history_lines += 1
        if head is None:
            report.head_file_problems.append(
                f"{history_name}:{number}: {line[:80]!r} is not SEQ:HASH: the file was edited")
            break
        if limit is not None and head.seq > limit:
            continue  # written after audit/head was read: not in this snapshot
        entry = store_db.audit_event_by_seq(database, head.seq)
        if entry is None and head.seq > last_seq and report.head_file_problems:
            continue  # the same deletion from the end that audit/head already shows
        source = f"{history_name}:{number}"
        if entry is None and head.seq > last_seq:
            problem = _missing_span(last_seq, head, source)
        elif entry is None:
            problem = f"entry {head.seq}, recorded as head in {source}, is missing"
        elif entry["hash"] != head.hash:
            problem = _changed_entry(entry, head, source)
        else:
            continue
        if state.head is None or head.seq != state.head.seq or not report.head_file_problems:
            report.head_file_problems.append(problem)  # not the head file's finding again
        break
    if state.head is None and not state.garbled and report.entries:
        anchored = store_db.audit_anchors(database) or \
            store_db.audit_anchored_event_count(database)
        if history_lines or anchored:
            evidence = history_name if history_lines else "the anchors"
            report.head_file_problems.append(
                f"{head_name} is missing, though S4 kept one ({evidence} show(s) it): it was "
                "deleted, so entries deleted from the end of the log would not be found "
                "from it; check the anchors and any head kept outside S4 (--head)")
        else:
            report.head_file_warnings.append(
                f"no {head_name} yet: this log was written before S4 kept its head outside "
                "the database (or the file was deleted). S4 writes it with the next change; "
                "until then entries deleted from the end of the log are found only with "
                "--head or an anchor")


def verify_log(database, home=None, kept_head: tuple | str | None = None, *,
               certificate_checks: Sequence[CertificateCheck]) -> AuditReport:
    """Replay the whole log and run every check; ``report.ok`` only when all hold.

    ``certificate_checks`` must be named by the caller (``s4.services.audit.verify`` passes
    disposal's): an empty list is a choice the report shows, never an accident of which
    modules happened to be imported. A check that raises is reported as a problem.

    ``home`` defaults to the S4 home that holds the database (certificate checks need it).
    ``kept_head`` is ``(seq, hash)``, ``(seq, hash, at)`` or the line ``s4 audit head``
    printed (a ValueError names the expected form when the text is not one).
    """
    report = AuditReport()
    at = None
    if kept_head is not None:
        seq, digest, *rest = parse_head(kept_head) if isinstance(kept_head, str) else kept_head
        at = rest[0] if rest else None
        report.kept_head = (int(seq), str(digest).lower())
    head_state = _read_head_state(database)
    home = home if home is not None else _home_of(database)
    with store_db.audit_snapshot(database):
        _, _, finding = _walk(database, store_db.audit_events_ordered(database, "seq"))
        report.finding = finding or _order_problem(database)
        report.entries = store_db.audit_event_count(database)
        last_row = store_db.audit_last_event(database)
        if last_row is not None:
            report.head_seq, report.head_hash = last_row["seq"], last_row["hash"]
            report.head_at = last_row["at"]
        report.structure_problems = _structure_problems(database)
        if report.kept_head is not None:  # the full walk above already covers the chain
            seq, digest = report.kept_head
            report.head_problem = _kept_entry_problem(database, seq, digest, at) \
                or _chain_before_head_problem(seq, report.finding)
        _head_file_checks(database, head_state, report)
        anchors = check_anchors(database, home)
        report.anchors_checked = anchors.checked
        report.anchor_problems = anchors.problems or []
        report.newest_anchor = anchors.newest
    for check in dict.fromkeys(certificate_checks):  # each once, in order
        report.certificate_checks += 1
        try:
            report.certificate_problems += [str(p) for p in check(database, home)]
        except Exception as exc:  # a broken check must fail verification, not vanish
            name = getattr(check, "__qualname__", repr(check))
            report.certificate_problems.append(
                f"certificate check {name} could not run: {type(exc).__name__}: {exc}")
    return report
