"""Retention: date arithmetic (property tests), decisions, events, holds, the disposition
report, schedule changes, and the ``s4 retention`` / ``s4 hold`` commands."""

from __future__ import annotations

import calendar
import csv
import hashlib
import io
import json
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s4 import db as store_db
from s4 import retention as rt
from s4.cli import cli
from s4.cli.retention import hold as hold_group
from s4.cli.retention import retention as retention_group
from s4.schedule import load_schedule, schedule_for
from tests.conftest import run_s4

if "retention" not in cli.commands:  # until cli.py registers them
    cli.add_command(retention_group)
if "hold" not in cli.commands:
    cli.add_command(hold_group)

SCHEDULE = "uk-local-government"
dates = st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 12, 31))
years = st.integers(min_value=0, max_value=150)
months = st.integers(min_value=0, max_value=1200)


# --------------------------------------------------------------------------- date arithmetic


@given(dates, years, months)
def test_add_period_is_a_valid_date_the_right_number_of_months_on(d, y, m):
    result = rt.add_period(d, y, m)
    assert (result.year * 12 + result.month) - (d.year * 12 + d.month) == y * 12 + m
    last_day = calendar.monthrange(result.year, result.month)[1]
    assert result.day == min(d.day, last_day)  # clamped to the month end, never rolled over


@given(dates, dates, years, months)
def test_add_period_is_monotonic(a, b, y, m):
    early, late = min(a, b), max(a, b)
    assert rt.add_period(early, y, m) <= rt.add_period(late, y, m)


@given(dates, years)
def test_adding_years_keeps_month_and_day_except_29_february(d, y):
    result = rt.add_period(d, y, 0)
    if (d.month, d.day) == (2, 29) and not calendar.isleap(d.year + y):
        assert (result.month, result.day) == (2, 28)
    else:
        assert (result.month, result.day) == (d.month, d.day)
    assert result.year == d.year + y


@given(dates, st.integers(min_value=0, max_value=150))
def test_twelve_months_is_one_year(d, y):
    assert rt.add_period(d, 0, 12 * y) == rt.add_period(d, y, 0)


@given(dates)
def test_financial_year_end_is_the_31_march_on_or_after(d):
    end = rt.financial_year_end(d)
    assert (end.month, end.day) == (3, 31)
    assert d <= end < rt.add_period(d, 1, 0)
    assert rt.financial_year_end(end) == end


@given(dates)
def test_calendar_year_end(d):
    end = rt.calendar_year_end(d)
    assert end == date(d.year, 12, 31) and end >= d


@given(dates)
def test_typed_dates_round_trip_day_first(d):
    assert rt.parse_date(d.isoformat()) == d
    assert rt.parse_date(f"{d.day:02d}/{d.month:02d}/{d.year}") == d
    assert rt.parse_date(f"{d.day} {calendar.month_name[d.month]} {d.year}") == d
    assert rt.parse_date(f"{d.day} {calendar.month_abbr[d.month]} {d.year}") == d


def test_month_end_examples():
    assert rt.add_period(date(2021, 1, 31), 0, 1) == date(2021, 2, 28)
    assert rt.add_period(date(2024, 1, 31), 0, 1) == date(2024, 2, 29)
    assert rt.add_period(date(2020, 2, 29), 1, 0) == date(2021, 2, 28)
    assert rt.add_period(date(2020, 2, 29), 4, 0) == date(2024, 2, 29)
    assert rt.financial_year_end(date(2021, 3, 31)) == date(2021, 3, 31)
    assert rt.financial_year_end(date(2021, 4, 1)) == date(2022, 3, 31)
    assert rt.financial_year_end(date(2021, 4, 5), "04-05") == date(2021, 4, 5)


@pytest.mark.parametrize("text", ["03/31/2021", "31/03/21", "2021-02-30", "31 Marchember 2021",
                                  "next tuesday", "31.13.2021", ""])
def test_ambiguous_or_junk_dates_are_refused(text):
    with pytest.raises(ValueError, match=r"day first|not a|year in full|no month"):
        rt.parse_date(text)


def test_month_first_gets_a_helpful_message():
    with pytest.raises(ValueError, match="there is no month 31; dates are day first"):
        rt.parse_date("03/31/2021")


# --------------------------------------------------------------------------- decide()


@pytest.fixture(scope="module")
def schedule():
    from s4.home import shipped_folder

    return load_schedule(shipped_folder("retention_rules") / f"{SCHEDULE}.yaml")


def test_council_tax_bill_counts_from_the_financial_year_end(schedule):
    decision = rt.decide(schedule.get("council-tax"), schedule, date(2021, 3, 3), {})
    assert decision.status == rt.SCHEDULED
    assert decision.trigger_date == date(2021, 3, 31)
    assert decision.disposal_due == date(2027, 3, 31)
    assert (decision.action, decision.rule_id) == ("destroy", "CT-01")
    assert decision.schedule_version == schedule.version
    assert "Limitation Act 1980" in decision.authority


def test_a_bill_dated_in_april_falls_in_the_next_financial_year(schedule):
    decision = rt.decide(schedule.get("business-rates"), schedule, date(2021, 4, 1), {})
    assert decision.trigger_date == date(2022, 3, 31)
    assert decision.disposal_due == date(2028, 3, 31)


def test_event_trigger_waits_for_its_event(schedule):
    hr = schedule.get("hr-personnel")
    waiting = rt.decide(hr, schedule, date(2015, 6, 1), {})
    assert waiting.status == rt.AWAITING_EVENT and waiting.disposal_due is None
    assert "employment_ended" in waiting.explanation
    other = rt.decide(hr, schedule, date(2015, 6, 1), {"case_closed": date(2020, 1, 1)})
    assert other.status == rt.AWAITING_EVENT
    left = rt.decide(hr, schedule, None, {"employment_ended": date(2022, 8, 31)})
    assert left.trigger_date == date(2022, 8, 31)
    assert left.disposal_due == date(2028, 8, 31)


def test_looked_after_child_counts_from_date_of_birth(schedule):
    decision = rt.decide(schedule.get("looked-after-child"), schedule, date(2019, 5, 1),
                         {"date_of_birth": date(2008, 2, 29)})
    assert decision.trigger_date == date(2008, 2, 29)
    assert decision.disposal_due == date(2083, 2, 28)  # 2083 is not a leap year
    assert decision.action == "review"


def test_foi_and_adoption(schedule):
    foi = rt.decide(schedule.get("foi-request"), schedule, None,
                    {"case_closed": date(2021, 3, 31)})
    assert foi.disposal_due == date(2024, 3, 31)
    adoption = rt.decide(schedule.get("adoption"), schedule, None,
                         {"adoption_order": date(2020, 7, 14)})
    assert adoption.disposal_due == date(2120, 7, 14) and adoption.action == "review"


def test_permanent_records_have_no_disposal_date(schedule):
    decision = rt.decide(schedule.get("committee-minutes"), schedule, date(1998, 5, 12), {})
    assert decision.status == rt.PERMANENT
    assert decision.disposal_due is None and decision.action == "transfer"


def test_missing_document_date_goes_to_review(schedule):
    decision = rt.decide(schedule.get("payroll"), schedule, None, {})
    assert decision.status == rt.NO_DOCUMENT_DATE and decision.disposal_due is None
    assert "document date" in decision.explanation


def test_calendar_year_and_document_date_triggers(schedule):
    record_class = schedule.get("council-tax").model_copy(deep=True)
    record_class.retention.trigger = "calendar_year_end"
    assert rt.decide(record_class, schedule, date(2021, 3, 3), {}).disposal_due == \
        date(2027, 12, 31)
    record_class.retention.trigger = "document_date"
    record_class.retention.period = "18m"
    assert rt.decide(record_class, schedule, date(2021, 8, 31), {}).disposal_due == \
        date(2023, 2, 28)


# --------------------------------------------------------------------------- the database


def make_record(database, record_class: str | None, refs=(), document_date: str | None = None,
                state: str = store_db.FILED) -> str:
    store_db.ensure_batch(database, "b1", "default", "box-1", "test", "tester")
    with store_db.transaction(database):
        doc_id = store_db.next_doc_id(database)
        store_db.insert_document(database, "tester", {
            "id": doc_id, "batch_id": "b1", "box": "box-1", "source_name": f"{doc_id}.pdf",
            "source_path": f"/scans/{doc_id}.pdf", "source_size": 1, "source_mtime": 0.0,
            "sha256": hashlib.sha256(doc_id.encode()).hexdigest(), "pipeline": "default",
            "state": state,  # seeded in the state under test
        })
    store_db.update_document(database, doc_id, "tester", "test.setup", {},
                             record_class=record_class, refs=json.dumps(list(refs)),
                             document_date=document_date)
    return doc_id


def filed(database, schedule, record_class: str, refs=(), document_date: str | None = None):
    doc_id = make_record(database, record_class, refs, document_date)
    return doc_id, rt.apply_decision(database, doc_id, record_class, schedule, "tester")


@pytest.fixture
def home_schedule(home):
    return schedule_for(home, SCHEDULE)


def test_apply_decision_stores_columns_and_an_event(database, home_schedule):
    doc_id, decision = filed(database, home_schedule, "council-tax", ["CT-40012345"],
                             "2021-03-03")
    doc = store_db.get_document(database, doc_id)
    assert doc["retention_trigger"] == "financial_year_end"
    assert (doc["trigger_date"], doc["disposal_due"]) == ("2021-03-31", "2027-03-31")
    assert (doc["disposal_action"], doc["rule_id"]) == ("destroy", "CT-01")
    assert doc["schedule_version"] == home_schedule.version == decision.schedule_version
    event = store_db.events_for(database, doc_id)[-1]
    assert event["action"] == "retention.decided"
    assert event["details"]["rule_id"] == "CT-01"
    assert event["details"]["schedule_version"] == home_schedule.version
    assert event["details"]["disposal_due"] == "2027-03-31"


def test_apply_decision_refuses_an_unknown_class(database, home_schedule):
    doc_id = make_record(database, "council-tax")
    with pytest.raises(ValueError, match="no record class 'parking'"):
        rt.apply_decision(database, doc_id, "parking", home_schedule, "tester")


def test_event_dates_every_record_with_the_reference(database, home_schedule):
    first, waiting = filed(database, home_schedule, "hr-personnel", ["EMP004512"])
    assert waiting.status == rt.AWAITING_EVENT
    second, _ = filed(database, home_schedule, "hr-personnel", ["emp 004512", "X-1"])
    payslip, _ = filed(database, home_schedule, "payroll", ["EMP004512"], "2022-05-28")
    stranger, _ = filed(database, home_schedule, "hr-personnel", ["EMP009999"])
    unfiled = make_record(database, None, ["EMP004512"], state=store_db.NEEDS_REVIEW)
    outcome = rt.record_event(database, home_schedule, "employment_ended", "EMP004512",
                              date(2022, 8, 31), "records.manager", "left on 31 August")
    assert sorted(outcome.dated) == [first, second]
    assert set(outcome.unaffected) == {payslip, unfiled}
    for doc_id in (first, second):
        doc = store_db.get_document(database, doc_id)
        assert (doc["trigger_date"], doc["disposal_due"]) == ("2022-08-31", "2028-08-31")
    assert store_db.get_document(database, stranger)["trigger_date"] is None
    assert store_db.get_document(database, payslip)["disposal_due"] == "2029-03-31"
    recorded = store_db.events_for(database, f"retention-event:{outcome.event['id']}")
    assert recorded[0]["action"] == "retention.event_recorded"
    assert recorded[0]["actor"] == "records.manager"


def test_ocr_look_alikes_in_a_reference_still_match(database, home_schedule):
    doc_id, _ = filed(database, home_schedule, "foi-request", ["FOI-2021-OO42"])
    outcome = rt.record_event(database, home_schedule, "case_closed", "foi/2021/0042",
                              date(2021, 3, 31), "tester")
    assert outcome.dated == [doc_id]


def test_a_record_filed_after_its_event_takes_the_date(database, home_schedule):
    rt.record_event(database, home_schedule, "case_closed", "COMP-2021-118",
                    date(2021, 6, 30), "tester")
    _, decision = filed(database, home_schedule, "complaint", ["COMP-2021-118"])
    assert decision.disposal_due == date(2027, 6, 30)


def test_recording_an_event_again_corrects_it(database, home_schedule):
    doc_id, _ = filed(database, home_schedule, "contract", ["CON-2019-004"])
    rt.record_event(database, home_schedule, "contract_expired", "CON-2019-004",
                    date(2022, 3, 31), "tester")
    rt.record_event(database, home_schedule, "contract_expired", "CON-2019-004",
                    date(2021, 3, 31), "tester", "typo in the first entry")
    assert store_db.get_document(database, doc_id)["disposal_due"] == "2027-03-31"


@pytest.mark.parametrize("order", ["later date recorded first", "later date recorded last"])
def test_across_two_references_the_latest_event_date_wins(database, home_schedule, order):
    """One personnel file carrying two employee numbers (a re-hire): it is kept for the
    longest period that applies, so the later employment end counts — whichever of the two
    events was recorded first (s4/retention.py, ``event_dates_for``)."""
    doc_id, _ = filed(database, home_schedule, "hr-personnel", ["EMP004512", "EMP007731"])
    events = [("EMP007731", date(2023, 1, 31)), ("EMP004512", date(2019, 8, 30))]
    if order == "later date recorded last":
        events.reverse()
    for reference, ended in events:
        rt.record_event(database, home_schedule, "employment_ended", reference, ended, "t")
    doc = store_db.get_document(database, doc_id)
    assert (doc["trigger_date"], doc["disposal_due"]) == ("2023-01-31", "2029-01-31")
    assert rt.event_dates_for(database, ["EMP004512", "EMP007731"]) == \
        {"employment_ended": date(2023, 1, 31)}


def test_holds_block_disposal_and_lifting_restores_it(database, home_schedule):
    by_ref, _ = filed(database, home_schedule, "council-tax", ["CT-40012345"], "2015-06-01")
    by_class, _ = filed(database, home_schedule, "payroll", [], "2015-06-01")
    by_doc, _ = filed(database, home_schedule, "accounts-payable", ["INV-1"], "2015-06-01")
    free, _ = filed(database, home_schedule, "council-tax", ["CT-99999999"], "2015-06-01")
    report = {row["id"]: row for row in rt.due_report(database, date(2023, 1, 1))}
    assert {row["status"] for row in report.values()} == {"due"}

    h1 = rt.place_hold(database, "Tribunal claim", "reference", "ct 40012345", "rm")
    h2 = rt.place_hold(database, "HMRC enquiry", "class", "payroll", "rm")
    h3 = rt.place_hold(database, "Subject access request", "doc", by_doc.lower(), "rm")
    assert (h1["id"], h2["id"], h3["id"]) == ("H0001", "H0002", "H0003")
    assert h1["documents"] == [by_ref] and h3["scope_value"] == by_doc
    report = {row["id"]: row for row in rt.due_report(database, date(2023, 1, 1))}
    assert report[by_ref]["status"] == "blocked" and report[by_ref]["holds"] == ["H0001"]
    assert report[by_class]["holds"] == ["H0002"]
    assert report[by_doc]["holds"] == ["H0003"]
    assert report[free]["status"] == "due" and report[free]["holds"] == []
    assert [h["id"] for h in rt.active_holds_for(database, by_ref)] == ["H0001"]

    rt.lift_hold(database, "h0001", "claim withdrawn", "rm")
    report = {row["id"]: row for row in rt.due_report(database, date(2023, 1, 1))}
    assert report[by_ref]["status"] == "due"
    assert rt.active_holds_for(database, by_ref) == []
    actions = [e["action"] for e in store_db.events_for(database, "hold:H0001")]
    assert actions == ["hold.placed", "hold.lifted"]
    lifted = store_db.get_hold(database, "H0001")
    assert (lifted["lifted_by"], lifted["lift_reason"]) == ("rm", "claim withdrawn")
    with pytest.raises(ValueError, match="already lifted"):
        rt.lift_hold(database, "H0001", "again", "rm")
    with pytest.raises(LookupError, match="no hold H0099"):
        rt.lift_hold(database, "H0099", "x", "rm")


def test_a_hold_covers_records_filed_after_it(database, home_schedule):
    rt.place_hold(database, "Inquiry", "reference", "LAC-004518", "rm")
    doc_id, _ = filed(database, home_schedule, "looked-after-child", ["LAC-004518"])
    assert [h["id"] for h in rt.active_holds_for(database, doc_id)] == ["H0001"]


def test_hold_needs_a_reason(database):
    with pytest.raises(ValueError, match="needs a reason"):
        rt.place_hold(database, "  ", "class", "payroll", "rm")


def test_due_report_filters_and_leaves_out_waiting_and_permanent(database, home_schedule):
    ct, _ = filed(database, home_schedule, "council-tax", [], "2015-06-01")  # due 2022-03-31
    lac, _ = filed(database, home_schedule, "looked-after-child", ["LAC-1"])
    rt.record_event(database, home_schedule, "date_of_birth", "LAC-1", date(1950, 1, 1), "t")
    filed(database, home_schedule, "hr-personnel", ["EMP1234"])  # awaiting event
    minutes, _ = filed(database, home_schedule, "committee-minutes", [], "1990-01-01")
    assert [r["id"] for r in rt.due_report(database, date(2022, 3, 30))] == []
    assert [r["id"] for r in rt.due_report(database, date(2022, 3, 31))] == [ct]
    assert [r["id"] for r in rt.due_report(database, None)] == [ct, lac]
    assert [r["id"] for r in rt.due_report(database, None, "review")] == [lac]
    # Permanent records bound for the archives have no date, but a records manager asking
    # what to transfer must see them (a hold still stops them).
    (row,) = rt.due_report(database, date(2022, 3, 31), "transfer")
    assert (row["id"], row["status"], row["disposal_due"]) == (minutes, "permanent", None)
    rt.place_hold(database, "Public inquiry", "class", "committee-minutes", "rm")
    (row,) = rt.due_report(database, None, "transfer")
    assert (row["status"], row["holds"]) == ("blocked", ["H0001"])
    with pytest.raises(ValueError):
        rt.due_report(database, None, "shred")


def test_reapply_after_a_schedule_change_reports_what_moved(home, database, home_schedule):
    ct, _ = filed(database, home_schedule, "council-tax", [], "2021-03-03")
    hr, _ = filed(database, home_schedule, "hr-personnel", ["EMP1"])
    assert rt.reapply_schedule(database, home_schedule, "rm") == []  # nothing changed

    path = home.retention_rules / f"{SCHEDULE}.yaml"
    text = path.read_text(encoding="utf-8")
    marker = "      rule_id: CT-01\n      trigger: financial_year_end\n      period: 6y\n"
    assert marker in text
    path.write_text(text.replace(marker, marker.replace("6y", "7y")), encoding="utf-8")
    edited = schedule_for(home, SCHEDULE)
    assert edited.version != home_schedule.version

    changes = rt.reapply_schedule(database, edited, "rm")
    assert [(c.doc_id, c.before["disposal_due"], c.after.disposal_due) for c in changes] == \
        [(ct, "2027-03-31", date(2028, 3, 31))]
    assert store_db.get_document(database, hr)["schedule_version"] == edited.version
    assert store_db.get_document(database, ct)["disposal_due"] == "2028-03-31"
    last = store_db.events_for(database, ct)[-1]
    assert last["details"]["reapplied"] and last["details"]["previous"]["disposal_due"] == \
        "2027-03-31"
    assert rt.reapply_schedule(database, edited, "rm") == []  # idempotent


def test_reapply_leaves_records_whose_class_has_gone(database, home_schedule):
    doc_id = make_record(database, "parking-fines", [], "2020-01-01")
    changes = rt.reapply_schedule(database, home_schedule, "rm")
    assert changes[0].doc_id == doc_id and changes[0].after is None
    assert "not in schedule" in changes[0].problem


# --------------------------------------------------------------------------- the commands


def test_every_command_has_help_with_an_example(home):
    for args in (["retention"], ["retention", "check"], ["retention", "event"],
                 ["retention", "due"], ["retention", "apply"], ["hold"], ["hold", "place"],
                 ["hold", "lift"], ["hold", "list"]):
        code, output = run_s4(home, *args, "--help")
        assert code == 0 and "Example" in output, args


def _fits(output: str) -> None:
    assert max(len(line) for line in output.splitlines()) <= 80, output


def test_check_lists_classes_and_names_errors(home):
    code, output = run_s4(home, "retention", "check")
    assert code == 0, output
    assert "council-tax" in output and "OK, 16 classes" in output
    _fits(output)
    bad = home.retention_rules / "broken.yaml"
    bad.write_text((home.retention_rules / f"{SCHEDULE}.yaml").read_text().replace(
        "period: 10y", "period: ten years"), encoding="utf-8")
    code, output = run_s4(home, "retention", "check", str(bad))
    line = next(n for n, text in enumerate(bad.read_text().splitlines(), 1)
                if "ten years" in text)
    assert code == 2
    assert f"{bad}:{line}: classes[planning-enforcement].retention.period:" in output


def test_event_command(home, database, home_schedule):
    doc_id, _ = filed(database, home_schedule, "foi-request", ["FOI-2021-0042"])
    code, output = run_s4(home, "retention", "event", "--type", "case_cloesd", "--reference",
                          "FOI-2021-0042", "--date", "31/03/2021")
    assert code == 2 and "no record class waits for a 'case_cloesd' event" in output
    code, output = run_s4(home, "retention", "event", "--type", "case_closed", "--reference",
                          "FOI-2021-0042", "--date", "03/31/2021")
    assert code == 2 and "day first" in output
    code, output = run_s4(home, "retention", "event", "--type", "case_closed", "--reference",
                          "FOI-2021-0042", "--date", "31 March 2021", "--as", "a.manager")
    assert code == 0, output
    assert "1 record(s) now have a trigger date" in output and "2024-03-31" in output
    _fits(output)
    assert store_db.get_document(database, doc_id)["disposal_due"] == "2024-03-31"
    assert store_db.events_for(database, doc_id)[-1]["actor"] == "a.manager"


def test_due_and_hold_commands(home, database, home_schedule):
    held, _ = filed(database, home_schedule, "council-tax", ["CT-40012345"], "2015-06-01")
    due, _ = filed(database, home_schedule, "business-rates", ["BR-41234567"], "2015-06-01")
    code, output = run_s4(home, "hold", "place", "--reason", "x", "--class", "parking")
    assert code == 2 and "no record class 'parking'" in output
    code, output = run_s4(home, "hold", "place", "--reason", "x", "--class", "payroll",
                          "--doc", held)
    assert code == 2 and "exactly one of" in output
    code, output = run_s4(home, "hold", "place", "--reason", "Tribunal claim 2205123/2022",
                          "--reference", "CT-40012345", "--as", "rm")
    assert code == 0 and "Placed hold H0001" in output and "1 record(s) held" in output

    code, output = run_s4(home, "retention", "due", "--before", "2030-01-01")
    assert code == 0
    _fits(output)
    assert "HELD H0001" in output and "1 due, 1 held" in output
    code, output = run_s4(home, "retention", "due", "--before", "2030-01-01", "--format", "csv")
    rows = {row["id"]: row for row in csv.DictReader(io.StringIO(output))}
    assert rows[held]["status"] == "blocked" and rows[held]["holds"] == "H0001"
    assert rows[due]["status"] == "due"
    code, output = run_s4(home, "retention", "due", "--before", "2030-01-01", "--format",
                          "jsonl", "--action", "destroy")
    assert [json.loads(line)["id"] for line in output.splitlines()] == [held, due]
    code, output = run_s4(home, "retention", "due", "--before", "01/01/2020")
    assert code == 0 and "Nothing due" in output
    minutes, _ = filed(database, home_schedule, "committee-minutes", [], "1990-01-01")
    code, output = run_s4(home, "retention", "due", "--action", "transfer")
    assert code == 0 and minutes in output and "0 due, 0 held" in output
    assert "1 permanent (to the archives when no" in output
    _fits(output)

    code, output = run_s4(home, "hold", "list")
    assert code == 0 and "H0001" in output and "Tribunal" in output
    _fits(output)
    code, output = run_s4(home, "hold", "lift", "H0001", "--reason", "withdrawn")
    assert code == 0 and "Lifted hold H0001" in output
    code, output = run_s4(home, "hold", "lift", "H0001", "--reason", "withdrawn")
    assert code == 2 and "already lifted" in output
    code, output = run_s4(home, "hold", "list")
    assert "No holds in place" in output
    code, output = run_s4(home, "hold", "list", "--all")
    assert "withdrawn" in output
    code, output = run_s4(home, "retention", "due", "--before", "2030-01-01")
    assert "2 due, 0 held" in output


def test_apply_command_reports_moved_records(home, database, home_schedule):
    doc_id, _ = filed(database, home_schedule, "complaint", ["COMP-1"])
    rt.record_event(database, home_schedule, "case_closed", "COMP-1", date(2020, 5, 1), "t")
    code, output = run_s4(home, "retention", "apply")
    assert code == 0 and "No disposal date, action or rule changed" in output
    path = home.retention_rules / f"{SCHEDULE}.yaml"
    text = path.read_text(encoding="utf-8")
    marker = "      rule_id: COMP-01\n      trigger: event\n      event_type: case_closed\n" \
             "      period: 6y\n"
    path.write_text(text.replace(marker, marker.replace("6y", "6y6m")), encoding="utf-8")
    code, output = run_s4(home, "retention", "apply", "--as", "rm")
    assert code == 0, output
    assert "1 record(s) moved" in output and doc_id in output and "2026-11-01" in output
    _fits(output)
    code, output = run_s4(home, "retention", "apply", "--schedule", "nope")
    assert code == 2 and "no such retention schedule 'nope'" in output


def test_due_defaults_to_today(home, database, home_schedule):
    today = date.today()
    past = (today - timedelta(days=7 * 366)).isoformat()
    doc_id, _ = filed(database, home_schedule, "council-tax", [], past)
    code, output = run_s4(home, "retention", "due")
    assert code == 0 and doc_id in output and today.isoformat() in output
