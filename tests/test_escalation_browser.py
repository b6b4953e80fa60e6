"""Escalation in headless Chromium against `infusion-monitor serve` (issue 15 part 4).

A HIGH alarm raised by the real engine (a SessionRecorder fed SpO2 80 in this process, writing
the server's database as acquisition does) goes unacknowledged past the profile's 30 s: the
banner (#escalation-banner) appears on the overview, whose chair tile is marked
`tile-escalated`, and on another chair's bedside whose own chair is quiet, sounding there (the
banner's data-sounding / data-sound, never the speaker, as tests/test_alarm_workflow_browser.py
checks the page's own sound). Following its link to the chair and acknowledging clears it.
"""
from __future__ import annotations

import time

import pytest
from selenium.webdriver.common.by import By

from conftest import Server, Watching, wait_until
from monitor.model import Reading
from monitor.protocol import load_protocol
from monitor.recording import SessionRecorder
from monitor.store import Store

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    db = tmp_path_factory.mktemp("escalation") / "monitor.db"
    store = Store(db)
    beats = Watching(store)
    srv = Server(db, "serve", ())
    yield store, srv, beats
    srv.stop()
    beats.stop()
    store.close()


def banner(browser) -> dict:
    return browser.execute_script("""
        const e = document.getElementById('escalation-banner');
        return e ? Object.assign({hidden: e.hidden, text: e.innerText}, e.dataset) : {};""")


def click(browser, css: str) -> bool:
    """Click the element if it is there (False: not yet; try again). In the page's own script: the
    banner's lines are re-drawn each second, and a WebDriver click can land between find and click."""
    return browser.execute_script("const e = document.querySelector(arguments[0]); if (!e) return false; "
                                  "e.click(); return true;", css)


def test_an_unacknowledged_high_alarm_escalates_on_every_page_until_signed_for(browser, live):
    store, srv, beats = live
    protocol = load_protocol()
    beats.add("E1", "E2")
    now = time.time()
    sid = store.open_session("P-E1", "E1", protocol.name, now - 300)[0]
    store.open_session("P-E2", "E2", protocol.name, now - 300)  # a quiet chair
    rec = SessionRecorder(store, sid, protocol)
    first = now - 30  # SpO2 80 from here: spo2_critical (HIGH) raised 10 s later, escalating 30 s after that
    for k in range(0, 31):
        rec.reading(Reading(first + k, "spo2", 80, "ok", "ox"))
    store.flush()
    alarm = store._one("SELECT * FROM alerts WHERE session_id = ? AND rule = 'spo2_critical'", (sid,))
    assert alarm["started_at"] == first + 10 and alarm["escalated_at"] is None

    srv.login(browser, "nurse", "/")
    wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, '.tile-wrap[data-chair="E1"] a.tile-high'), timeout=30)
    assert banner(browser)["escalated"] == "0" and banner(browser)["hidden"]  # not yet: 20 s to go

    # time passes with nobody signing: the acquisition's tick advances the engine each second
    def tick():
        rec.advance(time.time())
        store.flush()
        return store._one("SELECT escalated_at FROM alerts WHERE id = ?", (alarm["id"],))["escalated_at"]
    escalated_at = wait_until(tick, timeout=40, interval=0.5)
    assert escalated_at == alarm["started_at"] + 30  # exactly, whenever the tick came

    # the overview: the banner, loud, naming the chair; the chair's tile marked
    state = wait_until(lambda: banner(browser).get("escalated") == "1" and banner(browser), timeout=15)
    assert not state["hidden"] and "Chair E1" in state["text"] and "SpO2 80 < 88" in state["text"]
    assert "unacknowledged" in state["text"] and "HIGH" in state["text"]
    wait_until(lambda: banner(browser).get("sounding") == "high", timeout=10)
    assert banner(browser)["sound"] == "on"
    assert wait_until(lambda: "tile-escalated" in browser.find_element(
        By.CSS_SELECTOR, '.tile-wrap[data-chair="E1"] a.tile').get_attribute("class"))
    assert "tile-escalated" not in browser.find_element(
        By.CSS_SELECTOR, '.tile-wrap[data-chair="E2"] a.tile').get_attribute("class")
    size = browser.execute_script("return getComputedStyle(document.getElementById('escalation-banner')).fontSize;")
    assert float(size.rstrip("px")) >= 24  # large: read from across the room

    # another chair's bedside, its own chair quiet: the banner is there and sounds
    browser.get(srv.url + "/chair/E2")
    state = wait_until(lambda: banner(browser).get("escalated") == "1" and banner(browser), timeout=30)
    assert "Chair E1" in state["text"]
    wait_until(lambda: banner(browser).get("sounding") == "high" and banner(browser).get("sound") == "on", timeout=10)
    own = wait_until(lambda: browser.execute_script(
        "const e = document.getElementById('bed-alarm-state'); return e && Object.assign({}, e.dataset);"), timeout=30)
    assert own["highest"] == "none"  # E2's own board is empty: the sound is the escalation's
    # the page's own pause does not silence an escalation
    browser.find_element(By.ID, "bed-audio-pause").click()
    time.sleep(1.5)
    assert banner(browser)["sounding"] == "high"

    # its link leads to the chair, where the nurse signs for it: gone from every page
    wait_until(lambda: click(browser, '#escalation-banner .escalation-item[data-chair="E1"] a'), timeout=15)
    wait_until(lambda: click(browser, f'.alarm-zone [data-alert-id="{alarm["id"]}"] .btn-ack'), timeout=30)
    wait_until(lambda: banner(browser).get("escalated") == "0", timeout=15)
    state = wait_until(lambda: banner(browser).get("sounding") == "none" and banner(browser), timeout=10)
    assert state["hidden"]
    row = store._one("SELECT escalated_at, acknowledged_by, acknowledged_at FROM alerts WHERE id = ?", (alarm["id"],))
    assert row["escalated_at"] == escalated_at and row["acknowledged_by"] == "RN"  # both on the record
    assert row["acknowledged_at"] > escalated_at
    browser.get(srv.url + "/")
    wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, '.tile-wrap[data-chair="E1"]'), timeout=30)
    time.sleep(1.5)
    assert banner(browser)["escalated"] == "0"
    assert "tile-escalated" not in browser.find_element(
        By.CSS_SELECTOR, '.tile-wrap[data-chair="E1"] a.tile').get_attribute("class")
    assert banner(browser)["hidden"] and not browser.find_elements(By.CSS_SELECTOR, ".escalation-item")
