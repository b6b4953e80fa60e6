"""The bedside trend in Chromium over many ticks: the figure is sent once and extended in
place, the full-resolution window stays bounded while minutes that leave it join the
decimated older part, and a limit change still redraws its line (monitor/web/trend.py,
assets/trend-extend.js)."""
from __future__ import annotations

import time

import pytest

from conftest import wait_until
from monitor.model import Event, Reading
from monitor.store import Store
from monitor.web.trend import BUCKET_S, EVENT_TRACE, HISTORY_TRACE, TRACE_INDEX, WINDOW_S

pytestmark = pytest.mark.browser

GRAPH = "const g = document.querySelector('#bed-trend .js-plotly-plot');"


def plotted(browser) -> dict:
    """What the page's graph holds now: trace lengths and values, the figure id, the last message placed."""
    return browser.execute_script(
        GRAPH + "const m = g && g.layout && g.layout.meta && g.layout.meta.trend;"
        "if (!m || !m.id || !g.data) return null;"
        "return {id: m.id, seq: g._infusionTrend && g._infusionTrend.id === m.id ? g._infusionTrend.seq : 0,"
        " data: g.data.map(t => ({x: Array.from(t.x || []), y: Array.from(t.y || [])})),"
        " shapes: (g.layout.shapes || []).map(s => s.name),"
        " labels: (g.layout.annotations || []).map(a => a.text)};")


def write_seconds(store, sid, t0, seconds, spo2=lambda s: 97, hr=lambda s: 70 + s % 7,
                  rr=lambda s: 0 if s == 200 else 14):
    for s in seconds:
        store.put_reading(sid, Reading(t0 + s, "hr", hr(s), "ok", "ox"))
        store.put_reading(sid, Reading(t0 + s, "spo2", spo2(s), "ok", "ox"))
        store.put_reading(sid, Reading(t0 + s, "rr", rr(s), "ok", "capno"))  # the lower panel, windowed alike
    store.flush()


def test_long_page_extends_in_place_with_a_bounded_window(browser, server, db_path, watching):
    store = Store(db_path)
    t0 = time.time() - 3600
    t0 -= t0 % BUCKET_S
    sid = store.open_session("P-T", "T", "ketamine-iv", t0)[0]
    opened = 35 * 60  # the page opens 35 minutes into the session
    peak = 6 * 60 + 33  # inside the window when the page opens; it has left it four minutes later
    write_seconds(store, sid, t0, range(opened), spo2=lambda s: 83 if s == 125 else 97,
                  hr=lambda s: 150 if s == peak else 70 + s % 7)
    watching(store, "T")
    srv = server("serve")
    try:
        srv.login(browser, "nurse", "/chair/T")
        first = wait_until(lambda: plotted(browser), timeout=60)
        hr, older_hr, older_spo2 = TRACE_INDEX["hr"], HISTORY_TRACE["hr"], HISTORY_TRACE["spo2"]
        assert 83 in first["data"][older_spo2]["y"]  # the 1 s desaturation at minute 2, decimated, kept
        assert len(first["data"][hr]["x"]) <= WINDOW_S + BUCKET_S
        assert 150 in first["data"][hr]["y"] and 150 not in first["data"][older_hr]["y"]
        rr, older_rr = TRACE_INDEX["rr"], HISTORY_TRACE["rr"]
        assert 0 in first["data"][older_rr]["y"] and len(first["data"][rr]["x"]) == len(first["data"][hr]["x"])

        # four more minutes arrive, a few seconds of data per tick
        end = opened + 4 * 60
        for start in range(opened, end, 30):
            write_seconds(store, sid, t0, range(start, start + 30), hr=lambda s: 133 if s == end - 1 else 70 + s % 7)
            time.sleep(0.6)
        store.record_event(sid, Event(t0 + end, "limit_change", "hr_high 120 → 130", "DR"),
                           {"rule": "hr_high", "clause": 0, "old": 120, "new": 130})
        store.record_event(sid, Event(t0 + end, "note", "settled", "RN"))
        now = wait_until(lambda: (lambda p: p if p and p["data"][hr]["y"][-1:] == [133]
                                  and "!! HR > 130" in p["shapes"] else None)(plotted(browser)), timeout=90)
        assert now["id"] == first["id"] and now["seq"] >= 2  # one figure, extended by several messages
        assert len(now["data"][hr]["x"]) <= WINDOW_S + BUCKET_S  # bounded, though 4 minutes were added
        assert now["data"][hr]["x"][0] > first["data"][hr]["x"][0]  # the oldest minutes left the window
        # ... and joined the decimated trace, the peak with them
        assert len(now["data"][older_hr]["x"]) > len(first["data"][older_hr]["x"])
        assert 150 not in now["data"][hr]["y"] and 150 in now["data"][older_hr]["y"]
        assert 83 in now["data"][older_spo2]["y"] and "!! HR > 120" not in now["shapes"]
        assert now["data"][rr]["x"] == now["data"][hr]["x"]  # RR's window moved with HR's
        assert len(now["data"][older_rr]["x"]) > len(first["data"][older_rr]["x"]) and 0 in now["data"][older_rr]["y"]
        # an entry's label, added in place
        wait_until(lambda: "Note" in (plotted(browser) or {}).get("labels", []), timeout=60)
        now = plotted(browser)

        # a page opened now is sent what the long-open one built tick by tick
        browser.refresh()
        fresh = wait_until(lambda: (lambda p: p if p and p["id"] != now["id"] else None)(plotted(browser)),
                           timeout=60)
        for t in (hr, TRACE_INDEX["spo2"], older_hr, older_spo2, TRACE_INDEX["sbp"], EVENT_TRACE, rr, older_rr):
            assert fresh["data"][t] == now["data"][t], t
        assert fresh["labels"] == now["labels"] and fresh["shapes"] == now["shapes"]

        # a message that cannot be placed in order (one was missed) is never drawn with a hole:
        # the page asks for a whole figure again
        browser.execute_script("window.dash_clientside.infusionTrend.apply("
                               "{base: arguments[0], seq: 99, extend: {}, closed: {}, boundary: null},"
                               " {chair: 'T', session_id: arguments[1]});", fresh["id"], sid)
        again = wait_until(lambda: (lambda p: p if p and p["id"] != fresh["id"] else None)(plotted(browser)),
                           timeout=60)
        assert again["data"][hr] == fresh["data"][hr]
    finally:
        store.close()
