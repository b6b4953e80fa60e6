"""The clinically sane range of every number in an alarm profile or a clinic.toml, as data.

A number outside its range is refused when the file is loaded, with the file and the key,
so an edit (a typo, an extra zero, `1e9`, `nan`) can never switch an alarm off: a sustain
window of a billion seconds, a disconnect alarm after twelve days, a SpO2 limit of 50.
The ranges are wide enough for a clinic's own protocol, narrow enough that every alarm
still sounds within minutes. Each carries the reason for its ends; docs/ARCHITECTURE.md
("Sane ranges") lists them and the shipped profile repeats them beside each key.

Pure data and one check; no I/O.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class Range:
    low: float
    high: float
    unit: str
    reason: str
    whole: bool = False  # only whole numbers (a score, a baud rate)

    @property
    def text(self) -> str:
        """'0..60 s', '7..10'."""
        def num(x: float) -> str:
            return str(int(x)) if x == int(x) else f"{x:g}"
        return f"{num(self.low)}..{num(self.high)}{' ' + self.unit if self.unit else ''}"

    def problem(self, value) -> Optional[str]:
        """Why value does not fit (None when it does); NaN and ±inf never fit."""
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return f"expected {'a whole number' if self.whole else 'a number'} in {self.text}, got {value!r}"
        if self.whole and not isinstance(value, int):
            return f"expected a whole number in {self.text}, got {value!r}"
        if not self.low <= value <= self.high:
            return f"{value:g} is outside {self.text} ({self.reason})"
        return None


MIN, HOUR = 60, 3600

# ----------------------------------------------------------------- profile: the fixed keys
PROFILE = {
    "baseline.continuous_window_s": Range(MIN, HOUR, "s", "a median needs a minute of readings; "
                                          "an hour before the infusion is no longer the patient's baseline"),
    "baseline.nibp_window_s": Range(5 * MIN, HOUR, "s", "at least one pre-infusion cuff cycle; "
                                    "an hour before the infusion is no longer the patient's baseline"),
    "continuous.clear_for_s": Range(0, MIN, "s", "a longer wait keeps an alarm active after recovery, "
                                    "so a new episode raises no new alarm"),
    "continuous.max_gap_s": Range(3, 30, "s", "a longer gap would join readings before and after a dropout "
                                  "into one sustain window; devices send about once a second, so a "
                                  "shorter one would restart every window at each jittered reading"),
    "nibp.cycle_infusion_s": Range(MIN, 15 * MIN, "s", "BP at least every 15 min during infusion "
                                   "(Yale series: every 10 min)"),
    "nibp.cycle_other_s": Range(MIN, 30 * MIN, "s", "BP at least every 30 min before the infusion and in recovery"),
    "nibp.overdue_factor": Range(1, 3, "× cycle", "a missing BP is announced within three cycles"),
    "technical.signal_lost_s": Range(1, MIN, "s", "a minute without a valid SpO2 is a minute "
                                     "a desaturation can go unseen"),
    "technical.disconnect_s": Range(1, 2 * MIN, "s", "a silent device is announced within 2 min "
                                    "(the cuff is polled every 3 s)"),
    "freshness.monitored_s": Range(1, MIN, "s", "an older HR/SpO2 shown as current would hide a change"),
    "news2.max_age_s.spo2": Range(1, 5 * MIN, "s", "a monitored value older than 5 min is not the patient now"),
    "news2.max_age_s.hr": Range(1, 5 * MIN, "s", "a monitored value older than 5 min is not the patient now"),
    "news2.max_age_s.sbp": Range(MIN, HOUR, "s", "a cuff result counts at most an hour (the cuff cycles "
                                 "every 5-30 min)"),
    "news2.max_age_s.rr": Range(MIN, 4 * HOUR, "s", "a charted observation counts at most 4 h, "
                                "about one infusion session and its recovery"),
    "news2.max_age_s.temp": Range(MIN, 4 * HOUR, "s", "a charted observation counts at most 4 h"),
    "news2.max_age_s.consciousness": Range(MIN, 4 * HOUR, "s", "a charted observation counts at most 4 h"),
    "news2.max_age_s.o2": Range(MIN, 4 * HOUR, "s", "a charted observation counts at most 4 h"),
    "aldrete.spo2_max_age_s": Range(1, 10 * MIN, "s", "the checklist is prefilled from an SpO2 of "
                                    "the last 10 min at most"),
    "aldrete.bp_max_age_s": Range(MIN, HOUR, "s", "the checklist is prefilled from a BP of the last hour at most"),
    "aldrete.discharge_min": Range(7, 10, "", "below 7 a patient who cannot breathe deeply or move "
                                   "could be shown ready (Aldrete 1995: 9)", whole=True),
    "aldrete.minimum_observation_s": Range(15 * MIN, 4 * HOUR, "s", "ketamine's dissociation outlasts the "
                                           "infusion: at least 15 min of observation"),
    "padss.discharge_min": Range(7, 10, "", "below 7 a patient still dizzy, in pain or vomiting could be shown "
                                 "ready (Chung 1995: 9)", whole=True),
    "padss.scores_needed": Range(1, 3, "", "one score, or a series of up to three in a row", whole=True),
    "padss.interval_s": Range(0, HOUR, "s", "the series spans up to an hour (one protocol: 20 min)"),
    # the observation schedule (observation_schedule.py): a reminder, never an alarm, but one that
    # comes hours late or an item due days away would leave a scale unasked
    "schedule.early_s": Range(0, 30 * MIN, "s", "an entry made up to half an hour early still counts"),
    "schedule.late_s": Range(MIN, 30 * MIN, "s", "an item is called overdue within half an hour of its time"),
}
# When a scheduled observation is due, from its moment (schedule.due[n].at_s).
SCHEDULE_AT_S = Range(-4 * HOUR, 4 * HOUR, "s", "an item falls within the 4 hours around its moment")

# How long an alarm may go unacknowledged before it escalates ([escalation], by priority; optional:
# a profile without the table escalates HIGH after 30 s and MEDIUM after 120 s, LOW never). Longer
# leaves an alarm nobody answers a quiet corner of one screen; shorter escalates before a nurse
# across the room has had time to reach the chair. IEC 60601-1-8 leaves escalation to the
# manufacturer; alarm-notification systems (Masimo Patient SafetyNet, IHE PCD Alert Communication
# Management) escalate an unanswered alarm to the next person after tens of seconds to minutes.
ESCALATION = {
    "escalation.high_s": Range(10, 2 * MIN, "s", "a HIGH alarm nobody answers is escalated within 2 min; "
                               "sooner than 10 s escalates before the nearest nurse can reach the chair"),
    "escalation.medium_s": Range(30, 10 * MIN, "s", "a MEDIUM alarm nobody answers is escalated within 10 min; "
                                 "sooner than 30 s escalates before a nurse has reached the chair"),
    "escalation.low_s": Range(MIN, 30 * MIN, "s", "a LOW advisory nobody answers is escalated within "
                              "half an hour; sooner than a minute would turn every advisory into an escalation"),
}

# ----------------------------------------------------------------- profile: per rule
# How long a sustained rule's condition must hold, by the rule's priority.
FOR_S = {
    "high": Range(0, MIN, "s", "a HIGH alarm asks for an immediate response: held back a minute at most"),
    "medium": Range(0, 2 * MIN, "s", "a MEDIUM alarm is held back 2 min at most"),
    "low": Range(0, 5 * MIN, "s", "a LOW advisory (a trend such as hr_rise) is held back 5 min at most"),
}

# The limits a rule may have (its value and its `bounds`), by parameter, side (the op's
# direction: "low" for < and <=, "high" for > and >=) and form. A combination not listed
# has no clinical use here (an SpO2 alarm above a value, an offset raising a low limit) and
# is refused: it is a typo that would switch the alarm it meant off.
LIMITS = {
    ("spo2", "low", "limit"): Range(80, 97, "%", "below 80 % is severe hypoxaemia: an alarm set there is off"),
    ("spo2", "low", "baseline_offset"): Range(-10, -1, "points", "a fall of more than 10 points "
                                              "is a desaturation already"),
    ("hr", "high", "limit"): Range(90, 180, "bpm", "a tachycardia alarm above 180 bpm is an alarm off"),
    ("hr", "low", "limit"): Range(30, 60, "bpm", "a bradycardia alarm below 30 bpm is an alarm off"),
    ("hr", "high", "baseline_factor"): Range(1.05, 2, "× baseline", "a rise to twice the baseline is a "
                                             "tachycardia already"),
    ("hr", "high", "baseline_offset"): Range(5, 60, "bpm", "a rise of 60 bpm is a tachycardia already"),
    ("hr", "low", "baseline_factor"): Range(0.5, 0.95, "× baseline", "a fall to half the baseline "
                                            "is a bradycardia already"),
    ("hr", "low", "baseline_offset"): Range(-60, -5, "bpm", "a fall of 60 bpm is a bradycardia already"),
    ("pi", "low", "limit"): Range(0.1, 2, "%", "perfusion index alarms sit between 0.1 and 2 %"),
    ("sbp", "high", "limit"): Range(120, 220, "mmHg", "above 220 mmHg is a hypertensive emergency"),
    ("sbp", "low", "limit"): Range(60, 110, "mmHg", "below 60 mmHg is shock: an alarm set there is off"),
    ("sbp", "high", "baseline_factor"): Range(1.05, 1.6, "× baseline", "a 60 % rise is a hypertensive crisis"),
    ("sbp", "high", "baseline_offset"): Range(5, 60, "mmHg", "a 60 mmHg rise is a hypertensive crisis"),
    ("sbp", "low", "baseline_factor"): Range(0.6, 0.95, "× baseline", "a 40 % fall is hypotension already"),
    ("sbp", "low", "baseline_offset"): Range(-60, -5, "mmHg", "a 60 mmHg fall is hypotension already"),
    ("dbp", "high", "limit"): Range(70, 130, "mmHg", "above 130 mmHg is a hypertensive emergency"),
    ("dbp", "low", "limit"): Range(30, 70, "mmHg", "below 30 mmHg is shock"),
    ("dbp", "high", "baseline_factor"): Range(1.05, 1.6, "× baseline", "a 60 % rise is a hypertensive crisis"),
    ("dbp", "high", "baseline_offset"): Range(5, 40, "mmHg", "a 40 mmHg rise is a hypertensive crisis"),
    ("map", "high", "limit"): Range(80, 150, "mmHg", "above 150 mmHg is a hypertensive emergency"),
    ("map", "low", "limit"): Range(45, 80, "mmHg", "below 45 mmHg is shock; 65 is the usual floor"),
    ("map", "low", "baseline_factor"): Range(0.6, 0.95, "× baseline", "a 40 % fall is hypotension already"),
    # A capnograph reports rr 0 when it detects no breath: "rr < 1" is apnea (no breath).
    ("rr", "low", "limit"): Range(1, 12, "/min", "below 1/min is no breath at all (apnea); above 12/min "
                                  "an alarm sounds for a normal breathing rate"),
    ("etco2", "high", "limit"): Range(40, 80, "mmHg", "EtCO2 35-45 mmHg is normal ventilation; above 80 mmHg "
                                      "is severe hypercapnia: an alarm set there is off"),
}

# How far on the safe side a value must come back before an alarm ends, by parameter.
HYSTERESIS = {
    "spo2": Range(0, 3, "points", "wider keeps an alarm active after recovery"),
    "hr": Range(0, 10, "bpm", "wider keeps an alarm active after recovery"),
    "pi": Range(0, 1, "%", "wider keeps an alarm active after recovery"),
    "sbp": Range(0, 10, "mmHg", "wider keeps an alarm active after recovery"),
    "dbp": Range(0, 10, "mmHg", "wider keeps an alarm active after recovery"),
    "map": Range(0, 10, "mmHg", "wider keeps an alarm active after recovery"),
    "nibp_hr": Range(0, 10, "bpm", "wider keeps an alarm active after recovery"),
    "rr": Range(0, 3, "/min", "wider keeps an alarm active after recovery"),
    "etco2": Range(0, 5, "mmHg", "wider keeps an alarm active after recovery"),
}

# ----------------------------------------------------------------- clinic.toml: per device
DEVICE = {
    # SunTech `timeout`: from the start of a measurement to its result.
    "timeout": Range(30, 180, "s", "a cuff measurement takes up to 180 s (IEC 80601-2-30); "
                     "shorter fails every BP"),
    "baudrate": Range(1200, 115200, "baud", "the serial rates these devices speak", whole=True),
    "seed": Range(0, 2 ** 32 - 1, "", "a simulation seed", whole=True),
}
# ----------------------------------------------------------------- clinic.toml: [integrations.NAME]
INTEGRATION = {
    "port": Range(1, 65535, "", "a TCP port", whole=True),
    "vitals_every_s": Range(10, HOUR, "s", "shorter sends an interface engine a message per chair every few "
                            "seconds; longer than an hour is no longer a trend in the chart", whole=True),
    "connect_timeout_s": Range(1, 120, "s", "shorter fails on a slow network; longer holds every message "
                               "behind a receiver that is gone"),
    "ack_timeout_s": Range(1, 300, "s", "an interface engine answers in seconds; longer holds every "
                           "message behind one that never answers"),
    "retry_max_s": Range(5, HOUR, "s", "retrying faster hammers a receiver that is down; longer than an "
                         "hour leaves the chart an hour behind after it is back"),
}
BAUD_RATES = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)


def side(op: str) -> str:
    """'low' for an alarm below a limit (< <=), 'high' above it."""
    return "low" if op in ("<", "<=") else "high"
