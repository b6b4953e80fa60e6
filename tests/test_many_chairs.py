"""A thousand chairs in one process (issue 12 item 4): no ceiling on open files or threads.

Reads borrow from a bounded pool of connections (store/readers.py), so open files do not
grow with the threads that read; the web server polls instead of select() (cli_web.py);
what the acquisition asks of the database each second does not grow with its chairs
(store/pending_commands.py, Acquisition.tick_all); the open-files soft limit is raised at
start (processes.allow_open_files). The slow test runs `run --config` with 1,000 sim chairs.
"""
from __future__ import annotations

import os
import resource
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import ROOT, free_port, interrupt, wait_until
from monitor.acquisition import Acquisition
from monitor.clinic_config import build_chair
from monitor.model import Event, Reading
from monitor.store import ReadOnlyStore, Store, StoreUnavailable, queries
from monitor.store.readers import READERS, ReaderPool


def _open_files_on(db_path: Path) -> int:
    """Descriptors this process holds on the database file and its WAL."""
    names = {str(db_path), f"{db_path}-wal"}
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{fd}") in names
        except OSError:  # closed while listed
            pass
    return count


@pytest.mark.slow
def test_many_reading_threads_share_a_bounded_number_of_connections(store, db_path):
    sid = store.open_session("P1", "1", "ketamine-iv", 0.0)[0]
    for i in range(50):
        store.put_reading(sid, Reading(float(i), "hr", 70.0 + i % 5, "ok", "ox"))
    store.flush()
    before = _open_files_on(db_path)
    threads, start, seen, errors = 32, threading.Barrier(32), [], []

    def read():
        try:
            start.wait()
            for _ in range(10):
                seen.append(len(queries.readings(store, sid)))
                seen.append(queries.current_session(store, "1")["id"] == sid)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    workers = [threading.Thread(target=read) for _ in range(threads)]
    for w in workers:
        w.start()
    opened_during = []
    while any(w.is_alive() for w in workers):
        opened_during.append(_open_files_on(db_path) - before)
        time.sleep(0.001)
    for w in workers:
        w.join()
    assert errors == []
    assert seen.count(50) == threads * 10 and seen.count(True) == threads * 10  # every read answered
    assert 1 <= store._readers.opened <= READERS < threads
    # a connection holds the file and its WAL: two descriptors, READERS connections at most
    assert max(opened_during + [0]) <= 2 * READERS
    assert _open_files_on(db_path) - before <= 2 * READERS
    store.close()
    assert store._readers.opened == 0
    store._conn.close()  # SQLite holds a closed connection's files while another has the file open
    assert _open_files_on(db_path) == 0  # every reader was closed: none left behind with its thread


def test_each_read_sees_what_was_committed_before_it(store):
    sid = store.open_session("P1", "1", "ketamine-iv", 0.0)[0]
    assert queries.readings(store, sid) == []
    with store._reading() as conn:
        assert not conn.in_transaction
    store.put_reading(sid, Reading(1.0, "hr", 70.0, "ok", "ox"))
    store.flush()
    assert len(queries.readings(store, sid)) == 1  # the same pooled connection: a fresh snapshot
    other = []
    t = threading.Thread(target=lambda: other.append(len(queries.readings(store, sid))))
    t.start()
    t.join()
    assert other == [1]


@pytest.mark.slow
def test_a_read_inside_a_read_shares_its_connection_and_a_full_pool_says_busy(db_path):
    Store(db_path).close()
    from monitor.store.db import _connect
    pool = ReaderPool(lambda: _connect(str(db_path), readonly=True), size=1, wait_s=0.2, path=str(db_path))
    held, release, answers = threading.Event(), threading.Event(), []

    def holder():
        with pool.borrow() as outer, pool.borrow() as inner:  # nested: no wait for itself
            answers.append(outer is inner)
            held.set()
            release.wait(5)

    t = threading.Thread(target=holder)
    t.start()
    assert held.wait(5)
    with pytest.raises(StoreUnavailable, match="all 1 read connections busy"):
        with pool.borrow():
            pass
    release.set()
    t.join()
    with pool.borrow() as conn:  # back in the pool once its read ended
        assert conn.execute("SELECT 1").fetchone()[0] == 1
    assert answers == [True] and pool.opened == 1
    pool.close()
    assert pool.opened == 0


def test_a_readonly_store_reads_through_the_pool_and_writes_nothing(db_path):
    w = Store(db_path)
    sid = w.open_session("P1", "1", "ketamine-iv", 0.0)[0]
    w.close()
    ro = Store(db_path, readonly=True)
    assert queries.session(ro, sid)["patient_ref"] == "P1"
    with pytest.raises(ReadOnlyStore):
        with ro._reading() as conn:  # the pool's connections are opened read-only
            conn.execute("UPDATE sessions SET patient_ref = 'X'")
    with pytest.raises(ReadOnlyStore):
        ro.record_event(sid, Event(1.0, "note", "x", "RN"))
    ro.close()
    assert queries.session(ro, sid)["patient_ref"] == "P1"  # a read after close opens afresh


@pytest.mark.slow
def test_asking_for_commands_when_none_wait_writes_nothing(store, db_path):
    names = [f"C{i}" for i in range(200)]
    writes, reads = [], []
    store._conn.set_trace_callback(writes.append)
    store._readers.set_trace_callback(reads.append)
    for name in names:
        assert store.take_commands(name, "nibp", 1.0) == []
    store._conn.set_trace_callback(None)
    store._readers.set_trace_callback(None)
    assert writes == []  # before: a write transaction per chair per second
    assert 1 <= len([s for s in reads if "FROM commands" in s]) <= 2  # one read answers every chair

    sid = store.open_session("P1", "C7", "ketamine-iv", 1.0)[0]
    store.request_command(sid, "nibp:stat", 2.0, "RN")
    assert store.take_commands("C7", "nibp", 2.0) == ["stat"]  # queued in this process: seen at once
    assert store.take_commands("C7", "nibp", 2.0) == []  # taken once

    page = Store(db_path)  # another process's page (serve beside acquire)
    sid8 = page.open_session("P2", "C8", "ketamine-iv", 1.0)[0]
    page.request_command(sid8, "nibp:stat", 3.0, "RN")
    page.close()
    taken = []
    wait_until(lambda: taken.extend(store.take_commands("C8", "nibp", 3.0)) or taken, timeout=5)
    assert taken == ["stat"]


@pytest.mark.slow
def test_a_device_asking_for_commands_does_not_wait_for_a_busy_pool(db_path):
    store = Store(db_path, busy_timeout_s=5.0)
    sid = store.open_session("P1", "B1", "ketamine-iv", 1.0)[0]
    Store(db_path).request_command(sid, "nibp:stat", 2.0, "RN")  # queued by another process
    lent, release = threading.Barrier(READERS + 1), threading.Event()

    def hold():
        with store._readers.borrow():
            lent.wait(5)
            release.wait(10)

    holders = [threading.Thread(target=hold) for _ in range(READERS)]
    for h in holders:
        h.start()
    lent.wait(5)  # every read connection lent out (long reads on the pages)
    try:
        t = time.monotonic()
        assert store.take_commands("B1", "nibp", 3.0) == []  # not now: the device goes on reading
        waited = time.monotonic() - t
    finally:
        release.set()
        for h in holders:
            h.join()
    assert waited < 2.5, f"a device thread waited {waited:.1f} s for a read connection (busy timeout 5 s)"
    assert store.take_commands("B1", "nibp", 3.0) == ["stat"]  # and it was not lost
    store.close()


def _chairs(store, protocol, n: int) -> list:
    chairs = []
    for i in range(n):
        chair = build_chair(store, protocol, f"T{n}-{i}", [{"spec": "sim:normal"}], t0=0.0)
        chair.session_for(f"P-{n}-{i}", ts=100.0)
        chairs.append(chair)
    return chairs


def test_a_tick_of_every_chair_costs_the_same_reads_for_2_or_20_chairs(store, protocol):
    counts = []
    for n in (2, 20):
        acq = Acquisition(store, _chairs(store, protocol, n))
        acq.tick_all()  # the first pass after opening
        seen: list[str] = []
        store._readers.set_trace_callback(seen.append)
        try:
            acq.tick_all()
        finally:
            store._readers.set_trace_callback(None)
        counts.append(len(seen))
    assert counts[0] == counts[1] <= 3

    # an event charted by someone else (the page) still reaches that chair's engine, and only its
    acq = Acquisition(store, _chairs(store, protocol, 3))
    acq.tick_all()
    first, second, _ = acq.chairs
    store.record_event(first.recorder.session_id, Event(200.0, "infusion_start", "", "RN"))
    acq.tick_all()
    assert first.phase()[1] == "infusion" and second.phase()[1] == "baseline"


def test_a_long_start_up_is_not_charted_as_an_interruption(store, protocol):
    now = [1000.0]
    chair = build_chair(store, protocol, "S1", [{"spec": "sim:normal"}])
    chair.monotonic = lambda: now[0]
    chair.start_watching()  # built: as load_clinic leaves it
    sid, _ = chair.session_for("P-S1")
    now[0] += 30.0  # a thousand other chairs opened their sessions meanwhile
    acq = Acquisition(store, [chair])
    acq.start()
    try:
        wait_until(lambda: chair.recorder.readings > 0)
        acq.tick_all()  # a pause a device thread noticed would be charted here
    finally:
        acq.stop()
    assert [e for e in queries.events(store, sid) if e["type"] == "monitoring_interrupted"] == []

    # the pause rule itself still stands once watching: 30 s without a word is charted
    chair.start_watching()
    now[0] += 30.0
    chair.tick()
    assert [e["text"] for e in queries.events(store, sid) if e["type"] == "monitoring_interrupted"] == \
        ["No monitoring for 30 s: acquisition was not running"]


def test_device_states_written_together_keep_each_fields_last_value(store):
    store.device_status("ox-1", chair="1", kind="nonin", port="/dev/x", connected=1, last_seen=1.0, updated_at=1.0)
    store.device_status("ox-1", connected=0, error="unplugged", updated_at=2.0)
    store.device_status("cuff-1", cuff_pressure=120.0, updated_at=2.0)
    store.device_status("cuff-1", cuff_pressure=None, updated_at=3.0)
    store.flush()
    ox, = queries.devices(store, "1")
    assert (ox["kind"], ox["connected"], ox["last_seen"], ox["error"], ox["updated_at"]) == \
        ("nonin", 0, 1.0, "unplugged", 2.0)
    cuff, = [d for d in queries.devices(store) if d["source"] == "cuff-1"]
    assert (cuff["cuff_pressure"], cuff["updated_at"]) == (None, 3.0)


def test_the_open_files_soft_limit_is_raised_to_the_hard_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard <= 256:
        pytest.skip(f"the hard limit here ({hard}) leaves nothing to raise")
    out = subprocess.run(
        [sys.executable, "-c", "import resource; from monitor.processes import allow_open_files; "
         "print(allow_open_files(), resource.getrlimit(resource.RLIMIT_NOFILE)[0])"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=True,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard)))
    allowed, now = map(int, out.stdout.split())
    assert allowed == now > 256
    assert now == (hard if hard != resource.RLIM_INFINITY else now)


CHAIRS = 1000


@pytest.mark.slow
def test_run_with_a_thousand_sim_chairs_serves_and_stores_every_chair(tmp_path):
    config = tmp_path / "clinic.toml"
    config.write_text("".join(f'[chairs.{i}]\ndevices = ["sim:normal"]\npatient = "P-{i}"\n'
                              for i in range(1, CHAIRS + 1)), encoding="utf-8")
    db, port = tmp_path / "clinic.db", free_port()
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    # started as many systems start a process (1024 open files, soft), which the run raises
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "infusion-monitor"), "--db", str(db), "run", "--config", str(config),
         "--port", str(port)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (min(1024, hard), hard)))
    started = time.monotonic()
    try:
        def login_page() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"run exited: {proc.stderr.read()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=5) as r:
                    return r.status == 200 and b"login-password" in r.read()
            except OSError:
                return False
        wait_until(login_page, timeout=180, interval=0.5)
        up_s = time.monotonic() - started

        reader = Store(db, readonly=True)
        sampled = ["1", "2", str(CHAIRS // 2), str(CHAIRS - 1), str(CHAIRS)]
        sessions = {c: queries.current_session(reader, c)["id"] for c in sampled}
        wait_until(lambda: all(queries.newest_reading_ts(reader, sid) is not None for sid in sessions.values()),
                   timeout=120, interval=0.5)
        wait_until(lambda: reader._one("SELECT count(DISTINCT session_id) AS n FROM readings")["n"] == CHAIRS,
                   timeout=120, interval=0.5)
        assert len({queries.heartbeat(reader, str(c))["pid"] for c in range(1, CHAIRS + 1)}) == 1  # all watched
        # the open files do not grow with the chairs: the database, the listening socket, pipes
        assert len(os.listdir(f"/proc/{proc.pid}/fd")) < 100
        with open(f"/proc/{proc.pid}/limits") as f:
            soft_now = [int(x) for x in next(l for l in f if l.startswith("Max open files")).split()[3:4]][0]
        assert soft_now == hard or hard == resource.RLIM_INFINITY
        reader.close()
        print(f"{CHAIRS} chairs: login page answered {up_s:.1f} s after start")
    finally:
        assert interrupt(proc, timeout=60), "run did not stop on Ctrl-C"
    assert proc.returncode == 0, proc.stderr.read()


def test_a_connection_that_cannot_roll_back_gives_its_slot_to_a_fresh_one(tmp_path):
    """A broken read connection is not lent again, and the pool does not shrink for good."""
    import sqlite3
    from monitor.store.readers import ReaderPool

    class Unrollable(sqlite3.Connection):
        def rollback(self):
            raise sqlite3.OperationalError("disk I/O error")

    db = tmp_path / "r.db"
    sqlite3.connect(db).execute("CREATE TABLE t (x)")
    made = []

    def connect():
        conn = sqlite3.connect(db, factory=Unrollable if not made else sqlite3.Connection, check_same_thread=False)
        made.append(conn)
        return conn
    pool = ReaderPool(connect, 1, 1.0, str(db))
    with pool.borrow() as conn:
        conn.execute("BEGIN")
        conn.execute("SELECT * FROM t").fetchall()
    with pool.borrow(0.5) as conn:  # the only slot, free again: a fresh connection, not the broken one
        assert conn is made[1] and conn.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 0
    pool.close()
