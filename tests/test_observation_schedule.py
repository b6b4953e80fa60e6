"""Scheduled observations (issue 13, item 2): the profile says when MOAA/S, CADSS-6 and BP are
due; the bedside lists each as upcoming, due, overdue or done; an overdue item is a LOW
technical reminder, shown and never sounded."""
from __future__ import annotations

import time
from dataclasses import replace

import pytest

from conftest import NURSE, watched
from monitor import observation_schedule as sched
from monitor.model import Event, Reading
from monitor.protocol import ProtocolError, load_protocol, parse_protocol
from monitor.store import queries
from monitor.web import alarms, bedside, charting, observing

pytestmark = pytest.mark.both_engines  # on SQLite and on PostgreSQL (conftest.py)

MIN = 60.0
T = 1_800_000_000.0  # infusion start


def session(start=T, stop=None, state="infusion"):
    return {"infusion_start": start, "infusion_end": stop, "state": state}


def by_label(rows):
    return {r["label"]: r for r in rows}


@pytest.fixture(scope="module")
def iv():
    return load_protocol("ketamine-iv")


def test_shipped_profiles_schedule_what_the_issue_names():
    labels = {n: [i.label for i in load_protocol(n).schedule] for n in ("ketamine-iv", "esketamine-rems",
                                                                        "ketamine-pain")}
    assert labels["ketamine-iv"] == [
        "MOAA/S 20 min after infusion start", "CADSS-6 20 min after infusion start",
        "MOAA/S 40 min after infusion start", "CADSS-6 40 min after infusion start",
        "MOAA/S 10 min before earliest discharge", "CADSS-6 10 min before earliest discharge"]
    assert labels["esketamine-rems"][:2] == ["BP at infusion start", "BP 40 min after infusion start"]
    assert "BP 10 min before earliest discharge" in labels["esketamine-rems"]


def _with_schedule(iv, text: str):
    data = dict(iv.raw)
    import tomllib
    data["schedule"] = tomllib.loads(text)["schedule"]
    return parse_protocol(data, "edited.toml")


@pytest.mark.parametrize("text,named", [
    ('[schedule]\nearly_s = 300\nlate_s = 600\n[[schedule.due]]\nobservation = "padss"\nafter = "infusion_start"\nat_s = 0',
     "edited.toml: schedule.due[1].observation: one of moaas, cadss6, nibp, got 'padss'"),
    ('[schedule]\nearly_s = 300\nlate_s = 600\n[[schedule.due]]\nobservation = "moaas"\nafter = "dosing"\nat_s = 0',
     "edited.toml: schedule.due[1].after: one of infusion_start, infusion_stop, discharge, got 'dosing'"),
    ('[schedule]\nearly_s = 300\nlate_s = 600\n[[schedule.due]]\nobservation = "moaas"\nafter = "infusion_start"\nat_s = 1e9',
     "edited.toml: schedule.due[1].at_s: 1e+09 is outside -14400..14400 s"),
    ('[schedule]\nearly_s = 300\nlate_s = 0\n', "edited.toml: schedule.late_s: 0 is outside 60..1800 s"),
    ('[schedule]\nearly_s = 300\nlate_s = 600\n[[schedule.due]]\nobservation = "moaas"\nafter = "infusion_start"\n'
     'at_s = 60\nlate_s = nan', "edited.toml: schedule.due[1].late_s: expected a number"),
    ('[schedule]\nearly_s = 300\nlate_s = 600\nsoon = 1\n', "edited.toml: schedule.soon: unknown key"),
    ('[schedule]\nearly_s = 300\nlate_s = 600\n[[schedule.due]]\nobservation = "moaas"\nafter = "infusion_start"\n'
     'at_s = 60\n[[schedule.due]]\nobservation = "moaas"\nafter = "infusion_start"\nat_s = 60',
     "edited.toml: schedule.due: 'MOAA/S 1 min after infusion start' is listed twice"),
])
def test_a_bad_schedule_is_refused_naming_the_key(iv, text, named):
    with pytest.raises(ProtocolError) as e:
        _with_schedule(iv, text)
    assert str(e.value).startswith(named)


def test_a_profile_without_a_schedule_schedules_nothing(iv):
    data = {k: v for k, v in iv.raw.items() if k != "schedule"}
    assert parse_protocol(data, "old.toml").schedule == ()


def test_an_item_goes_upcoming_due_overdue(iv):
    def state_at(minutes):
        rows = sched.status(iv.schedule, session(), {}, T + minutes * MIN, iv.minimum_observation_s)
        return by_label(rows)["MOAA/S 20 min after infusion start"]["state"]
    assert [state_at(m) for m in (0, 14.9, 15, 20, 30, 30.1)] == ["upcoming", "upcoming", "due", "due", "due",
                                                                  "overdue"]
    rows = by_label(sched.status(iv.schedule, session(), {}, T + 10 * MIN, iv.minimum_observation_s))
    assert rows["MOAA/S 10 min before earliest discharge"]["state"] == "waiting"  # the infusion has not stopped


def test_an_entry_counts_for_the_latest_item_whose_window_opened(iv):
    entries = {"moaas": [[T + 38 * MIN, "RN"]], "cadss6": [[T + 21 * MIN, "RN"], [T + 33 * MIN, "AB"]]}
    rows = by_label(sched.status(iv.schedule, session(), entries, T + 39 * MIN, iv.minimum_observation_s))
    # the 40-minute MOAA/S was charted at 38 (its window opened at 35); the 20-minute one stays missed
    assert rows["MOAA/S 40 min after infusion start"]["state"] == "done"
    assert rows["MOAA/S 20 min after infusion start"]["state"] == "overdue"
    assert (rows["CADSS-6 20 min after infusion start"]["state"],
            rows["CADSS-6 20 min after infusion start"]["done_by"]) == ("done", "RN")
    # one at 33 min is too early for the 40-minute item and the 20-minute one is done already
    assert rows["CADSS-6 40 min after infusion start"]["state"] == "due"
    late = by_label(sched.status(iv.schedule, session(), {"moaas": [[T + 32 * MIN, "RN"]]}, T + 33 * MIN,
                                 iv.minimum_observation_s))
    assert late["MOAA/S 20 min after infusion start"]["state"] == "done_late"


def test_before_discharge_counts_from_the_infusion_stop(iv):
    stop = T + 40 * MIN
    rows = by_label(sched.status(iv.schedule, session(stop=stop, state="recovery"), {}, stop + MIN,
                                 iv.minimum_observation_s))
    item = rows["MOAA/S 10 min before earliest discharge"]
    assert item["due_at"] == stop + iv.minimum_observation_s - 10 * MIN and item["state"] == "upcoming"
    ended = sched.status(iv.schedule, session(stop=stop, state="ended"), {}, stop + 3 * 3600,
                         iv.minimum_observation_s)
    assert {r["state"] for r in ended} == {"missed"} and sched.reminders(ended) == []


def test_time_points_after_an_early_stop_are_not_needed():
    pain = load_protocol("ketamine-pain")
    rows = by_label(sched.status(pain.schedule, session(stop=T + 50 * MIN, state="recovery"),
                                 {"moaas": [[T + 20 * MIN, "RN"]]}, T + 130 * MIN, pain.minimum_observation_s))
    assert rows["MOAA/S 60 min after infusion start"]["state"] == "not_needed"
    assert rows["MOAA/S 120 min after infusion start"]["state"] == "not_needed"
    assert rows["MOAA/S 20 min after infusion start"]["state"] == "done"


def test_the_esketamine_predose_bp_may_be_taken_15_minutes_before():
    rems = load_protocol("esketamine-rems")
    for minutes_before, expected in ((14, "done"), (16, "overdue")):
        entries = sched.fold_bp({}, [{"parameter": "sbp", "value": 128, "status": "ok", "source": "cuff",
                                      "ts": T - minutes_before * MIN}])
        rows = by_label(sched.status(rems.schedule, session(), entries, T + 6 * MIN, rems.minimum_observation_s))
        assert rows["BP at infusion start"]["state"] == expected


def test_reminders_are_low_and_never_in_what_the_page_sounds(iv):
    rows = sched.status(iv.schedule, session(), {}, T + 31 * MIN, iv.minimum_observation_s)
    (moaas, cadss) = sched.reminders(rows)
    assert moaas == {"rule": "observation_overdue", "priority": "low", "since": T + 30 * MIN,
                     "message": "Reminder: MOAA/S 20 min after infusion start is overdue",
                     "label": "MOAA/S 20 min after infusion start"}
    board = alarms.reminder_rows([moaas, cadss], "3")
    assert all(r["kind"] == "technical" and r["reminder"] for r in board)
    assert alarms.board_data(board, "3") == []


def test_a_struck_manual_bp_is_no_longer_done():
    events = [{"id": 1, "ts": T, "type": "manual_vitals", "data": {"sbp": 130}},
              {"id": 2, "ts": T + 5, "type": "correction", "data": {"strikes": 1, "reason": "wrong chair"}},
              {"id": 3, "ts": T + 9, "type": "moaas", "author": "RN", "data": {"score": 5}}]
    entries = {"nibp": [[T, "manual"], [T + 60, "cuff"]], "moaas": [[T + 9, "RN"]]}
    assert sched.without_struck(entries, events) == {"nibp": [[T + 60, "cuff"]]}


# ----------------------------------------------------------------- on the bedside
def test_bedside_lists_the_schedule_and_shows_a_silent_reminder(store, iv):
    now = time.time()
    sid = store.open_session("P-S", "S", "ketamine-iv", now - 40 * MIN)[0]
    store.record_event(sid, Event(now - 31 * MIN, "infusion_start", "", "RN"))
    store.put_reading(sid, Reading(now - 1, "hr", 80, "ok", "ox"))
    store.flush()
    watched(store, "S")  # an acquisition process is watching: no "monitoring stopped"
    out = dict(zip(bedside.KEYS, bedside.bedside_tick(store, iv, {"chair": "S", "session_id": None}, "nurse")))
    due = {li.children[1].children: li.children[0].children for li in out["obs-due.children"]}
    assert due["MOAA/S 20 min after infusion start"] == "OVERDUE"
    assert due["MOAA/S 40 min after infusion start"] == "upcoming"
    assert due["MOAA/S 10 min before earliest discharge"] == "waiting"
    tiles = str(out["bed-technical.children"])
    assert "Reminder: MOAA/S 20 min after infusion start is overdue" in tiles and "a reminder: shown, not sounded" in tiles
    assert out["bed-alarm-data.data"] == []  # nothing sounds

    observing.observation_action(store, {"chair": "S", "session_id": sid}, NURSE, "moaas", {"score": 4})
    out = dict(zip(bedside.KEYS, bedside.bedside_tick(store, iv, out["bed-state.data"], "nurse")))
    due = {li.children[1].children: (li.children[0].children, li.children[2].children)
           for li in out["obs-due.children"]}
    assert due["MOAA/S 20 min after infusion start"][0] == "done late"
    assert "Reminder: MOAA/S" not in str(out["bed-technical.children"])
    assert "Reminder: CADSS-6 20 min after infusion start is overdue" in str(out["bed-technical.children"])


def test_the_due_list_follows_a_correction(store, iv):
    now = time.time()
    sid = store.open_session("P-C", "C", "ketamine-iv", now - 40 * MIN)[0]
    store.record_event(sid, Event(now - 21 * MIN, "infusion_start", "", "RN"))
    state = {"chair": "C", "session_id": sid}
    observing.observation_action(store, state, NURSE, "moaas", {"score": 3})
    out = dict(zip(bedside.KEYS, bedside.bedside_tick(store, iv, {"chair": "C", "session_id": None}, "nurse")))
    assert "due-done" in str(out["obs-due.children"][0].className)
    (ev,) = [e for e in queries.events(store, sid) if e["type"] == "moaas"]
    charting.strike_action(store, state, NURSE, ev["id"], "scored the wrong patient")
    out = dict(zip(bedside.KEYS, bedside.bedside_tick(store, iv, out["bed-state.data"], "nurse")))
    assert out["obs-due.children"][0].className == "due due-due"


def test_a_profile_without_a_schedule_says_so(store, iv):
    now = time.time()
    store.open_session("P-N", "N", "ketamine-iv", now - 60)
    bare = replace(iv, schedule=())
    out = dict(zip(bedside.KEYS, bedside.bedside_tick(store, bare, {"chair": "N", "session_id": None}, "nurse")))
    assert "This profile schedules no observation." in str(out["obs-due.children"])


def test_the_page_keeps_no_bp_entries_when_the_schedule_asks_for_none(store, iv):
    """bed-state travels every tick: a profile that schedules no BP keeps no list of them."""
    now = time.time()
    sid = store.open_session("P-K", "K", "ketamine-iv", now - 600)[0]
    for k in range(5):
        store.put_reading(sid, Reading(now - 500 + k * 60, "sbp", 120 + k, "ok", "cuff"))
    store.flush()
    state = dict(zip(bedside.KEYS, bedside.bedside_tick(store, iv, {"chair": "K", "session_id": None},
                                                        "nurse")))["bed-state.data"]
    assert not state["due_entries"].get("nibp")
    rems = load_protocol("esketamine-rems")
    assert len(sched.fold_bp({}, [{"parameter": "sbp", "value": 120, "status": "ok", "ts": now}],
                             rems.schedule)["nibp"]) == 1
