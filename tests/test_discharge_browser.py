"""Discharge readiness in Chromium: never "ready" while a patient alarm is active or unsigned,
the reasons listed; ready once the alarm is over and signed for; the minimum observation
counting down, PADSS scored on the page and the discharge signed."""
from __future__ import annotations

import time

import pytest

from conftest import text_of, wait_until
from selenium.webdriver.common.by import By

from monitor.model import Alert, Baseline, Event, Reading
from monitor.store import Store, queries

pytestmark = pytest.mark.browser


def discharge(browser) -> dict:
    return browser.execute_script(
        "const d = document.querySelector('#bed-discharge .discharge');"
        "const w = document.querySelector('#bed-discharge .discharge-why');"
        "return d ? {ready: d.dataset.ready, text: d.innerText, why: w ? w.innerText : ''} : null;")


def test_not_ready_during_an_alarm_then_ready(browser, server, db_path):
    store = Store(db_path)
    now = time.time()
    sid = store.open_session("P-D", "D", "ketamine-iv", now - 7200)[0]
    store.record_event(sid, Event(now - 5400, "infusion_start", "", "RN"))
    store.record_event(sid, Event(now - 3600, "infusion_stop", "", "RN"))
    high = Alert("bp_critical#1", "bp_critical", "sbp", "physiological", "high", now - 60, 195.0, 180.0,
                 "BP 195/105: SBP 195 ≥ 180")
    store.put_change(sid, high)
    store.flush()
    scores = {k: 2 for k in ("activity", "respiration", "circulation", "consciousness", "spo2")}
    store.record_event(sid, Event(now - 30, "aldrete", "Modified Aldrete 10/10", "RN"),
                       {**scores, "total": 10, "ready": True, "minimum": 9})
    for ago in (1500, 20):  # the profile's two qualifying PADSS scores, 20 min apart
        store.record_event(sid, Event(now - ago, "padss", "PADSS 10/10", "RN"), {"total": 10, "qualifies": True})
    srv = server("serve")
    srv.login(browser, "nurse", "/chair/D")
    shown = wait_until(lambda: discharge(browser), timeout=30)
    assert shown["ready"] == "false" and "NOT READY" in shown["text"]
    assert "alarm active: BP 195/105: SBP 195 ≥ 180" in shown["why"]
    high.ended_at = now - 5
    store.put_change(sid, high)
    store.flush()
    store.acknowledge(queries.alerts(store, sid)[0]["id"], "RN", time.time(), session_id=sid)
    shown = wait_until(lambda: (discharge(browser) or {}).get("ready") == "true" and discharge(browser), timeout=15)
    assert "READY FOR DISCHARGE" in shown["text"] and shown["why"] == ""
    store.close()


def test_countdown_padss_from_the_page_and_a_signed_discharge(browser, server, db_path):
    """The minimum observation counts down; PADSS is scored on the page with its vital signs
    prefilled from the data; two qualifying scores 20 min apart and the end of the countdown
    make the patient ready; the discharge is a signed event."""
    store = Store(db_path)
    now = time.time()
    sid = store.open_session("P-H", "H", "ketamine-iv", now - 7200, source="replay")[0]
    store.put_change(sid, Baseline("sbp", 120.0, "computed", now - 6000, 3))
    store.put_change(sid, Baseline("hr", 70.0, "computed", now - 6000, 600))
    store.record_event(sid, Event(now - 5400, "infusion_start", "", "RN"))
    store.record_event(sid, Event(now - 1788, "infusion_stop", "", "RN"))  # 30 min observation: 12 s to go
    for i in range(30):
        store.put_reading(sid, Reading(now - 30 + i, "hr", 76, "ok", "ox"))
    for p, v in (("sbp", 130), ("dbp", 80), ("map", 97)):
        store.put_reading(sid, Reading(now - 120, p, v, "ok", "cuff"))
    scores = {k: 2 for k in ("activity", "respiration", "circulation", "consciousness", "spo2")}
    store.record_event(sid, Event(now - 1500, "aldrete", "Modified Aldrete 10/10", "RN"),
                       {**scores, "total": 10, "ready": True, "minimum": 9})
    store.record_event(sid, Event(now - 1300, "padss", "PADSS 10/10", "RN"), {"total": 10, "qualifies": True})
    store.flush()
    srv = server("serve")
    srv.login(browser, "nurse", "/chair/H")
    first = wait_until(lambda: (lambda t: "to go" in t and t)(text_of(browser, "#dis-countdown")), timeout=30)
    assert first.startswith("Minimum observation (30 min): 0:")
    wait_until(lambda: text_of(browser, "#dis-countdown") == "Minimum observation (30 min): complete", timeout=15)
    shown = discharge(browser)
    assert shown["ready"] == "false" and "1 more qualifying score needed" in shown["why"]

    basis = text_of(browser, "#padss-basis-vital_signs")
    assert "SBP 130 vs 120 (8 %)" in basis and "HR 76 vs 70 (9 %)" in basis
    for item in ("activity", "pain", "bleeding"):
        browser.find_element(By.CSS_SELECTOR, f'#padss-{item} input[value="2"]').click()
    browser.find_element(By.ID, "padss-save").click()
    wait_until(lambda: text_of(browser, "#padss-status").startswith("Recorded: PADSS 10/10: qualifies"))
    shown = wait_until(lambda: (discharge(browser) or {}).get("ready") == "true" and discharge(browser), timeout=15)
    assert "READY FOR DISCHARGE" in shown["text"]

    browser.find_element(By.ID, "dis-save").click()
    wait_until(lambda: text_of(browser, "#dis-status").startswith("Recorded: Discharged home: ready"))
    (ev,) = [e for e in queries.events(store, sid) if e["type"] == "discharge"]
    assert ev["author"] == "RN" and ev["data"]["ready"] is True
    wait_until(lambda: "DISCHARGED" in text_of(browser, "#bed-discharge"))
    store.close()
