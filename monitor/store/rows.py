"""The SQL that writes the store's rows inside a transaction the caller holds: a batch of
held readings and changes, an alarm's upsert, a correction's strike, the alarm board.
"""
from __future__ import annotations

import json
import sqlite3

from .. import sessions
from ..model import MANUAL, Alert
from .conditions import ALARM_BOARD_SQL


def write_batch(conn: sqlite3.Connection, readings: list, changes: list) -> None:
    """Held rows (store/held.py): readings ("r", session id, Reading) and changes: alarms
    ("a", session id, Alert), baselines ("b", session id, Baseline), device states ("d", source, fields)."""
    conn.executemany(
        "INSERT INTO readings (session_id, ts, parameter, value, source, status, detail) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(sid, r.ts, r.parameter, r.value, r.source, r.status, r.detail) for _, sid, r in readings])
    for kind, key, c in changes:
        if kind == "a":
            upsert_alert(conn, key, c)
        elif kind == "b":
            conn.execute(
                "INSERT INTO baselines (session_id, parameter, value, source, ts, n) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(session_id, parameter) DO UPDATE SET "
                "value = excluded.value, source = excluded.source, ts = excluded.ts, n = excluded.n",
                (key, c.parameter, c.value, c.source, c.ts, c.n))
        elif kind == "d":
            cols = ", ".join(c)
            updates = ", ".join(f"{k} = excluded.{k}" for k in c)
            conn.execute(f"INSERT INTO devices (source, {cols}) VALUES (?, {marks(c)}) "
                         f"ON CONFLICT(source) DO UPDATE SET {updates}", (key, *c.values()))
    # A cached review summary is stale once more of its session lands (summaries.py).
    touched = {sid for _, sid, _ in readings} | {sid for kind, sid, _ in changes if kind != "d"}
    conn.executemany("DELETE FROM session_summaries WHERE session_id = ?", [(sid,) for sid in touched])


def strike(conn: sqlite3.Connection, session_id: int, data: dict, author: str) -> str:
    """A correction's target, checked by the session rules; a struck manual BP stops counting
    as a value anywhere (flagged, its detail saying who struck it and why) but stays stored.
    Returns the struck entry's type (striking it needs the role that may make it)."""
    target_id = data.get("strikes")
    row = conn.execute("SELECT id, ts, type FROM events WHERE id = ? AND session_id = ?",
                       (target_id, session_id)).fetchone() if isinstance(target_id, int) else None
    done = any(json.loads(r["data"] or "{}").get("strikes") == target_id for r in conn.execute(
        "SELECT data FROM events WHERE session_id = ? AND type = 'correction'", (session_id,)))
    sessions.check_correction(dict(row) if row else None, done, data.get("reason", ""))
    if row["type"] == "manual_vitals":
        conn.execute("UPDATE readings SET status = 'artifact', detail = ? WHERE session_id = ? AND ts = ? "
                     "AND source = ?", (f"struck by {author}: {data['reason']}", session_id, row["ts"], MANUAL))
    return row["type"]


def marks(values) -> str:
    return ", ".join("?" for _ in values)


def alarm_board(conn: sqlite3.Connection, session_id: int) -> list[dict]:
    return [dict(r) for r in conn.execute(ALARM_BOARD_SQL, (session_id,))]


def upsert_alert(conn: sqlite3.Connection, session_id: int, a: Alert) -> None:
    conn.execute(
        "INSERT INTO alerts (session_id, key, rule, parameter, kind, priority, started_at, ended_at, "
        "value, limit_value, message) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        # an alert once ended stays ended (a session's end closes them all before the engine hears of it)
        "ON CONFLICT(session_id, key) DO UPDATE SET ended_at = coalesce(alerts.ended_at, excluded.ended_at), "
        "value = excluded.value, limit_value = excluded.limit_value, message = excluded.message",
        (session_id, a.key, a.rule, a.parameter, a.kind, a.priority, a.started_at, a.ended_at,
         a.value, a.limit, a.message))
