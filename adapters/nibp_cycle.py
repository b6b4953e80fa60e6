"""When the cuff should measure: the automatic cycle, STAT requests and retries.

Pure bookkeeping over timestamps, shared by the simulated cuff and the SunTech
adapter so both follow the protocol profile the same way.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass
class NibpCycle:
    interval_infusion_s: float = 300.0
    interval_other_s: float = 600.0
    retry_after_error_s: float = 60.0
    last_start: Optional[float] = None
    last_failed: bool = False
    stat_requested: bool = False
    session_id: Optional[int] = None
    state: Optional[str] = None

    def follow(self, session_id: Optional[int], state: Optional[str]) -> None:
        """Track the chair's session: a new session measures at once; so does infusion start."""
        if session_id != self.session_id:
            self.session_id, self.last_start, self.last_failed = session_id, None, False
        if state == "infusion" and self.state == "baseline":
            self.stat_requested = True
        self.state = state

    def due(self, now: float) -> bool:
        if self.session_id is None or self.state in (None, "ended"):
            return False
        if self.stat_requested or self.last_start is None:
            return True
        if self.last_failed:
            interval = self.retry_after_error_s
        else:
            interval = self.interval_infusion_s if self.state == "infusion" else self.interval_other_s
        return now - self.last_start >= interval

    def started(self, now: float) -> None:
        self.last_start, self.stat_requested = now, False

    def finished(self, ok: bool) -> None:
        self.last_failed = not ok

    def stat(self) -> None:
        self.stat_requested = True
