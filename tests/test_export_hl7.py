"""The HL7 v2.6 ORU^R01 results (monitor/exports/hl7_results.py): every message is a valid
v2.6 ORU_R01 to hl7apy (STRICT), reads back with python-hl7 to the store's numbers (NIBP
exactly, interval medians recomputed here from the raw readings), flags what the alarms
said, keeps its control id across builds, escapes free text, withdraws a struck entry, and
`export --format hl7` writes the documented file."""
from __future__ import annotations

import time
from collections import defaultdict
from statistics import median

import hl7
import pytest

from monitor.exports import render
from monitor.exports.hl7_results import (Hl7Identity, Hl7Message, event_results, hl7_file_text, interval_results,
                                         read_text, session_results)
from monitor.model import Event
from monitor.playback import simulate
from monitor.store import queries

from review_data import replay_hand_session

pytestmark = pytest.mark.both_engines  # on SQLite and on PostgreSQL (conftest.py)

hl7apy_parser = pytest.importorskip("hl7apy.parser")
from hl7apy.consts import VALIDATION_LEVEL  # noqa: E402

MDC = {"149530": "hr", "150456": "spo2", "150021": "sbp", "150022": "dbp", "150023": "map",
       "151562": "rr", "151708": "etco2"}
FLAGGED = ("sensor_off", "searching", "artifact", "error")


def valid(r) -> bool:
    return r["value"] is not None and r["status"] not in FLAGGED


def check_message(m: Hl7Message) -> hl7.Message:
    """Valid v2.6 ORU_R01 (hl7apy STRICT), parsed back with python-hl7."""
    assert m.text.endswith("\r") and "\n" not in m.text
    assert all(seg for seg in m.text.split("\r")[:-1])
    v = hl7apy_parser.parse_message(m.text, validation_level=VALIDATION_LEVEL.STRICT)
    assert v.name == "ORU_R01" and v.msh.msh_12.value == "2.6"
    assert v.validate()  # the structure too (parse_message checks the fields as it reads)
    parsed = hl7.parse(m.text)
    msh = parsed.segment("MSH")
    assert str(msh[9]) == "ORU^R01^ORU_R01" and str(msh[10]) == m.control_id and str(msh[11]) == "P"
    assert 0 < len(m.control_id) <= 20
    assert str(msh[21]) == "IHE_PCD_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO"
    assert str(parsed.segment("OBR")[4]) == "182777000^monitoring of patient^SCT"
    return parsed


def obxs(parsed: hl7.Message) -> list[dict]:
    out = []
    for seg in parsed.segments("OBX"):
        code = str(seg[3]).split("^")
        out.append({"type": str(seg[2]), "code": code, "parameter": MDC.get(code[0]), "value": str(seg[5]),
                    "units": str(seg[6]), "flag": str(seg[8]) if len(seg) > 8 else "",
                    "status": str(seg[11]), "time": str(seg[14]), "device": str(seg[18]) if len(seg) > 18 else ""})
    return out


@pytest.fixture
def hand(store, protocol):
    sid = replay_hand_session(store, protocol, patient_ref="PT-HL7")
    return store, sid, session_results(store, sid, now=0)


@pytest.fixture
def breathing(store, protocol):
    """A capnograph scenario with HIGH alarms on RR (apnea) and EtCO2."""
    sid = simulate(store, protocol, "respiratory-depression", seed=1, patient_ref="PT-RD").session_id
    return store, sid, session_results(store, sid, now=0)


@pytest.mark.slow
def test_every_message_is_a_valid_v26_oru_r01(hand):
    _every_message_is_valid(hand)


@pytest.mark.slow  # about a hundred messages at 25 ms each through hl7apy
def test_every_message_of_a_long_session_is_a_valid_v26_oru_r01(breathing):
    _every_message_is_valid(breathing)


def _every_message_is_valid(*sessions):
    for _, _, messages in sessions:
        assert messages and [m.ts for m in messages] == sorted(m.ts for m in messages)
        for m in messages:
            parsed = check_message(m)
            assert str(parsed.segment("PID")[3]).startswith(("PT-HL7^", "PT-RD^"))
            for o in obxs(parsed):
                assert o["status"] == "F" and o["time"].endswith("+0000")


def test_a_broken_message_fails_the_strict_validation(hand):
    """The validator the tests rely on does refuse a wrong structure."""
    m = hand[2][0]
    broken = m.text.replace("ORU^R01^ORU_R01", "ADT^A01^ADT_A01")
    with pytest.raises(Exception, match="required"):
        hl7apy_parser.parse_message(broken, validation_level=VALIDATION_LEVEL.STRICT).validate()


def test_nibp_values_are_the_stores_exactly(hand):
    store, sid, messages = hand
    expected = defaultdict(dict)
    for r in queries.readings(store, sid, ("sbp", "dbp", "map")):
        if valid(r):
            expected[r["ts"]][r["parameter"]] = r["value"]
    got = {}
    for m in messages:
        if m.key.startswith("nibp/"):
            values = {o["parameter"]: float(o["value"]) for o in obxs(hl7.parse(m.text))}
            assert all(o["units"] == "mm[Hg]^mm[Hg]^UCUM" and o["type"] == "NM" for o in obxs(hl7.parse(m.text)))
            got[m.ts] = values
    assert got == dict(expected) and len(got) == 4
    first = obxs(hl7.parse(next(m for m in messages if m.key.startswith("nibp/")).text))
    assert [o["code"] for o in first][0] == ["150021", "MDC_PRESS_BLD_NONINV_SYS", "MDC", "8480-6",
                                            "Systolic blood pressure", "LN"]


@pytest.mark.slow
@pytest.mark.parametrize("every_s", [60, 300])
def test_interval_values_are_medians_of_valid_readings(breathing, every_s):
    store, sid, _ = breathing
    session = queries.session(store, sid)
    readings = queries.readings(store, sid)
    bins = defaultdict(list)
    for r in readings:
        if r["parameter"] in ("hr", "spo2", "rr", "etco2") and valid(r):
            bins[(r["parameter"], int(r["ts"] // every_s) * every_s)].append(r["value"])
    got = {}
    for m in interval_results(session, readings, [], since=0, until=float("inf"), every_s=every_s):
        if not m.key.startswith("vitals/"):
            continue
        parsed = hl7.parse(m.text)
        for o, nte in zip(obxs(parsed), [s for s in parsed.segments("NTE")]):
            got[(o["parameter"], int(m.ts))] = float(o["value"])
            assert f"Median of {len(bins[(o['parameter'], int(m.ts))])} valid readings" in str(nte[3])
    expected = {k: round(float(median(v)), 2) for k, v in bins.items()}
    assert got == expected
    assert {p for p, _ in got} == {"hr", "spo2", "rr", "etco2"}


@pytest.mark.slow
def test_abnormal_flags_come_from_the_alarms(hand, breathing):
    store, sid, messages = hand
    t0 = queries.session(store, sid)["started_at"]
    nibp = {round(m.ts - t0): {o["parameter"]: o["flag"] for o in obxs(hl7.parse(m.text))}
            for m in messages if m.key.startswith("nibp/")}
    # bp_critical (HIGH, on SBP) from 150 s until the measurement at 270 s
    assert nibp == {30: {"sbp": "", "dbp": "", "map": ""}, 150: {"sbp": "HH", "dbp": "", "map": ""},
                    210: {"sbp": "HH", "dbp": "", "map": ""}, 270: {"sbp": "", "dbp": "", "map": ""}}
    flags = {(o["parameter"], m.ts): o["flag"] for m in messages if m.key.startswith("vitals/")
             for o in obxs(hl7.parse(m.text))}
    hr_high = int((t0 + 130) // 60) * 60.0  # hr_high (MEDIUM) starts at 130 s
    assert flags[("hr", hr_high)] == "H" and flags[("spo2", int((t0 + 175) // 60) * 60.0)] == "L"
    # the capnograph scenario: each interval flagged exactly when an alarm of its parameter overlapped it
    store, sid, messages = breathing
    alerts = [a for a in queries.alerts(store, sid) if a["kind"] == "physiological"]
    seen = set()
    for m in messages:
        if m.key.startswith("vitals/"):
            for o in obxs(hl7.parse(m.text)):
                over = [a for a in alerts if a["parameter"] == o["parameter"] and a["started_at"] < m.ts + 60
                        and (a["ended_at"] is None or a["ended_at"] > m.ts)]
                assert bool(o["flag"]) == bool(over), (o, over)
                if any(a["priority"] == "high" for a in over):
                    assert o["flag"] in ("HH", "LL")
                seen.add((o["parameter"], o["flag"]))
    assert ("rr", "LL") in seen and ("etco2", "HH") in seen


def test_control_ids_are_stable_and_unique(hand, store):
    _, sid, messages = hand
    again = session_results(store, sid, now=time.time(), identity=Hl7Identity(sending_facility="CLINIC"))
    assert [(m.key, m.control_id) for m in again] == [(m.key, m.control_id) for m in messages]
    assert len({m.control_id for m in messages}) == len(messages) == len({m.key for m in messages})
    assert {m.key.split("/")[0] for m in messages} == {"nibp", "vitals", "event"}


SESSION = {"id": 1, "patient_ref": "PT^7|x&y", "chair": "2", "started_at": 1796190000.0}
WEIRD = "BP 120/80 | pain^2 ~ path C:\\tmp & more\nsecond line é ≥"


def test_free_text_survives_a_round_trip():
    events = [{"id": 7, "ts": 1796190100.5, "type": "note", "text": WEIRD, "author": "AB", "data": {}},
              {"id": 8, "ts": 1796190200.0, "type": "side_effect", "text": "", "author": "AB",
               "data": {"effects": [{"effect": "other", "severity": "mild", "detail": WEIRD},
                                    {"effect": "nausea", "severity": "moderate"}]}},
              {"id": 9, "ts": 1796190300.0, "type": "intervention", "text": "", "author": "AB",
               "data": {"intervention": "airway", "detail": WEIRD}}]
    messages = event_results(SESSION, events, identity=Hl7Identity("APP|1", "FAC^2"), now=0)
    assert [m.key for m in messages] == ["event/7", "event/8", "event/9"]
    for m in messages:
        parsed = check_message(m)
        assert read_text(parsed, parsed.segment("PID")[3][0][0]) == "PT^7|x&y"
        assert read_text(parsed, parsed.segment("MSH")[3]) == "APP|1"
    note = hl7.parse(messages[0].text)
    assert read_text(note, note.segment("OBX")[5]) == WEIRD
    side = hl7.parse(messages[1].text)
    assert [str(s[3]) for s in side.segments("OBX")] == ["side-effect-other^Other side effect^99IMN",
                                                        "422587007^Nausea^SCT"]
    assert [str(s[5]) for s in side.segments("OBX")] == ["255604002^Mild^SCT", "6736007^Moderate^SCT"]
    assert read_text(side, side.segment("NTE")[3]) == "Other side effect: " + WEIRD
    act = hl7.parse(messages[2].text)
    assert read_text(act, act.segment("NTE")[3]) == WEIRD


def test_scores_are_numbers_with_their_items():
    events = [{"id": 3, "ts": 1796190100.0, "type": "moaas", "text": "MOAA/S 4", "author": "RN", "data": {"score": 4}},
              {"id": 4, "ts": 1796190200.0, "type": "cadss6", "text": "", "author": "RN",
               "data": {"items": {"1": 1, "2": 2, "6": 0, "7": 1, "15": 0, "22": 3}, "total": 7}},
              {"id": 5, "ts": 1796190300.0, "type": "acknowledge", "text": "", "author": "RN", "data": {}}]
    messages = event_results(SESSION, events, now=0)
    assert [m.key for m in messages] == ["event/3", "event/4"]  # an acknowledgement is not sent
    moaas, cadss = (obxs(check_message(m)) for m in messages)
    assert [(o["type"], o["code"][0], o["value"]) for o in moaas] == [("NM", "moaas", "4")]
    assert [o["value"] for o in cadss] == ["7", "1", "2", "0", "1", "0", "3"]
    assert cadss[0]["code"][:3] == ["cadss6", "CADSS-6 dissociation total (0-24)", "99IMN"]


def test_a_struck_entry_is_withdrawn_not_sent_as_valid(store):
    now = time.time()
    sid = store.open_session("PT-STRUCK", "S1", "ketamine-iv", now - 600)[0]
    store.record_event(sid, Event(now - 300, "note", WEIRD, "RN"))
    note = queries.events(store, sid)[-1]["id"]
    store.record_event(sid, Event(now - 200, "note", "kept", "RN"))
    store.record_event(sid, Event(now - 100, "correction", "", "KB"), {"strikes": note, "reason": "wrong chair"})
    messages = session_results(store, sid, now=0)
    assert [m.key for m in messages] == [f"event/{note + 1}", f"event/{note}/struck"]
    kept, struck = (check_message(m) for m in messages)
    assert [o["status"] for o in obxs(kept)] == ["F"]
    assert [o["status"] for o in obxs(struck)] == ["W"]
    assert read_text(struck, struck.segment("OBX")[5]) == WEIRD
    assert "Struck by KB" in str(struck.segments("NTE")[-1][3]) and "wrong chair" in str(struck.segments("NTE")[-1][3])
    assert messages[1].ts == pytest.approx(now - 100)  # sent when it was struck


@pytest.mark.slow
def test_windows_partition_a_session(breathing):
    store, sid, whole = breathing
    session, readings = queries.session(store, sid), queries.readings(store, sid)
    alerts = queries.alerts(store, sid)
    first = min(r["ts"] for r in readings) // 60 * 60
    bounds = [first + 60 * k for k in (0, 7, 8, 25)] + [max(r["ts"] for r in readings) // 60 * 60 + 60]
    parts = []
    for a, b in zip(bounds, bounds[1:]):
        got = interval_results(session, readings, alerts, since=a, until=b, now=0)
        assert all(a <= m.ts < b for m in got)
        parts += got
    intervals = [m for m in whole if not m.key.startswith("event/")]
    assert sorted((m.key, m.text) for m in parts) == sorted((m.key, m.text) for m in intervals)
    # a window that ends mid-interval leaves that interval to the next window
    assert not [m for m in interval_results(session, readings, alerts, since=first, until=first + 59)
                if m.key.startswith("vitals/")]


@pytest.mark.slow
def test_the_export_file_is_messages_each_followed_by_one_newline(hand):
    store, sid, messages = hand
    text = render(store, sid, "hl7")
    assert text.endswith("\r\n") and text.count("\n") == len(messages)
    chunks = text.split("\n")[:-1]
    assert [str(hl7.parse(c).segment("MSH")[10]) for c in chunks] == [m.control_id for m in messages]
    assert hl7_file_text(messages) == "".join(m.text + "\n" for m in messages)


@pytest.mark.slow
def test_cli_export_writes_the_file(hand, cli, tmp_path):
    store, sid, messages = hand
    out = tmp_path / "s.hl7"
    proc = cli("export", "--session", sid, "--format", "hl7", "--out", out)
    assert proc.returncode == 0, proc.stderr
    data = out.read_bytes().decode("utf-8")
    chunks = data.split("\n")
    assert chunks[-1] == "" and len(chunks) - 1 == len(messages)
    for chunk, m in zip(chunks, messages):
        parsed = check_message(Hl7Message(m.key, m.ts, m.control_id, chunk))
        assert str(parsed.segment("MSH")[10]) == m.control_id


def test_a_manual_cuff_bp_says_so(store):
    from conftest import NURSE
    from monitor.web import charting
    sid = store.open_session("PT-MAN", "M1", "ketamine-iv", time.time() - 600)[0]
    msg, ok = charting.manual_vitals_action(store, {"chair": "M1", "session_id": sid}, NURSE, "142", "91", "", "",
                                            None, [])
    assert ok, msg
    (m,) = [m for m in session_results(store, sid, now=0) if m.key.startswith("nibp/")]
    parsed = check_message(m)
    values = obxs(parsed)
    assert [(o["parameter"], o["value"], o["device"]) for o in values][:2] == [("sbp", "142", "manual cuff"),
                                                                               ("dbp", "91", "manual cuff")]
    assert "RN" in str(parsed.segments("NTE")[0][3])


def test_every_event_type_is_sent_or_left_out_with_a_reason():
    from monitor.exports.hl7_events import NOT_SENT, SENT
    from monitor.model import EVENT_TYPES
    assert set(SENT) | set(NOT_SENT) == set(EVENT_TYPES) and not set(SENT) & set(NOT_SENT)


@pytest.mark.slow
def test_a_charted_session_s_events_are_valid_results(store, protocol):
    """The emergence scenario charts MOAA/S, CADSS-6, side effects, interventions, PADSS,
    an Aldrete and the discharge: each a valid message with its values."""
    sid = simulate(store, protocol, "emergence", seed=3, patient_ref="PT-EM").session_id
    events = queries.events(store, sid)
    messages = event_results(queries.session(store, sid), events, now=0)
    sent = [e for e in events if e["type"] not in ("acknowledge", "limit_change", "baseline_set",
                                                   "monitoring_interrupted", "correction", "manual_vitals")]
    assert [m.key for m in messages] == [f"event/{e['id']}" for e in sent]
    kinds = set()
    for m, e in zip(messages, sent):
        values = obxs(check_message(m))
        kinds.add(e["type"])
        if e["type"] == "side_effect":
            assert [v["type"] for v in values] == ["CWE"] * len(e["data"]["effects"])
        if e["type"] in ("moaas", "cadss6", "padss", "aldrete"):
            assert values[0]["type"] == "NM" and float(values[0]["value"]) == e["data"].get("score",
                                                                                          e["data"].get("total"))
    assert {"moaas", "cadss6", "side_effect", "intervention", "infusion_start", "session_end"} <= kinds
