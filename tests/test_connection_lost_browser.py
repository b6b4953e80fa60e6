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
from pathlib import Path

import pytest

from conftest import ROOT, Server, wait_until
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
            browser.get(srv.url + path)
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
        if srv.proc.poll() is None:
            os.kill(srv.proc.pid, signal.SIGCONT)
        srv.stop()
        acquire.kill()
        acquire.wait()
