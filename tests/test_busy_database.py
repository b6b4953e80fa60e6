"""A busy database never costs a live reading (issue 10 item 1).

Another process holding the write lock (a long import, a max-speed replay, a backup
tool) must not stall a device, drop a reading, fake a disconnection or lose a note:
acquisition holds what it has, in order, and writes it when it can; bulk writers give
the lock back often; a page entry that cannot be stored says so and keeps the text.
"""
from __future__ import annotations

import sqlite3
import threading
import time

import pytest

from monitor import sessions
from monitor.chairs import Chair
from monitor.model import DeviceSignal, Event, Reading
from monitor.store import Store, StoreUnavailable, queries
from monitor.store.held import HeldRows
from monitor.store.transfer import insert_session
from monitor.web import forms

from conftest import NURSE, wait_until


def _hold_write_lock(db_path):
    """Another program's long write: a transaction that keeps the write lock until rolled back."""
    other = sqlite3.connect(db_path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    return other


@pytest.mark.slow
def test_device_calls_never_wait_and_every_reading_lands_after_the_lock_is_released(db_path, protocol):
    store = Store(db_path, flush_interval=0.05, busy_timeout_s=0.2)
    chair = Chair(store, protocol, "B1", devices=[])
    sid = chair.open_session("P1")
    store.start_writer()
    store.flush()
    t0 = time.time()
    blocker = _hold_write_lock(db_path)
    slowest = 0.0
    try:
        for k in range(40):  # what a device thread and the tick do for 40 s of readings
            started = time.monotonic()
            chair.signal(DeviceSignal(t0 + k, "nonin-1", True))
            chair.reading(Reading(t0 + k, "spo2", 90 + k % 10, "ok", "nonin-1"))
            chair.reading(Reading(t0 + k, "hr", 70 + k % 5, "ok", "nonin-1"))
            chair.cuff_pressure("suntech-1", 120.0 + k)
            assert chair.take_commands("nibp") == []
            chair.tick()
            slowest = max(slowest, time.monotonic() - started)
            time.sleep(0.02)
        problem = wait_until(lambda: store.write_problem)
        assert problem.startswith("cannot store readings: ") and "80 readings held in memory" in problem
        assert "locked" in problem
    finally:
        blocker.rollback()
        blocker.close()
    assert slowest < 1.0, f"a device call waited {slowest:.2f} s for the database"
    wait_until(lambda: store.pending == 0)
    assert store.write_problem is None
    stored = queries.readings(store, sid)
    assert [(r["ts"], r["parameter"], r["value"]) for r in stored] == \
        [(t0 + k, p, v) for k in range(40) for p, v in (("spo2", 90 + k % 10), ("hr", 70 + k % 5))]
    assert [a for a in queries.alerts(store, sid) if a["rule"] == "device_disconnected"] == []
    (dev,) = [d for d in queries.devices(store) if d["source"] == "suntech-1"]
    assert dev["cuff_pressure"] == 159.0
    store.close()


@pytest.mark.slow
def test_a_pending_stat_request_waits_for_the_lock_instead_of_blocking_the_device(db_path):
    store = Store(db_path, busy_timeout_s=0.2)
    sid, _ = store.open_session("P1", "B2", "ketamine-iv", time.time())
    store.request_command(sid, "nibp:stat", time.time(), "RN")
    blocker = _hold_write_lock(db_path)
    try:
        assert store.take_commands("B2", "nibp", time.time()) == []  # not now: the device goes on reading
    finally:
        blocker.rollback()
        blocker.close()
    assert store.take_commands("B2", "nibp", time.time()) == ["stat"]  # and it was not lost
    store.close()


def test_the_hold_is_bounded_drops_the_oldest_first_and_counts_them():
    held = HeldRows(max_readings=3)
    for k in range(5):
        held.add_reading(("r", 7, Reading(100.0 + k, "hr", 70, "ok", "ox")))
    held.add_change(("a", 7, "alarm"))
    readings, changes = held.take(limit=2)
    assert [r[2].ts for r in readings] == [102.0, 103.0] and changes == [("a", 7, "alarm")]
    held.give_back(readings, changes)  # a failed commit: the same rows go first next time
    assert [r[2].ts for r in held.take()[0]] == [102.0, 103.0, 104.0]
    assert "2 oldest lost" in held.problem("database or disk is full")
    assert held.take_dropped() == {7: [2, 100.0, 101.0]} and held.take_dropped() == {}
    assert held.problem(None) is None


def test_readings_the_hold_lets_go_of_are_charted_where_they_were_lost(db_path):
    store = Store(db_path, busy_timeout_s=0.1, held=HeldRows(max_readings=5))
    sid, _ = store.open_session("P1", "B4", "ketamine-iv", 1000.0)
    blocker = _hold_write_lock(db_path)
    try:
        for k in range(8):
            store.put_reading(sid, Reading(1000.0 + k, "spo2", 97, "ok", "ox"))
        with pytest.raises(StoreUnavailable):
            store.flush()
        assert "3 oldest lost" in store.write_problem
    finally:
        blocker.rollback()
        blocker.close()
    store.flush()
    assert [r["ts"] for r in queries.readings(store, sid)] == [1003.0 + k for k in range(5)]
    (gap,) = queries.events(store, sid)
    assert gap["type"] == "monitoring_interrupted" and gap["ts"] == 1000.0
    assert gap["text"] == "3 readings lost: the database could not be written for too long"
    assert gap["data"] == {"since": 1000.0, "seconds": 2.0, "lost": 3}
    store.close()


def test_a_loss_that_cannot_be_charted_yet_is_charted_by_a_later_flush(db_path):
    """The note that readings were lost is itself never lost: while the database still refuses
    it, the count goes back into the hold (HeldRows.drop_again) for the next flush."""
    store = Store(db_path, busy_timeout_s=0.1)
    sid, _ = store.open_session("P1", "B5", "ketamine-iv", 1000.0)
    blocker = _hold_write_lock(db_path)
    try:
        store._record_loss(sid, 3, 1000.0, 1002.0)  # as flush does after the hold let 3 go
    finally:
        blocker.rollback()
        blocker.close()
    assert queries.events(store, sid) == []
    store.flush()
    (gap,) = queries.events(store, sid)
    assert gap["type"] == "monitoring_interrupted" and gap["data"]["lost"] == 3
    store.close()


def test_losses_counted_again_merge_with_later_ones():
    held = HeldRows(max_readings=1)
    held.drop_again(7, 3, 100.0, 102.0)
    for k in range(3):
        held.add_reading(("r", 7, Reading(110.0 + k, "hr", 70, "ok", "ox")))
    assert held.take_dropped() == {7: [5, 100.0, 111.0]}


@pytest.mark.slow
def test_a_note_that_cannot_be_stored_says_so(db_path):
    store = Store(db_path, busy_timeout_s=0.2)
    sid, _ = store.open_session("P1", "B3", "ketamine-iv", time.time() - 60)
    blocker = _hold_write_lock(db_path)
    try:
        with pytest.raises(forms.FormError) as e:
            forms.chart(store, {"chair": "B3", "session_id": sid}, "note", {}, "patient anxious", NURSE)
        message = e.value.errors[0]
        assert message.startswith("Not recorded: the monitor's database is busy or full") and "locked" in message
        assert message.endswith("What you entered is kept: try again.")
    finally:
        blocker.rollback()
        blocker.close()
    assert queries.events(store, sid) == []
    forms.chart(store, {"chair": "B3", "session_id": sid}, "note", {}, "patient anxious", NURSE)
    assert [e["text"] for e in queries.events(store, sid)] == ["patient anxious"]
    store.close()


def _rows(n: int, t0: float, pause_every: int = 100, pause_s: float = 0.004):
    """A big session's readings, produced at the pace of a file being parsed."""
    for k in range(n):
        if k % pause_every == 0:
            time.sleep(pause_s)
        yield (t0 + k / 5, "spo2", 96.0, "replay", "ok", None)


@pytest.mark.slow
def test_a_bulk_import_lets_other_writers_in_and_appears_whole(db_path):
    """While 100,000 readings are imported, another process's small writes (a nurse's note)
    never wait long enough to fail, and the import is listed only once it is complete."""
    store = Store(db_path)
    other = Store(db_path, busy_timeout_s=2.0)
    live_sid, _ = other.open_session("LIVE", "L1", "ketamine-iv", time.time())
    t0 = time.time() - 3600
    seen_while_importing = []

    def rows():
        for i, r in enumerate(_rows(100_000, t0)):
            if i == 50_000:
                seen_while_importing.append([s["chair"] for s in queries.sessions(other)])
            yield r

    session = {"patient_ref": "BIG", "chair": "import", "protocol": "ketamine-iv", "state": "ended",
               "started_at": t0, "ended_at": t0 + 20_000, "ended_by": "RN", "source": "import"}
    result = {}
    importer = threading.Thread(target=lambda: result.setdefault(
        "sid", insert_session(store, session, [], rows(), [], [])))
    importer.start()
    notes, failures = 0, []
    while importer.is_alive():
        try:
            other.record_event(live_sid, Event(time.time(), "note", f"note {notes}", "RN"))
            notes += 1
        except StoreUnavailable as e:
            failures.append(str(e))
        time.sleep(0.05)
    importer.join()
    assert failures == [] and notes > 20
    assert seen_while_importing == [["L1"]]  # the half-written import is in no list
    sid = result["sid"]
    assert queries.session(store, sid)["state"] == "ended"
    assert len(queries.readings(store, sid)) == 100_000
    other.close()
    store.close()


def test_an_import_that_fails_part_way_leaves_nothing(store):
    def rows():
        yield (1000.0, "hr", 70.0, "import", "ok", None)
        raise ValueError("file ended mid-value")

    session = {"patient_ref": "X", "chair": "import", "protocol": "ketamine-iv", "state": "ended",
               "started_at": 1000.0, "ended_at": 2000.0}
    with pytest.raises(ValueError):
        insert_session(store, session, [], rows(), [], [])
    assert queries.sessions(store) == []
    assert queries.current_session(store, "import") is None


def test_an_importing_session_is_not_the_chairs_session(store):
    """The hidden state is part of the session rules' vocabulary, not open and not listed."""
    assert sessions.IMPORTING not in sessions.OPEN_STATES
    assert not sessions.recorded_by_devices({"state": sessions.IMPORTING, "source": "live"})


@pytest.mark.slow
def test_a_max_speed_replay_longer_than_the_live_hold_is_stored_whole(store, protocol, monkeypatch):
    """The live hold's bound is for a database that cannot be written; a max-speed playback's
    private staging store writes as it goes, so a recording of any length keeps every row."""
    from monitor.playback import replay
    from monitor.replay_csv import parse_text
    monkeypatch.setattr(HeldRows.__init__, "__defaults__", (1000,))  # a small bound, as if hours long
    text = "t_s,parameter,value,status\n" + "".join(f"{t},hr,72,ok\n{t},spo2,97,ok\n" for t in range(3000)) \
        + "3000,event,session_end,\n"
    result = replay(store, protocol, parse_text(text))
    assert result.readings == 6000
    assert len(queries.readings(store, result.session_id)) == 6000


def _dead_pid() -> int:
    import subprocess
    import sys
    p = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(p.stdout)


def _leftover(db_path, pid: int, host: str, patient: str = "GHOST") -> int:
    """What a writer killed mid-import leaves: a hidden session with some of its readings."""
    conn = sqlite3.connect(db_path, isolation_level=None)
    sid = conn.execute("INSERT INTO sessions (patient_ref, chair, protocol, state, started_at, ended_by) "
                       "VALUES (?, 'import', 'ketamine-iv', ?, 1000.0, ?) RETURNING id",
                       (patient, sessions.IMPORTING, f"importing:{host}:{pid}")).fetchone()[0]
    conn.executemany("INSERT INTO readings (session_id, ts, parameter, value, source, status) "
                     "VALUES (?, ?, 'hr', 70, 'import', 'ok')", [(sid, 1000.0 + k) for k in range(50)])
    conn.close()
    return sid


def test_a_half_written_session_is_nowhere_and_the_next_import_removes_it(store, db_path):
    import socket

    from monitor.store import summaries
    ghost = _leftover(db_path, _dead_pid(), socket.gethostname())
    assert queries.session(store, ghost) is None  # the page says not found, export has nothing
    assert summaries.summary(store, ghost) is None
    assert not queries.has_patient(store, "GHOST")
    assert queries.sessions(store) == []
    session = {"patient_ref": "REAL", "chair": "import", "protocol": "ketamine-iv", "state": "ended",
               "started_at": 2000.0, "ended_at": 3000.0, "ended_by": "RN"}
    sid = insert_session(store, session, [], [(2000.0, "hr", 72.0, "import", "ok", None)], [], [])
    assert [s["id"] for s in queries.sessions(store)] == [sid]
    assert queries.session(store, sid)["ended_by"] == "RN"  # the writer's mark is gone with the last chunk
    conn = sqlite3.connect(db_path)
    assert conn.execute("SELECT count(*) FROM sessions WHERE patient_ref = 'GHOST'").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM readings WHERE source = 'import' AND value = 70").fetchone()[0] == 0
    conn.close()


def test_a_session_another_live_writer_is_importing_is_left_alone(store, db_path):
    import os
    import socket
    running = _leftover(db_path, os.getpid(), socket.gethostname(), "BUSY")
    elsewhere = _leftover(db_path, _dead_pid(), "another-site-server", "FAR")
    session = {"patient_ref": "REAL", "chair": "import", "protocol": "ketamine-iv", "state": "ended",
               "started_at": 2000.0, "ended_at": 3000.0}
    insert_session(store, session, [], [], [], [])
    conn = sqlite3.connect(db_path)
    assert {r[0] for r in conn.execute("SELECT id FROM sessions WHERE state = 'importing'")} == {running, elsewhere}
    conn.close()
