"""The outbox's store layer (monitor/store/outbox.py), on both engines: a message queued once,
in order, with its producer's progress in the same transaction; a failing head blocks what is
behind it; the admin figures; an existing version-5 database upgraded to the newest version.
Setting a refused head aside: tests/test_outbox_set_aside.py."""
from __future__ import annotations

import sqlite3

import pytest

from monitor.store import SCHEMA_VERSION, Conflict, Store
from monitor.store import outbox

pytestmark = pytest.mark.both_engines  # on SQLite and on PostgreSQL (conftest.py)

DEST = "lab"


def item(n: int, session_id: int = 1, **over) -> dict:
    out = {"kind": "hl7", "message_key": f"s{session_id}/r{n}", "control_id": f"C{n}", "session_id": session_id,
           "about_ts": 1000.0 + n, "payload": f"MSH|^~\\&|IM|||||ORU^R01|C{n}|P|2.6\rOBX|{n}"}
    out.update(over)
    return out


def test_a_message_is_queued_once_in_order(store):
    assert outbox.enqueue(store, DEST, [item(1), item(2), item(3)], now=10.0) == 3
    assert outbox.enqueue(store, DEST, [item(2), item(3), item(4)], now=11.0) == 1  # 2 and 3 already queued
    assert outbox.enqueue(store, "other", [item(1)], now=11.0) == 1  # a key is per destination
    rows = outbox.due(store, DEST, now=20.0)
    assert [r["control_id"] for r in rows] == ["C1", "C2", "C3", "C4"]
    assert [r["id"] for r in rows] == sorted(r["id"] for r in rows)
    assert rows[1]["queued_at"] == 10.0 and rows[3]["queued_at"] == 11.0  # the first queuing stands
    assert rows[0]["attempts"] == 0 and rows[0]["session_id"] == 1 and rows[0]["payload"].endswith("OBX|1")
    assert [r["control_id"] for r in outbox.due(store, DEST, now=20.0, limit=2)] == ["C1", "C2"]


def test_a_malformed_item_queues_nothing(store):
    with pytest.raises(Conflict, match="lacks payload"):
        outbox.enqueue(store, DEST, [item(1), {k: v for k, v in item(2).items() if k != "payload"}], now=1.0)
    with pytest.raises(Conflict, match="kind"):
        outbox.enqueue(store, DEST, [item(1, kind="pdf")], now=1.0)
    assert outbox.due(store, DEST, now=2.0) == []


def test_progress_commits_with_the_messages(store):
    assert outbox.progress(store, DEST, 7) == (None, None)
    outbox.enqueue(store, DEST, [item(1, 7)], progress=(7, 1001.0, 3), now=1.0)
    assert outbox.progress(store, DEST, 7) == (1001.0, 3)
    assert outbox.progress(store, "other", 7) == (None, None)
    # one transaction: when it does not commit, neither the messages nor the progress land
    with pytest.raises(RuntimeError, match="killed"):
        with store.atomic():
            outbox.enqueue(store, DEST, [item(2, 7), item(3, 7)], progress=(7, 1003.0, 5), now=2.0)
            raise RuntimeError("producer killed before its commit")
    assert outbox.progress(store, DEST, 7) == (1001.0, 3)
    assert [r["control_id"] for r in outbox.due(store, DEST, now=5.0)] == ["C1"]
    # run again, the producer re-queues from its progress: nothing twice, progress moves on
    assert outbox.enqueue(store, DEST, [item(1, 7), item(2, 7), item(3, 7)], progress=(7, 1003.0, 5), now=3.0) == 2
    assert outbox.progress(store, DEST, 7) == (1003.0, 5)


def test_a_failing_head_blocks_the_queue_behind_it(store):
    outbox.enqueue(store, DEST, [item(1), item(2)], now=1.0)
    outbox.enqueue(store, "other", [item(1)], now=1.0)
    head = outbox.due(store, DEST, now=1.0)[0]
    assert outbox.failed(store, head["id"], "lab (127.0.0.1:2575): AE", next_try=30.0, now=10.0)
    assert outbox.due(store, DEST, now=29.9) == []  # C2 may not overtake C1
    assert [r["control_id"] for r in outbox.due(store, "other", now=29.9)] == ["C1"]  # other queues go on
    again = outbox.due(store, DEST, now=30.0)
    assert [r["control_id"] for r in again] == ["C1", "C2"]
    assert (again[0]["attempts"], again[0]["last_error"], again[0]["next_try"], again[0]["last_try"]) == (
        1, "lab (127.0.0.1:2575): AE", 30.0, 10.0)
    assert outbox.delivered(store, head["id"], now=31.0)
    assert not outbox.delivered(store, head["id"], now=32.0)  # gone: counted once
    assert not outbox.failed(store, head["id"], "late", next_try=40.0, now=32.0)
    assert [r["control_id"] for r in outbox.due(store, DEST, now=31.0)] == ["C2"]


def test_delivered_ids_are_never_given_again(store):
    outbox.enqueue(store, DEST, [item(1), item(2)], now=1.0)
    first = [r["id"] for r in outbox.due(store, DEST, now=1.0)]
    for row_id in first:
        outbox.delivered(store, row_id, now=2.0)
    outbox.enqueue(store, DEST, [item(3)], now=3.0)
    assert outbox.due(store, DEST, now=3.0)[0]["id"] > max(first)


def test_queue_status_figures(store):
    assert outbox.queue_status(store, now=0.0) == []
    outbox.enqueue(store, DEST, [item(1), item(2), item(3)], now=100.0)
    outbox.enqueue(store, "quiet", [item(1)], now=50.0)
    rows = outbox.due(store, DEST, now=100.0)
    outbox.delivered(store, rows[0]["id"], now=110.0)
    outbox.delivered(store, rows[1]["id"], now=120.0)
    outbox.failed(store, rows[2]["id"], "lab (127.0.0.1:1): connection refused", next_try=130.0, now=125.0)
    outbox.delivered(store, outbox.due(store, "quiet", now=60.0)[0]["id"], now=60.0)
    status = {s["destination"]: s for s in outbox.queue_status(store, now=160.0)}
    assert status[DEST] == {
        "destination": DEST, "depth": 1, "oldest_queued_at": 100.0, "oldest_age_s": 60.0, "head_id": rows[2]["id"],
        "head_message_key": "s1/r3", "head_control_id": "C3", "head_attempts": 1, "head_answered": False,
        "head_last_error": "lab (127.0.0.1:1): connection refused", "head_next_try": 130.0, "sent": 2,
        "last_sent_at": 120.0, "sender": None, "sender_beat": None, "set_aside": 0}
    assert status["quiet"] == {
        "destination": "quiet", "depth": 0, "oldest_queued_at": None, "oldest_age_s": None, "head_id": None,
        "head_message_key": None, "head_control_id": None, "head_attempts": None, "head_answered": None,
        "head_last_error": None, "head_next_try": None, "sent": 1, "last_sent_at": 60.0, "sender": None,
        "sender_beat": None, "set_aside": 0}


def _make_version_5(db_path, engine: str, pg_server=None) -> None:
    """A database as schema version 5 left it, made by version 5's own migrations."""
    if engine == "sqlite":
        from monitor.store import schema
        conn = sqlite3.connect(db_path, isolation_level=None)
        saved = schema.SCHEMA_VERSION
        schema.SCHEMA_VERSION = 5  # migrate() stops at version 5, as the program before this one did
        try:
            schema.migrate(conn)
        finally:
            schema.SCHEMA_VERSION = saved
        conn.execute("INSERT INTO sessions (patient_ref, chair, state) VALUES ('P', '1', 'ended')")
        conn.close()
    else:
        import psycopg
        from monitor.store.postgres_schema import MIGRATIONS
        with psycopg.connect(str(db_path), autocommit=True) as conn:
            conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
            conn.execute("INSERT INTO schema_version VALUES (5)")
            for script in MIGRATIONS[:5]:
                conn.execute(script)
            conn.execute("INSERT INTO sessions (patient_ref, chair, state) VALUES ('P', '1', 'ended')")


def _version(db_path, engine: str) -> int:
    if engine == "sqlite":
        conn = sqlite3.connect(db_path)
        try:
            return conn.execute("PRAGMA user_version").fetchone()[0]
        finally:
            conn.close()
    import psycopg
    with psycopg.connect(str(db_path)) as conn:
        return conn.execute("SELECT version FROM schema_version").fetchone()[0]


def test_a_version_5_database_is_upgraded(db_path, engine):
    _make_version_5(db_path, engine)
    assert _version(db_path, engine) == 5
    s = Store(db_path)
    try:
        assert SCHEMA_VERSION == 7 and _version(db_path, engine) == 7  # 6: the outbox; 7: messages set aside
        assert s._query("SELECT patient_ref FROM sessions") == [{"patient_ref": "P"}]  # kept
        assert outbox.enqueue(s, DEST, [item(1), item(1)], progress=(1, 1001.0, 0), now=1.0) == 1
        assert outbox.progress(s, DEST, 1) == (1001.0, 0)
        outbox.delivered(s, outbox.due(s, DEST, now=1.0)[0]["id"], now=2.0)
        assert outbox.queue_status(s, now=3.0)[0]["sent"] == 1
        assert outbox.set_aside_messages(s) == []
    finally:
        s.close()
