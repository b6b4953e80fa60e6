"""The bedside's buttons follow the session rules in Chromium: a control the rules would
refuse is disabled, its title says why, and it comes back when the phase allows it."""
from __future__ import annotations

import time

import pytest

from conftest import wait_until
from monitor.model import Event, Reading
from monitor.store import Store

pytestmark = pytest.mark.browser


def control(browser, element_id) -> dict:
    return browser.execute_script(
        "const e = document.getElementById(arguments[0]);"
        "return e ? {disabled: e.disabled, title: e.title} : null;", element_id)


def test_buttons_disabled_with_the_reason_by_phase(browser, server, db_path):
    store = Store(db_path)
    t0 = time.time() - 300
    sid = store.open_session("P-C", "C", "ketamine-iv", t0)[0]
    store.record_event(sid, Event(t0 + 60, "infusion_start", "", "RN"))
    for i in range(300):
        store.put_reading(sid, Reading(t0 + i, "hr", 72, "ok", "ox"))
    store.flush()
    srv = server("serve")
    srv.login(browser, "clinician", "/chair/C")  # every control a role allows: disabled only by the phase
    wait_until(lambda: (control(browser, "act-start") or {}).get("disabled") is True, timeout=30)
    assert control(browser, "act-start")["title"] == "Cannot start the infusion: the session is in infusion."
    assert control(browser, "act-stop-btn") == {"disabled": False, "title": ""}
    assert control(browser, "mv-save")["disabled"] is False
    store.record_event(sid, Event(time.time(), "infusion_stop", "", "RN"))
    store.record_event(sid, Event(time.time() + 1, "session_end", "", "RN"))
    wait_until(lambda: control(browser, "mv-save")["disabled"] is True, timeout=15)
    assert control(browser, "mv-save")["title"] == "The session has ended: only a late note can be added."
    assert control(browser, "act-stat")["disabled"] is True and control(browser, "act-end-btn")["disabled"] is True
    assert control(browser, "note-save") == {"disabled": False, "title": ""}
    store.close()
