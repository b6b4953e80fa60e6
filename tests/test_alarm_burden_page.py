"""Issue 13 item 7: the /alarms page shows the alarm burden as charts and tables (web/burden.py
renders alarm_burden.burden; no number of its own), for clinicians only."""
from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By

from conftest import wait_until
from monitor.alarm_burden import burden
from monitor.model import PRIORITY
from monitor.playback import simulate
from monitor.store import Store, queries
from monitor.web import burden as page


def _walk(component):
    yield component
    children = getattr(component, "children", None)
    for child in children if isinstance(children, list) else [children]:
        if child is not None and not isinstance(child, (str, int, float)):
            yield from _walk(child)


def _by_id(components, ident):
    return next(c for top in components for c in _walk(top) if getattr(c, "id", None) == ident)


@pytest.fixture
def two_sessions(store, protocol):
    for scenario in ("desaturation", "hypertensive"):
        simulate(store, protocol, scenario)
    return store


@pytest.mark.slow
def test_the_page_draws_the_burden_the_report_computes(two_sessions):
    store = two_sessions
    sessions = queries.sessions_since(store)
    r = burden(sessions, queries.alerts_of_sessions(store, [s["id"] for s in sessions]))
    shown = page.view(store, None)
    assert _by_id(shown, "ab-summary").children.startswith(f"2 sessions, {r['monitored_h']:.1f} h monitored: "
                                                           f"{r['alarms']} alarms")
    rate = _by_id(shown, "ab-rate").figure
    bars = {(t["name"], y): x for t in rate["data"] for y, x in zip(t["y"], t["x"])}
    for x in r["by_rule"]:  # every rule at its rate, in its priority's colour
        assert bars[(x["priority"], page._label(x))] == x["per_hour"]
    assert {t["name"]: t["marker"]["color"] for t in rate["data"]} == {
        t["name"]: PRIORITY[t["name"]].colour for t in rate["data"]}
    action = _by_id(shown, "ab-action").figure
    assert sum(sum(t["x"]) for t in action["data"]) == r["alarms"]  # each alarm in exactly one part
    rules = [c for top in shown for c in _walk(top) if getattr(c, "className", "").startswith("burden-rule ")]
    assert len(rules) == len(r["by_rule"])


@pytest.mark.slow
def test_since_a_later_date_there_is_nothing_and_a_bad_date_is_said(two_sessions):
    shown = page.view(two_sessions, 4_102_444_800.0)  # 2100
    assert _by_id(shown, "ab-summary").children == "No sessions started in this period."


@pytest.mark.browser
def test_a_clinician_sees_the_charts_and_a_nurse_is_told_not_for_your_role(browser, db_path, protocol, server):
    store = Store(db_path)
    simulate(store, protocol, "desaturation")
    store.close()
    srv = server()
    srv.login(browser, "clinician", "/alarms")
    wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, "#ab-rate .main-svg"), timeout=30)
    assert browser.find_elements(By.CSS_SELECTOR, "#ab-action .main-svg")
    assert "spo2_low" in browser.find_element(By.CSS_SELECTOR, "table.burden-rules").text
    assert browser.find_element(By.LINK_TEXT, "Alarms").get_attribute("href").endswith("/alarms")
    srv.login(browser, "nurse", "/alarms")
    wait_until(lambda: "Not for your role" in browser.find_element(By.ID, "page").text, timeout=30)
    assert not browser.find_elements(By.ID, "ab-rate") and not browser.find_elements(By.LINK_TEXT, "Alarms")


@pytest.mark.slow
def test_the_page_lists_the_escalations_the_report_counts(two_sessions):
    """A simulated session's alarms go unacknowledged (nobody at its bedside): they escalate, and the
    page shows each per priority and one by one, as the report counts them (issue 15 part 4)."""
    store = two_sessions
    sessions = queries.sessions_since(store)
    r = burden(sessions, queries.alerts_of_sessions(store, [s["id"] for s in sessions]))
    assert r["escalated"] > 0 and r["escalated_acknowledged"] == 0
    shown = page.view(store, None)
    assert _by_id(shown, "ab-escalated").children.startswith(f"{r['escalated']} alarms escalated; 0 acknowledged")
    each = [c for top in shown for c in _walk(top) if getattr(c, "className", "") == "burden-escalation"]
    assert len(each) == r["escalated"]
    per = [c for top in shown for c in _walk(top) if getattr(c, "className", "").startswith("burden-escalated ")]
    assert len(per) == len(r["escalated_by_priority"])
