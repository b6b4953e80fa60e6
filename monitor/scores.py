"""Clinical scores shown on the bedside page: NEWS2 and the modified Aldrete score.

Pure functions over numbers, no I/O. These are indicators for the nurse; they never
raise alarms (the alarm engine does that from the protocol profile).

NEWS2: Royal College of Physicians, National Early Warning Score (NEWS) 2, 2017,
chart 1 with SpO2 scale 1. Values are rounded the way a chart is filled in (whole
numbers; temperature to 0.1 °C) before banding.

Modified Aldrete (Aldrete 1995): activity, respiration, circulation, consciousness,
SpO2, each 0-2; circulation as |SBP - pre-infusion SBP| in mmHg (±20 → 2, 20-49 → 1,
≥ 50 → 0); SpO2 > 92 % on air → 2, > 90 % (or needing oxygen) → 1, else 0.
Gaps in the published wording (exactly 90 %) take the lower, safer score.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Optional

from .model import is_valid

# ----------------------------------------------------------------- NEWS2
CONSCIOUSNESS = {"A": "Alert", "C": "New confusion", "V": "Voice", "P": "Pain", "U": "Unresponsive"}
NEWS2_PARAMETERS = ("rr", "spo2", "o2", "sbp", "hr", "consciousness", "temp")
NEWS2_LABELS = {"rr": "RR", "spo2": "SpO2", "o2": "Air/O2", "sbp": "SBP", "hr": "Pulse",
                "consciousness": "ACVPU", "temp": "Temp"}


def _whole(v: float) -> int:
    return int(Decimal(str(v)).quantize(Decimal("1"), rounding=ROUND_HALF_UP))


def _tenth(v: float) -> float:
    return float(Decimal(str(v)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


# The RCP chart as data: (highest value in the band, points), lowest band first.
NEWS2_CHART = {
    "rr": ((8, 3), (11, 1), (20, 0), (24, 2), (math.inf, 3)),
    "spo2": ((91, 3), (93, 2), (95, 1), (math.inf, 0)),  # SpO2 scale 1
    "sbp": ((90, 3), (100, 2), (110, 1), (219, 0), (math.inf, 3)),
    "hr": ((40, 3), (50, 1), (90, 0), (110, 1), (130, 2), (math.inf, 3)),
    "temp": ((35.0, 3), (36.0, 1), (38.0, 0), (39.0, 1), (math.inf, 2)),
}


def _chart_points(parameter: str, value: float) -> int:
    for highest, points in NEWS2_CHART[parameter]:
        if value <= highest:
            return points
    raise AssertionError("the chart's last band is open-ended")


def news2_rr(rr: float) -> int:
    return _chart_points("rr", _whole(rr))


def news2_spo2(spo2: float) -> int:
    """SpO2 scale 1 (patients without hypercapnic respiratory failure)."""
    return _chart_points("spo2", _whole(spo2))


def news2_o2(on_oxygen: bool) -> int:
    return 2 if on_oxygen else 0


def news2_sbp(sbp: float) -> int:
    return _chart_points("sbp", _whole(sbp))


def news2_hr(hr: float) -> int:
    return _chart_points("hr", _whole(hr))


def news2_consciousness(acvpu: str) -> int:
    code = str(acvpu).strip().upper()[:1]
    if code not in CONSCIOUSNESS:
        raise ValueError(f"consciousness: expected one of {', '.join(CONSCIOUSNESS)}, got {acvpu!r}")
    return 0 if code == "A" else 3


def news2_temp(temp_c: float) -> int:
    return _chart_points("temp", _tenth(temp_c))


SCORERS = {"rr": news2_rr, "spo2": news2_spo2, "o2": news2_o2, "sbp": news2_sbp, "hr": news2_hr,
           "consciousness": news2_consciousness, "temp": news2_temp}

# band id -> (clinical risk, response), per the RCP chart
NEWS2_BANDS = {
    "0": ("low", "Continue routine monitoring"),
    "1-4": ("low", "Inform the nurse in charge; assess monitoring frequency"),
    "3-in-one": ("low-medium", "Score of 3 in one parameter: urgent review by a clinician"),
    "5-6": ("medium", "Urgent response: review by a clinician competent in acute illness"),
    "7+": ("high", "Emergency response: immediate assessment by a critical-care competent team"),
}


def news2_band(total: int, max_single: int) -> str:
    """Band id from the aggregate and the highest single-parameter score."""
    if total >= 7:
        return "7+"
    if total >= 5:
        return "5-6"
    if max_single >= 3:
        return "3-in-one"
    if total >= 1:
        return "1-4"
    return "0"


@dataclass(frozen=True)
class News2:
    total: int
    band: str
    risk: str
    response: str
    scores: dict = field(default_factory=dict)   # parameter -> points, for those given
    missing: tuple = ()                          # parameters not available

    @property
    def partial(self) -> bool:
        return bool(self.missing)


def news2(values: dict) -> Optional[News2]:
    """NEWS2 from whatever is given: keys rr, spo2, o2 (bool), sbp, hr, consciousness, temp.

    Missing parameters score nothing and are listed in `missing` (the aggregate is then
    a floor, shown as partial). None when nothing at all is available.
    """
    scores = {}
    for p in NEWS2_PARAMETERS:
        v = values.get(p)
        if v is None or (p != "o2" and p != "consciousness" and isinstance(v, bool)):
            continue
        scores[p] = SCORERS[p](v)
    if not scores:
        return None
    total = sum(scores.values())
    band = news2_band(total, max(scores.values()))
    risk, response = NEWS2_BANDS[band]
    missing = tuple(p for p in NEWS2_PARAMETERS if p not in scores)
    return News2(total, band, risk, response, scores, missing)


MONITORED = ("spo2", "hr")  # NEWS2 inputs the monitor measures; the rest are charted
CHARTED = ("rr", "temp", "consciousness", "o2")


def news2_inputs(monitored: dict, manual: dict, now: float, max_age_s: dict) -> dict:
    """The values NEWS2 uses now, each no older than its maximum age (the profile's news2.max_age_s).

    monitored: latest monitor values {parameter: {"v", "ts", "status"}} (SpO2, HR, the
    cuff's SBP and a capnograph's RR); manual: latest charted values {parameter: {"v", "ts"}}.
    SpO2 and HR count when valid (model.is_valid); SBP is the cuff's or a manual cuff's,
    whichever is newer; RR likewise the capnograph's (when valid) or the charted count.
    """
    vals = {}
    for p in MONITORED:
        r = monitored.get(p)
        if r and is_valid(r.get("status"), r["v"]) and now - r["ts"] <= max_age_s[p]:
            vals[p] = r["v"]
    bps = [b for b in (monitored.get("sbp"), manual.get("sbp"))
           if b and b["v"] is not None and now - b["ts"] <= max_age_s["sbp"]]
    if bps:
        vals["sbp"] = max(bps, key=lambda b: b["ts"])["v"]
    for p in CHARTED:
        m = manual.get(p)
        if m and now - m["ts"] <= max_age_s[p]:
            vals[p] = m["v"]
    rr = monitored.get("rr")
    if rr and is_valid(rr.get("status"), rr["v"]) and now - rr["ts"] <= max_age_s["rr"] \
            and ("rr" not in vals or rr["ts"] >= manual["rr"]["ts"]):
        vals["rr"] = rr["v"]
    return vals


# ----------------------------------------------------------------- Aldrete
ALDRETE_ITEMS = ("activity", "respiration", "circulation", "consciousness", "spo2")
ALDRETE_CHOICES = {
    "activity": {2: "Moves 4 extremities voluntarily or on command",
                 1: "Moves 2 extremities", 0: "Cannot move extremities"},
    "respiration": {2: "Breathes deeply and coughs freely", 1: "Dyspnoea or limited breathing", 0: "Apnoeic"},
    "circulation": {2: "BP within ±20 mmHg of pre-infusion", 1: "BP ±20–49 mmHg of pre-infusion",
                    0: "BP ±50 mmHg or more from pre-infusion"},
    "consciousness": {2: "Fully awake", 1: "Arousable on calling", 0: "Not responding"},
    "spo2": {2: "SpO2 > 92 % on room air", 1: "Needs O2 to keep SpO2 > 90 %", 0: "SpO2 < 90 % even with O2"},
}
ALDRETE_LABELS = {"activity": "Activity", "respiration": "Respiration", "circulation": "Circulation",
                  "consciousness": "Consciousness", "spo2": "SpO2"}
DISCHARGE_MIN = 9  # typical discharge criterion: modified Aldrete ≥ 9 of 10


def aldrete_circulation(sbp: float, baseline_sbp: float) -> int:
    """|SBP − pre-infusion SBP|: ≤ 20 mmHg → 2, < 50 → 1, ≥ 50 → 0."""
    diff = abs(_whole(sbp) - _whole(baseline_sbp))
    if diff <= 20:
        return 2
    if diff < 50:
        return 1
    return 0


def aldrete_spo2(spo2: float, on_oxygen: bool = False) -> int:
    """> 92 % on room air → 2; > 90 % (or on oxygen) → 1; otherwise 0."""
    spo2 = _whole(spo2)
    if spo2 > 92 and not on_oxygen:
        return 2
    if spo2 > 90:
        return 1
    return 0


def aldrete_prefill(sbp: Optional[dict], baseline_sbp: Optional[float], spo2: Optional[dict], on_oxygen: bool,
                    now: float, bp_max_age_s: float, spo2_max_age_s: float) -> dict:
    """What the data says for two checklist items, for the nurse to confirm or change.

    sbp: the latest valid cuff SBP {"ts", "value"}; spo2: the latest SpO2 {"ts", "value",
    "status"}; the ages are the profile's [aldrete]. Returns {"circulation": (score|None,
    basis), "spo2": (score|None, basis)}; None means "score by hand", with the reason.
    """
    out = {}
    if sbp and baseline_sbp is not None and now - sbp["ts"] <= bp_max_age_s:
        diff = sbp["value"] - baseline_sbp
        out["circulation"] = (aldrete_circulation(sbp["value"], baseline_sbp),
                              f"SBP {sbp['value']:.0f} vs baseline {baseline_sbp:.0f} ({diff:+.0f} mmHg), "
                              f"{int((now - sbp['ts']) // 60)} min ago")
    elif sbp and baseline_sbp is None:
        out["circulation"] = (None, "no baseline SBP: score by hand")
    else:
        out["circulation"] = (None, "no recent BP: take one (STAT BP) or score by hand")
    if spo2 and is_valid(spo2["status"], spo2["value"]) and now - spo2["ts"] <= spo2_max_age_s:
        out["spo2"] = (aldrete_spo2(spo2["value"], on_oxygen),
                       f"SpO2 {spo2['value']:.0f} % on {'oxygen' if on_oxygen else 'room air'} (last charted)")
    else:
        out["spo2"] = (None, "no current SpO2: score by hand")
    return out


@dataclass(frozen=True)
class Aldrete:
    items: dict
    total: int
    ready: bool
    minimum: int = DISCHARGE_MIN
    missing: tuple = ()


def aldrete(items: dict, minimum: int = DISCHARGE_MIN) -> Aldrete:
    """Total of the five items (each 0, 1 or 2); ready when all are scored and total ≥ minimum."""
    scored = {}
    for k in ALDRETE_ITEMS:
        v = items.get(k)
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, int) or v not in (0, 1, 2):
            raise ValueError(f"{ALDRETE_LABELS[k]}: score must be 0, 1 or 2, got {v!r}")
        scored[k] = int(v)
    missing = tuple(k for k in ALDRETE_ITEMS if k not in scored)
    total = sum(scored.values())
    return Aldrete(scored, total, not missing and total >= minimum, minimum, missing)


def checklist_problem(data, items: tuple, entry) -> Optional[str]:
    """Why a scored checklist's stored data (an Aldrete, a PADSS in a file edited by hand) is not
    what its entry makes of its items (entry: aldrete_entry, discharge.padss_entry), or None."""
    if not isinstance(data, dict):
        return "expected a JSON object"
    minimum = data.get("minimum")
    if isinstance(minimum, bool) or not isinstance(minimum, int):
        return f"minimum: expected a whole number, got {str(minimum)[:20]!r}"
    try:
        expected, _ = entry({k: data.get(k) for k in items}, minimum)
    except ValueError as e:
        return str(e)
    wrong = next((k for k, v in expected.items() if data.get(k) != v or type(data.get(k)) is not type(v)), None)
    return None if wrong is None else f"{wrong} is {str(data.get(wrong))[:20]}, its items make it {expected[wrong]}"


def aldrete_entry(items: dict, minimum: int = DISCHARGE_MIN) -> tuple[dict, str]:
    """A complete modified Aldrete as an event's data and chart text (the page adds the basis and
    any reason scored against the data); ValueError naming the first item not scored."""
    a = aldrete(items, minimum)
    if a.missing:
        raise ValueError(f"{ALDRETE_LABELS[a.missing[0]]}: choose a score")
    verdict = "ready for discharge" if a.ready else f"not ready (needs ≥ {a.minimum})"
    data = {**a.items, "total": a.total, "ready": a.ready, "minimum": a.minimum}
    return data, f"Modified Aldrete {a.total}/10: {verdict}"
