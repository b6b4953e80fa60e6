"""A bounded pool of read connections, borrowed for the length of one read.

A connection per reading thread made the number of open files grow with the threads
that ever read (web server threads, one per push channel, tick and device threads):
two descriptors each (the file and its -wal). Here every thread shares at most `size`
connections; a connection goes back to the pool as soon as its read is done, so a read
still sees one WAL snapshot (each statement runs in autocommit), and no idle thread
holds a connection, or a snapshot that would keep the WAL from being checkpointed.

A read inside a read on the same thread (a summary computed while the store is being
read) shares the connection it already holds, so a thread never waits for itself.
"""
from __future__ import annotations

import contextlib
import threading
import time
from typing import Any, Callable, Iterator, Optional

from .errors import StoreUnavailable

# Enough for the reads that run at the same moment on two cores (page requests, the
# acquisition's tick, an export's longer read); a read takes milliseconds, so a thread that
# finds them all lent out waits that long, not for a connection of its own.
READERS = 8


class ReaderPool:
    """At most `size` connections from `connect`, lent one read at a time (thread-safe)."""

    def __init__(self, connect: Callable[[], Any], size: int, wait_s: float, path: str):
        if size < 1:
            raise ValueError("a reader pool needs at least one connection")
        self._connect = connect
        self.size = size
        self._wait_s = wait_s  # a read that finds every connection lent out this long is StoreUnavailable
        self._path = path
        self._idle: list[Any] = []
        self._opened: list[Any] = []
        self._ready = threading.Condition(threading.Lock())
        self._mine = threading.local()  # the connection this thread holds, while it reads
        self._trace: Optional[Callable[[str], None]] = None

    @property
    def opened(self) -> int:
        """Connections open now (never more than size)."""
        return len(self._opened)

    @contextlib.contextmanager
    def borrow(self, wait_s: Optional[float] = None) -> Iterator[Any]:
        """A connection for one read; back in the pool when the block ends. wait_s: at most this
        long for one to come free (default: the pool's), else StoreUnavailable."""
        held = getattr(self._mine, "conn", None)
        if held is not None:
            yield held
            return
        conn = self._take(self._wait_s if wait_s is None else wait_s)
        self._mine.conn = conn
        try:
            yield conn
        finally:
            self._mine.conn = None
            self._give_back(conn)

    def _take(self, wait_s: float) -> Any:
        deadline = time.monotonic() + wait_s
        with self._ready:
            while True:
                if self._idle:
                    return self._idle.pop()
                if len(self._opened) < self.size:
                    conn = self._connect()  # raises the driver's error, turned into a StoreError by the caller
                    conn.set_trace_callback(self._trace)
                    self._opened.append(conn)
                    return conn
                left = deadline - time.monotonic()
                if left <= 0:
                    raise StoreUnavailable(f"{self._path}: all {self.size} read connections busy "
                                           f"for more than {wait_s:g} s")
                self._ready.wait(left)

    def _give_back(self, conn: Any) -> None:
        broken = getattr(conn, "broken", False)  # a PostgreSQL connection the server dropped
        if not broken and conn.in_transaction:  # never lend out a connection still holding a snapshot
            try:
                conn.rollback()
            except Exception:  # the driver's error: not lent again, its slot goes to a fresh connection
                broken = True
        with self._ready:
            if broken or conn not in self._opened:  # broken, or lent out when the pool was closed
                if conn in self._opened:
                    self._opened.remove(conn)
                    self._ready.notify()
                conn.close()
                return
            self._idle.append(conn)
            self._ready.notify()

    def set_trace_callback(self, callback: Optional[Callable[[str], None]]) -> None:
        """Every statement any pooled connection runs, now and later, goes to callback (tests)."""
        with self._ready:
            self._trace = callback
            for conn in self._opened:
                conn.set_trace_callback(callback)

    def close(self) -> None:
        """Close the idle connections now, and each lent one when its read ends. A read after
        close opens a fresh connection, as a thread's own reader did before this pool."""
        with self._ready:
            idle, self._idle, self._opened = self._idle, [], []
            self._ready.notify_all()
        for conn in idle:
            conn.close()
