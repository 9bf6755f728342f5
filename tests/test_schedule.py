"""The retention schedule: the shipped file, and validation errors that name file, line, field."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from s4.config import ConfigError
from s4.home import shipped_folder
from s4.schedule import Pattern, Retention, load_schedule, schedule_for

SHIPPED = shipped_folder("retention_rules") / "uk-local-government.yaml"
REQUIRED = ["council-tax", "business-rates", "housing-benefit", "planning-application",
            "planning-enforcement", "hr-personnel", "payroll", "accounts-payable", "contract",
            "foi-request", "looked-after-child", "adoption", "complaint", "committee-minutes"]


@pytest.fixture(scope="module")
def shipped():
    return load_schedule(SHIPPED)


# --------------------------------------------------------------------------- the shipped schedule


def test_shipped_schedule_has_every_required_class(shipped):
    assert set(REQUIRED) <= set(shipped.class_ids)
    assert "disposal-certificate" in shipped.class_ids
    assert shipped.financial_year_end == "03-31"


def test_version_is_the_sha256_of_the_file(shipped):
    assert shipped.version == hashlib.sha256(SHIPPED.read_bytes()).hexdigest()
    assert shipped.source == SHIPPED


@pytest.mark.parametrize("class_id, trigger, event_type, period, action", [
    ("council-tax", "financial_year_end", None, "6y", "destroy"),
    ("business-rates", "financial_year_end", None, "6y", "destroy"),
    ("housing-benefit", "event", "claim_closed", "6y", "destroy"),
    ("planning-application", "document_date", None, "permanent", "transfer"),
    ("planning-enforcement", "event", "compliance", "10y", "destroy"),
    ("hr-personnel", "event", "employment_ended", "6y", "destroy"),
    ("payroll", "financial_year_end", None, "6y", "destroy"),
    ("accounts-payable", "financial_year_end", None, "6y", "destroy"),
    ("contract", "event", "contract_expired", "6y", "destroy"),
    ("contract-deed", "event", "contract_expired", "12y", "review"),
    ("foi-request", "event", "case_closed", "3y", "destroy"),
    ("looked-after-child", "date_of_birth", None, "75y", "review"),
    ("adoption", "event", "adoption_order", "100y", "review"),
    ("complaint", "event", "case_closed", "6y", "destroy"),
    ("committee-minutes", "document_date", None, "permanent", "transfer"),
    ("disposal-certificate", "document_date", None, "permanent", "retain_permanently"),
])
def test_shipped_rules_follow_published_practice(shipped, class_id, trigger, event_type, period,
                                                 action):
    rule = shipped.get(class_id).retention
    assert (rule.trigger, rule.event_type, rule.period, rule.action) == \
        (trigger, event_type, period, action)
    assert rule.authority and rule.citation and rule.rule_id


def test_rule_ids_are_unique(shipped):
    ids = [c.retention.rule_id for c in shipped.classes]
    assert len(ids) == len(set(ids))


def test_paper_policy(shipped):
    assert shipped.get("adoption").paper.destroy_allowed is False
    assert shipped.get("looked-after-child").paper.min_days_after_verification >= 180
    assert shipped.get("council-tax").paper.destroy_allowed is True
    assert shipped.get("council-tax").paper.min_days_after_verification >= 30


def test_disposal_certificate_is_never_recognised(shipped):
    assert shipped.get("disposal-certificate").recognition.empty


def test_every_class_but_certificates_can_be_recognised(shipped):
    for record_class in shipped.classes:
        if record_class.id == "disposal-certificate":
            continue
        recognition = record_class.recognition
        assert len(recognition.keywords) + len(recognition.phrases) >= 8, record_class.id
        if record_class.id != "committee-minutes":  # permanent: no events wait on its ids
            assert any(p.reference for p in recognition.patterns), record_class.id


def test_every_pattern_compiles_and_never_matches_empty_text(shipped):
    for record_class in shipped.classes:
        for pattern in record_class.recognition.patterns:
            compiled = re.compile(pattern.regex)
            assert compiled.search("") is None, (record_class.id, pattern.name)


NOISE = ("Tel 01632 960123. Date: 31/03/2021, 2021-03-31, Monday 3 March 2021. PO Box 12, "
         "Felpersham BZ1 1DC. Page 1 of 2. Total £1,234.56. IR35. SI 2003/2682.")


def test_reference_patterns_do_not_fire_on_dates_phones_or_postcodes(shipped):
    for record_class in shipped.classes:
        assert record_class.recognition.find_references(NOISE) == [], record_class.id


@pytest.mark.parametrize("class_id, text, expected", [
    ("council-tax", "Account reference CT-40012345", "CT-40012345"),
    ("council-tax", "Council Tax Account No: 4OO12345", "4OO12345"),
    ("business-rates", "Account number BR-41234567", "BR-41234567"),
    ("housing-benefit", "Claim reference HB / 123456", "HB/123456"),
    ("planning-application", "Application 21/01234/FUL", "21/01234/FUL"),
    ("planning-application", "Ref: P/2021/0123", "P/2021/0123"),
    ("planning-enforcement", "Our ref ENF/21/0012", "ENF/21/0012"),
    ("hr-personnel", "Employee No: 004512", "004512"),
    ("payroll", "Employee number EMP004708", "EMP004708"),
    ("accounts-payable", "Invoice No: INV-10234", "INV-10234"),
    ("accounts-payable", "Purchase order PO-12345", "PO-12345"),
    ("contract", "Contract reference: CON-2021-045", "CON-2021-045"),
    ("foi-request", "Our reference FOI-2021-0345", "FOI-2021-0345"),
    ("complaint", "Complaint reference COMP-2021-118", "COMP-2021-118"),
    ("looked-after-child", "Case reference LAC-004518", "LAC-004518"),
    ("adoption", "Our ref ADP/2020/031", "ADP/2020/031"),
])
def test_reference_formats(shipped, class_id, text, expected):
    assert expected in shipped.get(class_id).recognition.find_references(text)


def test_labelled_reference_keeps_only_the_id():
    pattern = Pattern(name="employee", reference=True,
                      regex=r"(?i)employee\s+no\.?\s*:?\s*(?P<ref>\d{4,8})")
    assert pattern.find_references("Employee No: 004512; employee no 0099") == ["004512", "0099"]


def test_period_parts():
    rule = Retention(rule_id="X", trigger="document_date", period="6y6m", action="destroy",
                     authority="a")
    assert (rule.period_years, rule.period_months, rule.permanent) == (6, 6, False)
    assert Retention(rule_id="X", trigger="document_date", period="18m", action="destroy",
                     authority="a").period_months == 18


# --------------------------------------------------------------------------- validation errors

VALID = """\
id: test
title: Test schedule
financial_year_end: "03-31"
classes:
  - id: alpha
    title: Alpha records
    recognition:
      keywords:
        alpha: 2
      patterns:
        - name: alpha ref
          regex: '\\bALP-\\d{4}\\b'
          reference: true
    retention:
      rule_id: A-01
      trigger: financial_year_end
      period: 6y
      action: destroy
      authority: Limitation Act 1980
  - id: beta
    title: Beta records
    retention:
      rule_id: B-01
      trigger: event
      event_type: case_closed
      period: 3y
      action: destroy
      authority: Council practice
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "test.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _line_of(text: str, needle: str, occurrence: int = 1) -> int:
    lines = [n for n, line in enumerate(text.splitlines(), start=1) if needle in line]
    return lines[occurrence - 1]


def _error(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load_schedule(_write(tmp_path, text))
    return str(caught.value)


def test_valid_schedule_loads(tmp_path):
    schedule = load_schedule(_write(tmp_path, VALID))
    assert schedule.class_ids == ["alpha", "beta"]
    assert schedule.get("beta").retention.event_key == "case_closed"
    assert schedule.get("nope") is None


def test_bad_period_names_file_line_and_field(tmp_path):
    text = VALID.replace("period: 3y", "period: three years")
    message = _error(tmp_path, text)
    path = tmp_path / "test.yaml"
    assert message.startswith(f"{path}:{_line_of(text, 'three years')}: "
                              "classes[beta].retention.period:")
    assert "'6y', '18m', '6y6m'" in message


def test_unknown_trigger(tmp_path):
    text = VALID.replace("trigger: financial_year_end", "trigger: fiscal_year")
    message = _error(tmp_path, text)
    assert f":{_line_of(text, 'fiscal_year')}: classes[alpha].retention.trigger:" in message


def test_event_trigger_needs_an_event_type(tmp_path):
    text = VALID.replace("      event_type: case_closed\n", "")
    message = _error(tmp_path, text)
    # the key is missing, so the error points at the enclosing `retention:` of class 1
    assert f":{_line_of(text, 'retention:', 2)}: classes[beta].retention.event_type:" in message
    assert "needs an event_type" in message


def test_event_type_only_with_event_trigger(tmp_path):
    text = VALID.replace("      trigger: financial_year_end\n",
                         "      trigger: financial_year_end\n      event_type: case_closed\n")
    message = _error(tmp_path, text)
    assert f":{_line_of(text, 'event_type', 1)}: classes[alpha].retention.event_type:" in message


def test_duplicate_class_id_points_at_the_second_one(tmp_path):
    text = VALID.replace("  - id: beta", "  - id: alpha")
    message = _error(tmp_path, text)
    assert f":{_line_of(text, '- id: alpha', 2)}: classes.1.id: duplicate class id 'alpha'" \
        in message
    assert f"first used at line {_line_of(text, '- id: alpha', 1)}" in message


def test_bad_regex(tmp_path):
    text = VALID.replace("'\\bALP-\\d{4}\\b'", "'ALP-(\\d{4}'")
    message = _error(tmp_path, text)
    assert f":{_line_of(text, 'ALP-(')}: classes[alpha].recognition.patterns.0.regex:" in message
    assert "not a valid regular expression" in message


def test_regex_matching_empty_text_is_refused(tmp_path):
    text = VALID.replace("'\\bALP-\\d{4}\\b'", "'\\d*'")
    assert "matches empty text" in _error(tmp_path, text)


def test_bad_class_id_and_unknown_field(tmp_path):
    text = VALID.replace("- id: beta", "- id: Beta Records")
    assert f":{_line_of(text, 'Beta Records')}: classes[Beta Records].id:" in _error(tmp_path, text)
    text = VALID.replace("    title: Beta records", "    title: Beta records\n    colour: red")
    assert f":{_line_of(text, 'colour')}: classes[beta].colour: Extra inputs" in \
        _error(tmp_path, text)


def test_permanent_cannot_be_destroyed(tmp_path):
    text = VALID.replace("period: 6y", "period: permanent")
    message = _error(tmp_path, text)
    assert f":{_line_of(text, 'action: destroy', 1)}: classes[alpha].retention.action:" in message


def test_bad_financial_year_end(tmp_path):
    text = VALID.replace('"03-31"', '"02-29"')
    assert f":{_line_of(text, '02-29')}: financial_year_end:" in _error(tmp_path, text)


def test_yaml_syntax_error(tmp_path):
    text = VALID.replace("  - id: beta", "  - id: [beta")
    assert "YAML syntax" in _error(tmp_path, text)


def test_schedule_for_missing_and_mismatched(home):
    with pytest.raises(ConfigError, match=r"no such retention schedule 'nope' \(known: "
                                          r"uk-local-government\)"):
        schedule_for(home, "nope")
    (home.retention_rules / "other.yaml").write_text(VALID, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"other.yaml:1: id: schedule file is named 'other'"):
        schedule_for(home, "other")
    assert schedule_for(home, "uk-local-government").id == "uk-local-government"
