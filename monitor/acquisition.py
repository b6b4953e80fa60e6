"""Live acquisition: one thread per device, one open session per chair.

Runs whether or not a browser is open. Each device runs under a supervisor that
restarts it after a crash, so one broken adapter never stops the other chairs.
The tick loop also writes a heartbeat for every chair about once a second, so a page can
tell a dead or hung acquisition from a quiet one (sessions.monitoring_alarms).
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
from typing import Optional

from .chairs import Chair
from .model import DeviceSignal
from .processes import allow_open_files
from .store import Store, StoreError, queries

log = logging.getLogger("infusion_monitor.acquisition")

# Open files a serial device holds (its port, and pyserial's two wake-up pipes), and what the
# rest of the process holds beside its devices (database, web server, logs), with room to spare.
FILES_PER_SERIAL_DEVICE = 5
FILES_BESIDE_DEVICES = 256


class Acquisition:
    """Starts every chair's device threads and the once-a-second tick."""

    def __init__(self, store: Store, chairs: list[Chair]):
        self.store = store
        self.chairs = chairs
        self.stop_event = threading.Event()
        self.threads: list[threading.Thread] = []
        self.started_at = time.time()
        self._beat_error = ""

    def start(self) -> None:
        """Start watching; a chair another live acquisition process watches is a RuleError
        (sessions.check_watcher), raised before anything starts."""
        for chair in self.chairs:
            chair.check_not_watched()
        self._check_open_files()
        self.store.start_writer()
        self.started_at = time.time()
        self._beat()  # the page sees this process from the start, not a second later
        for chair in self.chairs:
            chair.start_watching()
            for device in chair.devices:
                t = threading.Thread(target=self._supervise, args=(chair, device),
                                     name=f"device-{device.source}", daemon=True)
                t.start()
                self.threads.append(t)
        t = threading.Thread(target=self._tick_loop, name="acquisition-tick", daemon=True)
        t.start()
        self.threads.append(t)

    def _check_open_files(self) -> None:
        """Raise the open-files limit to what the system allows (processes.allow_open_files) and
        say so at start when even that is too few for these devices: a port that cannot be opened
        is then a device_disconnected alarm on its chair, and this line says why."""
        serial = sum(1 for chair in self.chairs for d in chair.devices if d.kind != "sim")
        need = FILES_BESIDE_DEVICES + FILES_PER_SERIAL_DEVICE * serial
        allowed = allow_open_files()
        if allowed < need:
            log.warning("%d serial devices may need %d open files, but this process may open only %d: "
                        "raise its hard limit (ulimit -Hn, LimitNOFILE= in a systemd unit)", serial, need, allowed)

    def _supervise(self, chair: Chair, device) -> None:
        backoff = 1.0
        while not self.stop_event.is_set():
            try:
                device.run(chair, self.stop_event)
                backoff = 1.0
            except Exception as e:  # a broken adapter must not take the others down
                log.exception("device %s crashed", device.source)
                chair.signal(DeviceSignal(chair.now(), device.source, False, f"adapter error: {e}"))
                self.stop_event.wait(backoff)
                backoff = min(backoff * 2, 10.0)

    def _tick_loop(self) -> None:
        """Every chair's tick, then the heartbeat, once a second on the clock (not a second after
        the last pass ended, so the beat keeps its pace while the pass takes time)."""
        due = time.monotonic() + 1.0
        while not self.stop_event.wait(max(0.0, due - time.monotonic())):
            due = max(due + 1.0, time.monotonic())  # a pass longer than a second is not caught up in a burst
            self.tick_all()
            self._beat()  # after the ticks: a hung tick stops the beat, and the page says so

    def tick_all(self) -> None:
        """One pass of every chair's tick, with what one read for all of them found."""
        opened, newest = self._clinic_now()
        for chair in self.chairs:
            try:
                if opened is None:
                    chair.tick()
                else:
                    session = opened.get(chair.name)
                    chair.tick(session, newest.get(session["id"]) if session else None)
            except Exception:
                log.exception("chair %s tick failed", chair.name)

    def _clinic_now(self) -> tuple[Optional[dict], dict]:
        """Every chair's open session and each one's newest event id, in a few queries for all
        chairs; (None, {}) when the database cannot answer (each chair's tick then asks, and
        says so)."""
        try:
            opened = queries.open_sessions(self.store, [c.name for c in self.chairs])
            return opened, queries.newest_event_ids(self.store, [s["id"] for s in opened.values()])
        except StoreError as e:
            log.error("the chairs' sessions could not be read for this tick: %s", e)
            return None, {}

    def _beat(self, stopped: bool = False) -> None:
        """The heartbeat: these chairs are watched, with the store's write problem if any."""
        try:
            self.store.heartbeat([c.name for c in self.chairs], time.time(), os.getpid(), socket.gethostname(),
                                 self.started_at, problem=getattr(self.store, "write_problem", None),
                                 stopped=stopped)
            self._beat_error = ""
        except StoreError as e:  # the page sees the missing beat; say it here once
            if str(e) != self._beat_error:
                log.error("heartbeat not written (the page will show monitoring stopped): %s", e)
            self._beat_error = str(e)

    def stop(self) -> None:
        self.stop_event.set()
        for t in self.threads:
            t.join(timeout=5)
        self._beat(stopped=True)
        for chair in self.chairs:
            if chair.recorder is not None:
                chair.recorder.finish()
        self.store.close()
