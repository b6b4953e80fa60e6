"""What is PostgreSQL's own in the store (store/postgres_backend.py), on a real server: the
schema column for column as SQLite's, its refusals (a newer schema, a read-only role, the
audit trail), one writer at a time with ids in commit order, a server restart that loses
and duplicates nothing, the NOTIFY change feed, a password never shown, and the commands
on a `postgresql://` URL. What is the same on both engines runs in the `both_engines`
modules (tests/test_store.py and the rest, conftest.py)."""
from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest

from conftest import ROOT, interrupt, run_cli, wait_until
from monitor.model import Alert, Reading
from monitor.store import ReadOnlyStore, Store, StoreError, StoreUnavailable, people, queries
from monitor.store.changes import change_feed
from monitor.store.postgres_backend import WRITE_LOCK
from monitor.store.schema import SCHEMA_VERSION

pytestmark = pytest.mark.postgres


@pytest.fixture
def store(pg_url):
    s = Store(pg_url)
    yield s
    s.close()


def _sql(url: str, *statements: str):
    with psycopg.connect(url, autocommit=True) as conn:
        out = None
        for sql in statements:
            cur = conn.execute(sql)
            out = cur.fetchall() if cur.description else None
        return out


def test_the_schema_is_sqlites_column_for_column(pg_url, tmp_path):
    Store(pg_url).close()
    Store(tmp_path / "m.db").close()
    lite = sqlite3.connect(tmp_path / "m.db")
    tables = [r[0] for r in lite.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                         "AND name NOT LIKE 'sqlite_%' ORDER BY name")]
    assert len(tables) == 23  # forward_log, forward_sites, forward_cursors (5); outbox and its 4, arrivals (6); outbox_set_aside (7)
    for table in tables:
        columns = [c[1] for c in lite.execute(f"PRAGMA table_info({table})")]
        pg = [r[0] for r in _sql(pg_url, "SELECT column_name FROM information_schema.columns WHERE table_name = "
                                 f"'{table}' AND table_schema = 'public' ORDER BY ordinal_position")]
        assert pg == columns, table
    types = dict(_sql(pg_url, "SELECT column_name, data_type FROM information_schema.columns "
                              "WHERE table_name = 'readings'"))
    assert types["ts"] == types["value"] == "double precision" and types["id"] == "bigint"
    assert _sql(pg_url, "SELECT version FROM schema_version") == [(SCHEMA_VERSION,)]
    indexes = {r[0] for r in _sql(pg_url, "SELECT indexname FROM pg_indexes WHERE tablename = 'readings'")}
    assert {"readings_session_ts", "readings_session_param"} <= indexes


def test_a_newer_schema_is_refused_and_an_older_one_upgraded(pg_url, pg_server):
    Store(pg_url).close()
    _sql(pg_url, f"UPDATE schema_version SET version = {SCHEMA_VERSION + 5}")
    with pytest.raises(StoreError, match="newer than this program"):
        Store(pg_url)
    older = pg_server.create_database("pg_version_2")
    try:
        from monitor.store.postgres_schema import MIGRATIONS
        _sql(older, "CREATE TABLE schema_version (version INTEGER NOT NULL)", "INSERT INTO schema_version VALUES (2)",
             MIGRATIONS[0], MIGRATIONS[1])
        s = Store(older)
        s.heartbeat(["1"], 1.0, 1, "h", 1.0)  # the version-3 table is there now
        assert queries.heartbeat(s, "1")["beat_at"] == 1.0
        s.close()
        assert _sql(older, "SELECT version FROM schema_version") == [(SCHEMA_VERSION,)]
    finally:
        pg_server.drop_database("pg_version_2")


def test_a_read_only_store_and_a_read_only_role_cannot_write(pg_url):
    Store(pg_url).close()
    ro = Store(pg_url, readonly=True)
    with pytest.raises(ReadOnlyStore):
        ro.open_session("P", "1", "x", 0.0)
    assert queries.sessions(ro) == []
    _sql(pg_url, "CREATE ROLE reader LOGIN", "GRANT SELECT ON ALL TABLES IN SCHEMA public TO reader")
    as_reader = Store(pg_url.replace("postgres@", "reader@"))  # the schema is current: nothing to write
    with pytest.raises(ReadOnlyStore, match="cannot write"):
        as_reader.require_writable()
    with pytest.raises(ReadOnlyStore):
        as_reader.open_session("P", "1", "x", 0.0)
    assert queries.sessions(as_reader) == []


def test_a_failed_commit_keeps_the_batch_for_the_next_flush(pg_url, monkeypatch):
    import monitor.store.rows as rows
    store = Store(pg_url)
    sid = store.open_session("P1", "1", "ketamine-iv", 0.0)[0]
    for i in range(10):
        store.put_reading(sid, Reading(float(i), "hr", 70.0, "ok", "ox"))
    store.put_change(sid, Alert("hr_high#1", "hr_high", "hr", "physiological", "medium", 5.0, 125, 120, "m"))
    real = rows.upsert_alert

    def disk_full(*a, **k):
        raise psycopg.errors.DiskFull("could not extend file: No space left on device")
    monkeypatch.setattr(rows, "upsert_alert", disk_full)
    with pytest.raises(StoreUnavailable, match="No space left"):  # a StoreError, never psycopg's own
        store.flush()
    assert queries.readings(store, sid) == [] and store.pending == 11  # rolled back as a whole, all held
    assert "No space left" in store.write_problem
    monkeypatch.setattr(rows, "upsert_alert", real)
    assert store.flush() == 11
    assert [r["ts"] for r in queries.readings(store, sid)] == [float(i) for i in range(10)]
    store.close()


def test_the_audit_trail_refuses_update_delete_and_truncate(store, pg_url):
    people.record(store, None, "login", user="nurse1")
    for sql in ('UPDATE audit SET "user" = \'someone else\'', "DELETE FROM audit WHERE id = 1", "TRUNCATE audit"):
        with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
            _sql(pg_url, sql)
    _sql(pg_url, "INSERT INTO audit (ts, \"user\", role, action, outcome) VALUES (1, 'x', 'nurse', 'login', 'ok')")
    assert {r["user"] for r in people.audit_rows(store)} == {"nurse1", "x"}


def test_a_name_is_one_user_whatever_its_case(store):
    people.add_user(store, "Alice", "nurse", "correct horse battery")
    with pytest.raises(StoreError, match="already exists"):
        people.add_user(store, "ALICE", "nurse", "correct horse battery")
    assert people.verify_password(store, "alice", "correct horse battery")["name"] == "Alice"


def test_another_writer_holding_the_lock_costs_a_beat_not_the_tick(store, pg_url):
    other = psycopg.connect(pg_url, autocommit=True)
    other.execute("BEGIN")
    other.execute(f"SELECT pg_advisory_xact_lock({WRITE_LOCK})")
    try:
        started = time.monotonic()
        with pytest.raises(StoreUnavailable):
            store.heartbeat(["B"], 100.0, 1, "h", 90.0)
        assert time.monotonic() - started < 3  # HEARTBEAT_WAIT_S, not the 5 s busy timeout
    finally:
        other.execute("ROLLBACK")
        other.close()
    store.heartbeat(["B"], 101.0, 1, "h", 90.0)
    assert queries.heartbeat(store, "B")["beat_at"] == 101.0


def test_ids_are_handed_out_in_commit_order_across_writers(pg_url):
    """Two stores (two processes, or two machines): the one that began first commits first and
    has the smaller id, so a page's `readings after id N` can never skip the other's row."""
    first, second = Store(pg_url), Store(pg_url)
    sid = first.open_session("P1", "1", "ketamine-iv", 0.0)[0]
    began, order = threading.Event(), []

    def slow_writer():
        with first._transaction() as conn:
            began.set()
            conn.execute("INSERT INTO readings (session_id, ts, parameter, value, status) VALUES (?, 1, 'hr', 70, 'ok')",
                         (sid,))
            time.sleep(0.5)
        order.append("first")
    t = threading.Thread(target=slow_writer)
    t.start()
    began.wait(5)
    second.put_reading(sid, Reading(2.0, "hr", 71.0, "ok", "ox"))
    second.flush()  # waits for the first writer's lock
    order.append("second")
    t.join()
    assert order == ["first", "second"]
    ids = [(r["ts"], r["id"]) for r in queries.readings(first, sid)]
    assert [ts for ts, _ in sorted(ids, key=lambda x: x[1])] == [1.0, 2.0]
    first.close()
    second.close()


def test_the_change_feed_hears_new_rows_and_an_acknowledgement_without_asking(store):
    feed = change_feed(store)
    try:
        assert feed.poll() == set()
        sid = store.open_session("P1", "3", "ketamine-iv", 0.0)[0]
        store.put_reading(sid, Reading(1.0, "hr", 130.0, "ok", "ox"))
        store.put_change(sid, Alert("hr_high#1", "hr_high", "hr", "physiological", "high", 1.0, 130, 120, "HR"))
        store.flush()
        assert wait_until(lambda: feed.poll() == {"3"}, timeout=5)
        assert feed.poll() == set()
        other = store.open_session("P2", "4", "ketamine-iv", 0.0)[0]
        assert wait_until(lambda: feed.poll() == {"4"}, timeout=5) and other
        (alert,) = queries.alerts(store, sid)
        assert store.acknowledge(alert["id"], "RN", 2.0)  # an update in place: heard too
        assert wait_until(lambda: feed.poll() == {"3"}, timeout=5)
    finally:
        feed.close()


def test_a_password_in_the_url_is_never_shown(pg_url):
    with_password = pg_url.replace("postgres@", "postgres:s3cret-pw@")
    s = Store(with_password)  # the test server trusts local connections: any password opens it
    assert "s3cret-pw" not in s.path and "postgres:***@" in s.path
    s.close()
    down = "postgresql://clinic:s3cret-pw@127.0.0.1:1/nowhere"
    with pytest.raises(StoreUnavailable) as refused:
        Store(down)
    assert "s3cret-pw" not in str(refused.value) and "clinic:***@127.0.0.1:1/nowhere" in str(refused.value)
    out = run_cli("sessions", db=down)
    assert out.returncode == 2 and "s3cret-pw" not in out.stderr and "***" in out.stderr, out.stderr


@pytest.mark.slow
def test_a_server_restart_loses_and_duplicates_nothing(tmp_path):
    """The server stops with readings arriving: they are held (the page is told why), the writer
    reconnects when it is back, and every reading is stored once, in order."""
    from pg_server import PostgresServer
    server = PostgresServer().start()
    try:
        url = server.create_database("restart")
        store = Store(url, flush_interval=0.2)
        store.start_writer()
        sid = store.open_session("P1", "1", "ketamine-iv", 0.0)[0]
        for i in range(50):
            store.put_reading(sid, Reading(float(i), "hr", 70.0, "ok", "ox"))
        assert wait_until(lambda: store.pending == 0, timeout=10)
        server.stop()
        for i in range(50, 100):
            store.put_reading(sid, Reading(float(i), "hr", 70.0, "ok", "ox"))
        assert wait_until(lambda: store.write_problem is not None, timeout=10)
        with pytest.raises(StoreUnavailable):
            queries.readings(store, sid)
        server.start_again()
        assert wait_until(lambda: store.pending == 0, timeout=20)
        assert store.write_problem is None
        got = queries.readings(store, sid)
        assert [r["ts"] for r in got] == [float(i) for i in range(100)]
        assert [r["id"] for r in got] == sorted(r["id"] for r in got)
        store.close()
    finally:
        server.close()


# ----------------------------------------------------------------- the commands on a URL
@pytest.mark.slow
def test_the_environment_names_the_database_and_a_server_down_is_one_line(pg_url):
    Store(pg_url).close()
    out = run_cli("sessions", "--json", env={"INFUSION_MONITOR_DB": pg_url})
    assert out.returncode == 0 and json.loads(out.stdout) == [], out.stderr
    down = "postgresql://postgres@127.0.0.1:1/nowhere"
    for args in (["sessions"], ["simulate", "--scenario", "normal", "--speed", "max"], ["serve"]):
        out = run_cli(*args, db=down)
        assert out.returncode == 2, (args, out.stderr)
        assert len(out.stderr.strip().splitlines()) == 1 and down in out.stderr, out.stderr


@pytest.mark.slow
def test_two_acquisitions_share_one_database(pg_url):
    """Two acquire processes (two machines' worth) record two chairs into one database."""
    exe = str(Path(sys.executable).parent / "infusion-monitor")
    procs = [subprocess.Popen([exe, "--db", pg_url, "acquire", "--device",
                               "sim:normal", "--chair", chair, "--patient", f"AQ-{chair}", "--duration", "4"],
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for chair in ("1", "2")]
    try:
        outs = [p.communicate(timeout=60) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                interrupt(p)
    assert all(p.returncode == 0 for p in procs), outs
    out = run_cli("sessions", "--json", db=pg_url, check=True)
    sessions = {s["chair"]: s for s in json.loads(out.stdout)}
    assert set(sessions) == {"1", "2"} and all(s["state"] == "ended" for s in sessions.values())
    store = Store(pg_url, readonly=True)
    for s in sessions.values():
        assert len(queries.readings(store, s["id"], ("hr",))) >= 2
