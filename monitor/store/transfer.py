"""Writing a whole session at once (the CSV import): one transaction, all or nothing."""
from __future__ import annotations

import json
from typing import Optional

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
        sid = conn.execute(f"INSERT INTO sessions ({', '.join(SESSION_COLS)}) "
                           f"VALUES ({', '.join('?' for _ in SESSION_COLS)}) RETURNING id",
                           tuple(session.get(c) for c in SESSION_COLS)).fetchall()[0]["id"]
        conn.executemany("INSERT INTO baselines (session_id, parameter, value, source, ts, n) "
                         "VALUES (?, ?, ?, ?, ?, ?)",
                         [(sid, b["parameter"], b["value"], b["source"], b["ts"], b["n"]) for b in baselines])
        conn.executemany("INSERT INTO readings (session_id, ts, parameter, value, source, status, detail) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?)", [(sid, *r) for r in readings])
        conn.executemany(f"INSERT INTO alerts (session_id, {', '.join(ALERT_COLS)}) "
                         f"VALUES (?, {', '.join('?' for _ in ALERT_COLS)})",
                         [(sid, *(a[c] for c in ALERT_COLS)) for a in alerts])
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
    return sid


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
