"""Queuing each session's ORU^R01 results for a destination, once each, as they become complete.

A pass looks at every session the destination still watches (open now, or ended within
`WATCH_ENDED_S`, and not ended before the destination was first set up) and queues what is
new since the last pass, in the same transaction as the progress that says so
(`store.outbox.enqueue`): a crash between the two cannot lose or repeat a message, and the
outbox's unique (destination, message key) makes a repeat a no-op anyway.

When is something complete?
- an interval of the continuous signals (HR, SpO2, RR, EtCO2), once a reading of the session
  at least `SETTLE_S` past its end has been stored: acquisition commits a chair's rows in
  time order within about a second (store.db.PROMPT_COMMIT_S), so by then the interval has
  every reading it will get; when the session has ended, at once;
- an NIBP measurement, on the same horizon (the cuff's three values arrive together);
- a charted event, as soon as it is stored (by event id, so an entry timed in the past is
  sent too); a correction sends the entry it strikes again, marked wrong (OBX-11 W).
What a message holds and how it is coded is `exports.hl7_results`'; this module only
decides when, and never builds or edits a message.
"""
from __future__ import annotations

import math
import time
from typing import Optional

from ..exports.hl7_results import Hl7Identity, Hl7Message, event_results, interval_results
from ..exports.vital_signs import CONTINUOUS, NIBP
from ..store import Store, outbox, queries
from .config import Destination, Integrations

SETTLE_S = 10.0  # a reading this far past an interval's end closes it (see above)
WATCH_ENDED_S = 24 * 3600.0  # an ended session's late entries (a sign-off, a correction) are sent for a day
PARAMETERS = NIBP + CONTINUOUS  # what interval_results measures and summarises: read only these


def identity(integrations: Integrations, destination: Destination) -> Hl7Identity:
    """MSH-3..6 for this destination."""
    return Hl7Identity(sending_application=integrations.application, sending_facility=integrations.facility,
                       receiving_application=destination.receiving_application,
                       receiving_facility=destination.receiving_facility)


def hl7_item(session_id: int, m: Hl7Message) -> dict:
    """The outbox item of one HL7 message of a session (its key prefixed by the session's id)."""
    return {"kind": "hl7", "message_key": f"s{session_id}/{m.key}", "control_id": m.control_id,
            "session_id": session_id, "about_ts": m.ts, "payload": m.text}


def queue_results(store: Store, integrations: Integrations, destination: Destination,
                  now: Optional[float] = None) -> int:
    """Queue every complete, not yet queued result of the sessions this destination watches;
    returns how many messages were new."""
    now = time.time() if now is None else now
    who = identity(integrations, destination)
    # an HL7 result needs a patient (PID-3): watched_sessions leaves out those without one
    return sum(_queue_session(store, destination, who, session, now)
               for session in watched_sessions(store, destination, now))


def watched_sessions(store: Store, destination: Destination, now: float) -> list[dict]:
    """The sessions with a patient reference this destination still watches: open now, or ended
    within WATCH_ENDED_S and not before about when it was first set up (`outbox.watch_since`,
    recorded on the first call); each with `last_ts` (queries.sessions_to_send). The one rule
    every producer (this module, session_push.py) follows."""
    first_seen = outbox.watch_since(store, destination.name, now)
    ended_since = max(first_seen - WATCH_ENDED_S, now - WATCH_ENDED_S)
    return [s for s in queries.sessions_to_send(store, ended_since) if s.get("patient_ref")]


def _queue_session(store: Store, destination: Destination, who: Hl7Identity, session: dict, now: float) -> int:
    every = destination.vitals_every_s
    before = outbox.progress(store, destination.name, session["id"])
    through, events_through = before
    if through is None:
        through = math.floor(session["started_at"] / every) * every
    events_through = events_through or 0
    ended = session.get("ended_at") is not None
    last_ts = session.get("last_ts")
    if ended:
        until = math.inf
    elif last_ts is None:
        until = through
    else:
        until = last_ts - SETTLE_S
    messages: list[Hl7Message] = []
    if until > through:
        readings = queries.readings_between(store, session["id"], through, until, PARAMETERS)
        alerts = queries.alerts(store, session["id"])
        messages += interval_results(session, readings, alerts, since=through, until=until, every_s=every,
                                     identity=who, now=now)
    new_events = queries.events(store, session["id"], after_id=events_through)
    if new_events:
        # all of them: a new correction strikes an older entry, sent again as struck (OBX-11 W);
        # what was queued before has the same keys and is not queued twice
        messages += event_results(session, queries.events(store, session["id"]), identity=who, now=now)
        events_through = max(e["id"] for e in new_events)
    if ended:
        # everything up to the end is queued: start the next look past the last reading
        end = max(filter(None, (session["ended_at"], last_ts)))
        new_through = (math.floor(end / every) + 1) * every
    else:
        # the interval `until` falls in is not complete: look again from its start (its NIBP
        # measurements before `until` are queued already; their keys make the repeat a no-op)
        new_through = max(through, math.floor(until / every) * every) if until > through else through
    if not messages and (new_through, events_through) == before:
        return 0  # nothing new: no write
    messages.sort(key=lambda m: (m.ts, m.key))
    items = [hl7_item(session["id"], m) for m in messages]
    return outbox.enqueue(store, destination.name, items, progress=(session["id"], new_through, events_through),
                          now=now)
