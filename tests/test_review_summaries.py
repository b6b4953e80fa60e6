"""Session summaries against hand-computed values, their caching, and the list's filters."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from monitor.model import Event, Reading
from monitor.store import queries, summaries
from monitor.web import review as review_page

from review_data import EXPECTED, replay_hand_session

pytestmark = pytest.mark.both_engines  # on SQLite and on PostgreSQL (conftest.py)


def _minutes(row, col):
    return (row[f"{col}_at"] - row["infusion_start"]) / 60.0


def test_summary_matches_hand_computed_values(store, protocol):
    sid = replay_hand_session(store, protocol)
    s = summaries.summary(store, sid)
    for key in ("baseline_sbp", "baseline_dbp", "baseline_hr", "baseline_spo2", "peak_sbp", "peak_dbp",
                "peak_hr", "min_spo2", "alarms_high", "alarms_medium", "alarms_low", "alarms_technical",
                "nibp_count", "duration_s", "infusion_s"):
        assert s[key] == pytest.approx(EXPECTED[key]), key
    for col in ("peak_sbp", "peak_dbp", "peak_hr", "min_spo2"):
        assert _minutes(s, col) == pytest.approx(EXPECTED[f"{col}_min"]), col


def test_flagged_readings_never_make_a_peak(store, protocol):
    sid = replay_hand_session(store, protocol)
    flagged = store._one("SELECT value FROM readings WHERE session_id = ? AND status = 'artifact'", (sid,))
    assert flagged["value"] == 210  # stored, yet the peak is the valid 135
    assert summaries.summary(store, sid)["peak_hr"] == 135


def test_ended_session_summary_is_stored_and_dropped_when_more_rows_land(store, protocol):
    sid = replay_hand_session(store, protocol)
    assert store._one("SELECT 1 FROM session_summaries WHERE session_id = ?", (sid,)) is None
    summaries.summary(store, sid)
    cached = store._one("SELECT * FROM session_summaries WHERE session_id = ?", (sid,))
    assert cached["peak_sbp"] == 185 and cached["alarms_medium"] == 3
    # a late batch for the session (e.g. the writer's last second) invalidates the cache
    store.put_reading(sid, Reading(cached["peak_sbp_at"] + 1, "sbp", 199.0, "ok", "late"))
    store.flush()
    assert store._one("SELECT 1 FROM session_summaries WHERE session_id = ?", (sid,)) is None
    assert summaries.summary(store, sid)["peak_sbp"] == 199


def test_open_session_is_computed_on_the_fly_and_not_stored(store, protocol):
    sid = store.open_session("PT-OPEN", "2", protocol.name, 1000.0)[0]
    for k in range(5):
        store.put_reading(sid, Reading(1000.0 + k, "hr", 80.0 + k, "ok", "sim"))
    store.flush()
    s = summaries.summary(store, sid)
    assert s["peak_hr"] == 84 and s["duration_s"] == 4 and s["infusion_s"] is None
    assert store._one("SELECT 1 FROM session_summaries WHERE session_id = ?", (sid,)) is None
    store.record_event(sid, Event(1010.0, "session_end", "", "test"))
    assert summaries.summary(store, sid)["duration_s"] == 10
    assert store._one("SELECT 1 FROM session_summaries WHERE session_id = ?", (sid,)) is not None


def test_delete_session_removes_its_summary(store, protocol):
    sid = replay_hand_session(store, protocol)
    summaries.summary(store, sid)
    store.delete_session(sid)
    assert store._one("SELECT count(*) AS n FROM session_summaries")["n"] == 0


def _ended(store, protocol, patient, chair, started_at, high=False):
    sid = store.open_session(patient, chair, protocol.name, started_at)[0]
    store.put_reading(sid, Reading(started_at + 5, "hr", 75.0, "ok", "sim"))
    if high:
        store._execute("INSERT INTO alerts (session_id, key, rule, parameter, kind, priority, started_at, ended_at, "
                      "value, limit_value, message) VALUES (?, 'k1', 'bp_critical', 'sbp', 'physiological', 'high', "
                      "?, ?, 186, 180, 'SBP 186 ≥ 180')", (sid, started_at + 10, started_at + 20))
    store.flush()
    store.record_event(sid, Event(started_at + 60, "session_end", "", "test"), override="test history")
    return sid


@pytest.fixture
def listed(store, protocol):
    day = datetime(2025, 3, 3, 9, 0).timestamp()  # local time, as the page's date filter reads it
    ids = {
        "a1": _ended(store, protocol, "PT-A", "1", day),
        "b1": _ended(store, protocol, "PT-B", "2", day + 3600, high=True),
        "a2": _ended(store, protocol, "PT-A", "2", day + 86400 * 7),
        "c1": _ended(store, protocol, "pt-c", "1", day + 86400 * 14, high=True),
    }
    return day, ids


def test_list_filters_by_patient_chair_date_and_high_alarm(store, listed):
    day, ids = listed

    def sids(**kw):
        rows, total = summaries.list_sessions(store, **kw)
        assert total == len(rows)
        return [r["id"] for r in rows]

    assert sids() == [ids["c1"], ids["a2"], ids["b1"], ids["a1"]]  # newest first
    assert sids(patient="PT-A") == [ids["a2"], ids["a1"]]
    assert sids(patient="pt-") == [ids["c1"], ids["a2"], ids["b1"], ids["a1"]]  # case-insensitive substring
    assert sids(patient="%") == []  # LIKE wildcards are taken literally
    assert sids(chair="2") == [ids["a2"], ids["b1"]]
    assert sids(high_only=True) == [ids["c1"], ids["b1"]]
    assert sids(start=day + 86400, end=day + 86400 * 8) == [ids["a2"]]
    assert sids(patient="PT-B", high_only=True, chair="2") == [ids["b1"]]
    rows, _ = summaries.list_sessions(store, high_only=True)
    assert all(r["alarms_high"] == 1 for r in rows)


def test_list_pages_and_counts(store, listed):
    rows, total = summaries.list_sessions(store, limit=3, offset=0)
    assert total == 4 and len(rows) == 3
    rows2, _ = summaries.list_sessions(store, limit=3, offset=3)
    assert len(rows2) == 1 and rows2[0]["id"] not in {r["id"] for r in rows}


def test_page_date_filter_is_inclusive_of_local_end_day(store, listed):
    day, ids = listed
    d0 = datetime.fromtimestamp(day).strftime("%Y-%m-%d")
    rows, total = review_page.session_rows(store, start_date=d0, end_date=d0)
    assert total == 2 and {r.to_plotly_json()["props"]["data-session"] for r in rows} == {
        str(ids["a1"]), str(ids["b1"])}
    later = (datetime.fromtimestamp(day) + timedelta(days=14)).strftime("%Y-%m-%d")
    _, total = review_page.session_rows(store, start_date=later, high=True)
    assert total == 1


def test_patient_sessions_oldest_first_with_bp_series(store, protocol, listed):
    _, ids = listed
    rows = summaries.patient_sessions(store, "PT-A")
    assert [r["id"] for r in rows] == [ids["a1"], ids["a2"]]
    sid = replay_hand_session(store, protocol, patient_ref="PT-A")
    series = summaries.bp_series(store, [sid])
    assert [(m["parameter"], m["value"]) for m in series[sid] if m["parameter"] == "sbp"] == [
        ("sbp", 120), ("sbp", 185), ("sbp", 150), ("sbp", 125)]
    assert queries.session(store, sid)["patient_ref"] == "PT-A"
