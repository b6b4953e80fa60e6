"""Sessions that play from a script instead of live devices: `simulate` and `replay`.

Both run through the same SessionRecorder as live acquisition. At `--speed max`
the session is written as a whole or not at all; paced runs behave like a live
session and are ended, not deleted, when interrupted.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Iterable, Optional

from adapters.nibp_cycle import NibpCycle
from adapters.sim import Patient, SimBedside

from .model import Event, Reading
from .protocol import Protocol
from .recording import SessionRecorder
from .replay_csv import Row
from .store import Store


@dataclass
class PlaybackResult:
    session_id: int
    readings: int
    alerts: int


class Pacer:
    """Sleeps so that script second k happens at wall start + k / speed (None: no sleeping)."""

    def __init__(self, speed: Optional[float], sleep: Callable[[float], None] = time.sleep):
        self.speed = speed
        self.sleep = sleep
        self.start = time.monotonic()

    def wait_for(self, k: float) -> None:
        if self.speed:
            delay = self.start + k / self.speed - time.monotonic()
            if delay > 0:
                self.sleep(delay)


def _anchor(length_s: float, speed: Optional[float]) -> float:
    """At max speed the session ends now; paced, it starts now.

    A paced run faster than real time keeps its own clock, ahead of the wall clock,
    so the bedside shows it live; the page and every entry made on it follow the
    session's clock (the newer of wall time and the latest reading).
    """
    now = time.time()
    return now - length_s if speed is None else now


# A played recording ends when it says so: nobody at its bedside could sign for its
# alarms, so its end passes the acknowledgement gate as an override on the record.
END_OVERRIDE = "recorded playback: no one at the bedside to acknowledge"
# A partial recording (`replay --partial`) stops without its session_end: its session is
# ended, but never as a normal "end of recording".
PARTIAL_END = "partial recording: the file stops without session_end; data after it is missing"


def _close(rec: SessionRecorder, ts: float, text: str) -> None:
    """A recording that stops without session_end still ends: nothing stays open."""
    rec.finish()
    if rec.engine.state != "ended":
        rec.event(Event(ts, "session_end", text, "system"), override=END_OVERRIDE)


def _run(store: Store, protocol: Protocol, patient_ref: str, chair: str, source: str, length_s: float,
         speed: Optional[float], body: Callable[[SessionRecorder, float, Pacer], None]) -> PlaybackResult:
    t0 = _anchor(length_s, speed)
    if speed is None:  # one transaction: the whole session or nothing, even if the process is killed
        with store.atomic():
            session_id, _ = store.open_session(patient_ref, chair, protocol.name, t0, source=source, resume=False)
            rec = SessionRecorder(store, session_id, protocol)
            body(rec, t0, Pacer(None))
            _close(rec, t0 + length_s, "end of recording")
            store.flush()
        return PlaybackResult(session_id, rec.readings, len(rec.alert_keys))
    session_id, _ = store.open_session(patient_ref, chair, protocol.name, t0, source=source, resume=False)
    rec = SessionRecorder(store, session_id, protocol)
    store.start_writer()
    try:
        body(rec, t0, Pacer(speed))
        _close(rec, t0 + length_s, "end of recording")
    except BaseException:  # paced playback is like a live session: end it, keep what was recorded
        _close(rec, max(rec.engine.now or t0, t0), "playback interrupted")
        raise
    finally:
        store.flush()
    return PlaybackResult(session_id, rec.readings, len(rec.alert_keys))


def simulate(store: Store, protocol: Protocol, scenario: str, seed: int = 0, speed: Optional[float] = None,
             patient_ref: str = "SIM", chair: str = "sim") -> PlaybackResult:
    patient = Patient(scenario, seed)
    length = patient.scenario.length_s

    def body(rec: SessionRecorder, t0: float, pacer: Pacer) -> None:
        cycle = NibpCycle(protocol.nibp_cycle_infusion_s, protocol.nibp_cycle_other_s)
        bedside = SimBedside(patient, cycle, t0)
        script = sorted(patient.scenario.events)
        for k in range(int(length) + 1):
            pacer.wait_for(k)
            if pacer.speed and rec.poll_events() and rec.engine.state == "ended":
                break  # ended (or charted on) from the page or the CLI while playing
            ts = t0 + k
            while script and script[0][0] <= k:
                _, kind, text = script.pop(0)
                rec.event(Event(ts, kind, text, "script"), override=END_OVERRIDE)
            if rec.engine.state == "ended":
                break
            cycle.follow(rec.session_id, rec.engine.state)
            items, _ = bedside.step(ts)
            for item in items:
                (rec.reading if isinstance(item, Reading) else rec.signal)(item)

    return _run(store, protocol, patient_ref, chair, f"simulate:{scenario}:{seed}", length, speed, body)


def replay(store: Store, protocol: Protocol, rows: Iterable[Row], speed: Optional[float] = None,
           patient_ref: str = "REPLAY", chair: str = "replay", source: str = "replay",
           length_s: Optional[float] = None) -> PlaybackResult:
    """Play validated rows (replay_csv.iter_file after check_file, or a list) as a session.

    Rows are consumed one at a time, so a recording of any length plays in constant
    memory; length_s (the last row's t_s, from the checking pass) is needed up front
    unless rows is a list. A recording without session_end is a partial one
    (replay_csv refuses it unless asked): its session ends saying so (PARTIAL_END).
    """
    if length_s is None:
        rows = list(rows)
        length_s = rows[-1].t_s if rows else 0.0

    def body(rec: SessionRecorder, t0: float, pacer: Pacer) -> None:
        for row in rows:
            pacer.wait_for(row.t_s)
            if pacer.speed and rec.poll_events() and rec.engine.state == "ended":
                return  # ended (or charted on) from the page or the CLI while playing
            ts = t0 + row.t_s
            if row.event:
                rec.event(Event(ts, row.event, row.text, "replay"), row.data, override=END_OVERRIDE)
            else:
                rec.reading(Reading(ts, row.parameter, row.value, row.status, row.source or source,
                                    row.detail))
        if rec.engine.state != "ended":  # the rows stopped without session_end
            _close(rec, t0 + length_s, PARTIAL_END)

    return _run(store, protocol, patient_ref, chair, source, length_s, speed, body)
