"""The `sim` device: a simulated oximeter, capnograph and NIBP cuff on one patient.

`SimBedside.step(ts)` produces what the devices report during one second; the live
thread calls it once a wall-clock second, `simulate` once a virtual second.
"""
from __future__ import annotations

import threading
from typing import Optional

from monitor.model import DeviceSignal, Reading

from ..nibp_cycle import NibpCycle
from .physiology import Patient

MEASUREMENT_S = 30.0
CATCH_UP_S = 3.0  # behind the beat by more than this, the live sim skips ahead (monitor/chairs.py PAUSE_S charts such a gap)


class SimBedside:
    kind = "sim"

    def __init__(self, patient: Patient, cycle: NibpCycle, t0: float, source: str = "sim"):
        self.patient = patient
        self.cycle = cycle
        self.t0 = t0  # wall/virtual time of the patient's session second 0
        self.source = source
        self.port = patient.scenario.name
        self._measuring_since: Optional[float] = None

    @property
    def sources(self) -> tuple:
        return (self.oximeter_source, self.cuff_source, self.capnograph_source)

    @property
    def oximeter_source(self) -> str:
        return f"{self.source}-oximeter"

    @property
    def capnograph_source(self) -> str:
        return f"{self.source}-capnograph"

    @property
    def cuff_source(self) -> str:
        return f"{self.source}-nibp"

    def step(self, ts: float, stat: bool = False, abort: bool = False):
        """Readings, signals and the cuff pressure (None when idle) for second ts."""
        t = ts - self.t0
        out: list = []
        s = self.patient.oximeter(t)
        if not s.silent:
            out.append(DeviceSignal(ts, self.oximeter_source, True))
            for param, value in (("hr", s.hr), ("spo2", s.spo2), ("pi", s.pi)):
                if param == "pi" and s.status in ("sensor_off", "searching"):
                    continue
                out.append(Reading(ts, param, value, s.status, self.oximeter_source))
        c = self.patient.capnograph(t)
        out.append(DeviceSignal(ts, self.capnograph_source, True))
        out += [Reading(ts, "rr", c.rr, c.status, self.capnograph_source),
                Reading(ts, "etco2", c.etco2, c.status, self.capnograph_source)]
        out.append(DeviceSignal(ts, self.cuff_source, True))
        if stat:
            self.cycle.stat()
        if abort and self._measuring_since is not None:
            self._measuring_since = None
            self.cycle.finished(False)
            return out, None
        pressure = None
        if self._measuring_since is None and self.cycle.due(ts):
            self._measuring_since = ts
            self.cycle.started(ts)
        if self._measuring_since is not None:
            elapsed = ts - self._measuring_since
            if elapsed >= MEASUREMENT_S:
                self._measuring_since = None
                out += self._result(ts, t)
            else:
                pressure = _cuff_curve(elapsed)
        return out, pressure

    def _result(self, ts: float, t: float) -> list:
        r = self.patient.nibp(t)
        src = self.cuff_source
        if r.error:
            self.cycle.finished(False)
            return [Reading(ts, "sbp", None, "error", src, f"{r.error_text} (code {r.error})")]
        self.cycle.finished(True)
        return [Reading(ts, "sbp", r.sbp, "ok", src), Reading(ts, "dbp", r.dbp, "ok", src),
                Reading(ts, "map", r.map, "ok", src), Reading(ts, "nibp_hr", r.hr, "ok", src)]

    def run(self, ctx, stop: threading.Event) -> None:
        """Live: one step per wall-clock second until stopped, on the simulated device's own
        one-second beat. After the process was held up longer than `CATCH_UP_S` (stopped,
        suspended) the missed seconds are not made up with past times: the chair charts that
        gap as an interruption, and a real device never sends what nobody read."""
        next_t = ctx.now()
        while not stop.is_set():
            session_id, state = ctx.phase()
            self.cycle.follow(session_id, state)
            cmds = ctx.take_commands("nibp")
            now = ctx.now()
            if now - next_t > CATCH_UP_S:
                next_t = now
            items, pressure = self.step(next_t, stat="stat" in cmds, abort="abort" in cmds)
            for item in items:
                (ctx.reading if isinstance(item, Reading) else ctx.signal)(item)
            ctx.cuff_pressure(self.cuff_source, pressure)
            next_t += 1.0
            stop.wait(max(0.0, next_t - ctx.now()))


def _cuff_curve(elapsed: float) -> float:
    """Inflate to ~170 mmHg over 8 s, then deflate in steps to ~40 by the end."""
    if elapsed < 8:
        return round(20 + 150 * elapsed / 8)
    return round(max(40.0, 170 - (elapsed - 8) * 6))
