"""The self-contained HTML report: summary numbers, alarm table, events, no external
resources, a print stylesheet; and it renders in headless Chromium."""
from __future__ import annotations

import re

import pytest

from monitor.exports.html_report import report_html
from monitor.model import Event
from monitor.store import queries

from review_data import EXPECTED_ALERTS, replay_hand_session



@pytest.fixture
def report(store, protocol):
    sid = replay_hand_session(store, protocol, patient_ref="PT-REPORT")
    return sid, report_html(store, sid, protocol)


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_report_has_summary_alarm_table_and_events(report):
    _, html = report
    text = _text(html)
    for needle in ("PT-REPORT", "Baseline BP 120/80", "Peak SBP 185 at +1.5 min", "Peak DBP 112 at +2.5 min",
                   "Peak HR 135 at +1.0 min", "Lowest SpO₂ 89 at +1.8 min", "!!! 1 !! 3 ! 1",
                   "patient anxious, reassured", "Infusion stop", "5 min 30 s"):
        assert needle in text, needle
    for rule in EXPECTED_ALERTS:
        assert f'data-rule="{rule}"' in html
    assert "2 min 00 s" in text  # bp_critical lasted 150 -> 270 s
    assert html.count('<tr class="alarm-row') == 5


def test_report_is_self_contained_and_prints(report):
    _, html = report
    lowered = html.lower()
    for banned in ("http://", "https://", "<script", "<link", "src=", "url(", "@import"):
        assert banned not in lowered, banned
    assert "@media print" in html and "@page" in html and "break-inside: avoid" in html
    assert html.count("<svg") == 1 and 'class="band band-high"' in html


def test_report_escapes_what_it_shows(store, report, protocol):
    sid, _ = report
    # a reference from before the patient-reference rule, or written by another program
    store._execute("UPDATE sessions SET patient_ref = ? WHERE id = ?", ('<img src=x onerror="alert(1)">', sid))
    html = report_html(store, sid, protocol)
    assert "<img" not in html and "&lt;img" in html



def test_report_escapes_script_in_a_note(store, protocol):
    """The template autoescapes: what people typed is shown as text, never run."""
    sid = replay_hand_session(store, protocol, patient_ref="PT-ESCAPE")
    during = queries.session(store, sid)["started_at"] + 60
    store.record_event(sid, Event(during, "note", '<script>alert("note")</script> & <b>bold</b>', "AB"))
    html = report_html(store, sid, protocol)
    assert "<script" not in html.lower() and "<b>bold" not in html
    assert "&lt;script&gt;alert(&#34;note&#34;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in html


@pytest.mark.browser
def test_report_renders_in_chromium(browser, report, tmp_path):
    _, html = report
    path = tmp_path / "report.html"
    path.write_text(html, encoding="utf-8")
    browser.get(path.as_uri())
    summary = browser.execute_script("return document.getElementById('summary').innerText")
    assert "185" in summary and "112" in summary and "135" in summary and "89" in summary
    chart = browser.execute_script(
        "const s = document.querySelector('svg.chart'); const r = s.getBoundingClientRect();"
        "return [r.width, r.height, s.querySelectorAll('.band').length, s.querySelectorAll('polyline').length]")
    assert chart[0] > 600 and chart[1] > 200 and chart[2] == 5 and chart[3] >= 2
    assert browser.execute_script("return performance.getEntriesByType('resource').length") == 0
    shot = tmp_path / "report.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
