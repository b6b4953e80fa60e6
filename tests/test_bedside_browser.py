"""The bedside page in real headless Chromium against a real server."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from conftest import ROOT, text_of, wait_until

pytestmark = pytest.mark.browser


def trace_points(browser, index=0):
    return browser.execute_script(
        "const g = document.querySelector('#bed-trend .js-plotly-plot');"
        f"return g && g.data && g.data[{index}] ? g.data[{index}].x.length : -1;")


def test_live_numbers_change_and_graph_grows(browser, server, tmp_path):
    srv = server("run", db=tmp_path / "live.db")
    srv.login(browser, "nurse", "/chair/1")
    wait_until(lambda: text_of(browser, "#num-hr").isdigit(), timeout=30)
    assert "Chair 1" in text_of(browser, ".bed-header") and "BASELINE" in text_of(browser, ".bed-header")
    first_points = wait_until(lambda: trace_points(browser) > 0 and trace_points(browser), timeout=20)
    clock1 = text_of(browser, "#elapsed-clock")
    wait_until(lambda: trace_points(browser) >= first_points + 3, timeout=20)
    # the clock moves on too (a first figure drawn late gets the points queued meanwhile at once,
    # so the graph may grow faster than the clock for a moment)
    wait_until(lambda: text_of(browser, "#elapsed-clock") != clock1, timeout=20)
    assert 40 <= int(text_of(browser, "#num-hr")) <= 130
    assert 85 <= int(text_of(browser, "#num-spo2")) <= 100
    # the first NIBP result arrives 30 s after the session opens
    wait_until(lambda: "/" in text_of(browser, "#num-bp") and "--" not in text_of(browser, "#num-bp"),
               timeout=60)
    assert "min ago" in text_of(browser, ".numeric.bp")
    assert trace_points(browser, 2) >= 1


@pytest.mark.both_engines  # the page on PostgreSQL too (conftest.py)
def test_hypertensive_alert_appears_with_priority_styling(browser, server, db_path, tmp_path):
    srv = server("serve")
    sim = subprocess.Popen([str(Path(sys.executable).parent / "infusion-monitor"), "--db", str(db_path),
                            "simulate", "--scenario", "hypertensive", "--speed", "120", "--chair", "3"],
                           cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        srv.login(browser, "nurse", "/chair/3")
        # read in one script call each: a pushed tick may redraw the zone between a find and a read
        medium = wait_until(lambda: text_of(browser, ".alarm-zone .alarm-medium"), timeout=60)
        assert "160" in medium and "!!" in medium and "MEDIUM" in medium
        high = wait_until(lambda: browser.execute_script("""
            const el = document.querySelector('.alarm-zone .alarm-high');
            if (!el) return null;
            const st = getComputedStyle(el);
            return {priority: el.dataset.priority, text: el.innerText, animation: st.animationName,
                    border: st.borderColor, color: st.color};"""), timeout=60)
        assert high["priority"] == "high"
        assert "!!!" in high["text"] and "HIGH" in high["text"] and "≥ 180" in high["text"]
        assert high["animation"] == "flash-high"
        # the priority is carried by the colour too: red for high;
        # dark text on the bright phase, white on the dark one (4.5:1 either way: test_alarm_contrast)
        assert high["border"] and high["color"] in ("rgb(17, 17, 17)", "rgb(255, 255, 255)")
        browser.save_screenshot(str(tmp_path / "hypertensive.png"))
    finally:
        sim.kill()
        sim.wait()


def test_overview_links_to_chair(browser, server, db_path, cli):
    cli("simulate", "--scenario", "normal", "--chair", "5", check=True)
    srv = server("serve")
    srv.login(browser, "nurse", "/")
    tile = wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, "a.tile"), timeout=30)
    assert "Chair 5" in tile[0].text
    tile[0].click()
    wait_until(lambda: "Chair 5" in text_of(browser, ".bed-header"), timeout=20)
    wait_until(lambda: browser.find_elements(By.ID, "open-patient"), timeout=20)  # session ended: open form
    # a wristband scanner types the code and Enter into the focused field: the session opens
    field = browser.find_element(By.ID, "open-patient")
    assert browser.switch_to.active_element == field
    field.send_keys("PT-SCAN-77" + Keys.ENTER)
    wait_until(lambda: "opened for PT-SCAN-77" in text_of(browser, "#open-status"), timeout=20)
