"""Server-side validation of every bedside form: values, ranges, and messages naming the field."""
from __future__ import annotations

import pytest

from monitor import sessions
from monitor.protocol import load_protocol
from monitor.web import limits
from monitor.web.forms import (FormError, parse_number, validate_aldrete, validate_baseline, validate_dose_change,
                               validate_manual_vitals, validate_medication, validate_note)


def errors_of(fn, *args, **kw) -> list[str]:
    with pytest.raises(FormError) as e:
        fn(*args, **kw)
    return e.value.errors


# ---------------------------------------------------------------- numbers and initials
@pytest.mark.parametrize("raw, value", [("120", 120.0), (" 36.8 ", 36.8), ("36,8", 36.8), (".5", 0.5), (95, 95.0)])
def test_parse_number_accepts(raw, value):
    assert parse_number(raw, "X", 0, 200) == value


@pytest.mark.parametrize("raw, message", [
    ("abc", "X: 'abc' is not a number"), ("12a", "X: '12a' is not a number"), ("1e3", "X: '1e3' is not a number"),
    ("nan", "X: 'nan' is not a number"), ("250", "X: 250 is outside 0–200 mmHg"), ("-1", "X: -1 is outside 0–200 mmHg"),
])
def test_parse_number_rejects_with_field_name(raw, message):
    assert errors_of(parse_number, raw, "X", 0, 200, "mmHg") == [message]


def test_parse_number_empty_is_none_unless_required():
    assert parse_number("  ", "X", 0, 1) is None and parse_number(None, "X", 0, 1) is None
    assert errors_of(parse_number, "", "X", 0, 1, required=True) == ["X: required"]


# A page entry is signed with the signed-in user's initials, which follow this rule when the
# user is added (store/people.add_user), as the CLI's --by does.
@pytest.mark.parametrize("raw, out", [("ab", "AB"), (" r.n. ", "RN"), ("abcd", "ABCD")])
def test_initials_normalised(raw, out):
    assert sessions.initials(raw) == out


@pytest.mark.parametrize("raw", [None, "", "a", "abcde", "A1", "<b>"])
def test_initials_rejected(raw):
    with pytest.raises(sessions.RuleError, match="^Initials:"):
        sessions.initials(raw)


# ---------------------------------------------------------------- manual vitals
def test_manual_vitals_full_entry():
    data, text = validate_manual_vitals({"sbp": "132", "dbp": "84", "rr": "16", "temp": "36.8",
                                         "consciousness": "a", "o2": False})
    assert data == {"sbp": 132, "dbp": 84, "map": 100, "rr": 16, "temp": 36.8, "consciousness": "A", "o2": False}
    assert text == "Manual vitals: BP 132/84 (MAP 100) · RR 16 · T 36.8 °C · ACVPU A · on air"


def test_manual_vitals_bp_only_has_no_oxygen_flag():
    data, _ = validate_manual_vitals({"sbp": "150", "dbp": "95"})
    assert data == {"sbp": 150, "dbp": 95, "map": 113}


@pytest.mark.parametrize("raw, expected", [
    ({"sbp": "abc", "dbp": "80"}, ["SBP: 'abc' is not a number"]),
    ({"sbp": "80", "dbp": "90"}, ["SBP 80 must be higher than DBP 90"]),
    ({"sbp": "90", "dbp": "90"}, ["SBP 90 must be higher than DBP 90"]),
    ({"sbp": "120"}, ["DBP: enter both SBP and DBP, or neither"]),
    ({"dbp": "70"}, ["SBP: enter both SBP and DBP, or neither"]),
    ({"sbp": "320", "dbp": "80"}, ["SBP: 320 is outside 50–300 mmHg"]),
    ({"sbp": "120", "dbp": "10"}, ["DBP: 10 is outside 20–200 mmHg"]),
    ({"rr": "2"}, ["Respiratory rate: 2 is outside 3–60 /min"]),
    ({"temp": "98.6"}, ["Temperature: 98.6 is outside 30–43 °C"]),
    ({"consciousness": "X"}, ["Consciousness: choose one of A, C, V, P, U (ACVPU)"]),
    ({}, ["Manual vitals: enter at least one value (SBP/DBP, respiratory rate, temperature or ACVPU)"]),
    ({"o2": True}, ["Manual vitals: enter at least one value (SBP/DBP, respiratory rate, temperature or ACVPU)"]),
])
def test_manual_vitals_messages_name_the_field(raw, expected):
    assert errors_of(validate_manual_vitals, raw) == expected


def test_manual_vitals_reports_every_problem_at_once():
    errs = errors_of(validate_manual_vitals, {"sbp": "x", "dbp": "90", "rr": "100", "temp": "50"})
    assert [e.split(":")[0] for e in errs] == ["SBP", "Respiratory rate", "Temperature"]


# ---------------------------------------------------------------- other entries
def test_note_medication_dose():
    assert validate_note("  Patient   comfortable\n") == ({}, "Patient comfortable")
    assert errors_of(validate_note, "   ") == ["Note: required"]
    assert errors_of(validate_note, "x" * 501) == ["Note: at most 500 characters (got 501)"]
    data, text = validate_medication("Ondansetron", "4", "mg", "IV")
    assert data == {"drug": "Ondansetron", "dose": 4.0, "unit": "mg", "route": "IV"} and text == "Ondansetron 4 mg IV"
    assert errors_of(validate_medication, "", "x", "kg", "XX") == [
        "Medication: required", "Dose: 'x' is not a number", "Dose unit: choose one of mg, mcg, g, mL, units",
        "Route: choose one of IV, PO, IM, SC, SL, IN, inhaled"]
    rates = load_protocol().infusion_rates
    data, text = validate_dose_change("0.75", "mg/kg/h", "per protocol", rates=rates)
    assert data == {"rate": 0.75, "unit": "mg/kg/h"} and text == "Rate 0.75 mg/kg/h · per protocol"
    assert errors_of(validate_dose_change, "9", "mg/kg/h", rates=rates) == ["Infusion rate: 9 is outside 0.01–3 mg/kg/h"]
    assert errors_of(validate_dose_change, "", "mg/h", rates=rates) == ["Infusion rate: required"]


def test_baseline_entry():
    data, text = validate_baseline({"hr": "80", "sbp": "128", "dbp": "82", "reason": "white-coat"})
    assert data == {"hr": 80, "sbp": 128, "dbp": 82, "map": 97}
    assert text == "Baseline set: HR 80 · BP 128/82 (white-coat)"
    assert errors_of(validate_baseline, {"sbp": "120", "dbp": "130"}) == [
        "Baseline SBP 120 must be higher than Baseline DBP 130"]
    assert errors_of(validate_baseline, {"spo2": "101"}) == ["Baseline SpO2: 101 is outside 88–100 %"]
    assert errors_of(validate_baseline, {}) == ["Baseline: enter at least one value (HR, SpO2 or SBP/DBP)"]


def test_aldrete_entry_needs_every_item():
    raw = {"activity": "2", "respiration": "2", "circulation": "2", "consciousness": "1", "spo2": "2"}
    data, text = validate_aldrete(raw, {"circulation": "SBP 128 vs baseline 122"}, minimum=9)
    assert data["total"] == 9 and data["ready"] is True and data["basis"]["circulation"].startswith("SBP")
    assert text == "Modified Aldrete 9/10: ready for discharge"
    errs = errors_of(lambda r: validate_aldrete(r, minimum=9), {**raw, "spo2": None, "activity": "3"})
    assert errs == ["Activity: score must be 0, 1 or 2", "SpO2: choose a score"]


# ---------------------------------------------------------------- limits
def test_limit_change_within_profile_bounds(protocol):
    data, text = limits.validate_limit_change(protocol, {}, "hr_high:0", "130")
    assert data == {"rule": "hr_high", "clause": 0, "old": 120.0, "new": 130.0}
    assert text == "Limit hr_high: HR > 120 → 130"
    data, text = limits.validate_limit_change(protocol, {}, "bp_critical:1", "115")
    assert data["clause"] == 1 and text == "Limit bp_critical: DBP ≥ 110 → 115"
    data, text = limits.validate_limit_change(protocol, {}, "hr_rise:0", "1.4")
    assert text == "Limit hr_rise: HR ≥ 1.3 × baseline → 1.4 × baseline"


def test_limit_change_rejected_outside_bounds_or_unchanged(protocol):
    assert errors_of(limits.validate_limit_change, protocol, {}, "spo2_critical:0", "75") == [
        "New setting for spo2_critical: 75 is outside 80–92"]
    assert errors_of(limits.validate_limit_change, protocol, {"hr_high:0": 130.0}, "hr_high:0", "130") == [
        "New setting for hr_high: 130 is already the current setting"]
    assert errors_of(limits.validate_limit_change, protocol, {}, None, "1") == ["Limit: choose the limit to change"]
    assert errors_of(limits.validate_limit_change, protocol, {}, "nope:0", "1") == ["Limit: choose the limit to change"]


def test_settings_follow_limit_change_events_in_order(protocol):
    evs = [{"type": "limit_change", "ts": 1.0, "author": "DR", "data": {"rule": "hr_high", "clause": 0, "new": 130}},
           {"type": "note", "ts": 2.0, "data": {}},
           {"type": "limit_change", "ts": 3.0, "author": "DR", "data": {"rule": "hr_high", "clause": 0, "new": 125}}]
    assert limits.settings_from_events(protocol, evs) == {"hr_high:0": 125.0}
    eff = limits.effective_protocol(protocol, {"hr_high:0": 125.0})
    assert eff.rule("hr_high").clauses[0].limit == 125 and protocol.rule("hr_high").clauses[0].limit == 120
    log = limits.change_log(protocol, evs)
    assert log == {"hr_high:0": {"from": 120.0, "to": 125.0, "by": "DR", "at": 3.0}}


@pytest.mark.parametrize("rule,new,settings,ok", [
    ("spo2_low", 87, {}, False),                       # below spo2_critical's 88
    ("spo2_low", 88, {}, True),                        # equal is allowed
    ("spo2_critical", 92, {}, True),
    ("spo2_low", 85, {"spo2_critical:0": 92}, False),  # the audit case: HIGH < 92, MEDIUM < 85
    ("hr_critical", 125, {"hr_high:0": 130}, False),   # below hr_high's session setting
    ("hr_high", 140, {}, True),
    ("bp_critical", 165, {"bp_high:0": 170}, False),
    ("hr_low", 50, {}, True),                          # no other HR low limit to clash with
])
def test_limit_change_keeps_priority_order(protocol, rule, new, settings, ok):
    key = limits.clause_key(rule, 0)
    if ok:
        data, _ = limits.validate_limit_change(protocol, settings, key, new)
        assert data["new"] == new
    else:
        with pytest.raises(FormError) as e:
            limits.validate_limit_change(protocol, settings, key, new)
        assert e.value.errors[0].startswith(f"New setting for {rule}:") and "keep the high limit" in e.value.errors[0]


def test_a_baseline_spo2_typo_that_would_disarm_the_drop_alarm_is_refused():
    with pytest.raises(FormError) as e:
        validate_baseline({"spo2": "79", "reason": "typed"})
    assert any("Baseline SpO2" in m and "88" in m for m in e.value.errors)
    data, _ = validate_baseline({"spo2": "94", "reason": "COPD, stable"})
    assert data["spo2"] == 94
