"""Each alarm's raise, escalation, acknowledgement and end as an HL7 v2.6 ORU^R40 in the shape
of IHE PCD-04 (Report Alert, Alarm Communication Management), so a pager, phone or alarm
manager behind a clinic's interface engine can pick them up (issue 15, part 3). The JSON
for a webhook (alert_json.py) takes the states, their times and the alarm id from here, so
the two never disagree.

One message per state the alarm has reached (`states`), each about that state's time and
showing the alarm as it stood then (`as_of`: an acknowledgement made later is not in the
"raised" message, however late it is built), so a message rebuilt later is the same text:
- `alert/<id>/raised` at started_at: event phase `start`, alarm state `active`;
- `alert/<id>/escalated` at escalated_at (unacknowledged past its profile's time): `escalate`;
- `alert/<id>/acknowledged` at acknowledged_at: `update`, inactivation state
  `alert-acknowledged`, OBX-16 the initials of who signed;
- `alert/<id>/ended` at ended_at: `end`, alarm state `latched` while it stays on the alarm
  board (a HIGH physiological alarm nobody has signed for, sessions.on_alarm_board), else
  `inactive`.

Segments (the builder is hl7_results._message, shared with the ORU^R01 results): MSH (MSH-9
`ORU^R40^ORU_R40`, MSH-21 the PCD-04 profile `IHE_PCD_ACM_001`), PID, PV1 (the chair as the
bed), OBR (OBR-2 and OBR-3 the alarm id, the same in all four messages of one alarm; OBR-4
`196616^MDC_EVT_ALARM^MDC`; OBR-7 the alarm's start; OBR-8 its end in the `ended` message),
then OBX with PCD-04's facets as sub-ids `1.0.0.0.<facet>` (OBX-4):
  1 `196616^MDC_EVT_ALARM^MDC`, CWE: the event, `196652^MDC_EVT_HI_VAL_GT_LIM^MDC` or
    `196674^MDC_EVT_LO_VAL_LT_LIM^MDC` for a physiological alarm (a technical one: its rule,
    local code 99IMN), the alarm's text in CWE-9 (original text); OBX-8 repeated: H or L (the
    direction, physiological only), PH / PM / PL (priority high / medium / low), SP / ST
    (physiological / technical source);
  2 the parameter (vital_signs.MDC, LOINC alternate; a local code for one without), NM, its
    value at the raise in UCUM units, OBX-7 the limit as the normal side (`<120`, `>92`);
  2 `alarm-limit^Alarm limit^99IMN`, NM, the limit, the same units;
  3 `68481^MDC_ATTR_EVENT_PHASE^MDC` ST: start | escalate | update | end;
  4 `68482^MDC_ATTR_ALARM_STATE^MDC` ST: active | latched | inactive;
  5 `68483^MDC_ATTR_ALARM_INACTIVATION_STATE^MDC` ST: enabled | alert-acknowledged;
  6 `68484^MDC_ATTR_ALARM_PRIORITY^MDC` ST: PH | PM | PL;
  7 `68485^MDC_ATTR_ALERT_TYPE^MDC` ST: SP | ST.
The value and limit OBXs are left out when the alarm has none (a technical alarm).

What was checked and what was chosen: the OBR-4 code, the facet codes 68481-68485, the
values start / end, active / inactive / latched, enabled / alert-acknowledged, PH/PM/PL and
SP/ST, the event codes' use and CWE-9 for the text were seen alike in several public PCD-04
implementations; `escalate` and `update` are the phases the ACM supplement lists for an
escalation and a change of state, as far as could be read, not checked against the final
text. hl7apy (the tests' STRICT validator) has no ORU_R40 in any version: the tests validate
each message's segments against v2.6 ORU_R01, the structure PCD-04 builds its R40 on, and
read MSH-9 back with python-hl7.

The alarm id (OBR-2/3, and the JSON's) is a hash of the session's identity (patient
reference, chair as the site named it, start) and the alarm's key and start: the same
alarm forwarded to a central database (store/forwarding.py) gets the same id there, so a
receiver fed by both can drop the repeat.
"""
from __future__ import annotations

from typing import Optional

from ..model import LABELS, PRIORITY
from ..sessions import on_alarm_board
from .hl7_events import LOCAL
from .hl7_results import Hl7Identity, Hl7Message, _code, _message, _number, control_id, flag
from .vital_signs import MDC, UNITS

PROFILE = ["IHE_PCD_ACM_001", "IHE PCD", "1.3.6.1.4.1.19376.1.6.4.4", "ISO"]  # MSH-21, PCD-04
TRIGGER = ("ORU", "R40", "ORU_R40")
ALARM = ["196616", "MDC_EVT_ALARM", "MDC"]  # OBR-4 and the first OBX's code
EVENT = {"H": ["196652", "MDC_EVT_HI_VAL_GT_LIM", "MDC"], "L": ["196674", "MDC_EVT_LO_VAL_LT_LIM", "MDC"]}
PHASE = {"raised": "start", "escalated": "escalate", "acknowledged": "update", "ended": "end"}
PRIORITY_FLAG = {"high": "PH", "medium": "PM", "low": "PL"}
SOURCE_FLAG = {"physiological": "SP", "technical": "ST"}
STATES = ("raised", "escalated", "acknowledged", "ended")
STATE_COLUMN = {"raised": "started_at", "escalated": "escalated_at", "acknowledged": "acknowledged_at",
                "ended": "ended_at"}
LATER_COLUMNS = {"escalated_at": ("escalated_at",), "acknowledged_at": ("acknowledged_at", "acknowledged_by"),
                 "ended_at": ("ended_at",)}
EXTRA_UCUM = {"pi": "%", "nibp_hr": "/min"}  # parameters outside vital_signs.UNITS that may alarm


def states(alert: dict) -> list[tuple[str, float]]:
    """(state, its time) for each state the alarm has reached, in time order (a tie in
    STATES order: an alarm may end in the second it is signed for)."""
    out = [(s, alert.get(STATE_COLUMN[s])) for s in STATES]
    return sorted(((s, ts) for s, ts in out if ts is not None), key=lambda x: (x[1], STATES.index(x[0])))


def as_of(alert: dict, ts: float) -> dict:
    """The alarm as it stood at `ts`: what happened later is not yet known (None)."""
    out = dict(alert)
    for column, cleared in LATER_COLUMNS.items():
        if alert.get(column) is None or alert[column] > ts:
            out.update(dict.fromkeys(cleared))
    return out


def alarm_state(alert: dict, ts: float) -> str:
    """PCD-04's alarm state at `ts`: active until it ends, then latched while it stays on the board."""
    then = as_of(alert, ts)
    if then.get("ended_at") is None:
        return "active"
    return "latched" if on_alarm_board(then, ts) else "inactive"


def _local_session(session: dict) -> dict:
    """The session as the site that recorded it names it (a forwarded chair is "<site>-<chair>")."""
    site, chair = session.get("site"), str(session.get("chair") or "")
    if site and chair.startswith(f"{site}-"):
        return {**session, "chair": chair[len(site) + 1:]}
    return session


def alarm_id(session: dict, alert: dict) -> str:
    """The alarm's own id, the same in every message about it and wherever it is built (see above)."""
    return control_id(_local_session(session), f"alarm/{alert['key']}/{alert['started_at']!r}")


def direction(alert: dict) -> Optional[str]:
    """H or L: which side of its limit a physiological alarm is on (the results' flag rule)."""
    if alert.get("kind") != "physiological":
        return None
    f = flag([{**alert, "ended_at": None}], alert.get("parameter"), alert["started_at"])
    return f[-1] if f else None


def _parameter(parameter: str) -> tuple[list[str], Optional[str]]:
    """OBX-3 and UCUM unit of a parameter: MDC with LOINC where vital_signs has them, else local."""
    if parameter in MDC:
        return _code(parameter), UNITS[parameter]
    return [parameter, LABELS.get(parameter, parameter), LOCAL], EXTRA_UCUM.get(parameter)


def _facets(alert: dict, state: str, ts: float) -> list[tuple[dict, list[str]]]:
    """The OBX contents of one state's message (the module's docstring lists them)."""
    then = as_of(alert, ts)
    way = direction(alert)
    kind = alert.get("kind") or "physiological"
    event = EVENT[way] if way else [alert["rule"], alert["rule"].replace("_", " "), LOCAL]
    flags = tuple(f for f in (way, PRIORITY_FLAG[alert["priority"]], SOURCE_FLAG.get(kind, "ST")) if f)
    start = alert["started_at"]
    out = [({"type": "CWE", "code": ALARM, "sub_id": "1.0.0.0.1", "value": event + ["", "", "", "", "",
             alert.get("message") or ""], "flag": flags, "time": start}, [])]
    code, unit = _parameter(alert.get("parameter") or "")
    value, limit = alert.get("value"), alert.get("limit_value")
    if value is not None:
        normal = None
        if limit is not None and way:
            normal = f"{'<' if way == 'H' else '>'}{_number(limit)}"
        out.append(({"type": "NM", "code": code, "sub_id": "1.0.0.0.2", "value": value, "units": unit,
                     "range": normal, "time": start}, []))
    if limit is not None:
        out.append(({"type": "NM", "code": ["alarm-limit", "Alarm limit", LOCAL], "sub_id": "1.0.0.0.2",
                     "value": limit, "units": unit, "time": start}, []))
    signed = then.get("acknowledged_at") is not None
    by = then.get("acknowledged_by") if state == "acknowledged" else None
    for facet, (name, number, value) in enumerate((
            ("MDC_ATTR_EVENT_PHASE", "68481", PHASE[state]),
            ("MDC_ATTR_ALARM_STATE", "68482", alarm_state(alert, ts)),
            ("MDC_ATTR_ALARM_INACTIVATION_STATE", "68483", "alert-acknowledged" if signed else "enabled"),
            ("MDC_ATTR_ALARM_PRIORITY", "68484", PRIORITY_FLAG[alert["priority"]]),
            ("MDC_ATTR_ALERT_TYPE", "68485", SOURCE_FLAG.get(kind, "ST"))), 3):
        obx = {"type": "ST", "code": [number, name, "MDC"], "sub_id": f"1.0.0.0.{facet}", "value": value, "time": ts}
        if facet == 5 and by:
            obx["observer"] = by
        out.append((obx, []))
    return out


def alert_messages(session: dict, alert: dict, *, identity: Hl7Identity = Hl7Identity(),
                   now: Optional[float] = None) -> list[Hl7Message]:
    """One ORU^R40 per state `alert` has reached, in time order; keys `alert/<alert id>/<state>`,
    ts the state's time. The session needs a patient reference (PID-3); the caller checks."""
    if alert.get("priority") not in PRIORITY:
        raise ValueError(f"alarm {alert.get('id')}: priority {alert.get('priority')!r}")
    uid = alarm_id(session, alert)
    out = []
    for state, ts in states(alert):
        end = alert["ended_at"] if state == "ended" else None
        out.append(_message(session, f"alert/{alert['id']}/{state}", ts, identity, now, (alert["started_at"], end),
                            _facets(alert, state, ts), trigger=TRIGGER, profile=PROFILE, service=ALARM,
                            order_id=uid))
    return out
