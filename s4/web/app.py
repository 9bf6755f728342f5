"""The desk's application: ``create_app(home)`` returns a Starlette app for uvicorn.

Pages are rendered on the server and work without JavaScript. Every route declares its roles
(s4/web/auth.py checks them); data comes from the library (s4/db.py, s4/disposal.py,
s4/audit.py, s4/retention.py), never from SQL here. The desk never takes the home's lock, so
it runs beside ``s4 watch``; each request uses its own short-lived connection (WAL).
"""

from __future__ import annotations

import json
import logging
import secrets
from collections import Counter, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from s4 import accounts, retention
from s4 import audit as audit_log
from s4 import db as store_db
from s4.config import Home, WebSettings
from s4.context import HomeContext
from s4.events import readable_details
from s4.services import audit as audit_service
from s4.services import exports as exports_service
from s4.services import paper as paper_service
from s4.services.workers import ocr_workers
from s4.web import decisions, pages
from s4.web.auth import (
    ANY_ROLE,
    FORM_LIMIT_BYTES,
    READERS,
    RECORD_READERS,
    SESSION_COOKIE,
    SIGN_IN_COOKIE,
    BodyTooLarge,
    Desk,
    declared_length,
    guarded,
    read_form,
    safe_next,
    session_cookie_kwargs,
    too_large,
)
from s4.web.common import context_for, document_or_404, page_problem

log = logging.getLogger("s4.web")
HERE = Path(__file__).parent
SECURITY_HEADERS = {
    "content-security-policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}
STATE_ORDER = (store_db.RECEIVED, store_db.OCR, store_db.PROCESSED, store_db.NEEDS_REVIEW,
               store_db.FILED, store_db.STORED, store_db.QUARANTINED, store_db.DUPLICATE,
               store_db.NOT_A_RECORD, store_db.SUPERSEDED)
AUDIT_ROWS_SHOWN = 200


class DeskState:
    """The home and everything a request needs that outlives it."""

    def __init__(self, home: Home, clock: Callable[[], datetime]):
        self.home = home
        self.clock = clock
        self.settings = home.settings()  # a ConfigError here stops `s4 serve` with its line
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))
        self.templates.env.filters["details"] = readable_details
        self.templates.env.filters["when"] = _when
        self.caches: dict[str, dict[str, Any]] = {"pipelines": {}, "schedules": {}}

    def web_settings(self) -> WebSettings:
        return self.settings.web

    @contextmanager
    def database(self) -> Iterator[Any]:
        connection = store_db.connect(self.home.database)
        try:
            yield connection
        finally:
            connection.conn.close()

    def render(self, request: Request, template: str, status_code: int = 200,
               **context: Any) -> Response:
        context.setdefault("session", None)
        session = context["session"]
        roles = session.roles if session else frozenset()
        context["can_read"] = bool(roles & READERS)
        context["can_audit"] = bool(roles & RECORD_READERS)
        context["is_admin"] = accounts.ADMIN in roles
        context["is_records_manager"] = accounts.RECORDS_MANAGER in roles
        context["does_qa"] = bool(roles & {accounts.OPERATOR, accounts.RECORDS_MANAGER})
        context["council"] = self.settings.s4.council
        return self.templates.TemplateResponse(request, template, context,
                                               status_code=status_code)

    def refusal(self, request: Request, session: accounts.Session | None,
                message: str, status_code: int = 403) -> Response:
        return self.render(request, "refused.html", status_code, session=session,
                           message=message)


def _when(stamp: str | None) -> str:
    return (stamp or "")[:19].replace("T", " ")


# ---- signing in and out (the only routes open to everyone)


async def sign_in_page(request: Request) -> Response:
    state: DeskState = request.app.state.desk
    if request.method == "GET":
        return _sign_in_form(request, state, "", request.query_params.get("next", "/"))
    if declared_length(request) > FORM_LIMIT_BYTES:
        return too_large(request, FORM_LIMIT_BYTES)
    try:
        form = await read_form(request, FORM_LIMIT_BYTES)
    except BodyTooLarge:
        return too_large(request, FORM_LIMIT_BYTES)
    expected = request.cookies.get(SIGN_IN_COOKIE, "")
    if not expected or not secrets.compare_digest(str(form.get("csrf_token", "")), expected):
        return state.refusal(request, None, "The sign-in form had expired. Reload the page "
                             "and sign in again.")
    name, password = str(form.get("username", "")), str(form.get("password", ""))
    target = safe_next(str(form.get("next", "/")))
    client = request.client.host if request.client else ""

    def attempt() -> accounts.SignIn:
        with state.database() as database:
            return accounts.sign_in(database, name, password, state.web_settings(),
                                    state.clock(), client)

    from starlette.concurrency import run_in_threadpool

    outcome = await run_in_threadpool(attempt)  # Argon2 takes a while: not on the loop
    if not outcome.ok:
        return _sign_in_form(request, state, outcome.message, target, name)
    response = RedirectResponse(target, 303)
    response.set_cookie(SESSION_COOKIE, outcome.token or "",
                        **session_cookie_kwargs(state.web_settings().https))
    response.delete_cookie(SIGN_IN_COOKIE, path="/")
    return response


def _sign_in_form(request: Request, state: DeskState, message: str, target: str,
                  name: str = "") -> Response:
    token = secrets.token_urlsafe(32)
    response = state.render(request, "sign_in.html", 200, message=message,
                            next=safe_next(target), csrf_token=token, username=name)
    response.set_cookie(SIGN_IN_COOKIE, token,
                        **session_cookie_kwargs(state.web_settings().https))
    return response


@guarded("/account/sign-out", ANY_ROLE, ("POST",))
def sign_out(desk: Desk) -> Response:
    accounts.sign_out(desk.database, desk.session)
    response = RedirectResponse("/sign-in", 303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# ---- screens


@guarded("/", ANY_ROLE)
def home_page(desk: Desk) -> Response:
    """Each person sees links to what their roles allow."""
    return desk.render("home.html", role_descriptions=accounts.ROLE_DESCRIPTIONS)


def _count_rows(counts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    batches: dict[str, dict[str, Any]] = {}
    for row in counts:
        entry = batches.setdefault(row["batch"], {
            "id": row["batch"], "box": row["box"], "pipeline": row["pipeline"],
            "created_at": row["created_at"], "states": Counter(), "documents": 0, "pages": 0})
        if row["state"]:
            entry["states"][row["state"]] += row["n"]
            entry["documents"] += row["n"]
            entry["pages"] += row["pages"]
    return list(batches.values())


@guarded("/batches", READERS)
def batches_page(desk: Desk) -> Response:
    batches = _count_rows(store_db.batch_counts(desk.database))
    throughput = store_db.batch_throughput(desk.database)
    totals: Counter[str] = Counter()
    for batch in batches:
        totals.update(batch["states"])
        batch["pages_per_minute"] = _pages_per_minute(throughput.get(batch["id"]))
    return desk.render(
        "batches.html", batches=batches, totals=totals, states=_states_seen(totals),
        quarantined=store_db.documents_in_states(desk.database, (store_db.QUARANTINED,)),
        boxes=store_db.known_boxes(desk.database),
        may_retry=accounts.OPERATOR in desk.session.roles, **_workers(desk))


def _workers(desk: Desk) -> dict[str, Any]:
    """The OCR workers and jobs waiting (as `s4 status --workers`) when OCR runs on Celery;
    a broker that cannot be reached is said so, and the rest of the page still shows."""
    try:
        return {"workers": ocr_workers(desk.state.settings.ocr), "workers_problem": None}
    except Exception as exc:  # the batches themselves still show
        return {"workers": None,
                "workers_problem": page_problem(desk, exc, "The OCR workers cannot be listed")}


def _pages_per_minute(figures: dict[str, Any] | None) -> float | None:
    """Pages OCRed per minute from the batch's first arrival to its last OCR result."""
    if not figures or not figures["finished"] or not figures["pages"]:
        return None
    seconds = (accounts.parse_stamp(figures["finished"])
               - accounts.parse_stamp(figures["started"])).total_seconds()
    return round(figures["pages"] / max(seconds, 1.0) * 60, 1)


def _states_seen(totals: Counter[str]) -> list[str]:
    return [s for s in STATE_ORDER if totals.get(s)] + sorted(set(totals) - set(STATE_ORDER))


@guarded("/boxes/{box}", READERS)
def box_page(desk: Desk) -> Response:
    box = desk.request.path_params["box"]
    docs = store_db.documents_in_boxes(desk.database, [box])
    if not docs:
        raise HTTPException(404, f"There is no box {box!r} in this home.")
    totals = Counter(d["state"] for d in docs)
    blockers: dict[str, list[str]] = {}
    paper_problem = None
    try:
        (status,) = paper_service.status(_context(desk), [box], finish=False).boxes
        blockers = {check.doc["id"]: check.blockers for check in status.checks}
        earliest = status.earliest
    except Exception as exc:  # a broken pipeline or schedule: the box's records still show
        paper_problem = page_problem(desk, exc, "Paper eligibility cannot be worked out")
        earliest = None
    return desk.render(
        "box.html", box=box, docs=docs, totals=totals, states=_states_seen(totals),
        pages=sum(d["pages"] or 0 for d in docs), blockers=blockers, earliest=earliest,
        paper_problem=paper_problem,
        quarantined=[d for d in docs if d["state"] == store_db.QUARANTINED],
        may_retry=accounts.OPERATOR in desk.session.roles)


def _context(desk: Desk) -> HomeContext:
    """The request's home for a service, acting as the signed-in person."""
    return context_for(desk)


@guarded("/documents/{doc}", READERS)
def document_page(desk: Desk) -> Response:
    doc = document_or_404(desk)
    paper_check, paper_problem = None, None
    try:
        paper_check = paper_service.document_check(_context(desk), doc, date.today())
    except Exception as exc:  # a broken pipeline or schedule: the record still shows
        paper_problem = page_problem(desk, exc, "cannot tell whether the paper may "
                                     "be destroyed")
    page_rows = store_db.pages_of(desk.database, doc["id"])
    return desk.render(
        "document.html", doc=doc, page_rows=page_rows, custody=_custody(desk, doc),
        attempts={p["page_no"]: store_db.describe_attempts(p["ocr_attempts"])
                  for p in page_rows if p["ocr_attempts"]},
        holds=retention.active_holds_for(desk.database, doc),
        history=store_db.events_for(desk.database, doc["id"]),
        has_pdf=pages.record_pdf(doc) is not None, paper_check=paper_check,
        paper_problem=paper_problem, may_download=bool(desk.session.roles & RECORD_READERS),
        image_width=pages.DEFAULT_WIDTH,
        may_retry=accounts.OPERATOR in desk.session.roles,
        may_rescan=bool(desk.session.roles & {accounts.OPERATOR, accounts.RECORDS_MANAGER}),
        may_review=accounts.RECORDS_MANAGER in desk.session.roles)


def _custody(desk: Desk, doc: dict[str, Any]) -> dict[str, Any]:
    """The chain of custody: the scanner's file as received and its SHA-256, the stack a
    record was split from (or the records a stack was split into), the scan pages it holds,
    the scan pages left out of it and why, and any capture warning."""
    try:
        dropped = json.loads(doc["dropped_pages"] or "[]")
    except ValueError:
        dropped = [{"page": "?", "reason": doc["dropped_pages"]}]
    return {"source_file": doc["source_file"] or doc["source_name"],
            "source_sha256": doc["source_sha256"] or doc["sha256"],
            "stack_id": doc["stack_id"], "scan_pages": doc["scan_pages"], "dropped": dropped,
            "warning": doc["capture_warning"],
            "records": store_db.documents_of_stack(desk.database, doc["id"])
            if doc["state"] == store_db.SPLIT else []}


@guarded("/documents/{doc}/pages/{page:int}.png", READERS)
def page_image(desk: Desk) -> Response:
    doc = document_or_404(desk)
    try:
        width = int(desk.request.query_params.get("w", pages.DEFAULT_WIDTH))
        path = pages.page_image(desk.state.home, doc, desk.request.path_params["page"], width)
    except ValueError as exc:
        raise HTTPException(404, str(exc)) from None
    except pages.NoPageImage as exc:
        raise HTTPException(404, str(exc)) from None
    return FileResponse(path, media_type="image/png")


@guarded("/documents/{doc}/pdf", RECORD_READERS)
def document_pdf(desk: Desk) -> Response:
    """The record's PDF, addressed by its id only: no path ever comes from the browser."""
    doc = document_or_404(desk)
    path = pages.record_pdf(doc)
    if path is None:
        raise HTTPException(404, f"{doc['id']} has no PDF on this machine yet.")
    if not desk.only_looking:
        store_db.log_event(desk.database, desk.session.user_name, "document.downloaded",
                           doc["id"], {"via": "desk"})
    return FileResponse(path, media_type="application/pdf", filename=f"{doc['id']}.pdf")


AUDIT_FILTERS = ("document", "box", "person", "action", "from", "to")


@guarded("/audit", RECORD_READERS)
def audit_page(desk: Desk) -> Response:
    query = desk.request.query_params
    chosen = {name: query.get(name, "").strip() for name in AUDIT_FILTERS}
    errors: list[str] = []
    criteria: dict[str, Any] = {"box": chosen["box"] or None,
                                "actor": chosen["person"] or None,
                                "action": chosen["action"] or None}
    if chosen["document"]:
        try:
            criteria["doc"] = store_db.normalise_doc_id(chosen["document"])
        except ValueError as exc:
            errors.append(f"Document: {exc}")
    for name, key in (("from", "since"), ("to", "until")):
        if chosen[name]:
            try:
                criteria[key] = audit_log.log_time(chosen[name])
            except ValueError as exc:
                errors.append(f"{name.title()}: {exc}")
    shown: deque[dict[str, Any]] = deque(maxlen=AUDIT_ROWS_SHOWN)
    matched = 0
    if not errors:
        for event in store_db.audit_trail(desk.database, **criteria):
            shown.append(event)
            matched += 1
    ctx = _context(desk)
    report = audit_service.verify(ctx)
    return desk.render("audit.html", chosen=chosen, errors=errors,
                       events=list(reversed(shown)), matched=matched, report=report,
                       limit=AUDIT_ROWS_SHOWN,
                       certificates=list(exports_service.certificate_rows(ctx)))


# ---- errors and headers


async def not_found(request: Request, exc: Exception) -> Response:
    state: DeskState = request.app.state.desk
    status = exc.status_code if isinstance(exc, HTTPException) else 404
    # A 400 is Starlette refusing a malformed form (too many fields, one too long): say so.
    detail = exc.detail if isinstance(exc, HTTPException) and status in (400, 404) else \
        "That page does not exist."
    return _with_headers(state.render(request, "error.html", status, message=detail,
                                      error_id=None))


async def server_error(request: Request, exc: Exception) -> Response:
    """A plain message and an id to quote; the traceback goes only to the server's log."""
    error_id = secrets.token_hex(6)
    log.error("desk error %s on %s %s", error_id, request.method, request.url.path,
              exc_info=exc)
    state: DeskState = request.app.state.desk
    return _with_headers(state.render(
        request, "error.html", 500, error_id=error_id,
        message="Something went wrong on the desk, and nothing was changed. If it happens "
                "again, give your administrator this error id."))


def _with_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers[name] = value
    response.headers["cache-control"] = "no-store"
    return response


class SecurityHeaders:
    """Add the security headers to every response; pages are never cached."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith("/static/")

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.decode("latin-1").lower() not in SECURITY_HEADERS
                           and k.decode("latin-1").lower() != "cache-control"]
                headers += [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
                headers.append((b"cache-control",
                                b"max-age=3600" if static else b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(home: Home, clock: Callable[[], datetime] = accounts.utc_now) -> Starlette:
    """The desk for this home. ``clock`` is injectable so tests can move time on."""
    from starlette.middleware import Middleware

    desk = DeskState(home, clock)
    routes = [
        Route("/sign-in", sign_in_page, methods=["GET", "POST"]),
        Route("/account/sign-out", sign_out, methods=["POST"]),
        Route("/", home_page),
        Route("/batches", batches_page),
        Route("/boxes/{box}", box_page),
        Route("/documents/{doc}", document_page),
        Route("/documents/{doc}/pages/{page:int}.png", page_image),
        Route("/documents/{doc}/pdf", document_pdf),
        Route("/audit", audit_page),
        *(Route(path, handler, methods=methods) for path, handler, methods in
          decisions.ROUTES),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    app = Starlette(routes=routes, middleware=[Middleware(SecurityHeaders)],
                    exception_handlers={HTTPException: not_found, Exception: server_error})
    app.state.desk = desk
    return app
