"""The QA sample that releases a box: drawing it, the inspection level, and what blocks.

A box's pages, in canonical order (box position, record, page), are the population; a
sample of ``qa.sample_rate`` of them (at least ``qa.sample_minimum``, or all if fewer) is
drawn with ``random.Random(seed)`` and the seed, rule and pages are recorded, so an auditor
who takes the same list and seed draws the same pages (``draw_pages``). Pages that join the
box after a draw get a draw of their own. Every flagged page needs a person too.

Inspection switches in the manner of ANSI/AIIM TR34: normal until a sample has a failed
page; then the pipeline's next draws are tightened (rate and minimum multiplied by
``qa.tightened_factor``) until ``qa.passes_to_normal`` draws in a row pass completely.
"""

from __future__ import annotations

import logging
import math
import random
import secrets
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from s4 import db as store_db
from s4.config import Home, QaPolicy

log = logging.getLogger("s4.qa")

NORMAL, TIGHTENED = "normal", "tightened"
PASSED, FAILED = "passed", "failed"
PageKey = tuple[str, int]


def sample_size(population: int, rate: float, minimum: int) -> int:
    return min(population, max(minimum, math.ceil(rate * population - 1e-9)))


def draw_pages(population: list[PageKey], seed: int, size: int) -> list[PageKey]:
    """The pages a draw with this seed takes, in the population's order."""
    chosen = set(random.Random(seed).sample(range(len(population)), size))
    return [population[index] for index in sorted(chosen)]


def sample_outcome(database, sample: dict[str, Any]) -> str:
    """``failed`` when any sampled page failed, ``passed`` when all passed, else ``open``."""
    pages = [_current_page(database, doc, page) for doc, page in sample["pages"]]
    pages = [p for p in pages if p is not None]
    verdicts = store_db.qa_verdicts(database, sorted({doc for doc, _ in pages}))
    results = [verdicts.get(p, {}).get("result") for p in pages]
    if FAILED in results:
        return FAILED
    return PASSED if all(r == PASSED for r in results) else "open"


def inspection(database, pipeline: str, policy: QaPolicy) -> tuple[str, int]:
    """The level the pipeline's next draw uses, and passes in a row while tightened."""
    level, passes = NORMAL, 0
    for sample in store_db.qa_samples(database, pipeline=pipeline):
        outcome = sample_outcome(database, sample)
        if outcome == FAILED:
            level, passes = TIGHTENED, 0
        elif outcome == PASSED and level == TIGHTENED:
            passes += 1
            if passes >= policy.passes_to_normal:
                level, passes = NORMAL, 0
    return level, passes


def rule_for(policy: QaPolicy, level: str) -> dict[str, Any]:
    factor = policy.tightened_factor if level == TIGHTENED else 1.0
    return {"level": level, "rate": min(1.0, policy.sample_rate * factor),
            "minimum": math.ceil(policy.sample_minimum * factor),
            "tightened_factor": policy.tightened_factor,
            "passes_to_normal": policy.passes_to_normal,
            "order": "box position, record, page"}


def uncovered_pages(database, box: str) -> list[PageKey]:
    """The box's pages that no draw has covered yet, in canonical order."""
    covered = {tuple(key) for sample in store_db.qa_samples(database, box=box)
               for key in sample["population"]}
    return [(row["doc_id"], row["page_no"]) for row in store_db.box_pages(database, box)
            if (row["doc_id"], row["page_no"]) not in covered]


def box_pipeline(database, box: str) -> str:
    docs = [d for d in store_db.documents_in_boxes(database, [box])
            if d["state"] not in (store_db.SUPERSEDED, store_db.DUPLICATE)]
    names = Counter(d["pipeline"] for d in docs)
    return names.most_common(1)[0][0] if names else "default"


def draw(database, box: str, policy: QaPolicy, pipeline: str, actor: str,
         seed: int | None = None) -> dict[str, Any] | None:
    """Draw the sample for the box's pages not yet covered; None when there are none."""
    population = uncovered_pages(database, box)
    if not population:
        return None
    level, _ = inspection(database, pipeline, policy)
    rule = rule_for(policy, level)
    seed = secrets.randbelow(2**63) if seed is None else seed
    size = sample_size(len(population), rule["rate"], rule["minimum"])
    pages = draw_pages(population, seed, size)
    sample = {"box": box, "pipeline": pipeline, "seed": seed, "rule": rule,
              "population": [list(p) for p in population], "pages": [list(p) for p in pages]}
    sample["id"] = store_db.insert_qa_sample(database, actor, sample)
    log.info("box %s: QA sample drawn (%s inspection): %d of %d pages", box, level, size,
             len(population))
    return sample


def box_complete(database, box: str) -> bool:
    """Every record of the box is stored (or declared not a record, or its paper pulled)."""
    docs = [d for d in store_db.documents_in_boxes(database, [box])
            if d["state"] not in (store_db.SUPERSEDED, store_db.DUPLICATE)]
    return bool(docs) and all(
        d["state"] in (store_db.STORED, store_db.NOT_A_RECORD)
        or (d["paper_status"] or "in_box") != "in_box" for d in docs)


def draw_when_complete(home: Home, database, doc_ids: list[str], actor: str) -> None:
    """After records are stored: draw the sample of each of their boxes now complete.
    Never raises (the store must go on); a box left undrawn says so in `s4 paper status`."""
    boxes = {doc["box"] for doc_id in doc_ids
             if (doc := store_db.get_document(database, doc_id)) and doc["box"]}
    for box in sorted(boxes):
        try:
            if box_complete(database, box) and uncovered_pages(database, box):
                pipeline = box_pipeline(database, box)
                draw(database, box, home.pipeline(pipeline).qa, pipeline, actor)
        except Exception:  # a pipeline file error, a locked database: drawn on demand later
            log.exception("box %s: QA sample not drawn now (run `s4 qa list --box %s`)",
                          box, box)


# --------------------------------------------------------------------------- status


def _current_page(database, doc_id: str, page_no: int) -> PageKey | None:
    """A sampled page of a record rescanned since is that page of its replacement."""
    doc = store_db.get_document(database, doc_id)
    while doc is not None and doc["state"] == store_db.SUPERSEDED and doc["superseded_by"]:
        doc = store_db.get_document(database, doc["superseded_by"])
    if doc is None or not store_db.page_exists(database, doc["id"], page_no):
        return None
    return doc["id"], page_no


def _in_box(database, doc_id: str) -> bool:
    """Pulled or destroyed paper no longer waits for the box's release."""
    doc = store_db.get_document(database, doc_id)
    return doc is not None and (doc["paper_status"] or "in_box") == "in_box"


@dataclass
class PageToCheck:
    """A page a person must look at: sampled, flagged, or both."""

    doc_id: str
    page_no: int
    box: str | None
    sampled: bool = False
    flags: list[dict[str, str]] = field(default_factory=list)
    verdict: dict[str, Any] | None = None  # the latest, if any

    @property
    def result(self) -> str | None:
        return self.verdict["result"] if self.verdict else None


@dataclass
class BoxQa:
    box: str
    samples: list[dict[str, Any]]
    pages: list[PageToCheck]  # sampled and flagged pages, with their latest verdicts
    uncovered: list[PageKey]  # pages no draw covers yet

    @property
    def sampled(self) -> list[PageToCheck]:
        return [p for p in self.pages if p.sampled]

    def unchecked_sampled(self) -> list[PageToCheck]:
        return [p for p in self.sampled if p.result is None]


def box_qa(database, box: str) -> BoxQa:
    samples = store_db.qa_samples(database, box=box)
    pages: dict[PageKey, PageToCheck] = {}
    for sample in samples:
        for doc_id, page_no in sample["pages"]:
            key = _current_page(database, doc_id, page_no)
            if key is not None and _in_box(database, key[0]):
                pages.setdefault(key, PageToCheck(key[0], key[1], box)).sampled = True
    passed_docs = set()
    for row in store_db.flagged_pages_in_boxes(database, [box]):
        key = (row["doc_id"], row["page_no"])
        pages.setdefault(key, PageToCheck(key[0], key[1], box)).flags = row["flags"] or [
            {"check": "low_confidence", "reason": "flagged before reasons were recorded"}]
        if row["qa_status"] == PASSED:
            passed_docs.add(row["doc_id"])
    verdicts = store_db.qa_verdicts(database, sorted({doc for doc, _ in pages}))
    for key, page in pages.items():
        page.verdict = verdicts.get(key)
        if page.verdict is None and page.flags and not page.sampled and \
                key[0] in passed_docs:  # `s4 paper qa DOC --pass` passes its flagged pages
            page.verdict = {"result": PASSED, "reason": "document passed QA", "actor": None,
                            "at": None}
    ordered = sorted(pages.values(), key=lambda p: (p.doc_id, p.page_no))
    return BoxQa(box, samples, ordered, uncovered_pages(database, box))


def document_blockers(qa: BoxQa, doc: dict[str, Any]) -> list[str]:
    """What the box's QA still asks of this record before its paper may go."""
    blockers = []
    mine = [p for p in qa.pages if p.doc_id == doc["id"]]
    for page in mine:
        if page.result == FAILED:
            blockers.append(f"page {page.page_no} failed QA ({page.verdict['reason']}): rescan "
                            f"it (`s4 rescan {doc['id']} FILE --reason …`)")
    unchecked = qa.unchecked_sampled()
    my_unchecked = [p.page_no for p in unchecked if p.doc_id == doc["id"]]
    if my_unchecked:
        blockers.append(f"QA sample: {len(unchecked)} of {len(qa.sampled)} pages of box "
                        f"{qa.box} not yet checked, pages {_numbers(my_unchecked)} of this "
                        f"record (`s4 qa list --box {qa.box}`)")
    uncovered = [page for d, page in qa.uncovered if d == doc["id"]]
    if uncovered:
        if qa.samples:
            blockers.append(f"QA sample: pages {_numbers(uncovered)} joined box {qa.box} after "
                            f"its sample was drawn (`s4 qa list --box {qa.box}` draws for them)")
        else:
            blockers.append(f"QA sample of box {qa.box} not drawn yet "
                            f"(`s4 qa list --box {qa.box}` draws it)")
    return blockers


def flagged_unpassed(qa: BoxQa, doc: dict[str, Any]) -> list[int] | None:
    """Flagged pages of this record no person has passed; None when S4 has no page rows
    for it (then the record's ``flagged_pages`` stands)."""
    if not any(p.doc_id == doc["id"] for p in qa.pages):
        return None
    return [p.page_no for p in qa.pages
            if p.doc_id == doc["id"] and p.flags and p.result != PASSED]


def _numbers(numbers: list[int]) -> str:
    return ", ".join(map(str, numbers))


def certificate_section(database, boxes: list[str]) -> list[dict[str, Any]]:
    """The QA behind each box's release, for the disposal certificate."""
    section = []
    for box in boxes:
        qa = box_qa(database, box)
        section.append({
            "box": box,
            "samples": [{"drawn_at": s["drawn_at"], "drawn_by": s["drawn_by"],
                         "seed": s["seed"], "rule": s["rule"],
                         "population_pages": len(s["population"]), "pages": s["pages"]}
                        for s in qa.samples],
            "pages_checked": [{"s4_id": p.doc_id, "page": p.page_no, "sampled": p.sampled,
                               "flags": [f["check"] for f in p.flags], "result": p.result,
                               "by": (p.verdict or {}).get("actor"),
                               "at": (p.verdict or {}).get("at"),
                               "reason": (p.verdict or {}).get("reason")}
                              for p in qa.pages],
        })
    return section
