"""Queuing each ended session's FHIR transaction Bundle for a FHIR server (destination kind
`fhir`, `send = ["sessions"]`), once, and again whole when its record changes afterwards.

A pass looks at the ended sessions the destination watches (the rule every producer follows:
results.watched_sessions) and queues:
- once it has ended, the session's transaction Bundle (exports.fhir.transaction_bundle), key
  `s<id>/bundle`; `results.SETTLE_S` after the end, since acquisition may still be committing
  the last second of readings (store.db.PROMPT_COMMIT_S), and a reading stored after the
  Bundle went would not make it go again (only events do);
- when events are stored after that (a sign-off, a discharge score, a correction: by event id,
  so one timed in the past counts), the whole Bundle again, key `s<id>/bundle/<events_through>`.
Why the whole Bundle rather than the new Observations: every entry is a conditional update by
the Observation's stable identifier, so a resend updates what the server holds and duplicates
nothing, and one Bundle is the session's record as it stands, which a correction changes too.
An open session is not sent: its per-minute medians are not final until it ends (the HL7
results, results.py, are what follows a session live).
The progress (events_through) commits in the same transaction as the message
(`store.outbox.enqueue(..., progress=...)`): a crash between the two cannot lose or repeat one.
What a Bundle holds is the export's; this module only decides when.
"""
from __future__ import annotations

import time
import uuid
from typing import Optional

from ..exports.fhir import NAMESPACE, compact_json, transaction_bundle
from ..store import Store, outbox, queries
from .config import Destination, Integrations
from .results import SETTLE_S, watched_sessions

KEY = "s{sid}/bundle"


def queue_sessions(store: Store, integrations: Integrations, destination: Destination,
                   now: Optional[float] = None) -> int:
    """Queue the transaction Bundle of every watched ended session not yet queued as it now
    stands; returns how many messages were new. (`integrations` is the caller's whole section,
    taken for the producers' common shape; a Bundle names no sending application.)"""
    now = time.time() if now is None else now
    return sum(_queue_session(store, destination, session, now)
               for session in watched_sessions(store, destination, now)
               if session.get("ended_at") is not None and session["ended_at"] + SETTLE_S <= now)


def control_id(session: dict, events_through: int) -> str:
    """A stable short id of this version of the session's Bundle (20 hex digits): the same session
    and events give the same id in any copy of the database, so a receiver can recognise a repeat."""
    seed = f"{session['patient_ref']}|{session['chair']}|{session['started_at']!r}|bundle|{events_through}"
    return uuid.uuid5(NAMESPACE, seed).hex[:20]


def _queue_session(store: Store, destination: Destination, session: dict, now: float) -> int:
    sid = session["id"]
    _, events_through = outbox.progress(store, destination.name, sid)
    new_events = queries.events(store, sid, after_id=events_through or 0)
    if events_through is not None and not new_events:
        return 0  # queued as it stands: no write
    through = max([e["id"] for e in new_events] + [events_through or 0])
    key = KEY.format(sid=sid) + ("" if events_through is None else f"/{through}")
    bundle = transaction_bundle(store, sid, now=now)
    items = []
    if bundle.get("entry"):  # nothing recorded: nothing to send, only the progress
        items.append({"kind": "fhir", "message_key": key, "control_id": control_id(session, through),
                      "session_id": sid, "about_ts": session["ended_at"],
                      "payload": compact_json(bundle)})
    return outbox.enqueue(store, destination.name, items, progress=(sid, session["ended_at"], through), now=now)
