"""The integrations loop: queue what is new for each destination, then send its outbox in order.

One pass per `interval_s`. Queuing (results.queue_results, alerts_out.queue_alerts,
session_push.queue_sessions) and sending (mllp.MllpSender; http_sender.HttpSender for the
fhir and webhook kinds)
are separate steps on purpose: a receiver that is down only lets the outbox grow (durable,
in the database, across restarts); the chart never waits for the network, and a receiver
back after an hour gets everything in order. A failing database is said once and retried,
like the forwarder (monitor/forwarder.py).
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
from typing import Callable, Optional

from ..processes import process_alive
from ..store import Store, StoreError, outbox
from .adt_in import AdmissionsListener
from .config import Destination, Integrations
from .http_sender import HttpSender
from .alerts_out import queue_alerts
from .mllp import MllpSender
from .results import queue_results
from .session_push import queue_sessions

log = logging.getLogger("infusion_monitor.integrate")
INTERVAL_S = 2.0
SEND_BATCH = 10  # messages sent between two renewals of the claim on a destination


def _gone(holder: str) -> bool:
    """A claim held by a process of this machine that no longer runs (killed: no release)."""
    host, _, pid = holder.rpartition(" pid ")
    return host == socket.gethostname() and pid.isdigit() and not process_alive(int(pid))


class IntegrationRunner:
    """Every configured destination's queuing and sending, pass by pass."""

    def __init__(self, store: Store, integrations: Integrations, clock: Callable[[], float] = time.time):
        self.store = store
        self.integrations = integrations
        self.clock = clock
        self.sending_to = tuple(d for d in integrations.destinations if d.kind != "adt")
        self.senders = {d.name: (MllpSender(store, d, clock=clock) if d.kind == "mllp"
                                 else HttpSender(store, d, clock=clock)) for d in self.sending_to}
        self.listeners = [AdmissionsListener(store, d, clock=clock)
                          for d in integrations.destinations if d.kind == "adt"]
        self.problem: Optional[str] = None
        self.said: dict[str, Optional[str]] = {}
        self.owner = f"{socket.gethostname()} pid {os.getpid()}"

    def one_pass(self) -> dict[str, dict]:
        """Queue and send for each destination; {name: {"queued", "sent", "failed"}}.
        StoreError when the database fails (what was queued or sent stays so). A destination
        another live process is sending (`outbox.claim_sender`) is left to it."""
        out = {}
        for d in self.sending_to:
            try:
                out[d.name] = self._one_destination(d)
            except StoreError:
                raise  # the database: the whole pass waits for it
            except Exception as e:  # a bug in one destination's code must not stop the others
                log.exception("%s: the pass failed", d.name)
                out[d.name] = {"queued": 0, "sent": 0, "failed": f"{d.name}: internal error: {type(e).__name__}: {e}"}
                self._say(d, out[d.name]["failed"])
        return out

    def _one_destination(self, d: Destination) -> dict:
        """Queue what is new for one destination and send its queue, while this process holds it."""
        holder = self._claim(d)
        if holder is not None:
            failed = f"{d.name} is being sent by {holder}"
            self._say(d, failed)
            return {"queued": 0, "sent": 0, "failed": failed}
        queued = queue_results(self.store, self.integrations, d, now=self.clock()) if "results" in d.sends else 0
        if "alerts" in d.sends:
            queued += queue_alerts(self.store, self.integrations, d, now=self.clock())
        if "sessions" in d.sends:
            queued += queue_sessions(self.store, self.integrations, d, now=self.clock())
        sent, failed = 0, None
        while True:  # in small batches, the claim renewed between them
            report = self.senders[d.name].send_pending(limit=SEND_BATCH)
            sent += report["sent"]
            failed = report["failed"]
            if failed or report["sent"] < SEND_BATCH or self._claim(d) is not None:
                break
        self._say(d, failed)
        return {"queued": queued, "sent": sent, "failed": failed}

    def _claim(self, d: Destination) -> Optional[str]:
        stale = SEND_BATCH * (d.connect_timeout_s + d.ack_timeout_s) + 60.0
        return outbox.claim_sender(self.store, d.name, self.owner, self.clock(), stale, gone=_gone)

    def _say(self, d: Destination, failed: Optional[str]) -> None:
        """A destination's trouble is logged when it starts and when it ends, not every pass."""
        before = self.said.get(d.name)
        if failed and failed != before:
            log.error("%s: not delivered, will retry: %s", d.name, failed)
        elif not failed and before:
            log.warning("%s: delivering again", d.name)
        self.said[d.name] = failed

    def listen(self) -> None:
        """Start the ADT listeners (kind "adt"); OSError when a port cannot be had."""
        for i, listener in enumerate(self.listeners):
            try:
                listener.start()
            except OSError as e:
                for started in self.listeners[:i]:
                    started.stop()
                raise OSError(e.errno, f"{listener.destination.name}: cannot listen on "
                                       f"{listener.destination.address}: {e.strerror or e}") from None
            log.info("%s: listening for ADT on %s", listener.destination.name, listener.destination.address)

    def run(self, stop: threading.Event, interval_s: float = INTERVAL_S) -> None:
        """Pass after pass until `stop` is set."""
        while not stop.is_set():
            try:
                self.one_pass()
                if self.problem:
                    log.warning("integrations: the database works again")
                self.problem = None
            except StoreError as e:
                if str(e) != self.problem:
                    log.error("integrations paused, will retry every %g s: %s", interval_s, e)
                self.problem = str(e)
            except Exception as e:  # a bug must not stop the sending for good: said, and tried again
                if repr(e) != self.problem:
                    log.exception("integrations: a pass failed, will retry every %g s", interval_s)
                self.problem = repr(e)
            stop.wait(interval_s)

    def start(self, interval_s: float = INTERVAL_S) -> None:
        """Run in a thread of its own (`run --config` with [integrations]): the bedside never waits for it.
        OSError when an ADT listener cannot have its port (nothing started)."""
        self.listen()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run_logged, args=(self._stop, interval_s),
                                        name="integrations", daemon=True)
        self._thread.start()

    def _run_logged(self, stop: threading.Event, interval_s: float) -> None:
        try:
            self.run(stop, interval_s)
        except Exception:  # a bug must not pass silently: the outbox keeps what it holds
            log.exception("integrations stopped; messages stay queued until it runs again")

    def stop(self, timeout: float = 10.0) -> None:
        if getattr(self, "_thread", None) is not None:
            self._stop.set()
            self._thread.join(timeout)
        self.close()

    def close(self) -> None:
        for listener in self.listeners:
            listener.stop()
        for sender in self.senders.values():
            sender.close()
        for d in self.sending_to:
            try:
                outbox.release_sender(self.store, d.name, self.owner)
            except StoreError:
                pass  # the claim goes stale by itself
