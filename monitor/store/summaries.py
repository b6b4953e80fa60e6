"""Per-session review summaries: baseline BP, peaks and when, lowest SpO2, alarm counts.

Where summaries are made, and why there:
- Not in `Store.record_event(session_end)`: at that moment the batched writer still
  holds up to a second of readings and the engine's closing alert updates, so a
  summary taken there would miss them; imported sessions and databases from before
  this table never pass through it either.
- Instead the review layer asks for a summary when it shows a session. An ended
  session's summary is computed and stored inside one write transaction, so no
  batch can land between reading the rows and saving the result; `Store.flush`
  deletes a session's summary whenever more of its rows arrive, so a late batch
  can never leave a stale one behind. Open sessions are computed on the fly and
  never stored. Each summary costs a handful of indexed queries over one session.

The session list filters on indexed `sessions` columns (and an indexed EXISTS on
alerts for "had a high-priority alarm"), pages, and only then fills summaries
for the rows on the page, so its cost does not grow with the number of sessions.
"""
from __future__ import annotations

import time
from typing import Iterable, Optional

from ..model import PRIORITIES, TOP_PRIORITY
from .db import Store
from .conditions import LISTED, VALID

SUMMARY_COLS = ("last_reading_at", "baseline_sbp", "baseline_dbp", "baseline_hr", "baseline_spo2",
                "peak_sbp", "peak_sbp_at", "peak_dbp", "peak_dbp_at", "peak_hr", "peak_hr_at",
                "min_spo2", "min_spo2_at", "nibp_count",
                "alarms_high", "alarms_medium", "alarms_low", "alarms_technical")
# (summary column, parameter, aggregate): the extremes a clinician looks for first.
EXTREMES = (("peak_sbp", "sbp", "max"), ("peak_dbp", "dbp", "max"),
            ("peak_hr", "hr", "max"), ("min_spo2", "spo2", "min"))
HIGH_ALARM = ("EXISTS (SELECT 1 FROM alerts a WHERE a.session_id = s.id AND a.kind = 'physiological' "
              f"AND a.priority = '{TOP_PRIORITY}')")


def _compute(conn, session_id: int) -> dict:
    """One session's summary from indexed lookups (readings by session+parameter)."""
    out: dict = dict.fromkeys(SUMMARY_COLS)
    out["last_reading_at"] = conn.execute(
        "SELECT max(ts) FROM readings WHERE session_id = ?", (session_id,)).fetchone()[0]
    for row in conn.execute("SELECT parameter, value FROM baselines WHERE session_id = ?", (session_id,)):
        if f"baseline_{row[0]}" in out:
            out[f"baseline_{row[0]}"] = row[1]
    for col, parameter, agg in EXTREMES:
        value, n = conn.execute(
            f"SELECT {agg}(value), count(*) FROM readings WHERE session_id = ? AND parameter = ? AND {VALID}",
            (session_id, parameter)).fetchone()
        if value is not None:
            out[col] = value
            out[f"{col}_at"] = conn.execute(  # the first time the extreme was reached
                f"SELECT min(ts) FROM readings WHERE session_id = ? AND parameter = ? AND value = ? AND {VALID}",
                (session_id, parameter, value)).fetchone()[0]
        if parameter == "sbp":
            out["nibp_count"] = n
    counts = {(k, p): n for k, p, n in conn.execute(
        "SELECT kind, priority, count(*) FROM alerts WHERE session_id = ? GROUP BY kind, priority",
        (session_id,))}
    for p in PRIORITIES:
        out[f"alarms_{p}"] = counts.get(("physiological", p), 0)
    out["alarms_technical"] = sum(n for (k, _), n in counts.items() if k == "technical")
    return out


def _store_summary(store: Store, session_id: int) -> Optional[dict]:
    """Compute and save an ended session's summary in one write transaction."""
    with store._transaction() as conn:
        state = conn.execute("SELECT state FROM sessions WHERE id = ?", (session_id,)).fetchone()
        if state is None:
            return None
        out = _compute(conn, session_id)
        if state[0] == "ended":
            cols = ("session_id", "computed_at") + SUMMARY_COLS
            conn.execute(f"INSERT INTO session_summaries ({', '.join(cols)}) "
                         f"VALUES ({', '.join('?' for _ in cols)}) ON CONFLICT(session_id) DO UPDATE SET "
                         + ", ".join(f"{c} = excluded.{c}" for c in cols[1:]),
                         (session_id, time.time(), *(out[c] for c in SUMMARY_COLS)))
        return out


def fill(store: Store, rows: list[dict]) -> list[dict]:
    """Give each session row (sessions LEFT JOIN session_summaries) its summary fields.

    Ended sessions without a stored summary get one stored; open sessions are
    computed on the fly. Adds duration_s and infusion_s.
    """
    for row in rows:
        if row.get("computed_at") is None:
            if row["state"] == "ended" and not store.readonly:
                fresh = _store_summary(store, row["id"])
            else:
                with store._reading() as conn:
                    fresh = _compute(conn, row["id"])
            row.update(fresh or {})
        _durations(row)
    return rows


def _durations(row: dict) -> None:
    end = row["ended_at"] if row["ended_at"] is not None else row.get("last_reading_at")
    row["duration_s"] = None if end is None or row["started_at"] is None else max(0.0, end - row["started_at"])
    if row["infusion_start"] is not None:
        stop = row["infusion_end"] if row["infusion_end"] is not None else end
        row["infusion_s"] = None if stop is None else max(0.0, stop - row["infusion_start"])
    else:
        row["infusion_s"] = None


_SELECT = ("SELECT s.*, " + ", ".join(f"m.{c}" for c in ("computed_at",) + SUMMARY_COLS)
           + " FROM sessions s LEFT JOIN session_summaries m ON m.session_id = s.id")


def summary(store: Store, session_id: int) -> Optional[dict]:
    """A session row with its summary fields, or None for an unknown id."""
    rows = store._query(_SELECT + f" WHERE s.id = ? AND s.{LISTED}", (session_id,))
    return fill(store, rows)[0] if rows else None


def _where(patient: Optional[str], chair: Optional[str], start: Optional[float], end: Optional[float],
           high_only: bool, site: Optional[str] = None) -> tuple[str, list]:
    clauses, params = [f"s.{LISTED}"], []
    if site:
        clauses.append("s.site = ?")
        params.append(site)
    if patient:
        escaped = patient.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        clauses.append("lower(s.patient_ref) LIKE lower(?) ESCAPE '\\'")  # any case, on both engines
        params.append(f"%{escaped}%")
    if chair:
        clauses.append("s.chair = ?")
        params.append(chair)
    if start is not None:
        clauses.append("s.started_at >= ?")
        params.append(start)
    if end is not None:
        clauses.append("s.started_at < ?")
        params.append(end)
    if high_only:
        clauses.append(HIGH_ALARM)
    return " WHERE " + " AND ".join(clauses), params


def list_sessions(store: Store, patient: Optional[str] = None, chair: Optional[str] = None,
                  start: Optional[float] = None, end: Optional[float] = None, high_only: bool = False,
                  limit: int = 50, offset: int = 0, site: Optional[str] = None) -> tuple[list[dict], int]:
    """One page of sessions, newest first, with summaries; and how many match in all.

    patient: case-insensitive substring of the patient ref; chair: exact; start/end:
    epoch seconds bounding started_at (end exclusive); high_only: sessions with a
    physiological high-priority alarm; site: only sessions forwarded from that site
    (store/forwarding.py).
    """
    where, params = _where(patient, chair, start, end, high_only, site)
    total = store._one(f"SELECT count(*) AS n FROM sessions s{where}", params)["n"]
    rows = store._query(f"{_SELECT}{where} ORDER BY s.started_at DESC, s.id DESC LIMIT ? OFFSET ?",
                       (*params, int(limit), int(offset)))
    return fill(store, rows), total


def patient_sessions(store: Store, patient_ref: str) -> list[dict]:
    """All of one patient's sessions, oldest first (a course reads left to right)."""
    rows = store._query(f"{_SELECT} WHERE s.patient_ref = ? AND s.{LISTED} ORDER BY s.started_at, s.id", (patient_ref,))
    return fill(store, rows)


def bp_series(store: Store, session_ids: Iterable[int]) -> dict[int, list[dict]]:
    """Valid SBP/DBP measurements per session, in time order, for overlaying courses."""
    ids = list(session_ids)
    out: dict[int, list[dict]] = {sid: [] for sid in ids}
    if not ids:
        return out
    marks = ", ".join("?" for _ in ids)
    for r in store._query(
            f"SELECT session_id, ts, parameter, value FROM readings WHERE session_id IN ({marks}) "
            f"AND parameter IN ('sbp', 'dbp') AND {VALID} ORDER BY session_id, ts, id", ids):
        out[r["session_id"]].append(r)
    return out
