"""Bedside screens and tablets from 1024 px wide: every alarm tile and its Acknowledge button
lie inside the viewport, status texts are not cut, the overview's numbers and badges do not wrap."""
from __future__ import annotations

import time

import pytest

from conftest import Server, Watching, wait_until
from monitor.model import Alert, Reading
from monitor.store import Store

pytestmark = pytest.mark.browser

WIDTHS = (1024, 1366, 1920)


@pytest.fixture(scope="module")
def alarmed(tmp_path_factory):
    db = tmp_path_factory.mktemp("layout") / "monitor.db"
    store = Store(db)
    now = time.time()
    sid = store.open_session("PT-LAYOUT-0042", "7", "ketamine-iv", now - 900)[0]
    for p, v in (("hr", 96.0), ("spo2", 90.0)):
        store.put_reading(sid, Reading(now - 1, p, v, "ok", "ox"))
    for a in (Alert("spo2_low#1", "spo2_low", "spo2", "physiological", "medium", now - 60, 90, 92, "SpO2 90 < 92"),
              Alert("bp_high#2", "bp_high", "sbp", "physiological", "medium", now - 50, 165, 160,
                    "BP 165/98: SBP 165 ≥ 160"),
              Alert("device_disconnected#3", "device_disconnected", "sbp", "technical", "medium", now - 40, None,
                    None, "chair7-suntech: no data from the device for 10 s (disconnected)"),
              Alert("nibp_failed#4", "nibp_failed", "sbp", "technical", "low", now - 30, None, None,
                    "NIBP failed: motion artifact (code 2)")):
        store.put_change(sid, a)
    store.flush()
    beats = Watching(store)
    beats.add("7")  # an acquisition process watches the chair: no "monitoring stopped" among the four
    srv = Server(db, "serve", ())
    yield srv
    srv.stop()
    beats.stop()
    store.close()


def _outside(browser, selector: str) -> list:
    return browser.execute_script("""
        const w = document.documentElement.clientWidth;
        return Array.from(document.querySelectorAll(arguments[0])).map(e => e.getBoundingClientRect())
          .filter(r => r.width > 0 && (r.left < 0 || r.right > w + 0.5)).map(r => [r.left, r.right, w]);""", selector)


@pytest.mark.parametrize("width", WIDTHS)
def test_bedside_alarm_tiles_fit_the_screen(browser, alarmed, width):
    browser.set_window_size(width, 768 if width == 1024 else 1000)
    alarmed.login(browser, "nurse", "/chair/7")
    wait_until(lambda: len(browser.find_elements("css selector", ".alarm")) == 4, timeout=30)
    wait_until(lambda: browser.execute_script(
        "const e = document.getElementById('bed-alarm-state'); return e && e.innerText.length > 0;"))
    assert _outside(browser, ".alarm") == []
    assert _outside(browser, ".alarm .btn-ack") == []
    cut = browser.execute_script("""
        return Array.from(document.querySelectorAll('#bed-alarm-state, .alarm, .btn-sound, .btn-pause'))
          .filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.id || e.className);""")
    assert cut == []
    assert browser.execute_script("return document.documentElement.scrollWidth") <= width


@pytest.mark.parametrize("width", WIDTHS)
def test_overview_numbers_and_badges_do_not_wrap(browser, alarmed, width):
    browser.set_window_size(width, 768 if width == 1024 else 1000)
    alarmed.login(browser, "nurse", "/")
    wait_until(lambda: browser.find_elements("css selector", ".tile-nums"), timeout=30)
    wrapped = browser.execute_script("""
        const lines = e => Math.round(e.getBoundingClientRect().height / parseFloat(getComputedStyle(e).lineHeight || 20));
        return Array.from(document.querySelectorAll('.tile-nums span, .tile-head .phase'))
          .filter(e => e.getClientRects().length > 1).map(e => e.innerText);""")
    assert wrapped == []
    assert _outside(browser, ".tile") == []
