"""Queuing each alarm's raise, escalation, acknowledgement and end for a destination, once each,
as they happen (issue 15, part 3): ORU^R40 (exports/hl7_alerts.py) for an MLLP destination,
the alert JSON (exports/alert_json.py) for a webhook.

Where it learns of them: `forward_log`, the list of every insert and update of an alarm row
in commit order that store-and-forward keeps (schema version 5, written by triggers on both
engines). A destination's cursor in that log (`outbox_cursors`, stream "alerts") moves on in
the same transaction as the messages it produced (`store.outbox.enqueue`), so a pass killed
half-way neither loses nor repeats a state.

Why these rules:
- **The first pass starts at the log's head.** A destination set up today pages what happens
  from now on, not every alarm of last year; nor a state from before it was set up
  (`outbox.watch_since`) when a later state brings its alarm back into the log.
- **A state is queued once per destination, even after it was delivered.** A delivered message
  leaves the outbox, so its key no longer dedupes; each alarm's cursor (`alert/<id>`, a bit per
  state in STATES order: 1 raised, 2 escalated, 4 acknowledged, 8 ended) says which states
  were handled. An acknowledgement then queues only the acknowledgement.
- **Stale states are not paged.** A state more than `FRESH_S` before the pass (an old session
  imported or restored, a site forwarding after a day offline) is marked handled without a
  message: a pager is for now; the record has it all.
- **HL7 needs a patient** (PID-3): an alarm of a session without a patient reference goes to a
  webhook only.
- **Order**: within a pass, by the state's time.
- **A central database pages its sites too.** Forwarded alarms are upserted there, and the
  same triggers log them, so a central integrate process queues them like its own (the chair
  is `<site>-<chair>`, the JSON's `site` names the site). The alarm id is the site's, so a
  receiver fed by a site and by its central database can drop the repeat by it.
What a message holds is exports' business; this module only decides what is new.
"""
from __future__ import annotations

import time
from typing import Optional

from ..exports.alert_json import alert_payloads, payload_text
from ..exports.hl7_alerts import STATE_COLUMN, STATES, alert_messages
from ..store import Store, forwarding, outbox, queries
from ..store.queries import MAX_ID
from .config import Destination, Integrations
from .results import hl7_item, identity

STREAM = "alerts"
FRESH_S = 12 * 3600.0  # an older state is history, not a page (see above)


def alarm_stream(alert_id: int) -> str:
    """The cursor naming which states of one alarm this destination has handled."""
    return f"alert/{alert_id}"


def queue_alerts(store: Store, integrations: Integrations, destination: Destination,
                 now: Optional[float] = None) -> int:
    """Queue every alarm state logged since this destination's cursor and not yet handled;
    returns how many messages were new. The first call only sets the cursor at the log's head."""
    now = time.time() if now is None else now
    since = max(outbox.watch_since(store, destination.name, now), now - FRESH_S)
    position = outbox.cursor(store, destination.name, STREAM)
    if position is None:
        outbox.enqueue(store, destination.name, [], cursors={STREAM: forwarding.site_heads(store)["log"]}, now=now)
        return 0
    queued = 0
    while True:
        entries = forwarding.log_after(store, position, MAX_ID)
        if not entries:
            return queued
        queued += _queue_batch(store, integrations, destination, entries, since, now)
        position = entries[-1]["seq"]
        if len(entries) < forwarding.LOG_BATCH:
            return queued


def _queue_batch(store: Store, integrations: Integrations, destination: Destination, entries: list[dict],
                 since: float, now: float) -> int:
    """One batch of log entries: its alarms' new states at or after `since` queued with the
    cursors, in one transaction (an older one is only marked handled)."""
    alerts = forwarding.rows_by_id(store, "alerts", sorted({e["row_id"] for e in entries if e["tbl"] == "alerts"}))
    handled = outbox.cursors(store, destination.name, [alarm_stream(i) for i in alerts])
    sessions = {sid: queries.session(store, sid) for sid in {a["session_id"] for a in alerts.values()}}
    hl7 = destination.kind == "mllp"
    items, marks = [], {}
    for alert_id, alert in alerts.items():
        session = sessions[alert["session_id"]]
        if session is None:
            continue  # a session still being imported (hidden): history, never paged
        done = handled.get(alarm_stream(alert_id), 0)
        built = _built(integrations, destination, session, alert, now) if not hl7 or session["patient_ref"] else {}
        mask = done
        for n, state in enumerate(STATES):
            key = f"alert/{alert_id}/{state}"
            if done & (1 << n) or alert.get(STATE_COLUMN[state]) is None:
                continue
            mask |= 1 << n
            if key in built and built[key]["about_ts"] >= since:
                items.append(built[key])
        if mask != done:
            marks[alarm_stream(alert_id)] = mask
    items.sort(key=lambda i: (i["about_ts"], STATES.index(i["message_key"].rsplit("/", 1)[1]), i["message_key"]))
    return outbox.enqueue(store, destination.name, items, cursors={STREAM: entries[-1]["seq"], **marks}, now=now)


def _built(integrations: Integrations, destination: Destination, session: dict, alert: dict,
           now: float) -> dict[str, dict]:
    """{message key: outbox item} for every state of the alarm, in this destination's kind."""
    sid = session["id"]
    if destination.kind == "mllp":
        return {m.key: hl7_item(sid, m)
                for m in alert_messages(session, alert, identity=identity(integrations, destination), now=now)}
    return {key: {"kind": "json", "message_key": f"s{sid}/{key}", "control_id": doc["id"], "session_id": sid,
                  "about_ts": ts, "payload": payload_text(doc)} for key, ts, doc in alert_payloads(session, alert)}
