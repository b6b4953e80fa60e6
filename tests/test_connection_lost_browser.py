"""Issue 10 item 3: when the web server dies, an open page no longer freezes quietly on its last
values. In headless Chromium against a real `serve` (and a real `acquire` feeding it): the server
is stopped, the page shows "connection to the monitor lost" with the age of what it shows, greys
its numerics and sounds a technical alarm on its own (assets/connection-watch.js through the page's
alarm sound, checked through window.infusionAudio and the alarm state attributes, never the
speaker); the server is started again on the same port and the page recovers by itself. Bedside
and overview alike.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By

from conftest import ROOT, Server, Watching, wait_until
from monitor.model import Alert
from monitor.store import Store

pytestmark = pytest.mark.browser


def page(browser) -> dict:
    return browser.execute_script("""
        const banner = document.getElementById('connection-banner');
        const st = document.getElementById('bed-alarm-state') || document.getElementById('ov-alarm-state');
        const value = document.querySelector('#num-hr') || document.querySelector('.tile-nums');
        const aged = Array.from(document.querySelectorAll('[data-stale-age]'));
        return {connection: document.body.dataset.connection || 'ok', banner: banner ? banner.innerText : '',
                value: value ? value.innerText : '', filter: value ? getComputedStyle(value).filter : '',
                opacity: value ? getComputedStyle(value).opacity : '',
                ages: aged.map(e => e.dataset.staleAge),
                ageShown: aged.length ? getComputedStyle(aged[0], '::after').content : '',
                state: st ? Object.assign({}, st.dataset) : {},
                played: Object.assign({}, (window.infusionAudio || {}).played || {}),
                audio: window.infusionAudio ? window.infusionAudio.level() : ''};""")


def when(browser, test, timeout):
    return wait_until(lambda: (lambda p: test(p) and p)(page(browser)), timeout=timeout)


def test_a_stopped_server_is_said_greyed_and_sounded_and_the_page_recovers(browser, db_path):
    Store(db_path).close()
    acquire = subprocess.Popen(
        [str(Path(sys.executable).parent / "infusion-monitor"), "--db", str(db_path), "acquire",
         "--device", "sim:normal", "--chair", "L", "--patient", "P-L"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    srv = Server(db_path)
    try:
        # the bedside's server dies and is started again; the overview's hangs (SIGSTOP) and resumes
        for path, dead in (("/chair/L", True), ("/", False)):
            srv.login(browser, "nurse", path)  # a restarted server on the same database keeps the login
            p = when(browser, lambda p: re.search(r"\d", p["value"]) and p["state"].get("sounding") == "none",
                     timeout=45)
            assert p["connection"] == "ok" and p["banner"] == "" and p["filter"] == "none"
            if dead:
                srv.stop()
            else:
                os.kill(srv.proc.pid, signal.SIGSTOP)
            p = when(browser, lambda p: p["connection"] == "lost", timeout=20)
            assert "CONNECTION TO THE MONITOR LOST" in p["banner"]
            assert re.search(r"values on this page are from \d\d:\d\d:\d\d, \d+ s old", p["banner"])
            assert "grayscale(1)" in p["filter"] and float(p["opacity"]) < 1  # the numerics greyed
            assert p["ages"] and all(re.fullmatch(r"\d+ s old", a) for a in p["ages"])
            assert re.search(r"\d+ s old", p["ageShown"])  # each numeric shows its age
            # what the page's alarm sound plays (while a request hangs Dash holds its callbacks back,
            # so the alarm state text may lag: the sound does not)
            p = when(browser, lambda p: p["audio"] == "medium", timeout=10)
            assert p["state"]["sound"] == "on"
            if dead:
                when(browser, lambda p: p["state"].get("sounding") == "medium", timeout=10)
            when(browser, lambda p: p["played"].get("medium", 0) > 0, timeout=10)  # the tone was played
            if dead:
                srv = Server(db_path, port=srv.port)  # back on the same port
            else:
                os.kill(srv.proc.pid, signal.SIGCONT)
            p = when(browser, lambda p: p["connection"] == "ok", timeout=20)
            assert p["banner"] == "" and p["ages"] == [] and p["filter"] == "none"
            p = when(browser, lambda p: p["state"].get("sounding") == "none", timeout=10)
            assert p["audio"] == "none"  # the tone stopped with the outage
    finally:
        srv.stop()  # continued first if frozen
        acquire.kill()
        acquire.wait()


# ---- the page never sounds less than it did when the connection is lost (nurse-role audit) ----
def outage_view(browser) -> dict:
    """What the nurse sees and hears while the server is gone: the visible status line, the
    technical zone, and what the page's alarm sound plays (window.infusionAudio)."""
    return browser.execute_script("""
        const st = document.getElementById('bed-alarm-state') || document.getElementById('ov-alarm-state');
        const line = Array.from(document.querySelectorAll('[role=status]'))
            .filter(e => e.closest('.alarm-controls') && e.offsetParent !== null && e.innerText.trim());
        const tech = document.querySelector('.technical-zone');
        const a = window.infusionAudio || {};
        return {connection: document.body.dataset.connection || 'ok', sound: st ? st.dataset.sound : '',
                sounding: st ? st.dataset.sounding : '', status: line.map(e => e.innerText).join(' | '),
                technical: tech ? tech.innerText : '', audio: a.level ? a.level() : '',
                played: Object.assign({}, a.played || {})};""")


def chair_with(db_path, chair, *alerts):
    store = Store(db_path)
    beats = Watching(store)  # an acquisition process watches the chair
    beats.add(chair)
    sid = store.open_session(f"P-{chair}", chair, "ketamine-iv", time.time() - 600)[0]
    for a in alerts:
        store.put_change(sid, a)
    store.flush()
    return store, beats


def hear_through_outage(browser, priority: str, bursts: int = 2) -> tuple[list[dict], list[dict]]:
    """Every view while the page plays `bursts` more `priority` bursts with the server gone; then
    the views from the moment the status line says the connection is lost (it stays said)."""
    seen = [outage_view(browser)]
    start = seen[0]["played"].get(priority, 0)
    wait_until(lambda: seen.append(outage_view(browser)) or
               seen[-1]["played"].get(priority, 0) >= start + bursts, timeout=40)
    assert all(v["connection"] == "lost" for v in seen)
    said = [i for i, v in enumerate(seen) if "connection to the monitor lost" in v["status"]]
    assert said, f"the status line never said the connection is lost: {seen[-1]['status']!r}"
    return seen, seen[said[0]:]


def test_a_high_alarm_sounds_on_as_high_while_the_server_is_frozen(browser, db_path):
    store, beats = chair_with(db_path, "H", Alert(
        "bp_critical#1", "bp_critical", "sbp", "physiological", "high", time.time() - 120, 186, 180,
        "BP 186/100: SBP 186 ≥ 180", ended_at=time.time() - 60))  # latched, unacknowledged
    srv = Server(db_path)
    try:
        srv.login(browser, "nurse", "/chair/H")
        v = wait_until(lambda: (lambda v: v["sounding"] == "high" and v["played"].get("high", 0) > 0 and v)(
            outage_view(browser)), timeout=45)
        assert v["sound"] == "on" and "HIGH alarm sounding" in v["status"]
        os.kill(srv.proc.pid, signal.SIGSTOP)  # hung: Dash runs none of the page's callbacks now
        wait_until(lambda: outage_view(browser)["connection"] == "lost", timeout=20)
        medium_before = outage_view(browser)["played"].get("medium", 0)
        seen, said = hear_through_outage(browser, "high")
        assert {v["audio"] for v in seen} == {"high"}  # never fell to the MEDIUM connection-lost tone
        assert seen[-1]["played"].get("medium", 0) == medium_before
        for v in said:  # says what sounds and why; the technical zone names the outage
            assert "HIGH" in v["status"] and "connection to the monitor lost" in v["status"]
            assert "last alarm: HIGH" in v["status"] and "HIGH alarm sounding" not in v["status"]
            assert "Connection to the monitor lost" in v["technical"] and "No technical alarm" not in v["technical"]
        os.kill(srv.proc.pid, signal.SIGCONT)
        v = wait_until(lambda: (lambda v: v["connection"] == "ok" and v["audio"] == "high" and
                                "connection" not in v["status"] and v)(outage_view(browser)),
                       timeout=20)  # the server's alarm data takes over
        assert v["status"] == "♪ HIGH alarm sounding"
        assert "Connection to the monitor lost" not in v["technical"] and "No technical alarm" in v["technical"]
    finally:
        srv.stop()  # continued first if frozen
        beats.stop()
        store.close()


def test_a_lost_connection_sounds_on_its_own_with_nothing_sounding_before(browser, db_path):
    """No alarm before the outage: the connection-lost tone (the profile's device_disconnected
    priority, never below MEDIUM: limit_order.TECHNICAL_FLOOR) repeats through it, the pause
    silences it, and recovery ends it."""
    store, beats = chair_with(db_path, "Q")  # no alarm at all: the page sounded nothing before
    srv = Server(db_path)
    try:
        srv.login(browser, "nurse", "/chair/Q")
        v = wait_until(lambda: (lambda v: v["sounding"] == "none" and v["sound"] == "on" and v)(
            outage_view(browser)), timeout=45)
        assert browser.execute_script(
            "return document.getElementById('bed-alarm-state').dataset.connectionPriority") == "medium"
        srv.stop()  # dead: the page's callbacks run, with no answer
        wait_until(lambda: outage_view(browser)["connection"] == "lost", timeout=20)
        seen, said = hear_through_outage(browser, "medium")  # repeats, not one burst and then silence
        assert {v["audio"] for v in seen} == {"medium"}
        for v in said:
            assert "MEDIUM" in v["status"] and "connection to the monitor lost" in v["status"]
            assert "last alarm" not in v["status"]  # no alarm was sounding before
            assert "Connection to the monitor lost" in v["technical"]
        pause = browser.find_element(By.ID, "bed-audio-pause")
        pause.click()  # the 2-minute pause silences it, and says so
        v = wait_until(lambda: (lambda v: v["audio"] == "none" and "PAUSED" in v["status"] and v)(
            outage_view(browser)), timeout=10)
        assert re.search(r"AUDIO PAUSED \d:\d\d — connection to the monitor lost", v["status"])
        pause.click()  # resumed early: it sounds again
        wait_until(lambda: outage_view(browser)["audio"] == "medium", timeout=10)
        srv = Server(db_path, port=srv.port)
        v = wait_until(lambda: (lambda v: v["connection"] == "ok" and v["audio"] == "none" and
                                "connection" not in v["status"].lower() and v)(outage_view(browser)), timeout=20)
        assert v["status"] == "No alarm sounding" and "No technical alarm" in v["technical"]
        assert "Connection to the monitor lost" not in v["technical"]
    finally:
        srv.stop()
        beats.stop()
        store.close()
