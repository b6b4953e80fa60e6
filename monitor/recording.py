"""One session's pipeline: readings and events through the engine into the store.

Shared by live acquisition, `simulate` and `replay`, so all three decide alarms
the same way.
"""
from __future__ import annotations

import logging
from typing import Optional

from . import sessions
from .alerts import AlertEngine
from .formatting import fmt_duration
from .model import MANUAL, Alert, Baseline, DeviceSignal, Event, Reading
from .protocol import Protocol
from .store import Store, StoreError, queries

log = logging.getLogger("infusion_monitor.acquisition")

BASELINE_PARAMETERS = ("hr", "spo2", "sbp", "dbp", "map")


class SessionRecorder:
    def __init__(self, store: Store, session_id: int, protocol: Protocol):
        self.store = store
        self.session_id = session_id
        self.engine = AlertEngine(protocol)
        self.readings = 0
        self.alert_keys: set[str] = set()
        self.event_cursor = 0
        self._uncharted_gap: Optional[tuple[float, float]] = None  # a pause to chart at the next tick

    @classmethod
    def resume(cls, store: Store, session_id: int, protocol: Protocol, ts: float) -> "SessionRecorder":
        """Pick up a session already under way: after a restart, or opened by another process.

        Restores phase, baselines (and, before infusion start, the recent history they
        are computed from), per-session limits and alert numbering. An alarm left active
        by the previous process stays active, the same record, until the new readings end
        it by the usual rule (AlertEngine.carry); only one this profile has no rule for is
        ended at ts. When the session already had device readings, the time without them
        up to ts is charted as a `monitoring_interrupted` event (docs/ARCHITECTURE.md, "Schema").
        """
        rec = cls(store, session_id, protocol)
        s = queries.session(store, session_id)
        events = queries.events(store, session_id)
        rec.event_cursor = max([e["id"] for e in events], default=0)
        for e in events:
            if e["type"] == "limit_change":
                rec.engine.event(Event(e["ts"], "limit_change"), e["data"])
        baselines = [Baseline(p, b["value"], b["source"], b["ts"], b["n"] or 0)
                     for p, b in queries.baselines(store, session_id).items()]
        ignored = None if protocol.manual_bp_counts else MANUAL  # as the engine: see AlertEngine.event
        last_bp = queries.newest_reading_ts(store, session_id, "sbp", valid_only=True, except_source=ignored)
        alerts = queries.alerts(store, session_id)
        seq = max([int(a["key"].rsplit("#", 1)[1]) for a in alerts
                   if a["key"] and a["key"].rsplit("#", 1)[-1].isdigit()], default=0)
        rec.engine.restore(s["state"], s["infusion_start"], baselines, last_bp, seq)
        if s["state"] == "baseline":
            window = max(protocol.baseline_window_s, protocol.nibp_baseline_window_s)
            for r in queries.valid_readings_since(store, session_id, ts - window, BASELINE_PARAMETERS, ignored):
                rec.engine.baselines.observe(r["parameter"], r["ts"], r["value"])
        for a in alerts:
            alert = Alert(a["key"], a["rule"], a["parameter"], a["kind"], a["priority"], a["started_at"],
                          a["value"], a["limit_value"], a["message"], a["ended_at"], a.get("escalated_at"))
            if a["ended_at"] is None and not rec.engine.carry(alert):
                alert.ended_at = max(ts, a["started_at"])
                rec.store.put_change(session_id, alert)
            if a["key"] and s["state"] != "ended":  # an alarm nobody signed for still escalates
                rec.engine.escalation.resume(alert, a["acknowledged_at"])
        last = queries.newest_reading_ts(store, session_id, except_source=MANUAL)
        if last is not None and ts > last:
            rec._chart_interruption(ts, last, ts, "acquisition restarted")
        return rec

    def watching_resumed(self, since: float, ts: float, sources) -> None:
        """The acquisition process was stopped (hung, paused) from `since` to ts: chart the
        interruption and restart the devices' disconnection timers (AlertEngine.watching_resumed),
        so the watcher's own silence raises no false device_disconnected.

        A device thread may be the first to notice, and no device thread waits for the database:
        the interruption is charted by the next tick (chart_interruption), not here."""
        self.engine.watching_resumed(ts, sources)
        self._uncharted_gap = (since, ts)

    def chart_interruption(self) -> None:
        """Chart a pause noticed since the last tick (watching_resumed); called by the tick."""
        gap, self._uncharted_gap = self._uncharted_gap, None
        if gap is None:
            return
        try:
            self._chart_interruption(gap[0], gap[0], gap[1], "acquisition was not running")
        except (sessions.RuleError, StoreError) as e:  # the page already showed monitoring stopped
            log.error("session %d: the interruption could not be charted: %s", self.session_id, e)

    def _chart_interruption(self, at: float, since: float, until: float, why: str) -> None:
        """A `monitoring_interrupted` event: nothing was recorded from `since` to `until`, and why."""
        self.event_cursor = max(self.event_cursor, self.store.record_event(
            self.session_id, Event(at, "monitoring_interrupted", f"No monitoring for {fmt_duration(until - since)}: {why}",
                                   "system"),
            {"since": since, "seconds": round(until - since, 1)}))

    def reading(self, r: Reading) -> None:
        self.store.put_reading(self.session_id, r)
        self.readings += 1
        self._apply(self.engine.feed(r))

    def signal(self, sig: DeviceSignal) -> None:
        self._apply(self.engine.signal(sig))

    def advance(self, ts: float) -> None:
        self._apply(self.engine.advance(ts))

    def event(self, event: Event, data: Optional[dict] = None, override: Optional[str] = None) -> int:
        """Chart an event (simulate/replay) and apply it to the engine; override: see sessions.check_end."""
        if event.type == "session_end":
            self.store.flush()  # the alarms raised so far are on the board the end gate reads
        event_id = self.store.record_event(self.session_id, event, data, override=override)
        self.event_cursor = max(self.event_cursor, event_id)
        self._apply_event(event, data or {})
        return event_id

    def poll_events(self) -> int:
        """Apply events charted by others (the page, another process) since last time."""
        rows = queries.events(self.store, self.session_id, self.event_cursor)
        for row in rows:
            self.event_cursor = max(self.event_cursor, row["id"])
            ev = Event(row["ts"], row["type"], row["text"] or "", row["author"] or "")
            self._apply_event(ev, row["data"])
        return len(rows)

    def _apply_event(self, ev: Event, data: dict) -> None:
        # a manual cuff reading was stored with its entry (Store.record_event); the engine decides
        # whether it counts (the profile's nibp.manual_bp_counts)
        self._apply(self.engine.event(ev, data))

    def finish(self) -> None:
        self._apply(self.engine.flush())

    def _apply(self, changes) -> None:
        for c in changes:
            if hasattr(c, "key"):
                self.alert_keys.add(c.key)
            self.store.put_change(self.session_id, c)
