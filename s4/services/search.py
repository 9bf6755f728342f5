"""Full-text search over OCR text and metadata (the desk's /search), over s4/db.py's FTS5
tables, which triggers keep in step with the records."""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import date
from typing import Any

from markupsafe import Markup

from s4 import db as store_db
from s4.context import HomeContext
from s4.errors import UsageProblem


@dataclass(frozen=True)
class Hit:
    doc: dict[str, Any]
    page_no: int | None  # the best-matching page, when the words were in the text
    snippet_text: str  # matches between \x02 and \x03

    def snippet(self) -> Markup:
        """The snippet as safe HTML, the matched words in <mark>."""
        escaped = html.escape(self.snippet_text)
        return Markup(escaped.replace("\x02", "<mark>").replace("\x03", "</mark>"))


@dataclass
class SearchResult:
    hits: list[Hit]
    limit: int

    @property
    def more(self) -> bool:
        """There were more matches than shown."""
        return len(self.hits) >= self.limit


def _iso(label: str, text: str | None) -> str | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text.strip()).isoformat()
    except ValueError:
        raise UsageProblem(f"{label}: {text!r} is not a date: use 2026-05-01") from None


def search(ctx: HomeContext, words: str, record_class: str | None = None,
           box: str | None = None, date_from: str | None = None,
           date_to: str | None = None) -> SearchResult:
    """Documents whose text or metadata holds every word; filters by class, box and the
    document's date. A bad date raises UsageProblem before anything is read."""
    low, high = _iso("From", date_from), _iso("To", date_to)
    if low and high and low > high:
        raise UsageProblem(f"From {low} is after To {high}")
    rows = store_db.search_documents(ctx.db, words or "", record_class or None, box or None,
                                     low, high)
    return SearchResult([Hit(row, row.get("page_no"), row.get("snippet") or "")
                         for row in rows], store_db.SEARCH_LIMIT)


def classes(ctx: HomeContext) -> list[str]:
    return store_db.search_classes(ctx.db)
