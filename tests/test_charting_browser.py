"""Manual observations typed on the bedside page, in headless Chromium: clear messages naming
the field, nothing written until the entry is valid, then one event marked on the trend."""
from __future__ import annotations

import time

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from conftest import text_of, wait_until
from monitor.model import Reading
from monitor.store import Store, queries

pytestmark = pytest.mark.browser


def type_into(browser, element_id, value):
    e = browser.find_element(By.ID, element_id)
    e.send_keys(Keys.CONTROL, "a")
    e.send_keys(Keys.DELETE)
    if value:
        e.send_keys(value)


def event_marks(browser) -> int:
    return browser.execute_script(
        "const g = document.querySelector('#bed-trend .js-plotly-plot');"
        "return g && g.data && g.data[4] ? g.data[4].x.filter(x => x !== null).length : -1;")


def test_manual_vitals_validation_messages_then_recorded_on_trend(browser, server, db_path):
    store = Store(db_path)
    t0 = time.time() - 120
    sid = store.open_session("P-M", "M", "ketamine-iv", t0)[0]
    for i in range(120):
        store.put_reading(sid, Reading(t0 + i, "hr", 72, "ok", "ox"))
    store.flush()
    srv = server("serve")
    srv.login(browser, "nurse", "/chair/M")  # entries are signed with the login's initials: RN
    wait_until(lambda: event_marks(browser) == 0, timeout=30)

    def submit(expect):
        before = text_of(browser, "#mv-status")
        browser.find_element(By.ID, "mv-save").click()
        return wait_until(lambda: text_of(browser, "#mv-status") != before and expect in text_of(browser, "#mv-status")
                          and text_of(browser, "#mv-status"))

    type_into(browser, "mv-dbp", "80")
    type_into(browser, "mv-sbp", "abc")
    assert submit("SBP") == "SBP: 'abc' is not a number"
    type_into(browser, "mv-sbp", "80")
    type_into(browser, "mv-dbp", "90")
    assert submit("higher") == "SBP 80 must be higher than DBP 90"
    assert "form-error" in browser.find_element(By.ID, "mv-status").get_attribute("class")
    type_into(browser, "mv-sbp", "140")
    type_into(browser, "mv-dbp", "")
    type_into(browser, "mv-temp", "98.6")
    msg = submit("Temperature")
    assert "DBP: enter both SBP and DBP, or neither" in msg and "Temperature: 98.6 is outside 30–43 °C" in msg
    assert queries.events(store, sid) == []  # nothing written while invalid

    type_into(browser, "mv-dbp", "88")
    type_into(browser, "mv-temp", "37.1")
    type_into(browser, "mv-rr", "18")
    assert submit("Recorded") == "Recorded: Manual vitals: BP 140/88 (MAP 105) · RR 18 · T 37.1 °C · on air (RN)."
    (ev,) = queries.events(store, sid)
    assert ev["type"] == "manual_vitals" and ev["author"] == "RN"
    assert ev["data"] == {"sbp": 140, "dbp": 88, "map": 105, "rr": 18, "temp": 37.1, "o2": False}
    wait_until(lambda: event_marks(browser) == 2)  # one vertical mark on the trend
    wait_until(lambda: "Manual obs" in text_of(browser, "#bed-events") and "RN" in text_of(browser, "#bed-events"))
    assert browser.find_element(By.ID, "mv-sbp").get_attribute("value") == ""  # cleared after recording
    missing = ".news2-missing"  # charted RR, temperature and air/O2 now count in NEWS2
    wait_until(lambda: text_of(browser, missing) and not any(p in text_of(browser, missing) for p in ("RR", "Temp")))
    assert "SBP" not in text_of(browser, missing)
    store.close()


def test_a_long_note_is_counted_refused_whole_and_never_cut(browser, server, db_path):
    store = Store(db_path)
    sid = store.open_session("P-N", "N", "ketamine-iv", time.time() - 60)[0]
    store.close()
    srv = server("serve")
    srv.login(browser, "nurse", "/chair/N")
    wait_until(lambda: browser.find_elements(By.ID, "note-text"), timeout=30)
    long_note = "word " * 102  # 510 characters
    browser.find_element(By.ID, "note-text").send_keys(long_note)
    wait_until(lambda: text_of(browser, "#note-count").startswith("510/500"))
    assert "too long" in text_of(browser, "#note-count")
    browser.find_element(By.ID, "note-save").click()
    wait_until(lambda: "at most 500 characters" in text_of(browser, "#chart-status"))
    assert len(browser.find_element(By.ID, "note-text").get_attribute("value")) == 510  # nothing cut
    store = Store(db_path, readonly=True)
    assert queries.events(store, sid) == []
