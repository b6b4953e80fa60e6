"""The tidy CSV export of one session, and parsing it back for `import`.

One file, one row per thing recorded, told apart by the `record` column:
`session` (first row; patient, chair, protocol, state and times in `data`),
`baseline`, `reading`, `alert`, `event`, and last an `end` row whose `data` counts
the rows before it ({"baselines": n, "readings": n, "alerts": n, "events": n}).
Every row but `end` has `ts` (UTC epoch seconds, written with Python's shortest
round-trip repr, so import gets the exact float back) and, for people, `time_utc`
and `min_from_infusion`; import ignores those two. Columns a record does not use are
empty.

Import validates the whole file first and reports the file, line and field of the
first problem; nothing is written on error. Besides the shape of each row it checks
that values are physically plausible (`replay_csv.RANGES`), that an `ok` reading has
a value, that times lie in 2000..2100 and in order (a session ends after it starts
and after its infusion), that alert parameters/rules are ones the engine emits, that
no baseline parameter or alert key appears twice, and that the file ends with its
`end` row and the counts match: a file cut short (a partial copy, `head`) is refused
as truncated instead of being imported as a shorter session.
"""
from __future__ import annotations

import csv
import io
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from .. import discharge, observations, scores, sessions
from ..formatting import iso_utc_ms
from ..model import PARAMETERS, PRIORITIES, STATES, STATUSES
from ..protocol import TECHNICAL_RULES
from ..replay_csv import RANGES, open_csv, read_utf8
from ..store import Store, queries
from ..store.transfer import alert_refs, event_refs
from . import ExportError
from .spreadsheet import neutralise, restore

FORMAT = "infusion-monitor-csv/2"  # /2: text cells neutralised for spreadsheets (exports/spreadsheet.py)
FORMAT_V1 = "infusion-monitor-csv/1"  # older exports, text as stored: still imported
COLUMNS = ["record", "time_utc", "min_from_infusion", "ts", "parameter", "value", "status", "source", "detail",
           "rule", "kind", "priority", "limit", "end_ts", "acknowledged_at", "acknowledged_by", "message",
           "alert_key", "type", "text", "author", "data", "escalated_at"]
# Files written before alarms escalated (no escalated_at column) are still imported, read as never escalated.
COLUMNS_BEFORE_ESCALATION = COLUMNS[:-1]
NUMBER_COLUMNS = ("min_from_infusion", "ts", "value", "limit", "end_ts", "acknowledged_at",
                  "escalated_at")  # the rest is text
RECORDS = ("session", "baseline", "reading", "alert", "event", "end")
SESSION_KEYS = ("patient_ref", "chair", "protocol", "state", "infusion_start", "infusion_end", "ended_by")
COUNTS = ("baselines", "readings", "alerts", "events")  # the end row's data, in this order
KINDS = ("physiological", "technical")
BASELINE_SOURCES = ("computed", "provisional", "entered")
# The parameter each technical alarm is filed under by monitor/alerts/engine.py.
TECHNICAL_PARAMETER = {"device_disconnected": "device", "oximeter_signal_lost": "spo2",
                       "nibp_failed": "sbp", "nibp_overdue": "sbp"}
assert set(TECHNICAL_PARAMETER) == set(TECHNICAL_RULES)
ALERT_PARAMETERS = PARAMETERS + ("device",)
EVENT_TYPE = re.compile(r"^[a-z][a-z0-9_]*$")
# Plausible UTC epoch seconds: 2000-01-01 .. 2100-01-01. Anything else is a corrupt file.
TS_MIN, TS_MAX = 946684800.0, 4102444800.0


class CsvImportError(ValueError):
    """A file that cannot be imported; the message names file and line."""


def num(v: Optional[float]) -> str:
    """Shortest text that parses back to exactly the same float ('' for None)."""
    if v is None:
        return ""
    v = float(v)
    return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)


# ------------------------------------------------------------------ export
def to_csv(store: Store, session_id: int) -> str:
    s = queries.session(store, session_id)
    if s is None:
        raise ExportError(f"no session {session_id}")
    t0 = s["infusion_start"]

    def row(record: str, ts: Optional[float], **cols) -> list:
        mins = "" if t0 is None or ts is None else f"{(ts - t0) / 60.0:.3f}"
        cols.update(record=record, time_utc=iso_utc_ms(ts), min_from_infusion=mins, ts=num(ts))
        return [cols.get(c, "") if c in NUMBER_COLUMNS else neutralise(cols.get(c, "")) for c in COLUMNS]

    meta = {k: s.get(k) for k in SESSION_KEYS}
    meta["format"] = FORMAT
    rows = [row("session", s["started_at"], end_ts=num(s["ended_at"]), source=s.get("source") or "",
                data=json.dumps(meta, ensure_ascii=False))]
    for b in sorted(queries.baselines(store, session_id).values(), key=lambda b: b["parameter"]):
        rows.append(row("baseline", b["ts"], parameter=b["parameter"], value=num(b["value"]),
                        source=b["source"] or "", data=json.dumps({"n": b["n"]})))
    for r in queries.readings(store, session_id):
        rows.append(row("reading", r["ts"], parameter=r["parameter"], value=num(r["value"]), status=r["status"],
                        source=r["source"] or "", detail=r["detail"] or ""))
    alerts = queries.alerts(store, session_id)
    keys = {a["id"]: a["key"] for a in alerts}
    for a in alerts:
        rows.append(row("alert", a["started_at"], parameter=a["parameter"], value=num(a["value"]), rule=a["rule"],
                        kind=a["kind"], priority=a["priority"], limit=num(a["limit_value"]),
                        end_ts=num(a["ended_at"]), acknowledged_at=num(a["acknowledged_at"]),
                        acknowledged_by=a["acknowledged_by"] or "", message=a["message"] or "",
                        alert_key=a["key"] or "", escalated_at=num(a.get("escalated_at"))))
    events = queries.events(store, session_id)
    places = {e["id"]: f"event#{n}" for n, e in enumerate(events)}
    for e in events:
        # another database gives alarms and events other ids: name alarms by key, events by place
        data = event_refs(alert_refs(e["data"], keys), places)
        rows.append(row("event", e["ts"], type=e["type"], text=e["text"] or "", author=e["author"] or "",
                        data=json.dumps(data, ensure_ascii=False) if data else ""))
    kinds = [r[0] for r in rows]  # the record column
    rows.append(row("end", None, data=json.dumps({k: kinds.count(k[:-1]) for k in COUNTS})))
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    quoted = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_ALL)  # the writer leaves a lone CR bare
    w.writerow(COLUMNS)
    for r in rows:
        (quoted if any("\r" in c for c in r) else w).writerow(r)
    return out.getvalue()


# ------------------------------------------------------------------ import
@dataclass
class ParsedSession:
    session: dict
    baselines: list[dict] = field(default_factory=list)
    readings: list[tuple] = field(default_factory=list)  # (ts, parameter, value, source, status, detail)
    alerts: list[dict] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)
    closed_on_import: bool = False


def parse_file(path: str | Path, patient_ref: Optional[str] = None) -> ParsedSession:
    return parse_text(read_utf8(path, CsvImportError), str(path), patient_ref)


def parse_text(text: str, name: str = "<csv>", patient_ref: Optional[str] = None) -> ParsedSession:
    """Validate a whole export; the first problem is raised with its line number.

    The file must keep the session rules as if it were charted here: a valid patient
    reference (unless patient_ref, already checked, replaces it) and events in an order
    the rules allow (sessions.check_entry), ending in the session row's state.
    """
    reader, header = open_csv(text, name, CsvImportError, "an infusion-monitor CSV export")
    columns = [h.strip() for h in header]
    if columns not in (COLUMNS, COLUMNS_BEFORE_ESCALATION):
        hint = " (this looks like a replay recording: use `replay`)" if header[:2] == ["t_s", "parameter"] else ""
        raise CsvImportError(f"{name}: line 1: header must be the export's columns "
                             f"{','.join(COLUMNS[:4])},…{hint}")
    parsed: Optional[ParsedSession] = None
    keys: dict[str, int] = {}  # alert_key -> line
    baselines: dict[str, int] = {}  # parameter -> line
    end_line: Optional[int] = None
    phase = "baseline"
    neutralised = True
    try:
        for fields in reader:
            line = reader.line_num
            if not fields or all(not f.strip() for f in fields):
                continue
            f = _Fields(fields, name, line, neutralised, columns)
            if end_line is not None:
                f.fail(f"a row after the end record (line {end_line}); an export ends with it")
            record = f.text("record")
            if record not in RECORDS:
                f.fail(f"record {record!r}: expected one of {', '.join(RECORDS)}")
            if parsed is None:
                if record != "session":
                    f.fail("the first row must be the session row (record=session)")
                parsed = ParsedSession(_session(f))
                neutralised = f.neutralised  # the session row says which format the file is
                try:
                    parsed.session["patient_ref"] = patient_ref or sessions.patient_ref(parsed.session["patient_ref"])
                except sessions.RuleError as e:
                    f.fail(f"{e}; import it under another reference with --patient")
                continue
            if record == "session":
                f.fail("a second session row; an export holds one session")
            if record == "baseline":
                b = _baseline(f)
                if b["parameter"] in baselines:
                    f.fail(f"parameter: a second {b['parameter']} baseline (first on line {baselines[b['parameter']]})")
                baselines[b["parameter"]] = line
                parsed.baselines.append(b)
            elif record == "reading":
                parsed.readings.append(_reading(f))
            elif record == "alert":
                a = _alert(f)
                if a["key"] in keys:
                    f.fail(f"alert_key {a['key']!r} appears twice (first on line {keys[a['key']]})")
                keys[a["key"]] = line
                parsed.alerts.append(a)
            elif record == "event":
                ev = _event(f)
                try:
                    sessions.check_entry(ev["type"], phase)
                except sessions.RuleError as e:
                    f.fail(f"event {ev['type']}: {e}")
                phase = sessions.phase_after(ev["type"], phase) or phase
                parsed.events.append(ev)
            else:
                _check_end(f, parsed)
                end_line = line
    except csv.Error as e:
        raise CsvImportError(f"{name}: line {reader.line_num}: {e}") from None
    if parsed is None:
        raise CsvImportError(f"{name}: no session row")
    if end_line is None:
        raise CsvImportError(f"{name}: file ends at line {reader.line_num} without its end record: truncated?")
    if parsed.session["state"] != phase:
        raise CsvImportError(f"{name}: the session row says {parsed.session['state']} but its events leave it "
                             f"in {phase}")
    _close_if_open(parsed)
    return parsed


def _check_end(f: "_Fields", p: ParsedSession) -> None:
    """The end row: present only in a complete file, and its counts must match what came before."""
    counts = f.json_object("data")
    if sorted(counts) != sorted(COUNTS):
        f.fail(f"end data must count {', '.join(COUNTS)}")
    for k in COUNTS:
        n = counts[k]
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            f.fail(f"end data {k} must be a whole number >= 0")
        held = len(getattr(p, k))
        if n != held:
            f.fail(f"the end record counts {n} {k} but the file holds {held}: rows lost or added?")


IMPORT_OVERRIDE = "imported while still running: no one at this bedside to acknowledge"


def _close_if_open(p: ParsedSession) -> None:
    """A copy of a session that was still running is closed at its last record: it must
    never look like a live session on the importing machine's chair.

    It is closed as any session ends: by a session_end event, its alarms ended at that
    time, and an override on the record for HIGH alarms nobody signed for
    (sessions.check_end; the alarms are named by key until the import gives them ids).
    """
    s = p.session
    if s["state"] == "ended":
        return
    times = [s["started_at"]] + [r[0] for r in p.readings] + [e["ts"] for e in p.events]
    end = max(times)
    for a in p.alerts:
        if a["ended_at"] is None:
            a["ended_at"] = max(end, a["started_at"])
    board = [{**a, "id": a["key"]} for a in p.alerts if a["kind"] == "physiological"]
    data = sessions.check_end(board, IMPORT_OVERRIDE)
    p.events.append({"ts": end, "type": "session_end", "text": "closed on import", "author": "import",
                     "data": json.dumps(data) if data else None})
    s.update(state="ended", ended_at=end, ended_by="import")
    p.closed_on_import = True


class _Fields:
    def __init__(self, fields: list, name: str, line: int, neutralised: bool = True, columns: list = COLUMNS):
        if len(fields) != len(columns):
            raise CsvImportError(f"{name}: line {line}: expected {len(columns)} fields, got {len(fields)}")
        self.fields, self.columns = fields, columns
        self.name, self.line = name, line
        self.read_as(neutralised)

    def read_as(self, neutralised: bool) -> None:
        """Text cells as written by a FORMAT export (neutralised: restore them) or a FORMAT_V1 one."""
        self.neutralised = neutralised
        self.values = {c: "" for c in COLUMNS}  # a column an older file lacks reads as empty
        self.values.update({c: v if c in NUMBER_COLUMNS or not neutralised else restore(v)
                            for c, v in zip(self.columns, self.fields)})

    def fail(self, msg: str):
        raise CsvImportError(f"{self.name}: line {self.line}: {msg}")

    def text(self, col: str, required: bool = False) -> str:
        v = self.values[col]
        if required and not v.strip():
            self.fail(f"{col} is empty")
        return v

    def number(self, col: str, required: bool = False) -> Optional[float]:
        raw = self.values[col].strip()
        if not raw:
            if required:
                self.fail(f"{col} is empty")
            return None
        try:
            v = float(raw)
        except ValueError:
            self.fail(f"{col} {raw!r} is not a number")
        if not math.isfinite(v):
            self.fail(f"{col} {raw!r} is not a finite number")
        return v

    def time(self, col: str, required: bool = False) -> Optional[float]:
        """UTC epoch seconds in 2000..2100; anything else is a corrupt file or wrong units."""
        v = self.number(col, required)
        if v is not None:
            check_time(v, col, self.fail)
        return v

    def value(self, parameter: str, col: str = "value", required: bool = False) -> Optional[float]:
        """A measured value of parameter, within its plausible physical range."""
        v = self.number(col, required)
        if v is not None and parameter in RANGES:
            lo, hi = RANGES[parameter]
            if not lo <= v <= hi:
                self.fail(f"{col} {self.values[col].strip()} is outside {lo}..{hi} for {parameter}")
        return v

    def choice(self, col: str, allowed: tuple) -> str:
        v = self.values[col].strip()
        if v not in allowed:
            self.fail(f"{col} {v!r}: expected one of {', '.join(allowed)}")
        return v

    def json_object(self, col: str) -> dict:
        raw = self.values[col].strip()
        if not raw:
            return {}
        try:
            v = json.loads(raw)
        except ValueError as e:
            self.fail(f"{col} is not valid JSON: {e.msg}")
        if not isinstance(v, dict):
            self.fail(f"{col} must be a JSON object")
        return v


def check_time(v: float, what: str, fail) -> None:
    if not TS_MIN <= v <= TS_MAX:
        fail(f"{what} {num(v)} is not a time between 2000 and 2100 (UTC epoch seconds)")


def _session(f: _Fields) -> dict:
    meta = f.json_object("data")
    if meta.get("format") not in (FORMAT, FORMAT_V1):
        f.fail(f"session data must carry \"format\": \"{FORMAT}\"")
    f.read_as(meta["format"] == FORMAT)
    s = {"started_at": f.time("ts", required=True), "ended_at": f.time("end_ts"),
         "source": f.text("source")}
    for k in SESSION_KEYS:
        v = meta.get(k)
        if k in ("infusion_start", "infusion_end"):
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)):
                f.fail(f"session {k} must be a number or null")
            if v is not None:
                check_time(v, f"session {k}", f.fail)
        elif v is not None and not isinstance(v, str):
            f.fail(f"session {k} must be text or null")
        s[k] = v
    if s["state"] not in STATES:
        f.fail(f"session state {s['state']!r}: expected one of {', '.join(STATES)}")
    ended = s["ended_at"]
    if ended is not None:
        if ended < s["started_at"]:
            f.fail(f"end_ts {num(ended)} is before the session start (ts {num(s['started_at'])})")
        for k in ("infusion_start", "infusion_end"):
            if s[k] is not None and s[k] > ended:
                f.fail(f"session {k} {num(s[k])} is after the session end (end_ts {num(ended)})")
    return s


def _baseline(f: _Fields) -> dict:
    n = f.json_object("data").get("n")
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 0):
        f.fail("baseline data n must be a whole number >= 0")
    parameter = f.choice("parameter", PARAMETERS)
    return {"ts": f.time("ts", required=True), "parameter": parameter,
            "value": f.value(parameter, required=True), "source": f.choice("source", BASELINE_SOURCES), "n": n}


def _reading(f: _Fields) -> tuple:
    ts = f.time("ts", required=True)
    parameter = f.choice("parameter", PARAMETERS)
    value = f.value(parameter)
    status = f.choice("status", STATUSES)
    if value is None and status == "ok":
        f.fail(f"value: {parameter} has no value but status ok")
    return ts, parameter, value, f.text("source"), status, f.text("detail") or None


def _alert(f: _Fields) -> dict:
    started = f.time("ts", required=True)
    ended = f.time("end_ts")
    if ended is not None and ended < started:
        f.fail("alert end_ts is before its start (ts)")
    kind = f.choice("kind", KINDS)
    rule = f.text("rule", required=True)
    parameter = f.choice("parameter", ALERT_PARAMETERS)
    if kind == "technical":
        if rule not in TECHNICAL_PARAMETER:
            f.fail(f"rule {rule!r}: technical alerts have rule {', '.join(TECHNICAL_PARAMETER)}")
        if parameter != TECHNICAL_PARAMETER[rule]:
            f.fail(f"parameter {parameter!r}: {rule} alerts are filed under {TECHNICAL_PARAMETER[rule]!r}")
    else:
        if rule in TECHNICAL_PARAMETER:
            f.fail(f"rule {rule!r} is a technical alert, not kind {kind}")
        if parameter not in PARAMETERS:
            f.fail(f"parameter {parameter!r}: {kind} alerts are on one of {', '.join(PARAMETERS)}")
    return {"key": f.text("alert_key", required=True), "rule": rule,
            "parameter": parameter, "kind": kind,
            "priority": f.choice("priority", PRIORITIES), "started_at": started, "ended_at": ended,
            "value": f.value(parameter), "limit_value": f.number("limit"), "message": f.text("message"),
            "acknowledged_at": f.time("acknowledged_at"), "acknowledged_by": f.text("acknowledged_by") or None,
            "escalated_at": _escalated_at(f, started)}


def _escalated_at(f: _Fields, started: float) -> Optional[float]:
    """When the alarm escalated (alerts/escalation.py): never before it started."""
    v = f.time("escalated_at")
    if v is not None and v < started:
        f.fail("alert escalated_at is before its start (ts)")
    return v


def _event(f: _Fields) -> dict:
    kind = f.text("type", required=True).strip()
    if not EVENT_TYPE.match(kind):
        f.fail(f"event type {kind!r}: expected a lower-case name such as note or infusion_start")
    data = f.json_object("data")
    why = None  # a score must be one its entry could have made: a file edited by hand is refused
    if kind in observations.OBSERVATION_TYPES:
        why = observations.check_data(kind, data or {})
    elif kind in ("aldrete", "padss"):
        items, entry = ((scores.ALDRETE_ITEMS, scores.aldrete_entry) if kind == "aldrete"
                        else (discharge.PADSS_ITEMS, discharge.padss_entry))
        problem = scores.checklist_problem(data, items, entry)
        why = problem and f"{kind} data: {problem}"
    if why:
        f.fail(f"data: {why}")
    return {"ts": f.time("ts", required=True), "type": kind, "text": f.text("text"),
            "author": f.text("author"), "data": json.dumps(data) if data else None}  # as record_event stores it
