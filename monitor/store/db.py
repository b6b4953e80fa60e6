"""The one owner of the SQLite file: a single batched writer and read-only readers.

Readings arrive at several per second per chair; committing each one would cost
an fsync apiece. They queue here and a writer thread commits about once a second,
in one transaction, so a crash loses at most the last second and never half a batch.
"""
from __future__ import annotations

import json
import logging
import queue
import sqlite3
import threading
from pathlib import Path
from typing import Iterable, Optional

import sqlite_utils

from ..model import Alert, Event, Reading, session_fields_for
from .schema import migrate

log = logging.getLogger("infusion_monitor.store")


class StoreError(RuntimeError):
    """The database cannot be opened or used; the message names the file."""


def _connect(path: str, readonly: bool) -> sqlite3.Connection:
    if readonly:
        uri = Path(path).resolve().as_uri() + "?mode=ro"
        conn = sqlite3.connect(uri, uri=True, check_same_thread=False, timeout=10)
    else:
        conn = sqlite3.connect(path, check_same_thread=False, timeout=10, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA busy_timeout = 10000")
    return conn


class Store:
    """Writes go through one connection under a lock; reads use per-thread connections."""

    def __init__(self, path: str | Path, readonly: bool = False, flush_interval: float = 1.0):
        self.path = str(path)
        self.readonly = readonly
        self.flush_interval = flush_interval
        self._local = threading.local()
        self._lock = threading.RLock()
        self._queue: "queue.Queue" = queue.Queue()
        self._retry: list = []
        self._tx_depth = 0
        self._flush_lock = threading.Lock()
        self._writer_thread: Optional[threading.Thread] = None
        self._stop = threading.Event()
        self._flushed = threading.Condition()
        self._conn: Optional[sqlite3.Connection] = None
        if readonly:
            if not Path(self.path).exists():
                raise StoreError(f"{self.path}: no such database")
            return
        try:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            self._conn = _connect(self.path, readonly=False)
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = NORMAL")
            migrate(self._conn)
        except RuntimeError as e:  # a newer schema than this program knows
            raise StoreError(f"{self.path}: {e}") from None
        except (sqlite3.DatabaseError, OSError) as e:
            raise StoreError(f"{self.path}: cannot open database: {e}") from None
        self.db = sqlite_utils.Database(self._conn)

    # ---------------------------------------------------------------- reading
    def reader(self) -> sqlite3.Connection:
        """A connection for the calling thread (read-only when the store is)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = _connect(self.path, readonly=True)
            self._local.conn = conn
        return conn

    def query(self, sql: str, params: Iterable = ()) -> list[dict]:
        return [dict(r) for r in self.reader().execute(sql, tuple(params))]

    def one(self, sql: str, params: Iterable = ()) -> Optional[dict]:
        row = self.reader().execute(sql, tuple(params)).fetchone()
        return dict(row) if row is not None else None

    # ---------------------------------------------------------- immediate writes
    def _require_writer(self):
        if self._conn is None:
            raise StoreError(f"{self.path}: opened read-only")

    def execute(self, sql: str, params: Iterable = ()) -> sqlite3.Cursor:
        self._require_writer()
        with self._lock:
            return self._conn.execute(sql, tuple(params))

    def transaction(self):
        """`with store.transaction() as conn:` all-or-nothing under the writer lock."""
        self._require_writer()
        return _Transaction(self)

    def create_session(self, patient_ref: str, chair: str, protocol: str, started_at: float,
                       source: str = "live") -> int:
        cur = self.execute(
            "INSERT INTO sessions (patient_ref, chair, protocol, state, started_at, source) "
            "VALUES (?, ?, ?, 'baseline', ?, ?)", (patient_ref, chair, protocol, started_at, source))
        return cur.lastrowid

    def update_session(self, session_id: int, **fields) -> None:
        cols = ", ".join(f"{k} = ?" for k in fields)
        self.execute(f"UPDATE sessions SET {cols} WHERE id = ?", (*fields.values(), session_id))

    def record_event(self, session_id: int, event: Event, data: Optional[dict] = None) -> int:
        """Chart an event and move the session's state with it, in one transaction."""
        with self.transaction() as conn:
            row = conn.execute("SELECT state FROM sessions WHERE id = ?", (session_id,)).fetchone()
            if row is None:
                raise StoreError(f"no session {session_id}")
            if row["state"] == "ended" and event.type not in ("note",):
                raise StoreError(f"session {session_id} has ended")
            cur = conn.execute(
                "INSERT INTO events (session_id, ts, type, text, author, data) VALUES (?, ?, ?, ?, ?, ?)",
                (session_id, event.ts, event.type, event.text, event.author,
                 json.dumps(data) if data else None))
            fields = session_fields_for(event, row["state"])
            if fields:
                cols = ", ".join(f"{k} = ?" for k in fields)
                conn.execute(f"UPDATE sessions SET {cols} WHERE id = ?", (*fields.values(), session_id))
            return cur.lastrowid

    def delete_session(self, session_id: int) -> None:
        """Remove a session and everything in it (an aborted import or simulation)."""
        self.flush()
        with self.transaction() as conn:
            for table in ("readings", "alerts", "events", "baselines", "session_summaries"):
                conn.execute(f"DELETE FROM {table} WHERE session_id = ?", (session_id,))
            conn.execute("DELETE FROM sessions WHERE id = ?", (session_id,))

    def acknowledge(self, alert_id: int, by: str, ts: float) -> bool:
        cur = self.execute(
            "UPDATE alerts SET acknowledged_at = ?, acknowledged_by = ? "
            "WHERE id = ? AND acknowledged_at IS NULL", (ts, by, alert_id))
        return cur.rowcount == 1

    def request_command(self, chair: str, command: str, ts: float, by: str = "") -> int:
        cur = self.execute(
            "INSERT INTO commands (chair, command, requested_at, requested_by) VALUES (?, ?, ?, ?)",
            (chair, command, ts, by))
        return cur.lastrowid

    def device_status(self, source: str, **fields) -> None:
        cols = ", ".join(fields)
        marks = ", ".join("?" for _ in fields)
        updates = ", ".join(f"{k} = excluded.{k}" for k in fields)
        self.execute(f"INSERT INTO devices (source, {cols}) VALUES (?, {marks}) "
                     f"ON CONFLICT(source) DO UPDATE SET {updates}", (source, *fields.values()))

    # ----------------------------------------------------------- batched writes
    def put_reading(self, session_id: int, r: Reading) -> None:
        self._queue.put(("r", session_id, r))

    def put_change(self, session_id: int, change) -> None:
        self._queue.put(("a" if isinstance(change, Alert) else "b", session_id, change))

    def start_writer(self) -> None:
        self._require_writer()
        if self._writer_thread is None:
            self._stop.clear()
            self._writer_thread = threading.Thread(target=self._write_loop, name="store-writer", daemon=True)
            self._writer_thread.start()

    def flush(self) -> int:
        """Commit everything queued so far in one transaction; returns rows written.

        If the commit fails (disk full, file locked by another program), the batch is
        kept and tried again first on the next flush: nothing is dropped.
        """
        with self._flush_lock:
            items, self._retry = self._retry, []
            try:
                return self._commit(items)
            except BaseException:
                self._retry = items + self._retry
                raise

    def _commit(self, items: list) -> int:
        while True:
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                break
        if not items:
            return 0
        readings = [(sid, r.ts, r.parameter, r.value, r.source, r.status, r.detail)
                    for kind, sid, r in items if kind == "r"]
        with self.transaction() as conn:
            conn.executemany(
                "INSERT INTO readings (session_id, ts, parameter, value, source, status, detail) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)", readings)
            for kind, sid, c in items:
                if kind == "a":
                    _upsert_alert(conn, sid, c)
                elif kind == "b":
                    conn.execute(
                        "INSERT OR REPLACE INTO baselines (session_id, parameter, value, source, ts, n) "
                        "VALUES (?, ?, ?, ?, ?, ?)", (sid, c.parameter, c.value, c.source, c.ts, c.n))
            # A cached review summary is stale once more of its session lands (summaries.py).
            conn.executemany("DELETE FROM session_summaries WHERE session_id = ?",
                             [(sid,) for sid in {sid for _, sid, _ in items}])
        return len(items)

    @property
    def pending(self) -> int:
        """Rows queued or kept for retry, not yet committed."""
        return len(self._retry) + self._queue.qsize()

    def _write_loop(self) -> None:
        last_error = ""
        while not self._stop.wait(self.flush_interval):
            try:
                self.flush()
                last_error = ""
            except sqlite3.Error as e:  # kept for the next attempt; say so once
                if str(e) != last_error:
                    log.error("writing %s failed, will retry (%d rows waiting): %s", self.path, self.pending, e)
                last_error = str(e)
        self.flush()

    def close(self) -> None:
        if self._writer_thread is not None:
            self._stop.set()
            self._writer_thread.join(timeout=10)
            self._writer_thread = None
        if self._conn is not None:
            self.flush()
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


class _Transaction:
    """Re-entrant: a transaction opened inside another joins it, so a whole import or
    max-speed playback commits (or rolls back) as one."""

    def __init__(self, store: Store):
        self.store = store

    def __enter__(self) -> sqlite3.Connection:
        st = self.store
        st._lock.acquire()
        if st._tx_depth == 0:
            try:
                st._conn.execute("BEGIN IMMEDIATE")
            except BaseException:
                st._lock.release()
                raise
        st._tx_depth += 1
        return st._conn

    def __exit__(self, exc_type, exc, tb):
        st = self.store
        st._tx_depth -= 1
        try:
            if st._tx_depth == 0:
                st._conn.execute("ROLLBACK" if exc_type else "COMMIT")
        finally:
            st._lock.release()
        return False


def _upsert_alert(conn: sqlite3.Connection, session_id: int, a: Alert) -> None:
    conn.execute(
        "INSERT INTO alerts (session_id, key, rule, parameter, kind, priority, started_at, ended_at, "
        "value, limit_value, message) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT(session_id, key) DO UPDATE SET ended_at = excluded.ended_at, "
        "value = excluded.value, limit_value = excluded.limit_value, message = excluded.message",
        (session_id, a.key, a.rule, a.parameter, a.kind, a.priority, a.started_at, a.ended_at,
         a.value, a.limit, a.message))
