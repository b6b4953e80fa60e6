"""Issue 10 item 2: a dead, hung or never-started acquisition is a technical alarm, not a quiet
"-- no data". Each acquisition process writes a heartbeat per chair about once a second (with its
storage problem, if any); the rule `sessions.monitoring_alarms` decides from it; the bedside and
the overview show "MONITORING STOPPED", sound it like a stored technical alarm and show the
devices' state as unknown. The browser test kills and stops a real `acquire` process.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT, wait_until, watched
from monitor import sessions
from monitor.acquisition import Acquisition
from monitor.chairs import Chair
from monitor.model import Alert
from monitor.store import SCHEMA_VERSION, Store, queries
from monitor.web.bedside import KEYS, bedside_tick
from monitor.web.overview import overview_tick

pytestmark = pytest.mark.both_engines  # on SQLite and on PostgreSQL (conftest.py)

NOW = 1_800_000_000.0
LIVE = {"id": 1, "state": "infusion", "source": "live", "started_at": NOW - 600}


def beat(age: float, **extra) -> dict:
    return {"chair": "1", "beat_at": NOW - age, "stopped_at": None, "problem": None, "problem_since": None, **extra}


# ----------------------------------------------------------------- the rule (pure)
def test_a_live_session_is_watched_only_while_its_acquisition_beats():
    assert sessions.monitoring_alarms(LIVE, beat(1), NOW, "medium") == []
    assert sessions.acquisition_alive(beat(sessions.MONITORING_STALE_S), NOW)
    for b, why in ((None, "no acquisition process is watching this chair"),
                   (beat(sessions.MONITORING_STALE_S + 0.5), "acquisition stopped answering (died, hung or cannot write to the database)"),
                   (beat(0.2, stopped_at=NOW - 0.2), "acquisition was shut down")):
        (alarm,) = sessions.monitoring_alarms(LIVE, b, NOW, "medium")
        assert alarm["rule"] == "monitoring_stopped" and alarm["priority"] == "medium"
        assert alarm["message"].startswith("MONITORING STOPPED: " + why)
        assert alarm["since"] == (LIVE["started_at"] if b is None else b["stopped_at"] or b["beat_at"])
        assert not sessions.acquisition_alive(b, NOW)


def test_its_priority_is_the_profiles_for_a_disconnected_device(protocol):
    assert sessions.monitoring_priority({"device_disconnected": "high"}) == "high"
    assert sessions.monitoring_priority(protocol.technical_priority) == "medium"  # the shipped profile


def test_only_an_open_live_session_is_watched():
    for s in (None, {**LIVE, "state": "ended"}, {**LIVE, "source": "simulate"}, {**LIVE, "source": "replay"}):
        assert sessions.monitoring_alarms(s, None, NOW, "medium") == []


def test_a_storage_problem_is_an_alarm_and_is_named_when_the_process_is_gone():
    problem = "cannot store readings: database or disk is full; 120 readings held in memory"
    (alarm,) = sessions.monitoring_alarms(LIVE, beat(0.5, problem=problem, problem_since=NOW - 30), NOW, "high")
    assert alarm == {"rule": "storage_problem", "priority": "high", "message": f"Monitoring impaired: {problem}",
                     "since": NOW - 30}
    (alarm,) = sessions.monitoring_alarms(LIVE, beat(20, problem=problem), NOW, "medium")
    assert alarm["rule"] == "monitoring_stopped" and alarm["message"].endswith(f"(its last problem: {problem})")


# ----------------------------------------------------------------- the store
def test_heartbeat_keeps_when_a_problem_began(store):
    assert SCHEMA_VERSION >= 3  # migration 3 added heartbeats
    assert queries.heartbeat(store, "A") is None
    store.heartbeat(["A", "B"], 100.0, 42, "host", 90.0)
    row = queries.heartbeat(store, "A")
    assert (row["beat_at"], row["pid"], row["started_at"], row["stopped_at"], row["problem"]) == (100.0, 42, 90.0,
                                                                                                   None, None)
    assert set(queries.heartbeats(store)) == {"A", "B"}
    store.heartbeat(["A"], 101.0, 42, "host", 90.0, problem="disk full; 3 readings held in memory")
    store.heartbeat(["A"], 102.0, 42, "host", 90.0, problem="disk full; 5 readings held in memory")
    row = queries.heartbeat(store, "A")
    assert row["problem"].endswith("5 readings held in memory") and row["problem_since"] == 101.0
    store.heartbeat(["A"], 103.0, 42, "host", 90.0, stopped=True)
    row = queries.heartbeat(store, "A")
    assert row["problem"] is None and row["problem_since"] is None and row["stopped_at"] == 103.0
    store.heartbeat(["A"], 200.0, 43, "host", 199.0)  # a new process: watched again
    assert queries.heartbeat(store, "A")["stopped_at"] is None


@pytest.mark.sqlite_only  # its PostgreSQL twin: tests/test_postgres_store.py
def test_a_version_2_database_is_upgraded_with_the_heartbeat_table(db_path):
    import sqlite3
    from monitor.store.schema import MIGRATIONS
    conn = sqlite3.connect(db_path)
    for version in (0, 1):
        conn.executescript(MIGRATIONS[version])
    conn.execute("PRAGMA user_version = 2")
    conn.close()
    s = Store(db_path)
    s.heartbeat(["1"], 1.0, 1, "h", 1.0)
    assert queries.heartbeat(s, "1")["beat_at"] == 1.0
    s.close()


@pytest.mark.slow
@pytest.mark.sqlite_only  # its PostgreSQL twin: tests/test_postgres_store.py
def test_a_busy_database_costs_a_beat_not_the_acquisition_tick(store):
    """Another program holding the write lock: the beat gives up quickly (the tick goes on and
    the next beat follows); pages allow for several missed beats."""
    import sqlite3
    from monitor.store import StoreUnavailable
    other = sqlite3.connect(store.path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreUnavailable):
            store.heartbeat(["B"], 100.0, 1, "h", 90.0)
    finally:
        other.rollback()
        other.close()
    store.heartbeat(["B"], 101.0, 1, "h", 90.0)
    assert queries.heartbeat(store, "B")["beat_at"] == 101.0


# ----------------------------------------------------------------- acquisition writes it
def test_acquisition_beats_for_its_chairs_with_the_stores_problem_and_says_when_it_stops(store, protocol):
    acquisition = Acquisition(store, [Chair(store, protocol, "W1", []), Chair(store, protocol, "W2", [])])
    acquisition.start()
    try:
        row = queries.heartbeat(store, "W2")  # the first beat is written at start, not a second later
        assert row["pid"] == os.getpid() and row["stopped_at"] is None and row["problem"] is None
        assert sessions.acquisition_alive(row, time.time())
    finally:
        acquisition.stop()
    reader = Store(store.path, readonly=True)
    row = queries.heartbeat(reader, "W1")
    reader.close()
    assert row["stopped_at"] is not None and not sessions.acquisition_alive(row, time.time())


class FullStore(Store):
    """A store whose held readings cannot reach the disk (tests/test_full_disk.py makes one for real)."""
    write_problem = "cannot store readings: database or disk is full; 12 readings held in memory"


def test_the_stores_write_problem_travels_with_the_beat(db_path, protocol):
    store = FullStore(db_path)
    acquisition = Acquisition(store, [Chair(store, protocol, "W3", [])])
    acquisition.start()
    try:
        assert queries.heartbeat(store, "W3")["problem"] == FullStore.write_problem
    finally:
        acquisition.stop()


# ----------------------------------------------------------------- the pages
def _live_session(store, chair: str) -> int:
    sid = store.open_session(f"P-{chair}", chair, "ketamine-iv", time.time() - 60)[0]
    store.device_status(f"chair{chair}-ox", chair=chair, kind="nonin", port="/dev/ttyUSB0", connected=1,
                        last_seen=time.time() - 30, updated_at=time.time() - 30)
    store.flush()
    return sid


def test_bedside_shows_and_sounds_monitoring_stopped_and_devices_unknown(store, protocol):
    _live_session(store, "M1")
    out = dict(zip(KEYS, bedside_tick(store, protocol, {"chair": "M1", "session_id": None})))
    (tile,) = out["bed-technical.children"]
    assert "MONITORING STOPPED" in str(tile) and tile.className == "alarm alarm-medium alarm-technical"
    assert "btn-ack" not in str(tile)  # nothing to sign for: it ends when monitoring resumes
    assert [(a["id"], a["priority"], a["kind"], a["acked"]) for a in out["bed-alarm-data.data"]] == [
        ("monitoring_stopped:M1", "medium", "technical", False)]  # what the page sounds from
    (device,) = out["bed-devices.children"]
    assert "unknown" in device.children and "connected" not in device.children
    watched(store, "M1")  # acquisition comes back
    out = dict(zip(KEYS, bedside_tick(store, protocol, out["bed-state.data"])))
    assert "No technical alarm" in str(out["bed-technical.children"]) and out["bed-alarm-data.data"] == []
    assert "connected" in out["bed-devices.children"][0].children
    watched(store, "M1", problem="cannot store readings: database or disk is full; 120 readings held in memory")
    out = dict(zip(KEYS, bedside_tick(store, protocol, out["bed-state.data"])))
    (tile,) = out["bed-technical.children"]
    assert "Monitoring impaired: cannot store readings: database or disk is full" in str(tile)
    assert [(a["id"], a["priority"]) for a in out["bed-alarm-data.data"]] == [("storage_problem:M1", "medium")]


def test_overview_tile_says_monitoring_stopped_and_sounds_it(store, protocol):
    _live_session(store, "M2")
    _live_session(store, "M3")
    watched(store, "M3")
    _classes, bodies, priorities, _phases, sound = overview_tick(store, ["M2", "M3"], protocol)
    assert "MONITORING STOPPED" in str(bodies[0]) and "MONITORING STOPPED" not in str(bodies[1])
    assert priorities == ["medium", "none"]
    assert [(a["id"], a["priority"]) for a in sound] == [("monitoring_stopped:M2", "medium")]
    sid = queries.current_session(store, "M2")["id"]  # a worse alarm takes the tile's alarm line:
    store.put_change(sid, Alert("spo2_critical#1", "spo2_critical", "spo2", "physiological", "high", time.time() - 5,
                                84, 88, "SpO2 84 < 88"))
    store.flush()
    _classes, bodies, priorities, _phases, sound = overview_tick(store, ["M2"], protocol)
    assert priorities == ["high"] and "SpO2 84 < 88" in str(bodies[0])
    assert "tile-monitoring" in str(bodies[0]) and "MONITORING STOPPED" in str(bodies[0])  # still said
    assert {a["priority"] for a in sound} == {"high", "medium"}


# ----------------------------------------------------------------- in Chromium, with a real acquire
def _page(browser) -> dict:
    return browser.execute_script("""
        const text = s => { const e = document.querySelector(s); return e ? e.innerText : ''; };
        const st = document.getElementById('bed-alarm-state') || document.getElementById('ov-alarm-state');
        const tile = document.querySelector('.tile-wrap[data-chair="K"]');
        return {technical: text('#bed-technical'), devices: text('#bed-devices'),
                state: st ? Object.assign({}, st.dataset) : {},
                played: Object.assign({}, (window.infusionAudio || {}).played || {}),
                tile: tile ? tile.innerText : '', tilePriority: tile ? tile.dataset.priority : ''};""")


@pytest.mark.browser
def test_a_hung_or_killed_acquire_is_monitoring_stopped_on_both_pages(browser, server, db_path):
    Store(db_path).close()
    acquire = subprocess.Popen(
        [str(Path(sys.executable).parent / "infusion-monitor"), "--db", str(db_path), "acquire",
         "--device", "sim:normal", "--chair", "K", "--patient", "P-K"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        srv = server("serve")
        srv.login(browser, "nurse", "/chair/K")
        wait_until(lambda: "connected" in _page(browser)["devices"]
                   and "No technical alarm" in _page(browser)["technical"], timeout=45)
        os.kill(acquire.pid, signal.SIGSTOP)  # hung: alive, but its tick loop no longer runs
        page = wait_until(lambda: (lambda p: "MONITORING STOPPED" in p["technical"] and p)(_page(browser)), timeout=20)
        assert "stopped answering (died, hung or cannot write to the database)" in page["technical"]
        page = wait_until(lambda: (lambda p: p["state"].get("sounding") == "medium" and p)(_page(browser)), timeout=10)
        assert "unknown (monitoring stopped)" in page["devices"] and "connected" not in page["devices"]
        assert page["state"]["sound"] == "on"
        wait_until(lambda: _page(browser)["played"].get("medium", 0) > 0, timeout=10)  # the tone was played
        os.kill(acquire.pid, signal.SIGCONT)  # it resumes: so does the page
        wait_until(lambda: "No technical alarm" in _page(browser)["technical"]
                   and "connected" in _page(browser)["devices"], timeout=20)
        wait_until(lambda: _page(browser)["state"].get("sounding") == "none", timeout=10)
        acquire.kill()  # dead
        acquire.wait()
        browser.get(srv.url + "/")
        page = wait_until(lambda: (lambda p: "MONITORING STOPPED" in p["tile"] and p)(_page(browser)), timeout=30)
        assert page["tilePriority"] == "medium"
        wait_until(lambda: _page(browser)["state"].get("sounding") == "medium", timeout=10)
    finally:
        if acquire.poll() is None:
            os.kill(acquire.pid, signal.SIGCONT)
            acquire.kill()
            acquire.wait()
