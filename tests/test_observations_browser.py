"""The observation panel in headless Chromium: a CADSS-6 shows its running total, an
incomplete one is refused naming the items, a complete one is one signed event, marked on
the trend with its value and shown in the panel's lane; side effects need a severity."""
from __future__ import annotations

import time

import pytest
from selenium.webdriver.common.by import By

from conftest import text_of, wait_until
from monitor.model import Event, Reading
from monitor.store import Store, queries

pytestmark = pytest.mark.browser


def pick(browser, radio_id, value):
    browser.find_element(By.CSS_SELECTOR, f'#{radio_id} input[value="{value}"]').click()


def trend_labels(browser) -> list:
    return browser.execute_script(
        "const g = document.querySelector('#bed-trend .js-plotly-plot');"
        "return g && g.layout ? (g.layout.annotations || []).map(a => a.text) : [];")


def save(browser, button, expect):
    before = text_of(browser, "#obs-status")
    browser.find_element(By.ID, button).click()
    return wait_until(lambda: text_of(browser, "#obs-status") != before and expect in text_of(browser, "#obs-status")
                      and text_of(browser, "#obs-status"))


def test_cadss6_and_side_effects_from_the_page(browser, server, db_path):
    store = Store(db_path)
    t0 = time.time() - 120
    sid = store.open_session("P-O", "O", "ketamine-iv", t0)[0]
    for i in range(120):
        store.put_reading(sid, Reading(t0 + i, "hr", 72, "ok", "ox"))
    store.flush()
    srv = server("serve")
    srv.login(browser, "nurse", "/chair/O")
    wait_until(lambda: "No sedation, dissociation or side-effect entry yet." in text_of(browser, "#obs-latest"),
               timeout=30)

    for item, rating in ((1, 2), (2, 3), (6, 1)):
        pick(browser, f"obs-cadss-{item}", rating)
    wait_until(lambda: text_of(browser, "#obs-cadss-total") == "Total so far 6 (3 of 6 items)")
    msg = save(browser, "obs-cadss-save", "required")
    assert "CADSS-6 item 7: required" in msg and "CADSS-6 item 22: required" in msg
    assert queries.events(store, sid) == []  # nothing written while incomplete

    for item, rating in ((7, 0), (15, 2), (22, 1)):
        pick(browser, f"obs-cadss-{item}", rating)
    wait_until(lambda: text_of(browser, "#obs-cadss-total") == "Total 9/24")
    assert save(browser, "obs-cadss-save", "Recorded") == (
        "Recorded: CADSS-6 9/24 (items 1:2, 2:3, 6:1, 7:0, 15:2, 22:1) (RN).")
    (ev,) = queries.events(store, sid)
    assert (ev["type"], ev["author"], ev["data"]["total"]) == ("cadss6", "RN", 9)
    wait_until(lambda: "CADSS-6 9" in trend_labels(browser))
    wait_until(lambda: "CADSS-6 9" in text_of(browser, "#obs-latest")
               and "highest CADSS-6 9/24" in text_of(browser, "#obs-latest"))
    wait_until(lambda: text_of(browser, "#obs-cadss-total") == "Total so far 0 (0 of 6 items)")  # cleared

    assert save(browser, "obs-se-save", "tick") == "Side effects: tick at least one, with its severity"
    pick(browser, "obs-se-nausea", "moderate")
    pick(browser, "obs-se-other", "mild")
    assert "Other side effect: say what it was" in save(browser, "obs-se-save", "Other")
    browser.find_element(By.ID, "obs-se-what").send_keys("tingling lips")
    assert save(browser, "obs-se-save", "Recorded") == (
        "Recorded: Side effects: nausea (moderate), tingling lips (mild) (RN).")
    wait_until(lambda: "Nausea +1" in trend_labels(browser))
    assert [e["type"] for e in queries.events(store, sid)] == ["cadss6", "side_effect"]
    store.close()


def test_an_overdue_score_is_a_silent_reminder_until_charted(browser, server, db_path):
    store = Store(db_path)
    now = time.time()
    # a replayed session: no acquisition process is expected, so nothing else is on the board
    sid = store.open_session("P-R", "R", "ketamine-iv", now - 40 * 60, source="replay")[0]
    store.record_event(sid, Event(now - 31 * 60, "infusion_start", "", "RN"))
    for i in range(60):
        store.put_reading(sid, Reading(now - 60 + i, "hr", 72, "ok", "ox"))
    store.flush()
    srv = server("serve")
    srv.login(browser, "nurse", "/chair/R")
    overdue = '#obs-due li[data-state="overdue"]'
    wait_until(lambda: "MOAA/S 20 min after infusion start" in text_of(browser, overdue), timeout=30)
    reminder = '#bed-technical [data-state="reminder"]'
    wait_until(lambda: "Reminder: MOAA/S 20 min after infusion start is overdue" in text_of(browser, reminder))
    assert "LOW" in text_of(browser, reminder)
    state = browser.find_element(By.ID, "bed-alarm-state")
    assert state.get_attribute("data-highest") == "none"  # shown, never sounded

    pick(browser, "obs-moaas", 4)
    assert save(browser, "obs-moaas-save", "Recorded").startswith("Recorded: MOAA/S 4")
    wait_until(lambda: "MOAA/S 20 min after infusion start" in text_of(browser, '#obs-due li[data-state="done_late"]'))
    wait_until(lambda: "Reminder: MOAA/S" not in text_of(browser, "#bed-technical"))
    assert "Reminder: CADSS-6 20 min after infusion start is overdue" in text_of(browser, reminder)
    store.close()
