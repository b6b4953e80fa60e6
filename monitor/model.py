"""The vocabulary every layer shares: readings, events, alerts and sessions.

Plain frozen dataclasses so codecs, the engine and the store can pass them around
without importing each other. The words, symbols and small formulas that more than
one page or export shows (priority marks, operator symbols, event labels, what
counts as a valid reading, MAP) are defined here once, so the bedside, the review
pages, the report, the exports and the browser script cannot drift apart.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Optional

PARAMETERS = ("hr", "spo2", "sbp", "dbp", "map", "pi", "nibp_hr", "rr", "etco2")
# Sent about once a second by a device: the oximeter (hr, spo2, pi) and the capnograph
# (rr: breaths/min, 0 when it detects no breath; etco2: end-tidal CO2, mmHg).
CONTINUOUS = ("hr", "spo2", "pi", "rr", "etco2")
RESPIRATION = ("rr", "etco2")  # the capnograph's
EPISODIC = ("sbp", "dbp", "map", "nibp_hr")
STATUSES = ("ok", "sensor_off", "searching", "artifact", "low_perfusion", "error")
# Readings with these statuses never raise or extend a physiological alert, and every
# chart, table and export shows them as a gap. A `low_perfusion` reading is not
# flagged: the device measured a value (with a warning), and the engine alarms on it.
FLAGGED = ("sensor_off", "searching", "artifact", "error")


def is_valid(status: Optional[str], value: Optional[float]) -> bool:
    """A reading that counts as a value everywhere: it has one and its status is not flagged.

    The one definition the engine, the bedside, the trend, the review, the report and
    the exports use; the store builds its SQL condition from FLAGGED the same way.
    """
    return value is not None and status not in FLAGGED


def mean_arterial(sbp: float, dbp: float) -> float:
    """MAP estimated from a cuff pair: DBP + (SBP - DBP) / 3 (unrounded)."""
    return dbp + (sbp - dbp) / 3

EVENT_TYPES = (
    "infusion_start", "infusion_stop", "note", "medication", "dose_change",
    "manual_vitals", "baseline_set", "session_end", "limit_change", "acknowledge", "aldrete",
    "correction", "review_signoff", "monitoring_interrupted",
    # structured observations (monitor/observations.py)
    "moaas", "cadss6", "side_effect", "intervention",
    # going home (monitor/discharge.py)
    "padss", "discharge",
)
# How every page, chart and report names a charted event (the CSV and FHIR keep the type).
EVENT_LABELS = {
    "infusion_start": "Infusion start", "infusion_stop": "Infusion stop", "note": "Note",
    "medication": "Medication", "dose_change": "Dose change", "manual_vitals": "Manual obs",
    "baseline_set": "Baseline", "session_end": "Session end", "limit_change": "Limit",
    "acknowledge": "Acknowledged", "aldrete": "Aldrete", "correction": "Correction",
    "review_signoff": "Reviewer sign-off", "monitoring_interrupted": "Monitoring interrupted",
    "moaas": "MOAA/S", "cadss6": "CADSS-6", "side_effect": "Side effect", "intervention": "Intervention",
    "padss": "PADSS", "discharge": "Discharge",
}
UNCHARTED_EVENTS = ("acknowledge", "correction", "review_signoff")  # in event tables, not drawn on charts
STATES = ("baseline", "infusion", "recovery", "ended")


def event_label(event_type: str) -> str:
    """'Infusion start' for 'infusion_start'; an unknown type is shown as it is."""
    return EVENT_LABELS.get(event_type, event_type)


MANUAL = "manual"  # the source of a value typed from a manual cuff, never a device's


def manual_detail(author: str) -> str:
    """What a manually entered reading carries in its detail: who performed it."""
    return f"manual cuff, entered by {author or '?'}"


def struck_entries(events: list[dict]) -> dict:
    """{event id: the correction event that struck it} over a session's events."""
    return {e["data"]["strikes"]: e for e in events
            if e["type"] == "correction" and isinstance(e.get("data"), dict) and "strikes" in e["data"]}


def entry_label(event: dict, struck: Optional[dict] = None) -> str:
    """An event row's label in every table: its type's label, "late entry" when it was written
    after the session had ended (sessions.is_late), and "struck" with why and by whom when a
    correction struck it (struck: struck_entries of the session's events)."""
    late = isinstance(event.get("data"), dict) and event["data"].get("late")
    label = event_label(event["type"]) + (" · late entry" if late else "")
    by = (struck or {}).get(event.get("id"))
    if by is not None:
        label += f" · STRUCK by {by['author']}: {by['data'].get('reason', '')}"
    return label


@dataclass(frozen=True)
class Priority:
    """How one alarm priority is ranked and shown (IEC 60601-1-8: never colour alone)."""

    name: str  # the value stored in alerts.priority and written in profiles
    rank: int  # 0 is the most urgent
    symbol: str  # the mark shown next to every alarm, on screen and on paper
    word: str  # the priority in capitals, as the alarm tiles and tables show it
    colour: str  # on the dark screen (bedside, overview, review charts)
    print_colour: str  # on white paper (the HTML report's chart)


PRIORITY = {p.name: p for p in (
    Priority("high", 0, "!!!", "HIGH", "#ff3b30", "#e53935"),
    Priority("medium", 1, "!!", "MEDIUM", "#f5c518", "#f9a825"),
    Priority("low", 2, "!", "LOW", "#36cfc9", "#00acc1"),
)}
PRIORITIES = tuple(sorted(PRIORITY, key=lambda p: PRIORITY[p].rank))  # most urgent first
TOP_PRIORITY = PRIORITIES[0]


def priority_rank(priority: str) -> int:
    """0 for the most urgent; sorts a list of alarms worst first."""
    return PRIORITY[priority].rank


def priority_mark(priority: str) -> str:
    """'!!! HIGH': symbol and word, so colour is never the only cue."""
    p = PRIORITY[priority]
    return f"{p.symbol} {p.word}"


def priority_table() -> list[dict]:
    """The priority table as plain data, most urgent first (sent to the browser's alarm script)."""
    return [asdict(PRIORITY[p]) for p in PRIORITIES]


# How a rule's comparison is written for people (profiles use the ASCII form).
OPERATOR_SYMBOLS = {"<": "<", "<=": "≤", ">": ">", ">=": "≥"}
# Plausible physical ranges: a value outside is a decoding fault or a corrupt file, not a patient.
PHYSICAL_RANGES = {"hr": (0, 350), "spo2": (0, 100), "sbp": (0, 350), "dbp": (0, 300), "map": (0, 300),
                   "pi": (0, 100), "nibp_hr": (0, 350), "rr": (0, 150), "etco2": (0, 150)}
UNITS = {"hr": "bpm", "spo2": "%", "sbp": "mmHg", "dbp": "mmHg", "map": "mmHg",
         "pi": "%", "nibp_hr": "bpm", "rr": "/min", "etco2": "mmHg"}
LABELS = {"hr": "HR", "spo2": "SpO2", "sbp": "SBP", "dbp": "DBP", "map": "MAP",
          "pi": "PI", "nibp_hr": "NIBP pulse", "rr": "RR", "etco2": "EtCO2"}


@dataclass(frozen=True)
class Reading:
    """One measured value from one device at one instant (UTC epoch seconds)."""

    ts: float
    parameter: str
    value: Optional[float]
    status: str = "ok"
    source: str = ""
    detail: Optional[str] = None  # e.g. the cuff's error meaning

    @property
    def valid(self) -> bool:
        return is_valid(self.status, self.value)


@dataclass(frozen=True)
class Event:
    """Something charted in the session: infusion start, a note, a dose change."""

    ts: float
    type: str
    text: str = ""
    author: str = ""


@dataclass(frozen=True)
class DeviceSignal:
    """Link-level news about a device: bytes seen, or a connection error."""

    ts: float
    source: str
    connected: bool
    error: str = ""


@dataclass
class Alert:
    """An alarm condition as the engine sees it; `key` is unique within a session."""

    key: str
    rule: str
    parameter: str
    kind: str  # "physiological" | "technical"
    priority: str  # "high" | "medium" | "low"
    started_at: float
    value: Optional[float]
    limit: Optional[float]
    message: str
    ended_at: Optional[float] = None
    escalated_at: Optional[float] = None  # when it went unacknowledged past its profile's time (alerts/escalation.py)


@dataclass(frozen=True)
class Baseline:
    """A patient's own reference value for one parameter."""

    parameter: str
    value: float
    source: str  # "computed" | "provisional" | "entered"
    ts: float
    n: int = 0
