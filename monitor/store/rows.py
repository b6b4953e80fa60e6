"""The SQL that writes the store's rows inside a transaction the caller holds: a batch of
held readings and changes, an alarm's upsert, a correction's strike, the alarm board.
"""
from __future__ import annotations

import json

from .. import sessions
from ..model import MANUAL, Alert
from .conditions import ALARM_BOARD_SQL


def write_batch(conn, readings: list, changes: list) -> None:
    """Held rows (store/held.py): readings ("r", session id, Reading) and changes: alarms
    ("a", session id, Alert), baselines ("b", session id, Baseline), device states ("d", source, fields).

    Many rows go in each statement (ROWS_PER_STATEMENT): the driver lets other threads run
    at every statement step, and with a thread per device a step-per-row writer waited
    for them thousands of times a second (a thousand chairs' second took ten to write)."""
    rows = [(sid, r.ts, r.parameter, r.value, r.source, r.status, r.detail) for _, sid, r in readings]
    for part in _parts(rows):
        conn.execute("INSERT INTO readings (session_id, ts, parameter, value, source, status, detail) "
                     f"VALUES {', '.join(['(?, ?, ?, ?, ?, ?, ?)'] * len(part))}", [v for row in part for v in row])
    devices: dict[str, dict] = {}
    for kind, key, c in changes:
        if kind == "a":
            upsert_alert(conn, key, c)
        elif kind == "b":
            conn.execute(
                "INSERT INTO baselines (session_id, parameter, value, source, ts, n) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(session_id, parameter) DO UPDATE SET "
                "value = excluded.value, source = excluded.source, ts = excluded.ts, n = excluded.n",
                (key, c.parameter, c.value, c.source, c.ts, c.n))
        elif kind == "d":  # a device's states in order come to its last value of each field
            devices.setdefault(key, {}).update(c)
    _write_devices(conn, devices)
    # A cached review summary is stale once more of its session lands (summaries.py).
    touched = sorted({sid for _, sid, _ in readings} | {sid for kind, sid, _ in changes if kind != "d"})
    for part in _parts(touched):
        conn.execute(f"DELETE FROM session_summaries WHERE session_id IN ({marks(part)})", part)


# Rows in one statement: 7 values a reading, well under any SQLite's limit on a statement's values.
ROWS_PER_STATEMENT = 100


def _parts(rows: list) -> list[list]:
    return [rows[i:i + ROWS_PER_STATEMENT] for i in range(0, len(rows), ROWS_PER_STATEMENT)]


def _write_devices(conn, devices: dict[str, dict]) -> None:
    """Each device's latest fields, devices with the same fields in one statement."""
    by_fields: dict[tuple, list] = {}
    for source, fields in devices.items():
        by_fields.setdefault(tuple(sorted(fields)), []).append((source, *(fields[k] for k in sorted(fields))))
    for cols, rows in by_fields.items():
        one = f"(?, {marks(cols)})"
        updates = ", ".join(f"{k} = excluded.{k}" for k in cols)
        for part in _parts(rows):
            conn.execute(f"INSERT INTO devices (source, {', '.join(cols)}) VALUES {', '.join([one] * len(part))} "
                         f"ON CONFLICT(source) DO UPDATE SET {updates}", [v for row in part for v in row])


def standing_authors(conn, session_id: int, event_type: str) -> list[str]:
    """Who signed this session's entries of a type that no correction has struck, oldest first."""
    struck = {json.loads(r["data"] or "{}").get("strikes") for r in conn.execute(
        "SELECT data FROM events WHERE session_id = ? AND type = 'correction'", (session_id,))}
    return [r["author"] for r in conn.execute(
        "SELECT id, author FROM events WHERE session_id = ? AND type = ? ORDER BY ts, id", (session_id, event_type))
        if r["id"] not in struck]


def strike(conn, session_id: int, data: dict, author: str) -> str:
    """A correction's target, checked by the session rules; a struck manual BP stops counting
    as a value anywhere (flagged, its detail saying who struck it and why) but stays stored.
    Returns the action the struck entry was (its type; `discharge_override` for a discharge a
    clinician made against the criteria): striking it needs the role that may make it."""
    target_id = data.get("strikes")
    row = conn.execute("SELECT id, ts, type FROM events WHERE id = ? AND session_id = ?",
                       (target_id, session_id)).fetchone() if isinstance(target_id, int) else None
    done = any(json.loads(r["data"] or "{}").get("strikes") == target_id for r in conn.execute(
        "SELECT data FROM events WHERE session_id = ? AND type = 'correction'", (session_id,)))
    sessions.check_correction(dict(row) if row else None, done, data.get("reason", ""))
    if row["type"] == "manual_vitals":
        conn.execute("UPDATE readings SET status = 'artifact', detail = ? WHERE session_id = ? AND ts = ? "
                     "AND source = ?", (f"struck by {author}: {data['reason']}", session_id, row["ts"], MANUAL))
    if row["type"] == "discharge":
        struck_data = conn.execute("SELECT data FROM events WHERE id = ?", (target_id,)).fetchone()["data"]
        if json.loads(struck_data or "{}").get("override"):
            return "discharge_override"
    return row["type"]


def marks(values) -> str:
    return ", ".join("?" for _ in values)


def alarm_board(conn, session_id: int) -> list[dict]:
    return [dict(r) for r in conn.execute(ALARM_BOARD_SQL, (session_id,))]


def upsert_alert(conn, session_id: int, a: Alert) -> None:
    """An alarm's snapshot (the engine's change). An end and an escalation, once written, stay.
    The engine decides escalation (alerts/escalation.py) but hears of a signature only at the
    chair's next tick: an escalation at or after a signature already stored is not written."""
    conn.execute(
        "INSERT INTO alerts (session_id, key, rule, parameter, kind, priority, started_at, ended_at, "
        "value, limit_value, message, escalated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        # an alert once ended stays ended (a session's end closes them all before the engine hears of it)
        "ON CONFLICT(session_id, key) DO UPDATE SET ended_at = coalesce(alerts.ended_at, excluded.ended_at), "
        "value = excluded.value, limit_value = excluded.limit_value, message = excluded.message, "
        "escalated_at = coalesce(alerts.escalated_at, CASE WHEN alerts.acknowledged_at IS NULL "
        "OR alerts.acknowledged_at > excluded.escalated_at THEN excluded.escalated_at END)",
        (session_id, a.key, a.rule, a.parameter, a.kind, a.priority, a.started_at, a.ended_at,
         a.value, a.limit, a.message, a.escalated_at))
