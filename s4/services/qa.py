"""QA of the digital copies before paper goes: the pages a person must check (sampled and
flagged), drawing a box's sample, and a person's verdict on a page. The acting person is
``ctx.actor``; every draw and verdict is an audit event."""

from __future__ import annotations

from s4 import db as store_db
from s4 import qa
from s4.context import HomeContext
from s4.errors import NotFound, UsageProblem
from s4.services.results import Outcome


def queue(ctx: HomeContext, box: str | None = None) -> list[qa.PageToCheck]:
    """Pages needing a person: sampled and flagged pages not yet passed (failed ones stay
    listed, with their verdict, until the document is rescanned). Reads only."""
    boxes = [box] if box else store_db.known_boxes(ctx.db)
    pages = []
    for name in boxes:
        pages.extend(p for p in qa.box_qa(ctx.db, name).pages if p.result != qa.PASSED)
    return pages


def page_to_check(ctx: HomeContext, doc_id: str, page_no: int) -> qa.PageToCheck | None:
    """One page as the QA queue sees it (sampled, flags, latest verdict); None when it is
    neither sampled nor flagged. Reads only."""
    doc = store_db.get_document(ctx.db, doc_id)
    if doc is None or not doc["box"]:
        return None
    return next((p for p in qa.box_qa(ctx.db, doc["box"]).pages
                 if (p.doc_id, p.page_no) == (doc_id, page_no)), None)


def draw_due(ctx: HomeContext, box: str | None = None) -> Outcome:
    """Draw the sample of each box (or just this one) that is due: every record stored and
    some pages no draw covers yet. The line draws it itself when a box completes; this
    catches up a draw it could not make then. Nothing on a read-only home."""
    result = Outcome()
    if store_db.is_read_only(ctx.db):
        return result
    for name in [box] if box else store_db.known_boxes(ctx.db):
        if qa.box_complete(ctx.db, name) and qa.uncovered_pages(ctx.db, name):
            drawn = draw(ctx, name)
            result.changed.extend(drawn.changed)
            result.notes.extend(drawn.notes)
    return result


def draw(ctx: HomeContext, box: str) -> Outcome:
    """Draw the box's sample now for every page no draw covers yet (on demand; S4 draws it
    by itself once every record of the box is stored)."""
    if not store_db.documents_in_boxes(ctx.db, [box]):
        raise NotFound(f"no documents in box {box}")
    pipeline = qa.box_pipeline(ctx.db, box)
    sample = qa.draw(ctx.db, box, ctx.pipeline(pipeline).qa, pipeline, ctx.actor)
    result = Outcome()
    if sample is not None:
        result.changed.append(f"box:{box}")
        result.notes.append(
            f"box {box}: sample drawn ({sample['rule']['level']} inspection, "
            f"{sample['rule']['rate']:.0%}, at least {sample['rule']['minimum']}): "
            f"{len(sample['pages'])} of {len(sample['population'])} pages, seed "
            f"{sample['seed']}")
    return result


def verdict(ctx: HomeContext, doc_id: str, page_no: int, passed: bool, reason: str) -> Outcome:
    """Record a person's verdict on one page. A failed page sends its document to rescan
    and tightens the inspection of the pipeline's next boxes."""
    doc = store_db.get_document(ctx.db, doc_id)
    if doc is None:
        raise NotFound(f"no document {doc_id}")
    if doc["state"] == store_db.SUPERSEDED:
        raise UsageProblem(f"{doc_id} was rescanned: check page {page_no} of "
                           f"{doc['superseded_by']} instead")
    if not store_db.page_exists(ctx.db, doc_id, page_no):
        raise UsageProblem(f"{doc_id} has no page {page_no} (it has {doc['pages'] or 0})")
    if not reason.strip():
        raise UsageProblem("give a --reason: what was checked, against what")
    result = qa.PASSED if passed else qa.FAILED
    store_db.insert_qa_verdict(ctx.db, ctx.actor, doc_id, page_no, result, reason.strip())
    outcome = Outcome(changed=[doc_id])
    if not passed:
        outcome.notes.append(f"{doc_id}: page {page_no} failed QA: rescan the document "
                             f"(`s4 rescan {doc_id} FILE --reason …`); the next boxes of "
                             f"pipeline {doc['pipeline']} get tightened inspection")
    return outcome
