"""Alarm burden: how often each rule alarms, for how long, and whether anyone acted.

Why a clinic needs it: most alarm signals need no clinical intervention (85-99 %, The Joint
Commission, Sentinel Event Alert 50, 2013), and alarms nobody acts on teach a room to stop
listening. A clinic can tune its profile (a limit, a sustain time) only if it sees which
rules fire, how often per monitored hour, and how many ended by themselves within seconds.

Pure: sessions and alerts as the store returns them (dicts) in, plain numbers out; the
`alarms-report` command and the `/alarms` page render what `burden` returns. The rules for
what counts are here and nowhere else (docs/ARCHITECTURE.md, "Alarm burden"):
- a session's monitored time runs from its start to its end; one still open to its newest
  reading or alarm (never to the clock: a report must not grow while nothing is recorded);
- an alarm still active counts as in alarm until that same end;
- acknowledged means acknowledged at all; time to acknowledge is from its start;
- "ended within SHORT_S without action": over within SHORT_S seconds and not acknowledged
  before it ended. These are the candidates for a sustain time or a limit change.
- escalated: nobody signed for it within the profile's time (`alerts.escalated_at`, decided by
  alerts/escalation.py); per priority how many, how many were then acknowledged and the median
  time from the start to that signature, and each one with who finally signed for it. Alarms
  that escalate are the room's blind spots: a chair out of sight, a shift short of hands.
"""
from __future__ import annotations

from typing import Optional

import pandas as pd

from .model import PRIORITIES

SHORT_S = 30.0  # an alarm over within this long, unacknowledged: self-limiting


def _monitored(sessions: pd.DataFrame, newest_alarm: pd.Series) -> pd.Series:
    """Each session's end of monitoring: ended_at; else the later of its newest reading and
    its newest alarm (an alarm about the data stopping starts after the last reading); else
    its start."""
    still_open = pd.concat([sessions["last_ts"], sessions["id"].map(newest_alarm)], axis=1).max(axis=1)
    end = sessions["ended_at"].fillna(still_open).fillna(sessions["started_at"])
    return end.where(end >= sessions["started_at"], sessions["started_at"])


def burden(sessions: list[dict], alerts: list[dict], short_s: float = SHORT_S) -> dict:
    """The alarm burden of these sessions (sessions_since rows) and their alerts: totals,
    one row per (rule, kind, priority) and one per session, busiest first."""
    s = pd.DataFrame(sessions, columns=["id", "patient_ref", "chair", "protocol", "started_at", "ended_at",
                                        "last_ts"])
    s = s.astype({"started_at": float, "ended_at": float, "last_ts": float})
    a = pd.DataFrame(alerts, columns=["id", "session_id", "rule", "kind", "priority", "started_at", "ended_at",
                                      "acknowledged_at", "acknowledged_by", "escalated_at"])
    a = a[a["session_id"].isin(s["id"])].astype({"started_at": float, "ended_at": float, "acknowledged_at": float,
                                                 "escalated_at": float})
    # a row imported with a blank rule, kind or priority is still an alarm: counted, under "?"
    a[["rule", "kind", "priority"]] = a[["rule", "kind", "priority"]].fillna("?").replace("", "?")
    s["end"] = _monitored(s, a.groupby("session_id")["started_at"].max())
    s["monitored_s"] = s["end"] - s["started_at"]
    hours = float(s["monitored_s"].sum()) / 3600.0
    session_end = a["session_id"].map(s.set_index("id")["end"])
    a["until"] = a["ended_at"].fillna(session_end).clip(lower=a["started_at"])
    a["in_alarm_s"] = a["until"] - a["started_at"]
    a["acked"] = a["acknowledged_at"].notna()
    a["to_ack_s"] = (a["acknowledged_at"] - a["started_at"]).clip(lower=0)
    acted_before_end = a["acked"] & (a["ended_at"].isna() | (a["acknowledged_at"] <= a["ended_at"]))
    a["short_unacted"] = a["ended_at"].notna() & ((a["ended_at"] - a["started_at"]) < short_s) & ~acted_before_end

    def per_hour(n: int) -> Optional[float]:
        return round(n / hours, 2) if hours > 0 else None

    by_rule = []
    for (rule, kind, priority), g in a.groupby(["rule", "kind", "priority"], sort=False):
        n = len(g)
        by_rule.append({
            "rule": rule, "kind": kind, "priority": priority, "alarms": n, "per_hour": per_hour(n),
            "time_in_alarm_s": round(float(g["in_alarm_s"].sum()), 1),
            "acknowledged": int(g["acked"].sum()), "acknowledged_share": round(float(g["acked"].mean()), 3),
            "median_to_ack_s": _median(g.loc[g["acked"], "to_ack_s"]),
            "ended_within_short_unacknowledged": int(g["short_unacted"].sum()),
            "escalated": int(g["escalated_at"].notna().sum()),
        })
    by_rule.sort(key=lambda r: (-r["alarms"], r["rule"], r["priority"]))
    counts = a.groupby("session_id").agg(alarms=("id", "size"), in_alarm_s=("in_alarm_s", "sum"),
                                         escalated=("escalated_at", "count"))
    by_session = []
    for row in s.itertuples(index=False):
        n = int(counts["alarms"].get(row.id, 0))
        h = row.monitored_s / 3600.0
        by_session.append({
            "session_id": int(row.id), "patient_ref": row.patient_ref, "chair": row.chair, "protocol": row.protocol,
            "started_at": row.started_at, "monitored_h": round(h, 2), "alarms": n,
            "per_hour": round(n / h, 2) if h > 0 else None,
            "time_in_alarm_s": round(float(counts["in_alarm_s"].get(row.id, 0.0)), 1),
            "escalated": int(counts["escalated"].get(row.id, 0))})
    by_session.sort(key=lambda r: (-(r["per_hour"] or 0), -r["alarms"], r["session_id"]))
    return {
        "sessions": len(s), "monitored_h": round(hours, 2), "alarms": len(a), "per_hour": per_hour(len(a)),
        "time_in_alarm_s": round(float(a["in_alarm_s"].sum()), 1),
        "acknowledged_share": round(float(a["acked"].mean()), 3) if len(a) else None,
        "median_to_ack_s": _median(a.loc[a["acked"], "to_ack_s"]),
        "ended_within_short_unacknowledged": int(a["short_unacted"].sum()), "short_s": short_s,
        "by_rule": by_rule, "by_session": by_session,
        **_escalations(a, s),
    }


def _escalations(a: pd.DataFrame, s: pd.DataFrame) -> dict:
    """The alarms nobody signed for in time: how many per priority (most urgent first), how many of
    them were acknowledged afterwards and how long after their start (median), and each one with
    who finally signed for it."""
    e = a[a["escalated_at"].notna()]
    by_priority = []
    for p in [*PRIORITIES, *sorted(set(e["priority"]) - set(PRIORITIES))]:
        g = e[e["priority"] == p]
        if len(g):
            by_priority.append({"priority": p, "escalated": len(g), "acknowledged": int(g["acked"].sum()),
                                "median_to_ack_s": _median(g.loc[g["acked"], "to_ack_s"])})
    chairs = s.set_index("id")["chair"]
    each = [{"alert_id": int(x.id), "session_id": int(x.session_id), "chair": chairs.get(x.session_id),
             "rule": x.rule, "priority": x.priority, "started_at": x.started_at,
             "escalated_after_s": round(x.escalated_at - x.started_at, 1),
             "acknowledged_by": x.acknowledged_by if x.acked else None,
             "to_ack_s": round(float(x.to_ack_s), 1) if x.acked else None}
            for x in e.sort_values(["started_at", "id"]).itertuples(index=False)]
    return {"escalated": len(e), "escalated_acknowledged": int(e["acked"].sum()),
            "escalated_median_to_ack_s": _median(e.loc[e["acked"], "to_ack_s"]),
            "escalated_by_priority": by_priority, "escalations": each}


def _median(values: pd.Series) -> Optional[float]:
    return round(float(values.median()), 1) if len(values) else None
