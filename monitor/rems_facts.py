"""The facts of an esketamine session the REMS patient monitoring form asks for, read from the
record: pure, a `SessionReview` and its profile in, `RemsFacts` out. Nothing here is
guessed: a fact the record does not hold is None, which the report shows as "not charted".
The clinician checks each one against the chart and fills in and submits the form; this
program submits nothing (exports/rems_report.py renders the page).

How each fact is decided (docs/ARCHITECTURE.md, "Where each rule lives"):

- Dose and lot: every medication event (struck ones left out), as charted; its lot when
  the entry has one (monitor/medication.py).
- First dose: `infusion_start` (the esketamine profile's "Start infusion" is the first
  device); last dose: `infusion_end` (the last device).
- BP before dosing: the last valid BP (cuff or manual, SBP and DBP at one time) at or before
  the first dose, no earlier than the profile's window for it (its schedule item "BP at
  infusion start": `early_s` before; without that item, `baseline.nibp_window_s`).
- BP at about 40 min: the valid BP closest to first dose + 40 min within the profile's window
  for its schedule item "BP 40 min after infusion start" (`early_s` before to `late_s` after;
  without that item, `BP40_TOLERANCE_S` either side); on a tie the earlier.
- BP before completion: the last valid BP at or before the end of monitoring (the discharge
  entry's time if one was charted, else the session's end).
- Sedation: any MOAA/S below 5 (`observations.MOAAS_AWAKE`); the lowest score is shown.
- Dissociation: any CADSS-6 total above 0 (any dissociative symptom rated); the highest total
  is shown, since published esketamine trials used other cut-offs (a CADSS total > 4) and the
  form's answer is the clinician's. The label assessed dissociation with the CADSS.
- Respiratory depression: any respiratory or oxygenation alarm raised (`RESPIRATORY_PARAMETERS`:
  the profile's rr_low, apnea, etco2_high and SpO2 rules); None when no SpO2 was monitored.
- Ready to leave: the first moment `discharge.readiness` held, re-asked at every moment its
  answer could change (an Aldrete or PADSS charted, an alarm starting, ending or signed for,
  the minimum observation running out); the discharge entry is shown beside it.
- Monitoring minutes: session start to end of monitoring, and first dose to end of monitoring;
  observation after the last dose against the profile's minimum.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from . import discharge, observations, sessions
from .model import MANUAL, is_valid, struck_entries
from .protocol import Protocol
from .session_review import SessionReview

PEAK_AT_S = 2400  # the label: reassess BP about 40 min after dosing (the peak)
BP40_TOLERANCE_S = 600  # without the profile's schedule item: a BP within 10 min of the 40th minute
RESPIRATORY_PARAMETERS = ("rr", "etco2", "spo2")


@dataclass(frozen=True)
class Bp:
    ts: float
    sbp: float
    dbp: float
    manual: bool


@dataclass(frozen=True)
class Window:
    """Which BP a fact takes: the valid BPs in [start, end], `pick` one ("last" or "closest" to `target`)."""

    start: float
    end: float
    pick: str
    target: Optional[float] = None
    source: str = ""  # where the window comes from, said on the page


@dataclass
class RemsFacts:
    session: dict
    profile: str
    medications: list[dict]
    first_dose: Optional[float]
    last_dose: Optional[float]
    monitoring_end: Optional[float]
    monitoring_end_source: str
    bp_before: Optional[Bp]
    bp_before_window: Optional[Window]
    bp_40: Optional[Bp]
    bp_40_window: Optional[Window]
    bp_end: Optional[Bp]
    lowest_moaas: Optional[dict]  # {"value", "ts"}; None: no MOAA/S charted
    highest_cadss6: Optional[dict]
    sedation: Optional[bool]
    dissociation: Optional[bool]
    respiratory_alarms: list[dict]
    spo2_monitored: bool
    capnography: bool
    respiratory_depression: Optional[bool]
    ready_at: Optional[float]
    discharge: Optional[dict]  # the discharge entry {"ts", "data", "author"}
    minimum_observation_s: float
    notes: list[str] = field(default_factory=list)

    @property
    def session_minutes(self) -> Optional[float]:
        s = self.session
        return None if self.monitoring_end is None else (self.monitoring_end - s["started_at"]) / 60.0

    @property
    def minutes_after_first_dose(self) -> Optional[float]:
        if self.monitoring_end is None or self.first_dose is None:
            return None
        return (self.monitoring_end - self.first_dose) / 60.0

    @property
    def minutes_after_last_dose(self) -> Optional[float]:
        if self.monitoring_end is None or self.last_dose is None:
            return None
        return (self.monitoring_end - self.last_dose) / 60.0


def blood_pressures(readings: list[dict]) -> list[Bp]:
    """Every valid BP (an SBP and a DBP of one measurement), in time order."""
    by_ts: dict = {}
    for r in readings:
        if r["parameter"] in ("sbp", "dbp") and is_valid(r["status"], r["value"]):
            by_ts.setdefault(r["ts"], {})[r["parameter"]] = r
    return [Bp(ts, v["sbp"]["value"], v["dbp"]["value"], v["sbp"]["source"] == MANUAL)
            for ts, v in sorted(by_ts.items()) if "sbp" in v and "dbp" in v]


def pick_bp(bps: list[Bp], window: Optional[Window]) -> Optional[Bp]:
    if window is None:
        return None
    inside = [b for b in bps if window.start <= b.ts <= window.end]
    if not inside:
        return None
    if window.pick == "last":
        return inside[-1]
    return min(inside, key=lambda b: (abs(b.ts - window.target), b.ts))


def _schedule_item(protocol: Protocol, at_s: float):
    return next((i for i in protocol.schedule
                 if i.observation == "nibp" and i.after == "infusion_start" and i.at_s == at_s), None)


def bp_windows(protocol: Protocol, first_dose: Optional[float],
               end: Optional[float]) -> tuple[Optional[Window], Optional[Window], Optional[Window]]:
    """The windows of the three BP facts (before dosing, about 40 min, before completion)."""
    before = at_40 = last = None
    if first_dose is not None:
        item = _schedule_item(protocol, 0)
        early = item.early_s if item else protocol.nibp_baseline_window_s
        source = (f"the profile's “{item.label}”" if item else "the profile's baseline BP window")
        before = Window(first_dose - early, first_dose, "last", source=f"{source}: {early / 60:g} min before the first dose")
        item = _schedule_item(protocol, PEAK_AT_S)
        lo, hi = (item.early_s, item.late_s) if item else (BP40_TOLERANCE_S, BP40_TOLERANCE_S)
        target = first_dose + PEAK_AT_S
        at_40 = Window(target - lo, target + hi, "closest", target,
                       source=(f"the profile's “{item.label}”" if item else "no such item in the profile")
                       + f": closest to 40 min, from {(PEAK_AT_S - lo) / 60:g} to {(PEAK_AT_S + hi) / 60:g} min")
    if end is not None:
        start = first_dose if first_dose is not None else float("-inf")
        last = Window(start, end, "last", source="the last BP before monitoring ended")
    return before, at_40, last


def first_ready(events: list[dict], alerts: list[dict], infusion_end: Optional[float], until: Optional[float],
                protocol: Protocol) -> Optional[float]:
    """The first moment `discharge.readiness` held between the last dose and `until`, or None.

    Readiness changes only when an assessment is charted, an alarm starts, ends or is signed
    for, or the minimum observation runs out, so asking at those moments finds the first."""
    if infusion_end is None or until is None:
        return None
    struck = struck_entries(events)
    kept = [e for e in events if e["id"] not in struck]
    moments = {infusion_end, infusion_end + protocol.minimum_observation_s}
    moments |= {e["ts"] for e in kept if e["type"] in ("aldrete", "padss")}
    moments |= {t for a in alerts for t in (a["started_at"], a["ended_at"], a["acknowledged_at"]) if t is not None}
    for t in sorted(m for m in moments if infusion_end <= m <= until):
        assessed = discharge.fold_assessments(None, [e for e in kept if e["ts"] <= t])
        ready = discharge.readiness((assessed["aldrete"] or {}).get("data"), assessed["padss"], protocol.padss,
                                    [a for a in alerts if sessions.on_alarm_board(a, t)], infusion_end, t, protocol.minimum_observation_s)
        if ready.ready:
            return t
    return None


def facts(review: SessionReview, protocol: Protocol) -> RemsFacts:
    s = review.session
    events = review.events
    struck = struck_entries(events)
    kept = [e for e in events if e["id"] not in struck]
    meds = [{"ts": e["ts"], "author": e.get("author") or "", "text": e.get("text") or "", **(e.get("data") or {})}
            for e in kept if e["type"] == "medication"]
    assessed = discharge.fold_assessments(None, kept)
    leave = assessed["discharge"]
    if leave is not None:
        end, end_source = leave["ts"], "the discharge entry"
    elif s["ended_at"] is not None:
        end, end_source = s["ended_at"], "the session's end"
    else:
        end, end_source = None, "the session is still open"
    first, last_dose = s["infusion_start"], s["infusion_end"]
    notes = []
    if s.get("protocol") != protocol.name:
        notes.append(f"the session ran under profile {s.get('protocol') or '?'}; windows and readiness "
                     f"here follow {protocol.name}")
    bps = blood_pressures(review.readings)
    w_before, w_40, w_end = bp_windows(protocol, first, end)
    seen = observations.summary(events, struck)
    moaas, cadss = seen["moaas"], seen["cadss6"]
    spo2 = any(r["parameter"] == "spo2" and is_valid(r["status"], r["value"]) for r in review.readings)
    capno = any(r["parameter"] in ("rr", "etco2") and r["source"] != MANUAL for r in review.readings)
    resp = [a for a in review.alerts if a["kind"] == "physiological" and a["parameter"] in RESPIRATORY_PARAMETERS]
    return RemsFacts(
        session=s, profile=protocol.name, medications=meds, first_dose=first, last_dose=last_dose,
        monitoring_end=end, monitoring_end_source=end_source,
        bp_before=pick_bp(bps, w_before), bp_before_window=w_before,
        bp_40=pick_bp(bps, w_40), bp_40_window=w_40, bp_end=pick_bp(bps, w_end),
        lowest_moaas=moaas, highest_cadss6=cadss,
        sedation=None if moaas is None else moaas["value"] < observations.MOAAS_AWAKE,
        dissociation=None if cadss is None else cadss["value"] > 0,
        respiratory_alarms=resp, spo2_monitored=spo2, capnography=capno,
        respiratory_depression=bool(resp) if (spo2 or resp) else None,
        ready_at=first_ready(events, review.alerts, last_dose, end, protocol), discharge=leave,
        minimum_observation_s=protocol.minimum_observation_s, notes=notes)
