"""Queuing each session's ORU^R01 results for a destination, once each, as they become complete.

A pass looks at every session the destination still watches (open now, or ended within
`WATCH_ENDED_S`, and not ended before the destination was first set up) and queues what is
new since the last pass, in the same transaction as the progress that says so
(`store.outbox.enqueue`): a crash between the two cannot lose or repeat a message.

When is something complete?
- an interval of the continuous signals (HR, SpO2, RR, EtCO2), once a reading of the session
  at least `SETTLE_S` past its end has been stored: acquisition commits a chair's rows in
  time order within about a second (store.db.PROMPT_COMMIT_S), so by then the interval has
  every reading it will get; when the session has ended, at once;
- an NIBP measurement, with the interval it falls in (the cuff's three values arrive
  together); one stored later than that (a delayed result, a backfill) is caught by reading
  id and sent on its own at the next pass;
- a charted event, as soon as it is stored (by event id, so an entry timed in the past is
  sent too); a correction sends the entry it strikes again, marked wrong (OBX-11 W).
Each thing is queued once: progress is by time for intervals, by id for readings stored late
and for events, so nothing already delivered (and so gone from the outbox) is queued again.
What a message holds and how it is coded is `exports.hl7_results`'; this module only
decides when, and never builds or edits a message.
"""
from __future__ import annotations

import math
import time
from typing import Optional

from ..exports.hl7_results import Hl7Identity, Hl7Message, event_results, interval_results
from ..exports.vital_signs import CONTINUOUS, NIBP
from ..model import struck_entries
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
    sid, every = session["id"], destination.vitals_every_s
    before = outbox.progress(store, destination.name, sid)
    seen = outbox.readings_seen(store, destination.name, sid)
    newest_id = queries.max_reading_id(store, sid)  # first: a row committed after it waits for the next pass
    through, events_through = before
    if through is None:
        through = math.floor(session["started_at"] / every) * every
    events_through = events_through or 0
    ended = session.get("ended_at") is not None
    last_ts = session.get("last_ts")
    # what is complete: every interval ending by `done`, and the NIBP measurements before it
    if ended:
        done = math.inf
    elif last_ts is None:
        done = through
    else:
        done = max(through, math.floor((last_ts - SETTLE_S) / every) * every)
    messages: list[Hl7Message] = []
    alerts = None
    if done > through:
        alerts = queries.alerts(store, sid)
        readings = queries.readings_between(store, sid, through, done, PARAMETERS, max_id=newest_id)
        messages += interval_results(session, readings, alerts, since=through, until=done, every_s=every,
                                     identity=who, now=now)
    if seen is not None and newest_id > seen:
        # a measurement stored since the last pass but timed before what was already sent
        # (a cuff's result delayed, a backfill): sent now, on its own; a late 1 Hz reading is in
        # the record and the export, not in an interval's median already sent
        late = queries.readings_stored_after(store, sid, seen, newest_id, NIBP, before_ts=through)
        if late:
            alerts = queries.alerts(store, sid) if alerts is None else alerts
            messages += interval_results(session, late, alerts, since=-math.inf, until=through, every_s=every,
                                         identity=who, now=now)
    new_events = queries.events(store, sid, after_id=events_through)
    if new_events:
        messages += _new_event_results(store, session, {e["id"] for e in new_events}, who, now)
        events_through = max(e["id"] for e in new_events)
    if ended:  # everything up to the end is queued: the next look starts past the last reading
        end = max(filter(None, (session["ended_at"], last_ts)))
        new_through = max(through, (math.floor(end / every) + 1) * every)
    else:
        new_through = done
    if not messages and (new_through, events_through) == before and seen == newest_id:
        return 0  # nothing new: no write
    messages.sort(key=lambda m: (m.ts, m.key))
    return outbox.enqueue(store, destination.name, [hl7_item(sid, m) for m in messages],
                          progress=(sid, new_through, events_through, newest_id), now=now)


def _new_event_results(store: Store, session: dict, new_ids: set, who: Hl7Identity, now: float) -> list[Hl7Message]:
    """The messages of the events stored since the last pass: each new entry, and an older
    entry a new correction strikes, again as wrong (OBX-11 W). Built over all the session's
    events (a struck entry's message needs the correction), queued only for what is new: a
    message delivered before is gone from the outbox, and its key would not stop a repeat."""
    events = queries.events(store, session["id"])
    struck_by = struck_entries(events)
    out = []
    for m in event_results(session, events, identity=who, now=now):
        event_id = int(m.key.split("/")[1])
        if (struck_by[event_id]["id"] if m.key.endswith("/struck") else event_id) in new_ids:
            out.append(m)
    return out
