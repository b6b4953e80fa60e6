"""A session's results as HL7 v2.6 ORU^R01 messages, shaped after IHE PCD-01
(Communicate PCD Data, IHE PCD Technical Framework vol. 2), for a clinic's interface engine
or record system (`export --format hl7`, and the sender of issue 15's part 2).

One message per thing a receiver files on its own:
- `nibp/<ts>`: one NIBP measurement (SBP, DBP, MAP of one cuff result, valid values only);
- `vitals/<interval start>`: one interval of the 1 Hz signals (HR, SpO2, RR, EtCO2), each the
  median of that interval's valid readings (vital_signs.per_minute, the FHIR export's rule),
  with an NTE giving the count; OBX-14 and the message's ts are the interval's START, OBR-7
  its start and OBR-8 its end; only parameters with data; OBX-4 (sub-id) is the OBX's
  number in its message, every message being one observation group of one chair;
- `event/<id>`: a charted event (which ones and why: hl7_events.py); a struck one is sent as
  `event/<id>/struck` at the correction's time, its OBX-11 `W` (wrong, do not use) with an
  NTE saying who struck it and why, and its `F` message is no longer produced: a receiver
  that filed the F gets the withdrawal under a new control id, one that did not is told
  never to use it.

Segments: MSH (2.6, ORU^R01^ORU_R01, MSH-10 the control id, MSH-11 P, MSH-18 UNICODE UTF-8,
MSH-21 the PCD-01 profile), PID (PID-3 the patient reference, PID-5 `^^^^^^U`: unknown, as
PCD allows), PV1 (class O; PV1-3 the chair as the bed), OBR (OBR-4 SNOMED CT 182777000
"monitoring of patient"), OBX per value (OBX-3 MDC code, LOINC alternate; OBX-6 UCUM; OBX-8
from the alarm state; OBX-14 UTC with +0000; OBX-18 the device), NTE for text.

The control id (MSH-10) is the first 20 hex digits of SHA-256 over the session's identity
(patient reference, chair, start time: the FHIR export's seed) and the message key, so a
resend of the same message carries the same id and a receiver can drop the duplicate.
Built with python-hl7's containers; every text is escaped by the message's own rules.
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Optional

import hl7

from ..formatting import hl7_dtm as dtm
from ..model import MANUAL, PRIORITY, struck_entries
from . import ExportError, hl7_events
from .vital_signs import CODES, CONTINUOUS, DEFAULT_INTERVAL_S, MDC, NIBP, UNITS, bp_measurements, \
    interval_sources, per_minute

PROFILE = ["IHE_PCD_001", "IHE PCD", "1.3.6.1.4.1.19376.1.6.1.1.1", "ISO"]  # MSH-21, PCD-01
MONITORING = ["182777000", "monitoring of patient", "SCT"]  # OBR-4, SNOMED CT
CONTROL_ID_LEN = 20
FLAGS = {("high", "H"): "HH", ("high", "L"): "LL"}  # HL7 table 0078; other priorities: H or L
MESSAGE_SEPARATOR = "\n"  # after each message in an export file (hl7_file_text)


@dataclass(frozen=True)
class Hl7Identity:
    """MSH-3..6: who sends and who receives (a site fills these from its interface spec)."""
    sending_application: str = "INFUSION-MONITOR"
    sending_facility: str = ""
    receiving_application: str = ""
    receiving_facility: str = ""


@dataclass(frozen=True)
class Hl7Message:
    key: str  # stable within the session: "nibp/<ts>", "vitals/<start>", "event/<id>"
    ts: float  # the time it is about; messages are sent in this order
    control_id: str  # MSH-10
    text: str  # the message; every segment ends in "\r"


_FRAME = hl7.Message("\r", [], esc="\\", separators="\r|~^&")  # the escaping rules of every message


def text(value: str) -> str:
    """Free text escaped for a field: | ^ ~ \\ & as HL7's \\F\\ \\S\\ \\R\\ \\E\\ \\T\\, a line
    break (any of \\r\\n, \\r, \\n) as \\.br\\, other control characters as a space;
    non-ASCII characters are kept (MSH-18 says UTF-8). Read back with `read_text`."""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    value = "".join(c if c == "\n" or ord(c) >= 0x20 else " " for c in value)
    out, run = [], []
    for c in value + "\0":
        if c == "\0" or ord(c) > 0x7E:
            if run:
                out.append(_FRAME.escape("".join(run), app_map={"\n": ".br"}))
                run = []
            if c != "\0":
                out.append(c)
        else:
            run.append(c)
    return "".join(out)


def read_text(message: hl7.Message, value: str) -> str:
    """The text `text` escaped, as it was (line breaks as \\n)."""
    return message.unescape(str(value), app_map={".br": "\n"})


def _number(v: float) -> str:
    """An NM value: a whole number as one, else at most two decimals (the FHIR export's
    rounding), never in exponent form."""
    return str(int(v)) if float(v).is_integer() else f"{float(v):.2f}".rstrip("0").rstrip(".")


def _repetition(value) -> hl7.Repetition:
    """One value of a field: a str (one component, already escaped) or a list of components."""
    parts = [value] if isinstance(value, str) else [str(p) for p in value]
    while len(parts) > 1 and not parts[-1]:  # no trailing empty components
        parts.pop()
    return hl7.Repetition("^", parts)


def _field(value) -> hl7.Field:
    """A field (python-hl7: a Field holds repetitions, a Repetition components); a tuple of
    values is a repeating field."""
    values = value if isinstance(value, tuple) else ("" if value is None else value,)
    return hl7.Field("~", [_repetition(v) for v in values])


def _segment(name: str, *fields) -> hl7.Segment:
    """A segment from its fields, field 1 on."""
    fields = list(fields)
    while fields and fields[-1] in (None, ""):  # no trailing empty fields
        fields.pop()
    return hl7.Segment("|", [_field(name)] + [_field(f) for f in fields])


def _seed(session: dict) -> str:
    return f"{session['patient_ref']}|{session['chair']}|{session['started_at']!r}"


def control_id(session: dict, key: str) -> str:
    return hashlib.sha256(f"{_seed(session)}|{key}".encode()).hexdigest()[:CONTROL_ID_LEN]


def _message(session: dict, key: str, ts: float, identity: Hl7Identity, now: Optional[float],
             obr_times: tuple[float, Optional[float]], results: list[tuple[dict, list[str]]], *,
             trigger: tuple[str, str, str] = ("ORU", "R01", "ORU_R01"), profile: list[str] = PROFILE,
             service: list[str] = MONITORING, order_id: Optional[str] = None) -> Hl7Message:
    """One ORU message (R01 unless `trigger` says otherwise; hl7_alerts.py builds its ORU^R40
    with the same segments): results are (OBX content, its notes); an OBX content has type,
    code, value and optionally sub_id (OBX-4, else its number), range (OBX-7), units, flag (a
    tuple: repeated), status, time, devices, observer. OBR-2 and OBR-3 carry `order_id` when
    given (one alarm's messages share it), else OBR-3 the control id."""
    cid = control_id(session, key)
    msh = hl7.Segment("|", [_field("MSH"), _field("|"), _field("^~\\&")] + [
        _field(v) for v in (
            text(identity.sending_application), text(identity.sending_facility),
            text(identity.receiving_application), text(identity.receiving_facility),
            dtm(time.time() if now is None else now), "", list(trigger), cid, "P", "2.6",
            "", "", "AL", "NE", "", "UNICODE UTF-8", "", "", profile)])
    segments = [
        msh,
        _segment("PID", "1", None, [text(session["patient_ref"]), "", "", "", "PI"], None,
                 ["", "", "", "", "", "", "U"]),
        _segment("PV1", "1", "O", ["", "", text(str(session["chair"])), text(identity.sending_facility)]),
        _segment("OBR", "1", [order_id, text(identity.sending_application)] if order_id else None,
                 [order_id or cid, text(identity.sending_application)], service, None, None,
                 dtm(obr_times[0]), dtm(obr_times[1]) if obr_times[1] is not None else None),
    ]
    for n, (obx, notes) in enumerate(results, 1):
        value = obx["value"]
        value = _number(value) if obx["type"] == "NM" else text(value) if obx["type"] == "ST" else \
            [text(str(v)) for v in value]
        unit = obx.get("units")
        segments.append(_segment(
            "OBX", str(n), obx["type"], [text(str(c)) for c in obx["code"]], obx.get("sub_id", str(n)), value,
            [unit, unit, "UCUM"] if unit else None, obx.get("range"), obx.get("flag"), None, None,
            obx.get("status", "F"), None, None, dtm(obx["time"]), None,
            [text(obx["observer"])] if obx.get("observer") else None, None,
            tuple(text(d) for d in obx.get("devices", ())) or None))
        segments += [_segment("NTE", str(i), "L", text(note)) for i, note in enumerate(notes, 1)]
    msg = hl7.Message("\r", segments, esc="\\", separators="\r|~^&")
    return Hl7Message(key=key, ts=ts, control_id=cid, text="".join(str(s) + "\r" for s in msg))


def _code(parameter: str) -> list[str]:
    """OBX-3: the MDC code first, LOINC as the alternate (CWE)."""
    code, ref = MDC[parameter]
    _, loinc, display = CODES[parameter][0]
    return [code, ref, "MDC", loinc, display, "LN"]


def flag(alerts: list[dict], parameter: str, start: float, end: Optional[float] = None) -> Optional[str]:
    """OBX-8 from the alarm state, never from limits decided again here: the most urgent
    physiological alert for `parameter` active at `start` (end None: an instant; an alert is
    active from its started_at up to, not including, its ended_at) or at any time in
    [start, end). HIGH → HH/LL, else H/L; the direction from the alert's value against its
    limit (equal: the operator in its message)."""
    best = None
    for a in alerts:
        if a.get("kind") != "physiological" or a.get("parameter") != parameter or a.get("started_at") is None:
            continue
        until = a.get("ended_at")
        if end is None:
            active = a["started_at"] <= start and (until is None or start < until)
        else:
            active = a["started_at"] < end and (until is None or until > start)
        if active and (best is None or PRIORITY[a["priority"]].rank < PRIORITY[best["priority"]].rank):
            best = a
    if best is None:
        return None
    v, lim = best.get("value"), best.get("limit_value")
    if v is not None and lim is not None and v != lim:
        way = "H" if v > lim else "L"
    else:
        way = "L" if any(op in (best.get("message") or "") for op in ("<", "≤")) else "H"
    return FLAGS.get((best["priority"], way), way)


def interval_results(session: dict, readings: list[dict], alerts: list[dict], *, since: float, until: float,
                     every_s: int = DEFAULT_INTERVAL_S, identity: Hl7Identity = Hl7Identity(),
                     now: Optional[float] = None) -> list[Hl7Message]:
    """NIBP measurements with since <= ts < until, and every whole interval [start,
    start+every_s) (aligned to UTC epoch multiples of every_s) with since <= start and
    start + every_s <= until, sorted by ts. Windows [a, b), [b, c) partition a session when
    b is a multiple of every_s."""
    if every_s <= 0:
        raise ExportError(f"interval must be a positive number of seconds, not {every_s}")
    out = []
    for ts, values in bp_measurements(readings):
        if not since <= ts < until:
            continue
        results = []
        for p in NIBP:
            if p in values:
                manual = values["sources"][p] == MANUAL
                results.append(({"type": "NM", "code": _code(p), "value": values[p], "units": UNITS[p],
                                 "flag": flag(alerts, p, ts), "time": ts,
                                 "devices": ("manual cuff",) if manual else (values["sources"][p],)},
                                [values["manual"]] if manual else []))
        out.append(_message(session, f"nibp/{ts!r}", ts, identity, now, (ts, None), results))
    by_start: dict[float, list] = {}
    for p in CONTINUOUS:
        sources = interval_sources(readings, p, every_s)
        for start, value, n in per_minute(readings, p, every_s):
            if since <= start and start + every_s <= until:
                by_start.setdefault(start, []).append((
                    {"type": "NM", "code": _code(p), "value": value, "units": UNITS[p],
                     "flag": flag(alerts, p, start, start + every_s), "time": start,
                     "devices": tuple(sources.get(start, ()))},
                    [f"Median of {n} valid readings in the {every_s} s from OBX-14"]))
    for start, results in by_start.items():
        key = f"vitals/{int(start) if float(start).is_integer() else start!r}"
        out.append(_message(session, key, start, identity, now, (start, start + every_s), results))
    return sorted(out, key=lambda m: (m.ts, m.key))


def event_results(session: dict, events: list[dict], *, identity: Hl7Identity = Hl7Identity(),
                  now: Optional[float] = None) -> list[Hl7Message]:
    """One ORU^R01 per sent event (hl7_events.SENT), sorted by ts; a struck one as
    `event/<id>/struck` with OBX-11 W at its correction's time (see the module's docstring)."""
    struck = struck_entries(events)
    out = []
    for e in events:
        if e["type"] not in hl7_events.SENT:
            continue
        obxs, notes = hl7_events.observations(e)
        by = struck.get(e.get("id"))
        key, ts, status = f"event/{e['id']}", e["ts"], "F"
        if by is not None:
            key, ts, status = f"{key}/struck", by["ts"], "W"
            notes = notes + [f"Struck by {by.get('author') or '?'} at {dtm(by['ts'])}: "
                             f"{(by.get('data') or {}).get('reason', '')}"]
        results = [({**o, "status": status, "time": e["ts"], "observer": e.get("author")}, [])
                   for o in obxs]
        if results:
            results[-1] = (results[-1][0], notes)
        out.append(_message(session, key, ts, identity, now, (e["ts"], None), results))
    return sorted(out, key=lambda m: (m.ts, m.key))


def session_results(store, session_id: int, *, every_s: int = DEFAULT_INTERVAL_S,
                    identity: Hl7Identity = Hl7Identity(), now: Optional[float] = None) -> list[Hl7Message]:
    """The whole session, ended or not (every interval that has data), sorted by ts;
    ExportError for an unknown session or one with no patient reference (PID-3 is required)."""
    from ..store import queries
    session = queries.session(store, session_id)
    if session is None:
        raise ExportError(f"no session {session_id}")
    if not session["patient_ref"]:
        raise ExportError(f"session {session_id} has no patient reference; an HL7 result needs PID-3")
    readings = queries.readings(store, session_id, NIBP + CONTINUOUS)
    inf = float("inf")
    out = interval_results(session, readings, queries.alerts(store, session_id), since=-inf, until=inf,
                           every_s=every_s, identity=identity, now=now)
    out += event_results(session, queries.events(store, session_id), identity=identity, now=now)
    return sorted(out, key=lambda m: (m.ts, m.key))


def hl7_file_text(messages: list[Hl7Message]) -> str:
    """The export file: each message's segments end in "\\r" (as sent), and each message is
    followed by exactly one "\\n", so a file reader splits messages on "\\r\\n" boundaries
    ("\\n" never occurs inside a message: text escapes it) and a text viewer shows one message per line
    group. UTF-8."""
    return "".join(m.text + MESSAGE_SEPARATOR for m in messages)
