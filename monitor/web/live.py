"""The push channel: a live page learns within milliseconds that its chair has something new.

Why server-sent events (docs/ARCHITECTURE.md, "The live path"): the page needs only a nudge
from the server ("chair 3 changed"), never data (the tick that follows reads it through the
same callback, gate and role checks as ever). An EventSource is one long GET that the
browser reconnects by itself, passes the sign-in gate and a TLS proxy like any page, and
needs no second server, port or protocol next to Dash and waitress. Dash's own WebSocket
callbacks need an ASGI backend, which would replace the Flask server the sign-in is built on.

One `LiveChanges` per web process polls the store's change feed (one cheap question to the database per POLL_S,
whatever the number of pages) and wakes the streams of the chairs that changed. Each open
stream holds one of waitress's threads, so there are at most MAX_STREAMS; past that a page
gets 503 and stays on its 1 s tick, and says so (assets/live-push.js).
"""
from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from typing import Callable, Iterator, Optional

from flask import Response, request

from ..store import StoreError
from ..store.changes import change_feed
from .auth import LIVE_PREFIX

log = logging.getLogger("infusion_monitor.web")

POLL_S = 0.02             # how often the feed asks whether anything was committed
MAX_STREAMS = 48          # open push channels per web process (each holds a server thread)
KEEPALIVE_S = 15.0        # a comment line this often: a dead client is found, a proxy keeps the line
STREAM_LIFETIME_S = 120.0  # then the page opens a new stream ("renew"), through the gate again
RETRY_MS = 1000           # how soon EventSource reconnects after a stream breaks
ANY_CHAIR = "*"           # the overview's channel: any chair


class LiveChanges:
    """Per-chair change counters, advanced by one polling thread and waited on by streams."""

    def __init__(self, store, max_streams: int = MAX_STREAMS, poll_s: float = POLL_S):
        self.store = store
        self.poll_s = poll_s
        # event ids are "<epoch>.<count>": a page back from a restarted server never matches
        self.epoch = secrets.token_hex(4)
        self._cond = threading.Condition()
        self._seq: dict[str, int] = {}
        self._any = 0
        self._streams = threading.BoundedSemaphore(max_streams) if max_streams else None
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._start_lock = threading.Lock()

    def seq(self, chair: str) -> int:
        with self._cond:
            return self._count(chair)

    def _count(self, chair: str) -> int:  # under self._cond
        return self._any if chair == ANY_CHAIR else self._seq.get(chair, 0)

    def changed(self, chairs: set[str]) -> None:
        """Called by the poller (or a test) with the chairs that have new rows."""
        if not chairs:
            return
        with self._cond:
            self._any += 1
            for c in chairs:
                self._seq[c] = self._seq.get(c, 0) + 1
            self._cond.notify_all()

    def wait(self, chair: str, after: int, timeout: float) -> int:
        """The chair's counter once it passes `after`, or as it is when `timeout` runs out."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._stop.is_set():
                now = self._count(chair)
                left = deadline - time.monotonic()
                if now != after or left <= 0:
                    return now
                self._cond.wait(min(left, 1.0))
            return after

    def ensure_started(self) -> None:
        with self._start_lock:
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(target=self._poll_loop, name="live-changes", daemon=True)
                self._thread.start()

    def _poll_loop(self) -> None:
        feed, problem = None, None
        while not self._stop.wait(self.poll_s):
            try:
                if feed is None:
                    feed = change_feed(self.store)
                self.changed(feed.poll())
                problem = None
            except StoreError as e:  # the pages' own ticks say what the database's trouble is
                if problem != str(e):
                    log.warning("live changes: %s", e)
                problem = str(e)
                if feed is not None:
                    feed.close()
                    feed = None
                self._stop.wait(1.0)
        if feed is not None:
            feed.close()

    def close(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=2)

    # ------------------------------------------------------------ the stream
    def stream(self, chair: str, since: Optional[str] = None) -> Optional["EventStream"]:
        """The event stream for a chair's page, or None when max_streams are open. since: the
        id of the last event the page had (Last-Event-ID), so a change made while it was
        reconnecting is told at once, not left for the 1 s tick."""
        if self._streams is None or not self._streams.acquire(blocking=False):
            return None
        self.ensure_started()
        return EventStream(self, chair, since)

    def _event_id(self, seq: int) -> str:
        return f"{self.epoch}.{seq}"

    def _events(self, chair: str, since: Optional[str], give_back: Callable[[], None]) -> Iterator[str]:
        seq = self.seq(chair)
        yield (f"retry: {RETRY_MS}\nid: {self._event_id(seq)}\nevent: hello\n"
               f"data: {json.dumps({'chair': chair})}\n\n")
        if since is not None and since != self._event_id(seq):  # changed while the page was away
            yield f"id: {self._event_id(seq)}\nevent: changed\ndata: {json.dumps({'chair': chair, 'seq': seq})}\n\n"
        ends = time.monotonic() + STREAM_LIFETIME_S
        while not self._stop.is_set() and time.monotonic() < ends:
            now = self.wait(chair, seq, min(KEEPALIVE_S, max(0.0, ends - time.monotonic())))
            if now != seq:
                seq = now
                yield (f"id: {self._event_id(seq)}\nevent: changed\n"
                       f"data: {json.dumps({'chair': chair, 'seq': seq})}\n\n")
            else:
                yield ": still here\n\n"
        if not self._stop.is_set():
            # Lifetime over: the page opens its next stream at once on "renew" (EventSource's own
            # reconnect would leave RETRY_MS in which an alarm is not pushed), naming this id so
            # whatever changes in between is told on the new one. The slot is given back first,
            # so the next stream of a server at its bound is not refused by this one.
            give_back()
            yield f"id: {self._event_id(seq)}\nevent: renew\ndata: {json.dumps({'chair': chair})}\n\n"


class EventStream:
    """A WSGI body that gives its stream slot back when the server closes it, whether or not
    it was ever iterated (a client gone before the first byte closes an unstarted body)."""

    def __init__(self, live: LiveChanges, chair: str, since: Optional[str] = None):
        self._live = live
        self._events = live._events(chair, since, self._give_back)
        self._slot_held = True
        self._lock = threading.Lock()

    def __iter__(self) -> Iterator[str]:
        return self._events

    def _give_back(self) -> None:
        with self._lock:
            held, self._slot_held = self._slot_held, False
        if held:
            self._live._streams.release()

    def close(self) -> None:
        self._events.close()
        self._give_back()


def install(app, store, max_streams: int = MAX_STREAMS) -> LiveChanges:
    """The /live/<chair> route on the Dash app's Flask server (behind the sign-in gate, auth.py)."""
    live = LiveChanges(store, max_streams)
    server = app.server

    @server.route(LIVE_PREFIX + "<path:chair>")  # /live/<chair>, or /live/* for every chair
    def live_stream(chair: str):
        # EventSource's own reconnect sends Last-Event-ID; a page renewing names it as ?since=
        events = live.stream(chair, request.headers.get("Last-Event-ID") or request.args.get("since"))
        if events is None:
            return Response(json.dumps({"error": "no instant channel free (serve --live-streams): "
                                                 "this page updates every second"}),
                            status=503, mimetype="application/json")
        return Response(events, mimetype="text/event-stream",
                        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    server.config["infusion_live"] = live
    return live
