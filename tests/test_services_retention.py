"""The retention and hold services, called directly (no command line): schedule checks,
events, the disposition report, re-applying a schedule, and holds with their refusals."""

from __future__ import annotations

from datetime import date

import pytest

from s4 import db as store_db
from s4.config import ConfigError
from s4.context import HomeContext
from s4.errors import NotFound, UsageProblem
from s4.services import retention
from tests.test_services_review import CLEAR, MANAGER, _classified


@pytest.fixture
def ctx(home):
    with HomeContext.open(home, MANAGER) as opened:
        yield opened


def test_check_lists_every_class_and_names_the_line_of_a_bad_schedule(home, tmp_path):
    result = retention.check(home)
    assert result.ok and [c.path.name for c in result.checked] == ["uk-local-government.yaml"]
    rows = {row.class_id: row for row in result.checked[0].rows}
    assert (rows["council-tax"].rule_id, rows["council-tax"].trigger) == ("CT-01", "FY end")
    bad = tmp_path / "bad.yaml"
    bad.write_text((home.retention_rules / "uk-local-government.yaml").read_text()
                   .replace("period: 6y", "period: six years", 1))
    broken = retention.check(None, bad)
    assert not broken.ok and broken.checked == []
    assert broken.errors[0].startswith(f"{bad}:") and "period" in broken.errors[0]
    for schedule in home.retention_rules.glob("*.yaml"):
        schedule.unlink()
    with pytest.raises(UsageProblem, match="no schedules in"):
        retention.check(home)


def test_the_due_report_lists_a_held_record_as_blocked_never_as_due(ctx):
    doc_id = _classified(ctx, CLEAR)  # council tax, 2021: destroy 6 years after 31/03/2021
    report = retention.due(ctx, date(2100, 1, 1))
    assert [(r["id"], r["status"]) for r in report.rows] == [(doc_id, "due")]
    assert (report.due, report.held) == (1, 0)
    assert retention.due(ctx, date(2027, 3, 30)).rows == []
    hold = retention.place_hold(ctx, "ICO appeal", "doc", doc_id.lower())
    assert hold["documents"] == [doc_id] and hold["placed_by"] == MANAGER
    report = retention.due(ctx, date(2100, 1, 1))
    assert [(r["id"], r["status"], r["holds"]) for r in report.rows] == [
        (doc_id, "blocked", [hold["id"]])]
    assert (report.due, report.held) == (0, 1)


def test_holds_are_listed_with_what_they_cover_and_lifted_once(ctx):
    doc_id = _classified(ctx, CLEAR)
    placed = retention.place_hold(ctx, "Tribunal claim", "reference", "ct-40012345")
    assert placed["documents"] == [doc_id]
    (row,) = retention.holds(ctx)
    assert (row.hold["id"], row.covers) == (placed["id"], 1)
    lifted = retention.lift_hold(ctx.acting_as("Head of RM"), placed["id"].lower(),
                                 "claim withdrawn")
    assert lifted["lifted_by"] == "Head of RM"
    assert retention.holds(ctx) == []
    (row,) = retention.holds(ctx, include_lifted=True)
    assert row.covers is None and row.hold["lift_reason"] == "claim withdrawn"
    with pytest.raises(UsageProblem, match="already lifted"):
        retention.lift_hold(ctx, placed["id"], "again")
    with pytest.raises(NotFound, match="no hold H9999"):
        retention.lift_hold(ctx, "H9999", "never placed")


def test_a_hold_on_something_that_does_not_exist_is_refused(ctx):
    with pytest.raises(UsageProblem, match="no record class 'no-such-class'"):
        retention.place_hold(ctx, "inquiry", "class", "no-such-class")
    with pytest.raises(NotFound, match="no document D009999"):
        retention.place_hold(ctx, "request", "doc", "D009999")
    assert retention.holds(ctx, include_lifted=True) == []


def test_an_event_nobody_waits_for_is_refused_naming_the_known_ones(ctx):
    with pytest.raises(UsageProblem, match=r"no record class waits for a 'case_shut'.*"
                                          r"employment_ended"):
        retention.record_event(ctx, "case_shut", "EMP1", date(2022, 8, 31))
    outcome = retention.record_event(ctx, "employment_ended", "EMP004512", date(2022, 8, 31))
    assert outcome.event["reference"] == "EMP004512" and outcome.decisions == {}


def test_apply_recomputes_under_each_records_schedule_and_refuses_a_lost_class(ctx, home):
    kept, lost = _classified(ctx, CLEAR), _classified(ctx, CLEAR.replace("401", "402"))
    store_db.update_document(ctx.db, lost, "tester", "test.reclassed",
                             record_class="retired-class")
    outcome = retention.apply(ctx)
    assert outcome.schedules == {"uk-local-government": (
        ctx.schedule("uk-local-government").version, 2)}
    assert outcome.moved == [] and outcome.changed == []  # nothing about `kept` moved
    assert [(r.subject, "not in schedule" in r.reason) for r in outcome.refused] == [
        (lost, True)]
    assert store_db.get_document(ctx.db, kept)["rule_id"] == "CT-01"
    with pytest.raises(ConfigError, match="no-such-schedule"):
        retention.apply(ctx, "no-such-schedule")


def test_a_record_whose_pipeline_file_is_gone_stays_under_the_default_schedule(ctx, home):
    doc_id = _classified(ctx, CLEAR)
    store_db.update_document(ctx.db, doc_id, "tester", "test.repiped", pipeline="retired")
    doc = store_db.get_document(ctx.db, doc_id)
    assert ctx.schedule_name_for(doc) == "uk-local-government"
    assert retention.apply(ctx).schedules["uk-local-government"][1] == 1
