"""A wrong entry is struck through, signed, with a reason: the original stays in the record,
the correction is in the log, and the struck entry no longer feeds the NIBP tile, NEWS2 or
the Aldrete verdict."""
from __future__ import annotations

import time

import pytest

from conftest import NURSE
from monitor import sessions
from monitor.exports.csv_export import parse_text, to_csv
from monitor.exports.html_report import report_html
from monitor.model import Event
from monitor.store import Store, queries
from monitor.store.transfer import insert_session
from monitor.web import charting
from monitor.web.bedside import KEYS, bedside_tick

pytestmark = pytest.mark.both_engines  # on SQLite and on PostgreSQL (conftest.py)


@pytest.fixture
def open_session(store):
    now = time.time()
    sid = store.open_session("P-COR", "CR", "ketamine-iv", now - 1200)[0]
    return sid, {"chair": "CR", "session_id": sid}


def tick(store, protocol, state) -> dict:
    return dict(zip(KEYS, bedside_tick(store, protocol, state)))


def test_a_mistyped_manual_bp_is_struck_and_stops_counting(store, protocol, open_session):
    sid, page = open_session
    charting.manual_vitals_action(store, page, NURSE, "210", "120", "", "", None, [])  # meant 120/80
    out = tick(store, protocol, {"chair": "CR", "session_id": None})
    assert "210/120" in str(out["bed-numerics.children"])
    (entry,) = [o["value"] for o in out["strike-event.options"]]
    assert charting.strike_action(store, page, NURSE, entry, "") == ("Reason: required", False)
    msg, ok = charting.strike_action(store, page, NURSE, entry, "typed 210/120 for 120/80")
    assert ok, msg
    out = tick(store, protocol, out["bed-state.data"])
    assert "210/120" not in str(out["bed-numerics.children"])  # no longer shown as the patient's BP
    log = str(out["bed-events.children"])
    assert "ev-struck" in log and "STRUCK by RN: typed 210/120 for 120/80" in log
    assert out["strike-event.options"] == []
    manual = [r for r in queries.readings(store, sid) if r["source"] == "manual"]
    assert manual and all(r["status"] == "artifact" and r["detail"].startswith("struck by RN") for r in manual)
    assert "STRUCK by RN" in report_html(store, sid, protocol)  # the original stays in the record


def test_what_may_be_struck(store, open_session):
    sid, page = open_session
    store.record_event(sid, Event(time.time(), "infusion_start", "", "RN"))
    start = queries.events(store, sid)[-1]["id"]
    with pytest.raises(sessions.RuleError, match="cannot be struck"):
        store.record_event(sid, Event(time.time(), "correction", "", "RN"), {"strikes": start, "reason": "x"})
    other = store.open_session("P-OTHER", "OT", "ketamine-iv", time.time())[0]
    store.record_event(other, Event(time.time(), "note", "other chair", "RN"))
    foreign = queries.events(store, other)[-1]["id"]
    with pytest.raises(sessions.RuleError, match="no such entry in this session"):
        store.record_event(sid, Event(time.time(), "correction", "", "RN"), {"strikes": foreign, "reason": "x"})
    store.record_event(sid, Event(time.time(), "note", "wrong chair", "RN"))
    note = queries.events(store, sid)[-1]["id"]
    store.record_event(sid, Event(time.time(), "correction", "", "RN"), {"strikes": note, "reason": "wrong chair"})
    with pytest.raises(sessions.RuleError, match="already been struck"):
        store.record_event(sid, Event(time.time(), "correction", "", "KB"), {"strikes": note, "reason": "again"})


def test_a_struck_aldrete_no_longer_decides_discharge(store, protocol, open_session):
    sid, page = open_session
    now = time.time()
    store.record_event(sid, Event(now - 5400, "infusion_start", "", "RN"))
    store.record_event(sid, Event(now - 3600, "infusion_stop", "", "RN"))
    scores = {k: 2 for k in ("activity", "respiration", "circulation", "consciousness", "spo2")}
    for ago in (1500, 90):  # the profile's two qualifying PADSS scores, 20 min apart
        store.record_event(sid, Event(now - ago, "padss", "PADSS 10/10", "RN"), {"total": 10, "qualifies": True})
    store.record_event(sid, Event(now - 60, "aldrete", "Modified Aldrete 10/10", "RN"),
                       {**scores, "total": 10, "ready": True, "minimum": 9})
    out = tick(store, protocol, {"chair": "CR", "session_id": None})
    assert "READY FOR DISCHARGE" in str(out["bed-discharge.children"])
    aldrete = queries.events(store, sid)[-1]["id"]
    assert charting.strike_action(store, page, NURSE, aldrete, "scored the wrong patient")[1]
    out = tick(store, protocol, out["bed-state.data"])
    assert "NOT READY" in str(out["bed-discharge.children"])
    assert "no Aldrete assessment recorded yet" in str(out["bed-discharge.children"])


def test_a_correction_survives_export_and_import(store, protocol, open_session, tmp_path):
    sid, page = open_session
    store.record_event(sid, Event(time.time(), "note", "wrong chair", "RN"))
    note = queries.events(store, sid)[-1]["id"]
    store.record_event(sid, Event(time.time() + 1, "correction", "", "RN"), {"strikes": note, "reason": "wrong chair"})
    other = Store(tmp_path / "other.db")
    try:
        other.open_session("P-FIRST", "Z", "ketamine-iv", 0.0)  # ids differ in the other database
        other.record_event(1, Event(1.0, "note", "x", "RN"))
        p = parse_text(to_csv(store, sid))
        copy = insert_session(other, p.session, p.baselines, p.readings, p.alerts, p.events)
        events = queries.events(other, copy)
        struck = [e for e in events if e["type"] == "note"][0]
        correction = [e for e in events if e["type"] == "correction"][0]
        assert correction["data"]["strikes"] == struck["id"] != note
        again = [line for line in to_csv(other, copy).splitlines() if ",correction," in line]
        first = [line for line in to_csv(store, sid).splitlines() if ",correction," in line]
        assert again == first and "event#" in first[0]  # named by its place in the file, both times
    finally:
        other.close()


def test_a_new_entry_joins_the_strike_list_without_rereading_the_session(store, protocol, open_session):
    from dash import Patch
    sid, page = open_session
    out = tick(store, protocol, {"chair": "CR", "session_id": None})
    assert out["strike-event.options"] == []
    store.record_event(sid, Event(time.time(), "note", "wrong chair", "RN"))
    out = tick(store, protocol, out["bed-state.data"])
    patch = out["strike-event.options"]
    assert isinstance(patch, Patch)
    (op,) = patch.to_plotly_json()["operations"]
    assert op["operation"] == "Prepend" and "wrong chair" in op["params"]["value"]["label"]
