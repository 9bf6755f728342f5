"""Paper originals: which boxes may go, pulls, QA verdicts, destruction and certificates.

The rules are s4.disposal's; these functions are what a person can do with them, from any
interface. The acting person is ``ctx.actor``.
"""

from __future__ import annotations

import fcntl
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from confusable_homoglyphs import confusables

from s4 import db as store_db
from s4 import disposal
from s4.context import HomeContext
from s4.errors import EnvironmentProblem, NotFound, UsageProblem
from s4.services.results import Outcome, Refusal


@contextmanager
def issuing(ctx: HomeContext) -> Iterator[None]:
    """One destruction or certificate repair at a time (a lock the OS drops if S4 dies), so
    a certificate still being written is never mistaken for one a crash left unfinished."""
    with (ctx.home.root / ".paper.lock").open("a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def finish_interrupted(ctx: HomeContext) -> list[str]:
    """A destruction sealed just before a crash still gets its certificate files; returns
    the certificate ids finished."""
    with issuing(ctx):
        return disposal.finish_unissued_certificates(ctx.db, ctx.home, ctx.actor)


# --------------------------------------------------------------------------- status


@dataclass
class PaperStatus:
    today: date
    boxes: list[disposal.BoxStatus]
    #: certificates whose files S4 finished issuing first (it had stopped after sealing)
    finished_certificates: list[str] = field(default_factory=list)

    @property
    def blocked(self) -> list[disposal.PaperCheck]:
        return [check for box in self.boxes for check in box.blocked]


def paper_counts(box: disposal.BoxStatus) -> dict[str, int]:
    """How many of the box's papers are in the box, pulled and destroyed."""
    papers = [c.doc["paper_status"] or disposal.IN_BOX for c in box.checks]
    return {status: papers.count(status)
            for status in (disposal.IN_BOX, disposal.PULLED, disposal.DESTROYED)}


def status(ctx: HomeContext, boxes: list[str] | None = None, today: date | None = None,
           finish: bool = True) -> PaperStatus:
    """Per box: each document's eligibility and blockers, and the earliest date it can go.

    With ``finish`` on a writable home, this first finishes issuing any interrupted
    certificate; a read-only home is shown as it is."""
    finished = finish_interrupted(ctx) if finish and not store_db.is_read_only(ctx.db) \
        else []
    today = today or date.today()
    return PaperStatus(today, disposal.box_status(ctx, boxes or None, today), finished)


def document_check(ctx: HomeContext, doc: dict[str, Any],
                   today: date | None = None) -> disposal.PaperCheck:
    """Whether one document's paper may go (what the desk shows on a document's page)."""
    return disposal.check_document(ctx, doc, today or date.today())


# --------------------------------------------------------------------------- pull and QA


def _document(ctx: HomeContext, doc_id: str) -> dict[str, Any]:
    doc = store_db.get_document(ctx.db, doc_id)
    if doc is None:
        raise NotFound(f"no document {doc_id}")
    return doc


def pull(ctx: HomeContext, doc_id: str, reason: str) -> Outcome:
    """Record that a document's paper was taken out of its box to be kept."""
    _document(ctx, doc_id)
    try:
        disposal.pull(ctx.db, doc_id, reason, ctx.actor)
    except ValueError as exc:  # rescanned, or already pulled or destroyed
        raise UsageProblem(str(exc)) from None
    return Outcome(changed=[doc_id])


def qa(ctx: HomeContext, doc_id: str, passed: bool, reason: str) -> Outcome:
    """Record a person's QA verdict on a whole document's digital copy (`s4 paper qa`: it
    passes all its flagged pages, or accepts a copy that is not PDF/A). Page by page, as the
    desk's QA screen does, is ``services.qa.verdict``."""
    _document(ctx, doc_id)
    disposal.set_qa(ctx.db, doc_id, passed, reason, ctx.actor)
    return Outcome(changed=[doc_id])


# --------------------------------------------------------------------------- destroy


class WitnessIsApprover(UsageProblem):
    """A destruction named its own approver as the witness: refused, nothing recorded."""


def person_key(name: str) -> str:
    """What is left of a name to tell two people apart by, so the witness rule cannot be
    passed by writing the approver's own name differently: full-width and other
    compatibility forms folded, case and accents dropped, a look-alike from another script
    (Cyrillic "е", the digit "0") read as the Latin letter it imitates, and everything but
    letters and digits removed (spaces, dots, hyphens, zero-width and invisible marks), so
    "Jane Smith", "jane.smith" and "jane.smith." are one person."""
    text = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", name).casefold())
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Mn")
    imitated: dict[str, str] = {}
    for found in confusables.is_confusable(text, greedy=True,
                                           preferred_aliases=["latin"]) or []:
        for glyph in found["homoglyphs"]:
            if len(glyph["c"]) == 1 and glyph["c"].isascii() and glyph["c"].isalnum():
                imitated[found["character"]] = glyph["c"].casefold()
                break
    return "".join(imitated.get(ch, ch) for ch in text if ch.isalnum())


def _same_person(witness: str, actor: str) -> bool:
    return person_key(witness) == person_key(actor)


@dataclass
class Destruction(Outcome):
    certificate: dict[str, Any] | None = None  # the sealed certificate, when recorded
    record: dict[str, Any] | None = None  # its row: file paths and seal
    blocked: list[disposal.PaperCheck] = field(default_factory=list)
    finished_certificates: list[str] = field(default_factory=list)


def destroy(ctx: HomeContext, boxes: list[str], method: str, witness: str,
            contractor: str | None = None, contractor_cert: str | None = None,
            today: date | None = None) -> Destruction:
    """Record the destruction of whole boxes and issue the certificate.

    Refused, with every blocking document in ``blocked`` and one refusal each, unless every
    document still in the boxes is eligible; then nothing is recorded. Boxes with nothing
    to destroy, or an empty council name, raise UsageProblem."""
    if not witness.strip():
        raise UsageProblem("name the witness: the person who saw the paper destroyed")
    if _same_person(witness, ctx.actor):
        raise WitnessIsApprover(
            f"the witness must be a different person from the one recording the "
            f"destruction ({ctx.actor}); name the person who watched it")
    result = Destruction(finished_certificates=finish_interrupted(ctx))
    try:
        with issuing(ctx):
            certificate = disposal.destroy(ctx, list(boxes), method, witness, contractor,
                                           contractor_cert, today)
    except disposal.Refused as refused:
        result.blocked = refused.blocked
        result.refused = [Refusal(check.doc["id"], "; ".join(check.blockers))
                          for check in refused.blocked]
        return result
    except (LookupError, ValueError) as exc:
        raise UsageProblem(str(exc)) from None
    result.certificate = certificate
    result.record = store_db.get_destruction(ctx.db, certificate["certificate"])
    result.changed = [row["s4_id"] for row in certificate["records"]]
    return result


@dataclass
class CertificateStoring:
    """Whether the certificate's own records reached the store straight away."""

    stored_locations: list[str] = field(default_factory=list)
    waiting_reason: str | None = None  # not yet stored: why (the home keeps it safe)
    line_busy: bool = False  # a running `s4 watch` holds the line and will store them

    @property
    def stored(self) -> bool:
        return bool(self.stored_locations) and self.waiting_reason is None and \
            not self.line_busy


def store_certificate_now(ctx: HomeContext, record: dict[str, Any]) -> CertificateStoring:
    """The certificate is a record too: put it in the store straight away when the line is
    free (otherwise the running line stores it)."""
    from s4.store import sync_all

    lock = ctx.lock()
    try:
        lock.__enter__()
    except EnvironmentProblem:  # the line is running: it stores them
        return CertificateStoring(line_busy=True)
    try:
        report = sync_all(ctx.home, ctx.actor, ctx.settings)
    finally:
        lock.__exit__(None, None, None)
    docs = [store_db.get_document(ctx.db, d) for d in (record["json_doc"], record["pdf_doc"])]
    if all(doc["state"] == store_db.STORED for doc in docs):
        return CertificateStoring(stored_locations=[doc["store_location"] for doc in docs])
    return CertificateStoring(waiting_reason=report.unavailable or "waiting")


# --------------------------------------------------------------------------- certificate


@dataclass
class CertificateView:
    record: dict[str, Any]
    problems: list[str]  # why it does not check out; an auditor must see these

    @property
    def id(self) -> str:
        return self.record["id"]

    def json_text(self) -> str:
        return _read(Path(self.record["json_path"])).decode("utf-8")

    def pdf_bytes(self) -> bytes:
        return _read(Path(self.record["pdf_path"]))


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise UsageProblem(f"{exc.filename}: {exc.strerror}") from None


def certificate(ctx: HomeContext, certificate_id: str) -> CertificateView:
    """A disposal certificate and every problem its checks find."""
    record = store_db.get_destruction(ctx.db, certificate_id)
    if record is None:
        raise NotFound(f"no certificate {certificate_id}")
    problems = [p for p in disposal.verify_certificates(ctx.db, ctx.home)
                if p.startswith(f"{certificate_id}:")]
    return CertificateView(record, problems)
