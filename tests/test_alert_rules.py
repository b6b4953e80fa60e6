"""The alarm engine against the default protocol (docs/ARCHITECTURE.md): exact start and end times."""
from __future__ import annotations

import pytest

from monitor.alerts import AlertEngine
from monitor.model import Alert, Baseline, DeviceSignal, Event, Reading

T0 = 1_700_000_000.0


def feed_series(engine, parameter, values, start=0.0, status="ok", source="ox", step=1.0):
    """Feed one reading per step seconds; returns every change."""
    out = []
    for i, v in enumerate(values):
        out += engine.feed(Reading(T0 + start + i * step, parameter, v, status, source))
    return out


def alerts_of(changes, rule=None):
    return [c for c in changes if isinstance(c, Alert) and (rule is None or c.rule == rule)]


def starts(changes, rule):
    seen, out = set(), []
    for c in alerts_of(changes, rule):
        if c.key not in seen:
            seen.add(c.key)
            out.append(c)
    return out


def final(changes, rule):
    """The last snapshot of each alert of this rule."""
    last = {}
    for c in alerts_of(changes, rule):
        last[c.key] = c
    return list(last.values())


@pytest.fixture
def engine(protocol):
    return AlertEngine(protocol)


def start_infusion(engine, at):
    return engine.event(Event(T0 + at, "infusion_start"))


# ---------------------------------------------------------------- sustained rules
def test_spo2_low_fires_when_window_completes(engine):
    changes = feed_series(engine, "spo2", [97] * 5 + [91] * 20)
    fired = starts(changes, "spo2_low")
    assert len(fired) == 1
    # first low reading at t=5; 15 s window completes with the reading at t=20
    assert fired[0].started_at == T0 + 20
    assert fired[0].priority == "medium" and fired[0].kind == "physiological"
    assert fired[0].limit == 92 and fired[0].value == 91
    assert fired[0].message == "SpO2 91 < 92"


def test_spo2_low_needs_every_reading_in_window(engine):
    changes = feed_series(engine, "spo2", [91] * 14 + [93] + [91] * 14)
    assert starts(changes, "spo2_low") == []


def test_spo2_low_ends_after_clear_window_with_hysteresis(engine):
    # low for 20 s; then 92 (inside hysteresis, not safe) for 5 s; then 93 (safe) for 12 s
    changes = feed_series(engine, "spo2", [90] * 20 + [92] * 5 + [93] * 12)
    (a,) = final(changes, "spo2_low")
    assert a.started_at == T0 + 15
    # first safe reading at t=25; 10 s later, t=35, the alert ends
    assert a.ended_at == T0 + 35
    assert a.value == 90


def test_alert_value_is_worst_seen(engine):
    changes = feed_series(engine, "spo2", [91] * 16 + [89, 87, 90] + [95] * 11)
    (a,) = final(changes, "spo2_low")
    assert a.value == 87
    assert "87" in a.message


def test_spo2_critical_is_high_priority_after_10s(engine):
    changes = feed_series(engine, "spo2", [86] * 12)
    (a,) = starts(changes, "spo2_critical")
    assert a.started_at == T0 + 10 and a.priority == "high"


def test_hr_rules_windows(engine):
    changes = feed_series(engine, "hr", [145] * 40)
    assert starts(changes, "hr_critical")[0].started_at == T0 + 15
    assert starts(changes, "hr_high")[0].started_at == T0 + 30
    assert starts(changes, "hr_high")[0].priority == "medium"


def test_hr_high_hysteresis_is_5_bpm(engine):
    changes = feed_series(engine, "hr", [125] * 31 + [118] * 15 + [115] * 11)
    (a,) = final(changes, "hr_high")
    # 118 is not below 120 - 5, so the clear window starts at the first 115 (t=46)
    assert a.ended_at == T0 + 56


def test_hr_low(engine):
    changes = feed_series(engine, "hr", [44] * 31)
    (a,) = starts(changes, "hr_low")
    assert a.started_at == T0 + 30 and a.message == "HR 44 < 45"


@pytest.mark.parametrize("status", ["sensor_off", "searching", "artifact"])
def test_flagged_readings_never_raise(engine, status):
    changes = feed_series(engine, "spo2", [70] * 60, status=status)
    changes += feed_series(engine, "hr", [180] * 60, start=0, status=status)
    assert [c for c in alerts_of(changes) if c.kind == "physiological"] == []


def test_flagged_readings_do_not_extend_or_end(engine):
    changes = feed_series(engine, "hr", [150] * 20)
    (a,) = starts(changes, "hr_critical")
    # artifact readings claiming a normal value must not end it, nor worse values extend it
    more = feed_series(engine, "hr", [60] * 15 + [200] * 3, start=20, status="artifact")
    assert [c for c in alerts_of(more) if c.rule == "hr_critical"] == []
    assert engine.active and any(x.rule == "hr_critical" and x.value == 150 for x in engine.active)


def test_gap_in_valid_readings_restarts_window(engine):
    changes = feed_series(engine, "spo2", [91] * 8)
    changes += feed_series(engine, "spo2", [91] * 10, start=30)  # 22 s gap
    # window restarts at t=30; only 9 s of low values since: no alert
    assert starts(changes, "spo2_low") == []


# ---------------------------------------------------------------- baselines
def test_baseline_is_median_of_10_min_before_infusion(engine):
    feed_series(engine, "hr", [200] * 5, start=-900)  # too old to count
    feed_series(engine, "hr", [70, 72, 74, 76, 100], start=-100)
    changes = start_infusion(engine, 0)
    b = {c.parameter: c for c in changes if isinstance(c, Baseline)}
    assert b["hr"].value == 74 and b["hr"].source == "computed"


def test_hr_rise_relative_to_baseline(engine):
    feed_series(engine, "hr", [80] * 60, start=-60)
    start_infusion(engine, 0)
    # 1.30 x 80 = 104: 103 never fires, 104 fires after 60 s
    changes = feed_series(engine, "hr", [103] * 70, start=1)
    assert starts(changes, "hr_rise") == []
    changes = feed_series(engine, "hr", [104] * 61, start=71)
    (a,) = starts(changes, "hr_rise")
    assert a.started_at == T0 + 131 and a.limit == 104 and a.priority == "low"
    assert "1.3 × baseline 80" in a.message


def test_spo2_drop_relative(engine):
    feed_series(engine, "spo2", [98] * 30, start=-30)
    start_infusion(engine, 0)
    changes = feed_series(engine, "spo2", [94] * 31, start=1)
    (a,) = starts(changes, "spo2_drop")
    assert a.limit == 94 and a.started_at == T0 + 31


def test_provisional_baseline_when_none_before_infusion(engine):
    start_infusion(engine, 0)
    changes = feed_series(engine, "hr", [90] + [117] * 61, start=5)
    b = [c for c in changes if isinstance(c, Baseline)]
    assert b[0].value == 90 and b[0].source == "provisional"
    assert starts(changes, "hr_rise")[0].limit == 117


def test_no_relative_rules_before_baseline(engine):
    changes = feed_series(engine, "hr", [130] * 100)  # baseline phase: no baseline yet
    assert starts(changes, "hr_rise") == []


def test_entered_baseline_wins(engine):
    feed_series(engine, "hr", [60] * 30, start=-30)
    engine.event(Event(T0 - 1, "baseline_set", "HR 100 by hand", "DR"), {"hr": 100})
    start_infusion(engine, 0)
    changes = feed_series(engine, "hr", [125] * 61, start=1)
    assert starts(changes, "hr_rise") == []  # 1.3 x 100 = 130
    assert engine.baselines.values["hr"].source == "entered"


# ---------------------------------------------------------------- NIBP
def bp(engine, at, sbp, dbp, status="ok", detail=None):
    ts = T0 + at
    out = []
    if status == "error":
        out += engine.feed(Reading(ts, "sbp", None, "error", "cuff", detail))
    else:
        for p, v in (("sbp", sbp), ("dbp", dbp), ("map", round(dbp + (sbp - dbp) / 3))):
            out += engine.feed(Reading(ts, p, v, "ok", "cuff"))
    return out + engine.advance(ts + 1)


def test_bp_critical_on_measurement_and_ends_at_next_normal(engine):
    changes = bp(engine, 0, 186, 100)
    (a,) = starts(changes, "bp_critical")
    assert a.started_at == T0 and a.priority == "high" and a.value == 186 and a.limit == 180
    assert a.message == "BP 186/100: SBP 186 ≥ 180"
    assert starts(changes, "bp_high")
    changes = bp(engine, 300, 170, 95)
    (ended,) = final(changes, "bp_critical")
    assert ended.ended_at == T0 + 300
    assert not [c for c in final(changes, "bp_high") if c.ended_at]  # still >= 160


def test_dbp_alone_meets_bp_critical(engine):
    changes = bp(engine, 0, 150, 112)
    (a,) = starts(changes, "bp_critical")
    assert a.parameter == "dbp" and a.value == 112 and a.limit == 110


def test_sbp_low_and_rise(engine):
    bp(engine, -600, 120, 70)
    bp(engine, -300, 124, 72)
    start_infusion(engine, 0)
    changes = bp(engine, 300, 146, 80)  # 1.2 x median(120, 124)=122 -> 146.4
    assert starts(changes, "sbp_rise") == []
    changes = bp(engine, 600, 147, 80)
    assert starts(changes, "sbp_rise")[0].limit == pytest.approx(146.4)
    changes = bp(engine, 900, 88, 50)
    assert starts(changes, "sbp_low")[0].started_at == T0 + 900
    assert final(changes, "sbp_rise")[0].ended_at == T0 + 900


def test_baseline_bp_high_advisory_only_before_infusion(engine):
    changes = bp(engine, -600, 150, 85)
    (a,) = starts(changes, "baseline_bp_high")
    assert a.priority == "low" and a.started_at == T0 - 600
    changes = start_infusion(engine, 0)
    assert final(changes, "baseline_bp_high")[0].ended_at == T0
    changes = bp(engine, 300, 150, 85)
    assert starts(changes, "baseline_bp_high") == []


def test_nibp_failed_then_cleared(engine):
    changes = bp(engine, 0, None, None, status="error", detail="motion artifact (code 2)")
    (a,) = starts(changes, "nibp_failed")
    assert a.kind == "technical" and a.priority == "low" and "motion" in a.message
    changes = bp(engine, 60, 120, 80)
    assert final(changes, "nibp_failed")[0].ended_at == T0 + 60


def test_nibp_overdue_during_infusion(engine):
    bp(engine, -10, 120, 80)
    start_infusion(engine, 0)
    changes = engine.advance(T0 + 449)
    assert starts(changes, "nibp_overdue") == []
    changes = engine.advance(T0 + 451)
    (a,) = starts(changes, "nibp_overdue")
    assert a.started_at == T0 + 450 and a.kind == "technical"
    changes = bp(engine, 470, 120, 80)
    assert final(changes, "nibp_overdue")[0].ended_at == T0 + 470


# ---------------------------------------------------------------- technical
def test_signal_lost_after_10s_without_valid_spo2(engine):
    feed_series(engine, "spo2", [97] * 5)
    changes = feed_series(engine, "spo2", [None] * 15, start=5, status="sensor_off")
    (a,) = starts(changes, "oximeter_signal_lost")
    assert a.kind == "technical" and a.started_at == T0 + 14  # last valid at t=4
    assert "sensor off" in a.message
    changes = feed_series(engine, "spo2", [97], start=20)
    assert final(changes, "oximeter_signal_lost")[0].ended_at == T0 + 20


def test_device_disconnected_from_silence_and_cleared(engine):
    engine.signal(DeviceSignal(T0, "ox", True))
    assert engine.advance(T0 + 9.5) == []
    changes = engine.advance(T0 + 12)
    (a,) = starts(changes, "device_disconnected")
    assert a.started_at == T0 + 10 and a.priority == "medium"
    changes = engine.signal(DeviceSignal(T0 + 20, "ox", True))
    assert final(changes, "device_disconnected")[0].ended_at == T0 + 20


def test_session_end_closes_everything(engine):
    feed_series(engine, "hr", [150] * 35)
    changes = engine.event(Event(T0 + 35, "session_end"))
    last = {a.key: a for a in alerts_of(changes)}
    assert {a.rule for a in last.values()} == {"hr_critical", "hr_high"}
    assert all(a.ended_at == T0 + 35 for a in last.values())
    assert engine.active == []
    assert feed_series(engine, "hr", [150] * 40, start=36) == []


def test_limit_change_applies_for_this_session(engine):
    engine.event(Event(T0, "limit_change"), {"rule": "hr_high", "clause": 0, "old": 120, "new": 130})
    changes = feed_series(engine, "hr", [125] * 40, start=1)
    assert starts(changes, "hr_high") == []
    changes = feed_series(engine, "hr", [131] * 31, start=41)
    assert starts(changes, "hr_high")[0].limit == 130


def _whole_session(engine) -> list:
    """Baseline, infusion with a tachycardia, a cuff error, a silent oximeter and an overdue BP, recovery, end:
    every entry point of the engine (feed, signal, advance, event) with the times the input carries."""
    out = engine.signal(DeviceSignal(T0 - 700, "ox", True))
    out += feed_series(engine, "hr", [80] * 60, start=-660)
    out += bp(engine, -600, 120, 70) + bp(engine, -300, 124, 72)
    out += start_infusion(engine, 0)
    out += feed_series(engine, "hr", [150 if 10 < i < 50 else 80 for i in range(100)], start=1)
    out += feed_series(engine, "spo2", [97] * 5 + [None] * 15, start=101, status="ok")
    out += bp(engine, 200, None, None, status="error", detail="motion artifact (code 2)")
    out += engine.advance(T0 + 700)
    out += engine.event(Event(T0 + 2400, "infusion_end"))
    out += engine.event(Event(T0 + 3000, "session_end"))
    return out


def test_clock_free_same_input_same_output(protocol, monkeypatch):
    """Nothing in the engine reads a clock: with every clock made to raise, a whole session gives
    exactly the alarms it gives with the clocks working (times come only from the input)."""
    import datetime
    import time

    expected = _whole_session(AlertEngine(protocol))
    assert {c.rule for c in alerts_of(expected)} >= {"hr_high", "hr_critical", "nibp_failed",
                                                     "oximeter_signal_lost", "nibp_overdue"}

    def no_clock(*_args, **_kw):
        raise AssertionError("the alarm engine read a clock")
    for name in ("time", "time_ns", "monotonic", "monotonic_ns", "perf_counter", "perf_counter_ns",
                 "process_time", "process_time_ns"):
        monkeypatch.setattr(time, name, no_clock)
    for name, n_given in (("localtime", 1), ("gmtime", 1), ("ctime", 1), ("asctime", 1), ("strftime", 2)):
        real = getattr(time, name)  # these read the clock only when not given a time

        def without_clock(*args, _real=real, _n=n_given):
            if len(args) < _n or args[_n - 1] is None:
                no_clock()
            return _real(*args)
        monkeypatch.setattr(time, name, without_clock)

    class NoClockDatetime(datetime.datetime):
        now = utcnow = today = fromtimestamp = utcfromtimestamp = classmethod(no_clock)

    class NoClockDate(datetime.date):
        today = fromtimestamp = classmethod(no_clock)
    monkeypatch.setattr(datetime, "datetime", NoClockDatetime)
    monkeypatch.setattr(datetime, "date", NoClockDate)
    with pytest.raises(AssertionError, match="read a clock"):
        time.time()  # the patch is in force

    assert _whole_session(AlertEngine(protocol)) == expected


def test_limit_change_for_unknown_rule_is_ignored(engine):
    assert engine.event(Event(T0, "limit_change"), {"rule": "no_such_rule", "new": 1}) == []
    assert engine.event(Event(T0, "limit_change"), {"rule": "hr_high", "clause": 5, "new": 130}) == []
    assert engine.rules["hr_high"].clauses[0].limit == 120


def test_entered_high_baseline_raises_the_advisory_at_once(engine):
    changes = engine.event(Event(T0, "baseline_set", "by hand", "DR"), {"sbp": 150, "dbp": 95})
    (a,) = starts(changes, "baseline_bp_high")
    assert a.started_at == T0 and "150" in a.message
    changes = engine.event(Event(T0 + 60, "baseline_set", "corrected", "DR"), {"sbp": 130, "dbp": 80})
    assert final(changes, "baseline_bp_high")[0].ended_at == T0 + 60


def test_bp_alert_keeps_the_worst_clause_across_measurements(engine):
    changes = bp(engine, 10, 170, 112)  # DBP 112 >= 110 (1.8 % beyond), SBP 170 below 180
    (a,) = starts(changes, "bp_critical")
    assert (a.parameter, a.value) == ("dbp", 112)
    changes = bp(engine, 300, 195, 100)  # SBP 195 >= 180 (8.3 % beyond): the worse measurement
    (a,) = final(changes, "bp_critical")
    assert (a.parameter, a.value, a.limit) == ("sbp", 195, 180) and a.message == "BP 195/100: SBP 195 ≥ 180"
    changes = bp(engine, 600, 182, 111)  # still critical, but milder: the record keeps 195
    assert final(changes, "bp_critical") == []


def test_bp_alert_starts_on_the_clause_furthest_beyond(engine):
    (a,) = starts(bp(engine, 0, 200, 111), "bp_critical")
    assert (a.parameter, a.value) == ("sbp", 200)
