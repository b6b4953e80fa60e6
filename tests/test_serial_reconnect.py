"""The serial link under a pulled cable: the real adapters against emulators whose ptys
vanish and come back, through the real chair, engine and SQLite store."""
from __future__ import annotations

import threading
import time

import pytest

from adapters.oximeter_devices import NoninDf8Oximeter
from conftest import RecordingContext, wait_until

pytestmark = pytest.mark.serial  # emulators on pseudo-terminals


def _alerts(store, session_id, rule):
    return store._query("SELECT * FROM alerts WHERE session_id = ? AND rule = ? ORDER BY started_at",
                       (session_id, rule))


def _spo2_after(store, session_id, ts):
    return store._query("SELECT * FROM readings WHERE session_id = ? AND parameter = 'spo2' AND ts > ? "
                       "AND status = 'ok'", (session_id, ts))


def test_unplug_raises_device_disconnected_and_replug_ends_it(store, emulators, live_chairs):
    emus = {kind: emulators(kind, speed=2.0) for kind in ("nonin", "contec")}

    def quick_reconnect(device):
        device.backoff = (0.1, 1.0)  # the default backs off to 5 s; the behaviour is the same

    chairs = live_chairs({kind: [{"kind": kind, "port": e.path}] for kind, e in emus.items()},
                         configure=quick_reconnect)
    for kind, (chair, sid) in chairs.items():
        wait_until(lambda: len(_spo2_after(store, sid, 0)) >= 2)

    unplugged_at = time.time()
    for e in emus.values():
        e.unplug()
    for kind, (chair, sid) in chairs.items():
        source = chair.devices[0].source
        (alert,) = wait_until(lambda: _alerts(store, sid, "device_disconnected"), timeout=25)
        assert (alert["kind"], alert["priority"], alert["ended_at"]) == ("technical", "medium", None)
        assert source in alert["message"]
        assert alert["started_at"] >= unplugged_at
        status = wait_until(lambda: store._one("SELECT * FROM devices WHERE source = ? AND connected = 0",
                                              (source,)))
        assert status["error"], "the link's reason is kept for the page"
        assert not _spo2_after(store, sid, unplugged_at + 1.0), "no readings while unplugged"

    replugged_at = time.time()
    for e in emus.values():
        e.replug()
    for kind, (chair, sid) in chairs.items():
        wait_until(lambda: _alerts(store, sid, "device_disconnected")[0]["ended_at"] is not None, timeout=20)
        wait_until(lambda: _spo2_after(store, sid, replugged_at), timeout=10)
        (alert,) = _alerts(store, sid, "device_disconnected")
        assert alert["ended_at"] >= replugged_at
        source = chair.devices[0].source
        wait_until(lambda: store._one("SELECT * FROM devices WHERE source = ? AND connected = 1", (source,)))
    assert emus["contec"].starts >= 2, "the adapter restarts the Contec stream after a replug"


def test_a_device_plugged_in_after_start_is_picked_up(tmp_path, emulators):
    path = tmp_path / "oximeter"
    ctx = RecordingContext()
    ctx.now = time.time
    adapter = NoninDf8Oximeter(str(path), source="ox", backoff=(0.1, 0.5))
    stop = threading.Event()
    thread = threading.Thread(target=adapter.run, args=(ctx, stop), daemon=True)
    thread.start()
    try:
        lost = wait_until(lambda: [s for s in ctx.signals if not s.connected])
        assert "cannot open" in lost[0].error and lost[0].source == "ox"
        emulators("nonin-df8", speed=3.0, name="oximeter", directory=str(tmp_path))
        wait_until(lambda: [r for r in ctx.readings if r.parameter == "spo2" and r.value is not None])
        assert ctx.signals[-1].connected
        assert len([s for s in ctx.signals if not s.connected]) == 1, "a repeated open failure is reported once"
    finally:
        stop.set()
        thread.join(timeout=5)
    assert not thread.is_alive()
