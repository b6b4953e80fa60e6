"""One ended (or running) session gathered for review: the chart page and every export.

The session page, the HTML report, the CSV and the FHIR bundle all start from a
`SessionReview`, so they show the same numbers. Times are kept as epoch seconds;
`minutes()` puts them on the review axis: minutes from infusion start (negative
before it), or from session start when the infusion never started.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from .formatting import fmt_bp, fmt_duration, fmt_min, fmt_num
from . import observations
from .model import CONTINUOUS, LABELS, MANUAL, PRIORITIES, PRIORITY, is_valid, priority_rank, struck_entries
from .store import Store, queries, summaries

CHART_PARAMETERS = ("hr", "spo2", "sbp", "dbp", "map", "rr", "etco2")


@dataclass
class SessionReview:
    session: dict  # sessions row plus summary fields (summaries.summary)
    readings: list[dict]
    alerts: list[dict]
    events: list[dict]
    baselines: dict
    parameters: Optional[tuple] = None  # which readings were loaded (None: all)
    extra: dict = field(default_factory=dict)

    @property
    def id(self) -> int:
        return self.session["id"]

    @property
    def origin(self) -> float:
        """Time zero of the review axis."""
        s = self.session
        return s["infusion_start"] if s["infusion_start"] is not None else s["started_at"]

    @property
    def axis_title(self) -> str:
        return ("minutes from infusion start" if self.session["infusion_start"] is not None
                else "minutes from session start (no infusion start charted)")

    def minutes(self, ts: Optional[float]) -> Optional[float]:
        return None if ts is None else (ts - self.origin) / 60.0

    @property
    def end_ts(self) -> float:
        """Where the session's axis ends: its end, else its last reading."""
        s = self.session
        candidates = [s["ended_at"], s.get("last_reading_at"), s["started_at"]]
        return max(t for t in candidates if t is not None)

    def series(self, parameter: str, manual: Optional[bool] = None) -> tuple[list[float], list]:
        """(minutes, values) of one parameter. Flagged continuous readings become None (a
        gap in the line); flagged or failed BP measurements are left out. manual: only the
        values typed from a manual cuff (True), only the devices' (False), or all (None)."""
        xs, ys = [], []
        gaps = parameter in CONTINUOUS
        for r in self.readings:
            if r["parameter"] != parameter or (manual is not None and (r["source"] == MANUAL) != manual):
                continue
            ok = is_valid(r["status"], r["value"])
            if ok or gaps:
                xs.append(round((r["ts"] - self.origin) / 60.0, 4))
                ys.append(r["value"] if ok else None)
        return xs, ys

    def alarm_rows(self) -> list[dict]:
        """The alarm table: rule, start/end on the review axis, duration, worst value, ack delay,
        who acknowledged and, for an alarm nobody signed for in time, when it escalated."""
        rows = []
        for a in self.alerts:
            ended = a["ended_at"]
            rows.append({
                "id": a["id"], "rule": a["rule"], "priority": a["priority"], "kind": a["kind"],
                "parameter": a["parameter"], "started_at": a["started_at"], "ended_at": ended,
                "start_min": self.minutes(a["started_at"]), "end_min": self.minutes(ended),
                "duration_s": None if ended is None else ended - a["started_at"],
                "value": a["value"], "limit": a["limit_value"], "message": a["message"],
                "ack_delay_s": (None if a["acknowledged_at"] is None
                                else a["acknowledged_at"] - a["started_at"]),
                "acknowledged_at": a["acknowledged_at"], "acknowledged_by": a["acknowledged_by"],
                # nobody signed for it in time (alerts/escalation.py): how long after its start
                "escalated_after_s": (None if a.get("escalated_at") is None
                                      else a["escalated_at"] - a["started_at"]),
            })
        return rows


def escalation_text(row: dict) -> str:
    """An alarm row's escalation, as the review page and the report say it: "escalated after 30 s"."""
    after = row.get("escalated_after_s")
    return "–" if after is None else f"escalated after {fmt_duration(after)}"


def worst_priority_segments(alarm_rows: list[dict], x_end: float) -> list[tuple[float, float, str]]:
    """(start_min, end_min, priority) of the worst physiological alarm active at each moment.

    Shading by these segments, instead of one translucent band per alarm, keeps
    overlapping alarms from blending into a colour that means nothing.
    """
    phys = [(a["start_min"], a["end_min"] if a["end_min"] is not None else x_end, a["priority"])
            for a in alarm_rows if a["kind"] == "physiological" and a["start_min"] is not None]
    cuts = sorted({t for lo, hi, _ in phys for t in (lo, hi)})
    out: list[tuple[float, float, str]] = []
    for lo, hi in zip(cuts, cuts[1:]):
        active = [p for s, e, p in phys if s <= lo and e >= hi]
        if not active:
            continue
        worst = min(active, key=priority_rank)
        if out and out[-1][1] == lo and out[-1][2] == worst:
            out[-1] = (out[-1][0], hi, worst)
        else:
            out.append((lo, hi, worst))
    return out


def load(store: Store, session_id: int, parameters: Optional[tuple] = CHART_PARAMETERS) -> Optional[SessionReview]:
    """Everything the review needs from the store; None for an unknown session."""
    s = summaries.summary(store, session_id)
    if s is None:
        return None
    return SessionReview(session=s, readings=queries.readings(store, session_id, parameters),
                         alerts=queries.alerts(store, session_id), events=queries.events(store, session_id),
                         baselines=queries.baselines(store, session_id), parameters=parameters)


def summary_items(review: SessionReview) -> list[tuple[str, str, str]]:
    """(label, value, detail) cards shown at the top of the page and the report."""
    return [*_vital_items(review), *observation_items(review)]


def observation_items(review: SessionReview) -> list[tuple[str, str, str]]:
    """The sedation, dissociation and side-effect cards (observations.summary); none when the
    session charted no observation."""
    seen = observations.summary(review.events, struck_entries(review.events))
    if not seen["count"]:
        return []
    def at(worst):
        return f"at {fmt_min(review.minutes(worst['ts']))}" if worst else "not scored"

    effects = seen["side_effects"]
    return [
        ("Lowest MOAA/S", fmt_num(seen["moaas"]["value"]) if seen["moaas"] else "–", at(seen["moaas"])),
        ("Highest CADSS-6", f"{seen['cadss6']['value']}/{observations.CADSS6_MAX}" if seen["cadss6"] else "–",
         at(seen["cadss6"])),
        ("Side effects", str(len(effects)), ", ".join(e["words"] for e in effects) or "none charted"),
        ("Interventions", str(len(seen["interventions"])),
         ", ".join(i["text"].removeprefix("Intervention: ") for i in seen["interventions"]) or "none charted"),
    ]


def _vital_items(review: SessionReview) -> list[tuple[str, str, str]]:
    s = review.session

    def when(col):
        at = s.get(f"{col}_at")
        return f"at {fmt_min(review.minutes(at))}" if at is not None else ""

    return [
        ("Duration", fmt_duration(s["duration_s"]),
         f"infusion {fmt_duration(s['infusion_s'])}" if s["infusion_s"] is not None else "no infusion charted"),
        ("Baseline BP", fmt_bp(s["baseline_sbp"], s["baseline_dbp"]), "mmHg"),
        ("Peak SBP", fmt_num(s["peak_sbp"]), when("peak_sbp")),
        ("Peak DBP", fmt_num(s["peak_dbp"]), when("peak_dbp")),
        ("Peak HR", fmt_num(s["peak_hr"]), when("peak_hr")),
        ("Lowest SpO₂", fmt_num(s["min_spo2"]), when("min_spo2")),
        *respiration_items(review),
        ("Alarms", "  ".join(f"{PRIORITY[p].symbol} {s[f'alarms_{p}']}" for p in PRIORITIES),
         f"{' · '.join(PRIORITIES)}; {s['alarms_technical']} technical"),
    ]


def respiration_items(review: SessionReview) -> list[tuple[str, str, str]]:
    """Lowest RR and highest EtCO2 with when, from the capnograph's valid readings (none without
    a capnograph: no card saying "–" for a device the clinic does not use)."""
    if review.parameters is not None and "rr" not in review.parameters:
        return []
    out = []
    for p, title, sign in (("rr", "Lowest RR", 1), ("etco2", "Highest EtCO₂", -1)):
        values = [(sign * r["value"], r["ts"]) for r in review.readings  # the first time it was reached
                  if r["parameter"] == p and is_valid(r["status"], r["value"])]
        if values:
            v, ts = min(values)
            out.append((title, fmt_num(sign * v), f"at {fmt_min(review.minutes(ts))}"))
    return out


def label(parameter: str) -> str:
    return LABELS.get(parameter, parameter)
