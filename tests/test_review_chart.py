"""The session chart: alarm bands by priority, events, baselines, and the alarm table."""
from __future__ import annotations

import json

import pytest
from plotly.utils import PlotlyJSONEncoder

from monitor.session_review import load, worst_priority_segments
from monitor.web import review as review_page
from monitor.web.review_figures import PRIORITY_COLORS, course_figure, session_figure
from monitor.store import summaries

from review_data import EXPECTED_ALERTS, replay_hand_session



@pytest.fixture
def review(store, protocol):
    sid = replay_hand_session(store, protocol)
    return load(store, sid)


def page_json(component) -> str:
    return json.dumps(component, cls=PlotlyJSONEncoder, ensure_ascii=False)


def _start_min(t_s: float) -> float:
    return (t_s - 60) / 60.0  # infusion started 60 s into the hand session


def test_alarm_bands_one_per_alert_in_priority_colour(review, protocol):
    fig = session_figure(review, protocol)
    bands = {s["name"].split(":")[1]: s for s in fig["layout"]["shapes"] if s.get("name", "").startswith("alarm:")}
    assert set(bands) == set(EXPECTED_ALERTS)
    for rule, (start, end) in EXPECTED_ALERTS.items():
        band = bands[rule]
        assert band["x0"] == pytest.approx(_start_min(start)) and band["x1"] == pytest.approx(_start_min(end))
        priority = band["name"].split(":")[2]
        assert band["fillcolor"] == PRIORITY_COLORS[priority]
        assert band["label"]["text"] == {"high": "!!!", "medium": "!!", "low": "!"}[priority]  # not colour alone
    assert bands["bp_critical"]["name"].endswith(":high")


def test_shading_takes_the_worst_priority_at_each_moment(review, protocol):
    fig = session_figure(review, protocol)
    shades = [(round(s["x0"], 3), round(s["x1"], 3), s["name"]) for s in fig["layout"]["shapes"]
              if s.get("name", "").startswith("shade:")]
    # hr_high (medium) 130-151 s, then bp_critical (high) 150-270 s swallows spo2_low and the rest
    assert shades == [(round(_start_min(130), 3), round(_start_min(150), 3), "shade:medium"),
                      (round(_start_min(150), 3), round(_start_min(270), 3), "shade:high")]
    assert worst_priority_segments([], 10) == []


def test_events_are_labelled_markers(review, protocol):
    fig = session_figure(review, protocol)
    events = [s for s in fig["layout"]["shapes"] if s.get("name", "").startswith("event:")]
    assert [e["name"] for e in events] == ["event:infusion_start", "event:note", "event:infusion_stop",
                                           "event:session_end"]
    assert events[0]["x0"] == 0 and events[2]["x0"] == pytest.approx(4.0)
    labels = [a["text"] for a in fig["layout"]["annotations"]]
    assert labels == ["Infusion start", "Note", "Infusion stop", "Session end"]
    hover = next(t for t in fig["data"] if t["name"] == "Events")["hovertext"]
    assert "Note: patient anxious, reassured (replay)" in hover


def test_lines_are_webgl_and_bp_markers_baseline_and_limits_drawn(review, protocol):
    fig = session_figure(review, protocol)
    by_name = {t["name"]: t for t in fig["data"]}
    assert by_name["HR"]["type"] == "scattergl" and by_name["SpO₂"]["type"] == "scattergl"
    assert len(by_name["HR"]["x"]) == 330 and by_name["HR"]["y"][250] is None  # the artifact is a gap
    assert by_name["SBP"]["y"] == [120, 185, 150, 125] and by_name["SBP"]["x"][1] == pytest.approx(1.5)
    names = {s.get("name") for s in fig["layout"]["shapes"]}
    assert {"baseline SBP 120", "baseline HR 70", "!!! SBP ≥ 180", "!!! SpO2 < 88"} <= names
    assert fig["layout"]["xaxis"]["title"]["text"] == "minutes from infusion start"
    assert len(json.dumps(fig)) < 60_000  # light: a 5-minute session is tens of kB


def test_alarm_table_rows(review):
    rows = {r["rule"]: r for r in review.alarm_rows()}
    crit = rows["bp_critical"]
    assert crit["start_min"] == pytest.approx(1.5) and crit["end_min"] == pytest.approx(3.5)
    assert crit["duration_s"] == pytest.approx(120) and crit["value"] == 185 and crit["limit"] == 180
    assert crit["ack_delay_s"] is None


def test_acknowledgement_shows_time_to_ack_and_who(store, protocol, review):
    crit = next(a for a in review.alerts if a["rule"] == "bp_critical")
    store.acknowledge(crit["id"], "nurse RN", crit["started_at"] + 42)
    again = load(store, review.id)
    row = next(r for r in again.alarm_rows() if r["rule"] == "bp_critical")
    assert row["ack_delay_s"] == pytest.approx(42) and row["acknowledged_by"] == "nurse RN"
    page = page_json(review_page.session_layout(store, protocol, str(review.id)))
    assert "42 s" in page and "nurse RN" in page


def test_session_page_has_tables_downloads_and_handles_bad_ids(store, protocol, review):
    page = page_json(review_page.session_layout(store, protocol, str(review.id)))
    for text in ("sv-dl-csv", "sv-dl-html", "sv-dl-fhir", "patient anxious, reassured", "SBP 185 ≥ 180",
                 "spo2_low"):
        assert text in page
    for bad in ("999", "abc"):
        missing = page_json(review_page.session_layout(store, protocol, bad))
        assert "No session" in missing


@pytest.mark.slow
def test_course_figure_one_point_per_session(store, protocol):
    for _ in range(3):
        replay_hand_session(store, protocol, patient_ref="PT-C")
    rows = summaries.patient_sessions(store, "PT-C")
    fig = course_figure(rows)
    peak = next(t for t in fig["data"] if t["name"].startswith("Peak SBP") and t["name"].endswith("peak"))
    assert peak["y"] == [185, 185, 185] and peak["x"][0].startswith("#1 ")
    bars = [t for t in fig["data"] if t["type"] == "bar"]
    assert [b["y"] for b in bars] == [[1, 1, 1], [3, 3, 3], [1, 1, 1]]
