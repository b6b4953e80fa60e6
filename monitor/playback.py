"""Sessions that play from a script instead of live devices: `simulate` and `replay`.

Both run through the same SessionRecorder as live acquisition. At `--speed max`
the session appears as a whole or not at all (worked out in a staging database, then
copied in chunks so live chairs on the same database never wait); paced runs behave
like a live session and are ended, not deleted, when interrupted.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Optional

from adapters.nibp_cycle import NibpCycle
from adapters.sim import Patient, SimBedside

from . import discharge, medication, observations, scores, sessions
from .model import Event, Reading
from .processes import process_alive
from .protocol import Protocol
from .recording import SessionRecorder
from .replay_csv import ReplayError, Row
from .store import Store, queries, transfer


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
    if speed is None:
        return _run_whole(store, protocol, patient_ref, chair, source, t0, length_s, body)
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


STAGING_PREFIX = "infusion-monitor-staging-"


def _remove_stale_staging() -> None:
    """A playback killed mid-way (kill -9) cannot remove its staging folder; the next one does."""
    for folder in Path(tempfile.gettempdir()).glob(f"{STAGING_PREFIX}*"):
        pid = folder.name[len(STAGING_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not process_alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _run_whole(store: Store, protocol: Protocol, patient_ref: str, chair: str, source: str, t0: float,
               length_s: float, body: Callable[[SessionRecorder, float, Pacer], None]) -> PlaybackResult:
    """At max speed the whole session is worked out in a private staging database, then
    copied in short chunks (store/transfer.py): the shared database's write lock is never
    held for long, so live chairs keep recording, and the session appears whole or not at all."""
    patient_ref = sessions.patient_ref(patient_ref)
    open_id = sessions.open_or_resume(queries.current_session(store, chair), chair, patient_ref)
    if open_id is not None:  # refused now, as Store.open_session would, not after the work
        raise sessions.RuleError(f"chair {chair} already has open session {open_id} for patient {patient_ref}")
    _remove_stale_staging()
    with tempfile.TemporaryDirectory(prefix=f"{STAGING_PREFIX}{os.getpid()}-") as tmp:
        staging = Store(Path(tmp) / "staging.db", flush_every=5000)  # private: writes as it goes, unbounded
        try:
            with staging.atomic():
                staged_id, _ = staging.open_session(patient_ref, chair, protocol.name, t0, source=source,
                                                    resume=False)
                rec = SessionRecorder(staging, staged_id, protocol)
                body(rec, t0, Pacer(None))
                _close(rec, t0 + length_s, "end of recording")
                staging.flush()
            session_id = transfer.copy_session(staging, staged_id, store)
        finally:
            staging.close()
    return PlaybackResult(session_id, rec.readings, len(rec.alert_keys))


SIMULATED_NURSE = "SIM"  # the initials a scenario's charted observations are signed with


def scenario_script(scenario) -> list[tuple]:
    """A scenario's timeline as (second, type, text, data, author), in time order: its phase
    events, and its observations (scales, side effects, interventions, Aldrete, PADSS and
    medications given) made into entries the way the page makes them (observations.entry,
    scores.aldrete_entry, discharge.padss_entry, medication.entry), so a scenario can never
    chart what a nurse could not."""
    script = [(t, kind, text, None, "script") for t, kind, text in scenario.events]
    for t, kind, raw in scenario.observations:
        script.append((t, kind, *_entry(kind, raw), SIMULATED_NURSE))
    return sorted(script, key=lambda item: item[0])


def _entry(kind: str, raw: dict) -> tuple[str, dict]:
    """(text, data) of one scripted entry, made by the check the page's form uses."""
    if kind == "padss":
        data, text = discharge.padss_entry(raw["items"], raw["minimum"])
    elif kind == "aldrete":
        data, text = scores.aldrete_entry(raw["items"], raw["minimum"])
    elif kind == "medication":
        data, text = medication.entry(raw)
    else:
        data, text = observations.entry(kind, raw)
    return text, data


def simulate(store: Store, protocol: Protocol, scenario: str, seed: int = 0, speed: Optional[float] = None,
             patient_ref: str = "SIM", chair: str = "sim") -> PlaybackResult:
    patient = Patient(scenario, seed)
    length = patient.scenario.length_s

    def body(rec: SessionRecorder, t0: float, pacer: Pacer) -> None:
        cycle = NibpCycle(protocol.nibp_cycle_infusion_s, protocol.nibp_cycle_other_s)
        bedside = SimBedside(patient, cycle, t0)
        script = scenario_script(patient.scenario)
        for k in range(int(length) + 1):
            pacer.wait_for(k)
            if pacer.speed and rec.poll_events() and rec.engine.state == "ended":
                break  # ended (or charted on) from the page or the CLI while playing
            ts = t0 + k
            while script and script[0][0] <= k:
                _, kind, text, data, author = script.pop(0)
                rec.event(Event(ts, kind, text, author), data, override=END_OVERRIDE)
            if rec.engine.state == "ended":
                break
            cycle.follow(rec.session_id, rec.engine.state)
            items, _ = bedside.step(ts)
            for item in items:
                (rec.reading if isinstance(item, Reading) else rec.signal)(item)

    return _run(store, protocol, patient_ref, chair, f"simulate:{scenario}:{seed}", length, speed, body)


def replay(store: Store, protocol: Protocol, rows: Iterable[Row], speed: Optional[float] = None,
           patient_ref: str = "REPLAY", chair: str = "replay", source: str = "replay",
           length_s: Optional[float] = None, expected_rows: Optional[int] = None) -> PlaybackResult:
    """Play validated rows (replay_csv.iter_file after check_file, or a list) as a session.

    Rows are consumed one at a time, so a recording of any length plays in constant
    memory; length_s (the last row's t_s, from the checking pass) is needed up front
    unless rows is a list. A recording without session_end is a partial one
    (replay_csv refuses it unless asked): its session ends saying so (PARTIAL_END).
    expected_rows (from the checking pass): a file that no longer matches what was checked
    (a row past length_s, more or fewer rows) is a ReplayError, never a session played from it.
    """
    if length_s is None:
        rows = list(rows)
        length_s = rows[-1].t_s if rows else 0.0

    def changed(why: str) -> ReplayError:
        return ReplayError(f"{source}: the file changed since it was checked ({why}); nothing was kept from it"
                           if speed is None else f"{source}: the file changed since it was checked ({why})")

    def body(rec: SessionRecorder, t0: float, pacer: Pacer) -> None:
        played = 0
        for row in rows:
            played += 1
            if row.t_s > length_s or (expected_rows is not None and played > expected_rows):
                raise changed(f"row {played} at t_s {row.t_s:g}, past the checked {expected_rows} rows "
                              f"ending at {length_s:g} s")
            pacer.wait_for(row.t_s)
            if pacer.speed and rec.poll_events() and rec.engine.state == "ended":
                return  # ended (or charted on) from the page or the CLI while playing
            ts = t0 + row.t_s
            if row.event:
                rec.event(Event(ts, row.event, row.text, "replay"), row.data, override=END_OVERRIDE)
            else:
                rec.reading(Reading(ts, row.parameter, row.value, row.status, row.source or source,
                                    row.detail))
        if expected_rows is not None and played < expected_rows:
            raise changed(f"{played} rows, {expected_rows} checked")
        if rec.engine.state != "ended":  # the rows stopped without session_end
            _close(rec, t0 + length_s, PARTIAL_END)

    return _run(store, protocol, patient_ref, chair, source, length_s, speed, body)
