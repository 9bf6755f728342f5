"""The store: check its set-up, upload what waits for it, and re-check what it holds."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from s4 import db as store_db
from s4.context import HomeContext
from s4.errors import EnvironmentProblem, UsageProblem
from s4.store import SyncReport, make_backend, sync_all, verify_stored
from s4.store.base import CheckLine, StoreError, VerifyResult


class StoreUnreachable(EnvironmentProblem):
    """The store cannot be used now (sign-in, permission, library, network); ``hint`` says
    what to do."""

    def __init__(self, message: str, hint: str = ""):
        super().__init__(message)
        self.hint = hint


@dataclass
class StoreCheck:
    backend: str
    lines: list[CheckLine]

    @property
    def failed(self) -> list[CheckLine]:
        return [line for line in self.lines if not line.ok]

    @property
    def ok(self) -> bool:
        return not self.failed


def check(ctx: HomeContext) -> StoreCheck:
    """Sign in and find the site and library (SharePoint), or check the folder (local)."""
    backend = make_backend(ctx.home, ctx.settings)
    try:
        lines = backend.check()
    except StoreError as exc:  # anything the steps did not catch themselves
        raise StoreUnreachable(str(exc), getattr(exc, "hint", "")) from None
    finally:
        backend.close()
    return StoreCheck(ctx.settings.store.backend, lines)


def sync(ctx: HomeContext, retry_conflicts: bool = False) -> SyncReport:
    """Upload every record waiting for the store now; needs the line (the home lock).

    The report's ``unavailable`` and ``hint`` say when the store went away part-way."""
    lock = ctx.lock()
    try:
        lock.__enter__()
    except EnvironmentProblem as exc:
        raise EnvironmentProblem(
            f"{exc} (a running `s4 watch` or `s4 run` stores records by itself)") from None
    try:
        return sync_all(ctx.home, ctx.actor, ctx.settings, retry_conflicts=retry_conflicts)
    finally:
        lock.__exit__(None, None, None)


def verify(ctx: HomeContext, doc_ids: Sequence[str] | None = None, deep: bool = False,
           ) -> list[tuple[dict[str, Any], VerifyResult]]:
    """Re-check stored records (all, or these) against the store; a failure loses the
    record's ``verified_at`` and is written to its history."""
    try:
        wanted = [store_db.normalise_doc_id(d) for d in doc_ids or ()] or None
    except ValueError as exc:
        raise UsageProblem(str(exc)) from None
    try:
        return verify_stored(ctx.home, ctx.actor, deep, wanted, ctx.settings)
    except StoreError as exc:
        raise StoreUnreachable(f"the store is not available: {exc}",
                               getattr(exc, "hint", "") or "run `s4 store check`") from None
