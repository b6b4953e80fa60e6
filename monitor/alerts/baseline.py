"""The patient's own reference values, per docs/ARCHITECTURE.md: medians before infusion start."""
from __future__ import annotations

from collections import deque
from statistics import median
from typing import Optional

from ..model import Baseline, EPISODIC

NIBP_BASELINE = ("sbp", "dbp", "map")


class BaselineTracker:
    """Keeps just enough recent history to compute baselines at infusion start."""

    def __init__(self, window_s: float, nibp_window_s: float):
        self.window_s = window_s
        self.nibp_window_s = nibp_window_s
        self._history: dict[str, deque] = {}
        self.values: dict[str, Baseline] = {}
        self.frozen = False  # True from infusion start: no more medians

    def observe(self, parameter: str, ts: float, value: float) -> Optional[Baseline]:
        """Record a valid value; returns a provisional baseline when one is taken."""
        if self.frozen:
            if parameter not in self.values and (parameter in NIBP_BASELINE or parameter in ("hr", "spo2")):
                b = Baseline(parameter, value, "provisional", ts, 1)
                self.values[parameter] = b
                return b
            return None
        window = self.nibp_window_s if parameter in EPISODIC else self.window_s
        h = self._history.setdefault(parameter, deque())
        h.append((ts, value))
        while h and h[0][0] < ts - window:
            h.popleft()
        return None

    def running(self, parameter: str, ts: float) -> Optional[float]:
        """Median of the window ending at ts: the baseline so far, before infusion start."""
        b = self.values.get(parameter)
        if b is not None and (self.frozen or b.source == "entered"):
            return b.value
        window = self.nibp_window_s if parameter in EPISODIC else self.window_s
        vals = [v for t, v in self._history.get(parameter, ()) if ts - window <= t <= ts]
        return float(median(vals)) if vals else None

    def freeze(self, ts: float) -> list[Baseline]:
        """At infusion start: compute medians for every parameter not entered by hand."""
        out = []
        for parameter, h in self._history.items():
            if parameter not in ("hr", "spo2") + NIBP_BASELINE:
                continue
            if parameter in self.values and self.values[parameter].source == "entered":
                continue
            window = self.nibp_window_s if parameter in EPISODIC else self.window_s
            vals = [v for t, v in h if ts - window <= t <= ts]
            if vals:
                b = Baseline(parameter, float(median(vals)), "computed", ts, len(vals))
                self.values[parameter] = b
                out.append(b)
        self.frozen = True
        self._history.clear()
        return out

    def enter(self, parameter: str, value: float, ts: float) -> Baseline:
        b = Baseline(parameter, float(value), "entered", ts, 0)
        self.values[parameter] = b
        return b

    def get(self, parameter: str) -> Optional[float]:
        b = self.values.get(parameter)
        return b.value if b is not None and (self.frozen or b.source == "entered") else None
