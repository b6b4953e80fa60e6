"""About one oximeter reading a period, none lost from a device that is no faster, each at its arrival.

A reading's time is when its bytes arrived (the time `SerialLink` passes with them), never
when an adapter got round to handing it on: the alarm engine's sustain windows and the
chart run on these times. The rule that thins a fast device (Nonin DF2: 3 packets a second,
Contec: 60) must therefore hold nothing back from a device that sends once a second, and
must never lose the last sample of a period, the device's newest word. See
docs/ARCHITECTURE.md, "Where each rule lives".
"""
from __future__ import annotations

import math
from typing import Generic, Optional, Sequence, TypeVar

PERIOD_S = 1.0
OWN_PACE = 0.6  # of a period: an arrival this long after the one before is from a device no faster than the period
# Arrival times are floats: 101.6 - 101.0 is 0.59999…; a gap within a microsecond of the pace
# is on pace (hypothesis found a sample lost to that rounding).
TIME_EPS_S = 1e-6

S = TypeVar("S")


class PeriodThinner(Generic[S]):
    """Decides which samples become readings, and when; pure: the caller passes the times in.

    - An arrival at least `OWN_PACE` of a period after the previous arrival comes from a
      device no faster than the period: it goes out at once. A once-a-second device with
      jitter (gaps 0.8-1.2 s) goes through whole, without added latency.
    - A faster arrival is held, a newer one in the same period window replacing it; the held
      sample goes out, with its own arrival time, when its window closes (the first arrival
      in a later window, or `window_closed(now)` past its end) or just before a sample that
      goes out at once, so readings stay in time order. Windows are whole periods counted
      from the last sample that went out at once: a fast device gives one reading a period,
      the last of each. So a device loses a sample only when two of them come faster than
      `OWN_PACE` running, and then only one that a later sample in the same window
      supersedes; the odd doublet of a once-a-second device (one line 0.5 s after the
      previous) is held and kept, at most a period late.
    - The samples one read returns share its arrival time: the newest stands for that
      instant, the older ones are counted in `merged` (two values at one instant would be
      no record of the patient, and a batch does not tell how fast its device is). Only a
      reader that fell a whole sample behind sees two once-a-second samples in one read.
    - `flush()` when the port goes away or the adapter stops: a held sample arrived from the
      device, so it goes out rather than being forgotten; the next one after it goes out at once.

    Calls must come with non-decreasing times (the wall clock read after each read); the
    output times are then strictly increasing when the arrival times are.
    """

    def __init__(self, period: float = PERIOD_S, own_pace: float = OWN_PACE):
        self.period = period
        self.own_pace_s = own_pace * period
        self.merged = 0
        self.reset()

    def reset(self) -> None:
        """A fresh stream: nothing held, the next sample goes out at once."""
        self._held: Optional[tuple[float, S]] = None
        self._held_until = math.inf   # the end of the held sample's window
        self._last_arrival = -math.inf
        self._windows_from = 0.0      # the last sample that went out at once: windows start there

    def arrived(self, ts: float, samples: Sequence[S]) -> list[tuple[float, S]]:
        """(time, sample) to emit now, oldest first, for the samples one read returned at ts."""
        if not samples:
            return []
        self.merged += len(samples) - 1
        sample = samples[-1]
        out = self.window_closed(ts)
        if ts - self._last_arrival >= self.own_pace_s - TIME_EPS_S:
            out += self._take_held()
            out.append((ts, sample))
            self._windows_from = ts
        else:
            self._held = (ts, sample)
            self._held_until = self._window_end(ts)
        self._last_arrival = ts
        return out

    def window_closed(self, now: float) -> list[tuple[float, S]]:
        """The held sample, once its window has ended by `now`."""
        return self._take_held() if now >= self._held_until else []

    def flush(self) -> list[tuple[float, S]]:
        """Whatever is held, now; the stream starts afresh after it."""
        out = self._take_held()
        self.reset()
        return out

    def _take_held(self) -> list[tuple[float, S]]:
        held, self._held, self._held_until = self._held, None, math.inf
        return [] if held is None else [held]

    def _window_end(self, ts: float) -> float:
        end = self._windows_from + (math.floor((ts - self._windows_from) / self.period) + 1) * self.period
        return end if end > ts else end + self.period  # ts on a boundary, rounded below it
