"""All chairs at a glance, in headless Chromium: two chairs from two simulated sessions
running against the server's database, the highest alarm on its tile and audible on the
overview page (its alarm state attributes), click-through to the chair."""
from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By

from conftest import ROOT, wait_until
from monitor.model import Alert
from monitor.store import Store, queries

pytestmark = pytest.mark.browser


def tiles(browser) -> dict:
    return browser.execute_script("""
        const out = {};
        document.querySelectorAll('.tile-wrap').forEach(w => {
            out[w.dataset.chair] = {text: w.innerText, priority: w.dataset.priority, phase: w.dataset.phase,
                                    cls: w.querySelector('a.tile').className}; });
        return out;""")


def ov_state(browser) -> dict:
    return browser.execute_script(
        "const e = document.getElementById('ov-alarm-state'); return e ? Object.assign({}, e.dataset) : {};")


@pytest.mark.both_engines  # the page on PostgreSQL too (conftest.py)
def test_overview_shows_two_simulated_chairs_alarm_and_click_through(browser, server, db_path):
    store = Store(db_path)  # the schema exists before the three processes share the file
    srv = server("serve")
    exe = str(Path(sys.executable).parent / "infusion-monitor")
    sims = [subprocess.Popen([exe, "--db", str(db_path), "simulate", "--scenario", scenario, "--speed", "30",
                              "--chair", chair, "--patient", f"PT-{chair}"],
                             cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for chair, scenario in (("North", "normal"), ("South", "hypertensive"))]
    try:
        srv.login(browser, "nurse", "/")

        def both_live():
            t = tiles(browser)
            ok = all(c in t and re.search(r"HR \d+", t[c]["text"]) and re.search(r"BP \d+/\d+", t[c]["text"])
                     for c in ("North", "South"))
            return ok and t
        t = wait_until(both_live, timeout=45)
        for chair in ("North", "South"):
            assert f"Chair {chair}" in t[chair]["text"] and f"PT-{chair}" in t[chair]["text"]
            assert t[chair]["phase"] in ("baseline", "infusion")
            assert re.search(r"(BASELINE|INFUSION)", t[chair]["text"])
            assert re.search(r"(Baseline|Infusion) \d\d:\d\d", t[chair]["text"])  # elapsed time

        sid = queries.current_session(store, "South")["id"]
        store.put_change(sid, Alert("test#1", "bp_critical", "sbp", "physiological", "high", time.time(), 188, 180,
                                    "BP 188/109: SBP 188 ≥ 180"))
        store.flush()
        t = wait_until(lambda: tiles(browser)["South"]["priority"] == "high" and tiles(browser), timeout=20)
        assert "!!!" in t["South"]["text"] and "SBP 188 ≥ 180" in t["South"]["text"]
        assert "tile-high" in t["South"]["cls"] and t["North"]["priority"] in ("none", "low", "medium")
        state = wait_until(lambda: ov_state(browser).get("highest") == "high" and ov_state(browser))
        assert state["sounding"] == "high"  # audible from the overview too

        browser.find_element(By.CSS_SELECTOR, '.tile-wrap[data-chair="South"] a.tile').click()
        wait_until(lambda: "Chair South" in (browser.execute_script(
            "const e = document.querySelector('.bed-header'); return e ? e.innerText : ''") or ""), timeout=20)
        assert browser.current_url.endswith("/chair/South")
        wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, ".alarm-zone .alarm-high"))
    finally:
        for p in sims:
            p.kill()
            p.wait()
        store.close()
