"""A simulated patient under IV ketamine: deterministic, random-access in time.

`Patient(scenario, seed).oximeter(t)`, `.capnograph(t)` and `.nibp(t)` answer for any second t since
session start without replaying the past, so the `sim` adapter, the `simulate`
command and every serial emulator agree on what the patient is doing.

The response follows published figures: BP peaking about +16/+11 mmHg near
minute 40 of infusion, HR up a few beats, SpO2 down a point at most; breathing
unchanged (RR 12-18/min, EtCO2 35-45 mmHg) unless a scenario depresses it.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Optional

from monitor.model import mean_arterial

INFUSION_START_S = 300      # the demo session: 5 min baseline
INFUSION_LENGTH_S = 2400    # 40 min infusion
RECOVERY_S = 1200           # 20 min recovery
SESSION_LENGTH_S = INFUSION_START_S + INFUSION_LENGTH_S + RECOVERY_S

ESKETAMINE_OBSERVATION_S = 7200  # the esketamine REMS: at least 2 h after the last device

NIBP_ERRORS = {
    1: "weak signal", 2: "motion artifact", 3: "out of range", 4: "measurement timeout",
    85: "air leak or blockage", 87: "cuff error", 89: "over-pressure", 90: "hardware fault",
}


@dataclass(frozen=True)
class Episode:
    """A scenario's deviation over [start_s, end_s) of session time."""

    start_s: float
    end_s: float
    kind: str  # hr | spo2 | sensor_off | searching | silent | artifact | nibp_error | garbage
    #            | rr (breaths/min fewer) | etco2 (mmHg more) | apnea (no breath at all)
    amount: float = 0.0


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    base_hr: float = 74.0
    base_spo2: float = 97.0
    base_sbp: float = 122.0
    base_dbp: float = 76.0
    base_rr: float = 15.0
    base_etco2: float = 39.0
    bp_rise: tuple = (16.0, 11.0)
    hr_rise: float = 8.0
    peak_s: float = INFUSION_START_S + INFUSION_LENGTH_S  # response peak, session time
    episodes: tuple = field(default_factory=tuple)
    events: tuple = (
        (INFUSION_START_S, "infusion_start", ""),
        (INFUSION_START_S + INFUSION_LENGTH_S, "infusion_stop", ""),
        (SESSION_LENGTH_S, "session_end", ""),
    )
    # what the scenario's nurse charts: (session second, entry type, its data as the entry's
    # check takes it: monitor/observations.entry, or for "padss", "aldrete" and "medication"
    # their own, playback._entry), e.g. (t, "moaas", {"score": 2})
    observations: tuple = ()

    @property
    def length_s(self) -> float:
        return max(t for t, _, _ in self.events)


def _m(minutes: float) -> float:
    """Session seconds for a minute of infusion."""
    return INFUSION_START_S + minutes * 60


def _cadss(*ratings: int) -> dict:
    """CADSS-6 ratings in item order (1, 2, 6, 7, 15, 22) as the entry takes them."""
    return dict(zip(("1", "2", "6", "7", "15", "22"), ratings))


def _aldrete(**scores: int) -> dict:
    """A modified Aldrete as a scenario charts it: every item 2 unless given, ready at 9."""
    items = {k: 2 for k in ("activity", "respiration", "circulation", "consciousness", "spo2")}
    return {"items": {**items, **scores}, "minimum": 9}


def _padss(**scores: int) -> dict:
    """A PADSS as a scenario charts it: every item 2 unless given, discharge at 9."""
    items = {k: 2 for k in ("vital_signs", "activity", "nausea_vomiting", "pain", "bleeding")}
    return {"items": {**items, **scores}, "minimum": 9}


SCENARIOS = {s.name: s for s in [
    Scenario("normal", "typical response, no physiological alarm"),
    Scenario("hypertensive", "SBP beyond 180 around minute 25",
             base_sbp=132, base_dbp=82, bp_rise=(56, 30), peak_s=_m(20)),
    Scenario("tachycardia", "HR climbs past 140 from infusion minute 14",
             episodes=(Episode(_m(14), _m(24), "hr", 74.0),)),
    Scenario("desaturation", "SpO2 falls to 85% around infusion minute 15",
             episodes=(Episode(_m(15), _m(17), "spo2", 12.0),)),
    Scenario("sensor-off", "probe off for 40 s at infusion minute 10",
             episodes=(Episode(_m(10), _m(10) + 40, "sensor_off"),
                       Episode(_m(10) + 40, _m(10) + 46, "searching"))),
    Scenario("disconnect", "oximeter silent for 45 s at infusion minute 10",
             episodes=(Episode(_m(10), _m(10) + 45, "silent"),)),
    Scenario("deep-sedation", "sedation deepens to MOAA/S 1 at infusion minute 30 with SpO2 in the low 90s; "
             "airway support and a rate reduction, awake again in recovery",
             hr_rise=2.0, episodes=(Episode(_m(27), _m(36), "spo2", 5.0), Episode(_m(27), _m(36), "hr", -8.0)),
             observations=(
                 (_m(20), "moaas", {"score": 4}), (_m(20) + 60, "cadss6", {"items": _cadss(1, 2, 1, 1, 2, 1)}),
                 (_m(30), "moaas", {"score": 1}),
                 (_m(30) + 30, "intervention", {"intervention": "airway", "detail": "head repositioned, jaw thrust"}),
                 (_m(31), "intervention", {"intervention": "rate_reduced", "detail": "0.5 to 0.3 mg/kg/h"}),
                 (_m(38), "moaas", {"score": 3}), (_m(40) + 600, "moaas", {"score": 5}),
                 (_m(40) + 660, "cadss6", {"items": _cadss(0, 0, 0, 0, 0, 0)}),
                 (_m(40) + 720, "padss", _padss(activity=1)), (_m(40) + 1140, "padss", _padss()))),
    Scenario("emergence", "an emergence reaction at infusion minute 22: marked dissociation, agitation and "
             "anxiety, HR up; midazolam given; nausea in recovery treated with ondansetron",
             episodes=(Episode(_m(21), _m(29), "hr", 28.0),),
             observations=(
                 (_m(20), "moaas", {"score": 5}), (_m(20) + 60, "cadss6", {"items": _cadss(3, 4, 3, 2, 3, 3)}),
                 (_m(22), "side_effect", {"effects": [{"effect": "agitation", "severity": "severe"},
                                                      {"effect": "anxiety", "severity": "moderate"},
                                                      {"effect": "hallucinations", "severity": "moderate"}]}),
                 (_m(22) + 60, "intervention", {"intervention": "midazolam", "detail": "1 mg IV"}),
                 (_m(22) + 90, "intervention", {"intervention": "reassurance"}),
                 (_m(30), "cadss6", {"items": _cadss(1, 2, 1, 1, 1, 1)}), (_m(30) + 30, "moaas", {"score": 4}),
                 (_m(40) + 300, "side_effect", {"effects": [{"effect": "nausea", "severity": "mild"}]}),
                 (_m(40) + 360, "intervention", {"intervention": "ondansetron", "detail": "4 mg IV"}),
                 (_m(40) + 600, "moaas", {"score": 5}),
                 (_m(40) + 660, "cadss6", {"items": _cadss(0, 0, 0, 0, 0, 0)}),
                 (_m(40) + 720, "padss", _padss(nausea_vomiting=1)))),
    # Esketamine nasal spray, 56 mg as two 28 mg devices five minutes apart (SPRAVATO label): "Start
    # infusion" is the first device, "Stop infusion" the last (monitor/profiles/esketamine-rems.toml).
    # BP peaks about 40 min after the first device; the rise (+46/+24 mmHg at the peak) crosses the
    # profile's bp_rise_from_predose (SBP >= pre-dose + 40). Then the REMS's 2 h of observation after
    # the last device, with the scores a clinic charts, an Aldrete, and PADSS twice 20 min apart.
    Scenario("esketamine", "esketamine nasal spray 56 mg (two devices, minutes 0 and 5): BP peaks near "
             "minute 40 past the pre-dose value + 40 mmHg, sedation and dissociation at 40 min resolved by "
             "the end; 2 h observation after the last device (run it with --protocol esketamine-rems)",
             base_sbp=112, base_dbp=70, bp_rise=(46.0, 24.0), hr_rise=6.0, peak_s=_m(40),
             events=((_m(0), "infusion_start", "first device (28 mg)"),
                     (_m(5), "infusion_stop", "last device (28 mg); 56 mg given"),
                     (_m(5) + ESKETAMINE_OBSERVATION_S + 600, "session_end", "")),
             observations=(
                 (_m(0), "medication", {"drug": "Esketamine nasal spray", "dose": 56, "unit": "mg", "route": "IN",
                                        "lot": "SIM-ESK-0042"}),
                 (_m(40), "moaas", {"score": 4}), (_m(40) + 60, "cadss6", {"items": _cadss(1, 2, 1, 1, 1, 0)}),
                 (_m(5) + 3600, "aldrete", _aldrete()),
                 (_m(5) + ESKETAMINE_OBSERVATION_S - 900, "padss", _padss()),
                 (_m(5) + ESKETAMINE_OBSERVATION_S - 600, "moaas", {"score": 5}),
                 (_m(5) + ESKETAMINE_OBSERVATION_S - 540, "cadss6", {"items": _cadss(0, 0, 0, 0, 0, 0)}),
                 (_m(5) + ESKETAMINE_OBSERVATION_S + 300, "padss", _padss()))),
    Scenario("artifact", "motion spikes flagged by the device, a cuff motion error",
             episodes=tuple(Episode(_m(k * 3 + 2), _m(k * 3 + 2) + 4, "artifact") for k in range(12))
             + (Episode(_m(10), _m(10) + 60, "nibp_error", 2),
                Episode(_m(20), _m(20) + 2, "garbage"))),
    Scenario("respiratory-depression",
             "RR falls to about 6/min and EtCO2 rises past 50 mmHg from infusion minute 12 for about "
             "8 min, with 35 s without a breath at minute 16; SpO2 stays normal (as on oxygen)",
             episodes=(Episode(_m(12), _m(22), "rr", 9.0), Episode(_m(12), _m(22), "etco2", 18.0),
                       Episode(_m(16), _m(16) + 35, "apnea"))),
]}


@dataclass(frozen=True)
class OximeterSample:
    hr: Optional[float]
    spo2: Optional[float]
    pi: Optional[float]
    status: str  # ok | sensor_off | searching | artifact
    silent: bool = False
    garbage: bool = False


@dataclass(frozen=True)
class CapnoSample:
    """What a capnograph reports for one second: rr 0 (and no exhaled CO2) when it detects no breath."""

    rr: Optional[float]
    etco2: Optional[float]
    status: str = "ok"


@dataclass(frozen=True)
class NibpResult:
    sbp: Optional[float]
    dbp: Optional[float]
    map: Optional[float]
    hr: Optional[float]
    error: int = 0

    @property
    def error_text(self) -> str:
        return NIBP_ERRORS.get(self.error, f"error {self.error}")


class Patient:
    """The simulated patient; all randomness comes from (seed, channel, second)."""

    def __init__(self, scenario: str | Scenario = "normal", seed: int = 0):
        if isinstance(scenario, str):
            if scenario not in SCENARIOS:
                raise KeyError(scenario)
            scenario = SCENARIOS[scenario]
        self.scenario = scenario
        self.seed = seed
        rng = random.Random(f"{seed}:shape")
        # Slow drifts: three sinusoids per channel with seeded periods and phases.
        self._waves = {ch: [(rng.uniform(60, 600), rng.uniform(0, 2 * math.pi), rng.uniform(0.3, 1.0))
                            for _ in range(3)] for ch in ("hr", "spo2", "pi")}
        # breathing has its own stream, so adding it left every oximeter value as it was
        rng = random.Random(f"{seed}:breath")
        self._waves.update({ch: [(rng.uniform(60, 600), rng.uniform(0, 2 * math.pi), rng.uniform(0.3, 1.0))
                                 for _ in range(3)] for ch in ("rr", "etco2")})

    # ------------------------------------------------------------ the body
    def response(self, t: float) -> float:
        """0..1: the ketamine pressor response at session time t."""
        start = INFUSION_START_S
        peak = self.scenario.peak_s
        if t <= start:
            return 0.0
        if t <= peak:
            return ((t - start) / (peak - start)) ** 0.8
        return math.exp(-(t - peak) / 720.0)

    def _drift(self, ch: str, t: float, scale: float) -> float:
        total = sum(a * math.sin(2 * math.pi * t / p + ph) for p, ph, a in self._waves[ch])
        return scale * total / 2.0

    def _jitter(self, ch: str, t: float, sd: float) -> float:
        return random.Random(f"{self.seed}:{ch}:{int(t)}").gauss(0, sd)

    def _episode(self, t: float, kind: str) -> Optional[Episode]:
        for e in self.scenario.episodes:
            if e.kind == kind and e.start_s <= t < e.end_s:
                return e
        return None

    def true_hr(self, t: float) -> float:
        s = self.scenario
        hr = s.base_hr + s.hr_rise * self.response(t) + self._drift("hr", t, 3.0)
        e = self._episode(t, "hr")
        if e:
            hr += e.amount * _bump(t, e)
        return hr

    def true_spo2(self, t: float) -> float:
        s = self.scenario
        spo2 = s.base_spo2 - 0.8 * self.response(t) + self._drift("spo2", t, 0.6)
        e = self._episode(t, "spo2")
        if e:
            spo2 -= e.amount * _bump(t, e)
        return spo2

    def true_rr(self, t: float) -> float:
        """Breaths a minute at session time t; 0 during an apnea."""
        if self._episode(t, "apnea"):
            return 0.0
        rr = self.scenario.base_rr + self._drift("rr", t, 1.5)
        e = self._episode(t, "rr")
        if e:
            rr -= e.amount * _bump(t, e)
        return max(1.0, rr)

    def true_etco2(self, t: float) -> float:
        """End-tidal CO2 (mmHg) of the breaths at session time t (CO2 builds up as breathing slows)."""
        etco2 = self.scenario.base_etco2 + self._drift("etco2", t, 2.0)
        e = self._episode(t, "etco2")
        if e:
            etco2 += e.amount * _bump(t, e)
        return etco2

    # ------------------------------------------------------------ devices
    def capnograph(self, t: float) -> CapnoSample:
        """What a sidestream capnograph reports for second t: no breath detected is rr 0, EtCO2 0."""
        if self._episode(t, "apnea"):
            return CapnoSample(0.0, 0.0)
        rr = round(self.true_rr(t) + self._jitter("rr", t, 0.4))
        etco2 = round(self.true_etco2(t) + self._jitter("etco2", t, 0.6))
        return CapnoSample(float(max(1, rr)), float(etco2))

    def oximeter(self, t: float) -> OximeterSample:
        """What a pulse oximeter reports for second t."""
        if self._episode(t, "silent"):
            return OximeterSample(None, None, None, "ok", silent=True)
        garbage = self._episode(t, "garbage") is not None
        if self._episode(t, "sensor_off"):
            return OximeterSample(None, None, None, "sensor_off", garbage=garbage)
        if self._episode(t, "searching"):
            return OximeterSample(None, None, None, "searching", garbage=garbage)
        hr = round(self.true_hr(t) + self._jitter("hr", t, 1.0))
        spo2 = min(100, round(self.true_spo2(t) + self._jitter("spo2", t, 0.3)))
        pi = round(max(0.2, 2.4 + self._drift("pi", t, 0.5) + self._jitter("pi", t, 0.05)), 2)
        if self._episode(t, "artifact"):
            r = random.Random(f"{self.seed}:art:{int(t)}")
            return OximeterSample(round(hr + r.uniform(40, 90)), max(50, spo2 - r.randint(10, 30)), pi,
                                  "artifact", garbage=garbage)
        return OximeterSample(float(hr), float(spo2), pi, "ok", garbage=garbage)

    def nibp(self, t: float) -> NibpResult:
        """The result of a cuff measurement completing at session time t."""
        e = self._episode(t, "nibp_error")
        if e:
            return NibpResult(None, None, None, None, error=int(e.amount))
        s = self.scenario
        f = self.response(t)
        r = random.Random(f"{self.seed}:nibp:{int(t)}")
        sbp = round(s.base_sbp + s.bp_rise[0] * f + r.gauss(0, 3.5))
        dbp = round(s.base_dbp + s.bp_rise[1] * f + r.gauss(0, 2.5))
        mean = round(mean_arterial(sbp, dbp))
        return NibpResult(float(sbp), float(dbp), float(mean), float(round(self.true_hr(t))))


def _bump(t: float, e: Episode) -> float:
    """0..1 rising over the first quarter of an episode, falling over the last quarter."""
    span = e.end_s - e.start_s
    x = (t - e.start_s) / span
    if x < 0.25:
        return x / 0.25
    if x > 0.75:
        return (1 - x) / 0.25
    return 1.0
