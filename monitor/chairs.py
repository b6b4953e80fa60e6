"""A chair: its devices and the recorder for its open session.

Devices call into a Chair (the DeviceContext they are given) from their own threads;
the acquisition tick calls `tick` once a second. Which session a chair records into
is decided by the session rules (sessions.open_or_resume, through Store.open_session).
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import replace
from typing import Callable, Optional

from . import profile_choice, sessions
from .model import PHYSICAL_RANGES, DeviceSignal, Event, Reading
from .processes import process_alive
from .protocol import Protocol
from .recording import SessionRecorder
from .store import Store, queries

log = logging.getLogger("infusion_monitor.acquisition")

# A chair hears from its tick every second and from its devices between ticks; silence
# longer than this means the acquisition process itself was stopped (SIGSTOP, a hung
# machine), and the devices' silence in that time was not theirs.
PAUSE_S = 3.0

_ASK = object()  # Chair.tick: not given, ask the store


class Chair:
    """A chair's devices and the recorder for its open session (the DeviceContext)."""

    def __init__(self, store: Store, protocol: Protocol, name: str, devices: list,
                 clock: Callable[[], float] = time.time, script: tuple = (),
                 monotonic: Callable[[], float] = time.monotonic, cycles: tuple = ()):
        self.store = store
        self.protocol = protocol  # the chair's own: what a session opened here runs under unless picked otherwise
        self.cycles = cycles  # the cuffs' measurement cycles: they follow the session's profile (_attach)
        self.name = name
        self.devices = devices
        self.clock = clock
        self.monotonic = monotonic
        self._last_heard = monotonic()
        self.script = list(script)  # demo: (seconds after session start, event type, text)
        self.recorder: Optional[SessionRecorder] = None
        self.session_started: Optional[float] = None
        self._lock = threading.RLock()
        self._device_state: dict[str, dict] = {}
        self._written_state: dict[str, dict] = {}
        self._pressure: dict[str, Optional[float]] = {}
        for d in devices:
            for source in getattr(d, "sources", (d.source,)):  # a sim bedside is three devices
                self._device_state[source] = {"chair": name, "kind": d.kind, "port": d.port,
                                              "connected": 0, "last_seen": None, "error": None}

    # ------------------------------------------------------------ sessions
    def conflict(self, patient_ref: str) -> Optional[str]:
        """Why this patient cannot be monitored here now (sessions.open_or_resume), or None."""
        try:
            sessions.open_or_resume(queries.current_session(self.store, self.name), self.name,
                                    sessions.patient_ref(patient_ref))
        except sessions.RuleError as e:
            return str(e)
        return None

    def open_session(self, patient_ref: str, ts: Optional[float] = None) -> int:
        """A new session for this patient; any session already open on the chair is a RuleError."""
        with self._lock:
            ts = self.clock() if ts is None else ts
            session_id, _ = self.store.open_session(patient_ref, self.name, self.protocol.name, ts, resume=False)
            self._attach(session_id, ts)
            return session_id

    def check_not_watched(self) -> None:
        """A RuleError when another live acquisition process watches this chair (sessions.check_watcher)."""
        beat, host = queries.heartbeat(self.store, self.name), socket.gethostname()
        gone = bool(beat) and beat.get("host") == host and not process_alive(beat["pid"])
        sessions.check_watcher(self.name, beat, time.time(), os.getpid(), host, beat_process_gone=gone)

    def session_for(self, patient_ref: str, ts: Optional[float] = None) -> tuple[int, bool]:
        """(session id, resumed): this patient's open session after a crash or reboot, else a new one.

        Decided by the store's open_session (sessions.open_or_resume); another patient's
        open session is a sessions.RuleError.
        """
        self.check_not_watched()  # before a resume charts an interruption that is not one
        with self._lock:
            ts = self.clock() if ts is None else ts
            session_id, resumed = self.store.open_session(patient_ref, self.name, self.protocol.name, ts)
            started = queries.session(self.store, session_id)["started_at"]
            self._attach(session_id, started)
            return session_id, resumed

    def end_session(self, author: str = "system", text: str = "", override: Optional[str] = None) -> None:
        """End the open session (signed by author); override: see sessions.check_end."""
        with self._lock:
            if self.recorder is not None:
                self.recorder.event(Event(self.clock(), "session_end", text, author), override=override)
                self.recorder = None

    def _attach(self, session_id: int, started: float) -> None:
        """Record into this session, under the profile it was opened with (profile_choice)."""
        row = queries.session(self.store, session_id)
        protocol = profile_choice.session_profile(self.protocol, row["protocol"] if row else None)
        if row and row["protocol"] and protocol.name != row["protocol"]:
            log.warning("chair %s: session %s names profile %r, unknown to this process: recording under %r",
                        self.name, session_id, row["protocol"], protocol.name)
        for cycle in self.cycles:
            cycle.interval_infusion_s, cycle.interval_other_s = protocol.nibp_cycle_infusion_s, protocol.nibp_cycle_other_s
        self.recorder = SessionRecorder.resume(self.store, session_id, protocol, self.clock())
        self.session_started = started
        for source in self._device_state:
            self.recorder.signal(DeviceSignal(self.clock(), source, False))

    def start_watching(self) -> None:
        """Its devices start now: the pause clock (PAUSE_S) counts from here, not from when the
        chair was built, so a long start-up (a thousand chairs opening or resuming their
        sessions first) is not charted as the acquisition not running."""
        with self._lock:
            self._last_heard = self.monotonic()

    # ------------------------------------------------------------ DeviceContext
    def reading(self, r: Reading) -> None:
        lo_hi = PHYSICAL_RANGES.get(r.parameter)
        if r.value is not None and lo_hi and not lo_hi[0] <= r.value <= lo_hi[1]:
            # impossible for a patient: keep it for the record, flagged, so no alarm rests on it
            r = replace(r, status="artifact", detail=f"value {r.value:g} outside {lo_hi[0]}..{lo_hi[1]}")
        with self._lock:
            self._notice_pause()
            if self.recorder is not None:
                self.recorder.reading(r)

    def signal(self, sig: DeviceSignal) -> None:
        with self._lock:
            self._notice_pause()
            st = self._device_state.setdefault(sig.source, {"chair": self.name})
            st["connected"] = 1 if sig.connected else 0
            st["error"] = None if sig.connected else (sig.error or st.get("error"))
            if sig.connected:
                st["last_seen"] = sig.ts
            if self.recorder is not None:
                self.recorder.signal(sig)

    def phase(self) -> tuple[Optional[int], Optional[str]]:
        rec = self.recorder
        return (rec.session_id, rec.engine.state) if rec else (None, None)

    def take_commands(self, kind: str) -> list[str]:
        return self.store.take_commands(self.name, kind, self.clock())

    def cuff_pressure(self, source: str, mmhg: Optional[float]) -> None:
        if self._pressure.get(source, -1) != mmhg:
            self._pressure[source] = mmhg
            self.store.device_status(source, cuff_pressure=mmhg, updated_at=self.clock())

    def now(self) -> float:
        return self.clock()

    # ------------------------------------------------------------ once a second
    def tick(self, open_session=_ASK, newest_event_id=_ASK) -> None:
        """Once a second: follow the chair's open session, apply events charted by others, advance
        the engine's clock. The acquisition passes what one read for all its chairs found
        (open_session: this chair's open session or None; newest_event_id: that session's newest
        event id or None), so a thousand chairs cost a few queries a second, not two thousand;
        called alone, the chair asks for itself."""
        with self._lock:
            self._notice_pause()
            if self.recorder is not None:
                self.recorder.chart_interruption()  # a pause a device thread noticed first
            now = self.clock()
            current = queries.current_session(self.store, self.name) if open_session is _ASK else open_session
            open_id = current["id"] if sessions.recorded_by_devices(current) else None
            if self.recorder is not None and self.recorder.session_id != open_id:
                self.recorder.poll_events()  # the end (from the page or the CLI) reaches the engine
                self.recorder.finish()
                self.recorder = None
            if self.recorder is None and open_id is not None:
                self._attach(open_id, current["started_at"])
            if self.recorder is not None:
                charted = self._run_script(now)
                if charted or newest_event_id is _ASK or (newest_event_id or 0) > self.recorder.event_cursor:
                    self.recorder.poll_events()
                self.recorder.advance(now)
            for source, st in self._device_state.items():
                if self._written_state.get(source) != st:
                    self.store.device_status(source, **st, updated_at=now)
                    self._written_state[source] = dict(st)

    def _notice_pause(self) -> None:
        """The first call after the process was stopped for longer than PAUSE_S charts the
        interruption and restarts the connected devices' timers, before anything else is decided."""
        heard, self._last_heard = self._last_heard, self.monotonic()
        gap = self._last_heard - heard
        if gap > PAUSE_S and self.recorder is not None:
            now = self.clock()
            connected = [s for s, st in self._device_state.items() if st.get("connected")]
            self.recorder.watching_resumed(now - gap, now, connected)

    def _run_script(self, now: float) -> bool:
        """Chart the demo's events that are due; whether any was."""
        charted = False
        while self.script and self.session_started is not None \
                and self.session_started + self.script[0][0] <= now:
            _, kind, text = self.script.pop(0)
            ts = self.session_started + _
            try:
                self.store.record_event(self.recorder.session_id, Event(ts, kind, text, "demo"))
                charted = True
            except sessions.RuleError as e:  # the nurse may have done it already
                log.info("demo event %s skipped: %s", kind, e)
        return charted
