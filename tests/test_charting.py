"""Charting from the bedside page: each entry is one signed event through the store, the
engine picks it up (baseline, limits, manual BP), acknowledgements and session end are persisted."""
from __future__ import annotations

import time

import pytest

from conftest import CLINICIAN, NURSE
from monitor.model import Alert, Baseline, Event, Reading
from monitor.recording import SessionRecorder
from monitor.store import queries
from monitor.web import alarms, bedside, charting, limits, recovery

pytestmark = pytest.mark.both_engines  # on SQLite and on PostgreSQL (conftest.py)


@pytest.fixture
def session(store):
    sid = store.open_session("P1", "7", "ketamine-iv", time.time() - 600)[0]
    return sid, {"chair": "7", "session_id": sid}


def test_manual_vitals_one_event_never_a_device_alarm_by_default(store, protocol, session):
    """A typed BP is charted and stored as manual (with who took it); it raises no cuff alarm."""
    sid, state = session
    rec = SessionRecorder(store, sid, protocol)
    charting.manual_vitals_action(store, state, NURSE, "186", "104", "", "", None, [])
    assert rec.poll_events() == 1
    store.flush()
    assert [a for a in queries.alerts(store, sid) if a["parameter"] in ("sbp", "dbp")] == []
    manual = [r for r in queries.readings(store, sid) if r["source"] == "manual"]
    assert {(r["parameter"], r["detail"]) for r in manual} == {(p, "manual cuff, entered by RN")
                                                               for p in ("sbp", "dbp", "map")}


def test_manual_vitals_count_as_a_measurement_when_the_profile_says_so(store, protocol, session):
    from dataclasses import replace
    sid, state = session
    rec = SessionRecorder(store, sid, replace(protocol, manual_bp_counts=True))
    msg, ok = charting.manual_vitals_action(store, state, NURSE, "186", "104", "22", "37.2", "A", ["o2"])
    assert ok and msg == "Recorded: Manual vitals: BP 186/104 (MAP 131) · RR 22 · T 37.2 °C · ACVPU A · on O2 (RN)."
    (ev,) = queries.events(store, sid)
    assert (ev["type"], ev["author"]) == ("manual_vitals", "RN")
    assert ev["data"] == {"sbp": 186, "dbp": 104, "map": 131, "rr": 22, "temp": 37.2, "consciousness": "A", "o2": True}
    assert rec.poll_events() == 1
    store.flush()
    crit = [a for a in queries.alerts(store, sid) if a["rule"] == "bp_critical"]
    assert crit and crit[0]["value"] == 186 and crit[0]["started_at"] == ev["ts"]
    manual = [r for r in queries.readings(store, sid) if r["source"] == "manual"]
    assert {r["parameter"]: r["value"] for r in manual} == {"sbp": 186, "dbp": 104, "map": 131}


def test_rejected_entries_write_nothing(store, session):
    sid, state = session
    assert charting.manual_vitals_action(store, state, NURSE, "80", "90", "", "", None, []) == (
        "SBP 80 must be higher than DBP 90", False)
    msg, ok = charting.sign_and_chart(store, {"chair": "7", "session_id": "none"}, NURSE, "note",
                                      lambda: ({}, "hello"))
    assert (msg, ok) == ("No open session on this chair", False)
    assert queries.events(store, sid) == []
    store.record_event(sid, Event(time.time(), "session_end", "", "RN"))
    msg, ok = charting.manual_vitals_action(store, state, NURSE, "120", "80", "", "", None, [])
    assert not ok and msg == "Not recorded: The session has ended: only a late note can be added."
    assert [e["type"] for e in queries.events(store, sid)] == ["session_end"]


def test_baseline_and_limit_changes_reach_the_engine(store, protocol, session):
    sid, state = session
    rec = SessionRecorder(store, sid, protocol)
    msg, ok = charting.sign_and_chart(store, state, CLINICIAN, "baseline_set",
                                      lambda: charting.validate_baseline({"hr": "100", "sbp": "150", "dbp": "90"}))
    assert ok
    msg, cls = limits.limit_action(store, protocol, "hr_high:0", "130", CLINICIAN, state)
    assert cls.endswith("form-ok") and msg == "Recorded: Limit hr_high: HR > 120 → 130 (by DR)."
    msg, cls = limits.limit_action(store, protocol, "hr_high:0", "125", CLINICIAN, state)
    assert cls.endswith("form-ok")
    msg, cls = limits.limit_action(store, protocol, "hr_high:0", "150", CLINICIAN, state)
    assert cls.endswith("form-error") and msg == "New setting for hr_high: 150 is outside 100–140"
    evs = queries.events(store, sid)
    assert [e["data"].get("old") for e in evs if e["type"] == "limit_change"] == [120, 130]
    assert all(e["author"] == "DR" for e in evs)
    rec.poll_events()
    store.flush()
    assert rec.engine.rules["hr_high"].clauses[0].limit == 125
    bl = queries.baselines(store, sid)
    assert (bl["hr"]["value"], bl["hr"]["source"], bl["sbp"]["value"]) == (100, "entered", 150)


def test_acknowledge_persists_the_signers_initials_and_time(store, session):
    sid, state = session
    other = store.open_session("P2", "8", "ketamine-iv", 0.0)[0]
    store.put_change(sid, Alert("bp_critical#1", "bp_critical", "sbp", "physiological", "high", 100.0, 186, 180,
                                "BP 186/100: SBP 186 ≥ 180", ended_at=400.0))
    store.put_change(sid, Alert("hr_high#2", "hr_high", "hr", "physiological", "medium", 150.0, 125, 120,
                                "HR 125 > 120"))
    store.put_change(other, Alert("hr_high#1", "hr_high", "hr", "physiological", "medium", 1.0, 125, 120, "x"))
    store.flush()
    latched, medium = queries.alarm_board(store, sid)
    foreign = queries.alerts(store, other)[0]
    assert alarms.acknowledge_action(store, foreign["id"], NURSE, state)[0] == "That alarm is not on this chair."
    msg, cls = alarms.acknowledge_action(store, latched["id"], NURSE, state, now=500.0)
    assert cls.endswith("form-ok") and msg.startswith("Acknowledged alarm (RN")
    row = store._one("SELECT acknowledged_by, acknowledged_at FROM alerts WHERE id = ?", (latched["id"],))
    assert (row["acknowledged_by"], row["acknowledged_at"]) == ("RN", 500.0)
    assert [a["id"] for a in queries.alarm_board(store, sid)] == [medium["id"]]  # the latch is released
    assert alarms.acknowledge_action(store, latched["id"], CLINICIAN, state)[0] == "Already acknowledged."
    msg, _ = alarms.acknowledge_action(store, None, CLINICIAN, state, now=600.0)
    assert msg.startswith("Acknowledged alarm (DR")
    assert queries.alarm_board(store, sid)[0]["acknowledged_by"] == "DR"  # active, acknowledged, still shown
    assert queries.alerts(store, other)[0]["acknowledged_at"] is None


def test_end_session_records_who_and_when(store, session):
    sid, state = session
    assert bedside.bedside_action(store, "act-end", state, NURSE).startswith(
        "Not recorded: Session end needs a clinician login")
    assert queries.session(store, sid)["state"] == "baseline"
    assert bedside.bedside_action(store, "act-start", state, NURSE) == "Infusion started. (RN)"
    assert bedside.bedside_action(store, "act-stop", state, NURSE) == "Infusion stopped: recovery. (RN)"
    before = time.time()
    assert bedside.bedside_action(store, "act-end", state, CLINICIAN) == "Session ended. (DR)"
    s = queries.session(store, sid)
    assert s["state"] == "ended" and s["ended_by"] == "DR" and s["ended_at"] >= before
    assert bedside.bedside_action(store, "act-start", state, NURSE) == "Cannot start the infusion: the session has ended."


def test_aldrete_prefilled_from_data_and_recorded(store, protocol, session):
    sid, state = session
    store.record_event(sid, Event(time.time() - 3500, "infusion_start", "", "RN"))
    store.record_event(sid, Event(time.time() - 600, "infusion_stop", "", "RN"))  # the checklist is for recovery
    now = time.time()
    store.put_change(sid, Baseline("sbp", 122, "computed", now - 3000, 3))
    for p, v in (("sbp", 150), ("dbp", 88), ("spo2", 97)):
        store.put_reading(sid, Reading(now - 5, p, v, "ok", "dev"))
    store.flush()
    charting.manual_vitals_action(store, state, NURSE, "", "", "14", "", "A", ["o2"])
    pre = recovery.prefill(store, sid, now, protocol)
    assert pre["circulation"][0] == 1 and pre["circulation"][1].startswith("SBP 150 vs baseline 122 (+28 mmHg)")
    assert pre["spo2"] == (1, "SpO2 97 % on oxygen (last charted)")
    raw = {"activity": "2", "respiration": "2", "circulation": "1", "consciousness": "2", "spo2": "1"}
    msg, ok = recovery.aldrete_action(store, protocol, state, NURSE, raw)
    assert ok and msg == "Recorded: Modified Aldrete 8/10: not ready (needs ≥ 9) (RN)."
    ev = [e for e in queries.events(store, sid) if e["type"] == "aldrete"][0]
    assert ev["data"]["total"] == 8 and ev["data"]["ready"] is False and ev["data"]["circulation"] == 1
    assert "SBP 150" in ev["data"]["basis"]["circulation"]
    msg, ok = recovery.aldrete_action(store, protocol, state, NURSE, {**raw, "spo2": None})
    assert not ok and msg == "SpO2: choose a score"


def test_aldrete_running_total_text():
    assert recovery.total_text({"activity": "2", "respiration": "2", "circulation": None,
                                "consciousness": "2", "spo2": "2"}, 9) == "Score so far 8/10 · still to score: Circulation"
    full = {k: "2" for k in ("activity", "respiration", "circulation", "consciousness")}
    assert recovery.total_text({**full, "spo2": "1"}, 9) == "Modified Aldrete 9/10 · ready for discharge"
    assert recovery.total_text({**full, "spo2": "0"}, 9) == "Modified Aldrete 8/10 · not ready (discharge at ≥ 9)"
    assert recovery.total_text({**full, "spo2": "1"}, 10) == "Modified Aldrete 9/10 · not ready (discharge at ≥ 10)"


def test_session_cannot_end_over_an_unacknowledged_high_alarm(store, session):
    from monitor.model import Alert
    sid, state = session
    store.put_change(sid, Alert("spo2_critical#1", "spo2_critical", "spo2", "physiological", "high",
                                time.time() - 60, 85, 88, "SpO2 85 < 88", ended_at=time.time() - 10))
    store.flush()
    msg = bedside.bedside_action(store, "act-end", state, CLINICIAN)
    assert msg.startswith("Not ended: acknowledge the HIGH alarm first") and "SpO2 85 < 88" in msg
    assert queries.session(store, sid)["state"] != "ended"
    (a,) = queries.alerts(store, sid)
    assert store.acknowledge(a["id"], "KB", time.time())
    assert bedside.bedside_action(store, "act-end", state, CLINICIAN) == "Session ended. (DR)"


def _texts(component) -> str:
    """All text inside a Dash component tree."""
    if isinstance(component, (str, int, float)):
        return str(component)
    children = getattr(component, "children", None)
    if children is None:
        return ""
    if not isinstance(children, list):
        children = [children]
    return " ".join(_texts(c) for c in children)


def test_news2_counts_charted_obs_and_never_reassures_without_monitor_numbers(protocol):
    from monitor.web.bedside_view import news2_indicator
    now = 1_000_000.0
    monitored = {"hr": {"v": 95, "ts": now - 1, "status": "ok"}, "spo2": {"v": 93, "ts": now - 1, "status": "ok"},
                 "sbp": {"v": 125, "ts": now - 60, "status": "ok"}}
    manual = {"rr": {"v": 22, "ts": now - 30}, "temp": {"v": 37.0, "ts": now - 30}}
    box = news2_indicator(monitored, manual, now, protocol)
    # HR 95 -> 1, SpO2 93 -> 2, RR 22 -> 2, SBP 125 -> 0, temp 37.0 -> 0
    assert box.__dict__["data-score"] == "5" and box.__dict__["data-band"] == "5-6"
    assert "RR 2" in _texts(box) and "SpO2 2" in _texts(box)
    probe_off = dict(monitored, spo2={"v": None, "ts": now - 1, "status": "sensor_off"})
    box = news2_indicator(probe_off, manual, now, protocol)
    assert box.__dict__["data-band"] == "none"
    assert "incomplete: no SpO2" in _texts(box) and "low risk" not in _texts(box)
