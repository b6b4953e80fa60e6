"""One place decides each session rule: the page, the CLI, the store and the engine are
asked the same questions and must give the same answers (monitor/sessions.py)."""
from __future__ import annotations

import time

import pytest
from click.testing import CliRunner

from conftest import CLINICIAN, NURSE
from monitor import sessions
from monitor.alerts import AlertEngine
from monitor.cli import main
from monitor.clinic_config import build_chair, load_clinic
from monitor.model import Alert, Event, Reading
from monitor.protocol import load_protocol
from monitor.replay_csv import ReplayError, parse_text
from monitor.store import people, queries
from monitor.web import bedside, charting, opening, recovery

pytestmark = pytest.mark.both_engines  # on SQLite and on PostgreSQL (conftest.py)

T0 = 1_700_000_000.0
PATHS = {"baseline": (), "infusion": ("infusion_start",), "recovery": ("infusion_start", "infusion_stop"),
         "ended": ("session_end",)}
ACTIONS = ("infusion_start", "infusion_stop", "session_end", "note", "aldrete", "medication")
PAGE_BUTTON = {"infusion_start": "act-start", "infusion_stop": "act-stop", "session_end": "act-end"}
ALDRETE = {"activity": "2", "respiration": "2", "circulation": "2", "consciousness": "2", "spo2": "2"}


def _session_in(store, state: str, chair: str = "R") -> int:
    sid = store.open_session("P-RULES", chair, "ketamine-iv", T0)[0]
    for i, kind in enumerate(PATHS[state]):
        store.record_event(sid, Event(T0 + 60 * (i + 1), kind, "", "RN"))
    assert queries.session(store, sid)["state"] == state
    return sid


def _expected(action: str, state: str) -> bool:
    try:
        sessions.check_entry(action, state)
        return True
    except sessions.RuleError:
        return False


def _ask_store(store, sid, action) -> bool:
    try:
        store.record_event(sid, Event(time.time(), action, "x", "RN"))
        return True
    except sessions.RuleError:
        return False


def _ask_page(store, sid, chair, action) -> bool:
    """The page, signed in as a clinician (whose role may make every one of these entries)."""
    state = {"chair": chair, "session_id": sid}
    before = len(queries.events(store, sid))
    if action in PAGE_BUTTON:
        bedside.bedside_action(store, PAGE_BUTTON[action], state, CLINICIAN)
    elif action == "note":
        charting.sign_and_chart(store, state, CLINICIAN, "note", lambda: ({}, "x"))
    elif action == "aldrete":
        recovery.aldrete_action(store, load_protocol(), state, CLINICIAN, ALDRETE)
    else:
        charting.sign_and_chart(store, state, CLINICIAN, action, lambda: ({"drug": "ondansetron"}, "ondansetron 4 mg IV"))
    return len(queries.events(store, sid)) > before


def _ask_engine(protocol, state, action) -> bool:
    """The engine follows the rules: a refused transition leaves its phase alone."""
    engine = AlertEngine(protocol)
    for i, kind in enumerate(PATHS[state]):
        engine.event(Event(T0 + 60 * (i + 1), kind))
    engine.event(Event(T0 + 1000, action))
    return engine.state == (sessions.phase_after(action, state) or state)


@pytest.mark.slow
@pytest.mark.parametrize("state", list(PATHS))
@pytest.mark.parametrize("action", ACTIONS)
def test_every_entry_point_answers_alike(store, protocol, state, action):
    want = _expected(action, state)
    assert _ask_store(store, _session_in(store, state, "S"), action) is want
    assert _ask_page(store, _session_in(store, state, "P"), "P", action) is want
    assert _ask_engine(protocol, state, action)


def test_the_table_itself():
    """Stop without a start is refused everywhere (the page's answer); after the end, only a late note."""
    assert not _expected("infusion_stop", "baseline")
    assert _expected("infusion_stop", "infusion") and _expected("infusion_start", "baseline")
    assert [a for a in ACTIONS if _expected(a, "ended")] == ["note"]
    assert [a for a in ACTIONS if _expected(a, "baseline")] == ["infusion_start", "session_end", "note", "medication"]
    assert _expected("aldrete", "recovery") and not _expected("aldrete", "infusion")


def test_replay_recording_walks_the_same_rules():
    with pytest.raises(ReplayError, match="line 3: Cannot stop the infusion: the session is in baseline"):
        parse_text("t_s,parameter,value,status\n0,hr,70,\n5,event,infusion_stop,\n", "r.csv")
    rows = parse_text("t_s,parameter,value,status\n0,event,infusion_start,\n5,event,infusion_stop,\n"
                      "9,event,session_end,\n", "r.csv")
    assert [r.event for r in rows] == ["infusion_start", "infusion_stop", "session_end"]


def test_late_note_after_the_end_is_marked_late(store):
    sid = _session_in(store, "ended")
    store.record_event(sid, Event(T0 + 900, "note", "pt called: fine at home", "RN"))
    assert queries.events(store, sid)[-1]["data"] == {"late": True}


# ----------------------------------------------------------------- the end gate
def _with_unacknowledged_high(store, chair: str) -> tuple[int, int]:
    sid = _session_in(store, "recovery", chair)
    store.put_change(sid, Alert("bp_critical#1", "bp_critical", "sbp", "physiological", "high", T0 + 100,
                                186.0, 180.0, "SBP 186 ≥ 180", ended_at=T0 + 200))
    store.flush()
    return sid, queries.alerts(store, sid)[0]["id"]


def test_end_gate_same_answer_on_page_store_and_cli(store, db_path):
    sid, aid = _with_unacknowledged_high(store, "G")
    state = {"chair": "G", "session_id": sid}
    assert bedside.bedside_action(store, "act-end", state, CLINICIAN) == \
        "Not ended: acknowledge the HIGH alarm first (SBP 186 ≥ 180)."
    with pytest.raises(sessions.RuleError, match="acknowledge the HIGH alarm first"):
        store.record_event(sid, Event(T0 + 300, "session_end", "", "RN"))
    out = CliRunner().invoke(main, ["--db", str(db_path), "end-session", "--session", str(sid), "--by", "AB"])
    assert out.exit_code == 2 and "acknowledge the HIGH alarm first" in out.output and "--override" in out.output
    assert queries.session(store, sid)["state"] == "recovery"
    # signed for: every entry point lets the session end
    assert store.acknowledge(aid, "RN", T0 + 250, session_id=sid)
    assert bedside.bedside_action(store, "act-end", state, CLINICIAN) == "Session ended. (DR)"


def test_the_one_override_is_signed_and_on_the_record(store, db_path):
    sid, aid = _with_unacknowledged_high(store, "O")
    out = CliRunner().invoke(main, ["--db", str(db_path), "end-session", "--session", str(sid), "--by", "ab",
                                    "--override", "patient left against advice"])
    assert out.exit_code == 0, out.output
    end = [e for e in queries.events(store, sid) if e["type"] == "session_end"][0]
    assert end["author"] == "AB"
    assert end["data"] == {"override": "patient left against advice", "unacknowledged": [aid]}
    assert queries.session(store, sid)["ended_by"] == "AB"
    blank = CliRunner().invoke(main, ["--db", str(db_path), "end-session", "--session", str(sid), "--by", "ab",
                                      "--override", "  "])
    assert blank.exit_code == 2 and "--override: give the reason" in blank.output


# ----------------------------------------------------------------- open or resume
def test_open_or_resume_same_answer_for_page_acquire_and_clinic_file(store, protocol, tmp_path):
    assert opening.open_session_action(store, protocol, "PT-A", {"chair": "9"}, NURSE).startswith("Session ")
    sid = queries.current_session(store, "9")["id"]
    chair = build_chair(store, protocol, "9", [{"spec": "sim:normal"}])
    # the same patient: resumed by every entry point
    assert chair.session_for("PT-A") == (sid, True)
    assert opening.open_session_action(store, protocol, "PT-A", {"chair": "9"}, NURSE) == \
        f"Session {sid} for this patient is already open on this chair."
    # another patient: refused by every entry point, with the way out
    assert "has open session" in opening.open_session_action(store, protocol, "PT-B", {"chair": "9"}, NURSE)
    with pytest.raises(sessions.RuleError, match="end it first"):
        chair.session_for("PT-B")
    clinic = tmp_path / "clinic.toml"
    clinic.write_text('[chairs.9]\ndevices = ["sim:normal"]\npatient = "PT-B"\n', encoding="utf-8")
    with pytest.raises(ValueError, match="chairs.9.patient: chair 9 has open session"):
        load_clinic(clinic, store, protocol)
    assert [s["id"] for s in queries.sessions(store)] == [sid]


@pytest.mark.slow
@pytest.mark.sqlite_only  # a CLI run per case; the rule is the store's, checked on PostgreSQL elsewhere here
@pytest.mark.parametrize("ref,ok", [("PT-1", True), ("  PT-2 ", True), ("", False), ("x" * 41, False),
                                    ('a"b', False), ("<script>", False)])
def test_patient_reference_rule_everywhere(store, protocol, db_path, tmp_path, ref, ok):
    page = opening.open_session_action(store, protocol, ref, {"chair": "Q"}, NURSE)
    assert page.startswith("Session ") is ok
    cli = CliRunner().invoke(main, ["--db", str(db_path), "simulate", "--scenario", "normal", "--patient", ref,
                                    "--chair", "QC"])
    assert (cli.exit_code == 0) is ok, cli.output
    clinic = tmp_path / "clinic.toml"
    clinic.write_text(f'[chairs.Z]\ndevices = ["sim:normal"]\npatient = {ref!r}\n'.replace("'", '"')
                      if '"' not in ref else '[chairs.Z]\ndevices = ["sim:normal"]\npatient = \'a"b\'\n',
                      encoding="utf-8")
    if ok:
        load_clinic(clinic, store, protocol)
    else:
        with pytest.raises(ValueError, match="chairs.Z.patient: Patient reference"):
            load_clinic(clinic, store, protocol)


@pytest.mark.slow
@pytest.mark.parametrize("raw,ok", [("ab", True), ("A.B.", True), ("abcd", True), ("a", False), ("abcde", False),
                                    ("a1", False), ("", False)])
def test_initials_rule_for_users_and_cli(store, db_path, raw, ok):
    """A user's initials (what the pages sign with) and the CLI's --by follow one rule."""
    try:
        people.add_user(store, "initials.test", "clinician", "a long password", initials=raw)
        made = True
    except sessions.RuleError:
        made = False
    assert made is ok
    sid2 = _session_in(store, "recovery", "J")
    out = CliRunner().invoke(main, ["--db", str(db_path), "end-session", "--session", str(sid2), "--by", raw])
    assert (out.exit_code == 0) is ok, out.output


# ----------------------------------------------------------------- the session clock
def test_session_clock_same_on_page_and_cli(store, db_path):
    """A sped-up simulation runs ahead of the wall clock: entries land after its newest reading."""
    ahead = time.time() + 3600
    sid = _session_in(store, "recovery", "C")
    store.put_reading(sid, Reading(ahead, "hr", 70.0, "ok", "sim"))
    store.flush()
    charting.sign_and_chart(store, {"chair": "C", "session_id": sid}, NURSE, "note", lambda: ({}, "x"))
    out = CliRunner().invoke(main, ["--db", str(db_path), "end-session", "--session", str(sid), "--by", "RN"])
    assert out.exit_code == 0, out.output
    note, end = [e for e in queries.events(store, sid) if e["type"] in ("note", "session_end")]
    assert note["ts"] >= ahead and end["ts"] >= ahead
    assert sessions.session_clock(5.0, None) == 5.0 and sessions.session_clock(5.0, 9.0) == 9.0


# ----------------------------------------------------------------- the end closes the record
def test_ending_closes_every_alert_at_the_end_time(store):
    sid = _session_in(store, "recovery", "E")
    store.put_change(sid, Alert("hr_high#1", "hr_high", "hr", "physiological", "medium", T0 + 100, 131.0, 120.0,
                                "HR 131 > 120"))
    store.flush()
    store.record_event(sid, Event(T0 + 500, "session_end", "", "RN"))
    assert [a["ended_at"] for a in queries.alerts(store, sid)] == [T0 + 500]
    # the engine's own (later) snapshot of the still-active alert cannot reopen it
    store.put_change(sid, Alert("hr_high#1", "hr_high", "hr", "physiological", "medium", T0 + 100, 135.0, 120.0,
                                "HR 135 > 120"))
    store.flush()
    assert [a["ended_at"] for a in queries.alerts(store, sid)] == [T0 + 500]


def test_a_session_ended_on_the_page_reaches_live_acquisition(store, protocol):
    """Acquisition applies the end event before it lets the session go, so its alarms close."""
    t = [T0]
    chair = build_chair(store, protocol, "L", [{"spec": "sim:normal"}])
    chair.clock = lambda: t[0]
    sid = chair.open_session("PT-L", ts=T0)
    for k in range(40):  # HR 150 for 40 s: hr_high and hr_critical
        chair.reading(Reading(T0 + k, "hr", 150.0, "ok", "ox"))
        chair.reading(Reading(T0 + k, "spo2", 97.0, "ok", "ox"))
    t[0] = T0 + 40
    chair.tick()
    store.flush()
    assert any(a["ended_at"] is None for a in queries.alerts(store, sid))
    for a in queries.alerts(store, sid):
        store.acknowledge(a["id"], "RN", T0 + 41)
    store.record_event(sid, Event(T0 + 45, "session_end", "", "RN"))  # from the page
    t[0] = T0 + 46
    chair.tick()
    store.flush()
    assert chair.recorder is None
    assert all(a["ended_at"] is not None and a["ended_at"] <= T0 + 45 for a in queries.alerts(store, sid))


def test_an_acknowledgement_is_in_the_event_log(store):
    sid, aid = _with_unacknowledged_high(store, "K")
    assert store.acknowledge(aid, "RN", T0 + 260, session_id=sid)
    assert not store.acknowledge(aid, "KB", T0 + 270, session_id=sid)  # signed once
    ack = [e for e in queries.events(store, sid) if e["type"] == "acknowledge"]
    assert [(e["ts"], e["author"], e["text"]) for e in ack] == [(T0 + 260, "RN", "SBP 186 ≥ 180")]
    key = store._one("SELECT key FROM alerts WHERE id = ?", (aid,))["key"]  # the engine hears it by key
    assert ack[0]["data"] == {"alert_id": aid, "key": key, "rule": "bp_critical", "priority": "high"}


def test_no_stat_bp_for_an_ended_session(store):
    sid = _session_in(store, "ended", "T")
    assert bedside.bedside_action(store, "act-stat", {"chair": "T", "session_id": sid}, NURSE) == \
        "Cannot request a STAT BP: the session has ended."
    assert store.take_commands("T", "nibp", T0) == []


# ----------------------------------------------------------------- playback and the live chairs
DESAT = "t_s,parameter,value,status\n" + "".join(f"{t},spo2,80,\n{t},hr,80,\n" for t in range(0, 60)) + \
    "60,event,session_end,\n"


def test_max_speed_playback_ending_over_its_alarms_is_on_the_record(store, protocol):
    from monitor.playback import END_OVERRIDE, replay
    sid = replay(store, protocol, parse_text(DESAT, "desat.csv"), speed=None, chair="D").session_id
    high = [a["id"] for a in queries.alerts(store, sid) if a["priority"] == "high"]
    end = [e for e in queries.events(store, sid) if e["type"] == "session_end"][0]
    assert high and end["data"] == {"override": END_OVERRIDE, "unacknowledged": high}


@pytest.mark.slow
def test_paced_playback_stops_when_the_session_is_ended_elsewhere(store, protocol):
    import threading
    from monitor.playback import simulate
    store.flush_interval = 0.1
    result = {}
    t = threading.Thread(target=lambda: result.update(r=simulate(store, protocol, "normal", speed=60, chair="PB")))
    t.start()
    from conftest import wait_until
    s = wait_until(lambda: queries.current_session(store, "PB"))
    wait_until(lambda: queries.newest_reading_ts(store, s["id"]) is not None)
    now = sessions.session_clock(time.time(), queries.newest_reading_ts(store, s["id"]))  # as the page does
    store.record_event(s["id"], Event(now, "session_end", "stop the demo", "RN"))
    t.join(timeout=30)
    assert not t.is_alive() and result["r"].session_id == s["id"]
    ended_at = queries.session(store, s["id"])["ended_at"]
    late = [r for r in queries.readings(store, s["id"]) if r["ts"] > ended_at + 5]  # a step or two in flight
    assert late == []
    assert result["r"].readings < 3 * 600  # stopped early: the whole scenario is over 3,000 s
    assert [e["author"] for e in queries.events(store, s["id"]) if e["type"] == "session_end"] == ["RN"]


def test_stat_is_gated_in_the_store(store):
    sid = _session_in(store, "ended", "ST")
    with pytest.raises(sessions.RuleError, match="Cannot request a STAT BP: the session has ended"):
        store.request_command(sid, "nibp:stat", T0, "RN")
    live = _session_in(store, "infusion", "SL")
    store.request_command(live, "nibp:stat", T0, "RN")
    assert store.take_commands("SL", "nibp", T0) == ["stat"]


def test_a_chairs_devices_never_record_into_a_playback_session(store, protocol):
    from monitor.playback import simulate
    chair = build_chair(store, protocol, "V", [{"spec": "sim:normal"}])
    sid = store.open_session("TRAIN", "V", protocol.name, time.time(), source="simulate:normal:0", resume=False)[0]
    chair.tick()
    assert chair.recorder is None  # the chair's own patient is not charted into the training session
    assert sessions.recorded_by_devices(queries.session(store, sid)) is False
    assert simulate  # playback sessions are opened with a source other than live


def test_the_demo_chair_never_takes_over_another_patients_session(store, protocol):
    from monitor.clinic_config import ConfigError, demo_chairs
    store.open_session("PT-REAL", "1", protocol.name, time.time())
    with pytest.raises(ConfigError, match="demo chair: chair 1 has open session 1 for patient PT-REAL"):
        demo_chairs(store, protocol)


def test_a_late_note_in_a_recording_replays():
    rows = parse_text("t_s,parameter,value,status\n0,event,session_end,\n5,event,note:called the patient\n", "n.csv")
    assert [r.event for r in rows] == ["session_end", "note"]
    with pytest.raises(ReplayError, match="line 3: data after session_end"):
        parse_text("t_s,parameter,value,status\n0,event,session_end,\n5,hr,70,\n", "n.csv")


def test_a_page_writes_only_into_the_session_its_chair_shows(store):
    """A page left open on an old session, or a forged page state, writes nothing."""
    old = _session_in(store, "ended", "W")
    new = _session_in(store, "baseline", "W")
    stale = {"chair": "W", "session_id": old}
    out_of_date = "This page is out of date: the chair's session has changed. Reload the page."
    assert charting.sign_and_chart(store, stale, NURSE, "note", lambda: ({}, "x")) == (out_of_date, False)
    assert bedside.bedside_action(store, "act-stat", stale, NURSE) == out_of_date
    forged = {"chair": "W", "session_id": _session_in(store, "infusion", "OTHER")}
    assert bedside.bedside_action(store, "act-stop", forged, NURSE) == out_of_date
    assert [e["type"] for e in queries.events(store, old)] == ["session_end"]
    assert queries.events(store, new) == []


# ----------------------------------------------------------------- the page's controls follow the rules
def test_controls_are_disabled_with_the_rules_reason(store, protocol):
    from monitor.web.bedside import bedside_tick, KEYS
    sid = _session_in(store, "infusion", "CT")
    out = dict(zip(KEYS, bedside_tick(store, protocol, {"chair": "CT", "session_id": None})))
    assert out["act-start.disabled"] is True
    assert out["act-start.title"] == "Cannot start the infusion: the session is in infusion."
    assert (out["act-stop-btn.disabled"], out["act-stat.disabled"], out["note-save.disabled"]) == (False,) * 3
    store.record_event(sid, Event(T0 + 500, "session_end", "", "RN"))
    out = dict(zip(KEYS, bedside_tick(store, protocol, out["bed-state.data"])))
    enabled = [k.split(".")[0] for k in KEYS if k.endswith(".disabled") and out[k] is False]
    assert enabled == ["note-save", "strike-save"]  # a late note, or striking a wrong entry
    assert out["mv-save.title"] == "The session has ended: only a late note can be added."
    assert out["act-stat.title"] == "Cannot request a STAT BP: the session has ended."


def test_a_late_entry_says_so_on_the_bedside_the_review_and_the_report(store, protocol):
    from monitor.exports.html_report import report_html
    from monitor.web.bedside_view import event_item
    sid = _session_in(store, "ended", "LT")
    store.record_event(sid, Event(T0 + 900, "note", "patient called: fine", "RN"))
    late = queries.events(store, sid)[-1]
    assert "Note · late entry" in str(event_item(late))
    assert "Note · late entry" in report_html(store, sid, protocol)
    on_time = queries.events(store, sid)[0]
    assert "late entry" not in str(event_item(on_time))


def test_overview_agrees_with_the_bedside_about_an_ended_chair(store, protocol):
    """An ended session with a HIGH alarm nobody signed for is not shown as a free chair; it does not sound."""
    from monitor.web.overview import overview_tick
    sid, aid = _with_unacknowledged_high(store, "OV")
    store.record_event(sid, Event(T0 + 300, "session_end", "", "RN"), override="test: left over the alarm")
    classes, bodies, priorities, phases, sound = overview_tick(store, ["OV"], protocol)
    assert (priorities, phases, sound) == (["high"], ["ended"], [])
    assert "acknowledge on its page" in str(bodies[0]) and "free" not in str(bodies[0])
    store.acknowledge(aid, "RN", T0 + 400, session_id=sid)
    classes, bodies, priorities, phases, sound = overview_tick(store, ["OV"], protocol)
    assert (priorities, phases) == (["none"], ["none"]) and "free" in str(bodies[0])


# ----------------------------------------------------------------- discharge
def test_discharge_readiness_rule():
    from monitor.discharge import readiness as decide

    def readiness(*args):
        r = decide(*args)
        return r.ready, r.why
    ready = {"total": 10, "minimum": 9, "ready": True}
    alarm = {"kind": "physiological", "ended_at": None, "acknowledged_at": None, "message": "BP 195/105: SBP 195 ≥ 180"}
    # a profile without [padss] (rule None) asks for the Aldrete alone
    assert readiness(ready, [], None, [], T0, T0 + 1800, 1800) == (True, ())
    assert readiness(ready, [], None, [alarm], T0, T0 + 3600, 1800) == \
        (False, ("alarm active: BP 195/105: SBP 195 ≥ 180",))
    assert readiness(ready, [], None, [], T0, T0 + 600, 1800) == \
        (False, ("observed 10 of 30 min since the infusion stopped",))
    assert readiness({"total": 8, "minimum": 9, "ready": False}, [], None, [], T0, T0 + 3600, 1800)[1] == \
        ("modified Aldrete 8/10 (needs ≥ 9)",)
    technical = {**alarm, "kind": "technical", "message": "Oximeter signal lost"}
    assert readiness(ready, [], None, [technical], T0, T0 + 3600, 1800) == (True, ())


def test_scoring_against_the_data_needs_a_reason():
    from monitor.web.forms import FormError, validate_aldrete
    raw = {"activity": "2", "respiration": "2", "circulation": "2", "consciousness": "2", "spo2": "2"}
    pre = {"circulation": (0, "SBP 195 vs baseline 132 (+63 mmHg), 1 min ago"), "spo2": (2, "SpO2 97 %")}
    with pytest.raises(FormError) as e:
        validate_aldrete(raw, minimum=9, prefilled=pre)
    assert e.value.errors == ["Circulation: the data suggests 0 (SBP 195 vs baseline 132 (+63 mmHg), 1 min ago); "
                              "give a reason to score 2"]
    data, text = validate_aldrete({**raw, "reason": "repeat manual BP 138/84"}, minimum=9, prefilled=pre)
    assert data["overridden"] == {"items": {"circulation": 0}, "reason": "repeat manual BP 138/84"}
    assert text.endswith("scored against the data: repeat manual BP 138/84")


def test_the_page_never_shows_ready_during_an_alarm_or_too_soon(store, protocol):
    from monitor.web.bedside import KEYS, bedside_tick
    now = time.time()
    sid = store.open_session("P-DIS", "DS", protocol.name, now - 7200)[0]
    store.record_event(sid, Event(now - 5400, "infusion_start", "", "RN"))
    store.record_event(sid, Event(now - 3600, "infusion_stop", "", "RN"))
    store.put_change(sid, Alert("bp_critical#1", "bp_critical", "sbp", "physiological", "high", now - 60, 195.0,
                                180.0, "BP 195/105: SBP 195 ≥ 180"))
    store.flush()
    scores = {k: 2 for k in ("activity", "respiration", "circulation", "consciousness", "spo2")}
    store.record_event(sid, Event(now - 30, "aldrete", "Modified Aldrete 10/10", "RN"),
                       {**scores, "total": 10, "ready": True, "minimum": 9})
    for ago in (1500, 20):  # the profile's two qualifying PADSS scores, 20 min apart
        store.record_event(sid, Event(now - ago, "padss", "PADSS 10/10", "RN"), {"total": 10, "qualifies": True})
    out = dict(zip(KEYS, bedside_tick(store, protocol, {"chair": "DS", "session_id": None})))
    shown = str(out["bed-discharge.children"])
    assert "NOT READY" in shown and "alarm active: BP 195/105" in shown and "READY FOR DISCHARGE" not in shown
    store.put_change(sid, Alert("bp_critical#1", "bp_critical", "sbp", "physiological", "high", now - 60, 195.0,
                                180.0, "BP 195/105: SBP 195 ≥ 180", ended_at=now - 10))
    store.flush()
    aid = queries.alerts(store, sid)[0]["id"]
    store.acknowledge(aid, "RN", now - 5, session_id=sid)
    out = dict(zip(KEYS, bedside_tick(store, protocol, out["bed-state.data"])))
    assert "READY FOR DISCHARGE" in str(out["bed-discharge.children"])


# ----------------------------------------------------------------- the record a clinician signs
def test_sign_off_only_once_the_session_has_ended_and_it_is_in_the_report(store, protocol):
    from monitor.exports.html_report import report_html
    from monitor.web.review import sign_off_action
    sid = _session_in(store, "recovery", "SO")
    assert sign_off_action(store, sid, CLINICIAN) == \
        ("Not signed: Sign-off: the record can be signed once the session has ended.", False)
    store.record_event(sid, Event(T0 + 500, "session_end", "", "RN"))
    assert "Not yet signed in infusion-monitor" in report_html(store, sid, protocol)
    assert sign_off_action(store, sid, CLINICIAN) == ("Signed by doc1 (DR).", True)
    (ev,) = [e for e in queries.events(store, sid) if e["type"] == "review_signoff"]
    assert (ev["author"], ev["data"], ev["text"]) == ("DR", {"name": "doc1"}, sessions.SIGNOFF_STATEMENT)
    html = report_html(store, sid, protocol)
    assert "I have reviewed this session record. <b>doc1</b> (DR)" in html


def test_every_printed_page_names_patient_session_and_page(store, protocol):
    from monitor.exports.html_report import css_string, report_html
    sid = _session_in(store, "ended", "PR")
    html = report_html(store, sid, protocol)
    assert '@top-left { content: "Patient P-RULES · session' in html
    assert 'content: "page " counter(page) " of " counter(pages)' in html
    assert css_string('x"</style><script>') == 'x\\22 \\3c /style\\3e \\3c script\\3e '
    assert "overflow-wrap: anywhere" in html  # a long unbroken note wraps instead of pushing a column off


def test_an_entry_after_the_end_is_never_dated_before_it(store):
    """A sped-up session ended ahead of the wall clock: a later acknowledgement and note come after its end."""
    ahead = time.time() + 3600
    sid, aid = _with_unacknowledged_high(store, "AH")
    store.record_event(sid, Event(ahead, "session_end", "", "RN"), override="test: ended over the alarm")
    from monitor.web.alarms import acknowledge_action
    acknowledge_action(store, aid, NURSE, {"chair": "AH", "session_id": sid})
    charting.sign_and_chart(store, {"chair": "AH", "session_id": sid}, NURSE, "note", lambda: ({}, "late"))
    late = [e for e in queries.events(store, sid) if e["type"] in ("acknowledge", "note")]
    assert len(late) == 2 and all(e["ts"] >= ahead and e["data"]["late"] for e in late)
    assert queries.alerts(store, sid)[0]["acknowledged_at"] >= ahead


def test_the_alarm_board_in_python_and_in_sql_agree(store):
    """sessions.on_alarm_board (a report asks it of the past) and the store's SQL board are one rule."""
    now = time.time()
    sid = store.open_session("P-B", "BB", "ketamine-iv", now - 600)[0]
    cases = [("hr_high", "medium", "physiological", None, None), ("bp_critical", "high", "physiological", now - 5, None),
             ("spo2_critical", "high", "physiological", now - 9, now - 2), ("spo2_low", "medium", "physiological",
                                                                           now - 50, None),
             ("device_disconnected", "high", "technical", now - 3, None), ("hr_critical", "high", "physiological",
                                                                           None, now - 1)]
    for i, (rule, priority, kind, ended, acked) in enumerate(cases):
        store.put_change(sid, Alert(f"{rule}#{i}", rule, "hr", kind, priority, now - 100 + i, 1.0, 1.0, rule,
                                    ended_at=ended))
    store.flush()
    for i, (_, _, _, _, acked) in enumerate(cases):
        if acked is not None:
            aid = [a for a in queries.alerts(store, sid) if a["key"].endswith(f"#{i}")][0]["id"]
            store.acknowledge(aid, "RN", acked, session_id=sid)
    stored = queries.alerts(store, sid)
    assert {a["id"] for a in queries.alarm_board(store, sid)} == {a["id"] for a in stored
                                                                  if sessions.on_alarm_board(a)}
    # asked of the past: before the bp_critical ended it was active; the signed spo2_critical still unsigned then
    earlier = {a["rule"] for a in stored if sessions.on_alarm_board(a, now - 6)}
    assert earlier == {"hr_high", "bp_critical", "spo2_critical", "device_disconnected", "hr_critical"}
    assert {a["rule"] for a in stored if sessions.on_alarm_board(a, now - 99.5)} == {"hr_high"}  # only it had begun
