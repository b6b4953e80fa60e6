"""The limits a nurse is working to, in Chromium: every limit line on the trend carries its
label, and the limits in force are listed with a per-session change marked."""
from __future__ import annotations

import time

import pytest

from conftest import wait_until
from monitor.model import Event, Reading
from monitor.store import Store

pytestmark = pytest.mark.browser


def test_limit_lines_labelled_and_limits_listed(browser, server, db_path):
    store = Store(db_path)
    t0 = time.time() - 120
    sid = store.open_session("P-L", "L", "ketamine-iv", t0)[0]
    for i in range(120):
        store.put_reading(sid, Reading(t0 + i, "hr", 80, "ok", "ox"))
    store.record_event(sid, Event(t0 + 60, "limit_change", "hr_high 120 → 130", "DR"),
                       {"rule": "hr_high", "clause": 0, "old": 120, "new": 130})
    store.flush()
    srv = server("serve")
    srv.login(browser, "nurse", "/chair/L")  # the limits a nurse works to: shown to her
    labels = wait_until(lambda: browser.execute_script(
        "const g = document.querySelector('#bed-trend .js-plotly-plot');"
        "return g && g.layout && g.layout.shapes ? g.layout.shapes.filter(s => s.label).map(s => s.label.text) : null;"),
        timeout=30)
    assert "!! HR > 130" in labels and "!!! SBP ≥ 180" in labels
    drawn = browser.execute_script("return Array.from(document.querySelectorAll('#bed-trend .shapelayer text, "
                                   "#bed-trend .shape-label, #bed-trend text')).map(t => t.textContent);")
    assert any("HR > 130" in t for t in drawn)  # drawn on the chart, not only in the data
    table = browser.execute_script("const t = document.querySelector('.limits-in-force'); return t ? t.innerText : '';")
    assert "hr_high: HR > 130" in table and "changed this session" in table
    store.close()
