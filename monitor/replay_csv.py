"""The replay CSV contract (docs/ARCHITECTURE.md, "Replay CSV"): parse and validate a whole file before use.

`t_s,parameter,value,status`; `parameter` may be `event`, whose value is an event
type or `note:free text`. Any problem is reported with its line number and nothing
is written.
"""
from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from . import sessions
from .model import PARAMETERS, PHYSICAL_RANGES, STATUSES

HEADER = ["t_s", "parameter", "value", "status"]
REPLAY_EVENTS = ("infusion_start", "infusion_stop", "session_end")
MAX_SESSION_S = 24 * 3600  # a recording longer than a day is a unit mistake, not a session
# Plausible physical ranges: a value outside is a corrupt file, not a patient.
RANGES = PHYSICAL_RANGES


class ReplayError(ValueError):
    """A malformed recording; the message names file and line."""


@dataclass
class Row:
    t_s: float
    parameter: str
    value: Optional[float] = None
    status: str = "ok"
    event: Optional[str] = None
    text: str = ""
    source: str = ""
    detail: Optional[str] = None
    data: dict = field(default_factory=dict)


def read_utf8(path: str | Path, error: type = None) -> str:
    """A text file's contents, or `error` naming the file (and line, for bad bytes)."""
    error = error or ReplayError
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as e:
        raise error(f"{p}: cannot read: {e.strerror or e}") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        raise error(f"{p}: line {line}: not UTF-8 text") from None


def parse_file(path: str | Path) -> list[Row]:
    return parse_text(read_utf8(path), str(path))


def open_csv(text: str, name: str, error: type, expected: str) -> tuple:
    """A csv reader over text and its header row; an empty or unreadable start is `error`."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        return reader, next(reader)
    except StopIteration:
        raise error(f"{name}: line 1: empty file, expected {expected}") from None
    except csv.Error as e:
        raise error(f"{name}: line 1: {e}") from None


def parse_text(text: str, name: str = "<csv>") -> list[Row]:
    reader, header = open_csv(text, name, ReplayError, f"header {','.join(HEADER)}")
    if [h.strip() for h in header[:4]] != HEADER:
        raise ReplayError(f"{name}: line 1: header must be {','.join(HEADER)}, got {','.join(header)}")
    extra_cols = [h.strip() for h in header[4:]]
    rows: list[Row] = []
    last_t = 0.0
    seen: dict[str, int] = {}  # event type -> line, to check the session's order
    phase = "baseline"  # walked with the session rules, so a recording the page would refuse is refused
    try:
        for fields in reader:
            line = reader.line_num
            if not fields or all(not f.strip() for f in fields):
                continue
            row = _parse_row(fields, extra_cols, name, line)
            if row.t_s < last_t:
                raise ReplayError(f"{name}: line {line}: t_s {row.t_s:g} goes back in time (previous {last_t:g})")
            if "session_end" in seen and row.event != "note":  # a late note may follow the end
                raise ReplayError(f"{name}: line {line}: data after session_end (line {seen['session_end']})")
            if row.event in ("infusion_start", "infusion_stop", "session_end"):
                if row.event in seen:
                    raise ReplayError(f"{name}: line {line}: a second {row.event} (first on line {seen[row.event]})")
                seen[row.event] = line
            if row.event:
                try:
                    sessions.check_entry(row.event, phase)
                except sessions.RuleError as e:
                    raise ReplayError(f"{name}: line {line}: {e}") from None
                phase = sessions.phase_after(row.event, phase) or phase
            last_t = row.t_s
            rows.append(row)
    except csv.Error as e:
        raise ReplayError(f"{name}: line {reader.line_num}: {e}") from None
    if not rows:
        raise ReplayError(f"{name}: no data rows")
    return rows


def _parse_row(fields: list, extra_cols: list, name: str, line: int) -> Row:
    def fail(msg: str):
        raise ReplayError(f"{name}: line {line}: {msg}")

    if len(fields) < 3:
        fail(f"expected at least 3 fields (t_s,parameter,value), got {len(fields)}")
    if len(fields) > 4 + len(extra_cols):
        fail(f"too many fields ({len(fields)}); quote text that contains commas")
    t_raw, parameter, value_raw = fields[0].strip(), fields[1].strip(), fields[2].strip()
    status = fields[3].strip() if len(fields) > 3 else ""
    extras = dict(zip(extra_cols, (f.strip() for f in fields[4:])))
    try:
        t_s = float(t_raw)
    except ValueError:
        fail(f"t_s {t_raw!r} is not a number")
    if not math.isfinite(t_s) or t_s < 0:
        fail(f"t_s {t_raw!r} must be a finite number of seconds >= 0")
    if t_s > MAX_SESSION_S:
        fail(f"t_s {t_raw} is more than {MAX_SESSION_S // 3600} hours into the session (milliseconds?)")
    if parameter == "event":
        if value_raw.startswith("note:"):
            return Row(t_s, "event", event="note", text=value_raw[5:].strip())
        kind, _, text = value_raw.partition(":")
        if kind not in REPLAY_EVENTS:
            fail(f"event {value_raw!r}: expected one of {', '.join(REPLAY_EVENTS)} or note:text")
        return Row(t_s, "event", event=kind, text=text.strip())
    if parameter not in PARAMETERS:
        fail(f"parameter {parameter!r}: expected one of {', '.join(PARAMETERS)} or event")
    status = status or "ok"
    if status not in STATUSES:
        fail(f"status {status!r}: expected one of {', '.join(STATUSES)} or empty")
    value: Optional[float] = None
    if value_raw:
        try:
            value = float(value_raw)
        except ValueError:
            fail(f"{parameter} value {value_raw!r} is not a number")
        lo, hi = RANGES[parameter]
        if not (math.isfinite(value) and lo <= value <= hi):
            fail(f"{parameter} value {value_raw} outside {lo}..{hi}")
    elif status == "ok":
        fail(f"{parameter} has no value but status ok")
    return Row(t_s, parameter, value, status, source=extras.get("source", ""),
               detail=extras.get("detail") or None)


def session_to_csv(store, session_id: int) -> str:
    """A stored session as a replay recording (t_s relative to session start)."""
    from .store import queries
    s = queries.session(store, session_id)
    if s is None:
        raise ReplayError(f"no session {session_id}")
    items = [(r["ts"], 0, r["id"], [r["parameter"], "" if r["value"] is None else f"{r['value']:g}",
                                    "" if r["status"] == "ok" else r["status"]])
             for r in queries.readings(store, session_id)]
    for e in queries.events(store, session_id):
        if e["type"] in REPLAY_EVENTS:
            items.append((e["ts"], 1, e["id"], ["event", e["type"], ""]))
        elif e["type"] == "note":
            items.append((e["ts"], 1, e["id"], ["event", f"note:{e['text']}", ""]))
    items.sort(key=lambda x: (x[0], x[1], x[2]))
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(HEADER)
    for ts, _, _, fields in items:
        w.writerow([f"{ts - s['started_at']:.3f}".rstrip("0").rstrip("."), *fields])
    return out.getvalue()
