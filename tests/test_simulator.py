"""The simulated patient and `simulate`: deterministic, and each scenario does its job."""
from __future__ import annotations

import pytest

from adapters.sim import SCENARIOS, Patient
from monitor.playback import simulate
from monitor.store import queries



def session_rows(store, sid):
    return [(round(r["ts"] - queries.session(store, sid)["started_at"], 3), r["parameter"], r["value"], r["status"])
            for r in queries.readings(store, sid)]


def alert_rules(store, sid):
    return {a["rule"] for a in queries.alerts(store, sid)}


@pytest.mark.slow  # several whole simulated sessions
def test_same_seed_same_session(store, protocol):
    a = simulate(store, protocol, "normal", seed=7)
    b = simulate(store, protocol, "normal", seed=7)
    c = simulate(store, protocol, "normal", seed=8)
    assert session_rows(store, a.session_id) == session_rows(store, b.session_id)
    assert session_rows(store, a.session_id) != session_rows(store, c.session_id)


def test_random_access_model_is_repeatable():
    p, q = Patient("normal", 3), Patient("normal", 3)
    assert [p.oximeter(t) for t in range(0, 4000, 97)] == [q.oximeter(t) for t in range(0, 4000, 97)]
    assert p.nibp(1200) == q.nibp(1200)


@pytest.mark.slow
def test_normal_session_shape(store, protocol):
    r = simulate(store, protocol, "normal", seed=1)
    s = queries.session(store, r.session_id)
    assert s["state"] == "ended"
    assert s["infusion_start"] - s["started_at"] == 300
    assert s["infusion_end"] - s["infusion_start"] == 2400
    assert [a for a in queries.alerts(store, r.session_id) if a["kind"] == "physiological"] == []
    sbp = [x for x in queries.readings(store, r.session_id, ("sbp",))]
    times = [round((x["ts"] - s["infusion_start"]) / 60, 1) for x in sbp]
    # the first BP is taken as the session opens (result after 30 s); every 5 min in infusion
    assert times[0] == pytest.approx(-4.5)
    inf = [t for t in times if 0 < t <= 40.5]
    assert all(b - a == pytest.approx(5, abs=0.05) for a, b in zip(inf, inf[1:]))
    # ketamine response: mean SBP near minute 40 is above baseline
    base = queries.baselines(store, r.session_id)["sbp"]["value"]
    late = [x["value"] for x in sbp if 30 <= (x["ts"] - s["infusion_start"]) / 60 <= 42]
    assert sum(late) / len(late) > base + 8
    hr = queries.readings(store, r.session_id, ("hr",))
    assert len(hr) == pytest.approx(3900, abs=2)
    assert 55 < min(x["value"] for x in hr) and max(x["value"] for x in hr) < 100


@pytest.mark.slow
@pytest.mark.parametrize("scenario,expected,absent", [
    ("hypertensive", {"bp_critical", "bp_high"}, {"hr_critical"}),
    ("tachycardia", {"hr_high", "hr_critical", "hr_rise"}, {"bp_critical"}),
    ("desaturation", {"spo2_low", "spo2_critical", "spo2_drop"}, {"hr_critical"}),
    ("sensor-off", {"oximeter_signal_lost"}, {"spo2_low", "spo2_critical", "hr_high"}),
    ("disconnect", {"device_disconnected"}, {"spo2_low", "hr_high"}),
    ("artifact", {"nibp_failed"}, {"hr_high", "hr_critical", "spo2_low", "spo2_critical", "spo2_drop"}),
    ("respiratory-depression", {"rr_low", "apnea", "etco2_high"}, {"spo2_low", "spo2_critical", "hr_critical"}),
    ("deep-sedation", {"spo2_drop"}, {"hr_critical", "bp_critical", "rr_low", "apnea"}),
    ("emergence", {"hr_rise"}, {"spo2_low", "spo2_critical", "bp_critical"}),
])
def test_scenario_raises_its_alerts(store, protocol, scenario, expected, absent):
    r = simulate(store, protocol, scenario, seed=0)
    rules = alert_rules(store, r.session_id)
    assert expected <= rules
    assert not (absent & rules)


@pytest.mark.slow  # several whole simulated sessions
def test_flagged_only_scenarios_raise_no_physiological_alarm(store, protocol):
    for scenario in ("sensor-off", "disconnect", "artifact"):
        r = simulate(store, protocol, scenario, seed=2)
        assert [a for a in queries.alerts(store, r.session_id) if a["kind"] == "physiological"] == []


@pytest.mark.slow
def test_hypertensive_crosses_180_around_minute_25(store, protocol):
    r = simulate(store, protocol, "hypertensive", seed=0)
    s = queries.session(store, r.session_id)
    crit = [a for a in queries.alerts(store, r.session_id) if a["rule"] == "bp_critical"]
    minute = (crit[0]["started_at"] - s["started_at"]) / 60
    assert 20 <= minute <= 30
    assert crit[0]["message"].startswith("BP ") and "≥ 180" in crit[0]["message"]


def test_every_scenario_is_listed_and_has_a_description():
    assert set(SCENARIOS) >= {"normal", "hypertensive", "tachycardia", "desaturation", "sensor-off",
                              "disconnect", "artifact", "respiratory-depression", "deep-sedation", "emergence",
                              "esketamine"}
    assert all(s.description for s in SCENARIOS.values())


@pytest.mark.slow  # several whole simulated sessions
def test_paced_playback_matches_max_speed(store, protocol, monkeypatch):
    """--speed only changes pacing: the alerts (relative to session start) are the same."""
    import monitor.playback as pb
    slept = []
    monkeypatch.setattr(pb.Pacer, "wait_for", lambda self, k: slept.append(k))
    a = simulate(store, protocol, "desaturation", seed=4, speed=None)
    b = simulate(store, protocol, "desaturation", seed=4, speed=1000.0)
    assert slept  # the paced run asked to be paced

    def rel(sid):
        s0 = queries.session(store, sid)["started_at"]
        return [(x["rule"], round(x["started_at"] - s0, 3), round(x["ended_at"] - s0, 3), x["value"])
                for x in queries.alerts(store, sid)]
    assert rel(a.session_id) == rel(b.session_id)


class PausingClock:
    """The live sim's context and stop event on a clock the test moves: `wait` advances it,
    and before step `pause_at` the process is held up for `pause_s`."""

    def __init__(self, steps: int, pause_at: int, pause_s: float):
        self.t, self.steps, self.pause_at, self.pause_s = 1000.0, steps, pause_at, pause_s
        self.readings, self.taken = [], 0

    def now(self):
        return self.t

    def phase(self):
        return None, None

    def take_commands(self, kind):
        self.taken += 1
        if self.taken == self.pause_at:
            self.t += self.pause_s
        return []

    def reading(self, r):
        self.readings.append(r)

    def signal(self, sig):
        pass

    def cuff_pressure(self, source, mmhg):
        pass

    def is_set(self):
        return self.taken >= self.steps

    def wait(self, seconds):
        self.t += seconds + 0.01  # the thread wakes a little late


def test_live_sim_keeps_its_beat_and_makes_up_no_seconds_missed_in_a_pause():
    from adapters.nibp_cycle import NibpCycle
    from adapters.sim.devices import SimBedside
    clock = PausingClock(steps=6, pause_at=4, pause_s=30.0)
    SimBedside(Patient("normal", 1), NibpCycle(), t0=1000.0).run(clock, clock)
    ts = sorted({r.ts for r in clock.readings if r.parameter == "hr"})
    gaps = [round(b - a, 2) for a, b in zip(ts, ts[1:])]
    # a thread waking a little late stays on the beat; after the pause, no burst of back-dated
    # steps: the next is stamped after it (the chair charts the gap as an interruption)
    assert len(gaps) == 5 and 30.0 <= gaps[2] <= 32.0
    assert [g for k, g in enumerate(gaps) if k != 2] == [1.0] * 4, gaps


def test_esketamine_bp_peaks_near_minute_40_of_dosing():
    """The esketamine scenario's cuff: the pressor response is highest about 40 min after the
    first device (Patient.nibp over a whole session, seeded), well past the pre-dose value."""
    p = Patient("esketamine", seed=0)
    start = next(t for t, kind, _ in p.scenario.events if kind == "infusion_start")
    sbp = {t: p.nibp(t).sbp for t in range(0, int(p.scenario.length_s), 60)}
    peak = max(sbp, key=sbp.get)
    assert 35 <= (peak - start) / 60 <= 45
    assert sbp[peak] >= p.nibp(start - 60).sbp + 40
    assert p.scenario.length_s - next(t for t, kind, _ in p.scenario.events if kind == "infusion_stop") >= 7200
