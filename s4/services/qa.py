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
