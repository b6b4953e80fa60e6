"""One acquisition process per chair, and a paused one is not a dead device (audit of issue 10
item 2): a second `acquire` on a watched chair is refused before it charts anything; a process
stopped (SIGSTOP, a hung machine) and continued charts the interruption and raises no false
device_disconnected for devices that were connected."""
from __future__ import annotations

import socket
import time

import pytest

from monitor import sessions
from monitor.chairs import Chair
from monitor.model import DeviceSignal, Reading
from monitor.store import queries


class Clocks:
    """Wall and monotonic time that a test moves by hand."""

    def __init__(self, wall: float):
        self.wall, self.mono = wall, 1000.0

    def pass_(self, seconds: float, monotonic: bool = True) -> None:
        self.wall += seconds
        if monotonic:
            self.mono += seconds


def test_check_watcher_refuses_only_another_live_process():
    now = 5000.0
    other = {"pid": 4242, "host": "bedside-pc", "beat_at": now - 1, "stopped_at": None}
    with pytest.raises(sessions.RuleError, match="chair 3 is already watched by acquisition process 4242"):
        sessions.check_watcher("3", other, now, 99, "bedside-pc")
    sessions.check_watcher("3", {**other, "pid": 99}, now, 99, "bedside-pc")  # itself
    sessions.check_watcher("3", {**other, "beat_at": now - 60}, now, 99, "bedside-pc")  # dead
    sessions.check_watcher("3", {**other, "stopped_at": now - 2}, now, 99, "bedside-pc")  # shut down
    sessions.check_watcher("3", None, now, 99, "bedside-pc")  # never watched


def test_a_second_acquisition_on_a_watched_chair_is_refused_before_it_charts(store, protocol):
    first = Chair(store, protocol, "W1", devices=[])
    sid, _ = first.session_for("P1")
    store.heartbeat(["W1"], time.time(), 1, socket.gethostname(), time.time() - 30)  # a live process (init)
    second = Chair(store, protocol, "W1", devices=[])
    with pytest.raises(sessions.RuleError, match="already watched"):
        second.session_for("P1")
    with pytest.raises(sessions.RuleError, match="already watched"):
        second.check_not_watched()
    assert [e for e in queries.events(store, sid) if e["type"] == "monitoring_interrupted"] == []


def _chair(store, protocol, clocks: Clocks) -> tuple[Chair, int]:
    chair = Chair(store, protocol, "W2", devices=[], clock=lambda: clocks.wall, monotonic=lambda: clocks.mono)
    chair._device_state["ox"] = {"chair": "W2", "kind": "nonin", "port": "pty", "connected": 0,
                                 "last_seen": None, "error": None}
    sid = chair.open_session("P2")
    chair.signal(DeviceSignal(clocks.wall, "ox", True))
    for _ in range(5):
        clocks.pass_(1)
        chair.reading(Reading(clocks.wall, "spo2", 97, "ok", "ox"))
        chair.tick()
    return chair, sid


def test_a_paused_acquisition_charts_the_gap_and_fakes_no_disconnection(store, protocol):
    clocks = Clocks(time.time())
    chair, sid = _chair(store, protocol, clocks)
    clocks.pass_(11)  # SIGSTOP for 11 s, then SIGCONT: the tick runs before the device's bytes
    chair.tick()
    chair.reading(Reading(clocks.wall, "spo2", 97, "ok", "ox"))
    chair.tick()
    store.flush()
    assert [a["rule"] for a in queries.alerts(store, sid)] == []
    (gap,) = [e for e in queries.events(store, sid) if e["type"] == "monitoring_interrupted"]
    assert gap["text"] == "No monitoring for 11 s: acquisition was not running"
    assert gap["data"]["seconds"] == pytest.approx(11.0, abs=0.1)


def test_a_silent_device_in_a_running_process_still_raises_device_disconnected(store, protocol):
    clocks = Clocks(time.time())
    chair, sid = _chair(store, protocol, clocks)
    for _ in range(int(protocol.disconnect_s) + 2):  # the process ticks; the device says nothing
        clocks.pass_(1)
        chair.tick()
    store.flush()
    assert [a["rule"] for a in queries.alerts(store, sid)] == ["device_disconnected"]
    assert [e for e in queries.events(store, sid) if e["type"] == "monitoring_interrupted"] == []


def test_a_killed_acquisitions_fresh_heartbeat_does_not_block_its_restart(store, protocol):
    import subprocess
    import sys
    dead = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True).stdout)
    store.heartbeat(["W3"], time.time(), dead, socket.gethostname(), time.time() - 30)  # kill -9 a second ago
    sid, resumed = Chair(store, protocol, "W3", devices=[]).session_for("P3")
    assert sid and not resumed
