"""A server slower than the page's 1 s tick still updates the page (monitor/web/ticks.py).

Dash keeps only the newest request of a callback: before the gate, every tick whose answer took
more than a second was replaced by the next one and thrown away on arrival, so a slow server
answered every request "ok" while the bedside stayed blank or frozen, with no banner. Here
headless Chromium is put behind 1.5 s of network latency (the DevTools protocol's network
emulation) in front of a real `serve`: the bedside still draws its chair, shows a new reading,
follows a link to another chair (the first tick of a page, the heaviest) and the escalation
banner's own tick; the page never says "lost", because it is not.
"""
from __future__ import annotations

import time

import pytest

from conftest import Server, Watching, wait_until
from monitor.model import Reading
from monitor.protocol import load_protocol
from monitor.recording import SessionRecorder
from monitor.store import Store

pytestmark = pytest.mark.browser

LATENCY_MS = 1500  # every request's answer: longer than the 1 s between ticks


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    db = tmp_path_factory.mktemp("slow") / "monitor.db"
    store = Store(db)
    beats = Watching(store)
    srv = Server(db, "serve", ())
    yield store, srv, beats
    srv.stop()
    beats.stop()
    store.close()


@pytest.fixture
def slow_network(browser):
    """The browser's requests each wait LATENCY_MS for their answer, until the test ends."""
    def set_latency(ms: int) -> None:
        browser.execute_cdp_cmd("Network.emulateNetworkConditions", {
            "offline": False, "latency": ms, "downloadThroughput": -1, "uploadThroughput": -1})
    browser.execute_cdp_cmd("Network.enable", {})
    yield lambda: set_latency(LATENCY_MS)
    set_latency(0)
    browser.execute_cdp_cmd("Network.disable", {})


def page(browser) -> dict:
    return browser.execute_script("""
        const hr = document.querySelector('#num-hr');
        const head = document.querySelector('#bed-header');
        const t = window.infusionTicks || {held: {}, sent: {}, paid: {}};
        return {hr: hr ? hr.innerText : '', header: head ? head.innerText : '',
                connection: document.body.dataset.connection || 'ok',
                banner: (document.getElementById('connection-banner') || {}).innerText || '',
                held: Object.assign({}, t.held), sent: Object.assign({}, t.sent), paid: Object.assign({}, t.paid),
                escalated: (document.getElementById('escalation-banner') || {dataset: {}}).dataset.escalated};""")


class Feeder:
    """Readings as an acquisition writes them: each chair's current HR (and SpO2 97) twice a second,
    so what the page shows is always current (a value older than the profile's freshness is "--")."""

    def __init__(self, store, recorders: dict, values: dict):
        import threading
        self.store, self.recorders, self.values = store, recorders, values
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop_event.wait(0.5):
            now = time.time()
            for chair, rec in self.recorders.items():
                rec.reading(Reading(now, "hr", self.values[chair], "ok", "ox"))
                rec.reading(Reading(now, "spo2", 97, "ok", "ox"))
            self.store.flush()

    def stop(self):
        self.stop_event.set()
        self.thread.join(5)


def test_a_server_slower_than_the_tick_still_updates_the_page(browser, live, slow_network):
    store, srv, beats = live
    protocol = load_protocol()
    beats.add("S1", "S2")
    now = time.time()
    recorders, values = {}, {"S1": 71, "S2": 92}
    for chair, hr in values.items():
        sid = store.open_session(f"P-{chair}", chair, protocol.name, now - 600)[0]
        recorders[chair] = SessionRecorder(store, sid, protocol)
        for k in range(0, 600, 5):  # ten minutes behind each: a first tick with a trend to draw
            recorders[chair].reading(Reading(now - 600 + k, "hr", hr, "ok", "ox"))
            recorders[chair].reading(Reading(now - 600 + k, "spo2", 97, "ok", "ox"))
    store.flush()
    feeder = Feeder(store, recorders, values)
    try:
        srv.login(browser, "nurse", "/chair/S1")
        wait_until(lambda: "71" in page(browser)["hr"], timeout=30)
        slow_network()

        # a new value reaches the page, though every answer takes longer than a tick
        values["S1"] = 123
        p = wait_until(lambda: (lambda p: "123" in p["hr"] and p)(page(browser)), timeout=30)
        assert p["held"].get("bed", 0) > 0  # beats were held back, not sent to replace a tick on its way
        assert p["connection"] == "ok" and p["banner"] == ""  # slow is not lost

        # to another chair without a page load (as the banner's and the tiles' links go): its first tick lands
        browser.execute_script("window.history.pushState({}, '', '/chair/S2');"
                               "window.dispatchEvent(new CustomEvent('_dashprivate_pushstate'));")
        p = wait_until(lambda: (lambda p: "92" in p["hr"] and "S2" in p["header"] and p)(page(browser)), timeout=30)
        assert "P-S2" in p["header"]
        values["S2"] = 131
        wait_until(lambda: "131" in page(browser)["hr"], timeout=30)

        # the escalation banner's tick is answered too: it says "0" (none), not nothing
        p = wait_until(lambda: (lambda p: p["escalated"] == "0" and p)(page(browser)), timeout=30)
        assert p["sent"].get("esc", 0) > 0
        time.sleep(3)  # the page keeps its ticks going, one on its way at a time, and says nothing is wrong
        p = page(browser)
        assert p["connection"] == "ok" and p["banner"] == "" and "131" in p["hr"]
    finally:
        feeder.stop()


def test_a_chair_opened_on_a_busy_slow_overview_gets_its_tile(browser, live, slow_network):
    """The overview finds new chairs only on its beat; its pushes (four readings a second) keep it
    busy: a beat held back is owed and goes as soon as the answer is in (and a push waiting then
    is served by it: the beat runs the same tick)."""
    import threading
    store, srv, beats = live
    protocol = load_protocol()
    chairs = ("O1", "O2", "O3", "O4")
    beats.add(*chairs, "O9")
    recorders = [SessionRecorder(store, store.open_session(f"P-{c}", c, protocol.name, time.time() - 60)[0], protocol)
                 for c in chairs]
    stop = threading.Event()

    def feed():  # as acquisition does: every chair's reading each second, each a push to the overview
        while not stop.wait(0.25):
            for rec in recorders:
                rec.reading(Reading(time.time(), "hr", 80, "ok", "ox"))
            store.flush()
    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    try:
        srv.login(browser, "nurse", "/")
        wait_until(lambda: browser.execute_script(
            "return document.querySelectorAll('.tile-wrap[data-chair^=\"O\"]').length") == 4, timeout=30)
        slow_network()
        # slow now: beats held back while the pushes' ticks are on their way
        wait_until(lambda: page(browser)["held"].get("ov", 0) > 2, timeout=30)
        store.open_session("P-O9", "O9", protocol.name, time.time())
        try:
            wait_until(lambda: browser.execute_script(
                "return !!document.querySelector('.tile-wrap[data-chair=\"O9\"]')"), timeout=20)
        except AssertionError:
            print("DBG", browser.execute_script("return JSON.stringify({t: window.infusionTicks, "
                                                "live: window.infusionLive && {ticks: infusionLive.ticks, "
                                                "pushes: infusionLive.pushes, mode: infusionLive.mode}, now: Date.now()})"))
            raise
        p = page(browser)
        assert p["held"].get("ov", 0) > 0 and p["paid"].get("ov", 0) > 0 and p["connection"] == "ok"
    finally:
        stop.set()
        feeder.join(5)
