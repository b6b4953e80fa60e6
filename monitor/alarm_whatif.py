"""What if the clinic's profile had been different: recorded sessions re-run through the
alarm engine under their own profile and under an edited one, alarm by alarm.

Exact, not estimated: the engine decides from the readings' timestamps and the charted
events alone (docs/ARCHITECTURE.md, "Where each rule lives"), so the same record under the
same profile gives the same alarms, and the difference between the two runs is the edit's
own doing. What the record does not hold is left out of both runs alike: device signals
(a port lost, bytes that never decode) are not stored, so `device_disconnected` is not
re-run; a manual cuff value counts only through its charted entry, as live.

Pure: rows as the store returns them (readings, events) in; alarms and counts out.
"""
from __future__ import annotations

from collections import Counter
from typing import Iterable, Optional

from .alerts import AlertEngine
from .model import MANUAL, Alert, Event, Reading
from .protocol import SHIPPED_PROFILES, Protocol, load_protocol


def rerun(protocol: Protocol, readings: Iterable[dict], events: Iterable[dict]) -> list[Alert]:
    """Every alarm the engine raises over this record under `protocol`, as it last stood.
    Events go before readings of the same instant, as a playback charts them."""
    engine = AlertEngine(protocol)
    timeline = sorted([(e["ts"], 0, n, e) for n, e in enumerate(events)] +
                      [(r["ts"], 1, n, r) for n, r in enumerate(readings) if r["source"] != MANUAL],
                      key=lambda item: item[:3])
    last: dict[str, Alert] = {}
    for ts, is_reading, _, row in timeline:
        if is_reading:
            changes = engine.feed(Reading(ts, row["parameter"], row["value"], row["status"], row["source"] or "",
                                          row["detail"]))
        else:
            changes = engine.event(Event(ts, row["type"], row["text"] or "", row["author"] or ""), row["data"])
        last.update((c.key, c) for c in changes if isinstance(c, Alert))
    last.update((c.key, c) for c in engine.flush() if isinstance(c, Alert))
    return list(last.values())


def _counts(alerts: Iterable) -> Counter:
    return Counter((a["rule"] if isinstance(a, dict) else a.rule,
                    a["priority"] if isinstance(a, dict) else a.priority) for a in alerts)


class WhatIf:
    """Accumulates sessions re-run under their own profile and an edited one.

    A session's own profile is the one its row names: the profile given (`at_hand`, the
    command's --protocol) when the name is its name, else a shipped profile of that name;
    any other is not at hand and the session is skipped, saying so. Names are all a session
    keeps: a profile edited since under the same name re-runs as it is now (`record_differs`)."""

    def __init__(self, edited: Protocol, at_hand: Optional[Protocol] = None):
        self.edited = edited
        self._own: dict[str, Protocol] = {at_hand.name: at_hand} if at_hand is not None else {}
        self.sessions = 0
        self.stored: Counter = Counter()
        self.before: Counter = Counter()
        self.after: Counter = Counter()
        self.skipped: list[dict] = []  # sessions whose own profile is not at hand

    def own_profile(self, session: dict) -> Optional[Protocol]:
        """The profile this session ran under, if it is at hand (see the class)."""
        name = session.get("protocol")
        if name not in self._own and name in SHIPPED_PROFILES:
            self._own[name] = load_protocol(name)
        return self._own.get(name)

    def add_session(self, session: dict, readings: list[dict], events: list[dict], stored_alerts: list[dict]) -> None:
        """One session as stored, re-run under its own profile, or skipped when that is not at hand."""
        own = self.own_profile(session)
        if own is None:
            self._skip(session, f"its profile {session.get('protocol')!r} is neither shipped nor the --protocol given")
        else:
            self.add(own, readings, events, stored_alerts)

    def add(self, own: Protocol, readings: list[dict], events: list[dict], stored_alerts: list[dict]) -> None:
        """One session: its record, the profile it ran under and the alarms it stored."""
        self.sessions += 1
        self.stored += _counts(a for a in stored_alerts if a["rule"] != "device_disconnected")
        self.before += _counts(a for a in rerun(own, readings, events) if a.rule != "device_disconnected")
        self.after += _counts(a for a in rerun(self.edited, readings, events) if a.rule != "device_disconnected")

    def _skip(self, session: dict, why: str) -> None:
        self.skipped.append({"session_id": session["id"], "protocol": session.get("protocol"), "why": why})

    def result(self) -> dict:
        # a rule only the record has (neither run raised it) is a row too: that is a difference
        keys = sorted(set(self.stored) | set(self.before) | set(self.after),
                      key=lambda k: (-abs(self.after[k] - self.before[k]), str(k[0]), str(k[1])))
        rows = [{"rule": r, "priority": p, "stored": self.stored[(r, p)], "own_profile": self.before[(r, p)],
                 "edited_profile": self.after[(r, p)], "change": self.after[(r, p)] - self.before[(r, p)]}
                for r, p in keys]
        before, after = sum(self.before.values()), sum(self.after.values())
        return {"edited_profile": self.edited.name, "sessions": self.sessions, "own_profile_alarms": before,
                "edited_profile_alarms": after, "change": after - before,
                # the re-run under the own profile should give back the record; where it does not,
                # the profile of that name was edited since (or the record was), and the change is
                # measured against the profile as it is now
                "record_differs": [f"{r['rule']} ({r['priority']})" for r in rows if r["stored"] != r["own_profile"]],
                "stored_alarms": sum(self.stored.values()), "by_rule": rows, "skipped": self.skipped,
                "not_rerun": ["device_disconnected"]}
