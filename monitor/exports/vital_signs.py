"""The vital-sign summaries every results export shares (FHIR R4 in fhir.py, HL7 v2 in
hl7_results.py), so one function decides each: what an NIBP measurement is, and what an
interval of a 1 Hz signal reports (the median of its valid readings). Two exports of one
session then carry the same numbers. Also the code tables both use.

Sources of the codes:
- LOINC (https://loinc.org): HR 8867-4, SpO2 59408-5 (and 2708-6), BP panel 85354-9, SBP
  8480-6, DBP 8462-4, MAP 8478-0, respiratory rate 9279-1, end-tidal CO2 19889-5.
- IEEE 11073-10101 nomenclature (MDC), as listed by NIST's RTMMS / the IHE PCD Rosetta
  Terminology Mapping: MDC_PULS_OXIM_PULS_RATE 149530 (a pulse rate from the oximeter, which
  is where this monitor's HR comes from, not an ECG), MDC_PULS_OXIM_SAT_O2 150456,
  MDC_PRESS_BLD_NONINV_SYS/DIA/MEAN 150021/150022/150023, MDC_RESP_RATE 151562,
  MDC_AWAY_CO2_ET 151708.
- UCUM (https://ucum.org): `/min`, `%`, `mm[Hg]`.
"""
from __future__ import annotations

from collections import defaultdict
from statistics import median

from ..model import MANUAL, is_valid

LOINC = "http://loinc.org"
NIBP = ("sbp", "dbp", "map")
CONTINUOUS = ("hr", "spo2", "rr", "etco2")  # the 1 Hz devices' parameters, summarised per interval
DEFAULT_INTERVAL_S = 60

# parameter or panel -> [(system, code, display)], the first the primary (FHIR lists all of them)
CODES = {
    "bp": [(LOINC, "85354-9", "Blood pressure panel with all children optional")],
    "sbp": [(LOINC, "8480-6", "Systolic blood pressure")],
    "dbp": [(LOINC, "8462-4", "Diastolic blood pressure")],
    "map": [(LOINC, "8478-0", "Mean blood pressure")],
    "hr": [(LOINC, "8867-4", "Heart rate")],
    "spo2": [(LOINC, "59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry"),
             (LOINC, "2708-6", "Oxygen saturation in Arterial blood")],
    "rr": [(LOINC, "9279-1", "Respiratory rate")],
    "etco2": [(LOINC, "19889-5", "Carbon dioxide [Partial pressure] in Exhaled gas --at end expiration")],
}
# parameter -> (MDC code, MDC reference id), IEEE 11073-10101 (see the docstring)
MDC = {
    "hr": ("149530", "MDC_PULS_OXIM_PULS_RATE"),
    "spo2": ("150456", "MDC_PULS_OXIM_SAT_O2"),
    "sbp": ("150021", "MDC_PRESS_BLD_NONINV_SYS"),
    "dbp": ("150022", "MDC_PRESS_BLD_NONINV_DIA"),
    "map": ("150023", "MDC_PRESS_BLD_NONINV_MEAN"),
    "rr": ("151562", "MDC_RESP_RATE"),
    "etco2": ("151708", "MDC_AWAY_CO2_ET"),
}
UNITS = {"sbp": "mm[Hg]", "dbp": "mm[Hg]", "map": "mm[Hg]", "hr": "/min", "spo2": "%", "rr": "/min",
         "etco2": "mm[Hg]"}


def bp_measurements(readings: list[dict]) -> list[tuple[float, dict]]:
    """NIBP results grouped by their timestamp (the cuff reports SBP/DBP/MAP together):
    [(ts, {"sbp":…, "dbp":…, "map":…, "manual": detail if typed from a manual cuff,
    "sources": {parameter: source}})], valid readings only, a measurement needing SBP or DBP."""
    by_ts: dict[float, dict] = defaultdict(dict)
    for r in readings:
        if r["parameter"] in NIBP and is_valid(r["status"], r["value"]):
            by_ts[r["ts"]][r["parameter"]] = r["value"]
            by_ts[r["ts"]].setdefault("sources", {})[r["parameter"]] = r["source"]
            if r["source"] == MANUAL:
                by_ts[r["ts"]]["manual"] = r["detail"] or "manual cuff"
    return sorted(((ts, v) for ts, v in by_ts.items() if "sbp" in v or "dbp" in v), key=lambda x: x[0])


def per_minute(readings: list[dict], parameter: str,
               every_s: int = DEFAULT_INTERVAL_S) -> list[tuple[float, float, int]]:
    """(interval start, median, n) per interval with valid readings; intervals are
    [k·every_s, (k+1)·every_s) of the UTC epoch, so with the default 60 s a clock minute.
    The median, not the mean: one odd second does not move it."""
    bins: dict[int, list[float]] = defaultdict(list)
    for r in readings:
        if r["parameter"] == parameter and is_valid(r["status"], r["value"]):
            bins[int(r["ts"] // every_s)].append(r["value"])
    return [(k * float(every_s), float(median(vs)), len(vs)) for k, vs in sorted(bins.items())]


def interval_sources(readings: list[dict], parameter: str, every_s: int = DEFAULT_INTERVAL_S) -> dict[float, list[str]]:
    """{interval start: the devices (reading sources) whose valid readings made its value, sorted},
    the intervals of per_minute."""
    bins: dict[int, set] = defaultdict(set)
    for r in readings:
        if r["parameter"] == parameter and is_valid(r["status"], r["value"]) and r["source"]:
            bins[int(r["ts"] // every_s)].add(r["source"])
    return {k * float(every_s): sorted(v) for k, v in bins.items()}
