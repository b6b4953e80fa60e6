"""Live acquisition: one thread per device, one open session per chair.

Runs whether or not a browser is open. Each device runs under a supervisor that
restarts it after a crash, so one broken adapter never stops the other chairs.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace
from typing import Callable, Optional

from .model import PHYSICAL_RANGES, DeviceSignal, Event, Reading
from .protocol import Protocol
from .recording import SessionRecorder
from .store import Store, queries

log = logging.getLogger("infusion_monitor.acquisition")


class Chair:
    """A chair's devices and the recorder for its open session (the DeviceContext)."""

    def __init__(self, store: Store, protocol: Protocol, name: str, devices: list,
                 clock: Callable[[], float] = time.time, script: tuple = ()):
        self.store = store
        self.protocol = protocol
        self.name = name
        self.devices = devices
        self.clock = clock
        self.script = list(script)  # demo: (seconds after session start, event type, text)
        self.recorder: Optional[SessionRecorder] = None
        self.session_started: Optional[float] = None
        self._lock = threading.RLock()
        self._device_state: dict[str, dict] = {}
        self._written_state: dict[str, dict] = {}
        self._pressure: dict[str, Optional[float]] = {}
        for d in devices:
            for source in getattr(d, "sources", (d.source,)):  # a sim bedside is two devices
                self._device_state[source] = {"chair": name, "kind": d.kind, "port": d.port,
                                              "connected": 0, "last_seen": None, "error": None}

    # ------------------------------------------------------------ sessions
    def open_session(self, patient_ref: str, ts: Optional[float] = None) -> int:
        with self._lock:
            current = queries.current_session(self.store, self.name)
            if current and current["state"] != "ended":
                raise ValueError(f"chair {self.name} already has open session {current['id']}")
            ts = self.clock() if ts is None else ts
            session_id = self.store.create_session(patient_ref, self.name, self.protocol.name, ts)
            self._attach(session_id, ts)
            return session_id

    def conflict(self, patient_ref: str) -> Optional[str]:
        """Why this patient cannot be monitored here now: another patient's session is open."""
        current = queries.current_session(self.store, self.name)
        if current and current["state"] != "ended" and current["patient_ref"] != patient_ref:
            return (f"chair {self.name} has open session {current['id']} for patient {current['patient_ref']}; "
                    f"end it first (end-session --session {current['id']} --by INITIALS)")
        return None

    def session_for(self, patient_ref: str) -> tuple[int, bool]:
        """(session id, resumed): this patient's open session after a crash or reboot, else a new one.

        Never records one patient into another's chart: that is a ValueError.
        """
        with self._lock:
            why = self.conflict(patient_ref)
            if why:
                raise ValueError(why)
            current = queries.current_session(self.store, self.name)
            if current and current["state"] != "ended":
                return current["id"], True
            return self.open_session(patient_ref), False

    def end_session(self, author: str = "system", text: str = "") -> None:
        with self._lock:
            if self.recorder is not None:
                self.recorder.event(Event(self.clock(), "session_end", text, author))
                self.recorder = None

    def _attach(self, session_id: int, started: float) -> None:
        self.recorder = SessionRecorder.resume(self.store, session_id, self.protocol, self.clock())
        self.session_started = started
        for source in self._device_state:
            self.recorder.signal(DeviceSignal(self.clock(), source, False))

    # ------------------------------------------------------------ DeviceContext
    def reading(self, r: Reading) -> None:
        lo_hi = PHYSICAL_RANGES.get(r.parameter)
        if r.value is not None and lo_hi and not lo_hi[0] <= r.value <= lo_hi[1]:
            # impossible for a patient: keep it for the record, flagged, so no alarm rests on it
            r = replace(r, status="artifact", detail=f"value {r.value:g} outside {lo_hi[0]}..{lo_hi[1]}")
        with self._lock:
            if self.recorder is not None:
                self.recorder.reading(r)

    def signal(self, sig: DeviceSignal) -> None:
        with self._lock:
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
        rows = queries.pending_commands(self.store, self.name)
        mine = [r for r in rows if r["command"].split(":")[0] == kind]
        for r in mine:
            self.store.execute("UPDATE commands SET done_at = ? WHERE id = ?", (self.clock(), r["id"]))
        return [r["command"].split(":", 1)[1] for r in mine]

    def cuff_pressure(self, source: str, mmhg: Optional[float]) -> None:
        if self._pressure.get(source, -1) != mmhg:
            self._pressure[source] = mmhg
            self.store.device_status(source, cuff_pressure=mmhg, updated_at=self.clock())

    def now(self) -> float:
        return self.clock()

    # ------------------------------------------------------------ once a second
    def tick(self) -> None:
        now = self.clock()
        with self._lock:
            current = queries.current_session(self.store, self.name)
            open_id = current["id"] if current and current["state"] != "ended" else None
            if self.recorder is not None and self.recorder.session_id != open_id:
                self.recorder.finish()
                self.recorder = None
            if self.recorder is None and open_id is not None:
                self._attach(open_id, current["started_at"])
            if self.recorder is not None:
                self._run_script(now)
                self.recorder.poll_events()
                self.recorder.advance(now)
            for source, st in self._device_state.items():
                if self._written_state.get(source) != st:
                    self.store.device_status(source, **st, updated_at=now)
                    self._written_state[source] = dict(st)

    def _run_script(self, now: float) -> None:
        while self.script and self.session_started is not None \
                and self.session_started + self.script[0][0] <= now:
            _, kind, text = self.script.pop(0)
            ts = self.session_started + _
            try:
                self.store.record_event(self.recorder.session_id, Event(ts, kind, text, "demo"))
            except Exception as e:  # the nurse may have done it already
                log.info("demo event %s skipped: %s", kind, e)


class Acquisition:
    """Starts every chair's device threads and the once-a-second tick."""

    def __init__(self, store: Store, chairs: list[Chair]):
        self.store = store
        self.chairs = chairs
        self.stop_event = threading.Event()
        self.threads: list[threading.Thread] = []

    def start(self) -> None:
        self.store.start_writer()
        for chair in self.chairs:
            for device in chair.devices:
                t = threading.Thread(target=self._supervise, args=(chair, device),
                                     name=f"device-{device.source}", daemon=True)
                t.start()
                self.threads.append(t)
        t = threading.Thread(target=self._tick_loop, name="acquisition-tick", daemon=True)
        t.start()
        self.threads.append(t)

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
        while not self.stop_event.wait(1.0):
            for chair in self.chairs:
                try:
                    chair.tick()
                except Exception:
                    log.exception("chair %s tick failed", chair.name)

    def stop(self) -> None:
        self.stop_event.set()
        for t in self.threads:
            t.join(timeout=5)
        for chair in self.chairs:
            if chair.recorder is not None:
                chair.recorder.finish()
        self.store.close()
