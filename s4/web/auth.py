"""Who may see what: every route declares its roles and this module checks them on the server.

A route is an ordinary function ``handler(desk: Desk) -> Response`` wrapped by ``guarded``.
The wrapper runs in a worker thread (SQLite and page rendering never block the event loop),
opens a short-lived database connection, finds the signed-in session, refuses the wrong role
(403, nothing done) and any POST without the session's CSRF token (403, nothing done).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.types import Message

from s4 import accounts

SESSION_COOKIE = "s4_session"
SIGN_IN_COOKIE = "s4_sign_in"  # the sign-in form's own CSRF token (no session yet)
ANY_ROLE = frozenset(accounts.ROLES)
READERS = frozenset({accounts.OPERATOR, accounts.RECORDS_MANAGER, accounts.AUDITOR})
RECORD_READERS = frozenset({accounts.RECORDS_MANAGER, accounts.AUDITOR})


@dataclass
class Desk:
    """What a handler gets: the request, the home's state, a database, the person."""

    request: Request
    state: Any  # s4.web.app.DeskState
    database: Any
    session: accounts.Session
    form: FormData | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def only_looking(self) -> bool:
        """A HEAD request (Starlette answers one on every GET route): it gets the headers a
        GET would, but is no download and no decision, so nothing is recorded or drawn."""
        return self.request.method == "HEAD"

    def render(self, template: str, status_code: int = 200, **context: Any) -> Response:
        return self.state.render(self.request, template, status_code, session=self.session,
                                 **context)


@dataclass(frozen=True)
class RouteRule:
    path: str
    methods: tuple[str, ...]
    roles: frozenset[str]


ROUTE_RULES: list[RouteRule] = []  # every guarded route, for the desk's own tests and docs


FORM_LIMIT_BYTES = 1024 * 1024  # an ordinary form; uploads declare their own limit


def guarded(path: str, roles: frozenset[str], methods: tuple[str, ...] = ("GET",),
            max_body: int = FORM_LIMIT_BYTES,
            ) -> Callable[[Callable[[Desk], Response]], Callable]:
    """Wrap a handler: signed in, one of ``roles``, and (for POST) the CSRF token. A
    body larger than ``max_body`` is refused before it is read."""

    def wrap(handler: Callable[[Desk], Response]) -> Callable:
        ROUTE_RULES.append(RouteRule(path, methods, roles))

        async def endpoint(request: Request) -> Response:
            form = None
            if request.method == "POST":
                if declared_length(request) > max_body:
                    return too_large(request, max_body)
                # Someone signed out gets nothing read: no upload is spooled for a stranger.
                if not await run_in_threadpool(_signed_in, request):
                    return _not_signed_in(request)
                try:
                    form = await read_form(request, max_body)
                except BodyTooLarge:
                    return too_large(request, max_body)
            try:
                return await run_in_threadpool(_run, handler, roles, request, form)
            finally:
                if form is not None:
                    await form.close()

        endpoint.__name__ = handler.__name__
        endpoint.__doc__ = handler.__doc__
        return endpoint

    return wrap


class BodyTooLarge(Exception):
    """More of a body arrived than the route reads."""


async def read_form(request: Request, max_body: int) -> FormData:
    """The posted form, reading at most ``max_body`` bytes whatever Content-Length says
    (it may be absent, with a chunked body, or lie); raises BodyTooLarge past that."""
    received = 0

    async def receive() -> Message:
        nonlocal received
        message = await request.receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > max_body:
                raise BodyTooLarge
        return message

    return await Request(request.scope, receive).form()


def too_large(request: Request, max_body: int) -> Response:
    return request.app.state.desk.refusal(
        request, None, f"What was sent is larger than {max(max_body // (1024 * 1024), 1)}"
        " MB, so it was not read; nothing was changed.", status_code=413)


def _signed_in(request: Request) -> bool:
    state = request.app.state.desk
    with state.database() as database:
        return accounts.session_for(database, request.cookies.get(SESSION_COOKIE),
                                    state.web_settings(), state.clock()) is not None


def _not_signed_in(request: Request) -> Response:
    return request.app.state.desk.refusal(
        request, None, "You are not signed in (or your session ended). Sign in and try "
        "again; nothing was changed.")


def declared_length(request: Request) -> int:
    try:
        return int(request.headers.get("content-length", "0"))
    except ValueError:
        return 0


def _run(handler: Callable[[Desk], Response], roles: frozenset[str], request: Request,
         form: FormData | None) -> Response:
    state = request.app.state.desk
    with state.database() as database:
        session = accounts.session_for(database, request.cookies.get(SESSION_COOKIE),
                                       state.web_settings(), state.clock())
        if session is None:
            if request.method in ("GET", "HEAD"):
                target = request.url.path + (f"?{request.url.query}" if request.url.query
                                             else "")
                return RedirectResponse(f"/sign-in?next={quote(target, safe='')}", 303)
            return _not_signed_in(request)
        if form is not None and not secrets.compare_digest(
                str(form.get("csrf_token", "")), session.csrf_token):
            return state.refusal(request, session, "This form had expired or did not come "
                                 "from the desk. Go back, reload the page and try again; "
                                 "nothing was changed.")
        if not session.roles & roles:
            return state.refusal(request, session, "Your account's roles do not allow this "
                                 "page or action; nothing was changed. Ask an administrator "
                                 "if you need it.")
        return handler(Desk(request, state, database, session, form))


def safe_next(target: str | None) -> str:
    """Only a path on this desk (never another site) may follow a sign-in."""
    if target and target.startswith("/") and not target.startswith("//") \
            and "\\" not in target:
        return target
    return "/"


def session_cookie_kwargs(https: bool) -> dict[str, Any]:
    # SameSite=Strict: no other site can make the browser send it, so a link or form
    # elsewhere cannot act as the signed-in person. A link into the desk from an e-mail
    # then asks for a sign-in first, which is acceptable for a records system.
    return {"httponly": True, "samesite": "strict", "secure": https, "path": "/"}

