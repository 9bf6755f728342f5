"""Scrap it: when a box of paper may be destroyed, recording it, and the certificate.

A paper original is eligible only when every condition of DESIGN.md step 6 holds: the
digital copy is stored and verified by hash; OCR/QA passed; the paper quarantine period has
run since verification; no hold applies; and its record class allows the paper to go.
Destruction is by the box, refused outright (with every blocking document listed) unless
every document still in the boxes is eligible.

The certificate is sealed into the audit log: the sealing entry carries the SHA-256 of the
certificate's body, and the certificate carries the sequence and hash of that entry. So
neither can be altered without ``s4 audit verify`` noticing.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from s4 import __version__, qa, retention
from s4 import db as store_db
from s4.certificate_pdf import JUNK_CLASS_LABEL, render_certificate
from s4.config import Home
from s4.events import canonical_json

if TYPE_CHECKING:
    from s4.context import HomeContext

IN_BOX, PULLED, DESTROYED = "in_box", "pulled", "destroyed"
STORE_PENDING = "is not in the store yet (run `s4 store sync`)"  # waiting, not tampering
CERTIFICATE_CLASS = "disposal-certificate"


@dataclass
class PaperCheck:
    doc: dict[str, Any]
    blockers: list[str] = field(default_factory=list)
    eligible_from: date | None = None  # when only the quarantine period is in the way

    @property
    def eligible(self) -> bool:
        return not self.blockers


@dataclass
class BoxStatus:
    box: str
    checks: list[PaperCheck]

    @property
    def in_box(self) -> list[PaperCheck]:
        return [c for c in self.checks if (c.doc["paper_status"] or IN_BOX) == IN_BOX]

    @property
    def eligible(self) -> list[PaperCheck]:
        return [c for c in self.in_box if c.eligible]

    @property
    def blocked(self) -> list[PaperCheck]:
        return [c for c in self.in_box if not c.eligible]

    @property
    def earliest(self) -> date | None:
        """The first day the whole box can go, if only waiting time stands in the way."""
        dates = []
        for check in self.blocked:
            if check.eligible_from is None or len(check.blockers) > 1:
                return None
            dates.append(check.eligible_from)
        return max(dates) if dates else (date.today() if self.in_box else None)


class Refused(Exception):
    def __init__(self, blocked: list[PaperCheck]):
        super().__init__(f"{len(blocked)} document(s) block destruction")
        self.blocked = blocked


def current_record(database, doc: dict[str, Any]) -> dict[str, Any]:
    """The record that holds this document's content now: past duplicates and re-scans."""
    if doc["duplicate_of"]:
        doc = store_db.get_document(database, doc["duplicate_of"])
    while doc["state"] == store_db.SUPERSEDED:
        doc = store_db.get_document(database, doc["superseded_by"])
    return doc


_UNSET: Any = object()


def check_document(ctx: HomeContext, doc: dict[str, Any], today: date,
                   box_qa: qa.BoxQa | None = _UNSET) -> PaperCheck:
    """Whether this document's paper may go today, and every reason it may not.

    Pipelines and schedules come from the context's one cache, so the answer is the one
    the rest of S4 gives for "which schedule governs this document". ``box_qa`` is the QA
    state of the document's box when the caller has it already (``box_status`` builds it
    once per box, not once per document)."""
    database = ctx.db
    check = PaperCheck(doc)
    blockers = check.blockers
    state = doc["state"]
    if state == store_db.DUPLICATE:
        original = current_record(database, doc)
        inner = check_document(ctx, original, today)
        blockers.extend(f"duplicate of {original['id']}: {b}" for b in inner.blockers)
        for hold in retention.active_holds_for(database, doc):  # a hold on this copy itself
            if f"hold {hold['id']}: {hold['reason']}" not in inner.blockers:
                blockers.append(f"hold {hold['id']}: {hold['reason']}")
        check.eligible_from = inner.eligible_from
        return check
    if state == store_db.QUARANTINED:
        blockers.append("quarantined: fix and retry it, or pull the paper")
        return check
    if state in (store_db.RECEIVED, store_db.OCR, store_db.PROCESSED):
        blockers.append("still being processed")
        return check
    if state == store_db.NEEDS_REVIEW:
        blockers.append("awaiting classification review")
        return check
    if state == store_db.NOT_A_RECORD:  # junk a person looked at: only a hold keeps it
        blockers.extend(f"hold {h['id']}: {h['reason']}"
                        for h in retention.active_holds_for(database, doc))
        return check
    if state != store_db.STORED or not doc["verified_at"]:
        blockers.append("not verified: the digital copy is not yet stored and checked by hash")
    if box_qa is _UNSET or (box_qa is not None and box_qa.box != doc["box"]):
        box_qa = qa.box_qa(database, doc["box"]) if doc["box"] else None
    if doc["qa_status"] == "failed":
        blockers.append("QA failed: rescan the document")
    elif doc["qa_status"] != "passed":
        waiting = qa.flagged_unpassed(box_qa, doc) if box_qa else None
        if waiting is None and doc["flagged_pages"]:  # no page rows: the record's own list
            blockers.append(f"QA: low-confidence pages {doc['flagged_pages']} not yet checked "
                            "(`s4 paper qa DOC --pass`)")
        elif waiting:
            blockers.append(f"QA: flagged pages {','.join(map(str, waiting))} not yet checked "
                            "(`s4 qa list`; `s4 qa pass DOC PAGE`, or `s4 paper qa DOC "
                            "--pass`)")
        if doc["pdfa"] == 0:
            blockers.append("QA: the stored copy is not PDF/A (`s4 paper qa DOC --pass` to "
                            "accept it)")
    if box_qa is not None:
        blockers.extend(qa.document_blockers(box_qa, doc))
    record_class = ctx.record_class(doc)
    if record_class is None:
        blockers.append("no record class")
    elif not record_class.paper.destroy_allowed:
        blockers.append(f"class {record_class.id} keeps the paper original")
    elif doc["schedule_version"] != (version := ctx.schedule_for(doc).version):
        # The certificate cites the version whose rule and paper policy allowed destruction.
        blockers.append(f"schedule changed since its retention was decided "
                        f"({(doc['schedule_version'] or 'none')[:12]} → {version[:12]}): "
                        "run `s4 retention apply`")
    for hold in retention.active_holds_for(database, doc):
        blockers.append(f"hold {hold['id']}: {hold['reason']}")
    if doc["verified_at"] and record_class is not None:
        days = max(ctx.pipeline(doc["pipeline"]).paper.quarantine_days,
                   record_class.paper.min_days_after_verification)
        # The copy must be both verified and accepted by QA before the clock starts: a page
        # a person passes by hand on day 40 gets its full quarantine from then.
        started = max(_day(stamp) for stamp in (doc["verified_at"], doc["qa_at"]) if stamp)
        ready = started + timedelta(days=days)
        if today < ready:
            blockers.append(f"paper quarantine until {ready.isoformat()}")
            check.eligible_from = ready
    return check


def _day(stamp: str) -> date:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).date()


def box_status(ctx: HomeContext, boxes: list[str] | None = None,
               today: date | None = None) -> list[BoxStatus]:
    database = ctx.db
    today = today or date.today()
    chosen = boxes or store_db.known_boxes(database)
    statuses = []
    for box in chosen:
        # A superseded record's paper is represented by its re-scan, which is in the box too.
        docs = [d for d in store_db.documents_in_boxes(database, [box])
                if d["state"] != store_db.SUPERSEDED]
        box_qa = qa.box_qa(database, box)  # once per box: it reads every page of the box
        statuses.append(BoxStatus(box, [check_document(ctx, d, today, box_qa)
                                        for d in docs]))
    return statuses


def pull(database, doc_id: str, reason: str, who: str) -> None:
    doc = store_db.get_document(database, doc_id)
    if doc is None:
        raise LookupError(f"no document {doc_id}")
    if doc["state"] == store_db.SUPERSEDED:
        raise ValueError(f"{doc_id} was rescanned: its paper is now {doc['superseded_by']}")
    if (doc["paper_status"] or IN_BOX) != IN_BOX:
        raise ValueError(f"{doc_id}: paper is already {doc['paper_status']}")
    store_db.update_document(database, doc_id, who, "paper.pulled",
                             {"reason": reason, "box": doc["box"]}, paper_status=PULLED)


def set_qa(database, doc_id: str, passed: bool, reason: str, who: str) -> None:
    doc = store_db.get_document(database, doc_id)
    if doc is None:
        raise LookupError(f"no document {doc_id}")
    store_db.update_document(database, doc_id, who, "paper.qa_" + ("passed" if passed
                                                                    else "failed"),
                             {"reason": reason}, qa_status="passed" if passed else "failed",
                             qa_at=store_db.now())


# --------------------------------------------------------------------------- destruction


def body_sha256(body: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()


def destroy(ctx: HomeContext, boxes: list[str], method: str, witness: str,
            contractor: str | None, contractor_cert: str | None,
            today: date | None = None) -> dict[str, Any]:
    """Record the destruction of whole boxes and issue the sealed certificate; the
    operator is ``ctx.actor``.

    Eligibility is checked inside the same write transaction that records the destruction,
    so a hold placed (or a record changed) by another process meanwhile cannot slip through.
    """
    with store_db.transaction(ctx.db):
        certificate = _record_destruction(ctx, boxes, method, witness, contractor,
                                          contractor_cert, today)
    _write_certificate_files(ctx.db, ctx.home, certificate, ctx.actor)
    return certificate


def _record_destruction(ctx: HomeContext, boxes: list[str], method: str, witness: str,
                        contractor: str | None, contractor_cert: str | None,
                        today: date | None) -> dict[str, Any]:
    database, home, operator = ctx.db, ctx.home, ctx.actor
    statuses = box_status(ctx, boxes, today)
    missing = [s.box for s in statuses if not s.checks]
    if missing:
        raise LookupError(f"no documents in box(es) {', '.join(missing)}")
    blocked = [c for s in statuses for c in s.blocked]
    if blocked:
        raise Refused(blocked)
    chosen = [c.doc for s in statuses for c in s.eligible]
    if not chosen:
        raise ValueError("nothing left in these boxes to destroy (all pulled or destroyed)")
    council = ctx.settings.s4.council.strip()
    if not council:
        raise ValueError(f"{home.settings_file}: s4.council is empty: set your council's name "
                         "there first; it is printed on every disposal certificate")
    now = datetime.now(UTC)
    certificate_id = store_db.next_certificate_id(database, now.year)
    rows = []
    for doc in chosen:
        source = current_record(database, doc)
        rows.append({
            "s4_id": doc["id"], "box": doc["box"], "position": doc["position"],
            "source_name": doc["source_name"], "duplicate_of": doc["duplicate_of"],
            "replaces": json.loads(doc["lineage"] or "[]"),
            "record_class": source["record_class"] or (
                JUNK_CLASS_LABEL if source["state"] == store_db.NOT_A_RECORD else None),
            "rule_id": source["rule_id"],
            "schedule_version": source["schedule_version"],
            "stored_location": source["store_location"],
            "stored_sha256": source["stored_sha256"], "scan_sha256": doc["sha256"],
            "pages": source["pages"], "verified_at": source["verified_at"],
            # chain of custody: the scanner's file, the scan pages of this record, and the
            # scan pages left out of it (separator sheets, blank backs) with why
            "source_file": source["source_file"] or source["source_name"],
            "source_sha256": source["source_sha256"] or source["sha256"],
            "scan_pages": source["scan_pages"],
            "dropped_pages": json.loads(source["dropped_pages"] or "[]"),
        })
    body = {
        "certificate": certificate_id, "kind": "certificate of destruction of paper originals",
        "council": council, "s4_version": __version__, "boxes": boxes,
        "destroyed_at": now.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "operator": operator, "witness": witness, "method": method,
        "contractor": contractor, "contractor_certificate": contractor_cert,
        "records": rows,
        # the QA behind each box's release: sampling rule and seed, pages, who checked them
        "qa": qa.certificate_section(database, boxes),
        "totals": {"records": len(rows), "pages": sum(r["pages"] or 0 for r in rows),
                   "boxes": len(boxes)},
    }
    digest = body_sha256(body)
    with store_db.transaction(database):
        for doc in chosen:
            store_db.update_document(database, doc["id"], operator, "paper.destroyed",
                                     {"certificate": certificate_id, "box": doc["box"],
                                      "method": method, "witness": witness},
                                     paper_status=DESTROYED, certificate_id=certificate_id)
        seal = store_db.append_event(
            database, operator, "certificate.sealed", f"certificate:{certificate_id}",
            {"body_sha256": digest, "boxes": boxes, "records": len(rows),
             "witness": witness, "method": method},
        )
        store_db.insert_destruction(database, {
            "id": certificate_id, "boxes": json.dumps(boxes), "destroyed_at": body[
                "destroyed_at"], "operator": operator, "witness": witness, "method": method,
            "contractor": contractor, "contractor_cert": contractor_cert,
            "documents": len(rows), "pages": body["totals"]["pages"], "body_sha256": digest,
            "seal_seq": seal["seq"], "seal_hash": seal["hash"],
        })
        certificate = body | {"seal": {"audit_seq": seal["seq"], "audit_hash": seal["hash"],
                                       "body_sha256": digest}}
        store_db.update_destruction(database, certificate_id,
                                    certificate_json=json.dumps(certificate, ensure_ascii=False))
    return certificate


def finish_unissued_certificates(database, home: Home, actor: str) -> list[str]:
    """Write and file the certificates of destructions sealed just before a crash.

    The destruction is already on record (sealed in the log); only the files and their
    ``certificate.issued`` entry are missing. Safe to run any time; returns the ids."""
    finished = []
    for record in store_db.unissued_destructions(database):
        certificate = json.loads(record["certificate_json"])
        if body_sha256({k: v for k, v in certificate.items() if k != "seal"}) != \
                record["body_sha256"]:
            continue  # not what was sealed: leave it for `s4 audit verify` to report
        _write_certificate_files(database, home, certificate, actor)
        finished.append(record["id"])
    return finished


def certificate_folder(home: Home) -> Path:
    folder = home.root / "certificates"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _atomic_write(path: Path, data: bytes) -> None:
    temporary = path.with_name(path.name + ".partial")
    with temporary.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    temporary.replace(path)


def _write_certificate_files(database, home: Home, certificate: dict[str, Any],
                             operator: str) -> None:
    """Write the JSON and PDF, then file each as a record of class disposal-certificate.

    As records they go through the store like any other (stored, then verified by hash) and
    show in exports; the issue entry in the audit log carries both files' SHA-256.
    """
    certificate_id = certificate["certificate"]
    folder = certificate_folder(home)
    json_bytes = (json.dumps(certificate, indent=2, ensure_ascii=False) + "\n").encode()
    json_path = folder / f"{certificate_id}.json"
    _atomic_write(json_path, json_bytes)
    pdf_path = folder / f"{certificate_id}.pdf"
    _atomic_write(pdf_path, render_certificate(certificate))
    hashes = {"json": hashlib.sha256(json_bytes).hexdigest(),
              "pdf": hashlib.sha256(pdf_path.read_bytes()).hexdigest()}
    doc_ids = {kind: _file_certificate(database, home, certificate, path, hashes[kind],
                                       operator)
               for kind, path in (("json", json_path), ("pdf", pdf_path))}
    with store_db.transaction(database):
        store_db.update_destruction(database, certificate_id, json_path=str(json_path),
                                    json_sha256=hashes["json"], pdf_path=str(pdf_path),
                                    pdf_sha256=hashes["pdf"], json_doc=doc_ids["json"],
                                    pdf_doc=doc_ids["pdf"])
        store_db.append_event(database, operator, "certificate.issued",
                              f"certificate:{certificate_id}",
                              {"json_sha256": hashes["json"], "pdf_sha256": hashes["pdf"],
                               "json_record": doc_ids["json"], "pdf_record": doc_ids["pdf"]})


def _file_certificate(database, home: Home, certificate: dict[str, Any], path: Path,
                      sha256: str, operator: str) -> str:
    from s4.schedule import schedule_for

    pipeline = home.pipeline(home.settings().s4.default_pipeline)
    schedule = schedule_for(home, pipeline.classify.schedule)
    batch = "disposal-certificates"
    store_db.ensure_batch(database, batch, pipeline.name, None, "s4", operator)
    already = store_db.find_original_by_sha256(database, sha256)
    if already is not None and already["record_class"] == CERTIFICATE_CLASS:
        return already["id"]  # filed before an interruption: never file it twice
    with store_db.transaction(database):
        doc_id = store_db.next_doc_id(database)
        stat = path.stat()
        store_db.insert_document(database, operator, {
            "id": doc_id, "batch_id": batch, "box": None, "position": None,
            "source_name": path.name, "source_path": str(path), "source_size": stat.st_size,
            "source_mtime": stat.st_mtime, "sha256": sha256, "pipeline": pipeline.name,
            "state": store_db.FILED, "original_path": str(path), "output_pdf": str(path),
            "media_type": path.suffix.lstrip("."), "pages": None, "inbox_cleared": 1,
            "record_class": CERTIFICATE_CLASS, "decided_by": "s4",
            "document_date": certificate["destroyed_at"][:10],
            "refs": json.dumps([certificate["certificate"]]),
        })
    if schedule.get(CERTIFICATE_CLASS) is not None:
        retention.apply_decision(database, doc_id, CERTIFICATE_CLASS, schedule, operator)
    return doc_id


# --------------------------------------------------------------------------- verification


def verify_certificates(database, home: Home) -> list[str]:
    """Each certificate must match its sealing entry, its issue entry and its stored copies."""
    problems = _check_log_against_records(database)
    for record in store_db.destructions(database):
        cid = record["id"]
        seal = store_db.get_event(database, record["seal_seq"])
        if seal is None or seal["hash"] != record["seal_hash"] or \
                seal["action"] != "certificate.sealed":
            problems.append(f"{cid}: its sealing audit entry {record['seal_seq']} is missing "
                            "or different")
            continue
        sealed_digest = json.loads(seal["details"]).get("body_sha256")
        issued = store_db.events_with_action(database, "certificate.issued",
                                             f"certificate:{cid}")
        if not issued:
            problems.append(f"{cid}: no certificate.issued entry in the audit log (if S4 "
                            "stopped while issuing it, `s4 paper status` finishes the job)")
            continue
        issued_details = json.loads(issued[-1]["details"])
        for kind in ("json", "pdf"):
            expected = issued_details.get(f"{kind}_sha256")
            local = record[f"{kind}_path"]
            if not local or not Path(local).exists():
                problems.append(f"{cid}: the {kind.upper()} certificate file is missing")
            else:
                data = Path(local).read_bytes()
                if hashlib.sha256(data).hexdigest() != expected:
                    problems.append(f"{cid}: the {kind.upper()} certificate ({local}) was "
                                    "altered since it was issued")
                elif kind == "json":
                    problems.extend(_check_json_seal(cid, data, sealed_digest, seal))
            problems.extend(_check_stored_copy(database, home, cid, kind,
                                               record[f"{kind}_doc"], expected))
    return problems


def _check_log_against_records(database) -> list[str]:
    """The log is the authority: every sealed certificate and every destroyed paper it
    records must still be in S4's tables (catches rows deleted or reset behind S4's back)."""
    problems = []
    recorded = {r["id"]: r for r in store_db.destructions(database)}
    for seal in store_db.events_with_action(database, "certificate.sealed"):
        cid = seal["subject"].removeprefix("certificate:")
        record = recorded.get(cid)
        if record is None:
            problems.append(f"{cid}: audit entry {seal['seq']} seals this certificate, but S4 "
                            "has no record of it (its row was deleted from the database)")
        elif record["seal_seq"] != seal["seq"]:
            problems.append(f"{cid}: sealed by audit entry {seal['seq']}, but its record names "
                            f"entry {record['seal_seq']}")
    for event in store_db.events_with_action(database, "paper.destroyed"):
        certificate = json.loads(event["details"]).get("certificate")
        doc = store_db.get_document(database, event["subject"])
        if doc is None or doc["paper_status"] != DESTROYED or \
                doc["certificate_id"] != certificate:
            problems.append(f"{event['subject']}: audit entry {event['seq']} records its paper "
                            f"destroyed under {certificate}, but the record now says "
                            f"{(doc or {}).get('paper_status') or 'in_box'}")
    return problems


def _check_json_seal(cid: str, data: bytes, sealed_digest: str, seal: dict) -> list[str]:
    try:
        certificate = json.loads(data)
    except ValueError:
        return [f"{cid}: the JSON certificate is not valid JSON"]
    seal_block = certificate.pop("seal", {})
    problems = []
    if body_sha256(certificate) != sealed_digest:
        problems.append(f"{cid}: the certificate's content does not match the digest sealed in "
                        f"audit entry {seal['seq']}")
    if seal_block.get("audit_hash") != seal["hash"]:
        problems.append(f"{cid}: the certificate names a different sealing entry")
    return problems


def _check_stored_copy(database, home: Home, cid: str, kind: str, doc_id: str | None,
                       expected: str) -> list[str]:
    """The stored copy (a record of its own) must be stored, verified and the issued bytes."""
    from s4.store import make_backend
    from s4.store.base import Journal, StoreError

    doc = store_db.get_document(database, doc_id) if doc_id else None
    if doc is None:
        return [f"{cid}: the {kind.upper()} certificate was never filed as a record"]
    if doc["state"] != store_db.STORED:
        return [f"{cid}: the {kind.upper()} certificate ({doc_id}) {STORE_PENDING}"]
    if doc["stored_sha256"] != expected:
        return [f"{cid}: the stored {kind.upper()} certificate ({doc_id}) is not the issued file"]
    settings = home.settings()
    try:
        backend = make_backend(home, settings)
        try:
            row = next((r for r in store_db.documents(database, doc["batch_id"])
                        if r["id"] == doc_id), doc)
            result = backend.verify(row, Journal(database, doc_id, backend.name).load(),
                                    deep=True)
        finally:
            backend.close()
    except StoreError as exc:
        return [f"{cid}: could not check the stored {kind.upper()} copy: {exc}"]
    if not result.ok:
        return [f"{cid}: the stored {kind.upper()} copy ({doc['store_location']}) fails its "
                f"check: {result.detail}"]
    return []
