"""What the desk's handlers share: the request's HomeContext, finding a document, form
fields, calling a service so that a refusal becomes a message on the same page, and what a
page says when part of it cannot be built."""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from starlette.exceptions import HTTPException

from s4 import db as store_db
from s4.config import ConfigError
from s4.context import HomeContext
from s4.errors import S4Error
from s4.web.auth import Desk

T = TypeVar("T")
log = logging.getLogger("s4.web")


class FormProblem(Exception):
    """A form's input cannot be used: the message is shown on the same page."""


def context_for(desk: Desk) -> HomeContext:
    """The request's home for a service, acting as the signed-in person (the pipelines and
    schedules cache is the desk's, shared by every request)."""
    state = desk.state
    return HomeContext(state.home, desk.database, state.settings, "s4 serve",
                       state.caches).acting_as(desk.session.user_name)


def document_or_404(desk: Desk, param: str = "doc") -> dict[str, Any]:
    text = desk.request.path_params[param]
    try:
        doc_id = store_db.normalise_doc_id(text)
    except ValueError as exc:
        raise HTTPException(404, str(exc)) from None
    doc = store_db.get_document(desk.database, doc_id)
    if doc is None:
        raise HTTPException(404, f"There is no document {doc_id}.")
    return doc


def field(desk: Desk, name: str, default: str = "") -> str:
    """A posted text field, stripped ('' when absent)."""
    value = desk.form.get(name, default) if desk.form is not None else default
    return value.strip() if isinstance(value, str) else default


def call(service: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call a service (its first argument the request's HomeContext); anything a person can
    act on becomes a FormProblem, with the home's paths relative to the home."""
    try:
        return service(*args, **kwargs)
    except (S4Error, ConfigError) as exc:
        if args and isinstance(args[0], HomeContext):
            raise FormProblem(without_server_paths(str(exc), args[0].home.root)) from None
        raise FormProblem(str(exc)) from None


def done_id(desk: Desk) -> str | None:
    """The ``done`` query parameter, only ever shown as a document id."""
    text = desk.request.query_params.get("done", "")
    try:
        return store_db.normalise_doc_id(text) if text else None
    except ValueError:
        return None


# A path as S4's messages write one: starts with "/" at the start of the text or after a
# space, quote, bracket or "=" (so a URL's "//" or "host/0" is left alone).
_ABSOLUTE_PATH = re.compile(r"""(?:(?<=^)|(?<=[\s'"(\[=]))/[^\s'":,;()\[\]]+""")


def without_server_paths(message: str, root: Path) -> str:
    """The message with the home's own paths relative to the home (pipelines/x.yaml:3) and
    any other absolute path cut to its last part: a page never shows the server's layout."""
    return _cut_paths(_relative_to_home(message, root))


def _relative_to_home(message: str, root: Path) -> str:
    for prefix in {str(root), str(root.resolve())}:
        message = message.replace(prefix.rstrip("/") + "/", "")
    return message


def _cut_paths(message: str) -> str:
    return _ABSOLUTE_PATH.sub(lambda found: Path(found[0]).name or "/", message)


def page_problem(desk: Desk, exc: Exception, what: str) -> str:
    """What a page says when part of it could not be built, starting with ``what`` (e.g.
    "The retention report could not be built").

    S4's own errors (ConfigError and every S4Error) are written for people and name the
    file, line and field: they are shown, with the home's paths relative to it. Anything
    else is a fault, not something a person can fix from the page: its text (which may name
    server paths or internals) goes only to the server's log, with the traceback and an
    error id the page shows."""
    if isinstance(exc, S4Error):
        relative = _relative_to_home(str(exc), desk.state.home.root)
        shown = _cut_paths(relative)
        if shown != relative:  # a path outside the home was cut: the log has it whole
            log.warning("desk %s %s: %s", desk.request.method, desk.request.url.path, exc)
        return f"{what}: {shown}"
    error_id = secrets.token_hex(6)
    log.error("desk error %s on %s %s: %s", error_id, desk.request.method,
              desk.request.url.path, what, exc_info=exc)
    return (f"{what}; the server log has the details (give your administrator this error "
            f"id: {error_id}).")
