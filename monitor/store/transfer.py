"""Writing a whole session at once (a CSV import, a max-speed playback), in chunks.

A whole session can be a million readings. Written in one transaction it would hold
the database's write lock for tens of seconds, and every live chair's acquisition and
every page entry would wait that long. So it goes in short chunks, with the lock let go
between them; the session row is written first in the hidden state
`sessions.IMPORTING` (no list, chair or page shows it) and the last, small transaction
gives it its real state. A failure part-way deletes what was written.
"""
from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from typing import Iterable, Iterator, Optional

from .. import access, sessions
from ..access import Actor
from ..processes import process_alive
from . import queries
from .db import Store, StoreError
from .people import permit

SESSION_COLS = ("patient_ref", "chair", "protocol", "state", "started_at", "infusion_start", "infusion_end",
                "ended_at", "ended_by", "source")
ALERT_COLS = ("key", "rule", "parameter", "kind", "priority", "started_at", "ended_at", "value", "limit_value",
              "message", "acknowledged_at", "acknowledged_by", "escalated_at")

# A chunk's transaction ends once it has taken this long ...
CHUNK_SECONDS = 0.25
# ... and the lock then stays free this long: longer than SQLite's longest busy-handler
# sleep (100 ms), so a writer waiting in another process is sure to get its turn.
YIELD_SECONDS = 0.12
_ROWS_PER_CHECK = 500


def insert_session(store: Store, session: dict, baselines: list[dict], readings: Iterable[tuple],
                   alerts: list[dict], events: list[dict], actor: Optional[Actor] = None, detail: str = "") -> int:
    """Insert a session and its rows; returns the new session id.

    readings: (ts, parameter, value, source, status, detail) in the order to keep (any
    iterable: a generator keeps memory flat). Nothing of it is listed anywhere until the
    last chunk lands; a failure part-way removes what was written, and what a killed
    writer left behind is removed by the next one (remove_abandoned). actor: who imports it;
    the audit row commits with the transaction that makes the session visible.
    """
    if actor is not None:
        access.check(actor, "import")  # before any chunk is written; permit below audits it
    store.flush()  # the writer's held rows go first, so ids stay in arrival order
    remove_abandoned(store)
    with store._transaction() as conn:
        sid = conn.execute(f"INSERT INTO sessions ({', '.join(SESSION_COLS)}) "
                           f"VALUES ({', '.join('?' for _ in SESSION_COLS)}) RETURNING id",
                           tuple(sessions.IMPORTING if c == "state" else writer_mark() if c == "ended_by"
                                 else session.get(c) for c in SESSION_COLS)).fetchall()[0]["id"]
    try:
        _insert_readings(store, sid, readings)
        with store._transaction() as conn:
            _insert_the_rest(conn, sid, baselines, alerts, events)
            conn.execute("UPDATE sessions SET state = ?, ended_by = ? WHERE id = ?",
                         (session.get("state"), session.get("ended_by"), sid))
            if actor is not None:
                permit(conn, actor, "import", session.get("chair"), sid, detail)
    except BaseException:
        with contextlib.suppress(StoreError):  # else it stays hidden, and the next writer removes it
            remove(store, sid)
        raise
    return sid


def writer_mark() -> str:
    """Who is writing an importing session, kept in its ended_by until the last chunk."""
    return f"{_MARK}{socket.gethostname()}:{os.getpid()}"


_MARK = "importing:"


def remove_abandoned(store: Store) -> int:
    """Remove the sessions a killed writer on this machine left half-written (hidden, state
    `importing`, its process gone); returns how many. One on another machine is left alone."""
    removed = 0
    for row in store._query("SELECT id, ended_by FROM sessions WHERE state = ?", (sessions.IMPORTING,)):
        host, _, pid = (row["ended_by"] or "")[len(_MARK):].rpartition(":")
        if host == socket.gethostname() and pid.isdigit() and not process_alive(int(pid)):
            remove(store, row["id"])
            removed += 1
    return removed


def remove(store: Store, sid: int) -> None:
    """Delete a session in chunks, letting go of the lock between them, as it was written
    (an import that failed, a retention purge). Hidden first, so nothing shows it
    half-removed, and marked as this process's: if the process is killed part-way, the
    next writer's remove_abandoned finishes the job."""
    with store._transaction() as conn:
        conn.execute("UPDATE sessions SET state = ?, ended_by = ? WHERE id = ?",
                     (sessions.IMPORTING, writer_mark(), sid))
    while True:
        with store._transaction() as conn:
            gone = conn.execute("DELETE FROM readings WHERE id IN (SELECT id FROM readings WHERE session_id = ? "
                                "LIMIT ?)", (sid, _DELETE_ROWS)).rowcount
        if gone < _DELETE_ROWS:
            break
        time.sleep(YIELD_SECONDS)
    store.delete_session(sid)


_DELETE_ROWS = 20_000


def copy_session(source: Store, session_id: int, into: Store) -> int:
    """Copy one session, whole, from one store into another (a max-speed playback is run in a
    private staging store, then copied in chunks); returns its id in `into`."""
    s = queries.session(source, session_id)
    alerts = queries.alerts(source, session_id)
    keys = {a["id"]: a["key"] for a in alerts}
    found = queries.events(source, session_id)
    places = {e["id"]: f"event#{n}" for n, e in enumerate(found)}
    events = [{**e, "data": json.dumps(event_refs(alert_refs(e["data"], keys), places)) if e["data"] else None}
              for e in found]
    return insert_session(into, {c: s[c] for c in SESSION_COLS}, list(queries.baselines(source, session_id).values()),
                          _readings_of(source, session_id), alerts, events)


def _readings_of(store: Store, session_id: int) -> Iterator[tuple]:
    after = 0
    while True:
        rows = queries.readings_after(store, session_id, after, limit=5000)
        if not rows:
            return
        for r in rows:
            yield r["ts"], r["parameter"], r["value"], r["source"], r["status"], r["detail"]
        after = rows[-1]["id"]


def _insert_readings(store: Store, sid: int, readings: Iterable[tuple]) -> None:
    rows = iter(readings)
    while True:
        started, done = time.monotonic(), False
        with store._transaction() as conn:
            while time.monotonic() - started < CHUNK_SECONDS:
                batch = [(sid, *r) for _, r in zip(range(_ROWS_PER_CHECK), rows)]
                conn.executemany("INSERT INTO readings (session_id, ts, parameter, value, source, status, detail) "
                                 "VALUES (?, ?, ?, ?, ?, ?, ?)", batch)
                if len(batch) < _ROWS_PER_CHECK:
                    done = True
                    break
        if done:
            return
        time.sleep(YIELD_SECONDS)


def _insert_the_rest(conn, sid: int, baselines: list[dict], alerts: list[dict], events: list[dict]) -> None:
    conn.executemany("INSERT INTO baselines (session_id, parameter, value, source, ts, n) "
                     "VALUES (?, ?, ?, ?, ?, ?)",
                     [(sid, b["parameter"], b["value"], b["source"], b["ts"], b["n"]) for b in baselines])
    conn.executemany(f"INSERT INTO alerts (session_id, {', '.join(ALERT_COLS)}) "
                     f"VALUES (?, {', '.join('?' for _ in ALERT_COLS)})",
                     [(sid, *(a.get(c) for c in ALERT_COLS)) for a in alerts])
    ids = {r["key"]: r["id"] for r in conn.execute("SELECT id, key FROM alerts WHERE session_id = ?", (sid,))}
    conn.executemany("INSERT INTO events (session_id, ts, type, text, author, data) VALUES (?, ?, ?, ?, ?, ?)",
                     [(sid, e["ts"], e["type"], e["text"], e["author"], _with_alert_ids(e["data"], ids))
                      for e in events])
    # a correction names the entry it strikes by its place in the file; here it gets its id
    event_ids = [r["id"] for r in conn.execute("SELECT id FROM events WHERE session_id = ? ORDER BY id", (sid,))]
    places = {f"event#{n}": i for n, i in enumerate(event_ids)}
    for event_id, e in zip(event_ids, events):
        if e["data"] and '"strikes"' in e["data"]:
            conn.execute("UPDATE events SET data = ? WHERE id = ?",
                         (json.dumps(event_refs(json.loads(e["data"]), places)), event_id))


def _with_alert_ids(data: Optional[str], ids: dict) -> Optional[str]:
    """Event data names alarms by key in a file; here they get this database's ids."""
    if not data:
        return data
    mapped = alert_refs(json.loads(data), ids)
    return json.dumps(mapped) if mapped else None


def event_refs(data: dict, to: dict) -> dict:
    """Event data with its reference to another event (a correction's `strikes`) mapped through
    `to`: ids to positions in the file ("event#3") on export, positions to ids on import."""
    if not data or "strikes" not in data:
        return data
    return {**data, "strikes": to.get(data["strikes"], data["strikes"])}


def alert_refs(data: dict, to: dict) -> dict:
    """Event data with its references to alarms (an acknowledgement's alert_id, an end's
    unacknowledged list) mapped through `to`: ids to keys on export, keys to ids on import."""
    if not data or not ({"alert_id", "unacknowledged"} & set(data)):
        return data
    out = dict(data)
    if "alert_id" in out:
        out["alert_id"] = to.get(out["alert_id"], out["alert_id"])
    if isinstance(out.get("unacknowledged"), list):
        out["unacknowledged"] = [to.get(a, a) for a in out["unacknowledged"]]
    return out
