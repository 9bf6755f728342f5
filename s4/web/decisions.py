"""The desk's decision screens: retry and re-scan, review, paper QA, paper by box and
destruction, certificates, retention and holds, exports, search, and accounts.

Every decision calls a service in s4/services/ acting as the signed-in person; a refusal or
bad input is shown on the same page (status 400, or 403 for the witness rule) and changes
nothing. Reads come from services or s4/db.py's named functions, never SQL here.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import secrets
from collections.abc import Iterable, Iterator
from datetime import date
from typing import Any
from urllib.parse import quote

from starlette.exceptions import HTTPException
from starlette.responses import RedirectResponse, Response, StreamingResponse

from s4 import accounts
from s4 import db as store_db
from s4.services import documents as documents_service
from s4.services import exports as exports_service
from s4.services import paper as paper_service
from s4.services import qa as qa_service
from s4.services import retention as retention_service
from s4.services import review as review_service
from s4.services import search as search_service
from s4.web import pages
from s4.web.auth import READERS, RECORD_READERS, Desk, guarded
from s4.web.common import (
    FormProblem,
    call,
    context_for,
    document_or_404,
    done_id,
    field,
    page_problem,
)

OP, RM, AU, AD = accounts.OPERATOR, accounts.RECORDS_MANAGER, accounts.AUDITOR, accounts.ADMIN
OPERATORS = frozenset({OP})
RECORDS_MANAGERS = frozenset({RM})
LINE_PEOPLE = frozenset({OP, RM})  # those who run batches or QA and may send a re-scan
ADMINS = frozenset({AD})
QA_LARGE_WIDTH = 1600
log = logging.getLogger("s4.web")


def _outcome_page(desk: Desk, title: str, changed: list[str], refused: list[Any],
                  back: str, back_label: str, note: str = "") -> Response:
    return desk.render("outcome.html", 200 if changed and not refused else 400, title=title,
                       changed=changed, refused=refused, back=back, back_label=back_label,
                       note=note)


# --------------------------------------------------------------------------- retry, rescan


@guarded("/documents/{doc}/retry", OPERATORS, ("POST",))
def retry_document(desk: Desk) -> Response:
    """Bring a quarantined document back to the line (the running `s4 watch` picks it up at
    its next rescan)."""
    doc = document_or_404(desk)
    outcome = documents_service.retry(context_for(desk), [doc["id"]])
    return _outcome_page(
        desk, f"Retry {doc['id']}", outcome.changed, outcome.refused, "/batches",
        "Back to the batches",
        "It is back on the line: the running s4 watch OCRs it again at its next rescan."
        if outcome.changed else "")


@guarded("/documents/{doc}/rescan", LINE_PEOPLE, ("POST",),
         max_body=documents_service.UPLOAD_LIMIT_BYTES + 64 * 1024)
def rescan_document(desk: Desk) -> Response:
    """A re-scan of a document's paper, uploaded; it replaces the document on the line."""
    doc = document_or_404(desk)
    upload = desk.form.get("file") if desk.form is not None else None
    reason = field(desk, "reason")
    try:
        if upload is None or isinstance(upload, str) or not upload.filename:
            raise FormProblem("choose the file of the new scan to upload")
        new_id = call(documents_service.rescan_upload, context_for(desk), doc["id"],
                      upload.filename, _chunks(upload.file), reason)
    except FormProblem as problem:
        return _outcome_page(desk, f"Re-scan of {doc['id']}", [],
                             [_Refusal(doc["id"], str(problem))], f"/documents/{doc['id']}",
                             f"Back to {doc['id']}")
    return _outcome_page(desk, f"Re-scan of {doc['id']}", [new_id], [],
                         f"/documents/{new_id}", f"Open {new_id}",
                         f"The new scan is {new_id}; it replaces {doc['id']} and waits for "
                         "OCR (the running s4 watch takes it at its next rescan).")


class _Refusal:
    def __init__(self, subject: str, reason: str):
        self.subject, self.reason = subject, reason


def _chunks(handle: Any, size: int = 1 << 20) -> Iterator[bytes]:
    while block := handle.read(size):
        yield block


# --------------------------------------------------------------------------- review


@guarded("/review", RECORDS_MANAGERS)
def review_queue(desk: Desk) -> Response:
    return desk.render("review_queue.html", items=review_service.queue(context_for(desk)),
                       done=done_id(desk))


def _review_page(desk: Desk, doc: dict[str, Any], status: int = 200,
                 error: str | None = None) -> Response:
    ctx = context_for(desk)
    explanation = review_service.explain(ctx, doc["id"])
    queue = [item.doc_id for item in review_service.queue(ctx)]
    later = queue[queue.index(doc["id"]) + 1:] if doc["id"] in queue else queue
    try:
        classes = ctx.schedule_for(doc).classes
        class_problem = None
    except Exception as exc:  # a broken schedule file: say so, the rest still shows
        classes = []
        class_problem = page_problem(desk, exc, "The schedule cannot be read")
    return desk.render(
        "review.html", status, doc=doc, explanation=explanation, error=error,
        page_rows=store_db.pages_of(desk.database, doc["id"]),
        has_pdf=pages.record_pdf(doc) is not None, image_width=pages.DEFAULT_WIDTH,
        classes=classes, class_problem=class_problem,
        next_id=later[0] if later else None, done=done_id(desk),
        waiting=doc["state"] == store_db.NEEDS_REVIEW,
        form={name: field(desk, name) for name in ("class_id", "document_date", "reference",
                                                   "reason")})


@guarded("/review/{doc}", RECORDS_MANAGERS)
def review_item(desk: Desk) -> Response:
    return _review_page(desk, document_or_404(desk))


@guarded("/review/{doc}", RECORDS_MANAGERS, ("POST",))
def review_decide(desk: Desk) -> Response:
    """Accept, set class/date/reference, or not a record; then on to the next document."""
    doc = document_or_404(desk)
    ctx = context_for(desk)
    decision, reason = field(desk, "decision"), field(desk, "reason")
    try:
        if decision == "accept":
            outcome = call(review_service.accept, ctx, [doc["id"]],
                           reason or "accepted on the desk")
        elif decision == "not_a_record":
            if not reason:
                raise FormProblem("Not a record: say why it is not a record (Reason)")
            outcome = call(review_service.not_a_record, ctx, [doc["id"]], reason)
        elif decision == "set":
            class_id = field(desk, "class_id")
            if not class_id:
                raise FormProblem("Set: choose the record class")
            document_date = _date_field(desk, "document_date", "Document date")
            outcome = call(review_service.set_class, ctx, doc["id"], class_id,
                           reason or "set on the desk", document_date,
                           field(desk, "reference") or None)
        else:
            raise FormProblem("choose Accept, Set or Not a record")
        if outcome.refused:
            raise FormProblem("; ".join(r.reason for r in outcome.refused))
    except FormProblem as problem:
        return _review_page(desk, doc, 400, str(problem))
    queue = [item.doc_id for item in review_service.queue(ctx)]
    target = f"/review/{queue[0]}" if queue else "/review"
    return RedirectResponse(f"{target}?done={doc['id']}", 303)


def _date_field(desk: Desk, name: str, label: str) -> date | None:
    text = field(desk, name)
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise FormProblem(f"{label}: {text!r} is not a date: use 2026-05-01") from None


# --------------------------------------------------------------------------- paper QA


@guarded("/qa", LINE_PEOPLE)
def qa_queue(desk: Desk) -> Response:
    """The pages a person must check (sampled and flagged), all boxes or one; a box's
    sample is drawn first when it is due (every record stored, pages not yet covered)."""
    ctx = context_for(desk)
    boxes = store_db.known_boxes(desk.database)
    box = desk.request.query_params.get("box", "").strip() or None
    if box is not None and box not in boxes:
        raise HTTPException(404, f"There is no box {box!r} in this home.")
    try:
        notes = [] if desk.only_looking else qa_service.draw_due(ctx, box).notes
        problem = None
    except Exception as exc:  # a broken pipeline file: the pages already due still show
        notes, problem = [], page_problem(desk, exc, "The QA sample could not be drawn")
    return desk.render("qa_queue.html", pages=qa_service.queue(ctx, box), boxes=boxes,
                       box=box, notes=notes, problem=problem, done=done_id(desk),
                       done_page=_page_number(desk.request.query_params.get("page", "")))


def _page_number(text: str) -> int | None:
    return int(text) if text.isdecimal() and 0 < len(text) < 6 else None


def _qa_page(desk: Desk, doc: dict[str, Any], page_no: int, status: int = 200,
             error: str | None = None) -> Response:
    if not store_db.page_exists(desk.database, doc["id"], page_no):
        raise HTTPException(404, f"{doc['id']} has no page {page_no}.")
    ctx = context_for(desk)
    row = next(p for p in store_db.pages_of(desk.database, doc["id"])
               if p["page_no"] == page_no)
    return desk.render("qa.html", status, doc=doc, page_no=page_no, row=row,
                       check=qa_service.page_to_check(ctx, doc["id"], page_no), error=error,
                       has_pdf=pages.record_pdf(doc) is not None, width=QA_LARGE_WIDTH,
                       reason=field(desk, "reason"))


@guarded("/qa/{doc}/{page:int}", LINE_PEOPLE)
def qa_item(desk: Desk) -> Response:
    return _qa_page(desk, document_or_404(desk), desk.request.path_params["page"])


@guarded("/qa/{doc}/{page:int}", LINE_PEOPLE, ("POST",))
def qa_verdict(desk: Desk) -> Response:
    """Pass or fail one page; a failed page sends its document to rescan. Then on to the
    next page nobody has checked yet."""
    doc = document_or_404(desk)
    page_no = desk.request.path_params["page"]
    verdict, reason = field(desk, "verdict"), field(desk, "reason")
    ctx = context_for(desk)
    try:
        if verdict not in ("pass", "fail"):
            raise FormProblem("choose Pass or Fail")
        if verdict == "fail" and not reason:
            raise FormProblem("Fail: say what is wrong with the scan (Reason), so the "
                              "operator knows what to rescan")
        call(qa_service.verdict, ctx, doc["id"], page_no, verdict == "pass",
             reason or "passed on the desk: legible and complete")
    except FormProblem as problem:
        return _qa_page(desk, doc, page_no, 400, str(problem))
    done = f"done={doc['id']}&page={page_no}"
    waiting = [p for p in qa_service.queue(ctx, doc["box"]) if p.result is None]
    if waiting:
        return RedirectResponse(f"/qa/{waiting[0].doc_id}/{waiting[0].page_no}?{done}", 303)
    return RedirectResponse(f"/qa?{done}", 303)


# --------------------------------------------------------------------------- paper by box


@guarded("/paper", READERS)
def paper_boxes(desk: Desk) -> Response:
    try:
        report = paper_service.status(context_for(desk), finish=False)
        problem = None
    except Exception as exc:  # a broken pipeline or schedule: say which
        report = None
        problem = page_problem(desk, exc, "Eligibility cannot be worked out")
    return desk.render("paper.html", report=report, problem=problem,
                       counts=paper_service.paper_counts)


def _paper_box_page(desk: Desk, box: str, status: int = 200,
                    error: str | None = None) -> Response:
    if box not in store_db.known_boxes(desk.database):
        raise HTTPException(404, f"There is no box {box!r} in this home.")
    try:
        (box_status,) = paper_service.status(context_for(desk), [box], finish=False).boxes
        problem = None
    except Exception as exc:  # a broken pipeline or schedule: say which
        box_status = None
        problem = page_problem(desk, exc, "Eligibility cannot be worked out")
    return desk.render(
        "paper_box.html", status, box=box, status=box_status, problem=problem, error=error,
        today=date.today(), may_destroy=RM in desk.session.roles,
        counts=paper_service.paper_counts(box_status) if box_status else {},
        form={name: field(desk, name) for name in ("method", "witness", "contractor",
                                                   "contractor_cert")})


@guarded("/paper/{box}", READERS)
def paper_box(desk: Desk) -> Response:
    return _paper_box_page(desk, desk.request.path_params["box"])


@guarded("/paper/{box}/destroy", RECORDS_MANAGERS, ("POST",))
def paper_destroy(desk: Desk) -> Response:
    """Record the whole box's destruction; the signed-in person approves it, and the
    witness must be someone else."""
    box = desk.request.path_params["box"]
    method, witness = field(desk, "method"), field(desk, "witness")
    try:
        if not method:
            raise FormProblem("Method: say how the paper was destroyed (e.g. cross-cut "
                              "shred, DIN 66399 P-4)")
        if not witness:
            raise FormProblem("Witness: name the person who saw the paper destroyed")
        result = call(paper_service.destroy, context_for(desk), [box], method, witness,
                      field(desk, "contractor") or None,
                      field(desk, "contractor_cert") or None)
    except FormProblem as problem:
        witness_rule = "different person" in str(problem)
        return _paper_box_page(desk, box, 403 if witness_rule else 400, str(problem))
    if result.certificate is None:
        blocked = "; ".join(f"{r.subject}: {r.reason}" for r in result.refused)
        return _paper_box_page(desk, box, 400, "Not every document in the box may be "
                               f"destroyed yet, so nothing was recorded: {blocked}")
    return RedirectResponse(f"/certificates/{quote(result.certificate['certificate'])}", 303)


# --------------------------------------------------------------------------- certificates


def _certificate(desk: Desk) -> paper_service.CertificateView:
    try:
        return paper_service.certificate(context_for(desk), desk.request.path_params["cert"])
    except LookupError as exc:
        raise HTTPException(404, str(exc)) from None


@guarded("/certificates/{cert}", RECORD_READERS)
def certificate_page(desk: Desk) -> Response:
    """The certificate, whether it checks out against the log and the store, and its
    records (each a link to its document)."""
    view = _certificate(desk)
    body = json.loads(view.record.get("certificate_json") or "{}")
    return desk.render("certificate.html", view=view, body=body,
                       boxes=json.loads(view.record["boxes"]))


@guarded("/certificates/{cert}/pdf", RECORD_READERS)
def certificate_pdf(desk: Desk) -> Response:
    view = _certificate(desk)
    try:
        data = view.pdf_bytes()
    except Exception as exc:  # the reason names the server's paths: it goes to the log only
        error_id = secrets.token_hex(6)
        log.warning("certificate PDF %s unreadable (error id %s): %s", view.id, error_id, exc)
        raise HTTPException(404, f"The PDF of certificate {view.id} cannot be read on this "
                            "machine. Give your administrator this error id: "
                            f"{error_id}.") from None
    return Response(data, media_type="application/pdf", headers={
        "content-disposition": f'attachment; filename="{view.id}.pdf"'})


# --------------------------------------------------------------------------- exports


def _csv(rows: Iterable[dict[str, Any]], fields: list[str], name: str) -> Response:
    def lines() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow(exports_service.spreadsheet_safe(
                {k: " ".join(v) if isinstance(v, list) else v for k, v in row.items()}))
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
        yield buffer.getvalue()

    return StreamingResponse(lines(), media_type="text/csv; charset=utf-8", headers={
        "content-disposition": f'attachment; filename="{name}"'})


@guarded("/exports/documents.csv", RECORD_READERS)
def export_documents(desk: Desk) -> Response:
    rows = list(exports_service.document_rows(context_for(desk)))  # read now, not later
    if not desk.only_looking:
        store_db.log_event(desk.database, desk.session.user_name, "export.downloaded",
                           "home", {"export": "documents", "rows": len(rows), "via": "desk"})
    return _csv(rows, exports_service.document_fields(), "s4-documents.csv")


@guarded("/exports/certificates.csv", RECORD_READERS)
def export_certificates(desk: Desk) -> Response:
    rows = list(exports_service.certificate_rows(context_for(desk)))
    return _csv(rows, exports_service.CERTIFICATE_FIELDS, "s4-certificates.csv")


# --------------------------------------------------------------------------- retention


def _report_filters(desk: Desk) -> tuple[dict[str, str], date | None, str | None,
                                          list[str]]:
    query = desk.request.query_params
    chosen = {"before": query.get("before", "").strip(),
              "action": query.get("action", "").strip()}
    errors: list[str] = []
    before = None
    if chosen["before"]:
        try:
            before = date.fromisoformat(chosen["before"])
        except ValueError:
            errors.append(f"Due on or before: {chosen['before']!r} is not a date: use "
                          "2026-05-01")
    if chosen["action"] and chosen["action"] not in retention_service.rt.REPORT_ACTIONS:
        errors.append(f"Action: choose one of {', '.join(retention_service.rt.REPORT_ACTIONS)}")
    return chosen, before, chosen["action"] or None, errors


def _retention_page(desk: Desk, status: int = 200, error: str | None = None,
                    notice: str | None = None) -> Response:
    ctx = context_for(desk)
    chosen, before, action, errors = _report_filters(desk)
    report = None
    if not errors:
        try:
            report = retention_service.due(ctx, before, action)
        except Exception as exc:  # a broken schedule: the holds still show
            errors.append(page_problem(desk, exc, "The retention report could not be built"))
    try:
        event_types = sorted(set().union(
            *(s.event_types() for s in retention_service.home_schedules(ctx.home))))
    except Exception as exc:
        event_types = []
        errors = [*errors, page_problem(desk, exc, "The schedules' event types cannot be "
                                        "read")]
    return desk.render(
        "retention.html", status, chosen=chosen, errors=errors, report=report,
        holds=retention_service.holds(ctx, include_lifted=True), event_types=event_types,
        scopes=retention_service.HOLD_SCOPES, actions=retention_service.rt.REPORT_ACTIONS,
        may_decide=RM in desk.session.roles, error=error, notice=notice,
        csv_query=str(desk.request.query_params),
        form={name: field(desk, name) for name in (
            "reason", "scope_kind", "scope_value", "event_type", "reference", "event_date",
            "note", "lift_reason")})


@guarded("/retention", RECORD_READERS)
def retention_page(desk: Desk) -> Response:
    return _retention_page(desk)


@guarded("/retention/due.csv", RECORD_READERS)
def retention_csv(desk: Desk) -> Response:
    _chosen, before, action, errors = _report_filters(desk)
    if errors:
        return _retention_page(desk, 400, "; ".join(errors))
    try:
        report = call(retention_service.due, context_for(desk), before, action)
    except FormProblem as problem:
        return _retention_page(desk, 400, str(problem))
    return _csv(report.rows, retention_service.REPORT_FIELDS, "s4-disposition.csv")


@guarded("/retention/holds", RECORDS_MANAGERS, ("POST",))
def place_hold(desk: Desk) -> Response:
    reason, kind, value = field(desk, "reason"), field(desk, "scope_kind"), \
        field(desk, "scope_value")
    try:
        if not reason:
            raise FormProblem("Mandate: say who ordered the hold and why (e.g. litigation "
                              "ref, FOI request)")
        if not value:
            raise FormProblem("Holds what: give the reference, class or document id")
        hold = call(retention_service.place_hold, context_for(desk), reason, kind, value)
    except FormProblem as problem:
        return _retention_page(desk, 400, f"The hold was not placed: {problem}")
    return _retention_page(desk, notice=f"Hold {hold['id']} placed; it covers "
                           f"{len(hold.get('documents', []))} record(s) now.")


@guarded("/retention/holds/{hold}/lift", RECORDS_MANAGERS, ("POST",))
def lift_hold(desk: Desk) -> Response:
    hold_id, reason = desk.request.path_params["hold"], field(desk, "lift_reason")
    try:
        if not reason:
            raise FormProblem("Reason for lifting: say why the hold no longer applies")
        call(retention_service.lift_hold, context_for(desk), hold_id, reason)
    except FormProblem as problem:
        return _retention_page(desk, 400, f"Hold {hold_id} was not lifted: {problem}")
    return _retention_page(desk, notice=f"Hold {hold_id} lifted.")


@guarded("/retention/events", RECORDS_MANAGERS, ("POST",))
def record_event(desk: Desk) -> Response:
    event_type, reference = field(desk, "event_type"), field(desk, "reference")
    try:
        if not reference:
            raise FormProblem("Reference: give the reference the event is about (e.g. "
                              "the case or account number)")
        event_date = _date_field(desk, "event_date", "Event date")
        if event_date is None:
            raise FormProblem("Event date: give the date it happened (2026-05-01)")
        outcome = call(retention_service.record_event, context_for(desk), event_type,
                       reference, event_date, field(desk, "note"))
    except FormProblem as problem:
        return _retention_page(desk, 400, f"The event was not recorded: {problem}")
    return _retention_page(desk, notice=f"Event {event_type} on {reference} recorded; "
                           f"{len(outcome.dated)} record(s) now have a trigger date.")


# --------------------------------------------------------------------------- search


@guarded("/search", READERS)
def search_page(desk: Desk) -> Response:
    query = desk.request.query_params
    chosen = {name: query.get(name, "").strip() for name in ("q", "class", "box", "from",
                                                             "to")}
    ctx = context_for(desk)
    result, error = None, None
    if any(chosen.values()):
        try:
            result = call(search_service.search, ctx, chosen["q"], chosen["class"],
                          chosen["box"], chosen["from"], chosen["to"])
        except FormProblem as problem:
            error = str(problem)
    return desk.render("search.html", 400 if error else 200, chosen=chosen, result=result,
                       error=error, classes=search_service.classes(ctx),
                       boxes=store_db.known_boxes(desk.database))


# --------------------------------------------------------------------------- accounts


def _users_page(desk: Desk, status: int = 200, error: str | None = None,
                notice: str | None = None) -> Response:
    return desk.render("admin_users.html", status, users=accounts.list_accounts(desk.database),
                       roles=accounts.ROLES, descriptions=accounts.ROLE_DESCRIPTIONS,
                       error=error, notice=notice, name=field(desk, "name"),
                       chosen_roles=desk.form.getlist("roles") if desk.form else [])


@guarded("/admin/users", ADMINS)
def users_page(desk: Desk) -> Response:
    return _users_page(desk)


@guarded("/admin/users", ADMINS, ("POST",))
def add_user(desk: Desk) -> Response:
    roles = [str(role) for role in desk.form.getlist("roles")] if desk.form else []
    try:
        name = accounts.add_user(desk.database, field(desk, "name"), roles,
                                 str(desk.form.get("password", "")) if desk.form else "",
                                 desk.session.user_name)
    except accounts.AccountError as exc:
        return _users_page(desk, 400, f"The account was not added: {exc}")
    return _users_page(desk, notice=f"Account {name} added.")


@guarded("/admin/users/{name}/disable", ADMINS, ("POST",))
def disable_user(desk: Desk) -> Response:
    name = desk.request.path_params["name"]
    if name == desk.session.user_name:
        return _users_page(desk, 400, "You cannot disable your own account here; ask "
                           "another administrator (or use `s4 user disable`).")
    try:
        accounts.disable_user(desk.database, name, desk.session.user_name)
    except accounts.AccountError as exc:
        return _users_page(desk, 400, f"Nothing was changed: {exc}")
    return _users_page(desk, notice=f"Account {name} disabled; its sessions ended.")


@guarded("/admin/users/{name}/password", ADMINS, ("POST",))
def reset_password(desk: Desk) -> Response:
    name = desk.request.path_params["name"]
    password = str(desk.form.get("password", "")) if desk.form else ""
    try:
        accounts.set_password(desk.database, name, password, desk.session.user_name)
    except accounts.AccountError as exc:
        return _users_page(desk, 400, f"The password was not changed: {exc}")
    return _users_page(desk, notice=f"New password set for {name}; their sessions ended "
                       "and any lock-out is cleared.")


ROUTES: list[tuple[str, Any, list[str]]] = [
    ("/documents/{doc}/retry", retry_document, ["POST"]),
    ("/documents/{doc}/rescan", rescan_document, ["POST"]),
    ("/review", review_queue, ["GET"]),
    ("/review/{doc}", review_item, ["GET"]),
    ("/review/{doc}", review_decide, ["POST"]),
    ("/qa", qa_queue, ["GET"]),
    ("/qa/{doc}/{page:int}", qa_item, ["GET"]),
    ("/qa/{doc}/{page:int}", qa_verdict, ["POST"]),
    ("/paper", paper_boxes, ["GET"]),
    ("/paper/{box}", paper_box, ["GET"]),
    ("/paper/{box}/destroy", paper_destroy, ["POST"]),
    ("/certificates/{cert}", certificate_page, ["GET"]),
    ("/certificates/{cert}/pdf", certificate_pdf, ["GET"]),
    ("/exports/documents.csv", export_documents, ["GET"]),
    ("/exports/certificates.csv", export_certificates, ["GET"]),
    ("/retention", retention_page, ["GET"]),
    ("/retention/due.csv", retention_csv, ["GET"]),
    ("/retention/holds", place_hold, ["POST"]),
    ("/retention/holds/{hold}/lift", lift_hold, ["POST"]),
    ("/retention/events", record_event, ["POST"]),
    ("/search", search_page, ["GET"]),
    ("/admin/users", users_page, ["GET"]),
    ("/admin/users", add_user, ["POST"]),
    ("/admin/users/{name}/disable", disable_user, ["POST"]),
    ("/admin/users/{name}/password", reset_password, ["POST"]),
]
