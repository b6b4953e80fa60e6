"""The replay CSV contract (docs/ARCHITECTURE.md, "Replay CSV"): validate a whole file before use, streaming.

`t_s,parameter,value,status`; `parameter` may be `event`, whose value is an event
type or `note:free text`. Any problem is reported with its line number and nothing
is written. A file is read twice, never held: `check_file` walks it once and keeps
only what the rules need (the session's phase, the rows of the current second for
the duplicate check), then `iter_file` streams the same rows into playback, so a
recording of any length replays in constant memory.

A complete recording ends with `session_end` and a line end. A file without them
(cut short by a crash, a full disk, `head`) is refused unless the caller says it is
a partial recording; then an unfinished last line is left out, not charted.
"""
from __future__ import annotations

import codecs
import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Optional

from . import sessions
from .model import PARAMETERS, PHYSICAL_RANGES, STATUSES

HEADER = ["t_s", "parameter", "value", "status"]
REPLAY_EVENTS = ("infusion_start", "infusion_stop", "session_end")
MAX_SESSION_S = 24 * 3600  # a recording longer than a day is a unit mistake, not a session
# Plausible physical ranges: a value outside is a corrupt file, not a patient.
RANGES = PHYSICAL_RANGES
PARTIAL_HINT = "replay an incomplete recording with --partial"


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

    def identity(self) -> tuple:
        """Everything a row says: two rows with the same identity are one row written twice."""
        return (self.t_s, self.parameter, self.value, self.status, self.event, self.text, self.source, self.detail)


@dataclass
class Recording:
    """What a pass over a file learned (filled in by iter_rows as it goes)."""
    rows: int = 0
    length_s: float = 0.0  # t_s of the last row
    complete: bool = False  # it holds its session_end
    cut_line: Optional[int] = None  # a partial recording's unfinished last line, left out


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


def open_csv(text: str, name: str, error: type, expected: str) -> tuple:
    """A csv reader over text and its header row; an empty or unreadable start is `error`."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        return reader, next(reader)
    except StopIteration:
        raise error(f"{name}: line 1: empty file, expected {expected}") from None
    except csv.Error as e:
        raise error(f"{name}: line 1: {e}") from None


# ------------------------------------------------------------------ reading, streamed
class _Lines:
    """The lines of a text stream as the csv reader takes them, remembering whether the
    last one was finished by a line end (an unfinished one means the file was cut)."""

    def __init__(self, stream: Iterable[str]):
        self._it = iter(stream)
        self.finished = True

    def __iter__(self):
        return self

    def __next__(self) -> str:
        line = next(self._it)
        self.finished = line.endswith(("\n", "\r"))
        return line


def _first_bad_utf8_line(path: Path) -> int:
    """The line holding the first byte that is not UTF-8, found by a second, streamed look."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    n = 1
    with open(path, "rb") as f:
        for n, raw in enumerate(f, 1):
            try:
                decoder.decode(raw)
            except UnicodeDecodeError:
                return n
    return n


def _file_lines(path: str | Path) -> Iterator[str]:
    p = Path(path)
    try:
        f = open(p, encoding="utf-8-sig", newline="")
    except OSError as e:
        raise ReplayError(f"{p}: cannot read: {e.strerror or e}") from None
    with f:
        try:
            yield from f
        except UnicodeDecodeError:
            raise ReplayError(f"{p}: line {_first_bad_utf8_line(p)}: not UTF-8 text") from None
        except OSError as e:
            raise ReplayError(f"{p}: cannot read: {e.strerror or e}") from None


def iter_file(path: str | Path, partial: bool = False) -> Iterator[Row]:
    """The file's rows, validated as they are read (see iter_rows)."""
    return iter_rows(_file_lines(path), str(path), partial)


def check_file(path: str | Path, partial: bool = False) -> Recording:
    """The checking pass: the whole file validated without keeping it; ReplayError names the first problem."""
    found = Recording()
    for _ in iter_rows(_file_lines(path), str(path), partial, found):
        pass
    return found


def parse_text(text: str, name: str = "<csv>", partial: bool = False) -> list[Row]:
    """A whole recording given as text (a short one: tests, exports); see iter_rows."""
    return list(iter_rows(io.StringIO(text, newline=""), name, partial))


def parse_file(path: str | Path, partial: bool = False) -> list[Row]:
    return list(iter_file(path, partial))


def iter_rows(lines: Iterable[str], name: str = "<csv>", partial: bool = False,
              found: Optional[Recording] = None) -> Iterator[Row]:
    """Validated rows from the lines of a recording; ReplayError (file and line) at the first problem.

    Checked: the header; each row's shape, values and time (non-decreasing, at most a
    day); events in the order the session rules allow (sessions.check_entry), nothing
    but a late note after session_end; no row written twice (the same t_s, parameter,
    value, status, source and detail); and that the file is complete — it holds
    session_end, and every line but a final session_end ends with a line end — unless `partial`. A partial recording's unfinished
    last line is left out (found.cut_line). Only the current second's rows are kept.
    """
    found = Recording() if found is None else found
    src = _Lines(lines)
    reader = csv.reader(src)
    try:
        header = next(reader)
    except StopIteration:
        raise ReplayError(f"{name}: line 1: empty file, expected header {','.join(HEADER)}") from None
    except csv.Error as e:
        raise ReplayError(f"{name}: line 1: {e}") from None
    if [h.strip() for h in header[:4]] != HEADER:
        raise ReplayError(f"{name}: line 1: header must be {','.join(HEADER)}, got {','.join(header)}")
    extra_cols = [h.strip() for h in header[4:]]
    last_t = 0.0
    last_line = 1
    same_second: dict[tuple, int] = {}  # the rows at last_t -> line: a duplicate can only be among them
    seen: dict[str, int] = {}  # event type -> line, to check the session's order
    phase = "baseline"  # walked with the session rules, so a recording the page would refuse is refused
    try:
        for fields in reader:
            line = reader.line_num
            if not fields or all(not f.strip() for f in fields):
                continue
            # Only a file's last line can lack its line end: the file was cut there, unless that
            # line is the session_end (nothing after its event name changes what it says).
            if not src.finished and [f.strip() for f in fields[1:3]] != ["event", "session_end"]:
                if partial:
                    found.cut_line = line
                    break
                raise ReplayError(f"{name}: line {line}: the file ends mid-line (no line end): cut short? "
                                  f"{PARTIAL_HINT}")
            row = _parse_row(fields, extra_cols, name, line)
            if row.t_s < last_t:
                raise ReplayError(f"{name}: line {line}: t_s {row.t_s:g} goes back in time (previous {last_t:g})")
            if row.t_s != last_t:
                same_second.clear()
            first = same_second.setdefault(row.identity(), line)
            if first != line:
                raise ReplayError(f"{name}: line {line}: a duplicate of line {first} (the same row written twice)")
            if "session_end" in seen and row.event != "note":  # a late note may follow the end
                raise ReplayError(f"{name}: line {line}: data after session_end (line {seen['session_end']})")
            if row.event in REPLAY_EVENTS:
                if row.event in seen:
                    raise ReplayError(f"{name}: line {line}: a second {row.event} (first on line {seen[row.event]})")
                seen[row.event] = line
            if row.event:
                try:
                    sessions.check_entry(row.event, phase)
                except sessions.RuleError as e:
                    raise ReplayError(f"{name}: line {line}: {e}") from None
                phase = sessions.phase_after(row.event, phase) or phase
            last_t, last_line = row.t_s, line
            found.rows, found.length_s = found.rows + 1, row.t_s
            yield row
    except csv.Error as e:
        raise ReplayError(f"{name}: line {reader.line_num}: {e}") from None
    if not found.rows:
        raise ReplayError(f"{name}: no data rows")
    found.complete = "session_end" in seen
    if not partial and "session_end" not in seen:
        raise ReplayError(f"{name}: line {last_line}: the recording ends without session_end: cut short? "
                          f"{PARTIAL_HINT}")


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
