"""Issue 12 item 2: push, not poll. The store's writer commits as rows arrive; one change feed
per web process names the chairs with new rows (store/changes.py); a live page holds an event
stream for its chair (web/live.py, GET /live/<chair>) and ticks the moment it is told; the 1 s
tick stays as the fallback, and the page shows which one it is on (assets/live-push.js).

Speed itself is measured in benchmarks/, never here: these check that the path exists and works.
"""
from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import ROOT, Server, add_test_users, free_port, sign_in_browser, signed_in_http, wait_until
from monitor.model import Alert, Event, Reading
from monitor.store import Store, queries
from monitor.store.changes import change_feed
from monitor.web import live
from monitor.web.live import LiveChanges



def _session(store, chair: str) -> int:
    return store.open_session(f"P-{chair}", chair, "ketamine-iv", time.time())[0]


# ----------------------------------------------------------------- the writer
def test_the_writer_commits_as_rows_arrive_not_on_its_interval(db_path):
    store = Store(db_path, flush_interval=60.0)  # the old batching would hold this row a minute
    try:
        sid = _session(store, "3")
        store.start_writer()
        store.put_reading(sid, Reading(time.time(), "hr", 71.0, "ok", "sim"))
        wait_until(lambda: queries.max_reading_id(store, sid) > 0, timeout=15)
        store.put_change(sid, Alert("k", "r", "spo2", "physiological", "high", time.time(), 85.0, 88.0, "SpO2 < 88"))
        wait_until(lambda: store._one("SELECT COUNT(*) AS n FROM alerts WHERE session_id = ?", (sid,))["n"] == 1,
                   timeout=15)
    finally:
        store.close()


# ----------------------------------------------------------------- the change feed
def test_the_feed_names_the_chairs_with_new_rows_and_nothing_else(db_path):
    store = Store(db_path)
    try:
        s3, s4 = _session(store, "3"), _session(store, "4")
        feed = change_feed(store)
        assert feed.poll() == set()  # nothing committed since it started
        store.put_reading(s3, Reading(time.time(), "hr", 70.0, "ok", "sim"))
        store.flush()
        assert feed.poll() == {"3"}
        assert feed.poll() == set()  # each change is named once
        store.record_event(s4, Event(time.time(), "note", "calm"))
        assert feed.poll() == {"4"}
        store.put_change(s3, Alert("k", "r", "spo2", "physiological", "high", time.time(), 85.0, 88.0, "SpO2 < 88"))
        store.put_reading(s4, Reading(time.time(), "spo2", 97.0, "ok", "sim"))
        store.flush()
        assert feed.poll() == {"3", "4"}
        _session(store, "5")  # a chair's first session: its page must learn of it
        assert feed.poll() == {"5"}
        store.heartbeat(["3"], time.time(), 1, "h", time.time())  # no new row to show
        assert feed.poll() == set()
        feed.close()
    finally:
        store.close()


@pytest.mark.slow
def test_the_feed_sees_another_process_commit(db_path):
    store = Store(db_path)
    sid = _session(store, "7")
    store.close()
    reader = Store(db_path, readonly=True)
    feed = change_feed(reader)
    script = ("import sys, time; sys.path.insert(0, %r)\n"
              "from monitor.store import Store; from monitor.model import Reading\n"
              "s = Store(%r); s.put_reading(%d, Reading(time.time(), 'hr', 80.0, 'ok', 'sim')); s.flush(); s.close()\n"
              % (str(ROOT), str(db_path), sid))
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    assert feed.poll() == {"7"}
    feed.close()
    reader.close()


# ----------------------------------------------------------------- streams
@pytest.mark.slow
def test_a_stream_says_hello_then_only_its_own_chairs_changes(db_path, monkeypatch):
    monkeypatch.setattr(live, "KEEPALIVE_S", 0.2)
    changes = LiveChanges(Store(db_path, readonly=False), max_streams=2)
    try:
        events = changes.stream("3")
        it = iter(events)
        assert "event: hello" in next(it)
        changes.changed({"4"})
        assert next(it).startswith(": still here")  # chair 4's news is not chair 3's
        changes.changed({"3", "4"})
        news = _event(next(it))
        assert news["event"] == "changed" and '"chair": "3"' in news["data"]
        everything = changes.stream("*")
        first = iter(everything)
        assert "hello" in next(first)
        changes.changed({"9"})
        assert "event: changed" in next(first)
        events.close()
        everything.close()
    finally:
        changes.close()
        changes.store.close()


def _event(text: str) -> dict:
    """The fields of one server-sent event as the stream yields it."""
    fields = {}
    for line in text.splitlines():
        if ": " in line and not line.startswith(":"):
            k, v = line.split(": ", 1)
            fields[k] = v
    return fields


def test_a_page_back_from_a_reconnect_is_told_what_changed_meanwhile(db_path):
    changes = LiveChanges(Store(db_path), max_streams=4)
    try:
        first = iter(changes.stream("3"))
        told = _event(next(first))["id"]  # the hello carries the chair's count: what the page knows
        changes.changed({"3"})
        missed = changes.stream("3", since=told)  # the page reconnects after that change
        it = iter(missed)
        assert _event(next(it))["event"] == "hello"
        news = _event(next(it))
        assert news["event"] == "changed" and news["id"] != told  # at once, not at the next reading
        caught_up = iter(changes.stream("3", since=news["id"]))
        assert _event(next(caught_up))["event"] == "hello"
        changes.changed({"4"})
        changes.changed({"3"})
        assert _event(next(caught_up))["event"] == "changed"  # nothing invented in between: the next is new
        # an id from another server process (restarted) never matches: told at once
        other = iter(changes.stream("4", since="0000beef.1"))
        next(other)
        assert _event(next(other))["event"] == "changed"
    finally:
        changes.close()
        changes.store.close()


@pytest.mark.slow
def test_a_stream_at_its_lifetime_says_renew_and_frees_its_slot_first(db_path, monkeypatch):
    monkeypatch.setattr(live, "STREAM_LIFETIME_S", 0.3)
    monkeypatch.setattr(live, "KEEPALIVE_S", 0.1)
    changes = LiveChanges(Store(db_path), max_streams=1)
    try:
        stream = changes.stream("5")
        it = iter(stream)
        hello = _event(next(it))
        last = next(e for e in map(_event, it) if e.get("event") == "renew")
        assert last["id"] == hello["id"]  # nothing changed: the next stream starts where this one ends
        # the page's next stream comes while the server is still closing this one: it is not
        # refused for want of the slot this one held (a bound of 1 here)
        following = changes.stream("5", since=last["id"])
        assert following is not None
        assert list(it) == []  # and this one has ended
        stream.close()
        stream.close()
        assert changes.stream("6") is None  # the slot was given back once, not twice
        following.close()
    finally:
        changes.close()
        changes.store.close()


def test_streams_are_bounded_and_a_closed_one_gives_its_slot_back(db_path):
    changes = LiveChanges(Store(db_path), max_streams=2)
    try:
        a, b = changes.stream("1"), changes.stream("2")
        assert a is not None and b is not None
        assert changes.stream("3") is None  # past the bound: that page stays on its 1 s tick
        a.close()  # never iterated (the client left before the first byte): the slot still returns
        c = changes.stream("3")
        assert c is not None
        b.close()
        c.close()
        c.close()  # closing twice gives back one slot, not two
        assert changes.stream("x") is not None and changes.stream("y") is not None
        assert changes.stream("z") is None
    finally:
        changes.close()
        changes.store.close()
    assert LiveChanges(Store(db_path), max_streams=0).stream("1") is None  # --live-streams 0: no push


def test_a_waiting_stream_ends_when_the_server_closes(db_path):
    changes = LiveChanges(Store(db_path), max_streams=1)
    stream = changes.stream("1")
    it = iter(stream)
    next(it)
    done = threading.Event()

    def drain():
        for _ in it:
            pass
        done.set()
    threading.Thread(target=drain, daemon=True).start()
    changes.close()
    assert done.wait(10)
    stream.close()
    changes.store.close()


# ----------------------------------------------------------------- over HTTP (real waitress)
def _sse(lines):
    """(event name, data) per server-sent event; ("comment", None) for a keep-alive."""
    import json
    kind, data = None, None
    for line in lines:
        if line.startswith(":"):
            yield "comment", None
        elif line.startswith("event: "):
            kind = line[7:]
        elif line.startswith("data: "):
            data = json.loads(line[6:])
        elif line == "" and kind:
            yield kind, data
            kind, data = None, None


@pytest.mark.slow
def test_the_channel_over_http_is_signed_in_and_per_chair(db_path, server):
    store = Store(db_path)
    s3, s4 = _session(store, "3"), _session(store, "4")
    srv = server()
    import requests
    assert requests.get(srv.url + "/live/3", timeout=10).status_code == 401  # anonymous
    client = signed_in_http(srv.url, "nurse")
    with client.get(srv.url + "/live/3", stream=True, timeout=20) as r:
        assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/event-stream")
        events = _sse(r.iter_lines(decode_unicode=True))
        assert next(events)[0] == "hello"
        store.put_reading(s4, Reading(time.time(), "hr", 70.0, "ok", "sim"))  # another chair: not told
        store.flush()
        time.sleep(0.3)
        store.put_reading(s3, Reading(time.time(), "hr", 71.0, "ok", "sim"))
        store.flush()
        kind, data = next(e for e in events if e[0] != "comment")
        assert kind == "changed" and data["chair"] == "3"  # chair 4's reading came first, unannounced
        # stopping the server with a channel open ends the channel first: its thread is not
        # left for waitress's shutdown to wait on (and give up on)
        srv.stop()
        assert srv.proc.returncode == 0 and "still running" not in srv.output()
    store.close()


@pytest.mark.slow
def test_with_no_channels_allowed_a_page_is_refused_one(db_path, server):
    Store(db_path).close()
    srv = server("serve", "--live-streams", "0")
    client = signed_in_http(srv.url, "nurse")
    r = client.get(srv.url + "/live/3", timeout=10)
    assert r.status_code == 503 and "every second" in r.json()["error"]


# ----------------------------------------------------------------- in the page
def _acquire(db_path, chair: str) -> subprocess.Popen:
    return subprocess.Popen(
        [str(Path(sys.executable).parent / "infusion-monitor"), "--db", str(db_path), "acquire",
         "--device", "sim:normal", "--chair", chair, "--patient", f"P-{chair}"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _page(browser) -> dict:
    return browser.execute_script("""
        const badge = document.getElementById('live-mode');
        const hr = document.querySelector('#num-hr');
        const tile = document.querySelector('.tile-nums');
        return {live: document.body.dataset.live || '', badge: badge ? badge.innerText : '',
                value: (hr || tile || {}).innerText || '',
                pushes: (window.infusionLive || {}).pushes || 0, ticks: (window.infusionLive || {}).ticks || 0};""")


@pytest.mark.browser
def test_live_pages_update_on_push_and_say_so(browser, db_path):
    Store(db_path).close()
    acquire = _acquire(db_path, "L")
    srv = Server(db_path)
    try:
        for path in ("/chair/L", "/"):
            srv.login(browser, "nurse", path)
            p = wait_until(lambda: (lambda p: p["live"] == "push" and p["ticks"] >= 2 and any(
                c.isdigit() for c in p["value"]) and p)(_page(browser)), timeout=30)
            assert p["badge"] == "Updates: instant"
            before = p["ticks"]  # the pushes keep coming with the readings, each one a tick
            wait_until(lambda: _page(browser)["ticks"] > before, timeout=15)
        browser.get(srv.url + "/sessions")  # a review page: nothing live to say
        wait_until(lambda: browser.execute_script("return !document.getElementById('live-mode')"), timeout=15)
    finally:
        acquire.terminate()
        acquire.wait(10)
        srv.stop()


@pytest.mark.browser
def test_without_the_channel_the_page_says_so_and_still_updates_every_second(browser, db_path):
    Store(db_path).close()
    acquire = _acquire(db_path, "F")
    srv = Server(db_path, "serve", ("--live-streams", "0"))
    try:
        srv.login(browser, "nurse", "/chair/F")
        p = wait_until(lambda: (lambda p: p["live"] == "poll" and "refused" in p["badge"] and any(
            c.isdigit() for c in p["value"]) and p)(_page(browser)), timeout=30)
        assert p["badge"].startswith("Updates: every second") and p["ticks"] == 0
        first = p["value"]
        # the 1 s tick goes on: the simulated patient's numbers keep changing on the page
        wait_until(lambda: _page(browser)["value"] != first, timeout=30)
    finally:
        acquire.terminate()
        acquire.wait(10)
        srv.stop()


@pytest.fixture
def short_lived_streams(db_path, protocol, monkeypatch):
    """The dashboard on a real waitress in this process, its streams renewed every 1.5 s
    (web.live.STREAM_LIFETIME_S is 120 s in service): the page's renewals can be watched."""
    from waitress import create_server
    from monitor.web import create_app
    monkeypatch.setattr(live, "STREAM_LIFETIME_S", 1.5)
    store = Store(db_path)
    add_test_users(store)
    app = create_app(store, protocol, live_streams=4)
    server = create_server(app.server, host="127.0.0.1", port=free_port(), threads=8)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            server.asyncore.loop(timeout=0.1, map=server._map, count=1)
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.effective_port}"
    app.server.config["infusion_live"].close()
    stop.set()
    thread.join(5)
    server.task_dispatcher.shutdown()
    server.close()
    store.close()


@pytest.mark.browser
def test_a_renewed_stream_keeps_the_page_instant(browser, db_path, short_lived_streams):
    acquire = _acquire(db_path, "R")
    try:
        sign_in_browser(browser, short_lived_streams, "nurse", "/chair/R")
        wait_until(lambda: _page(browser)["live"] == "push", timeout=30)
        browser.execute_script("""
            window.__modes = [];
            new MutationObserver(() => window.__modes.push(document.body.dataset.live))
              .observe(document.body, {attributes: true, attributeFilter: ['data-live']});""")
        renewals = lambda: browser.execute_script("return window.infusionLive.renewals")  # noqa: E731
        wait_until(lambda: renewals() >= 3, timeout=30)
        ticks = _page(browser)["ticks"]
        wait_until(lambda: _page(browser)["ticks"] > ticks + 1, timeout=15)  # still pushed after them
        p = _page(browser)
        assert p["live"] == "push" and p["badge"] == "Updates: instant"
        # each renewal opened the next stream at once: the page never said it was polling
        assert "poll" not in browser.execute_script("return window.__modes")
        # ... naming the last event it had, so the server tells what changed in between
        renewed = browser.execute_script("""return performance.getEntriesByType('resource')
            .map(e => e.name).filter(n => n.includes('/live/R?since='));""")
        assert len(renewed) >= 2 and all(re.search(r"since=[0-9a-f]{8}\.\d+$", n) for n in renewed), renewed
    finally:
        acquire.terminate()
        acquire.wait(10)


def test_the_documented_default_is_the_one_served():
    from click.testing import CliRunner
    from monitor.cli import main
    for command in ("serve", "run"):
        out = CliRunner().invoke(main, [command, "--help"]).output
        assert f"[default: {live.MAX_STREAMS}]" in " ".join(out.split())
