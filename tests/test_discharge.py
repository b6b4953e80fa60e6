"""Discharge (issue 13, item 4): PADSS with its vital-sign item computed against baseline, two
consecutive qualifying scores the profile's interval apart, the minimum observation as a
countdown, never ready during a patient alarm, and the decision as a signed event (a clinician
may discharge a patient not ready, with a reason)."""
from __future__ import annotations

import time
from dataclasses import replace

import pytest

from conftest import CLINICIAN, NURSE
from monitor import discharge as dis, sessions
from monitor.model import Alert, Baseline, Event, Reading
from monitor.protocol import ProtocolError, parse_protocol
from monitor.sessions import RuleError
from monitor.store import people, queries
from monitor.web import charting, recovery
from monitor.web.forms import FormError, validate_padss

pytestmark = pytest.mark.both_engines  # on SQLite and on PostgreSQL (conftest.py)

RULE = dis.PadssRule(discharge_min=9, scores_needed=2, interval_s=1200)
T = 1_800_000_000.0
ALL_TWO = dict.fromkeys(dis.PADSS_ITEMS, 2)


def test_padss_chart_totals_and_qualifies():
    assert dis.padss(ALL_TWO, 9) == dis.Padss(ALL_TWO, 10, True, 9, ())
    p = dis.padss({**ALL_TWO, "pain": 1, "bleeding": 1}, 9)
    assert (p.total, p.qualifies) == (8, False)
    assert dis.padss({"activity": 2}, 9).missing == ("vital_signs", "nausea_vomiting", "pain", "bleeding")
    with pytest.raises(ValueError, match="Pain: score must be one of 2, 1"):
        dis.padss({**ALL_TWO, "pain": 0}, 9)  # the chart's pain item is 2 or 1


@pytest.mark.parametrize("value,points", [(120, 2), (144, 2), (96, 2), (145, 1), (168, 1), (72, 1), (169, 0),
                                          (71, 0)])
def test_vital_signs_within_20_and_40_percent_of_baseline(value, points):
    assert dis.percent_band(value, 120)[0] == points


def test_prefill_takes_the_worse_of_bp_and_pulse_and_the_worst_nausea():
    now = T
    sbp, hr = {"ts": now - 300, "value": 150.0}, {"ts": now - 2, "value": 72.0, "status": "ok"}
    pre = dis.padss_prefill(sbp, hr, {"sbp": 120, "hr": 70}, [], now, 1800, 10)
    assert pre["vital_signs"] == (1, "SBP 150 vs 120 (25 %), HR 72 vs 70 (3 %)")
    assert pre["nausea_vomiting"] == (2, "no nausea or vomiting charted since the infusion stopped")
    effects = [{"effect": "nausea", "severity": "mild"}, {"effect": "vomiting", "severity": "moderate"},
               {"effect": "headache", "severity": "severe"}]
    assert dis.padss_prefill(sbp, hr, {"sbp": 120, "hr": 70}, effects, now, 1800, 10)["nausea_vomiting"] == (
        1, "vomiting (moderate) charted since the infusion stopped")
    stale = dis.padss_prefill({"ts": now - 3600, "value": 150.0}, hr, {"sbp": 120, "hr": 70}, [], now, 1800, 10)
    assert stale["vital_signs"] == (None, "no recent SBP: take a BP (STAT BP) or score by hand")
    assert dis.padss_prefill(sbp, hr, {"hr": 70}, [], now, 1800, 10)["vital_signs"] == (
        None, "no baseline SBP: score by hand")


def test_two_qualifying_scores_twenty_minutes_apart():
    assert dis.padss_series([], RULE) == "no PADSS score yet (discharge at ≥ 9, 2 in a row 20 min apart)"
    assert dis.padss_series([{"ts": T, "total": 10}], RULE) == (
        "PADSS 10/10: 1 more qualifying score needed, at least 20 min after the first")
    assert dis.padss_series([{"ts": T, "total": 10}, {"ts": T + 600, "total": 9}], RULE) == (
        "PADSS scores 10 min apart: the last must be at least 20 min after the first")
    assert dis.padss_series([{"ts": T, "total": 10}, {"ts": T + 1200, "total": 9}], RULE) is None
    # a low score breaks the series: the next two must both qualify again
    assert dis.padss_series([{"ts": T, "total": 10}, {"ts": T + 1200, "total": 8}], RULE) == "PADSS 8/10 (needs ≥ 9)"
    assert dis.padss_series([{"ts": T, "total": 9}], replace(RULE, scores_needed=1)) is None


def test_readiness_needs_everything_and_counts_down():
    aldrete = {"total": 10, "minimum": 9, "ready": True}
    pair = [{"ts": T + 300, "total": 10}, {"ts": T + 1500, "total": 10}]
    r = dis.readiness(aldrete, pair[:1], RULE, [], T, T + 1000, 1800)
    assert not r.ready and r.left_s == 800 and r.why == (
        "PADSS 10/10: 1 more qualifying score needed, at least 20 min after the first",
        "observed 16 of 30 min since the infusion stopped")
    assert dis.readiness(aldrete, pair, RULE, [], T, T + 1800, 1800) == dis.Readiness(True, (), 0.0)
    alarm = {"kind": "physiological", "ended_at": T + 1700, "acknowledged_at": None, "message": "SpO2 86"}
    assert dis.readiness(aldrete, pair, RULE, [alarm], T, T + 1900, 1800).why == ("alarm not acknowledged: SpO2 86",)
    assert dis.readiness(aldrete, pair, RULE, [], None, T, 1800).left_s is None
    assert recovery.countdown("recovery", 725.2, 1800) == "Minimum observation (30 min): 12:06 to go"
    assert recovery.countdown("recovery", 0, 1800) == "Minimum observation (30 min): complete"
    assert recovery.countdown("infusion", None, 1800) == ""


def test_the_decision_ready_or_a_reason_and_once():
    ready, not_ready = dis.Readiness(True, (), 0.0), dis.Readiness(False, ("PADSS 8/10 (needs ≥ 9)",), 0.0)
    assert dis.check_discharge(ready, None) == {"ready": True}
    with pytest.raises(RuleError, match=r"Not discharged: not ready \(PADSS 8/10 \(needs ≥ 9\)\)"):
        dis.check_discharge(not_ready, "  ")
    assert dis.check_discharge(not_ready, "escort waiting, reviewed by Dr B") == {
        "ready": False, "override": "escort waiting, reviewed by Dr B", "not_ready": ["PADSS 8/10 (needs ≥ 9)"]}
    with pytest.raises(RuleError, match="Already discharged by RN"):
        sessions.check_discharged_once(["RN"])
    sessions.check_discharged_once([])  # none standing: allowed


def test_padss_form_needs_every_item_and_a_reason_against_the_data():
    pre = {"vital_signs": (1, "SBP 150 vs 120 (25 %)"), "nausea_vomiting": (2, "none charted")}
    with pytest.raises(FormError) as e:
        validate_padss({**ALL_TWO, "pain": None}, minimum=9, prefilled=pre)
    assert e.value.errors == ["Pain: choose a score",
                              "Vital signs: the data suggests 1 (SBP 150 vs 120 (25 %)); give a reason to score 2"]
    data, text = validate_padss({**ALL_TWO, "vital_signs": 1}, minimum=9, prefilled=pre)
    assert (data["total"], data["qualifies"], text) == (9, True, "PADSS 9/10: qualifies for discharge")


def test_padss_table_is_optional_and_checked(protocol):
    bare = {k: v for k, v in protocol.raw.items() if k != "padss"}
    assert parse_protocol(bare, "old.toml").padss is None
    with pytest.raises(ProtocolError, match=r"edited.toml: padss.discharge_min: 6 is outside 7..10"):
        parse_protocol({**protocol.raw, "padss": {**protocol.raw["padss"], "discharge_min": 6}}, "edited.toml")
    with pytest.raises(ProtocolError, match="edited.toml: padss.after_s: unknown key"):
        parse_protocol({**protocol.raw, "padss": {**protocol.raw["padss"], "after_s": 1}}, "edited.toml")


# ----------------------------------------------------------------- from the page, through the store
@pytest.fixture
def recovering(store):
    """A patient in recovery 31 min after the infusion stopped, Aldrete 10/10, baselines 120 / 70."""
    now = time.time()
    sid = store.open_session("P-DC", "DC", "ketamine-iv", now - 7200)[0]
    store.put_change(sid, Baseline("sbp", 120.0, "computed", now - 6000, 3))
    store.put_change(sid, Baseline("hr", 70.0, "computed", now - 6000, 600))
    store.record_event(sid, Event(now - 5400, "infusion_start", "", "RN"))
    store.record_event(sid, Event(now - 31 * 60, "infusion_stop", "", "RN"))
    store.put_reading(sid, Reading(now - 200, "sbp", 126, "ok", "cuff"))
    store.put_reading(sid, Reading(now - 2, "hr", 74, "ok", "ox"))
    store.flush()
    store.record_event(sid, Event(now - 29 * 60, "aldrete", "Modified Aldrete 10/10", "RN"),
                       {**dict.fromkeys(("activity", "respiration", "circulation", "consciousness", "spo2"), 2),
                        "total": 10, "ready": True, "minimum": 9})
    return sid, {"chair": "DC", "session_id": sid}


def test_padss_from_the_page_is_prefilled_and_signed(store, protocol, recovering):
    sid, state = recovering
    raw = {**ALL_TWO, "vital_signs": "2", "nausea_vomiting": "2"}
    msg, ok = recovery.padss_action(store, protocol, state, NURSE, raw)
    assert (msg, ok) == ("Recorded: PADSS 10/10: qualifies for discharge (RN).", True)
    (ev,) = [e for e in queries.events(store, sid) if e["type"] == "padss"]
    assert ev["data"]["basis"]["vital_signs"] == "SBP 126 vs 120 (5 %), HR 74 vs 70 (6 %)"


def test_discharge_needs_readiness_or_a_clinicians_reason(store, protocol, recovering):
    sid, state = recovering
    msg, ok = recovery.discharge_action(store, protocol, state, NURSE, "")
    assert not ok and msg.startswith("Not discharged: not ready (no PADSS score yet")
    msg, ok = recovery.discharge_action(store, protocol, state, NURSE, "taxi waiting")
    assert not ok and msg.startswith("Discharge override needs a clinician login")
    refused = [(r["user"], r["action"], r["session_id"]) for r in people.audit_rows(store) if r["outcome"] == "refused"]
    assert refused == [("nurse1", "discharge", sid), ("nurse1", "discharge", sid)]  # not ready, then the override
    msg, ok = recovery.discharge_action(store, protocol, state, CLINICIAN, "escort here, reviewed: fit")
    assert ok and msg.startswith("Recorded: Discharged home NOT READY: escort here, reviewed: fit (Aldrete 10/10, "
                                 "observed 31 min) (DR)")
    (ev,) = [e for e in queries.events(store, sid) if e["type"] == "discharge"]
    assert ev["data"]["override"] == "escort here, reviewed: fit" and ev["data"]["ready"] is False
    assert ev["data"]["not_ready"][0].startswith("no PADSS score yet")
    msg, ok = recovery.discharge_action(store, protocol, state, CLINICIAN, "again")
    assert (msg, ok) == ("Already discharged by DR; strike that entry to correct it.", False)
    # the store itself refuses a second one (two clicks at once both passed the page's check)
    with pytest.raises(RuleError, match="Already discharged by DR"):
        store.record_event(sid, Event(time.time(), "discharge", "again", "RN"), {"ready": True}, actor=NURSE)
    # a nurse cannot strike a clinician's discharge against the criteria; the clinician can
    (ev,) = [e for e in queries.events(store, sid) if e["type"] == "discharge"]
    msg, ok = charting.strike_action(store, state, NURSE, ev["id"], "wrong")
    assert not ok and "Striking a discharge override needs a clinician login" in msg
    assert charting.strike_action(store, state, CLINICIAN, ev["id"], "charted on the wrong patient")[1]
    store.record_event(sid, Event(time.time(), "discharge", "", "DR"), {"ready": False, "override": "x"},
                       actor=CLINICIAN)  # struck, so a new discharge may be charted


def test_a_ready_patient_is_discharged_by_the_nurse(store, protocol, recovering):
    sid, state = recovering
    now = time.time()
    for ago in (1300, 60):
        store.record_event(sid, Event(now - ago, "padss", "PADSS 10/10", "RN"), {"total": 10, "qualifies": True})
    ready, _ = recovery.readiness_now(store, sid, now, protocol)
    assert ready.ready, ready.why
    msg, ok = recovery.discharge_action(store, protocol, state, NURSE, "")
    assert ok and msg.startswith("Recorded: Discharged home: ready (Aldrete 10/10, PADSS 10/10, PADSS 10/10, observed")
    # never ready while a patient alarm waits to be signed for
    store.put_change(sid, Alert("spo2_critical#9", "spo2_critical", "spo2", "physiological", "high", now - 30, 85.0,
                                88.0, "SpO2 85 < 88", ended_at=now - 5))
    store.flush()
    assert not recovery.readiness_now(store, sid, time.time(), protocol)[0].ready


def test_import_refuses_a_padss_no_form_could_have_made(store, protocol, recovering):
    from monitor.exports.csv_export import CsvImportError, parse_text, to_csv
    sid, state = recovering
    recovery.padss_action(store, protocol, state, NURSE, {**ALL_TWO, "vital_signs": "2", "nausea_vomiting": "2"})
    text = to_csv(store, sid)
    assert parse_text(text, "ok.csv").events  # as exported: accepted
    lines = text.splitlines()
    n = next(i for i, line in enumerate(lines) if ",padss," in line)
    for before, after, why in (('""total"": 10', '""total"": 12', "padss data: total is 12, its items make it 10"),
                               ('""pain"": 2', '""pain"": [2]', "Pain: score must be one of 2, 1"),
                               ('""minimum"": 9', '""minimum"": ""9""', "padss data: minimum: expected a whole number")):
        edited = lines[:n] + [lines[n].replace(before, after)] + lines[n + 1:]
        assert edited[n] != lines[n]
        with pytest.raises(CsvImportError, match=rf"edited.csv: line {n + 1}: data: .*{why}"):
            parse_text("\n".join(edited) + "\n", "edited.csv")
