"""Escalation: an alarm nobody acknowledges within its profile's time escalates.

Why: nurses watch several chairs from across the room; an alarm nobody signs for must not
stay a quiet corner of one screen. The profile's `[escalation]` says, per priority, how long
an alarm may go unacknowledged (`Protocol.escalation_s`; a priority absent never escalates).

Decided here alone (`escalates`), from timestamps only, like the rest of the engine: the
moment is exactly `started_at` + the priority's time, so a replay at any speed gives the
same `escalated_at`. Physiological and technical alarms alike escalate: a device gone
unanswered is a patient nobody watches. An alarm escalates when, at that moment, it is on
the alarm board (`sessions.on_alarm_board`: active, or a HIGH physiological one ended but
not signed for) and nobody has signed for it at or before that moment.

The engine passes every change it emits through `Escalation.note` (so it knows each alarm's
latest state and stamps an escalated one's snapshots), asks `due` whenever time passes
(`AlertEngine.advance`: a reading, an event, a device signal, and in live acquisition the
chair's once-a-second tick, so an alarm escalates even when no reading arrives, such as a
device gone), and tells it of each acknowledgement (`acknowledged`, from the `acknowledge`
event's alarm key). Escalation stops when the session ends.
"""
from __future__ import annotations

from copy import copy
from typing import Mapping, Optional

from ..model import Alert
from ..sessions import on_alarm_board


def deadline(alert: Alert, after_s: Mapping[str, float]) -> Optional[float]:
    """started_at + the profile's time for its priority; None for a priority that never escalates."""
    s = after_s.get(alert.priority)
    return None if s is None else alert.started_at + s


def escalates(alert: Alert, after_s: Mapping[str, float], acknowledged_at: Optional[float], at: float) -> bool:
    """THE rule: by time `at`, has this alarm escalated? Its moment (`deadline`) has come, it was on
    the board then, and nobody had signed for it by then (a signature at the very moment is in time).
    `alert` is its latest state as the engine knows it at `at`."""
    due = deadline(alert, after_s)
    if due is None or due > at or (acknowledged_at is not None and acknowledged_at <= due):
        return False
    return on_alarm_board({"started_at": alert.started_at, "ended_at": alert.ended_at, "acknowledged_at": None,
                           "priority": alert.priority, "kind": alert.kind}, at=due)


class Escalation:
    """One session's alarms waiting for a signature, and when each escalates."""

    def __init__(self, after_s: Mapping[str, float]):
        self.after_s = dict(after_s)
        self._waiting: dict[str, Alert] = {}  # key -> latest snapshot, neither escalated nor signed for
        self._signed: dict[str, float] = {}  # key -> when it was signed for
        self._escalated: dict[str, float] = {}  # key -> escalated_at
        self._stopped = False

    def note(self, changes: list) -> list:
        """Every change the engine emits (copies): an alarm is watched from its first snapshot,
        and each snapshot of an escalated alarm carries its escalated_at. Returns the changes."""
        for c in changes:
            if not isinstance(c, Alert):
                continue
            if c.key in self._escalated:
                c.escalated_at = self._escalated[c.key]
            elif not self._stopped and c.key not in self._signed and self.after_s.get(c.priority) is not None:
                self._waiting[c.key] = copy(c)
        return changes

    def due(self, ts: float) -> list[Alert]:
        """The alarms whose moment has come by ts, in time order, each a snapshot with its escalated_at."""
        out = []
        for key, a in sorted(self._waiting.items(), key=lambda kv: (deadline(kv[1], self.after_s), kv[0])):
            when = deadline(a, self.after_s)
            if when > ts:
                break
            del self._waiting[key]
            if escalates(a, self.after_s, self._signed.get(key), ts):
                self._escalated[key] = when
                e = copy(a)
                e.escalated_at = when
                out.append(e)
        return out

    def acknowledged(self, key: str, ts: float) -> None:
        """Someone signed for this alarm at ts. Events reach the engine on the chair's next tick,
        so it may hear of a signature made before a moment it has already passed: then the alarm
        did not escalate, and the store, which has the signature, never writes it
        (store.rows.upsert_alert)."""
        self._signed.setdefault(key, ts)
        self._waiting.pop(key, None)
        if key in self._escalated and ts <= self._escalated[key]:
            del self._escalated[key]

    def resume(self, alert: Alert, acknowledged_at: Optional[float]) -> None:
        """An alarm of the session before a restart (SessionRecorder.resume), as stored."""
        if alert.escalated_at is not None:
            self._escalated[alert.key] = alert.escalated_at
        elif acknowledged_at is not None:
            self._signed[alert.key] = acknowledged_at
        else:
            self.note([copy(alert)])

    def stop(self) -> None:
        """The session ended: nothing escalates any more (its alarms stay on the record as they are)."""
        self._stopped = True
        self._waiting.clear()
