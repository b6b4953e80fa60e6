"""Discharge readiness in Chromium: never "ready" while a patient alarm is active or unsigned,
the reasons listed; ready once the alarm is over and signed for."""
from __future__ import annotations

import time

import pytest

from conftest import wait_until
from monitor.model import Alert, Event
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
