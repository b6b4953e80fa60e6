"""What acquisition holds in memory until the database takes it.

Live readings never wait for the database: a device thread hands them over and goes
back to its port. When the database is busy (another process's long write), full or
gone, they stay here, in arrival order, and the writer commits them when it can. The
hold is bounded so a failure that lasts for hours cannot take the machine's memory
with it: past the bound the *oldest* readings go first (the newest matter most at the
bedside) and every one dropped is counted, so the loss is said, never silent
(docs/ARCHITECTURE.md, "Reliability").
"""
from __future__ import annotations

import threading
from collections import deque
from typing import Optional

# About two hours of twelve busy chairs (six readings a second each); ~100 MB at most.
MAX_HELD_READINGS = 500_000

# Rows per transaction when a backlog is written: a chunk commits in well under a
# second, so the writer never keeps other processes (a page entry, another chair's
# acquisition) waiting for long.
CHUNK_ROWS = 5_000


class HeldRows:
    """Readings and changes (alarms, baselines, device states) waiting to be written, in order.

    `take` hands the writer a chunk; `give_back` returns it in front when the commit
    failed, so the next attempt writes the same rows first.
    """

    def __init__(self, max_readings: int = MAX_HELD_READINGS):
        self.max_readings = max_readings
        self._readings: deque = deque()
        self._changes: deque = deque()
        self._lock = threading.Lock()
        self._taken = (0, 0)  # (readings, changes) handed to the writer, not yet committed
        # session id -> [readings lost to the bound, first ts, last ts], not yet recorded
        self.dropped: dict[int, list] = {}

    def add_reading(self, item) -> None:
        with self._lock:
            self._readings.append(item)
            self._bound()

    def add_change(self, item) -> None:
        with self._lock:
            self._changes.append(item)

    def take(self, limit: int = CHUNK_ROWS) -> tuple[list, list]:
        with self._lock:
            readings = [self._readings.popleft() for _ in range(min(limit, len(self._readings)))]
            changes = [self._changes.popleft() for _ in range(min(limit, len(self._changes)))]
            self._taken = (len(readings), len(changes))
        return readings, changes

    def written(self) -> None:
        """The chunk last taken is committed."""
        with self._lock:
            self._taken = (0, 0)

    def give_back(self, readings: list, changes: list) -> None:
        with self._lock:
            self._readings.extendleft(reversed(readings))
            self._changes.extendleft(reversed(changes))
            self._taken = (0, 0)
            self._bound()

    def _bound(self) -> None:
        while len(self._readings) > self.max_readings:
            _, session_id, reading = self._readings.popleft()
            ts = getattr(reading, "ts", None)
            lost = self.dropped.setdefault(session_id, [0, ts, ts])
            lost[0] += 1
            lost[2] = ts

    def __len__(self) -> int:
        return len(self._readings) + len(self._changes) + sum(self._taken)

    @property
    def readings(self) -> int:
        """Readings not yet committed, including the chunk being written."""
        return len(self._readings) + self._taken[0]

    def take_dropped(self) -> dict[int, list]:
        """Per session, [readings lost, first ts, last ts] since last asked (for its record)."""
        with self._lock:
            dropped, self.dropped = self.dropped, {}
        return dropped

    def drop_again(self, session_id: int, n: int, first, last) -> None:
        """A loss that could not be charted yet: counted again, so the next flush charts it."""
        with self._lock:
            lost = self.dropped.setdefault(session_id, [0, first, last])
            if lost[0]:  # merge with what was lost since
                lost[1] = first
            lost[0] += n

    def problem(self, error: Optional[str]) -> Optional[str]:
        """One line for the page while rows wait because writing fails, else None."""
        if not error:
            return None
        with self._lock:  # a device thread may be adding a session's count (_bound)
            lost = sum(n for n, _, _ in self.dropped.values())
        return (f"cannot store readings: {error}; {self.readings} readings held in memory"
                + (f", {lost} oldest lost" if lost else ""))
