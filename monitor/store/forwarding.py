"""Store-and-forward: a site's database shipped, continuously and incrementally, to a central
one (`infusion-monitor forward --to URL --site NAME`; docs/ARCHITECTURE.md, "Forwarding").

Exactly once, by construction rather than by care:
- Every forwarded row is written at the central database by an upsert keyed by
  (site, its id at the site), so sending a row twice changes nothing.
- How far each of the site's streams has landed (`forward_cursors`, kept at the central
  database) is written in the same transaction as the rows it covers. A forwarder killed
  mid-batch, a dropped connection or a restarted server leaves the cursor where the last
  committed batch put it, and the next pass resends from there.
- The streams: readings and audit rows by id (they are only ever added); everything else
  (sessions, alarms, events, baselines, a struck reading) by the site's `forward_log`, in
  commit order, so an alarm's later acknowledgement or end and a session's later state go
  too. Ids follow commit order on both engines (one writer at a time), so an id cursor never
  passes a row committed later.

The site's database is only read: the bedside never waits for the network. What a site
removes is not removed centrally (its retention is its own), except a session that never
became visible (an aborted import or simulation, `importing` at both ends). A forwarded
session's chair is named "<site>-<chair>" at the central database, so chairs of two sites
never merge on its pages.
"""
from __future__ import annotations

import json
import time
from typing import Optional

from ..sessions import IMPORTING
from .db import Store
from .errors import StoreError
from .rows import marks

STREAMS = ("log", "readings", "audit")
# Small batches: each is one central transaction under its one-writer lock, which the central
# database's own acquisitions and pages wait for (a batch of 1000 readings: about 0.1 s).
LOG_BATCH = 100
ROWS_BATCH = 1000
SESSION_COLS = ("patient_ref", "chair", "protocol", "state", "started_at", "infusion_start", "infusion_end",
                "ended_at", "ended_by", "source")
ALERT_COLS = ("rule", "parameter", "kind", "priority", "started_at", "ended_at", "value", "limit_value", "message",
              "acknowledged_at", "acknowledged_by", "key", "escalated_at")
EVENT_COLS = ("ts", "type", "text", "author", "data")
READING_COLS = ("ts", "parameter", "value", "source", "status", "detail")
AUDIT_COLS = ("ts", "user", "role", "action", "outcome", "chair", "detail", "address")


def central_chair(site: str, chair: Optional[str]) -> Optional[str]:
    return None if chair is None else f"{site}-{chair}"[:64]


# ----------------------------------------------------------------- the site's side (read)
_TABLE_OF = {"readings": ("readings", "id"), "audit": ("audit", "id"), "log": ("forward_log", "seq")}


def site_heads(site: Store) -> dict[str, int]:
    """The last id each stream has handed out (not the largest left: rows removed since do not
    move it back, so a restored older copy of the database shows as behind). Readings and audit
    first: every row they hold belongs to a session already in the log up to the log's head
    read after them. An id handed out to a row not yet committed is not sent until it is."""
    heads = {}
    for stream in ("readings", "audit", "log"):
        table, column = _TABLE_OF[stream]
        if site.is_postgres:
            sql = (f"SELECT COALESCE(pg_sequence_last_value(pg_get_serial_sequence('{table}', '{column}')), 0) AS n")
        else:
            sql = f"SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = '{table}'), 0) AS n"
        heads[stream] = site._one(sql)["n"]
    return heads


def log_after(site: Store, after: int, upto: int) -> list[dict]:
    return site._query("SELECT seq, tbl, row_id FROM forward_log WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?",
                       (after, upto, LOG_BATCH))


def rows_by_id(site: Store, table: str, ids: list[int]) -> dict[int, dict]:
    out: dict[int, dict] = {}
    for i in range(0, len(ids), 500):
        part = ids[i:i + 500]
        for r in site._query(f"SELECT * FROM {table} WHERE id IN ({marks(part)})", part):
            out[r["id"]] = r
    return out


def baselines_of(site: Store, session_ids: list[int]) -> dict[int, list[dict]]:
    out: dict[int, list[dict]] = {sid: [] for sid in session_ids}
    for i in range(0, len(session_ids), 500):
        part = session_ids[i:i + 500]
        for r in site._query(f"SELECT * FROM baselines WHERE session_id IN ({marks(part)})", part):
            out[r["session_id"]].append(r)
    return out


def stream_after(site: Store, table: str, after: int, upto: int) -> list[dict]:
    """The next rows of a stream, in id order (ids follow commit order on both engines)."""
    return site._query(f"SELECT * FROM {table} WHERE id > ? AND id <= ? ORDER BY id LIMIT ?", (after, upto, ROWS_BATCH))


class ForwardRefused(StoreError):
    """Forwarding would skip or overwrite rows: the central database's rows of this site name
    come from another database, or from a later state of this one (a restored backup)."""


def claim_site(central: Store, site_name: str, identity: str) -> None:
    """The site name stands for one database (its identity, kept in the site's `secrets`):
    the first to forward under a name has it; another is refused."""
    with central._transaction() as conn:
        row = conn.execute("SELECT identity FROM forward_sites WHERE site = ?", (site_name,)).fetchone()
        if row is None:
            conn.execute("INSERT INTO forward_sites (site, identity, first_at) VALUES (?, ?, ?)",
                         (site_name, identity, time.time()))
        elif row["identity"] != identity:
            raise ForwardRefused(f"site {site_name} at {central.path} is another database's: give this one its "
                                 f"own --site name (two machines, or a database made anew, cannot share one)")


def check_not_behind(site_name: str, heads: dict[str, int], at: dict[str, int]) -> None:
    behind = [s for s in STREAMS if heads[s] < at[s]]
    if behind:
        raise ForwardRefused(
            f"site {site_name}: the central database already has {behind[0]} up to {at[behind[0]]}, this database "
            f"only to {heads[behind[0]]} (restored from a backup?): new rows would take ids already sent; "
            f"forward it under a new --site name")


# ----------------------------------------------------------------- the central side (write)
def cursors(central: Store, site: str) -> dict[str, int]:
    found = {r["stream"]: r["position"] for r in central._query(
        "SELECT stream, position FROM forward_cursors WHERE site = ?", (site,))}
    return {s: found.get(s, 0) for s in STREAMS}


def _set_cursor(conn, site: str, stream: str, position: int) -> None:
    conn.execute("INSERT INTO forward_cursors (site, stream, position, updated_at) VALUES (?, ?, ?, ?) "
                 "ON CONFLICT (site, stream) DO UPDATE SET position = excluded.position, "
                 "updated_at = excluded.updated_at", (site, stream, position, time.time()))


def _central_ids(conn, table: str, site: str, site_ids) -> dict[int, int]:
    ids = sorted({i for i in site_ids if i is not None})
    out: dict[int, int] = {}
    for i in range(0, len(ids), 500):
        part = ids[i:i + 500]
        for r in conn.execute(f"SELECT id, site_id FROM {table} WHERE site = ? AND site_id IN ({marks(part)})",
                              (site, *part)):
            out[r["site_id"]] = r["id"]
    return out


def _upsert(conn, table: str, cols: tuple, site: str, site_id: int, values: tuple) -> int:
    names = ("site", "site_id") + cols
    updates = ", ".join(f"{c} = excluded.{c}" for c in cols)
    return conn.execute(
        f"INSERT INTO {table} ({', '.join(names)}) VALUES ({marks(names)}) "
        f"ON CONFLICT (site, site_id) DO UPDATE SET {updates} RETURNING id",
        (site, site_id, *values)).fetchall()[0]["id"]


def _event_data(conn, site: str, data: Optional[str]) -> Optional[str]:
    """An event's references to alarms and events are the site's ids: here they become the central ones."""
    if not data or not any(k in data for k in ('"alert_id"', '"unacknowledged"', '"strikes"')):
        return data
    d = json.loads(data)
    alert_refs = [d["alert_id"]] if isinstance(d.get("alert_id"), int) else []
    if isinstance(d.get("unacknowledged"), list):
        alert_refs += [a for a in d["unacknowledged"] if isinstance(a, int)]
    alerts = _central_ids(conn, "alerts", site, alert_refs)
    if isinstance(d.get("alert_id"), int):
        d["alert_id"] = alerts.get(d["alert_id"], d["alert_id"])
    if isinstance(d.get("unacknowledged"), list):
        d["unacknowledged"] = [alerts.get(a, a) for a in d["unacknowledged"]]
    if isinstance(d.get("strikes"), int):
        d["strikes"] = _central_ids(conn, "events", site, [d["strikes"]]).get(d["strikes"], d["strikes"])
    return json.dumps(d)


def apply_log(central: Store, site_name: str, site: Store, entries: list[dict]) -> dict[str, int]:
    """The rows the log entries name, as they are at the site now, upserted at the central
    database with the log cursor, in one transaction. Returns rows written by table."""
    by_table: dict[str, list[int]] = {}
    for e in entries:
        by_table.setdefault(e["tbl"], []).append(e["row_id"])
    sessions = rows_by_id(site, "sessions", by_table.get("sessions", []))
    alerts = rows_by_id(site, "alerts", by_table.get("alerts", []))
    events = rows_by_id(site, "events", by_table.get("events", []))
    readings = rows_by_id(site, "readings", by_table.get("readings", []))
    baselines = baselines_of(site, sorted(set(by_table.get("baselines", []))))
    written = {"sessions": 0, "alerts": 0, "events": 0, "baselines": 0, "readings": 0}
    touched: set[int] = set()
    with central._transaction() as conn:
        session_ids = _central_ids(conn, "sessions", site_name, [*sessions, *(a["session_id"] for a in alerts.values()),
                                                                 *(e["session_id"] for e in events.values()),
                                                                 *baselines, *by_table.get("sessions_deleted", [])])
        for e in entries:  # in the site's commit order: an alarm before the acknowledgement naming it
            table, rid = e["tbl"], e["row_id"]
            if table == "sessions" and rid in sessions:
                s = sessions[rid]
                if s["state"] == IMPORTING and _central_state(conn, session_ids.get(rid)) not in (None, IMPORTING):
                    continue  # a session the site is removing (retention): the central copy stays as it was
                values = tuple(central_chair(site_name, s["chair"]) if c == "chair" else s[c] for c in SESSION_COLS)
                session_ids[rid] = _upsert(conn, "sessions", SESSION_COLS, site_name, rid, values)
                written["sessions"] += 1
            elif table == "alerts" and rid in alerts and alerts[rid]["session_id"] in session_ids:
                a = alerts[rid]
                _upsert(conn, "alerts", ("session_id",) + ALERT_COLS, site_name, rid,
                        (session_ids[a["session_id"]], *(a[c] for c in ALERT_COLS)))
                touched.add(session_ids[a["session_id"]])
                written["alerts"] += 1
            elif table == "events" and rid in events and events[rid]["session_id"] in session_ids:
                ev = events[rid]
                _upsert(conn, "events", ("session_id",) + EVENT_COLS, site_name, rid,
                        (session_ids[ev["session_id"]], *(_event_data(conn, site_name, ev[c]) if c == "data" else ev[c]
                                                           for c in EVENT_COLS)))
                written["events"] += 1
            elif table == "baselines" and rid in session_ids:
                central_sid = session_ids[rid]
                conn.execute("DELETE FROM baselines WHERE session_id = ?", (central_sid,))
                conn.executemany("INSERT INTO baselines (session_id, parameter, value, source, ts, n) "
                                 "VALUES (?, ?, ?, ?, ?, ?)",
                                 [(central_sid, b["parameter"], b["value"], b["source"], b["ts"], b["n"])
                                  for b in baselines.get(rid, [])])
                touched.add(central_sid)
                written["baselines"] += 1
            elif table == "readings" and rid in readings:  # a struck manual reading: its new status
                r = readings[rid]
                written["readings"] += conn.execute(
                    "UPDATE readings SET status = ?, detail = ? WHERE site = ? AND site_id = ?",
                    (r["status"], r["detail"], site_name, rid)).rowcount
            elif table == "sessions_deleted" and _central_state(conn, session_ids.get(rid)) == IMPORTING:
                central_sid = session_ids.pop(rid)  # an aborted import, never complete: gone here too
                for t in ("readings", "alerts", "events", "baselines", "session_summaries"):
                    conn.execute(f"DELETE FROM {t} WHERE session_id = ?", (central_sid,))
                conn.execute("DELETE FROM sessions WHERE id = ?", (central_sid,))
        _forget_summaries(conn, touched)
        _set_cursor(conn, site_name, "log", entries[-1]["seq"])
    return written


def apply_readings(central: Store, site_name: str, rows: list[dict]) -> int:
    """Readings (by id) at the central database with their cursor, in one transaction."""
    with central._transaction() as conn:
        sessions = _central_ids(conn, "sessions", site_name, [r["session_id"] for r in rows])
        # every reading's session is there (site_heads' order), unless the site removed it meanwhile
        # (an aborted import: its readings go first, so none is left to send)
        values = [(site_name, r["id"], sessions[r["session_id"]], *(r[c] for c in READING_COLS))
                  for r in rows if r["session_id"] in sessions]
        names = ("site", "site_id", "session_id") + READING_COLS
        for i in range(0, len(values), 100):
            part = values[i:i + 100]
            conn.execute(f"INSERT INTO readings ({', '.join(names)}) VALUES "
                         f"{', '.join(['(' + marks(names) + ')'] * len(part))} ON CONFLICT (site, site_id) DO NOTHING",
                         [v for row in part for v in row])
        _forget_summaries(conn, set(sessions.values()))
        _set_cursor(conn, site_name, "readings", rows[-1]["id"])
    return len(rows)


def apply_audit(central: Store, site_name: str, rows: list[dict]) -> int:
    """The site's audit rows, appended at the central database (its trail is append-only too)."""
    with central._transaction() as conn:
        sessions = _central_ids(conn, "sessions", site_name, [r["session_id"] for r in rows])
        names = ("site", "site_id", "session_id") + AUDIT_COLS
        conn.executemany(
            f"INSERT INTO audit ({', '.join(_quoted(n) for n in names)}) VALUES ({marks(names)}) "
            "ON CONFLICT (site, site_id) DO NOTHING",
            [(site_name, r["id"], sessions.get(r["session_id"]),
              *(central_chair(site_name, r[c]) if c == "chair" else r[c] for c in AUDIT_COLS)) for r in rows])
        _set_cursor(conn, site_name, "audit", rows[-1]["id"])
    return len(rows)


def _central_state(conn, central_sid: Optional[int]) -> Optional[str]:
    if central_sid is None:
        return None
    row = conn.execute("SELECT state FROM sessions WHERE id = ?", (central_sid,)).fetchone()
    return row["state"] if row else None


def _quoted(column: str) -> str:
    return '"user"' if column == "user" else column


def _forget_summaries(conn, central_session_ids: set[int]) -> None:
    """A cached review summary is stale once more of its session lands (store/summaries.py)."""
    ids = sorted(central_session_ids)
    for i in range(0, len(ids), 500):
        part = ids[i:i + 500]
        conn.execute(f"DELETE FROM session_summaries WHERE session_id IN ({marks(part)})", part)


def forward_heartbeats(central: Store, site_name: str, site: Store) -> None:
    """The site's acquisition heartbeats, under the chairs' central names: a central page tells a
    chair nobody is watching (or whose forwarding stopped) from a quiet one, as the site's does."""
    rows = site._query("SELECT * FROM heartbeats")
    if not rows:
        return
    cols = ("chair", "pid", "host", "started_at", "beat_at", "stopped_at", "problem", "problem_since")
    with central._transaction() as conn:
        conn.executemany(
            f"INSERT INTO heartbeats ({', '.join(cols)}) VALUES ({marks(cols)}) ON CONFLICT (chair) DO UPDATE SET "
            + ", ".join(f"{c} = excluded.{c}" for c in cols[1:]),
            [tuple(central_chair(site_name, r[c]) if c == "chair" else r[c] for c in cols) for r in rows])
