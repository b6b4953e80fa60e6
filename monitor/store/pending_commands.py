"""Which chairs have device commands waiting (a STAT BP), asked once for all chairs.

Every cuff adapter asks for its chair's commands about once a second (Store.take_commands).
Taking them is a write (they are marked done), and a write a second per chair through the
one writer made a thousand chairs queue behind each other and behind the batches and the
heartbeat (a missed heartbeat shows "monitoring stopped" on every page). Almost always
nothing is waiting: one read for all chairs, at most every FRESH_S, answers that, and only
a chair with something waiting goes on to the write.
"""
from __future__ import annotations

import threading
import time
from typing import Callable

# How old the answer may be. A command another process queued (a page served by `serve`
# beside `acquire`) reaches its device this much later at most; one queued in this process
# is seen at once (`queued`).
FRESH_S = 0.25


class PendingCommands:
    """The chairs with commands not yet taken, read at most every FRESH_S (thread-safe)."""

    def __init__(self, read_chairs: Callable[[], set[str]], wait_s: float):
        self._read_chairs = read_chairs  # one query: every chair with a command not done
        self._wait_s = wait_s  # a device thread waits no longer than this for another's read
        self._lock = threading.Lock()
        self._chairs: set[str] = set()
        self._read_at = float("-inf")

    def waiting(self, chair: str) -> bool:
        """Whether the chair may have commands waiting. When another thread's read takes longer
        than wait_s, the last answer stands (the device asks again on its next pass); a
        StoreError from the read reaches the caller."""
        if not self._lock.acquire(timeout=self._wait_s):
            return chair in self._chairs
        try:
            if time.monotonic() - self._read_at >= FRESH_S:
                self._chairs = self._read_chairs()
                self._read_at = time.monotonic()
            return chair in self._chairs
        finally:
            self._lock.release()

    def queued(self, chair: str) -> None:
        """A command was queued for the chair in this process: its device sees it on its next pass."""
        with self._lock:
            self._chairs = self._chairs | {chair}
