"""Escalation (issue 15 part 4), the engine's side: pure, from reading timestamps only.

An alarm nobody signs for within its profile's time escalates at exactly started_at + that
time (docs/ARCHITECTURE.md "Escalation"; monitor/alerts/escalation.py).
"""
from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from monitor.alerts import AlertEngine
from monitor.alerts.escalation import escalates
from monitor.model import Alert, DeviceSignal, Event, Reading
from monitor.protocol import DEFAULT_ESCALATION_S, ProtocolError, load_protocol, shipped_profile_path
from monitor.sane_ranges import ESCALATION

T0 = 1_700_000_000.0
SHIPPED = shipped_profile_path("ketamine-iv").read_text(encoding="utf-8")


def desaturation(engine, seconds=60, step=1.0, ticks=None):
    """SpO2 80 every `step` s from T0 (spo2_critical, HIGH, raised at T0 + 10), with the chair's
    tick advancing the engine every `ticks` s in between (None: no tick). Returns every change."""
    out, t, next_tick = [], 0.0, ticks
    while t <= seconds:
        while ticks and next_tick < t:
            out += engine.advance(T0 + next_tick)
            next_tick += ticks
        out += engine.feed(Reading(T0 + t, "spo2", 80, "ok", "ox"))
        out += engine.feed(Reading(T0 + t, "hr", 80, "ok", "ox"))
        t += step
    return out


def escalations(changes, rule=None):
    """The first snapshot of each alarm that carries escalated_at (the escalation itself)."""
    seen, out = set(), []
    for c in changes:
        if isinstance(c, Alert) and c.escalated_at is not None and c.key not in seen \
                and (rule is None or c.rule == rule):
            seen.add(c.key)
            out.append(c)
    return out


def raised(changes, rule):
    return next(c for c in changes if isinstance(c, Alert) and c.rule == rule)


def test_a_high_alarm_escalates_at_exactly_its_start_plus_the_profiles_time(protocol):
    changes = desaturation(AlertEngine(protocol))
    alarm = raised(changes, "spo2_critical")
    assert alarm.priority == "high" and alarm.started_at == T0 + 10
    esc = escalations(changes, "spo2_critical")
    assert len(esc) == 1 and esc[0].key == alarm.key
    assert esc[0].escalated_at == alarm.started_at + protocol.escalation_s["high"] == T0 + 40
    # every later snapshot of it carries the same moment
    later = [c for c in changes if isinstance(c, Alert) and c.key == alarm.key][-1]
    assert later.escalated_at == T0 + 40


def test_not_before_its_moment(protocol):
    changes = desaturation(AlertEngine(protocol), seconds=39)
    assert escalations(changes) == []


def test_an_alarm_signed_for_in_time_never_escalates(protocol):
    engine = AlertEngine(protocol)
    changes = desaturation(engine, seconds=20)
    key = raised(changes, "spo2_critical").key
    engine.event(Event(T0 + 40, "acknowledge", "", "RN"), {"key": key})  # at the very moment: in time
    changes += desaturation_from(engine, 21, 200)
    assert escalations(changes, "spo2_critical") == []
    assert escalations(changes, "spo2_low")  # the MEDIUM one beside it, nobody signed for: it does


def desaturation_from(engine, start, end, worsening=False):
    out = []
    for t in range(start, end):
        out += engine.feed(Reading(T0 + t, "spo2", 80 - (t - start) * 0.1 if worsening else 80, "ok", "ox"))
    return out


def test_a_signature_heard_late_undoes_the_escalation(protocol):
    """Events reach the engine at the chair's next tick: a signature made before the moment but
    heard after it means the alarm did not escalate (the store never writes it: test_escalation_store)."""
    engine = AlertEngine(protocol)
    changes = desaturation(engine, seconds=41)
    alarm = escalations(changes)[0]
    engine.event(Event(T0 + 39.5, "acknowledge", "", "RN"), {"key": alarm.key})
    later = desaturation_from(engine, 42, 60, worsening=True)  # each a new snapshot (a new worst value)
    assert [c for c in later if isinstance(c, Alert) and c.key == alarm.key] and all(c.escalated_at is None for c in later if isinstance(c, Alert) and c.key == alarm.key)


@pytest.mark.parametrize("step,ticks", [(1.0, None), (1.0, 0.1), (1.0, 3.7), (0.5, 1.0), (2.0, 7.3)])
def test_the_same_moment_at_any_replay_speed_or_tick(protocol, step, ticks):
    """Replay at any speed, with or without live ticks: escalated_at depends on timestamps only."""
    changes = desaturation(AlertEngine(protocol), seconds=90, step=step, ticks=ticks)
    alarm = raised(changes, "spo2_critical")
    assert [(e.key, e.escalated_at) for e in escalations(changes)] == \
        [(alarm.key, alarm.started_at + 30)]


def test_the_same_record_at_any_speed(protocol):
    """The whole list of escalations is identical whether readings come every second or faster."""
    a = desaturation(AlertEngine(protocol), seconds=200, step=1.0)
    b = desaturation(AlertEngine(protocol), seconds=200, step=1.0, ticks=0.25)
    assert [(e.key, e.escalated_at) for e in escalations(a)] == [(e.key, e.escalated_at) for e in escalations(b)]


def test_a_medium_alarm_takes_its_own_time(protocol):
    engine = AlertEngine(protocol)
    out = []
    for t in range(0, 200):
        out += engine.feed(Reading(T0 + t, "spo2", 90, "ok", "ox"))  # spo2_low only (medium)
    alarm = raised(out, "spo2_low")
    assert [(e.key, e.escalated_at) for e in escalations(out)] == [(alarm.key, alarm.started_at + 120)]


def test_a_medium_alarm_over_before_its_moment_never_escalates(protocol):
    engine = AlertEngine(protocol)
    out = []
    for t in range(0, 300):
        out += engine.feed(Reading(T0 + t, "spo2", 90 if t < 60 else 97, "ok", "ox"))
    assert [c for c in out if isinstance(c, Alert)][-1].ended_at is not None
    assert escalations(out) == []


def test_an_ended_high_alarm_nobody_signed_for_escalates(protocol):
    """It stays on the board (sessions.on_alarm_board): it escalates like an active one."""
    engine = AlertEngine(protocol)
    out = []
    for t in range(0, 120):
        out += engine.feed(Reading(T0 + t, "spo2", 80 if t < 15 else 97, "ok", "ox"))
    alarm = [c for c in out if isinstance(c, Alert) and c.rule == "spo2_critical"][-1]
    assert alarm.ended_at is not None and alarm.ended_at < alarm.started_at + 30
    assert [e.escalated_at for e in escalations(out)] == [alarm.started_at + 30]


def test_a_low_alarm_without_low_s_never_escalates(protocol):
    assert "low" not in protocol.escalation_s
    engine = AlertEngine(protocol)
    out = engine.feed(Reading(T0, "sbp", None, "error", "cuff", "motion"))
    out += engine.advance(T0 + 1)
    assert raised(out, "nibp_failed").priority == "low"
    for t in range(2, 4000, 10):
        out += engine.advance(T0 + t)
    assert escalations(out) == []


def test_a_low_alarm_escalates_when_the_profile_says_so(protocol):
    engine = AlertEngine(replace(protocol, escalation_s={**protocol.escalation_s, "low": 600.0}))
    out = engine.feed(Reading(T0, "sbp", None, "error", "cuff", "motion"))
    for t in range(1, 700, 10):
        out += engine.advance(T0 + t)
    alarm = raised(out, "nibp_failed")
    assert [e.escalated_at for e in escalations(out)] == [alarm.started_at + 600]


def test_a_device_gone_escalates_on_the_ticks_alone(protocol):
    """No reading arrives from a device that is gone: the chair's once-a-second tick
    (Chair.tick → SessionRecorder.advance) is what lets time pass, and the moment is still exact."""
    engine = AlertEngine(protocol)
    out = engine.signal(DeviceSignal(T0, "ox", True))
    for k in range(1, 1500):
        out += engine.advance(T0 + k * 0.1 + 0.033)  # ticks that never fall on a whole second
    alarm = raised(out, "device_disconnected")
    assert alarm.kind == "technical" and alarm.priority == "medium" and alarm.started_at == T0 + 10
    assert [e.escalated_at for e in escalations(out)] == [T0 + 10 + 120]


def test_nothing_escalates_after_the_session_ends(protocol):
    engine = AlertEngine(protocol)
    out = desaturation(engine, seconds=20)
    engine.event(Event(T0 + 21, "session_end", "", "RN"))
    out += engine.advance(T0 + 500)
    assert escalations(out) == []


def test_the_rule_itself():
    after = {"high": 30.0, "medium": 120.0}
    a = Alert("k#1", "spo2_critical", "spo2", "physiological", "high", 100.0, 80, 88, "SpO2 80 < 88")
    assert not escalates(a, after, None, 129.9)
    assert escalates(a, after, None, 130.0)
    assert not escalates(a, after, 130.0, 200.0)  # signed at the moment: in time
    assert escalates(a, after, 130.5, 200.0)  # signed after it escalated
    m = replace(a, priority="medium", ended_at=150.0)
    assert not escalates(m, after, None, 300.0)  # a MEDIUM over before its moment is off the board
    assert escalates(replace(m, ended_at=230.0), after, None, 300.0)
    assert not escalates(replace(a, priority="low"), after, None, 1e9)


# ----------------------------------------------------------------- the profile
def _profile(tmp_path, text: str) -> Path:
    p = tmp_path / "profile.toml"
    p.write_text(text, encoding="utf-8")
    return p


def _without_table(text: str) -> str:
    return re.sub(r"\[escalation\]\n(?:(?:[a-z#].*)?\n)*?\n", "", text)


def test_a_profile_without_the_table_keeps_the_defaults(tmp_path):
    text = _without_table(SHIPPED)
    assert "[escalation]" not in text
    assert load_protocol(_profile(tmp_path, text)).escalation_s == DEFAULT_ESCALATION_S == {"high": 30, "medium": 120}


def test_every_shipped_profile_has_the_table():
    for name in ("ketamine-iv", "esketamine-rems", "ketamine-pain"):
        text = shipped_profile_path(name).read_text(encoding="utf-8")
        assert "[escalation]" in text and "IEC 60601-1-8" in text and "IHE PCD" in text
        assert load_protocol(name).escalation_s == {"high": 30, "medium": 120}


def test_low_s_is_read(tmp_path):
    text = SHIPPED.replace("# low_s = 600 ", "low_s = 600   ")
    assert load_protocol(_profile(tmp_path, text)).escalation_s == {"high": 30, "medium": 120, "low": 600}


@pytest.mark.parametrize("key", sorted(ESCALATION))
def test_each_time_is_refused_outside_its_range_with_file_and_key(tmp_path, key):
    name, sane = key.rpartition(".")[2], ESCALATION[key]
    for ok in (sane.low, sane.high):
        assert load_protocol(_profile(tmp_path, _only(SHIPPED, name, f"{ok:g}"))).escalation_s[name[:-2]] == ok
    for bad in (sane.low - 1, sane.high + 1, "nan", "inf"):
        p = _profile(tmp_path, _only(SHIPPED, name, bad))
        with pytest.raises(ProtocolError) as e:
            load_protocol(p)
        assert str(e.value).startswith(f"{p}: {key}: ") and ("outside " + sane.text in str(e.value) or "number" in str(e.value))


def _only(text: str, name: str, value) -> str:
    """The shipped profile with [escalation] holding `name = value` and its other keys as shipped."""
    head, rest = text.split("[escalation]\n", 1)
    table, tail = rest.split("\n\n", 1)
    lines = [ln for ln in table.splitlines() if not re.match(rf"^(# )?{name} = ", ln)]
    return head + "[escalation]\n" + "\n".join(lines + [f"{name} = {value}"]) + "\n\n" + tail


def test_an_unknown_key_is_refused(tmp_path):
    p = _profile(tmp_path, SHIPPED.replace("[escalation]\n", "[escalation]\ncritical_s = 5\n"))
    with pytest.raises(ProtocolError, match="escalation.critical_s: unknown key"):
        load_protocol(p)
