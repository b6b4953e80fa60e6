"""The nurse's alarm workflow in headless Chromium against `infusion-monitor serve`.

Alerts are written into the database the way the engine writes them (store.put_change);
the page must present them: priority styling, latch, acknowledge signed with the signed-in
nurse's initials (persisted to SQLite), audio pause with countdown and break-through. Audio
is checked through the page's alarm state attributes (#bed-alarm-state data-*), never
through the speaker.
"""
from __future__ import annotations

import re
import time

import pytest
from selenium.webdriver.common.by import By

from conftest import Server, Watching, text_of, wait_until
from monitor.model import Alert
from monitor.store import Store

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    db = tmp_path_factory.mktemp("alarms") / "monitor.db"
    store = Store(db)
    beats = Watching(store)  # an acquisition process watches every seeded chair
    srv = Server(db, "serve", ())
    yield store, srv, beats
    srv.stop()
    beats.stop()
    store.close()


def alarm_state(browser) -> dict:
    return browser.execute_script(
        "const e = document.getElementById('bed-alarm-state'); return e ? Object.assign({}, e.dataset) : {};")


def seed(live, chair, *alerts) -> int:
    store, _, beats = live
    beats.add(chair)
    sid = store.open_session(f"P-{chair}", chair, "ketamine-iv", time.time() - 600)[0]
    for a in alerts:
        store.put_change(sid, a)
    store.flush()
    return sid


def alert(key, rule, priority, message, kind="physiological", ended=None, value=None, limit=None):
    return Alert(key, rule, "sbp" if rule.startswith(("bp", "nibp")) else "spo2", kind, priority,
                 time.time() - 120, value, limit, message, ended_at=ended)


def test_alarms_styled_by_priority_latched_and_technical_apart(browser, live):
    store, srv, _ = live
    seed(live, "A",
         alert("bp_critical#1", "bp_critical", "high", "BP 186/100: SBP 186 ≥ 180", ended=time.time() - 60,
               value=186, limit=180),
         alert("spo2_low#2", "spo2_low", "medium", "SpO2 90 < 92", value=90, limit=92),
         alert("nibp_failed#3", "nibp_failed", "low", "NIBP failed: motion artifact", kind="technical"))
    srv.login(browser, "nurse", "/chair/A")
    high = wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, ".alarm-zone .alarm-high"), timeout=30)[0]
    info = browser.execute_script("""
        const q = s => document.querySelector(s), cs = e => getComputedStyle(e);
        const h = q('.alarm-zone .alarm-high'), m = q('.alarm-zone .alarm-medium'), t = q('.technical-zone .alarm');
        return {h: h.innerText, hState: h.dataset.state, hAnim: cs(h).animationName, hColor: cs(h).color,
                m: m.innerText, mAnim: cs(m).animationName, mDur: cs(m).animationDuration, hDur: cs(h).animationDuration,
                t: t.innerText, tCls: t.className, tBorder: cs(t).borderStyle,
                techInPatientZone: !!q('.alarm-zone .alarm-technical')};""")
    assert high.get_attribute("data-priority") == "high"
    assert "!!!" in info["h"] and "HIGH" in info["h"] and "SBP 186 ≥ 180" in info["h"]
    assert info["hState"] == "latched" and "latched until acknowledged" in info["h"]
    assert info["hAnim"] == "flash-high" and info["hDur"] == "0.5s"
    assert info["hColor"] in ("rgb(17, 17, 17)", "rgb(255, 255, 255)")  # dark on bright, white on dark
    assert "!!" in info["m"] and "MEDIUM" in info["m"] and "SpO2 90 < 92" in info["m"]
    assert info["mAnim"] == "flash-medium" and info["mDur"] == "1.67s"
    assert "NIBP failed" in info["t"] and "alarm-low" in info["tCls"] and info["tBorder"] == "dashed"
    assert not info["techInPatientZone"]
    state = wait_until(lambda: alarm_state(browser).get("sounding") == "high" and alarm_state(browser))
    assert state["highest"] == "high" and state["paused"] == "false"
    assert "Sound" in text_of(browser, "#bed-sound-toggle") or "SOUND" in text_of(browser, "#bed-sound-toggle")


def test_acknowledge_signed_by_the_login_persists_and_releases_latch(browser, live):
    store, srv, _ = live
    sid = seed(live, "B", alert("bp_critical#1", "bp_critical", "high", "BP 190/104: SBP 190 ≥ 180",
                                 ended=time.time() - 30, value=190, limit=180))
    aid = store._one("SELECT id FROM alerts WHERE session_id = ?", (sid,))["id"]
    srv.login(browser, "nurse", "/chair/B")  # nurse1: the acknowledgement is signed RN
    button = wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, f'[data-alert-id="{aid}"] .btn-ack'),
                        timeout=30)[0]
    button.click()
    row = wait_until(lambda: store._one("SELECT acknowledged_by, acknowledged_at FROM alerts WHERE id = ? "
                                       "AND acknowledged_at IS NOT NULL", (aid,)))
    assert row["acknowledged_by"] == "RN" and abs(row["acknowledged_at"] - time.time()) < 60
    assert "Acknowledged alarm (RN" in text_of(browser, "#bed-ack-status")
    wait_until(lambda: not browser.find_elements(By.CSS_SELECTOR, ".alarm-zone .alarm-high"))  # latch released
    wait_until(lambda: alarm_state(browser).get("highest") == "none")
    wait_until(lambda: "RN" in text_of(browser, "#bed-history"))


def test_audio_pause_counts_down_and_higher_priority_breaks_through(browser, live):
    store, srv, _ = live
    sid = seed(live, "C", alert("spo2_low#1", "spo2_low", "medium", "SpO2 90 < 92", value=90, limit=92))
    srv.login(browser, "nurse", "/chair/C")
    wait_until(lambda: alarm_state(browser).get("sounding") == "medium", timeout=30)
    browser.find_element(By.ID, "bed-audio-pause").click()
    state = wait_until(lambda: alarm_state(browser).get("paused") == "true" and alarm_state(browser))
    assert state["sounding"] == "none" and state["highest"] == "medium"
    assert 0 < int(state["pauseRemaining"]) <= 120
    assert re.search(r"Audio paused [0-2]:\d\d", text_of(browser, "#bed-audio-pause"))
    assert re.search(r"AUDIO PAUSED [0-2]:\d\d", text_of(browser, "#bed-alarm-state"))
    # a new alarm of the same priority stays silent while paused
    store.put_change(sid, alert("hr_high#2", "hr_high", "medium", "HR 125 > 120", value=125, limit=120))
    store.flush()
    wait_until(lambda: "HR 125" in text_of(browser, ".alarm-zone"))
    state = wait_until(lambda: alarm_state(browser).get("unacknowledged") == "2" and alarm_state(browser))
    assert state["paused"] == "true" and state["sounding"] == "none" and state["highest"] == "medium"
    # a new alarm of higher priority breaks through
    store.put_change(sid, alert("spo2_critical#3", "spo2_critical", "high", "SpO2 86 < 88", value=86, limit=88))
    store.flush()
    state = wait_until(lambda: alarm_state(browser).get("paused") == "false" and alarm_state(browser))
    assert state["breakthrough"] == "true" and state["sounding"] == "high" and state["pauseRemaining"] == "0"
    assert "Pause audio" in text_of(browser, "#bed-audio-pause")


def test_sound_cannot_be_switched_off_and_a_blocked_sound_is_said_loudly(browser, live):
    """The only silence is the 2-minute pause: pressing the sound button never turns sound off;
    when the browser blocks audio the status says so and never claims an alarm is sounding."""
    store, srv, _ = live
    seed(live, "S", alert("spo2_critical#1", "spo2_critical", "high", "SpO2 84 < 88", value=84, limit=88))
    srv.login(browser, "nurse", "/chair/S")
    wait_until(lambda: alarm_state(browser).get("sounding") == "high", timeout=30)
    for _ in range(3):  # press it as often as a nurse might: sound stays on
        browser.find_element(By.ID, "bed-sound-toggle").click()
        time.sleep(0.3)  # the clientside callback answers within a frame: time for it to (wrongly) switch off
        state = alarm_state(browser)
        assert state["sound"] == "on" and state["sounding"] == "high"
        assert "OFF" not in text_of(browser, "#bed-sound-toggle")
    browser.execute_script("window.infusionAudio.ctx.suspend();")  # what an autoplay block looks like
    wait_until(lambda: alarm_state(browser).get("sound") == "blocked", timeout=10)
    status = wait_until(lambda: "SILENT" in text_of(browser, "#bed-alarm-state") and text_of(browser, "#bed-alarm-state"))
    assert "HIGH ALARM SILENT: the browser blocks sound" in status and "sounding" not in status
    assert "SOUND BLOCKED" in text_of(browser, "#bed-sound-toggle")
    browser.find_element(By.ID, "bed-sound-toggle").click()  # the way back: one click
    wait_until(lambda: alarm_state(browser).get("sound") == "on", timeout=10)
