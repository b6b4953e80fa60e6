"""A full disk is a technical problem the monitor says out loud, never a silent gap
(issue 10 item 4): acquisition keeps the newest readings in memory and writes them when
space returns; no session is marked ended normally with data missing; a command fails
with one line and exit 2. On a real, tiny filesystem filled to the last byte."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import wait_until
from monitor.chairs import Chair
from monitor.model import DeviceSignal, Reading
from monitor.store import Store, queries

pytestmark = pytest.mark.slow


def test_acquisition_holds_readings_on_a_full_disk_and_writes_them_when_space_returns(small_disk, protocol):
    db = small_disk.path / "monitor.db"
    store = Store(db, flush_interval=0.05)
    chair = Chair(store, protocol, "F1", devices=[])
    sid = chair.open_session("P1")
    store.start_writer()
    store.flush()
    small_disk.fill()
    t0 = time.time()
    for k in range(600):  # ten minutes of a chair: more than the disk's last free page can take
        chair.signal(DeviceSignal(t0 + k, "nonin-1", True))
        chair.reading(Reading(t0 + k, "spo2", 95, "ok", "nonin-1", detail="x" * 200))
        chair.reading(Reading(t0 + k, "hr", 72, "ok", "nonin-1", detail="x" * 200))
        if k % 100 == 0:
            chair.tick()
    problem = wait_until(lambda: store.write_problem, timeout=20)
    assert problem.startswith("cannot store readings: database or disk is full")
    assert "readings held in memory" in problem
    assert chair.take_commands("nibp") == []  # a device asking for its commands is not crashed by it
    small_disk.free()
    wait_until(lambda: store.pending == 0, timeout=20)
    assert store.write_problem is None
    assert len(queries.readings(store, sid)) == 1200
    store.close()


def test_a_disk_that_fills_during_simulate_fails_in_one_line_and_ends_no_session_with_data_missing(small_disk):
    db = small_disk.path / "monitor.db"
    Store(db).close()
    cmd = [str(Path(sys.executable).parent / "infusion-monitor"), "--db", str(db), "simulate",
           "--scenario", "desaturation", "--speed", "100"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    watcher = Store(db, readonly=True)
    wait_until(lambda: queries.sessions(watcher)
               and len(queries.readings(watcher, queries.sessions(watcher)[0]["id"])) > 300, timeout=60)
    small_disk.fill()
    _out, err = proc.communicate(timeout=180)
    assert proc.returncode == 2, err
    # the writer said once that it is holding rows back; the command ends with one error line
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("infusion-monitor: error: ") and "database or disk is full" in last, err
    small_disk.free()
    (session,) = queries.sessions(watcher)
    assert session["state"] != "ended", "a session was ended normally though its readings were not stored"
    watcher.close()
