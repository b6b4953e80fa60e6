"""The pages and the report take their clinical numbers from the loaded profile.

Each test edits one number in a copy of the shipped profile and checks that what
the page or the report shows follows it, so no page can keep a number of its own.
"""
from __future__ import annotations

import tomllib

import pytest

from monitor.exports.html_report import report_html
from monitor.exports.svg_chart import protocol_limits
from monitor.protocol import default_profile_path, parse_protocol
from monitor.web import bedside_view, trend
from monitor.web.overview import _view

from review_data import replay_hand_session

NOW = 1_000_000.0


def profile(edit=None):
    data = tomllib.loads(default_profile_path().read_text())
    if edit:
        edit(data)
    return parse_protocol(data, "edited.toml")


def _texts(component) -> str:
    if isinstance(component, (str, int, float)):
        return str(component)
    children = getattr(component, "children", None)
    if children is None:
        return ""
    if not isinstance(children, list):
        children = [children]
    return " ".join(_texts(c) for c in children)


def test_baseline_window_text_follows_the_profile():
    shipped = _texts(html_div(bedside_view.baseline_body({}, "baseline", None, None, profile())))
    assert "median of the last 10 min (BP: 15 min)" in shipped

    def edit(d):
        d["baseline"].update(continuous_window_s=300, nibp_window_s=1200)
    edited = _texts(html_div(bedside_view.baseline_body({}, "baseline", None, None, profile(edit))))
    assert "median of the last 5 min (BP: 20 min)" in edited and "10 min" not in edited


def html_div(children):
    from dash import html
    return html.Div(children)


@pytest.mark.slow
def test_chart_limit_lines_follow_the_profile(store):
    def edit(d):
        d["rules"]["hr_high"]["limit"] = 110
    p = profile(edit)
    names = {s["name"] for s in trend.limit_shapes(p, {})}
    assert "!! HR > 110" in names and "!! HR > 120" not in names
    assert ("hr", 110, "medium") in protocol_limits(p) and ("hr", 120, "medium") not in protocol_limits(p)
    sid = replay_hand_session(store, p, patient_ref="PT-LIMITS")
    html = report_html(store, sid, p)
    assert "HR limit 110</title>" in html and "HR limit 120</title>" not in html
    assert "HR limit 120</title>" in report_html(store, sid, profile())


def test_report_chart_needs_a_profile():
    with pytest.raises(ValueError, match="loaded protocol profile"):
        protocol_limits(None)


def test_monitored_freshness_follows_the_profile():
    last = {"hr": {"v": 88, "ts": NOW - 20, "status": "ok"}, "spo2": {"v": 97, "ts": NOW - 20, "status": "ok"}}
    shipped = _texts(html_div(bedside_view.numerics(last, NOW, profile())))
    assert "88" not in shipped and "no data" in shipped  # 20 s old > 10 s

    def edit(d):
        d["freshness"]["monitored_s"] = 30
    edited = _texts(html_div(bedside_view.numerics(last, NOW, profile(edit))))
    assert "88" in edited and "97" in edited and "no data" not in edited


def test_overview_tile_freshness_follows_the_profile():
    info = {"chair": "1", "session": {"id": 1, "state": "infusion", "patient_ref": "P", "started_at": NOW - 900,
                                      "infusion_start": NOW - 600, "infusion_end": None, "ended_at": None},
            "values": {"hr": {"ts": NOW - 20, "value": 88, "status": "ok"}}, "alarm": None, "alarms": 0,
            "board": []}
    # the tile's clock runs at the newest value, so freshness is measured from there
    info["values"]["spo2"] = {"ts": NOW, "value": 97, "status": "ok"}

    def hr_shown(p):
        _, body, _, _ = _view(info, NOW, p)
        return "88" in _texts(html_div(body))

    assert not hr_shown(profile())

    def edit(d):
        d["freshness"]["monitored_s"] = 30
    assert hr_shown(profile(edit))


def test_news2_input_age_follows_the_profile():
    monitored = {"hr": {"v": 95, "ts": NOW - 1, "status": "ok"}, "spo2": {"v": 96, "ts": NOW - 1, "status": "ok"},
                 "sbp": {"v": 95, "ts": NOW - 2400, "status": "ok"}}  # SBP 95 -> 2 points, 40 min old
    manual = {"rr": {"v": 16, "ts": NOW - 60}}
    box = bedside_view.news2_indicator(monitored, manual, NOW, profile())
    assert "SBP" in _texts(box.children[-1])  # 40 min > 30 min: not charted, scores nothing
    assert "SBP 2" not in _texts(box)

    def edit(d):
        d["news2"]["max_age_s"]["sbp"] = 3600
    box = bedside_view.news2_indicator(monitored, manual, NOW, profile(edit))
    assert "SBP 2" in _texts(box)


def test_low_perfusion_reading_is_a_value_on_the_bedside():
    """The engine alarms on a low-perfusion reading, so the page shows its number (with the warning)."""
    last = {"spo2": {"v": 91, "ts": NOW - 1, "status": "low_perfusion"},
            "hr": {"v": 70, "ts": NOW - 1, "status": "artifact"}}
    text = _texts(html_div(bedside_view.numerics(last, NOW, profile())))
    assert "91" in text and "LOW PERF" in text
    assert "70" not in text and "ARTIFACT" in text


def test_aldrete_prefill_windows_follow_the_profile(store):
    import time

    from monitor.model import Baseline, Reading
    from monitor.web import recovery
    now = time.time()
    sid = store.open_session("P-ALD", "5", "ketamine-iv", now - 7200)[0]
    store.put_change(sid, Baseline("sbp", 120, "computed", now - 7000, 3))
    store.put_reading(sid, Reading(now - 2400, "sbp", 130, "ok", "dev"))  # 40 min old
    store.put_reading(sid, Reading(now - 90, "spo2", 97, "ok", "dev"))  # 90 s old
    store.flush()
    shipped = recovery.prefill(store, sid, now, profile())
    assert shipped["circulation"][0] is None and shipped["spo2"][0] is None

    def edit(d):
        d["aldrete"].update(bp_max_age_s=3600, spo2_max_age_s=120)
    edited = recovery.prefill(store, sid, now, profile(edit))
    assert edited["circulation"][0] == 2 and edited["circulation"][1].startswith("SBP 130 vs baseline 120")
    assert edited["spo2"][0] == 2


def test_infusion_rate_range_follows_the_profile():
    from monitor.web import charting
    from monitor.web.forms import FormError, validate_dose_change
    shipped = profile()
    with pytest.raises(FormError, match="outside 0.01–3 mg/kg/h"):
        validate_dose_change("4", "mg/kg/h", rates=shipped.infusion_rates)

    def edit(d):
        d["infusion_rate"] = {"mg/h": [1, 50], "mg/kg/h": [0.1, 5]}
    edited = profile(edit)
    assert validate_dose_change("4", "mg/kg/h", rates=edited.infusion_rates)[0] == {"rate": 4.0, "unit": "mg/kg/h"}
    panel = str(charting.charting_panel(edited))
    assert "options=['mg/h', 'mg/kg/h']" in panel and "value='mg/h'" in panel
