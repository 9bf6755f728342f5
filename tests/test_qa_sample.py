"""The QA sample that releases a box: seeded and redrawable, tightened after a failure and
back to normal after enough passes, and a box refused until its sample has passed."""

from __future__ import annotations

import json
from pathlib import Path

from s4 import db as store_db
from s4 import qa
from s4.config import QaPolicy
from s4.context import HomeContext
from s4.services import qa as qa_service
from tests.conftest import run_s4
from tests.test_disposal import _destroy, _stored_doc


def _with_pages(database, doc_id: str, count: int, flagged: dict[int, str] | None = None):
    """Give a seeded record real page rows (as OCR leaves them)."""
    flagged = flagged or {}
    pages = [{"page_no": n, "confidence": 90.0, "words": 50, "rotation": 0, "ocr_skipped": 0,
              "flagged": 1 if n in flagged else 0, "text": f"page {n}",
              "flags": [{"check": flagged[n], "reason": "made for the test"}]
              if n in flagged else []} for n in range(1, count + 1)]
    store_db.record_ocr_result(database, doc_id, "tester", pages, {
        "pages": count, "flagged_pages": ",".join(map(str, sorted(flagged))) or None}, {})


def _box(home, database, box: str, pages: int = 6, docs: int = 2) -> list[str]:
    ids = []
    for _ in range(docs):
        doc_id = _stored_doc(home, database, box, "complaint")
        _with_pages(database, doc_id, pages)
        ids.append(doc_id)
    return ids


def _ctx(home, database, actor: str = "Q. Checker") -> HomeContext:
    return HomeContext(home, database, home.settings(), actor)


def test_the_same_seed_draws_the_same_sample_and_the_draw_is_recorded(home, database):
    _box(home, database, "box-s", pages=10, docs=3)  # 30 pages: 10 % is 3, at least 5
    sample = qa.draw(database, "box-s", QaPolicy(), "default", "tester")
    (stored,) = store_db.qa_samples(database, box="box-s")
    population = [tuple(p) for p in stored["population"]]
    assert len(population) == 30 and len(stored["pages"]) == 5
    assert stored["rule"]["level"] == "normal" and stored["rule"]["minimum"] == 5
    # an auditor with the recorded list and seed draws exactly the recorded pages
    assert qa.draw_pages(population, stored["seed"], 5) == [tuple(p) for p in stored["pages"]]
    assert qa.draw_pages(population, stored["seed"], 5) == \
        qa.draw_pages(population, stored["seed"], 5)
    others = {tuple(qa.draw_pages(population, seed, 5)) for seed in range(20)}
    assert len(others) > 1  # the seed, not the list, decides which pages
    (event,) = store_db.events_with_action(database, "qa.sample_drawn", "box:box-s")
    details = json.loads(event["details"])
    assert details["seed"] == sample["seed"] and details["pages"] == stored["pages"]
    # nothing new in the box: a second draw covers nothing
    assert qa.draw(database, "box-s", QaPolicy(), "default", "tester") is None


def test_a_box_is_refused_until_its_sample_passes_and_the_certificate_lists_the_qa(
        home, database):
    _box(home, database, "box-q", pages=4, docs=2)  # 8 pages: the minimum 5 are sampled
    code, output = _destroy(home, "box-q")
    assert code == 1 and "QA sample of box box-q not drawn yet" in output
    code, output = run_s4(home, "qa", "list", "--box", "box-q")
    assert code == 0 and "5 of 8 pages" in output, output
    code, output = _destroy(home, "box-q")
    assert code == 1 and "QA sample: 5 of 5 pages of box box-q not yet checked" in output
    sampled = [(p.doc_id, p.page_no) for p in qa_service.queue(_ctx(home, database), "box-q")]
    assert len(sampled) == 5
    for doc_id, page in sampled[:-1]:
        assert run_s4(home, "qa", "pass", doc_id, str(page), "--reason", "matches paper",
                      "--as", "Q. Checker")[0] == 0
    code, output = _destroy(home, "box-q")
    assert code == 1 and "QA sample: 1 of 5 pages" in output
    doc_id, page = sampled[-1]
    assert run_s4(home, "qa", "pass", doc_id, str(page), "--reason", "matches paper",
                  "--as", "Q. Checker")[0] == 0
    assert qa_service.queue(_ctx(home, database), "box-q") == []
    code, output = _destroy(home, "box-q")
    assert code == 0, output
    (record,) = store_db.destructions(database)
    certificate = json.loads(Path(record["json_path"]).read_text())
    (box_qa,) = certificate["qa"]
    (sample,) = box_qa["samples"]
    assert sample["rule"]["rate"] == 0.1 and sample["population_pages"] == 8
    assert sorted(map(tuple, sample["pages"])) == sorted(sampled)
    assert {(p["s4_id"], p["page"], p["result"], p["by"]) for p in box_qa["pages_checked"]} \
        == {(d, n, "passed", "Q. Checker") for d, n in sampled}
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(record["pdf_path"])
    text = "".join(page.get_textpage().get_text_bounded() for page in pdf)
    assert "Quality assurance before destruction" in text and str(sample["seed"]) in text
    assert run_s4(home, "audit", "verify")[0] == 0


def test_a_failed_page_sends_its_document_to_rescan_and_tightens_the_next_boxes(
        home, database):
    ctx = _ctx(home, database)
    policy = QaPolicy(passes_to_normal=2)

    def draw_and_pass(box: str) -> dict:
        _box(home, database, box, pages=12, docs=1)
        sample = qa.draw(database, box, policy, "default", "tester")
        for doc_id, page in sample["pages"]:
            qa_service.verdict(ctx, doc_id, page, True, "fine")
        return sample

    _box(home, database, "box-1", pages=12, docs=1)
    first = qa.draw(database, "box-1", policy, "default", "tester")
    assert first["rule"]["level"] == "normal" and len(first["pages"]) == 5
    doc_id, page = first["pages"][0]
    code, output = run_s4(home, "qa", "fail", doc_id, str(page), "--reason", "text cut off")
    assert code == 1 and "rescan the document" in output
    code, output = _destroy(home, "box-1")
    assert code == 1 and f"page {page} failed QA (text cut off): rescan it" in output
    second = draw_and_pass("box-2")
    assert second["rule"]["level"] == "tightened"
    assert second["rule"]["rate"] == 0.2 and len(second["pages"]) == 10
    third = draw_and_pass("box-3")
    assert third["rule"]["level"] == "tightened"  # one pass in a row is not enough
    fourth = draw_and_pass("box-4")
    assert fourth["rule"]["level"] == "normal" and len(fourth["pages"]) == 5


def test_passing_the_document_passes_its_flagged_pages_but_not_its_sample(home, database):
    ctx = _ctx(home, database)
    doc_id = _stored_doc(home, database, "box-f", "complaint")
    _with_pages(database, doc_id, 8, flagged={7: "skew"})
    sample = qa.draw(database, "box-f", QaPolicy(sample_minimum=1, sample_rate=0), "default",
                     "tester")
    waiting = {(p.page_no, p.sampled, bool(p.flags)) for p in qa_service.queue(ctx, "box-f")}
    (sampled_page,) = [page for _, page in sample["pages"]]
    assert (7, sampled_page == 7, True) in waiting
    code, output = _destroy(home, "box-f")
    assert code == 1 and "flagged pages 7 not yet checked" in output
    assert run_s4(home, "paper", "qa", doc_id, "--pass", "--reason", "looked at it")[0] == 0
    left = [(p.page_no, p.sampled) for p in qa_service.queue(ctx, "box-f")]
    if sampled_page != 7:
        assert left == [(sampled_page, True)]  # the sample still needs its own verdict
    code, output = _destroy(home, "box-f")
    assert code == 1 and "flagged pages" not in output and "QA sample: 1 of 1" in output


def test_a_page_verdict_needs_a_real_page(home, database):
    (doc_id, _) = _box(home, database, "box-v", pages=2, docs=2)
    code, output = run_s4(home, "qa", "pass", doc_id, "9", "--reason", "x")
    assert code == 2 and "has no page 9" in output
    assert not store_db.events_with_action(database, "qa.page_passed")
