"""The one owner of the database: a single batched writer and read-only readers.

Readings arrive at several per second per chair. They are held here (store/held.py)
and a writer thread commits what is held within PROMPT_COMMIT_S of the first row, in
chunks: whatever arrived meanwhile from every chair goes in one transaction, so the
cost per reading stays low at a thousand chairs, while a single chair's reading reaches
the page in milliseconds (the live path, docs/ARCHITECTURE.md). A crash loses at most
what was held, never half a chunk. Nothing a device thread calls waits for the database:
a busy, full or missing database holds readings back, it never drops them or stalls a device.

The interface is driver-neutral: callers get plain dicts and `StoreError`s, never a
row, cursor, connection or exception of the driver. The database is a SQLite file (the
default) or PostgreSQL (`--db postgresql://…`): the same SQL runs on both, and only what
the two engines do differently is in a backend (store/backends.py). SQL stays in this
package (see docs/ARCHITECTURE.md, "The store").
"""
from __future__ import annotations

import contextlib
import json
import logging
import sys
import threading
from typing import Iterable, Iterator, Optional

from .. import access, sessions
from ..access import Actor
from ..model import MANUAL, Alert, Event, Reading, manual_detail
from .errors import NotFound, ReadOnlyStore, StoreError, StoreUnavailable, driver_errors
from .held import CHUNK_ROWS, MAX_HELD_READINGS, HeldRows
from .pending_commands import PendingCommands
from .people import permit, refusals_recorded
from .readers import READERS, ReaderPool
from .backends import backend_for
from .rows import alarm_board, marks, standing_authors, strike, write_batch
from .sqlite_backend import connect as _connect  # noqa: F401  (tests open a SQLite file by hand)

log = logging.getLogger("infusion_monitor.store")


# How long a write waits for another process's transaction before it says the database
# is busy. Bulk writers commit in chunks well under a second (CHUNK_ROWS), so a wait this
# long means something is wrong, and a page entry then says so instead of hanging.
BUSY_TIMEOUT_S = 5.0

# A device thread asking for its commands (a STAT BP) never waits longer than this for
# the database; the commands stay queued and are asked for again on its next pass.
COMMAND_WAIT_S = 0.25
# The acquisition's heartbeat (Store.heartbeat) waits at most this long for the database: a
# missed beat is retried a second later, and pages allow several (sessions.MONITORING_STALE_S).
HEARTBEAT_WAIT_S = 0.5
# The writer commits held rows this long after the first of them arrives: long enough to
# gather what the other chairs send at the same moment into the same transaction, short
# next to the page's 250 ms budget from device to screen.
PROMPT_COMMIT_S = 0.01


class Store:
    """Writes go through one connection under a lock; reads borrow from a small pool (store/readers.py)."""

    def __init__(self, path: str | Path, readonly: bool = False, flush_interval: float = 1.0,
                 busy_timeout_s: float = BUSY_TIMEOUT_S, held: Optional[HeldRows] = None,
                 flush_every: Optional[int] = None):
        self.backend = backend_for(path)
        self.path = self.backend.display  # what every message names (a URL without its password)
        self.readonly = readonly
        self.flush_interval = flush_interval
        self.busy_timeout_s = busy_timeout_s
        self._readers = ReaderPool(lambda: self.backend.connect_reader(busy_timeout_s),
                                   READERS, busy_timeout_s, self.path)
        self._pending_commands = PendingCommands(self._chairs_with_commands, COMMAND_WAIT_S)
        self._lock = threading.RLock()
        # flush_every: a private store with no writer thread (a playback's staging database)
        # writes as it goes, so a long recording never piles up in memory and needs no bound
        self._held = held if held is not None else HeldRows(sys.maxsize if flush_every else MAX_HELD_READINGS)
        self._flush_every = flush_every
        self._write_error: Optional[str] = None
        self._tx_depth = 0
        self._flush_lock = threading.Lock()
        self._writer_thread: Optional[threading.Thread] = None
        self._stop = threading.Event()
        self._rows_held = threading.Event()  # wakes the writer (put_reading, put_change, device_status)
        self._conn = None
        if readonly:
            self.backend.check_exists()
            return
        try:
            self._conn = self.backend.open_writer(busy_timeout_s)
        except StoreError:
            raise
        except RuntimeError as e:  # a newer schema than this program knows
            raise StoreError(f"{self.path}: {e}") from None

    @property
    def is_postgres(self) -> bool:
        return self.backend.name == "postgresql"

    def _writer(self):
        """The writer's connection, opened afresh when the old one broke (a server restart):
        held rows wait for it, they are never lost to a dropped connection."""
        if self._tx_depth == 0 and self.backend.broken(self._conn):
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = self.backend.open_writer(self.busy_timeout_s)
        return self._conn

    # ---------------------------------------------------------------- reading
    @contextlib.contextmanager
    def _reading(self, wait_s: Optional[float] = None) -> Iterator:
        """A read-only connection, lent for one read (statements in autocommit: each its own
        WAL snapshot); driver errors leave as StoreErrors. wait_s: at most this long for a
        connection to come free (a device thread's read), else StoreUnavailable."""
        with driver_errors(self.path), self._readers.borrow(wait_s) as conn:
            yield conn

    def _chairs_with_commands(self) -> set[str]:
        """For PendingCommands, asked from a device thread: waits for a connection no longer
        than a device may wait (COMMAND_WAIT_S)."""
        with self._reading(COMMAND_WAIT_S) as conn:
            return {r["chair"] for r in conn.execute("SELECT DISTINCT chair FROM commands WHERE done_at IS NULL")}

    def _query(self, sql: str, params: Iterable = ()) -> list[dict]:
        with self._reading() as conn:
            return [dict(r) for r in conn.execute(sql, tuple(params))]

    def _one(self, sql: str, params: Iterable = ()) -> Optional[dict]:
        with self._reading() as conn:
            cur = conn.execute(sql, tuple(params))
            try:
                row = cur.fetchone()
            finally:
                cur.close()  # its statement ends here, not when the cursor is collected
        return dict(row) if row is not None else None

    # ---------------------------------------------------------- immediate writes
    def _require_writer(self):
        if self._conn is None:
            raise ReadOnlyStore(f"{self.path}: opened read-only")

    def require_writable(self) -> None:
        """ReadOnlyStore (naming the file) unless this process can write the database: a command
        that will write asks before it starts, rather than failing at its first write. Writes
        nothing (the probe's transaction is rolled back)."""
        self._require_writer()
        with self._lock, driver_errors(self.path):
            if self._tx_depth:
                return  # inside a transaction: it has written already
            conn = self._writer()
            self.backend.begin_write(conn)
            try:
                self.backend.probe_write(conn)
            finally:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")

    def _execute(self, sql: str, params: Iterable = ()):
        self._require_writer()
        with self._lock, driver_errors(self.path):
            return self._writer().execute(sql, tuple(params))

    def _transaction(self):
        """`with store._transaction() as conn:` all-or-nothing under the writer lock."""
        self._require_writer()
        return _Transaction(self)

    @contextlib.contextmanager
    def atomic(self) -> Iterator[None]:
        """Everything written inside commits together or not at all (an import, a max-speed playback)."""
        with self._transaction():
            yield

    def open_session(self, patient_ref: str, chair: str, protocol: str, started_at: float,
                     source: str = "live", resume: bool = True, actor: Optional[Actor] = None) -> tuple[int, bool]:
        """(session id, resumed): the chair's open session for this patient, else a new one.

        Decided by sessions.open_or_resume inside one transaction, so two nurses (or a
        nurse and a restarting acquisition) cannot open two sessions on one chair.
        With resume=False (a playback) any open session on the chair is refused.
        actor: the person opening it (role checked, audited with the write; access.py).
        """
        with refusals_recorded(self, actor, "open_session", chair=str(chair)[:40]), self._transaction() as conn:
            patient_ref = sessions.patient_ref(patient_ref)
            chair = sessions.chair_name(chair)
            current = conn.execute(
                "SELECT id, patient_ref, state FROM sessions WHERE chair = ? AND state IN "
                f"({marks(sessions.OPEN_STATES)}) ORDER BY started_at DESC, id DESC LIMIT 1",
                (chair, *sessions.OPEN_STATES)).fetchone()
            current = dict(current) if current else None
            resume_id = sessions.open_or_resume(current, chair, patient_ref)
            if actor is not None:
                access.check(actor, "open_session")
            if resume_id is not None:
                if not resume:
                    raise sessions.RuleError(f"chair {chair} already has open session {resume_id} "
                                             f"for patient {patient_ref}")
                if actor is not None:
                    permit(conn, actor, "open_session", chair, resume_id, f"patient {patient_ref}: already open")
                return resume_id, True
            row = conn.execute(
                "INSERT INTO sessions (patient_ref, chair, protocol, state, started_at, source) "
                "VALUES (?, ?, ?, 'baseline', ?, ?) RETURNING id",
                (patient_ref, chair, protocol, started_at, source)).fetchall()[0]
            if actor is not None:
                permit(conn, actor, "open_session", chair, row["id"], f"patient {patient_ref}")
            return row["id"], False

    def record_event(self, session_id: int, event: Event, data: Optional[dict] = None,
                     override: Optional[str] = None, actor: Optional[Actor] = None) -> int:
        """Chart an event and move the session's state with it, in one transaction.

        The session rules decide (sessions.check_entry, check_end, session_fields_for);
        a refused entry raises sessions.RuleError and writes nothing. actor: the person
        charting it; their role is checked (access.py) and the entry audited with it.
        """
        with refusals_recorded(self, actor, event.type, session_id=session_id), self._transaction() as conn:
            row = conn.execute("SELECT state, chair FROM sessions WHERE id = ?", (session_id,)).fetchone()
            if row is None:
                raise NotFound(f"no session {session_id}")
            state = row["state"]
            if actor is not None:
                access.check(actor, event.type)
            sessions.check_entry(event.type, state)
            data = dict(data or {})
            if event.type == "session_end":
                data.update(sessions.check_end(alarm_board(conn, session_id), override))
            if event.type == "review_signoff":
                sessions.check_signoff([r["author"] for r in conn.execute(
                    "SELECT author FROM events WHERE session_id = ? AND type = 'review_signoff'", (session_id,))],
                    event.author)
            if event.type == "discharge":  # in the write's own transaction: two clicks, one discharge
                sessions.check_discharged_once(standing_authors(conn, session_id, "discharge"))
            if event.type == "correction":
                struck_type = strike(conn, session_id, data, event.author)
                if actor is not None:
                    access.check_correction(actor, struck_type)
            if event.type == "manual_vitals":  # a manual cuff reading is stored with its entry, as manual
                conn.executemany(
                    "INSERT INTO readings (session_id, ts, parameter, value, source, status, detail) "
                    "VALUES (?, ?, ?, ?, ?, 'ok', ?)",
                    [(session_id, event.ts, k, float(data[k]), MANUAL, manual_detail(event.author))
                     for k in ("sbp", "dbp", "map") if isinstance(data.get(k), (int, float))])
            if sessions.is_late(event.type, state):
                data["late"] = True
            event_id = conn.execute(
                "INSERT INTO events (session_id, ts, type, text, author, data) VALUES (?, ?, ?, ?, ?, ?) "
                "RETURNING id", (session_id, event.ts, event.type, event.text, event.author,
                                 json.dumps(data) if data else None)).fetchall()[0]["id"]
            if actor is not None:
                permit(conn, actor, event.type, row["chair"], session_id,
                       f"event {event_id}: {event.text}" + (f" (override: {override})" if override else ""))
            fields = sessions.session_fields_for(event, state)
            if fields:
                cols = ", ".join(f"{k} = ?" for k in fields)
                conn.execute(f"UPDATE sessions SET {cols} WHERE id = ?", (*fields.values(), session_id))
            if fields.get("state") == "ended":  # nothing stays sounding in a closed record
                conn.execute("UPDATE alerts SET ended_at = CASE WHEN started_at > ? THEN started_at ELSE ? END "
                             "WHERE session_id = ? AND ended_at IS NULL", (event.ts, event.ts, session_id))
            return event_id

    def delete_session(self, session_id: int) -> None:
        """Remove a session and everything in it (an aborted import or simulation, a retention
        purge), its messages for other systems too: queued, set aside, and how far they went."""
        self.flush()
        with self._transaction() as conn:
            for table in ("readings", "alerts", "events", "baselines", "session_summaries", "outbox",
                          "outbox_set_aside", "outbox_progress"):
                conn.execute(f"DELETE FROM {table} WHERE session_id = ?", (session_id,))
            conn.execute("DELETE FROM sessions WHERE id = ?", (session_id,))

    def acknowledge(self, alert_id: int, by: str, ts: float, session_id: Optional[int] = None,
                    actor: Optional[Actor] = None) -> bool:
        """Sign for an alarm; False when it was already signed for. With session_id, an alarm
        of another session is NotFound (a page may only sign for its own chair).

        The signature is also an `acknowledge` event in the session's log (who, when, which
        alarm), written in the same transaction, with the actor's audit row when a person signs.
        """
        with refusals_recorded(self, actor, "acknowledge", session_id=session_id), self._transaction() as conn:
            row = conn.execute("SELECT a.session_id, a.key, a.rule, a.priority, a.message, s.state, s.chair FROM alerts a "
                               "JOIN sessions s ON s.id = a.session_id WHERE a.id = ?", (alert_id,)).fetchone()
            if row is None or (session_id is not None and row["session_id"] != session_id):
                raise NotFound(f"no alarm {alert_id} in session {session_id}")
            if actor is not None:
                access.check(actor, "acknowledge")
            sessions.check_entry("acknowledge", row["state"])
            # an escalation written at or after this signature's time did not happen (the engine
            # passed the moment before the signature reached the store): it goes with it
            cur = conn.execute(
                "UPDATE alerts SET acknowledged_at = ?, acknowledged_by = ?, "
                "escalated_at = CASE WHEN escalated_at >= ? THEN NULL ELSE escalated_at END "
                "WHERE id = ? AND acknowledged_at IS NULL", (ts, by, ts, alert_id))
            if cur.rowcount != 1:
                return False
            # key: the engine's name for the alarm, so it hears the signature (alerts/escalation.py)
            data = {"alert_id": alert_id, "key": row["key"], "rule": row["rule"], "priority": row["priority"]}
            if sessions.is_late("acknowledge", row["state"]):
                data["late"] = True
            conn.execute("INSERT INTO events (session_id, ts, type, text, author, data) VALUES (?, ?, ?, ?, ?, ?)",
                         (row["session_id"], ts, "acknowledge", row["message"], by, json.dumps(data)))
            if actor is not None:
                permit(conn, actor, "acknowledge", row["chair"], row["session_id"],
                       f"alarm {alert_id} ({row['priority']}): {row['message']}")
            return True

    def request_command(self, session_id: int, command: str, ts: float, by: str = "",
                        actor: Optional[Actor] = None) -> int:
        """Ask the devices of a session's chair to act (e.g. "nibp:stat"); only while the session
        is open (sessions.check_command), decided in the same transaction that queues it."""
        action = access.COMMAND_ACTIONS.get(command, command)
        with refusals_recorded(self, actor, action, session_id=session_id), self._transaction() as conn:
            row = conn.execute("SELECT chair, state FROM sessions WHERE id = ?", (session_id,)).fetchone()
            if row is None:
                raise NotFound(f"no session {session_id}")
            sessions.check_command(command, row["state"])
            command_id = conn.execute(
                "INSERT INTO commands (chair, command, requested_at, requested_by) VALUES (?, ?, ?, ?) RETURNING id",
                (row["chair"], command, ts, by)).fetchall()[0]["id"]
            if actor is not None:
                permit(conn, actor, action, row["chair"], session_id, f"command {command}")
        self._pending_commands.queued(row["chair"])
        return command_id

    def take_commands(self, chair: str, kind: str, ts: float) -> list[str]:
        """The chair's pending commands of one kind (e.g. "nibp"), marked done as they are taken.

        Called from a device thread between reads of its port, so it never waits more than
        COMMAND_WAIT_S: when the database is busy the answer is "none yet" and the commands
        stay pending for the next call. Only a chair with something waiting writes (one read
        for all chairs says which, store/pending_commands.py).
        """
        try:
            if not self._pending_commands.waiting(chair):
                return []
            with self._waiting_at_most(COMMAND_WAIT_S), self._transaction() as conn:
                rows = conn.execute("SELECT id, command FROM commands WHERE chair = ? AND done_at IS NULL "
                                    "ORDER BY id", (chair,)).fetchall()
                mine = [r for r in rows if r["command"].split(":")[0] == kind]
                conn.executemany("UPDATE commands SET done_at = ? WHERE id = ?", [(ts, r["id"]) for r in mine])
        except StoreUnavailable:
            return []
        return [r["command"].split(":", 1)[1] for r in mine]

    def device_status(self, source: str, **fields) -> None:
        """A device's state for the page (connected, last seen, cuff pressure), written with
        the next batch: the device's state is the device's, never held up by the database."""
        self._held.add_change(("d", source, fields))
        self._rows_held.set()

    def heartbeat(self, chairs: Iterable[str], ts: float, pid: int, host: str, started_at: float,
                  problem: Optional[str] = None, stopped: bool = False) -> None:
        """An acquisition process says it is watching these chairs (about once a second), with
        its storage problem if it has one; `stopped` when it shuts down. A short transaction of
        its own, never queued behind readings: a process that cannot store its readings must
        still be able to say so (sessions.monitoring_alarms reads it, docs/ARCHITECTURE.md)."""
        rows = [(chair, pid, host, started_at, ts, ts if stopped else None, problem or None,
                 ts if problem else None) for chair in chairs]
        # Like take_commands: the acquisition's tick never waits long on a busy database; a beat
        # not written now is a StoreUnavailable, and the next one follows in a second.
        with self._waiting_at_most(HEARTBEAT_WAIT_S):
            self._write_heartbeat(rows)

    @contextlib.contextmanager
    def _waiting_at_most(self, seconds: float) -> Iterator[None]:
        """For a write from a device or tick thread: wait at most `seconds` for this process's
        writer and for another process's lock, else StoreUnavailable (nothing written)."""
        self._require_writer()
        if not self._lock.acquire(timeout=seconds):
            raise StoreUnavailable(f"{self.path}: busy for more than {seconds:g} s")
        try:
            with driver_errors(self.path):
                conn = self._writer()
                self.backend.set_wait(conn, seconds)
            try:
                yield
            finally:
                with driver_errors(self.path), contextlib.suppress(StoreUnavailable):
                    if not self.backend.broken(conn):
                        self.backend.set_wait(conn, self.busy_timeout_s)
        finally:
            self._lock.release()

    def _write_heartbeat(self, rows: list[tuple]) -> None:
        with self._transaction() as conn:
            conn.executemany(
                "INSERT INTO heartbeats (chair, pid, host, started_at, beat_at, stopped_at, problem, problem_since) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(chair) DO UPDATE SET pid = excluded.pid, host = excluded.host, "
                "started_at = excluded.started_at, beat_at = excluded.beat_at, stopped_at = excluded.stopped_at, "
                "problem_since = CASE WHEN excluded.problem IS NULL THEN NULL "
                "WHEN heartbeats.problem IS NULL THEN excluded.problem_since ELSE heartbeats.problem_since END, "
                "problem = excluded.problem", rows)

    # ----------------------------------------------------------- batched writes
    def put_reading(self, session_id: int, r: Reading) -> None:
        self._held.add_reading(("r", session_id, r))
        self._rows_held.set()
        if self._flush_every and len(self._held) >= self._flush_every:
            self.flush()

    def put_change(self, session_id: int, change) -> None:
        self._held.add_change(("a" if isinstance(change, Alert) else "b", session_id, change))
        self._rows_held.set()

    def start_writer(self) -> None:
        self._require_writer()
        if self._writer_thread is None:
            self._stop.clear()
            self._writer_thread = threading.Thread(target=self._write_loop, name="store-writer", daemon=True)
            self._writer_thread.start()

    def flush(self) -> int:
        """Commit everything held so far, in chunks of CHUNK_ROWS; returns rows written.

        If a commit fails (disk full, another program holding the file), its chunk goes
        back in front of the hold and the error is kept for `write_problem`: nothing is
        dropped, and the next flush writes the same rows first.
        """
        written = 0
        with self._flush_lock:
            while True:
                readings, changes = self._held.take(CHUNK_ROWS)
                if not readings and not changes:
                    break
                try:
                    self._commit(readings, changes)
                except BaseException as e:
                    self._held.give_back(readings, changes)
                    self._write_error = str(e).replace(self.path + ": ", "") or type(e).__name__
                    raise
                self._held.written()
                written += len(readings) + len(changes)
            self._write_error = None
            for session_id, (n, first, last) in self._held.take_dropped().items():
                self._record_loss(session_id, n, first, last)
        return written

    def _record_loss(self, session_id: int, n: int, first: float, last: float) -> None:
        """Readings the hold had to let go of are charted where they were lost, never silently."""
        log.error("%s: %d readings of session %d were lost while the database could not be written",
                  self.path, n, session_id)
        text = f"{n} readings lost: the database could not be written for too long"
        try:
            self.record_event(session_id, Event(first, "monitoring_interrupted", text, "system"),
                              {"since": first, "seconds": round(last - first, 1), "lost": n})
        except StoreUnavailable as e:  # still cannot write: charted by a later flush, never forgotten
            log.error("%s: the loss will be charted on session %d when the database takes it: %s",
                      self.path, session_id, e)
            self._held.drop_again(session_id, n, first, last)
        except (sessions.RuleError, StoreError) as e:  # a session that no longer takes it: the log keeps it
            log.error("%s: the loss could not be charted on session %d: %s", self.path, session_id, e)

    def _commit(self, readings: list, changes: list) -> None:
        with self._transaction() as conn:
            write_batch(conn, readings, changes)

    @property
    def pending(self) -> int:
        """Rows held, not yet committed."""
        return len(self._held)

    @property
    def write_problem(self) -> Optional[str]:
        """Why held rows are not reaching the database (one line for the page), or None."""
        return self._held.problem(self._write_error)

    def _write_loop(self) -> None:
        """Commit promptly after rows arrive (PROMPT_COMMIT_S); at least every flush_interval
        anyway (a loss still to chart), and no more often than that while the database refuses."""
        last_error = ""
        while not self._stop.is_set():
            self._rows_held.wait(self.flush_interval)
            if self._stop.wait(PROMPT_COMMIT_S):
                break
            self._rows_held.clear()  # before taking: a row held during the flush wakes the next one
            try:
                self.flush()
                last_error = ""
            except StoreError as e:  # kept for the next attempt; say so once
                if str(e) != last_error:
                    log.error("writing %s failed, will retry (%d rows waiting): %s", self.path, self.pending, e)
                last_error = str(e)
                self._stop.wait(self.flush_interval)
        try:
            self.flush()
        except StoreError as e:
            log.error("%s: %d rows could not be written at shutdown: %s", self.path, self.pending, e)

    def close(self) -> None:
        if self._writer_thread is not None:
            self._stop.set()
            self._rows_held.set()
            self._writer_thread.join(timeout=10)
            self._writer_thread = None
        if self._conn is not None:
            self.flush()
        self._readers.close()


class _Transaction:
    """Re-entrant: a transaction opened inside another joins it, so a whole import or
    max-speed playback commits (or rolls back) as one. Driver errors leave as StoreErrors."""

    def __init__(self, store: Store):
        self.store = store

    def __enter__(self):
        st = self.store
        st._lock.acquire()
        if st._tx_depth == 0:
            try:
                with driver_errors(st.path):
                    st.backend.begin_write(st._writer())
            except BaseException:
                st._lock.release()
                raise
        st._tx_depth += 1
        return st._conn

    def __exit__(self, exc_type, exc, tb):
        st = self.store
        st._tx_depth -= 1
        try:
            with driver_errors(st.path):
                if st._tx_depth == 0:
                    # SQLite may already have rolled back (a full disk): then the cause stands, not
                    # "cannot rollback - no transaction is active"
                    if not exc_type:
                        st._conn.execute("COMMIT")
                    elif st._conn.in_transaction and not st.backend.broken(st._conn):
                        st._conn.execute("ROLLBACK")
                if isinstance(exc, st.backend.error_types):
                    raise exc
        finally:
            st._lock.release()
        return False
