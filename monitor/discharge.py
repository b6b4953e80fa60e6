"""Going home: the PADSS chart, its items the data can suggest, and when a patient is ready to
leave. Pure: facts in, decisions out (docs/ARCHITECTURE.md, "Where each rule lives").

Recovery is scored twice over, as day-case practice does: the modified Aldrete score
(scores.py) for the first recovery, then PADSS for readiness to go home.

PADSS, the modified Post-Anesthetic Discharge Scoring System: Chung F, Chan VWS, Ong D, "A
post-anesthetic discharge scoring system for home readiness after ambulatory surgery", J Clin
Anesth 1995;7:500-506, as modified by Marshall SI, Chung F, Anesth Analg 1999;88:508-517:
vital signs, activity, nausea and vomiting, pain, bleeding, each 0-2; a total of 9 or more is
fit for discharge. Vital signs are BP and pulse against the patient's own pre-treatment
values: within 20 % scores 2, 20-40 % 1, more than 40 % 0. Without a surgical wound, the
bleeding item is scored at the cannula site. Some protocols ask for two consecutive scores
of 9 or more taken a set interval apart: the profile's [padss] says how many and how far.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional

from .model import is_valid
from .sessions import RuleError

PADSS_ITEMS = ("vital_signs", "activity", "nausea_vomiting", "pain", "bleeding")
PADSS_LABELS = {"vital_signs": "Vital signs", "activity": "Activity", "nausea_vomiting": "Nausea and vomiting",
                "pain": "Pain", "bleeding": "Bleeding"}
PADSS_CHOICES = {
    "vital_signs": {2: "BP and pulse within 20 % of baseline", 1: "BP and pulse 20–40 % of baseline",
                    0: "BP or pulse more than 40 % from baseline"},
    "activity": {2: "Steady gait, no dizziness, or at the pre-treatment level", 1: "Needs assistance",
                 0: "Unable to walk"},
    "nausea_vomiting": {2: "Minimal: treated with oral medication", 1: "Moderate: treated with parenteral medication",
                        0: "Severe: continues despite treatment"},
    "pain": {2: "Acceptable to the patient and controlled with oral analgesics", 1: "Not acceptable or not controlled"},
    "bleeding": {2: "Minimal: no dressing change (cannula site)", 1: "Moderate: up to two dressing changes",
                 0: "Severe: three or more dressing changes"},
}
PADSS_MAX = 10
VITAL_BANDS = ((20.0, 2), (40.0, 1))  # % from baseline, at most: points; beyond the last: 0
NAUSEA_BY_SEVERITY = {"mild": 2, "moderate": 1, "severe": 0}


@dataclass(frozen=True)
class PadssRule:
    """The profile's [padss]: the total that qualifies, how many qualifying scores in a row
    discharge needs, and how far apart the first and last of them must be."""

    discharge_min: int
    scores_needed: int
    interval_s: float


@dataclass(frozen=True)
class Padss:
    items: dict
    total: int
    qualifies: bool
    minimum: int
    missing: tuple = ()


def padss(items: dict, minimum: int) -> Padss:
    """Total of the five items; it qualifies when every item is scored and the total ≥ minimum."""
    scored = {}
    for k in PADSS_ITEMS:
        v = items.get(k)
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, int) or v not in PADSS_CHOICES[k]:
            raise ValueError(f"{PADSS_LABELS[k]}: score must be one of {', '.join(map(str, PADSS_CHOICES[k]))}, "
                             f"got {v!r}")
        scored[k] = int(v)
    missing = tuple(k for k in PADSS_ITEMS if k not in scored)
    total = sum(scored.values())
    return Padss(scored, total, not missing and total >= minimum, minimum, missing)


def padss_entry(items: dict, minimum: int) -> tuple[dict, str]:
    """A complete PADSS as an event's data and chart text (the page adds the basis and any
    reason scored against the data); ValueError naming the item when one is missing or wrong."""
    p = padss(items, minimum)
    if p.missing:
        raise ValueError(f"{PADSS_LABELS[p.missing[0]]}: choose a score")
    verdict = "qualifies for discharge" if p.qualifies else f"does not qualify (needs ≥ {p.minimum})"
    return ({**p.items, "total": p.total, "qualifies": p.qualifies, "minimum": p.minimum},
            f"PADSS {p.total}/{PADSS_MAX}: {verdict}")


def percent_band(value: float, baseline: float) -> tuple[int, float]:
    """(points, % from baseline) of one vital sign: ≤ 20 % → 2, ≤ 40 % → 1, beyond → 0."""
    off = abs(value - baseline) / baseline * 100.0
    for most, points in VITAL_BANDS:
        if off <= most:
            return points, off
    return 0, off


def padss_prefill(sbp: Optional[dict], hr: Optional[dict], baselines: dict, effects: Iterable[dict],
                  now: float, bp_max_age_s: float, hr_max_age_s: float) -> dict:
    """What the data suggests for two items, for the nurse to confirm or change:
    {"vital_signs": (score|None, basis), "nausea_vomiting": (score, basis)}.

    sbp: the latest valid SBP {"ts", "value"}; hr: the latest HR {"ts", "value", "status"};
    baselines: {"sbp": value, "hr": value}; effects: the side effects charted since the
    infusion stopped (observations.summary's), the worst nausea or vomiting deciding."""
    out = {}
    parts, worst = [], None
    for name, r, max_age in (("SBP", sbp, bp_max_age_s), ("HR", hr, hr_max_age_s)):
        base = baselines.get(name.lower())
        if base is None:
            out["vital_signs"] = (None, f"no baseline {name}: score by hand")
            break
        if not r or not is_valid(r.get("status", "ok"), r.get("value")) or now - r["ts"] > max_age:
            out["vital_signs"] = (None, f"no recent {name}: {'take a BP (STAT BP)' if name == 'SBP' else 'check the oximeter'}"
                                        " or score by hand")
            break
        points, off = percent_band(r["value"], base)
        parts.append(f"{name} {r['value']:.0f} vs {base:.0f} ({off:.0f} %)")
        worst = points if worst is None else min(worst, points)
    else:
        out["vital_signs"] = (worst, ", ".join(parts))
    sick = [e for e in effects if e.get("effect") in ("nausea", "vomiting")]
    if not sick:
        out["nausea_vomiting"] = (2, "no nausea or vomiting charted since the infusion stopped")
    else:
        bad = min(sick, key=lambda e: NAUSEA_BY_SEVERITY.get(e.get("severity"), 0))
        out["nausea_vomiting"] = (NAUSEA_BY_SEVERITY.get(bad.get("severity"), 0),
                                  f"{bad['effect']} ({bad.get('severity')}) charted since the infusion stopped")
    return out


# ----------------------------------------------------------------- readiness
def padss_series(history: list[dict], rule: PadssRule) -> Optional[str]:
    """Why the PADSS scores do not yet allow discharge, or None: the newest `scores_needed`
    scores (history: {"ts", "total"} in time order, struck ones left out) all reach the
    minimum, and the newest was taken at least `interval_s` after the first of them."""
    if not history:
        return f"no PADSS score yet (discharge at ≥ {rule.discharge_min}" + (
            f", {rule.scores_needed} in a row {rule.interval_s / 60:g} min apart)" if rule.scores_needed > 1 else ")")
    last = history[-rule.scores_needed:]
    low = [h for h in last if h["total"] < rule.discharge_min]
    if low:
        return f"PADSS {low[-1]['total']}/{PADSS_MAX} (needs ≥ {rule.discharge_min})"
    if len(last) < rule.scores_needed:
        return (f"PADSS {last[-1]['total']}/{PADSS_MAX}: {rule.scores_needed - len(last)} more qualifying score"
                f"{'s' if rule.scores_needed - len(last) > 1 else ''} needed, at least "
                f"{rule.interval_s / 60:g} min after the first")
    apart = last[-1]["ts"] - last[0]["ts"]
    if rule.scores_needed > 1 and apart < rule.interval_s:
        return (f"PADSS scores {apart / 60:.0f} min apart: the last must be at least "
                f"{rule.interval_s / 60:g} min after the first")
    return None


def observation_left(infusion_end: Optional[float], now: float, minimum_observation_s: float) -> Optional[float]:
    """Seconds of the profile's minimum observation still to go (0 once it is over); None
    before the infusion has stopped."""
    if infusion_end is None:
        return None
    return max(0.0, infusion_end + minimum_observation_s - now)


@dataclass(frozen=True)
class Readiness:
    ready: bool
    why: tuple  # every reason it is not, in the order a nurse would work through them
    left_s: Optional[float]  # the minimum observation still to go (None: the infusion runs)


def fold_assessments(seen: Optional[dict], events: Iterable[dict]) -> dict:
    """Fold events (struck ones already left out) into what readiness reads: the last Aldrete
    {"ts", "data", "author"}, the PADSS series [{"ts", "total"}] and the discharge, if any."""
    out = {"aldrete": (seen or {}).get("aldrete"), "padss": list((seen or {}).get("padss", [])),
           "discharge": (seen or {}).get("discharge")}
    for e in events:
        if e.get("type") == "aldrete":
            out["aldrete"] = {"ts": e["ts"], "data": e.get("data") or {}, "author": e.get("author")}
        elif e.get("type") == "padss" and isinstance((e.get("data") or {}).get("total"), int):
            out["padss"].append({"ts": e["ts"], "total": e["data"]["total"]})
        elif e.get("type") == "discharge":
            out["discharge"] = {"ts": e["ts"], "data": e.get("data") or {}, "author": e.get("author")}
    out["padss"].sort(key=lambda h: h["ts"])
    return out


def readiness(aldrete: Optional[dict], padss_history: list[dict], rule: Optional[PadssRule], board: Iterable[dict],
              infusion_end: Optional[float], now: float, minimum_observation_s: float) -> Readiness:
    """Ready to go home only when the last modified Aldrete assessment says so, the PADSS
    scores do (padss_series; a profile without [padss] asks for none), no patient alarm is
    active or waiting to be signed for, and the profile's minimum observation since the
    infusion stopped is over."""
    why = []
    if not aldrete:
        why.append("no Aldrete assessment recorded yet")
    elif not aldrete.get("ready"):
        why.append(f"modified Aldrete {aldrete.get('total')}/10 (needs ≥ {aldrete.get('minimum')})")
    if rule is not None:
        problem = padss_series(padss_history, rule)
        if problem:
            why.append(problem)
    for a in board:
        if a["kind"] == "physiological":
            state = "active" if a["ended_at"] is None else "not acknowledged"
            why.append(f"alarm {state}: {a['message']}")
    left = observation_left(infusion_end, now, minimum_observation_s)
    if left is None:
        why.append("the infusion has not been stopped")
    elif left > 0:
        why.append(f"observed {int((now - infusion_end) // 60)} of {minimum_observation_s / 60:g} min "
                   "since the infusion stopped")
    return Readiness(not why, tuple(why), left)


def check_discharge(ready: Readiness, override: Optional[str]) -> dict:
    """May the patient be discharged now? The data the `discharge` event carries.

    Ready: yes. Not ready: only with an override's reason (a clinician's: access decides who
    may give one), kept with the event together with every reason it was not ready. Once per
    session: sessions.check_discharged_once, in the store's write."""
    if ready.ready:
        return {"ready": True}
    reason = " ".join(str(override or "").split())
    if not reason:
        raise RuleError("Not discharged: not ready (" + "; ".join(ready.why) + "). A clinician may discharge "
                         "against this with a reason.")
    return {"ready": False, "override": reason[:200], "not_ready": list(ready.why)}
