"""A BP typed from a manual cuff is the nurse's, not the device's: stored with its own
source and who took it, shown as manual, and (by default) never ends, raises or moves
anything the cuff's data decide."""
from __future__ import annotations

import time

import pytest

from conftest import CLINICIAN, NURSE
from monitor.exports.fhir import bundle
from monitor.exports.html_report import report_html
from monitor.model import Event, Reading
from monitor.protocol import ProtocolError, parse_protocol
from monitor.recording import SessionRecorder
from monitor.store import queries
from monitor.web import charting
from monitor.web.bedside import KEYS, bedside_tick

pytestmark = pytest.mark.both_engines  # on SQLite and on PostgreSQL (conftest.py)

fhir_observation = pytest.importorskip("fhir.resources.R4B.observation")


@pytest.fixture
def cuff_high(store, protocol):
    """A session in infusion whose cuff measured 170/96 (bp_high active), baseline 120/78."""
    now = time.time()
    sid = store.open_session("P-MAN", "MN", protocol.name, now - 1800)[0]
    rec = SessionRecorder(store, sid, protocol)
    for k, (s, d) in enumerate([(120, 78), (121, 79), (119, 77)]):
        for p, v in (("sbp", s), ("dbp", d), ("map", round(d + (s - d) / 3))):
            rec.reading(Reading(now - 1700 + 300 * k, p, float(v), "ok", "cuff"))
    rec.event(Event(now - 700, "infusion_start", "", "RN"))
    for p, v in (("sbp", 170.0), ("dbp", 96.0), ("map", 121.0)):
        rec.reading(Reading(now - 60, p, v, "ok", "cuff"))
    rec.finish()
    store.flush()
    return sid, rec


def _active(store, sid):
    return sorted(a["rule"] for a in queries.alerts(store, sid) if a["ended_at"] is None)


def test_a_typed_bp_never_ends_a_cuff_alarm_nor_moves_the_baseline(store, protocol, cuff_high):
    sid, rec = cuff_high
    before_alarms, before_baseline = _active(store, sid), queries.baselines(store, sid)["sbp"]["value"]
    assert "bp_high" in before_alarms
    msg, ok = charting.manual_vitals_action(store, {"chair": "MN", "session_id": sid}, NURSE, "150", "90", "", "",
                                            None, [])
    assert ok
    rec.poll_events()
    rec.finish()
    store.flush()
    assert _active(store, sid) == before_alarms
    assert queries.baselines(store, sid)["sbp"]["value"] == before_baseline


def test_the_bedside_tile_the_report_and_fhir_say_manual(store, protocol, cuff_high):
    sid, rec = cuff_high
    charting.manual_vitals_action(store, {"chair": "MN", "session_id": sid}, CLINICIAN, "150", "90", "", "", None, [])
    rec.poll_events()
    store.flush()
    out = dict(zip(KEYS, bedside_tick(store, protocol, {"chair": "MN", "session_id": None})))
    assert "MANUAL (manual cuff, entered by DR)" in str(out["bed-numerics.children"])
    html = report_html(store, sid, protocol)
    assert "manual cuff, entered by DR" in html and ">cuff<" in html
    bps = [e["resource"] for e in bundle(store, sid)["entry"] if "method" in e["resource"]]
    assert len(bps) == 1 and bps[0]["performer"] == [{"display": "DR"}]
    fhir_observation.Observation.model_validate(bps[0])


def test_the_profile_decides_whether_a_manual_bp_counts(protocol):
    data = dict(protocol.raw)
    data["nibp"] = {**data["nibp"], "manual_bp_counts": "yes"}
    with pytest.raises(ProtocolError, match="nibp.manual_bp_counts: expected true or false"):
        parse_protocol(data, "p.toml")
    assert protocol.manual_bp_counts is False


def test_the_trend_and_the_session_chart_tell_a_typed_bp_from_the_cuffs(store, protocol, cuff_high):
    from monitor.session_review import load
    from monitor.web import review_figures, trend
    sid, rec = cuff_high
    charting.manual_vitals_action(store, {"chair": "MN", "session_id": sid}, NURSE, "150", "90", "", "", None, [])
    rows = queries.readings(store, sid, ("hr", "spo2", "sbp", "dbp"))
    fig = trend.full_figure(rows, queries.events(store, sid), protocol, {})
    assert 150.0 not in fig["data"][trend.TRACE_INDEX["sbp"]]["y"]  # not drawn as a cuff measurement
    assert "Manual obs" in str(fig["data"][trend.EVENT_TRACE])  # but marked where it was typed
    chart = review_figures.session_figure(load(store, sid), protocol)
    manual = [t for t in chart["data"] if t.get("name") == "SBP manual"]
    cuff = [t for t in chart["data"] if t.get("name") == "SBP"]
    assert manual and manual[0]["y"] == [150.0] and 150.0 not in cuff[0]["y"]
