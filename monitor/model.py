"""The vocabulary every layer shares: readings, events, alerts and sessions.

Plain frozen dataclasses so codecs, the engine and the store can pass them around
without importing each other.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

PARAMETERS = ("hr", "spo2", "sbp", "dbp", "map", "pi", "nibp_hr")
CONTINUOUS = ("hr", "spo2", "pi")
EPISODIC = ("sbp", "dbp", "map", "nibp_hr")
STATUSES = ("ok", "sensor_off", "searching", "artifact", "low_perfusion", "error")
# Readings with these statuses never raise or extend a physiological alert.
FLAGGED = ("sensor_off", "searching", "artifact", "error")
EVENT_TYPES = (
    "infusion_start", "infusion_stop", "note", "medication", "dose_change",
    "manual_vitals", "baseline_set", "session_end", "limit_change", "acknowledge", "aldrete",
)
UNCHARTED_EVENTS = ("acknowledge",)  # logged in event tables, not drawn on charts
STATES = ("baseline", "infusion", "recovery", "ended")
PRIORITIES = ("high", "medium", "low")
# Plausible physical ranges: a value outside is a decoding fault or a corrupt file, not a patient.
PHYSICAL_RANGES = {"hr": (0, 350), "spo2": (0, 100), "sbp": (0, 350), "dbp": (0, 300), "map": (0, 300),
                   "pi": (0, 100), "nibp_hr": (0, 350)}
UNITS = {"hr": "bpm", "spo2": "%", "sbp": "mmHg", "dbp": "mmHg", "map": "mmHg",
         "pi": "%", "nibp_hr": "bpm"}
LABELS = {"hr": "HR", "spo2": "SpO2", "sbp": "SBP", "dbp": "DBP", "map": "MAP",
          "pi": "PI", "nibp_hr": "NIBP pulse"}


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
        return self.status not in FLAGGED and self.value is not None


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


@dataclass(frozen=True)
class Baseline:
    """A patient's own reference value for one parameter."""

    parameter: str
    value: float
    source: str  # "computed" | "provisional" | "entered"
    ts: float
    n: int = 0
