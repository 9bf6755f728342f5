"""Capture as a scanning room works: sheets, separation, blank backs, chain of custody.

Stacks are made by samples/make_stacks.py (real rendered documents, S4's own printed sheets
degraded and skewed like scans), then run through the real line: OCR workers, SQLite.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import sys
from pathlib import Path

import pikepdf
import pytest

from s4 import db as store_db
from s4 import sheets
from tests.conftest import run_s4

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "samples"))
import make_stacks

DPI = 150


def _pipeline(home, separation: str, blank_pages: str) -> None:
    path = home.pipelines / "default.yaml"
    text = path.read_text()
    path.write_text(text + f"\ncapture:\n  separation: {separation}\n"
                    f"  blank_pages: {blank_pages}\n")


@pytest.fixture(scope="module")
def stacks(tmp_path_factory) -> dict:
    """A box cover, a duplex document with its blank back, an upside-down separator, a
    document, a PATCH T sheet turned 90°, a document; and a file with no separator."""
    out = tmp_path_factory.mktemp("stacks")
    made = make_stacks._one_page_documents(4, seed=3)
    truth = {
        "sheet": make_stacks.make_stack(
            out, "stack_sheets", [("box", "BOX-A7"), ("doc", True), ("sep", 180),
                                  ("doc", False), ("patcht", 90), ("doc", False)],
            DPI, 3, made[:3]),
        "none": make_stacks.make_stack(out, "stack_plain", [("doc", False)], DPI, 3,
                                       made[3:]),
    }
    return {"folder": out, "truth": truth}


# ----------------------------------------------------------------------------- sheets


def test_printed_sheets_carry_codes_that_read_back_after_rendering_small(tmp_path):
    (tmp_path / "sep.pdf").write_bytes(sheets.separator_sheets(2))
    (tmp_path / "box.pdf").write_bytes(sheets.box_sheets("BOX-0042"))
    separators = sheets.look_at_pages(tmp_path / "sep.pdf", 100, read_codes=True)
    box = sheets.look_at_pages(tmp_path / "box.pdf", 100, read_codes=True)
    assert [look.mark for look in separators] == [("separator", None)] * 2
    assert [look.mark for look in box] == [("box", "BOX-0042")]


def test_s4_sheets_commands_write_pdfs_and_refuse_a_bad_box_id(home, tmp_path):
    code, output = run_s4(home, "sheets", "box", "BOX-9", "--count", "3",
                          "-o", str(tmp_path / "b.pdf"))
    assert code == 0, output
    with pikepdf.open(tmp_path / "b.pdf") as pdf:
        assert len(pdf.pages) == 3
    code, output = run_s4(home, "sheets", "box", "box 9!", "-o", str(tmp_path / "x.pdf"))
    assert code == 2 and "box id" in output and not (tmp_path / "x.pdf").exists()


def test_the_plan_of_a_degraded_stack_finds_every_sheet_and_blank_back(stacks):
    truth = stacks["truth"]["sheet"]
    looks = sheets.look_at_pages(stacks["folder"] / truth["file"], 100, read_codes=True)
    plan = sheets.plan_split(looks, "sheet", "drop", 0.25)
    assert [d.pages for d in plan.documents] == [r["scan_pages"] for r in truth["records"]]
    assert [d.box for d in plan.documents] == ["BOX-A7"] * 3
    assert plan.dropped == truth["dropped"]
    # Each dropped page is charged to one record: the sheet before it, its own blank back.
    assert [[e["page"] for e in d.dropped] for d in plan.documents] == [[1, 3], [4], [6]]


def test_blank_separation_splits_at_a_blank_page_and_keep_keeps_blank_backs(stacks):
    truth = stacks["truth"]["sheet"]
    looks = sheets.look_at_pages(stacks["folder"] / truth["file"], 100, read_codes=False)
    by_blank = sheets.plan_split(looks, "blank", "keep", 0.25)
    # Without reading codes the sheets are content; the blank back (page 3) is the break.
    assert [d.pages for d in by_blank.documents] == [[1, 2], [4, 5, 6, 7]]
    kept = sheets.plan_split(looks, "file", "keep", 0.25)
    assert [d.pages for d in kept.documents] == [[1, 2, 3, 4, 5, 6, 7]] and kept.is_whole_file


def test_a_rescan_is_never_split_and_says_so(stacks):
    truth = stacks["truth"]["sheet"]
    looks = sheets.look_at_pages(stacks["folder"] / truth["file"], 100, read_codes=True)
    plan = sheets.plan_split(looks, "sheet", "drop", 0.25, single=True)
    assert [d.pages for d in plan.documents] == [[2, 5, 7]]
    assert "re-scan" in plan.warnings[0]


# ----------------------------------------------------------------------------- the line


def test_a_stack_becomes_one_record_per_document_with_its_chain_of_custody(home, stacks,
                                                                            tmp_path):
    _pipeline(home, "sheet", "drop")
    truth = stacks["truth"]["sheet"]
    scan = stacks["folder"] / truth["file"]
    code, output = run_s4(home, "run", "--batch", "b1", "--box", "BATCH-BOX", str(scan))
    assert code == 0, output
    db = store_db.connect(home.database)
    stack = next(d for d in store_db.documents(db) if d["stack_id"] is None)
    children = store_db.documents_of_stack(db, stack["id"])
    # The stack: kept exactly as received, split, never a paper record.
    assert stack["state"] == store_db.SPLIT
    assert stack["sha256"] == hashlib.sha256(scan.read_bytes()).hexdigest()
    assert Path(stack["original_path"]).read_bytes() == scan.read_bytes()
    assert stack["id"] not in {d["id"] for d in store_db.documents_in_boxes(db, ["BATCH-BOX"])}
    assert "BATCH-BOX" not in store_db.known_boxes(db)
    # Its documents: the right pages, the box from the cover sheet, in stack order.
    assert [c["scan_pages"] for c in children] == ["2", "5", "7"]
    assert [c["box"] for c in children] == ["BOX-A7"] * 3
    assert [c["position"] for c in children] == sorted(c["position"] for c in children)
    assert all(c["state"] in store_db.OCR_DONE_STATES and c["pages"] == 1 for c in children)
    assert {c["source_sha256"] for c in children} == {stack["sha256"]}
    assert json.loads(children[0]["dropped_pages"]) == [
        {"page": 1, "reason": "box cover sheet (BOX-A7)"}, {"page": 3, "reason": "blank page"}]
    # A separator is never in a record: no record's text carries the sheet's words.
    for child in children:
        assert "SEPARATOR" not in store_db.document_text(db, child["id"]).upper()
    # s4 show and the export tell the chain of custody.
    code, shown = run_s4(home, "show", children[1]["id"])
    assert code == 0 and "scan_pages" in shown and "4: separator sheet" in shown
    assert stack["source_name"] in shown
    code, shown = run_s4(home, "show", stack["id"])
    assert all(c["id"] in shown for c in children) and "split" in shown
    export = tmp_path / "docs.csv"
    code, output = run_s4(home, "export", "documents", "--format", "csv", "-o", str(export))
    assert code == 0, output
    rows = {r["id"]: r for r in csv.DictReader(io.StringIO(export.read_text()))}
    assert rows[children[0]["id"]]["dropped_pages"] == \
        "1: box cover sheet (BOX-A7); 3: blank page"
    assert rows[children[2]["id"]]["source_file"] == scan.name
    assert rows[children[2]["id"]]["scan_pages"] == "7"

    # Retrying a split stack is refused (it is not quarantined); rescan one document only.
    code, output = run_s4(home, "rescan", stack["id"], str(scan), "--reason", "x")
    assert code == 2 and "split" in output
    rescan_file = tmp_path / "again.pdf"
    make_stacks.make_stack(tmp_path, "again", [("sep", 0), ("doc", False)], DPI, 99)
    code, output = run_s4(home, "rescan", children[1]["id"], str(rescan_file),
                          "--reason", "page was creased")
    assert code == 0, output
    db = store_db.connect(home.database)
    old = store_db.get_document(db, children[1]["id"])
    assert old["state"] == store_db.SUPERSEDED
    new = store_db.get_document(db, old["superseded_by"])
    assert new["position"] == children[1]["position"] and new["box"] == "BOX-A7"
    assert new["scan_pages"] == "2" and "separator sheet" in new["dropped_pages"]
    for other in (children[0], children[2]):  # the rest of the stack is untouched
        assert store_db.get_document(db, other["id"])["state"] == other["state"]


def test_a_file_with_no_separator_is_one_record_with_a_warning(home, stacks):
    _pipeline(home, "sheet", "keep")
    scan = stacks["folder"] / stacks["truth"]["none"]["file"]
    code, output = run_s4(home, "run", "--batch", "b2", str(scan))
    assert code == 0, output
    db = store_db.connect(home.database)
    [doc] = store_db.documents(db)
    assert doc["state"] in store_db.OCR_DONE_STATES and doc["stack_id"] is None
    assert "no separator sheet" in doc["capture_warning"]
    assert doc["scan_pages"] == "1"
    assert any("no separator sheet" in json.dumps(e["details"])
               for e in store_db.events_for(db, doc["id"]))
    code, shown = run_s4(home, "show", doc["id"])
    assert "no separator sheet" in shown


def test_a_stack_of_nothing_but_sheets_is_quarantined_with_a_reason(home, tmp_path):
    _pipeline(home, "sheet", "drop")
    make_stacks.make_stack(tmp_path, "empty", [("sep", 0), ("blank",)], DPI, 5, [])
    code, _output = run_s4(home, "run", "--batch", "b3", str(tmp_path / "empty.pdf"))
    assert code == 1
    db = store_db.connect(home.database)
    [doc] = store_db.documents(db)
    assert doc["state"] == store_db.QUARANTINED
    assert "1: separator sheet; 2: blank page" in doc["quarantine_reason"]


def test_a_stack_document_already_on_record_is_a_duplicate_as_ever(home, stacks, tmp_path):
    """A second stack holding a document of the first (the same scanned pages) makes that
    document a duplicate of the record already made, and only the new one is OCRed."""
    _pipeline(home, "sheet", "drop")
    first = stacks["folder"] / stacks["truth"]["sheet"]["file"]
    code, output = run_s4(home, "run", "--batch", "b1", str(first))
    assert code == 0, output
    second = tmp_path / "second-stack.pdf"
    plain = stacks["folder"] / stacks["truth"]["none"]["file"]
    with pikepdf.open(first) as one, pikepdf.open(plain) as other, pikepdf.new() as out:
        out.pages.extend([*one.pages[:4], other.pages[0]])  # cover, doc 1 + back, separator
        out.save(second)
    code, output = run_s4(home, "run", "--batch", "b2", str(second))
    assert code == 0, output
    db = store_db.connect(home.database)
    stacks_made = [d for d in store_db.documents(db) if d["state"] == store_db.SPLIT]
    assert len(stacks_made) == 2
    earlier = store_db.documents_of_stack(db, stacks_made[0]["id"])
    again, new = store_db.documents_of_stack(db, stacks_made[1]["id"])
    assert again["state"] == store_db.DUPLICATE and again["duplicate_of"] == earlier[0]["id"]
    assert again["scan_pages"] == "2" and again["source_file"] == second.name
    assert new["state"] in store_db.OCR_DONE_STATES and new["scan_pages"] == "5"


def test_retrying_a_quarantined_stack_splits_it(home, stacks):
    _pipeline(home, "sheet", "drop")
    scan = stacks["folder"] / stacks["truth"]["sheet"]["file"]
    settings = home.settings_file.read_text()
    assert "max_file_megabytes = 500.0" in settings
    home.settings_file.write_text(settings.replace("max_file_megabytes = 500.0",
                                                   "max_file_megabytes = 0.001"))
    code, output = run_s4(home, "run", "--batch", "b1", str(scan))
    assert code == 1, output
    db = store_db.connect(home.database)
    [stack] = store_db.documents(db)
    assert stack["state"] == store_db.QUARANTINED and "max_file_megabytes" in \
        stack["quarantine_reason"]
    home.settings_file.write_text(settings)  # the limit put right
    code, output = run_s4(home, "retry", stack["id"])
    assert code == 0, output
    db = store_db.connect(home.database)
    assert store_db.get_document(db, stack["id"])["state"] == store_db.SPLIT
    children = store_db.documents_of_stack(db, stack["id"])
    assert [c["scan_pages"] for c in children] == ["2", "5", "7"]
    assert all(c["state"] in store_db.OCR_DONE_STATES for c in children)
