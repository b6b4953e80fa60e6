"""Read-side queries shared by the CLI and the dashboard.

Each live-page query is bounded by an index and a cursor, so its cost does not
grow with session length.
"""
from __future__ import annotations

import json
from typing import Optional

from ..formatting import iso_utc, minutes_from_infusion
from .conditions import ALARM_BOARD_SQL, ESCALATED_SQL, LISTED, OPEN, VALID
from .db import Store

SESSION_COLS = ("id", "patient_ref", "chair", "state", "started_at", "infusion_start",
                "infusion_end", "ended_at", "protocol",  # protocol: the profile's name the session ran
                "site")  # site: the site a forwarded session came from (store/forwarding.py); None where recorded


def sessions(store: Store, limit: Optional[int] = None) -> list[dict]:
    sql = f"SELECT * FROM sessions WHERE {LISTED} ORDER BY started_at DESC, id DESC"
    if limit:
        sql += f" LIMIT {int(limit)}"
    return store._query(sql)


# The largest id the database can hold (a 64-bit signed integer): a bigger one names no row.
MAX_ID = 2**63 - 1


def session(store: Store, session_id: int) -> Optional[dict]:
    if isinstance(session_id, int) and not 0 < session_id <= MAX_ID:
        return None
    # a session still being written in chunks (transfer.py) does not exist yet for anyone
    return store._one(f"SELECT * FROM sessions WHERE id = ? AND {LISTED}", (session_id,))


def has_patient(store: Store, patient_ref: str) -> bool:
    """Is there any session of this patient (the /patient/<ref> page exists)?"""
    return store._one(f"SELECT 1 AS found FROM sessions WHERE patient_ref = ? AND {LISTED} LIMIT 1",
                      (patient_ref,)) is not None


def current_session(store: Store, chair: str) -> Optional[dict]:
    """The chair's open session, else its most recent one (two index lookups)."""
    return store._one(
        f"SELECT * FROM sessions WHERE chair = ? AND {OPEN} "
        "ORDER BY started_at DESC, id DESC LIMIT 1", (chair,)) or store._one(
        f"SELECT * FROM sessions WHERE chair = ? AND {LISTED} ORDER BY started_at DESC, id DESC LIMIT 1", (chair,))


def open_sessions(store: Store, chairs: list[str]) -> dict[str, dict]:
    """Each of these chairs' open session (the newest, as current_session picks it), by chair;
    a chair with none is left out. The acquisition's tick asks this for all its chairs once a
    second: one indexed lookup per chair inside the database, not two queries per chair."""
    found: dict[str, dict] = {}
    for i in range(0, len(chairs), _IN_LIST):
        part = chairs[i:i + _IN_LIST]
        for r in store._query(f"SELECT * FROM sessions WHERE chair IN ({', '.join('?' * len(part))}) AND {OPEN} "
                              "ORDER BY started_at, id", part):
            found[r["chair"]] = r  # the newest last
    return found


def newest_event_ids(store: Store, session_ids: list[int]) -> dict[int, int]:
    """The id of each session's newest event (sessions without events left out): the tick
    asks a session for its new events (`events`) only when this has moved."""
    found: dict[int, int] = {}
    for i in range(0, len(session_ids), _IN_LIST):
        part = session_ids[i:i + _IN_LIST]
        for r in store._query(f"SELECT session_id, max(id) AS top FROM events WHERE session_id IN "
                              f"({', '.join('?' * len(part))}) GROUP BY session_id", part):
            found[r["session_id"]] = r["top"]
    return found


# Values bound in one IN list: well under any SQLite's limit on a statement's parameters.
_IN_LIST = 500


def chairs(store: Store) -> list[str]:
    rows = store._query(f"SELECT DISTINCT chair FROM sessions WHERE {LISTED} UNION SELECT DISTINCT chair FROM devices "
                       "WHERE chair IS NOT NULL")
    return sorted({r["chair"] for r in rows if r["chair"] is not None}, key=_natural)


def sites(store: Store) -> list[str]:
    """The sites whose sessions were forwarded here (store/forwarding.py), by name."""
    return [r["site"] for r in store._query(
        f"SELECT DISTINCT site FROM sessions WHERE site IS NOT NULL AND {LISTED} ORDER BY site")]


def _natural(s: str):
    return (0, int(s), "") if s.isdigit() else (1, 0, s)


def readings_after(store: Store, session_id: int, after_id: int, limit: int = 5000) -> list[dict]:
    return store._query(
        "SELECT id, ts, parameter, value, status, source, detail FROM readings "
        # `+session_id` keeps SQLite on the rowid range: cost follows what is new, not session length
        "WHERE id > ? AND +session_id = ? ORDER BY id LIMIT ?", (after_id, session_id, limit))


def readings(store: Store, session_id: int, parameters: Optional[tuple] = None) -> list[dict]:
    sql = "SELECT id, ts, parameter, value, status, source, detail FROM readings WHERE session_id = ?"
    params: list = [session_id]
    if parameters:
        sql += f" AND parameter IN ({','.join('?' for _ in parameters)})"
        params += list(parameters)
    return store._query(sql + " ORDER BY ts, id", params)


def readings_between(store: Store, session_id: int, since: float, until: float, parameters: tuple,
                     max_id: Optional[int] = None) -> list[dict]:
    """A session's readings of these parameters with since <= ts < until (and id <= max_id), in time order."""
    marks = ",".join("?" for _ in parameters)
    upto, args = ("", ()) if max_id is None else (" AND id <= ?", (max_id,))
    return store._query(
        "SELECT id, ts, parameter, value, status, source, detail FROM readings "
        f"WHERE session_id = ? AND ts >= ? AND ts < ? AND parameter IN ({marks}){upto} ORDER BY ts, id",
        (session_id, since, until, *parameters, *args))


def readings_stored_after(store: Store, session_id: int, after_id: int, max_id: int, parameters: tuple,
                          before_ts: float) -> list[dict]:
    """A session's readings of these parameters stored with after_id < id <= max_id but timed
    before `before_ts`: stored late, after the time they belong to was dealt with."""
    marks = ",".join("?" for _ in parameters)
    return store._query(
        "SELECT id, ts, parameter, value, status, source, detail FROM readings "
        f"WHERE id > ? AND id <= ? AND +session_id = ? AND ts < ? AND parameter IN ({marks}) ORDER BY ts, id",
        (after_id, max_id, session_id, before_ts, *parameters))


def latest(store: Store, session_id: int, parameter: str) -> Optional[dict]:
    return store._one(
        "SELECT id, ts, value, status FROM readings WHERE session_id = ? AND parameter = ? "
        "ORDER BY ts DESC LIMIT 1", (session_id, parameter))


def latest_valid(store: Store, session_id: int, parameter: str) -> Optional[dict]:
    """The newest valid value of a parameter (e.g. the last good BP), or None."""
    return store._one(
        f"SELECT ts, value, source, detail FROM readings WHERE session_id = ? AND parameter = ? AND {VALID} "
        "ORDER BY ts DESC LIMIT 1", (session_id, parameter))


def latest_with_status(store: Store, session_id: int, parameter: str, status: str) -> Optional[dict]:
    """The newest reading of a parameter with one status (e.g. the last cuff error), or None."""
    return store._one(
        "SELECT ts, value, detail FROM readings WHERE session_id = ? AND parameter = ? AND status = ? "
        "ORDER BY ts DESC LIMIT 1", (session_id, parameter, status))


def newest_reading_ts(store: Store, session_id: int, parameter: Optional[str] = None,
                      valid_only: bool = False, except_source: Optional[str] = None) -> Optional[float]:
    """When the session (or one parameter of it) last had a reading; None before the first."""
    sql, params = "SELECT max(ts) AS t FROM readings WHERE session_id = ?", [session_id]
    if except_source is not None:
        sql += " AND (source IS NULL OR source <> ?)"
        params.append(except_source)
    if parameter is not None:
        sql += " AND parameter = ?"
        params.append(parameter)
    if valid_only:
        sql += f" AND {VALID}"
    return store._one(sql, params)["t"]


def valid_readings_since(store: Store, session_id: int, since: float, parameters: tuple,
                         except_source: Optional[str] = None) -> list[dict]:
    """Valid values of some parameters from `since` on, oldest first (to rebuild a baseline)."""
    sql = (f"SELECT ts, parameter, value FROM readings WHERE session_id = ? AND ts >= ? AND {VALID} "
           f"AND parameter IN ({', '.join('?' for _ in parameters)})")
    params = [session_id, since, *parameters]
    if except_source is not None:
        sql += " AND (source IS NULL OR source <> ?)"
        params.append(except_source)
    return store._query(sql + " ORDER BY ts", params)


def max_reading_id(store: Store, session_id: int) -> int:
    row = store._one("SELECT max(id) AS m FROM readings WHERE session_id = ?", (session_id,))
    return row["m"] or 0


def alerts(store: Store, session_id: int) -> list[dict]:
    return store._query("SELECT * FROM alerts WHERE session_id = ? ORDER BY started_at, id", (session_id,))


def alarm_board(store: Store, session_id: int) -> list[dict]:
    """What the bedside must show: active alerts, and ended high ones not yet acknowledged."""
    return store._query(ALARM_BOARD_SQL, (session_id,))


def escalated_alarms(store: Store) -> list[dict]:
    """Every open session's escalated alarms nobody has signed for, on its board, oldest
    escalation first, each with its chair: what every page's escalation banner shows."""
    return store._query(ESCALATED_SQL)


def max_alert_id(store: Store, session_id: int) -> int:
    row = store._one("SELECT max(id) AS m FROM alerts WHERE session_id = ?", (session_id,))
    return row["m"] or 0


def last_charted(store: Store, session_id: int, event_type: str, key: str):
    """The newest value charted for `key` in events of one type (e.g. oxygen on manual vitals), or None."""
    for row in store._query("SELECT data FROM events WHERE session_id = ? AND type = ? AND data IS NOT NULL "
                            "ORDER BY ts DESC, id DESC", (session_id, event_type)):
        data = json.loads(row["data"])
        if key in data:
            return data[key]
    return None


def events(store: Store, session_id: int, after_id: int = 0) -> list[dict]:
    rows = store._query("SELECT * FROM events WHERE session_id = ? AND id > ? ORDER BY ts, id",
                       (session_id, after_id))
    for r in rows:
        r["data"] = json.loads(r["data"]) if r.get("data") else {}
    return rows


def baselines(store: Store, session_id: int) -> dict:
    return {r["parameter"]: r for r in store._query(
        "SELECT * FROM baselines WHERE session_id = ?", (session_id,))}


def devices(store: Store, chair: Optional[str] = None) -> list[dict]:
    if chair is None:
        return store._query("SELECT * FROM devices ORDER BY chair, source")
    return store._query("SELECT * FROM devices WHERE chair = ? ORDER BY source", (chair,))


def heartbeat(store: Store, chair: str) -> Optional[dict]:
    """The newest heartbeat of the acquisition watching a chair (Store.heartbeat), or None."""
    return store._one("SELECT * FROM heartbeats WHERE chair = ?", (chair,))


def heartbeats(store: Store) -> dict[str, dict]:
    """Every chair's newest acquisition heartbeat, by chair (for the overview: one query)."""
    return {r["chair"]: r for r in store._query("SELECT * FROM heartbeats")}


def session_json(row: dict) -> dict:
    return {k: (iso_utc(row.get(k)) if k.endswith(("_at", "_start", "_end")) else row.get(k)) for k in SESSION_COLS}


def alert_json(row: dict, infusion_start: Optional[float]) -> dict:
    return {
        "id": row["id"], "session_id": row["session_id"], "rule": row["rule"],
        "parameter": row["parameter"], "kind": row["kind"], "priority": row["priority"],
        "started_at": iso_utc(row["started_at"]), "ended_at": iso_utc(row["ended_at"]),
        "started_min": minutes_from_infusion(row["started_at"], infusion_start),
        "ended_min": minutes_from_infusion(row["ended_at"], infusion_start),
        "value": row["value"], "limit": row["limit_value"], "message": row["message"],
        "acknowledged_at": iso_utc(row["acknowledged_at"]), "acknowledged_by": row["acknowledged_by"],
        "escalated_at": iso_utc(row.get("escalated_at")),
    }


# ----------------------------------------------------------------- alarm burden (monitor/alarm_burden.py)
def sessions_since(store: Store, since: Optional[float] = None) -> list[dict]:
    """Sessions started at or after `since` (all when None), each with `last_ts`: the newest
    reading's time, which bounds how long a session still open has been monitored."""
    where, args = (LISTED, ()) if since is None else (f"{LISTED} AND started_at >= ?", (since,))
    return store._query(
        "SELECT *, (SELECT MAX(ts) FROM readings WHERE readings.session_id = sessions.id) AS last_ts "
        f"FROM sessions WHERE {where} ORDER BY started_at, id", args)


def sessions_to_send(store: Store, ended_since: float) -> list[dict]:
    """What a results destination still watches (monitor/integrations/results.py): every listed
    session open now or ended at or after `ended_since`, each with `last_ts`, its newest reading's time."""
    return store._query(
        "SELECT *, (SELECT MAX(ts) FROM readings WHERE readings.session_id = sessions.id) AS last_ts "
        f"FROM sessions WHERE {LISTED} AND ({OPEN} OR ended_at >= ?) ORDER BY started_at, id", (ended_since,))


def alerts_of_sessions(store: Store, session_ids: list[int]) -> list[dict]:
    """Every alert of these sessions, in start order (chunked: SQLite caps the parameters)."""
    out: list[dict] = []
    for i in range(0, len(session_ids), 500):
        chunk = session_ids[i:i + 500]
        out += store._query(f"SELECT * FROM alerts WHERE session_id IN ({', '.join('?' * len(chunk))}) "
                            "ORDER BY started_at, id", tuple(chunk))
    return out
