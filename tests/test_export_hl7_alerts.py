"""Alarms as IHE PCD-04 ORU^R40 messages (monitor/exports/hl7_alerts.py) and as the alert JSON
(monitor/exports/alert_json.py): one per state reached, in time order, with stable keys and
ids; every message's segments valid v2.6 to hl7apy (STRICT, as ORU_R01: hl7apy has no
ORU_R40), read back with python-hl7; priorities PH/PM/PL, the phases and states, who signed,
the text escaped; each state as the alarm stood then."""
from __future__ import annotations

import json

import hl7
import pytest

from monitor.exports import alert_json
from monitor.exports.hl7_alerts import alarm_id, alert_messages, states
from monitor.exports.hl7_results import Hl7Identity, dtm, read_text
from monitor.playback import simulate
from monitor.store import queries

from alarm_states import escalate
from review_data import replay_hand_session

pytestmark = pytest.mark.both_engines  # on SQLite and on PostgreSQL (conftest.py)

hl7apy_parser = pytest.importorskip("hl7apy.parser")
from hl7apy.consts import VALIDATION_LEVEL  # noqa: E402

PCD04 = "IHE_PCD_ACM_001^IHE PCD^1.3.6.1.4.1.19376.1.6.4.4^ISO"
FACETS = {"68481": "phase", "68482": "state", "68483": "inactivation", "68484": "priority", "68485": "type"}


def check_message(m) -> hl7.Message:
    """Valid v2.6 segments (hl7apy STRICT, structure ORU_R01: the one PCD-04 builds its R40 on),
    parsed back with python-hl7 as ORU^R40 with the PCD-04 profile."""
    assert m.text.endswith("\r") and "\n" not in m.text
    assert m.text.count("ORU^R40^ORU_R40") == 1
    as_r01 = m.text.replace("|ORU^R40^ORU_R40|", "|ORU^R01^ORU_R01|")
    v = hl7apy_parser.parse_message(as_r01, validation_level=VALIDATION_LEVEL.STRICT)
    assert v.name == "ORU_R01" and v.msh.msh_12.value == "2.6" and v.validate()
    parsed = hl7.parse(m.text)
    msh = parsed.segment("MSH")
    assert str(msh[9]) == "ORU^R40^ORU_R40" and str(msh[10]) == m.control_id and str(msh[21]) == PCD04
    assert str(parsed.segment("OBR")[4]) == "196616^MDC_EVT_ALARM^MDC"
    return parsed


def facets(parsed: hl7.Message) -> dict:
    out = {}
    for seg in parsed.segments("OBX"):
        code = str(seg[3]).split("^")[0]
        if code in FACETS:
            out[FACETS[code]] = str(seg[5])
            if code == "68483":
                out["by"] = str(seg[16]) if len(seg) > 16 else ""
        elif code == "196616":
            out["event"], out["flags"] = str(seg[5]), str(seg[8]).split("~")
        elif code == "alarm-limit":
            out["limit"] = float(str(seg[5]))
        else:
            out["parameter"], out["value"], out["units"] = code, float(str(seg[5])), str(seg[6])
            out["range"] = str(seg[7])
    return out


@pytest.fixture
def hand(store, protocol):
    """The hand-made session: high, medium and low alarms."""
    sid = replay_hand_session(store, protocol, patient_ref="PT-AL")
    return store, queries.session(store, sid), queries.alerts(store, sid)


@pytest.fixture
def breathing(store, protocol):
    """A capnograph scenario raising and ending HIGH and MEDIUM alarms; the first escalated,
    then signed for after it ended, the second signed for while active."""
    sid = simulate(store, protocol, "respiratory-depression", seed=1, patient_ref="PT-RD").session_id
    first, second = queries.alerts(store, sid)[:2]
    escalate(store, first["id"], first["started_at"] + 60)
    assert store.acknowledge(first["id"], "RN", first["ended_at"] + 30)
    escalate(store, second["id"], None)  # signed for in time (below): it would not have escalated
    assert store.acknowledge(second["id"], "MD", second["started_at"] + 20)
    return store, queries.session(store, sid), queries.alerts(store, sid)


@pytest.mark.slow
def test_every_state_is_a_valid_r40_in_time_order(breathing):
    store, session, alerts = breathing
    first = alerts[0]
    messages = alert_messages(session, first, now=0)
    assert [m.key for m in messages] == [f"alert/{first['id']}/{s}" for s in
                                         ("raised", "escalated", "ended", "acknowledged")]
    assert [m.ts for m in messages] == [first["started_at"], first["started_at"] + 60, first["ended_at"],
                                        first["ended_at"] + 30]
    got = [facets(check_message(m)) for m in messages]
    assert [g["phase"] for g in got] == ["start", "escalate", "end", "update"]
    # a HIGH physiological alarm stays latched on the board until signed for
    assert [g["state"] for g in got] == ["active", "active", "latched", "inactive"]
    assert [g["inactivation"] for g in got] == ["enabled", "enabled", "enabled", "alert-acknowledged"]
    assert [g["by"] for g in got] == ["", "", "", "RN"]
    assert all(g["priority"] == "PH" and g["type"] == "SP" and g["flags"] == ["H", "PH", "SP"] for g in got)
    assert got[0]["event"].startswith("196652^MDC_EVT_HI_VAL_GT_LIM^MDC")
    assert got[0]["parameter"] == "151708" and got[0]["units"] == "mm[Hg]^mm[Hg]^UCUM"
    assert (got[0]["value"], got[0]["limit"], got[0]["range"]) == (first["value"], first["limit_value"], "<50")
    # every message of one alarm carries its id in OBR-2 and OBR-3; OBR-7 its start, OBR-8 its end when ended
    obrs = [hl7.parse(m.text).segment("OBR") for m in messages]
    uid = alarm_id(session, first)
    assert {str(o[2]) for o in obrs} == {str(o[3]) for o in obrs} == {f"{uid}^INFUSION-MONITOR"}
    assert len({m.control_id for m in messages}) == 4
    assert [str(o[7]) for o in obrs] == [dtm(first["started_at"])] * 4
    assert str(obrs[2][8]) == dtm(first["ended_at"]) and len(obrs[0]) == 8  # no OBR-8 before the end


@pytest.mark.slow
def test_acknowledged_while_active(breathing):
    _, session, alerts = breathing
    second = alerts[1]  # MEDIUM, signed for 20 s after it started
    messages = alert_messages(session, second, now=0)
    assert [m.key.rsplit("/", 1)[1] for m in messages] == ["raised", "acknowledged", "ended"]
    got = [facets(check_message(m)) for m in messages]
    assert [g["state"] for g in got] == ["active", "active", "inactive"]
    assert [g["inactivation"] for g in got] == ["enabled", "alert-acknowledged", "alert-acknowledged"]
    assert got[1]["by"] == "MD" and got[2]["by"] == ""  # who signed: in the acknowledgement
    assert got[0]["flags"] == ["L", "PM", "SP"] and got[0]["event"].startswith("196674^MDC_EVT_LO_VAL_LT_LIM")
    assert got[0]["range"] == ">8" and got[0]["parameter"] == "151562"


@pytest.mark.slow
def test_priorities_are_ph_pm_pl(hand):
    _, session, alerts = hand
    seen = {}
    for a in alerts:
        for m in alert_messages(session, a, now=0):
            seen[a["priority"]] = facets(check_message(m))["priority"]
    assert seen == {"high": "PH", "medium": "PM", "low": "PL"}


@pytest.mark.slow
def test_keys_control_ids_and_texts_are_stable(breathing):
    _, session, alerts = breathing
    for a in alerts:
        once = alert_messages(session, a, now=0)
        again = alert_messages(session, a, now=12345, identity=Hl7Identity(sending_facility="CLINIC"))
        assert [(m.key, m.control_id) for m in once] == [(m.key, m.control_id) for m in again]
    # a state built before a later one happened is the same message as built after it
    first = alerts[0]
    before = {**first, "acknowledged_at": None, "acknowledged_by": None}
    assert alert_messages(session, before, now=0)[0].text == alert_messages(session, first, now=0)[0].text


SESSION = {"id": 3, "patient_ref": "PT^7|x&y", "chair": "2", "started_at": 1796190000.0, "site": None}
TECHNICAL = {"id": 9, "key": "device_disconnected:ox#4", "rule": "device_disconnected", "parameter": "spo2",
             "kind": "technical", "priority": "medium", "started_at": 1796190100.0, "ended_at": None,
             "value": None, "limit_value": None, "message": "ox: no data | 10 s ^ \\ & ~ ≥",
             "acknowledged_at": None, "acknowledged_by": None, "escalated_at": None}


def test_a_technical_alarm_and_its_text():
    [m] = alert_messages(SESSION, TECHNICAL, now=0)
    parsed = check_message(m)
    got = facets(parsed)
    assert got["type"] == "ST" and got["flags"] == ["PM", "ST"] and "value" not in got and "limit" not in got
    obx = parsed.segment("OBX")
    assert str(obx[5][0][0]) == "device_disconnected" and str(obx[5][0][2]) == "99IMN"
    assert read_text(parsed, obx[5][0][8]) == TECHNICAL["message"]
    assert read_text(parsed, parsed.segment("PID")[3][0][0]) == "PT^7|x&y"


def test_a_forwarded_alarm_keeps_its_id():
    """At a central database the chair is "<site>-<chair>": the alarm id is the site's."""
    central = {**SESSION, "id": 40, "chair": "north-2", "site": "north"}
    alert = {**TECHNICAL, "id": 77}
    assert alarm_id(central, alert) == alarm_id(SESSION, TECHNICAL)
    assert alarm_id({**SESSION, "chair": "3"}, TECHNICAL) != alarm_id(SESSION, TECHNICAL)


@pytest.mark.slow
def test_json_payloads(breathing):
    _, session, alerts = breathing
    first = alerts[0]
    payloads = alert_json.alert_payloads(session, first)
    assert [(k, ts) for k, ts, _ in payloads] == [(m.key, m.ts) for m in alert_messages(session, first, now=0)]
    docs = [doc for _, _, doc in payloads]
    assert [d["event"] for d in docs] == ["raised", "escalated", "ended", "acknowledged"]
    raised, _, ended, acked = docs
    uid = alarm_id(session, first)
    assert raised == {
        "schema": "infusion-monitor.alert/1", "id": f"{uid}/raised", "event": "raised",
        "at": raised["alarm"]["started_at"],
        "alarm": {"id": uid, "key": first["key"], "rule": "etco2_high", "parameter": "etco2",
                  "kind": "physiological", "priority": "high", "message": first["message"], "value": 59.0,
                  "limit": 50.0, "started_at": raised["at"], "escalated_at": None, "acknowledged_at": None,
                  "acknowledged_by": None, "ended_at": None},
        "session": {"id": session["id"], "patient_ref": "PT-RD", "chair": "sim"}, "site": None, "link": None}
    assert raised["at"].endswith("Z") and ended["alarm"]["ended_at"] == ended["at"]
    assert ended["alarm"]["acknowledged_by"] is None and acked["alarm"]["acknowledged_by"] == "RN"
    assert acked["alarm"]["escalated_at"] is not None
    # the text sent is one text per state, whenever it is built
    text = alert_json.payload_text(raised)
    assert json.loads(text) == raised and text == alert_json.payload_text(
        alert_json.alert_payloads(session, {**first, "acknowledged_at": None})[0][2])
    assert [s for s, _ in states(first)] == [d["event"] for d in docs]
