"""Review pages in real headless Chromium against a real server: filter the list, open a
session's chart, follow the patient link, download an export."""
from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from monitor.playback import simulate
from monitor.store import Store

from conftest import wait_until
from review_data import replay_hand_session

pytestmark = pytest.mark.browser


def rows_patients(browser) -> list[str]:
    return browser.execute_script(
        "return Array.from(document.querySelectorAll('#sl-table tr.session-row .cell-patient'))"
        ".map(e => e.innerText)") or []


@pytest.fixture
def two_patients(db_path, protocol):
    store = Store(db_path)
    high = replay_hand_session(store, protocol, patient_ref="PT-ALPHA", chair="4")
    replay_hand_session(store, protocol, patient_ref="PT-ALPHA", chair="4")
    calm = simulate(store, protocol, "normal", seed=2, patient_ref="PT-BETA", chair="5").session_id
    store.close()
    return high, calm


def test_filter_list_open_chart_and_patient_series(browser, server, two_patients, tmp_path):
    high, calm = two_patients
    srv = server("serve")
    srv.login(browser, "clinician", "/sessions")  # review is a clinician's
    wait_until(lambda: len(rows_patients(browser)) == 3, timeout=30)
    assert "1–3 of 3 sessions" in browser.execute_script("return document.getElementById('sl-count').innerText")

    box = browser.find_element(By.ID, "sl-patient")
    box.send_keys("beta")
    wait_until(lambda: rows_patients(browser) == ["PT-BETA"], timeout=20)
    box.send_keys(Keys.BACKSPACE * 4)  # typed deletes, so React sees the now-empty value
    wait_until(lambda: len(rows_patients(browser)) == 3, timeout=20)
    browser.find_element(By.CSS_SELECTOR, "#sl-high label").click()
    wait_until(lambda: rows_patients(browser) == ["PT-ALPHA", "PT-ALPHA"], timeout=20)
    summary = browser.execute_script(
        "return document.querySelector('#sl-table tr.session-row .cell-peak-sbp').innerText")
    assert summary == "185 at +1.5 min"

    browser.find_element(By.CSS_SELECTOR, f"#sl-table tr[data-session='{high}'] td a").click()
    wait_until(lambda: browser.execute_script(
        "const g = document.querySelector('#sv-chart .js-plotly-plot'); return g && g.layout && g.layout.shapes"),
        timeout=30)
    bands = browser.execute_script(
        "return document.querySelector('#sv-chart .js-plotly-plot').layout.shapes"
        ".filter(s => (s.name || '').startsWith('alarm:')).map(s => s.name).sort()")
    assert bands == ["alarm:bp_critical:high", "alarm:bp_high:medium", "alarm:hr_high:medium",
                     "alarm:sbp_rise:low", "alarm:spo2_low:medium"]
    alarm_rows = browser.execute_script(
        "return Array.from(document.querySelectorAll('#sv-alarms tr.alarm-row')).map(r => r.innerText)")
    assert len(alarm_rows) == 5 and any("!!! HIGH" in r and "bp_critical" in r for r in alarm_rows)
    assert "patient anxious" in browser.execute_script("return document.getElementById('sv-events').innerText")
    assert browser.execute_script("return document.getElementById('sv-resp-chart')") is None  # no capnograph
    browser.save_screenshot(str(tmp_path / "session-chart.png"))

    browser.find_element(By.CSS_SELECTOR, "a.patient-link").click()
    wait_until(lambda: browser.execute_script(
        "const g = document.querySelector('#pv-bp .js-plotly-plot'); return g && g.data && g.data.length"),
        timeout=30)
    traces = browser.execute_script("return document.querySelector('#pv-bp .js-plotly-plot').data.length")
    assert traces == 4  # SBP and DBP for each of PT-ALPHA's two sessions
    assert "Patient PT-ALPHA · 2 sessions" in browser.execute_script(
        "return document.querySelector('.review-patient h1').innerText")

    # a simulated session had a capnograph: its RR and EtCO2 under the chart, on the same minutes
    browser.get(f"{srv.url}/session/{calm}")
    names = wait_until(lambda: browser.execute_script(
        "const g = document.querySelector('#sv-resp-chart .js-plotly-plot');"
        "return g && g.data && g.data.map(t => t.name)"), timeout=30)
    assert names == ["RR", "EtCO₂"]
    ranges = browser.execute_script("return ['#sv-chart', '#sv-resp-chart'].map(s => "
                                    "document.querySelector(s + ' .js-plotly-plot').layout.xaxis.range)")
    assert ranges[0] == ranges[1]


def test_session_page_downloads_csv(browser, server, two_patients, tmp_path):
    high, _ = two_patients
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    browser.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    srv = server("serve")
    srv.login(browser, "clinician", f"/session/{high}")
    button = wait_until(lambda: browser.find_elements(By.ID, "sv-dl-csv"), timeout=30)[0]
    button.click()

    def downloaded():  # Chromium writes a .crdownload partial file and renames it when complete
        files = list(downloads.iterdir())
        return not any(p.suffix == ".crdownload" for p in files) and [p for p in files if p.suffix == ".csv"]
    done = wait_until(downloaded, timeout=30)
    text = done[0].read_text(encoding="utf-8")
    assert done[0].name == f"session-{high}-PT-ALPHA.csv"
    assert text.startswith("record,time_utc") and text.count("\nalert,") == 5


def test_a_long_note_wraps_and_the_record_is_signed_on_the_session_page(browser, server, db_path, protocol):
    import time
    from monitor.model import Event
    from monitor.store import queries
    store = Store(db_path)
    sid = store.open_session("PT-SIGN", "9", protocol.name, time.time() - 600)[0]
    store.record_event(sid, Event(time.time() - 300, "note", "x" * 400, "RN"))  # one unbroken word
    store.record_event(sid, Event(time.time() - 200, "session_end", "", "RN"))
    srv = server("serve")
    browser.set_window_size(1280, 900)
    srv.login(browser, "clinician", f"/session/{sid}")
    wait_until(lambda: browser.find_elements(By.ID, "sv-signoff"), timeout=30)
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 1280
    by_visible = browser.execute_script(  # the "By" column stays on screen beside the long note
        "const c = Array.from(document.querySelectorAll('td')).find(td => td.innerText === 'RN');"
        "return c ? c.getBoundingClientRect().right <= document.documentElement.clientWidth : false;")
    assert by_visible
    browser.find_element(By.ID, "sv-signoff").click()  # signed by the login: doc1, initials DR
    wait_until(lambda: "Signed by doc1 (DR)." in browser.find_element(By.ID, "sv-signoff-status").text)
    assert "doc1 (DR)" in browser.find_element(By.ID, "sv-signoffs").text
    assert [e["author"] for e in queries.events(store, sid) if e["type"] == "review_signoff"] == ["DR"]
    store.close()
