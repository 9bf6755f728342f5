"""The audit trail: verify it, read its head, list its entries, anchor it with a TSA.

Open the context without migrating (``s4 audit`` does): migration re-creates missing
triggers, which would hide that someone dropped them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from s4 import anchor as audit_anchor
from s4 import audit as audit_log
from s4 import db as store_db
from s4 import disposal
from s4.context import HomeContext
from s4.errors import EnvironmentProblem, NotFound, Refused, UsageProblem

#: What every verification checks besides the chain: each disposal certificate.
CERTIFICATE_CHECKS: tuple[audit_log.CertificateCheck, ...] = (disposal.verify_certificates,)


def verify(ctx: HomeContext, kept_head: tuple | str | None = None,
           certificate_checks: Sequence[audit_log.CertificateCheck] = CERTIFICATE_CHECKS,
           ) -> audit_log.AuditReport:
    """Replay the whole log and run every check (``report.ok`` only when all hold)."""
    try:
        return audit_log.verify_log(ctx.db, ctx.home, kept_head,
                                    certificate_checks=certificate_checks)
    except ValueError as exc:  # a kept head that is not SEQ:HASH
        raise UsageProblem(str(exc)) from None


def is_waiting(problem: str) -> bool:
    """A certificate copy not in the store yet: waiting for `s4 store sync`, not tampering."""
    return problem.endswith(disposal.STORE_PENDING)


def only_waiting(report: audit_log.AuditReport) -> bool:
    """The log is intact and only certificate copies wait for the store."""
    problems = report.problems()
    return bool(problems) and all(is_waiting(p) for p in problems)


@dataclass(frozen=True)
class Head:
    seq: int
    hash: str
    at: str

    def line(self) -> str:
        """What `s4 audit head` prints and `verify --head` reads back."""
        return f"{self.seq}:{self.hash} {self.at}"


def head(ctx: HomeContext) -> Head:
    last = store_db.audit_last_event(ctx.db)
    if last is None:
        raise NotFound("the audit log is empty")
    return Head(last["seq"], last["hash"], last["at"])


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    at: str
    actor: str
    action: str
    subject: str
    details_json: str
    prev_hash: str
    hash: str

    @property
    def details(self) -> dict[str, Any]:
        return json.loads(self.details_json)

    def record(self) -> dict[str, Any]:
        """The entry as one JSON object (the documented JSONL fields, in their order)."""
        return {"seq": self.seq, "at": self.at, "actor": self.actor, "action": self.action,
                "subject": self.subject, "prev_hash": self.prev_hash, "hash": self.hash,
                "details": self.details}


def log(ctx: HomeContext, doc: str | None = None, box: str | None = None,
        since: str | None = None) -> Iterator[AuditEntry]:
    """The trail oldest first; filters combine. ``since`` is a date or date-time (UTC unless
    it carries an offset). Bad filters raise UsageProblem before anything is read."""
    try:
        doc_id = store_db.normalise_doc_id(doc) if doc is not None else None
        since_at = audit_log.log_time(since) if since is not None else None
    except ValueError as exc:
        raise UsageProblem(str(exc)) from None
    return _entries(ctx, doc_id, box, since_at)


def _entries(ctx: HomeContext, doc_id: str | None, box: str | None,
             since: str | None) -> Iterator[AuditEntry]:
    for event in store_db.audit_trail(ctx.db, doc=doc_id, box=box, since=since):
        yield AuditEntry(event["seq"], event["at"], event["actor"], event["action"],
                         event["subject"], event["details"], event["prev_hash"],
                         event["hash"])


class TsaUnavailable(EnvironmentProblem):
    """The time-stamping authority could not be reached (exit 3)."""


class AnchorRefused(Refused):
    """The TSA's reply did not prove the head; nothing was stored (exit 1)."""


def anchor(ctx: HomeContext) -> dict[str, Any]:
    """Have the configured TSA sign the current head and keep its token."""
    try:
        return audit_anchor.anchor_head(ctx.db, ctx.home, ctx.actor)
    except audit_anchor.TsaUnavailable as exc:
        raise TsaUnavailable(str(exc)) from None
    except audit_anchor.AnchorRefused as exc:
        raise AnchorRefused(str(exc)) from None
