"""What the desk's handlers share: the request's HomeContext, finding a document, form
fields, and calling a service so that a refusal becomes a message on the same page."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from starlette.exceptions import HTTPException

from s4 import db as store_db
from s4.config import ConfigError
from s4.context import HomeContext
from s4.errors import S4Error
from s4.web.auth import Desk

T = TypeVar("T")


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
    """Call a service; anything a person can act on becomes a FormProblem."""
    try:
        return service(*args, **kwargs)
    except (S4Error, ConfigError) as exc:
        raise FormProblem(str(exc)) from None


def done_id(desk: Desk) -> str | None:
    """The ``done`` query parameter, only ever shown as a document id."""
    text = desk.request.query_params.get("done", "")
    try:
        return store_db.normalise_doc_id(text) if text else None
    except ValueError:
        return None
