"""Every page write is signed by the signed-in user, never by a field the page sends: the
entry carries the user's initials, the audit trail their name, chair and session; a write
the role may not make writes nothing but its refusal; a forged page state cannot reach
another chair's record (docs/ARCHITECTURE.md, "Who may do what")."""
from __future__ import annotations

import time

import pytest

from conftest import CLINICIAN, NURSE
from monitor.model import Alert, Event
from monitor.store import people, queries
from monitor.web import alarms, bedside, charting, limits, opening, recovery, review
from monitor.web.bedside import KEYS, bedside_tick

pytestmark = pytest.mark.both_engines  # on SQLite and on PostgreSQL (conftest.py)

ALDRETE = {"activity": "2", "respiration": "2", "circulation": "2", "consciousness": "2", "spo2": "2"}


def _session(store, chair: str, *path: str) -> tuple[int, dict]:
    sid = store.open_session(f"P-{chair}", chair, "ketamine-iv", time.time() - 900)[0]
    for i, kind in enumerate(path):
        store.record_event(sid, Event(time.time() - 600 + 60 * i, kind, "", "XX"))
    return sid, {"chair": chair, "session_id": sid}


def _alarm(store, sid: int, ended: bool = False) -> int:
    now = time.time()
    store.put_change(sid, Alert(f"bp_critical#{sid}", "bp_critical", "sbp", "physiological", "high", now - 120,
                                186.0, 180.0, "SBP 186 ≥ 180", ended_at=now - 60 if ended else None))
    store.flush()
    return queries.alerts(store, sid)[-1]["id"]


def _signed(store, sid: int, actor, action: str, event_type: str | None) -> None:
    """The write is in the record with the actor's initials and in the audit trail with their name."""
    if event_type is not None:
        assert [e["author"] for e in queries.events(store, sid) if e["type"] == event_type][-1] == actor.initials
    row = people.audit_rows(store, user=actor.name, action=action, limit=1)[0]
    chair = queries.session(store, sid)["chair"]
    assert (row["outcome"], row["role"], row["chair"], row["session_id"]) == ("ok", actor.role, chair, sid)


def _refused(store, sid: int, actor, action: str, events_before: list) -> None:
    """Nothing written but the refusal, which is audited."""
    assert queries.events(store, sid) == events_before
    row = people.audit_rows(store, user=actor.name, action=action, limit=1)[0]
    assert row["outcome"] == "refused" and "needs a clinician login" in row["detail"]


# ----------------------------------------------------------------- a nurse's bedside work
def test_a_nurses_bedside_writes_are_signed_and_audited(store, protocol):
    assert "Session " in opening.open_session_action(store, protocol, "P-N", {"chair": "N"}, NURSE)
    sid = queries.current_session(store, "N")["id"]
    state = {"chair": "N", "session_id": sid}
    _signed(store, sid, NURSE, "open_session", None)

    assert bedside.bedside_action(store, "act-start", state, NURSE) == "Infusion started. (RN)"
    _signed(store, sid, NURSE, "infusion_start", "infusion_start")
    assert bedside.bedside_action(store, "act-stat", state, NURSE) == "STAT BP requested."
    _signed(store, sid, NURSE, "stat_bp", None)
    assert store._one("SELECT requested_by FROM commands WHERE chair = 'N'")["requested_by"] == "RN"

    aid = _alarm(store, sid)
    msg, cls = alarms.acknowledge_action(store, aid, NURSE, state)
    assert cls.endswith("form-ok") and msg.startswith("Acknowledged alarm (RN"), msg
    assert queries.alerts(store, sid)[0]["acknowledged_by"] == "RN"
    _signed(store, sid, NURSE, "acknowledge", "acknowledge")

    assert charting.sign_and_chart(store, state, NURSE, "note", lambda: charting.validate_note("nausea"))[1]
    _signed(store, sid, NURSE, "note", "note")
    assert charting.sign_and_chart(store, state, NURSE, "medication",
                                   lambda: charting.validate_medication("ondansetron", "4", "mg", "IV"))[1]
    _signed(store, sid, NURSE, "medication", "medication")
    assert charting.sign_and_chart(store, state, NURSE, "dose_change",
                                   lambda: charting.validate_dose_change("0.5", "mg/kg/h",
                                                                         rates=protocol.infusion_rates))[1]
    _signed(store, sid, NURSE, "dose_change", "dose_change")
    assert charting.manual_vitals_action(store, state, NURSE, "130", "80", "", "", None, [])[1]
    _signed(store, sid, NURSE, "manual_vitals", "manual_vitals")
    wrong = queries.events(store, sid)[-1]["id"]
    assert charting.strike_action(store, state, NURSE, wrong, "wrong arm")[1]
    _signed(store, sid, NURSE, "correction", "correction")

    assert bedside.bedside_action(store, "act-stop", state, NURSE) == "Infusion stopped: recovery. (RN)"
    _signed(store, sid, NURSE, "infusion_stop", "infusion_stop")
    msg, ok = recovery.aldrete_action(store, protocol, state, NURSE,
                                      {**ALDRETE, "reason": "repeat manual BP 128/80"})
    assert ok, msg
    _signed(store, sid, NURSE, "aldrete", "aldrete")


# ----------------------------------------------------------------- a clinician's decisions, refused to a nurse
def _nurse_then_clinician(store, sid, write, action: str, event_type: str | None) -> tuple:
    before = queries.events(store, sid)
    refused = write(NURSE)
    _refused(store, sid, NURSE, action, before)
    allowed = write(CLINICIAN)
    _signed(store, sid, CLINICIAN, action, event_type)
    return refused, allowed


def test_limit_change_is_a_clinicians(store, protocol):
    sid, state = _session(store, "L", "infusion_start")
    refused, allowed = _nurse_then_clinician(
        store, sid, lambda who: limits.limit_action(store, protocol, "hr_high:0", "130", who, state),
        "limit_change", "limit_change")
    assert refused == ("Not recorded: Limit change needs a clinician login; you are signed in as nurse1 (nurse)",
                       "form-status form-error")
    assert allowed == ("Recorded: Limit hr_high: HR > 120 → 130 (by DR).", "form-status form-ok")


def test_baseline_is_a_clinicians(store):
    sid, state = _session(store, "B")
    refused, allowed = _nurse_then_clinician(
        store, sid, lambda who: charting.sign_and_chart(store, state, who, "baseline_set",
                                                        lambda: charting.validate_baseline({"hr": "72"})),
        "baseline_set", "baseline_set")
    assert refused == ("Not recorded: Baseline set needs a clinician login; you are signed in as nurse1 (nurse)",
                       False)
    assert allowed == ("Recorded: Baseline set: HR 72 (DR).", True)


def test_ending_the_session_is_a_clinicians(store):
    sid, state = _session(store, "E", "infusion_start", "infusion_stop")
    refused, allowed = _nurse_then_clinician(
        store, sid, lambda who: bedside.bedside_action(store, "act-end", state, who), "session_end", "session_end")
    assert refused == "Not recorded: Session end needs a clinician login; you are signed in as nurse1 (nurse)"
    assert allowed == "Session ended. (DR)"
    assert queries.session(store, sid)["ended_by"] == "DR"


def test_review_sign_off_is_a_clinicians(store):
    sid, _ = _session(store, "S", "session_end")
    refused, allowed = _nurse_then_clinician(
        store, sid, lambda who: review.sign_off_action(store, sid, who), "review_signoff", "review_signoff")
    assert refused[1] is False and "needs a clinician login" in refused[0]
    assert allowed == ("Signed by doc1 (DR).", True)
    assert [e["data"] for e in queries.events(store, sid) if e["type"] == "review_signoff"] == [{"name": "doc1"}]


@pytest.mark.parametrize("fmt", ["csv", "html", "fhir", "rems"])
def test_an_export_is_a_clinicians_and_audited(store, protocol, fmt):
    sid, _ = _session(store, "X", "session_end")
    (data, msg), (allowed, said) = _nurse_then_clinician(
        store, sid, lambda who: review.export_action(store, protocol, sid, fmt, who), "export", None)
    assert data is None and msg == "Not exported: Export needs a clinician login; you are signed in as nurse1 (nurse)"
    assert allowed["content"] and allowed["filename"].endswith({"csv": ".csv", "html": ".html", "fhir": ".json",
                                                                           "rems": ".rems.html"}[fmt])
    assert said == f"Exported {fmt.upper()} (DR)."
    assert people.audit_rows(store, user="doc1", action="export", limit=1)[0]["detail"] == fmt


def test_an_export_of_no_session_writes_nothing(store, protocol):
    assert review.export_action(store, protocol, 999, "csv", CLINICIAN) == (None, "No such session to export.")
    assert review.export_action(store, protocol, "1; DROP", "csv", CLINICIAN)[0] is None
    assert people.audit_rows(store, action="export") == []


# ----------------------------------------------------------------- the page cannot choose the record
def test_a_forged_page_state_cannot_reach_another_chairs_ended_session(store):
    other, _ = _session(store, "OTHER", "session_end")
    aid = _alarm(store, other, ended=True)  # unacknowledged: a late acknowledgement would be accepted there
    mine, _ = _session(store, "MINE")
    before = queries.events(store, other)
    out_of_date = "This page is out of date: the chair's session has changed. Reload the page."
    for forged in ({"chair": "MINE", "session_id": other}, {"chair": "NOWHERE", "session_id": other},
                   {"session_id": other}, None):
        assert alarms.acknowledge_action(store, aid, NURSE, forged)[1].endswith("form-error")
        assert alarms.acknowledge_action(store, None, NURSE, forged)[1].endswith("form-error")
        assert charting.sign_and_chart(store, forged, NURSE, "note", lambda: ({}, "x"))[1] is False
    assert charting.sign_and_chart(store, {"chair": "MINE", "session_id": other}, NURSE, "note",
                                   lambda: ({}, "x")) == (out_of_date, False)
    # the page's own chair, naming the other chair's alarm: the session comes from the chair
    assert alarms.acknowledge_action(store, aid, NURSE, {"chair": "MINE", "session_id": mine})[0] == \
        "That alarm is not on this chair."
    assert queries.events(store, other) == before and queries.events(store, mine) == []
    assert queries.alerts(store, other)[0]["acknowledged_at"] is None
    assert people.audit_rows(store, outcome="ok") == []


def test_a_chair_named_by_the_page_follows_the_chair_rule(store, protocol):
    msg = opening.open_session_action(store, protocol, "P-LONG", {"chair": "9" * 5000}, NURSE)
    assert msg.startswith("Chair name: 1–32 letters")
    assert opening.open_session_action(store, protocol, "P-X", None, NURSE).startswith("Chair name:")
    assert queries.sessions(store) == []
    assert people.audit_rows(store, action="open_session", outcome="refused", limit=1)[0]["user"] == "nurse1"


# ----------------------------------------------------------------- the controls a role may not use
def test_a_nurse_sees_the_clinicians_controls_disabled_with_the_reason(store, protocol):
    _session(store, "C", "infusion_start")

    def tick(role):
        return dict(zip(KEYS, bedside_tick(store, protocol, {"chair": "C", "session_id": None}, role)))
    nurse, clinician = tick("nurse"), tick("clinician")
    for control, title in (("act-end-btn", "Session end needs a clinician login"),
                           ("limit-save", "Limit change needs a clinician login"),
                           ("bl-save", "Baseline set needs a clinician login")):
        assert (nurse[f"{control}.disabled"], nurse[f"{control}.title"]) == (True, title)
        assert (clinician[f"{control}.disabled"], clinician[f"{control}.title"]) == (False, "")
    for control in ("act-stop-btn", "act-stat", "note-save", "mv-save", "strike-save"):
        assert (nurse[f"{control}.disabled"], clinician[f"{control}.disabled"]) == (False, False)
    # the session rules still speak for what no role may do now
    assert nurse["act-start.title"] == clinician["act-start.title"] == \
        "Cannot start the infusion: the session is in infusion."


def test_no_page_field_names_the_signer(store, protocol):
    sid, _ = _session(store, "F", "session_end")
    pages = str(bedside.layout(store, protocol, "F")) + str(review.session_layout(store, protocol, str(sid)))
    for gone in ("bed-user-initials", "sv-signoff-name", "sv-signoff-initials", "Your initials"):
        assert gone not in pages
