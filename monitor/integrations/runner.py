"""The integrations loop: queue what is new for each destination, then send its outbox in order.

One pass per `interval_s`. Queuing (results.queue_results, alerts_out.queue_alerts) and sending (mllp.MllpSender)
are separate steps on purpose: a receiver that is down only lets the outbox grow (durable,
in the database, across restarts); the chart never waits for the network, and a receiver
back after an hour gets everything in order. A failing database is said once and retried,
like the forwarder (monitor/forwarder.py).
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Optional

from ..store import Store, StoreError
from .config import Destination, Integrations
from .mllp import MllpDestination, MllpSender
from .alerts_out import queue_alerts
from .results import queue_results

log = logging.getLogger("infusion_monitor.integrate")
INTERVAL_S = 2.0


def mllp_destination(d: Destination) -> MllpDestination:
    return MllpDestination(name=d.name, host=d.host, port=d.port, connect_timeout_s=d.connect_timeout_s,
                           ack_timeout_s=d.ack_timeout_s, retry_max_s=d.retry_max_s)


class IntegrationRunner:
    """Every configured destination's queuing and sending, pass by pass."""

    def __init__(self, store: Store, integrations: Integrations, clock: Callable[[], float] = time.time):
        self.store = store
        self.integrations = integrations
        self.clock = clock
        self.senders = {d.name: MllpSender(store, mllp_destination(d), clock=clock)
                        for d in integrations.destinations if d.kind == "mllp"}
        self.problem: Optional[str] = None
        self.said: dict[str, Optional[str]] = {}

    def one_pass(self) -> dict[str, dict]:
        """Queue and send for each destination; {name: {"queued", "sent", "failed"}}.
        StoreError when the database fails (what was queued or sent stays so)."""
        out = {}
        for d in self.integrations.destinations:
            queued = queue_results(self.store, self.integrations, d, now=self.clock()) if "results" in d.sends else 0
            if "alerts" in d.sends:
                queued += queue_alerts(self.store, self.integrations, d, now=self.clock())
            sender = self.senders.get(d.name)  # a webhook's sender is not built yet: its alerts wait queued
            report = sender.send_pending() if sender else {"sent": 0, "failed": None}
            out[d.name] = {"queued": queued, "sent": report["sent"], "failed": report["failed"]}
            self._say(d, report["failed"])
        return out

    def _say(self, d: Destination, failed: Optional[str]) -> None:
        """A destination's trouble is logged when it starts and when it ends, not every pass."""
        before = self.said.get(d.name)
        if failed and failed != before:
            log.error("%s: not delivered, will retry: %s", d.name, failed)
        elif not failed and before:
            log.warning("%s: delivering again", d.name)
        self.said[d.name] = failed

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
            stop.wait(interval_s)

    def start(self, interval_s: float = INTERVAL_S) -> None:
        """Run in a thread of its own (`run --config` with [integrations]): the bedside never waits for it."""
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
        for sender in self.senders.values():
            sender.close()
