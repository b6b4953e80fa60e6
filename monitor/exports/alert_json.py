"""Each alarm's raise, escalation, acknowledgement and end as a JSON document, for a clinic
without an interface engine: a webhook destination (`kind = "webhook"`) POSTs these to a pager
or phone system. The contract is versioned (`schema`) and every field is documented in
docs/ARCHITECTURE.md ("Alert JSON") and the README ("Integrations"); a change that breaks a
receiver gets a new schema number, a field added keeps it.

The states, their times, the keys and the alarm id are hl7_alerts.py's, so an alarm paged
as ORU^R40 to one destination and as JSON to another is the same alarm. Like the HL7
messages, a payload shows the alarm as it stood at its state's time (`hl7_alerts.as_of`): the
"raised" payload built after the acknowledgement is the same document, byte for byte
(`payload_text`), so a receiver may compare or drop repeats by `id`.
"""
from __future__ import annotations

import json

from ..formatting import iso_utc
from .hl7_alerts import alarm_id, as_of, states

SCHEMA = "infusion-monitor.alert/1"


def event_id(session: dict, alert: dict, event: str) -> str:
    """The idempotency key of one state of one alarm: `<alarm id>/<event>`, the same for every
    destination, every rebuild, and at a central database the alarm was forwarded to."""
    return f"{alarm_id(session, alert)}/{event}"


def payload(session: dict, alert: dict, event: str, at: float) -> dict:
    """The document for one state (`event`, at its time `at`)."""
    then = as_of(alert, at)
    return {
        "schema": SCHEMA,
        "id": event_id(session, alert, event),
        "event": event,
        "at": iso_utc(at),
        "alarm": {
            "id": alarm_id(session, alert),
            "key": alert.get("key"),
            "rule": alert.get("rule"),
            "parameter": alert.get("parameter"),
            "kind": alert.get("kind"),
            "priority": alert.get("priority"),
            "message": alert.get("message"),
            "value": alert.get("value"),
            "limit": alert.get("limit_value"),
            "started_at": iso_utc(then.get("started_at")),
            "escalated_at": iso_utc(then.get("escalated_at")),
            "acknowledged_at": iso_utc(then.get("acknowledged_at")),
            "acknowledged_by": then.get("acknowledged_by"),
            "ended_at": iso_utc(then.get("ended_at")),
        },
        "session": {"id": session.get("id"), "patient_ref": session.get("patient_ref") or None,
                    "chair": session.get("chair")},
        "site": session.get("site"),
        "link": None,
    }


def payload_text(document: dict) -> str:
    """The text sent: UTF-8 JSON, keys sorted, no spaces, so one state always gives one text."""
    return json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def alert_payloads(session: dict, alert: dict) -> list[tuple[str, float, dict]]:
    """(key, ts, document) for each state `alert` has reached, in time order; keys
    `alert/<alert id>/<state>` as hl7_alerts.alert_messages'."""
    return [(f"alert/{alert['id']}/{event}", at, payload(session, alert, event, at)) for event, at in states(alert)]

