"""The alarm engine: readings, events and device signals in; alert changes out.

Pure and deterministic: it never reads the clock, only the timestamps it is given,
so a replay at any speed produces exactly the alerts real time did. Every output is
a full snapshot (an `Alert` or a `Baseline`) that the store can upsert by key. Whether an
alarm nobody signed for escalates is decided beside it (alerts/escalation.py): every output
passes through the session's `Escalation`, which `advance` asks at each moment.
"""
from __future__ import annotations

from copy import copy
from dataclasses import dataclass, field
from functools import wraps
from typing import Optional, Union

from ..formatting import fmt_measured
from ..model import CONTINUOUS, LABELS, MANUAL, OPERATOR_SYMBOLS, Alert, Baseline, DeviceSignal, Event, Reading
from ..protocol import Protocol, Rule
from ..sessions import TRANSITIONS, phase_after
from .baseline import BaselineTracker
from .escalation import Escalation

Change = Union[Alert, Baseline]
NIBP_PARAMS = ("sbp", "dbp", "map", "nibp_hr")


@dataclass
class _Sustained:
    """Per-rule state for a continuous parameter."""

    run_start: Optional[float] = None
    worst: Optional[float] = None
    clear_start: Optional[float] = None
    alert: Optional[Alert] = None
    counted: bool = False  # the alert stands on a nurse's count alone (no device reading has met the rule since)


@dataclass
class _Measurement:
    ts: float
    values: dict = field(default_factory=dict)
    errors: list = field(default_factory=list)
    source: str = ""


def _escalating(method):
    """Every change an input produces passes through the session's Escalation (alerts/escalation.py)."""
    @wraps(method)
    def noted(self, *args, **kwargs):
        return self.escalation.note(method(self, *args, **kwargs))
    return noted


class AlertEngine:
    """One session's alarm state machine."""

    def __init__(self, protocol: Protocol, state: str = "baseline"):
        self.protocol = protocol
        self.rules = {r.id: r for r in protocol.rules}
        self.state = state
        self.infusion_start: Optional[float] = None
        self.baselines = BaselineTracker(protocol.baseline_window_s, protocol.nibp_baseline_window_s)
        self._sustained = {r.id: _Sustained() for r in protocol.rules if not r.measurement}
        self._measured: dict[str, Alert] = {}
        self._technical: dict[str, Alert] = {}
        self._last_valid: dict[str, float] = {}
        self._last_seen: dict[str, float] = {}
        self._link_error: dict[str, str] = {}  # why a device's data stopped, as its adapter said
        self._last_bp: Optional[float] = None
        self._pending: Optional[_Measurement] = None
        self._first_spo2: Optional[float] = None
        self._seq = 0
        self.now: Optional[float] = None
        self.escalation = Escalation(protocol.escalation_s)

    # ------------------------------------------------------------------ inputs
    @_escalating
    def feed(self, reading: Reading) -> list[Change]:
        """Take one reading (in timestamp order)."""
        out = self.advance(reading.ts)
        if reading.source and reading.source != MANUAL and reading.parameter in CONTINUOUS:
            self._seen(reading.source, reading.ts, out)
        if reading.parameter in NIBP_PARAMS:
            if self._pending is not None and self._pending.ts != reading.ts:
                out += self._flush()
            if self._pending is None:
                self._pending = _Measurement(reading.ts, source=reading.source)
            if reading.status == "error":
                self._pending.errors.append(reading.detail or "cuff error")
            elif reading.valid:
                self._pending.values[reading.parameter] = reading.value
            return out
        if self.state == "ended":
            return out
        if reading.parameter == "spo2":
            out += self._signal_check(reading)
        if not reading.valid:
            return out
        gap = reading.ts - self._last_valid.get(reading.parameter, reading.ts)
        self._last_valid[reading.parameter] = reading.ts
        b = self.baselines.observe(reading.parameter, reading.ts, reading.value)
        if b:
            out.append(b)
        for rule in self.protocol.rules:
            if not rule.measurement and rule.parameter == reading.parameter:
                out += self._sustained_step(rule, reading, gap)
        return out

    def _counted_rr(self, ts: float, value: float) -> list[Change]:
        """A respiratory rate a nurse counted and charted (profile `respiration.manual_rr_counts`).

        A count is a rate over its own counting period (30-60 s), so it is not one more point in
        a device's sustain window: it meets an RR rule at once when its value does, and ends at
        once an alarm that stands on counts alone when it does not. An alarm a capnograph's
        readings raised or hold is never ended by a count: the device's own readings end it by the
        usual clear rules (a nurse's 12/min does not silence an apnea the capnograph still sees).
        Never a device: it registers none, so no disconnection follows.
        """
        out = self.advance(ts)
        if self.state == "ended":
            return out
        for rule in self.protocol.rules:
            if rule.measurement or rule.parameter != "rr" or (rule.states and self.state not in rule.states):
                continue
            st, clause = self._sustained[rule.id], rule.clauses[0]
            limit = clause.resolve(self.baselines.get("rr"))
            if limit is None:
                continue
            met = clause.met(value, limit)
            if met and st.alert is None:
                st.alert = self._new_alert(rule, "rr", "physiological", rule.priority, ts, value, limit,
                                           clause.op, clause)
                st.alert.message += " (counted)"
                st.counted, st.run_start, st.clear_start = True, None, None
                out.append(copy(st.alert))
            elif met and (value < st.alert.value if _low_side(clause.op) else value > st.alert.value):
                st.alert.value = value
                st.alert.message = self._message("rr", value, clause.op, st.alert.limit, clause) + " (counted)"
                out.append(copy(st.alert))
            elif not met and st.alert is not None and st.counted:
                st.alert.ended_at = max(ts, st.alert.started_at)
                out.append(copy(st.alert))
                st.alert, st.counted, st.run_start, st.clear_start = None, False, None, None
        return out

    @_escalating
    def signal(self, sig: DeviceSignal) -> list[Change]:
        """Link news: frames decoded (connected) or an error; registers the device. The error
        (a lost port, bytes that never decode) becomes the device_disconnected message."""
        if not sig.connected and sig.error:
            self._link_error[sig.source] = sig.error
        out = self.advance(sig.ts)
        if sig.connected:
            self._seen(sig.source, sig.ts, out)
        else:
            self._last_seen.setdefault(sig.source, sig.ts)
            active = self._technical.get(f"device_disconnected:{sig.source}")
            if active is not None and active.message != self._disconnect_message(sig.source):
                active.message = self._disconnect_message(sig.source)
                out.append(copy(active))
        return out

    def watching_resumed(self, ts: float, sources) -> None:
        """The process watching these devices was itself stopped (a hung or paused acquisition)
        and runs again at ts: their silence until now was the watcher's, not theirs, so their
        disconnection timers start again from ts. Raises nothing."""
        for source in sources:
            if source in self._last_seen:
                self._last_seen[source] = max(self._last_seen[source], ts)

    @_escalating
    def advance(self, ts: float) -> list[Change]:
        """Let time pass: timers for disconnection and overdue BP."""
        if self.now is not None and ts < self.now:
            return []
        self.now = ts
        out: list[Change] = []
        if self._pending is not None and ts > self._pending.ts:
            out += self._flush()
        if self.state == "ended":
            return out
        p = self.protocol
        for source, seen in self._last_seen.items():
            key = f"device_disconnected:{source}"
            if key not in self._technical and ts - seen >= p.disconnect_s:
                out.append(self._start_technical(
                    key, "device_disconnected", "device", seen + p.disconnect_s, None, p.disconnect_s,
                    self._disconnect_message(source)))
        if self.state == "infusion" and "nibp_overdue" not in self._technical:
            due = max(self._last_bp or 0, self.infusion_start or 0) + p.nibp_overdue_factor * p.nibp_cycle_infusion_s
            if ts >= due:
                out.append(self._start_technical(
                    "nibp_overdue", "nibp_overdue", "sbp", due, None, None,
                    f"No BP for {p.nibp_overdue_factor * p.nibp_cycle_infusion_s / 60:g} min"))
        return out + self.escalation.due(ts)  # at its moment, before anything else of that instant

    @_escalating
    def event(self, event: Event, data: Optional[dict] = None) -> list[Change]:
        """A charted event: drives session state, baselines and limit changes."""
        out = self.advance(event.ts)
        data = data or {}
        t = event.type
        nxt = phase_after(t, self.state)  # the session rules decide; a refused move changes nothing
        if nxt == "infusion":
            self.state, self.infusion_start = "infusion", event.ts
            out += self.baselines.freeze(event.ts)
            out += self._end_out_of_state(event.ts)
        elif nxt == "recovery":
            self.state = "recovery"
            out += self._end_technical("nibp_overdue", event.ts)
            out += self._end_out_of_state(event.ts)
        elif nxt == "ended":
            out += self._flush()
            self.state = "ended"
            out += self._end_all(event.ts)
            self.escalation.stop()
        elif t in TRANSITIONS:
            pass
        elif t == "acknowledge" and isinstance(data.get("key"), str):
            self.escalation.acknowledged(data["key"], event.ts)
        elif t == "baseline_set":
            for k, v in data.items():
                if k in ("hr", "spo2", "sbp", "dbp", "map") and isinstance(v, (int, float)):
                    out.append(self.baselines.enter(k, v, event.ts))
            # a baseline entered by hand is checked against the advisory at once
            for rule in self.protocol.rules:
                if rule.measurement and rule.of_baseline:
                    out += self._measure(rule, _Measurement(event.ts))
        elif t == "limit_change" and data.get("rule") in self.rules:
            # a rule this profile does not have (another process, another profile) is left alone
            rule = self.rules[data["rule"]]
            clause = int(data.get("clause", 0))
            if 0 <= clause < len(rule.clauses) and isinstance(data.get("new"), (int, float)):
                self.change_limit(rule.id, clause, float(data["new"]))
        elif t == "manual_vitals" and self.protocol.manual_bp_counts:
            for k in ("sbp", "dbp", "map"):
                if isinstance(data.get(k), (int, float)):
                    out += self.feed(Reading(event.ts, k, float(data[k]), "ok", "manual"))
            if any(k in data for k in ("sbp", "dbp")):
                out += self._flush()
        if t == "manual_vitals" and self.protocol.manual_rr_counts and _number(data.get("rr")):
            out += self._counted_rr(event.ts, float(data["rr"]))
        return out

    def restore(self, state: str, infusion_start: Optional[float], baselines: list, last_bp: Optional[float],
                seq: int) -> None:
        """Resume a session under way (after a restart): phase, baselines, BP clock, alert numbering.

        Alarms still active at the restart are handed over one by one with `carry`.
        """
        self.state, self.infusion_start = state, infusion_start
        for b in baselines:
            self.baselines.values[b.parameter] = b
        self.baselines.frozen = state != "baseline"
        self._last_bp = last_bp
        self._seq = max(self._seq, seq)

    def carry(self, alert: Alert) -> bool:
        """Take over an alarm the previous process left active (a restart): it stays active under
        its key, so the same record continues, until the readings that follow end it by the
        usual rule (for a continuous rule, `clear_for_s` on the safe side; a measurement, the next
        one that no longer meets it; a technical alarm, its cause gone). Nothing is decided from
        a clock, and no alarm is closed for want of data. False when this profile has no such
        rule or the alarm's place is taken: the caller ends it.
        """
        a = copy(alert)
        a.ended_at = None
        if a.kind == "technical":
            slot = a.key.rsplit("#", 1)[0]
            if a.rule not in self.protocol.technical_priority or slot in self._technical:
                return False
            self._technical[slot] = a
            return True
        rule = self.rules.get(a.rule)
        if rule is None or (rule.states and self.state not in rule.states):
            return False
        if a.rule in self._sustained:
            if self._sustained[a.rule].alert is not None:
                return False
            self._sustained[a.rule].alert = a
            return True
        if not rule.measurement or a.rule in self._measured:
            return False
        self._measured[a.rule] = a
        return True

    def change_limit(self, rule_id: str, clause: int, value: float) -> None:
        """A per-session limit, already checked against the profile's bounds."""
        rule = self.rules[rule_id]
        clauses = list(rule.clauses)
        clauses[clause] = clauses[clause].with_setting(value)
        new_rule = Rule(rule.id, rule.priority, tuple(clauses), rule.measurement, rule.for_s,
                        rule.of_baseline, rule.states)
        self.rules[rule_id] = new_rule
        self.protocol = _replace_rule(self.protocol, new_rule)

    @_escalating
    def flush(self) -> list[Change]:
        """Evaluate a pending NIBP measurement now (end of input)."""
        return self._flush()

    @property
    def active(self) -> list[Alert]:
        out = [s.alert for s in self._sustained.values() if s.alert]
        return out + list(self._measured.values()) + list(self._technical.values())

    # ------------------------------------------------------------ continuous
    def _sustained_step(self, rule: Rule, r: Reading, gap: float) -> list[Change]:
        p = self.protocol
        st = self._sustained[rule.id]
        if rule.states and self.state not in rule.states:
            st.run_start = None
            return []
        clause = rule.clauses[0]
        limit = clause.resolve(self.baselines.get(clause.parameter))
        if limit is None:
            return []
        if gap > p.max_gap_s:
            st.run_start = st.clear_start = None
        v = r.value
        met = clause.met(v, limit)
        low = clause.op in ("<", "<=")
        if st.alert is None:
            if not met:
                st.run_start = None
                return []
            if st.run_start is None:
                st.run_start, st.worst = r.ts, v
            else:
                st.worst = min(st.worst, v) if low else max(st.worst, v)
            if r.ts - st.run_start >= rule.for_s:
                st.alert = self._new_alert(rule, clause.parameter, "physiological", rule.priority,
                                           r.ts, st.worst, limit, clause.op, clause)
                st.clear_start, st.counted = None, False
                return [copy(st.alert)]
            return []
        out: list[Change] = []
        a = st.alert
        if met:
            st.counted = False  # a device reading holds it now: only the device's readings end it
        if met and (v < a.value if low else v > a.value):
            a.value = v
            a.message = self._message(clause.parameter, v, clause.op, a.limit, clause)
            out.append(copy(a))
        h = p.hysteresis.get(clause.parameter, 0.0)
        safe = not clause.met(v, limit + h if low else limit - h)
        if not safe:
            st.clear_start = None
            return out
        if st.clear_start is None:
            st.clear_start = r.ts
        if r.ts - st.clear_start >= p.clear_for_s:
            a.ended_at = r.ts
            out.append(copy(a))
            st.alert, st.run_start, st.clear_start, st.counted = None, None, None, False
        return out

    def _signal_check(self, r: Reading) -> list[Change]:
        key = "oximeter_signal_lost"
        if r.valid:
            return self._end_technical(key, r.ts)
        if self._first_spo2 is None:
            self._first_spo2 = r.ts
        last = self._last_valid.get("spo2", self._first_spo2)
        lost = self.protocol.signal_lost_s
        if key not in self._technical and r.ts - last >= lost:
            why = {"sensor_off": "sensor off", "searching": "searching for pulse",
                   "artifact": "artifact"}.get(r.status, "no valid SpO2")
            return [self._start_technical(key, key, "spo2", r.ts, None, lost,
                                          f"Oximeter signal lost ({why}) for {lost:g} s")]
        return []

    # ------------------------------------------------------------ measurements
    def _flush(self) -> list[Change]:
        m, self._pending = self._pending, None
        if m is None or self.state == "ended":
            return []
        out: list[Change] = []
        if m.errors and "sbp" not in m.values:
            key = "nibp_failed"
            if key not in self._technical:
                out.append(self._start_technical(key, key, "sbp", m.ts, None, None,
                                                 f"NIBP failed: {m.errors[0]}"))
            return out
        if "sbp" not in m.values and "dbp" not in m.values:
            return out
        self._last_bp = m.ts
        out += self._end_technical("nibp_failed", m.ts)
        out += self._end_technical("nibp_overdue", m.ts)
        for k, v in m.values.items():
            b = self.baselines.observe(k, m.ts, v)
            if b:
                out.append(b)
        for rule in self.protocol.rules:
            if rule.measurement:
                out += self._measure(rule, m)
        return out

    def _measure(self, rule: Rule, m: _Measurement) -> list[Change]:
        active = self._measured.get(rule.id)
        if rule.states and self.state not in rule.states:
            return []
        hit = None  # of the clauses met, the one furthest beyond its limit
        for clause in rule.clauses:
            if rule.of_baseline:
                value = self.baselines.running(clause.parameter, m.ts)
            else:
                value = m.values.get(clause.parameter)
            limit = clause.resolve(self.baselines.get(clause.parameter))
            if value is not None and limit is not None and clause.met(value, limit):
                if hit is None or _beyond(value, limit) > _beyond(hit[1], hit[2]):
                    hit = (clause, value, limit)
        if hit is None:
            if active:
                active.ended_at = m.ts
                del self._measured[rule.id]
                return [copy(active)]
            return []
        clause, value, limit = hit
        bp = f"{fmt_measured(m.values.get('sbp'))}/{fmt_measured(m.values.get('dbp'))}"
        if rule.of_baseline:
            msg = (f"Baseline {LABELS[clause.parameter]} {fmt_measured(value)} {OPERATOR_SYMBOLS[clause.op]} "
                   f"{fmt_measured(limit)} before infusion")
        else:
            msg = f"BP {bp}: {self._message(clause.parameter, value, clause.op, limit, clause)}"
        if active is None:
            a = self._new_alert(rule, clause.parameter, "physiological", rule.priority, m.ts,
                                value, limit, clause.op, clause)
            a.message = msg
            self._measured[rule.id] = a
            return [copy(a)]
        if _beyond(value, limit) > _beyond(active.value, active.limit):  # the worst measurement is kept
            active.parameter, active.value, active.limit, active.message = clause.parameter, value, limit, msg
            return [copy(active)]
        return []

    # ------------------------------------------------------------ bookkeeping
    def _seen(self, source: str, ts: float, out: list) -> None:
        self._last_seen[source] = ts
        self._link_error.pop(source, None)
        out += self._end_technical(f"device_disconnected:{source}", ts)

    def _disconnect_message(self, source: str) -> str:
        error = self._link_error.get(source)
        return f"{source}: {error}" if error else f"{source}: no data for {self.protocol.disconnect_s:g} s"

    def _new_alert(self, rule, parameter, kind, priority, ts, value, limit, op, clause) -> Alert:
        self._seq += 1
        return Alert(f"{rule.id}#{self._seq}", rule.id, parameter, kind, priority, ts, value, limit,
                     self._message(parameter, value, op, limit, clause))

    def _message(self, parameter, value, op, limit, clause) -> str:
        msg = f"{LABELS.get(parameter, parameter)} {fmt_measured(value)} {OPERATOR_SYMBOLS[op]} {fmt_measured(limit)}"
        if clause is not None and clause.relative:
            msg += f" ({clause.describe_limit(fmt_measured(self.baselines.get(parameter)))})"
        return msg

    def _start_technical(self, key, rule, parameter, ts, value, limit, message) -> Alert:
        self._seq += 1
        a = Alert(f"{key}#{self._seq}", rule, parameter, "technical",
                  self.protocol.technical_priority[rule], ts, value, limit, message)
        self._technical[key] = a
        return copy(a)

    def _end_technical(self, key: str, ts: float) -> list[Change]:
        a = self._technical.pop(key, None)
        if a is None:
            return []
        a.ended_at = max(ts, a.started_at)
        return [copy(a)]

    def _end_out_of_state(self, ts: float) -> list[Change]:
        out = []
        for rule_id, a in list(self._measured.items()):
            rule = self.rules[rule_id]
            if rule.states and self.state not in rule.states:
                a.ended_at = ts
                out.append(copy(a))
                del self._measured[rule_id]
        return out

    def _end_all(self, ts: float) -> list[Change]:
        out = []
        for a in self.active:
            a.ended_at = max(ts, a.started_at)
            out.append(copy(a))
        for st in self._sustained.values():
            st.alert = st.run_start = st.clear_start = None
        self._measured.clear()
        self._technical.clear()
        return out


def _low_side(op: str) -> bool:
    return op in ("<", "<=")


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _beyond(value: float, limit: float) -> float:
    """How far past its limit a value is, as a fraction of the limit (comparable across SBP/DBP)."""
    return abs(value - limit) / abs(limit) if limit else abs(value - limit)


def _replace_rule(protocol: Protocol, rule: Rule) -> Protocol:
    from dataclasses import replace
    return replace(protocol, rules=tuple(rule if r.id == rule.id else r for r in protocol.rules))
