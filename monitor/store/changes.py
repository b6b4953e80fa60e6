"""Which chairs have new rows: the live pages' push channel asks here (monitor/web/live.py).

One change feed per web process, polled by one thread, whatever the number of pages:
`PRAGMA data_version` costs no I/O and changes only when another connection (this
process's writer or another process's) has committed. Only then are the new rows
placed, by id from the last cursors (readings, events, alerts, sessions: each an
index range over the new rows alone), and their sessions mapped to chairs.

What it places: a reading, a charted event, a newly raised alarm, a new session. An
update in place (an acknowledgement from another screen, a cleared alarm with no
reading beside it) is not placed here; the pages' 1 s tick shows it, as it always did.

On PostgreSQL (`NotifyFeed`) nothing is asked of the tables at all: the schema's
triggers NOTIFY the sessions each committed statement touched (store/postgres_schema.py),
an alarm's update in place included, and the feed reads what has arrived on its own
connection's socket.
"""
from __future__ import annotations

from typing import Optional

from .conditions import OPEN
from .errors import driver_errors

# (table, the column naming its session): new ids in each mean new things to show.
WATCHED = (("readings", "session_id"), ("events", "session_id"), ("alerts", "session_id"), ("sessions", "id"))


def chairs_of(sessions: set[int], known: dict[int, str], ask) -> set[str]:
    """The chairs of these sessions; `known` remembers them (a session keeps its chair), so
    `ask(sql, ids)` is called only for sessions not seen before."""
    unknown = [s for s in sessions if s not in known]
    if unknown:
        for r in ask(f"SELECT id, chair FROM sessions WHERE id IN ({', '.join('?' * len(unknown))})", unknown):
            known[r["id"]] = r["chair"]
    return {known[s] for s in sessions if known.get(s) is not None}


def change_feed(store):
    """The feed for this store's database: `poll()` → chairs changed, `close()`."""
    return NotifyFeed(store) if store.is_postgres else DataVersionFeed(store)


class DataVersionFeed:
    """SQLite: chairs with new rows since the last `poll` (not thread-safe: one poller owns it)."""

    def __init__(self, store):
        self.path = store.path
        with driver_errors(self.path):
            self._conn = store.backend.connect_reader(store.busy_timeout_s)
            self._version = self._data_version()
            self._cursors = {table: self._max_id(table) for table, _ in WATCHED}
        self._chair_of: dict[int, str] = {}

    def _data_version(self) -> int:
        return self._conn.execute("PRAGMA data_version").fetchone()[0]

    def _max_id(self, table: str) -> int:
        return self._conn.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}").fetchone()[0]

    def poll(self) -> set[str]:
        """Chairs whose new rows were committed since the last call; empty when nothing was
        (the usual answer, from one PRAGMA). StoreError when the database cannot answer."""
        with driver_errors(self.path):
            version = self._data_version()
            if version == self._version:
                return set()
            self._version = version
            sessions: set[int] = set()
            # ids grow in commit order (one writer at a time), so a cursor never passes a row
            # not yet seen; a commit landing between these queries changes data_version again
            for table, column in WATCHED:
                rows = self._conn.execute(
                    f"SELECT {column} AS sid, MAX(id) AS top FROM {table} WHERE id > ? GROUP BY {column}",
                    (self._cursors[table],)).fetchall()
                for r in rows:
                    if r["sid"] is not None:
                        sessions.add(r["sid"])
                    self._cursors[table] = max(self._cursors[table], r["top"])
            return self._chairs(sessions)

    def _chairs(self, sessions: set[int]) -> set[str]:
        return chairs_of(sessions, self._chair_of, lambda sql, ids: self._conn.execute(sql, ids))

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class NotifyFeed:
    """PostgreSQL: chairs whose sessions were named by a NOTIFY since the last `poll`."""

    def __init__(self, store):
        from .postgres_backend import notification_connection
        from .postgres_schema import CHANGES_CHANNEL
        self.path = store.path
        self._store = store
        with driver_errors(self.path):
            self._conn = notification_connection(store.backend.url, CHANGES_CHANNEL)
        self._chair_of: dict[int, str] = {}

    def poll(self) -> set[str]:
        """Chairs named since the last call (no query unless a session is new to it). A broken
        connection is a StoreError: the poller opens a new feed, the pages' tick carries on."""
        from .postgres_backend import pending_notifications
        with driver_errors(self.path):
            payloads = pending_notifications(self._conn)
        sessions: set[int] = set()
        for payload in payloads:
            if payload == "*":  # too many sessions for one notification: every open session
                return {r["chair"] for r in self._store._query(
                    f"SELECT DISTINCT chair FROM sessions WHERE {OPEN}") if r["chair"] is not None}
            sessions.update(int(s) for s in payload.split(",") if s.isdigit())
        return chairs_of(sessions, self._chair_of, self._store._query)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
