"""Writing a whole session at once (the CSV import): one transaction, all or nothing."""
from __future__ import annotations

from .db import Store

SESSION_COLS = ("patient_ref", "chair", "protocol", "state", "started_at", "infusion_start", "infusion_end",
                "ended_at", "ended_by", "source")
ALERT_COLS = ("key", "rule", "parameter", "kind", "priority", "started_at", "ended_at", "value", "limit_value",
              "message", "acknowledged_at", "acknowledged_by")


def insert_session(store: Store, session: dict, baselines: list[dict], readings: list[tuple],
                   alerts: list[dict], events: list[dict]) -> int:
    """Insert a session and its rows in one transaction; returns the new session id.

    readings: (ts, parameter, value, source, status, detail) in the order to keep.
    A failure part-way rolls everything back, so a broken import leaves nothing.
    """
    store.flush()  # the writer's queue goes first, so ids stay in arrival order
    with store._transaction() as conn:
        cur = conn.execute(f"INSERT INTO sessions ({', '.join(SESSION_COLS)}) "
                           f"VALUES ({', '.join('?' for _ in SESSION_COLS)})",
                           tuple(session.get(c) for c in SESSION_COLS))
        sid = cur.lastrowid
        conn.executemany("INSERT INTO baselines (session_id, parameter, value, source, ts, n) "
                         "VALUES (?, ?, ?, ?, ?, ?)",
                         [(sid, b["parameter"], b["value"], b["source"], b["ts"], b["n"]) for b in baselines])
        conn.executemany("INSERT INTO readings (session_id, ts, parameter, value, source, status, detail) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?)", [(sid, *r) for r in readings])
        conn.executemany(f"INSERT INTO alerts (session_id, {', '.join(ALERT_COLS)}) "
                         f"VALUES (?, {', '.join('?' for _ in ALERT_COLS)})",
                         [(sid, *(a[c] for c in ALERT_COLS)) for a in alerts])
        conn.executemany("INSERT INTO events (session_id, ts, type, text, author, data) VALUES (?, ?, ?, ?, ?, ?)",
                         [(sid, e["ts"], e["type"], e["text"], e["author"], e["data"]) for e in events])
    return sid
