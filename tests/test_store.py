"""The store: documented schema, batched writer, readers alongside it."""
from __future__ import annotations

import sqlite3
import threading

import pytest

from monitor.model import Alert, Baseline, Event, Reading
from monitor.sessions import RuleError
from monitor.store import SCHEMA_VERSION, Store, StoreError, StoreUnavailable, queries

pytestmark = pytest.mark.both_engines  # on SQLite and on PostgreSQL (conftest.py)

CONTRACT_COLUMNS = {
    "sessions": ["id", "patient_ref", "chair", "protocol", "state", "started_at", "infusion_start",
                 "infusion_end", "ended_at"],
    "readings": ["id", "session_id", "ts", "parameter", "value", "source", "status"],
    "alerts": ["id", "session_id", "rule", "parameter", "kind", "priority", "started_at", "ended_at",
               "value", "limit_value", "message", "acknowledged_at", "acknowledged_by"],
    "events": ["id", "session_id", "ts", "type", "text", "author"],
}


@pytest.mark.sqlite_only  # its PostgreSQL twin: tests/test_postgres_store.py
def test_schema_matches_design(store, db_path):
    # plain sqlite3 introspection: sqlite-utils would import pandas (over a second) for this one test
    db = sqlite3.connect(db_path)
    try:
        for table, cols in CONTRACT_COLUMNS.items():
            have = [c[1] for c in db.execute(f"PRAGMA table_info({table})")]
            assert have[:len(cols)] == cols, table
        types = {c[1]: c[2] for c in db.execute("PRAGMA table_info(readings)")}
        assert types["ts"] == "REAL"
        indexes = {tuple(c[2] for c in db.execute(f"PRAGMA index_info({i[1]})"))
                   for i in db.execute("PRAGMA index_list(readings)")}
        assert ("session_id", "ts") in indexes
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    finally:
        db.close()


def test_reopen_is_idempotent(db_path):
    Store(db_path).close()
    s = Store(db_path)
    assert s._query("SELECT count(*) AS n FROM sessions")[0]["n"] == 0
    s.close()


@pytest.mark.sqlite_only  # its PostgreSQL twin: tests/test_postgres_store.py
def test_newer_schema_is_refused(db_path):
    Store(db_path).close()
    conn = sqlite3.connect(db_path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    conn.close()
    with pytest.raises(StoreError, match="newer"):
        Store(db_path)


def test_not_a_database_is_a_clear_error(tmp_path):
    bad = tmp_path / "junk.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="junk.db"):
        Store(bad)


@pytest.mark.sqlite_only  # its PostgreSQL twin: tests/test_postgres_store.py
def test_readonly_store_cannot_write(store, db_path):
    ro = Store(db_path, readonly=True)
    assert ro._query("SELECT count(*) AS n FROM sessions")[0]["n"] == 0
    with pytest.raises(StoreError):
        ro.open_session("P", "1", "x", 0.0)
    with pytest.raises(StoreError, match="no such database"):
        Store(db_path.parent / "missing.db", readonly=True)


def test_batched_writes_land_in_one_flush(store):
    sid = store.open_session("P1", "1", "ketamine-iv", 100.0)[0]
    for i in range(500):
        store.put_reading(sid, Reading(100.0 + i, "hr", 70 + i % 5, "ok", "ox"))
    assert queries.max_reading_id(store, sid) == 0  # nothing until the batch commits
    assert store.flush() == 500
    assert len(queries.readings(store, sid)) == 500


def test_alert_upsert_by_key_keeps_acknowledgement(store):
    sid = store.open_session("P1", "1", "ketamine-iv", 0.0)[0]
    a = Alert("hr_high#1", "hr_high", "hr", "physiological", "medium", 10.0, 125, 120, "HR 125 > 120")
    store.put_change(sid, a)
    store.flush()
    (row,) = queries.alerts(store, sid)
    assert store.acknowledge(row["id"], "AB", 12.0)
    assert not store.acknowledge(row["id"], "CD", 13.0)  # first acknowledgement stands
    a.value, a.ended_at, a.message = 131, 50.0, "HR 131 > 120"
    store.put_change(sid, a)
    store.put_change(sid, Baseline("hr", 72, "computed", 5.0, 30))
    store.flush()
    (row,) = queries.alerts(store, sid)
    assert (row["value"], row["ended_at"], row["acknowledged_by"]) == (131, 50.0, "AB")
    assert queries.baselines(store, sid)["hr"]["value"] == 72


def test_record_event_moves_session_state(store):
    sid = store.open_session("P1", "1", "ketamine-iv", 0.0)[0]
    store.record_event(sid, Event(60.0, "infusion_start", "", "RN"))
    store.record_event(sid, Event(2460.0, "infusion_stop", "", "RN"))
    s = queries.session(store, sid)
    assert (s["state"], s["infusion_start"], s["infusion_end"]) == ("recovery", 60.0, 2460.0)
    store.record_event(sid, Event(3000.0, "session_end", "", "RN"))
    assert queries.session(store, sid)["ended_by"] == "RN"
    with pytest.raises(RuleError, match="ended"):
        store.record_event(sid, Event(3001.0, "infusion_start"))
    with pytest.raises(StoreError, match="no session"):
        store.record_event(999, Event(1.0, "note", "x"))


def test_concurrent_reader_while_writer_runs(store, db_path):
    sid = store.open_session("P1", "1", "ketamine-iv", 0.0)[0]
    store.flush_interval = 0.02
    store.start_writer()
    reader = Store(db_path, readonly=True)
    seen, errors = [], []
    done = threading.Event()

    def read():
        try:
            while not done.is_set():
                n = reader._query("SELECT count(*) AS n FROM readings WHERE session_id = ?", (sid,))[0]["n"]
                seen.append(n)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    t = threading.Thread(target=read)
    t.start()
    for i in range(3000):
        store.put_reading(sid, Reading(float(i), "hr", 70.0, "ok", "ox"))
    store.close()
    done.set()
    t.join()
    assert errors == []
    assert seen == sorted(seen)  # counts only grow: readers see whole batches
    assert Store(db_path, readonly=True)._query("SELECT count(*) AS n FROM readings")[0]["n"] == 3000


def test_delete_session_removes_everything(store):
    sid = store.open_session("P1", "1", "ketamine-iv", 0.0)[0]
    store.put_reading(sid, Reading(1.0, "hr", 70, "ok", "ox"))
    store.record_event(sid, Event(2.0, "note", "hello"))
    store.delete_session(sid)
    for table in ("sessions", "readings", "events"):
        assert store._query(f"SELECT count(*) AS n FROM {table}")[0]["n"] == 0


@pytest.mark.sqlite_only  # its PostgreSQL twin: tests/test_postgres_store.py
def test_failed_commit_keeps_the_batch_for_the_next_flush(store, monkeypatch):
    import monitor.store.rows as dbmod
    sid = store.open_session("P1", "1", "ketamine-iv", 0.0)[0]
    for i in range(10):
        store.put_reading(sid, Reading(float(i), "hr", 70.0, "ok", "ox"))
    store.put_change(sid, Alert("hr_high#1", "hr_high", "hr", "physiological", "medium", 5.0, 125, 120, "m"))
    real = dbmod.upsert_alert

    def disk_full(*a, **k):
        raise sqlite3.OperationalError("database or disk is full")
    monkeypatch.setattr(dbmod, "upsert_alert", disk_full)
    with pytest.raises(StoreUnavailable, match="disk is full"):  # a StoreError, never the driver's own
        store.flush()
    assert queries.readings(store, sid) == []  # rolled back as a whole
    assert store.pending == 11
    store.put_reading(sid, Reading(10.0, "hr", 71.0, "ok", "ox"))
    monkeypatch.setattr(dbmod, "upsert_alert", real)
    assert store.flush() == 12
    assert [r["ts"] for r in queries.readings(store, sid)] == [float(i) for i in range(11)]
    assert len(queries.alerts(store, sid)) == 1 and store.pending == 0
