"""The bedside tick: the first one draws the history, later ones send only what is new,
and the work per tick does not depend on how long the session has run."""
from __future__ import annotations

import time

import pytest
from dash import Patch, no_update

from conftest import NURSE, watched
from monitor.model import Alert, Baseline, Event, Reading
from monitor.store import queries
from monitor.web import bedside, opening, trend
from monitor.web.bedside import KEYS, bedside_tick

pytestmark = pytest.mark.both_engines  # on SQLite and on PostgreSQL (conftest.py)


def tick(store, protocol, state) -> dict:
    return dict(zip(KEYS, bedside_tick(store, protocol, state)))


def ops(patch) -> list[dict]:
    assert isinstance(patch, Patch)
    return patch.to_plotly_json()["operations"]


def make_session(store, n: int, chair="4") -> tuple[int, float]:
    t0 = time.time() - n
    sid = store.open_session("P", chair, "ketamine-iv", t0)[0]
    for i in range(n):
        store.put_reading(sid, Reading(t0 + i, "hr", 70 + i % 5, "ok", "ox"))
        store.put_reading(sid, Reading(t0 + i, "spo2", 97, "ok", "ox"))
    store.flush()
    watched(store, chair)  # an acquisition process watches the chair (else: "monitoring stopped")
    return sid, t0 + n


def test_first_tick_draws_history_then_only_new_points_and_events(store, protocol):
    sid, t = make_session(store, 300)
    store.record_event(sid, Event(t - 100, "note", "settled", "RN"))
    out = tick(store, protocol, {"chair": "4", "session_id": None})
    fig, state = out["bed-trend.figure"], out["bed-state.data"]
    assert len(fig["data"][trend.TRACE_INDEX["hr"]]["x"]) == 300
    assert fig["data"][trend.EVENT_TRACE]["text"][0] == "Note: settled (RN)"
    assert [a["text"] for a in fig["layout"]["annotations"]] == ["Note"]
    assert len(out["bed-events.children"]) == 1
    assert state["cursor"] == queries.max_reading_id(store, sid)

    out = tick(store, protocol, state)  # nothing new: nothing re-sent but the clock and numerics
    for key in ("bed-trend.figure", "bed-trend-new.data", "bed-alarms.children", "bed-history.children", "bed-events.children",
                "bed-baseline.children", "bed-limits.children", "bed-recovery.children"):
        assert out[key] is no_update, key
    state = out["bed-state.data"]

    store.put_reading(sid, Reading(t + 1, "hr", 88, "ok", "ox"))
    store.put_reading(sid, Reading(t + 1, "sbp", 131, "ok", "cuff"))
    store.flush()
    store.record_event(sid, Event(t + 1, "medication", "Ondansetron 4 mg IV", "RN"))
    out = tick(store, protocol, state)
    assert out["bed-trend.figure"] is no_update  # the figure is sent once; the browser extends it in place
    new = out["bed-trend-new.data"]
    assert new["base"] == fig["layout"]["meta"]["trend"]["id"] and new["seq"] == 1
    assert new["extend"]["0"][1] == [88] and new["extend"]["2"][1] == [131]
    assert new["marks"][2][0] == "Medication: Ondansetron 4 mg IV (RN)"
    assert [n["text"] for n in new["notes"]] == ["Medication"]
    assert [o["operation"] for o in ops(out["bed-events.children"])] == ["Prepend"]
    assert out["bed-numerics.children"][0].children[1].children == "88"


def test_limit_change_and_baseline_redraw_lines_and_show_who(store, protocol):
    sid, t = make_session(store, 10, chair="5")
    state = tick(store, protocol, {"chair": "5", "session_id": None})["bed-state.data"]
    store.record_event(sid, Event(t, "limit_change", "Limit hr_high", "DR"),
                       {"rule": "hr_high", "clause": 0, "old": 120, "new": 130})
    out = tick(store, protocol, state)
    names = [s["name"] for s in out["bed-trend-new.data"]["shapes"]]
    assert "!! HR > 130" in names and "!! HR > 120" not in names
    log = str(out["bed-limits.children"])
    assert "hr_high: HR > 120" in log and "130" in log and "DR" in log
    state = out["bed-state.data"]
    store.put_change(sid, Baseline("hr", 80, "entered", t, 0))
    store.flush()
    store.record_event(sid, Event(t + 1, "baseline_set", "Baseline set: HR 80", "DR"), {"hr": 80})
    out = tick(store, protocol, state)
    assert "ENTERED" in str(out["bed-baseline.children"]).upper() and "entered by DR" in str(out["bed-baseline.children"])


def test_alarm_board_rendered_on_change_with_latch_and_kinds(store, protocol):
    sid, t = make_session(store, 5, chair="6")
    store.put_change(sid, Alert("bp_critical#1", "bp_critical", "sbp", "physiological", "high", t - 60, 186, 180,
                                "BP 186/100: SBP 186 ≥ 180", ended_at=t - 30))
    store.put_change(sid, Alert("oximeter_signal_lost#2", "oximeter_signal_lost", "spo2", "technical", "medium",
                                t - 20, None, 10, "Oximeter signal lost (sensor off) for 10 s"))
    store.flush()
    out = tick(store, protocol, {"chair": "6", "session_id": None})
    (phys,), (tech,) = out["bed-alarms.children"], out["bed-technical.children"]
    assert phys.className == "alarm alarm-high alarm-latched" and "latched until acknowledged" in str(phys)
    assert tech.className == "alarm alarm-medium alarm-technical"
    data = out["bed-alarm-data.data"]
    assert [(a["priority"], a["latched"], a["acked"]) for a in data] == [("high", True, False), ("medium", False, False)]
    assert "Alarm history" not in str(out["bed-history.children"]) and "SBP 186" in str(out["bed-history.children"])
    state = out["bed-state.data"]
    store.record_event(sid, Event(t + 1, "session_end", "", "RN"), override="test: ended over the alarm")
    out = tick(store, protocol, state)
    assert out["bed-alarm-data.data"] == []  # an ended session no longer sounds
    assert out["bed-alarms.children"][0].className.startswith("alarm alarm-high")  # but stays shown


def test_statements_per_tick_do_not_depend_on_session_length(store, protocol):
    counts = []
    for n, chair in ((50, "s"), (3000, "l")):
        sid, t = make_session(store, n, chair=chair)
        store.record_event(sid, Event(t, "note", "x", "RN"))
        state = tick(store, protocol, {"chair": chair, "session_id": None})["bed-state.data"]
        seen: list[str] = []
        store._readers.set_trace_callback(seen.append)
        try:
            tick(store, protocol, state)
        finally:
            store._readers.set_trace_callback(None)
        history = [s for s in seen if "FROM readings" in s and "id >" not in s and "LIMIT 1" not in s
                   and "max(" not in s]
        assert history == []  # readings only by cursor or single-row lookups
        assert not [s for s in seen if "FROM events" in s and "id > 0" in s]
        counts.append(len(seen))
    assert counts[0] == counts[1]


def test_no_session_shows_the_open_form(store, protocol):
    out = tick(store, protocol, {"chair": "9", "session_id": None})
    assert out["bed-state.data"]["session_id"] == "none"
    assert "open-patient" in str(out["bed-open.children"])
    assert opening.open_session_action(store, protocol, "P-9", out["bed-state.data"], NURSE).startswith("Session ")
    out = tick(store, protocol, out["bed-state.data"])
    assert isinstance(out["bed-state.data"]["session_id"], int) and out["bed-open.children"] == []


def test_limit_lines_are_labelled_and_the_limits_in_force_listed(store, protocol):
    sid, t = make_session(store, 5, chair="LL")
    store.record_event(sid, Event(t + 1, "limit_change", "hr_high 120 → 130", "DR"),
                       {"rule": "hr_high", "clause": 0, "old": 120, "new": 130})
    out = tick(store, protocol, {"chair": "LL", "session_id": None})
    labels = [s["label"]["text"] for s in out["bed-trend.figure"]["layout"]["shapes"] if "label" in s]
    assert "!! HR > 130" in labels and "!!! SpO2 < 88" in labels
    shown = str(out["bed-limits.children"])
    assert "Limits in force" in shown and "hr_high: HR > 130" in shown and "changed this session" in shown


@pytest.mark.parametrize("missing", bedside.PAGE_STATE_KEYS)
def test_a_page_from_an_older_version_is_drawn_again(store, protocol, missing):
    """A page open across an upgrade lacks what the new version keeps: it gets a whole view."""
    make_session(store, 10, chair="V")
    state = tick(store, protocol, {"chair": "V", "session_id": None})["bed-state.data"]
    del state[missing]
    out = tick(store, protocol, state)
    assert missing in out["bed-state.data"] and out["bed-trend.figure"]["data"]


@pytest.mark.slow
def test_a_page_without_trend_state_is_sent_a_whole_figure(store, protocol):
    """A page opened before the trend kept its state in bed-state (an upgrade under an open
    page) is drawn again, not extended from nothing."""
    make_session(store, 10, chair="U")
    state = tick(store, protocol, {"chair": "U", "session_id": None})["bed-state.data"]
    del state["trend"]
    out = tick(store, protocol, state)
    assert out["bed-trend.figure"]["data"][trend.TRACE_INDEX["hr"]]["y"] and "trend" in out["bed-state.data"]
