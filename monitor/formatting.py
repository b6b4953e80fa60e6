"""Every way the monitor turns a time or a number into text, in one place.

The store keeps times as UTC epoch seconds. People read them as LOCAL wall-clock
time (the bedside, the review page, the HTML report); machines read them as ISO
8601 UTC (the CLI's JSON, the CSV export, FHIR). Keeping every formatter here means
the page, the report and the alarm messages cannot drift apart, and a change of
house style is one edit.

Pure standard library and no monitor imports, so the alert engine (which must stay
free of I/O and frameworks) can use it too.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Optional

MISSING = "–"  # what people see where there is no value (review page, report)


# ------------------------------------------------------------------ numbers
def fmt_num(v: Optional[float], digits: int = 0) -> str:
    """A value to a fixed number of decimals: '72', '37.5'; '–' when missing."""
    return MISSING if v is None else f"{v:.{digits}f}"


def fmt_entered(v: float) -> str:
    """A number someone typed, echoed back as typed: '72', '37.5', '0.25' (never rounded)."""
    return f"{v:.0f}" if float(v).is_integer() else f"{v:g}"


def fmt_measured(v: Optional[float]) -> str:
    """A measured value or limit in an alarm message: whole when within 0.05 of it, else one
    decimal ('72', '37.4'); '--' when missing, as stored in existing alarm messages."""
    if v is None:
        return "--"
    return f"{v:.0f}" if abs(v - round(v)) < 0.05 else f"{v:.1f}"


def fmt_bp(sbp: Optional[float], dbp: Optional[float]) -> str:
    """Blood pressure as 'SBP/DBP' in whole mmHg; '–' unless both are known."""
    return MISSING if sbp is None or dbp is None else f"{sbp:.0f}/{dbp:.0f}"


def counted(n: int, noun: str) -> str:
    """'1 session', '2 sessions': a count a person reads, its noun agreeing."""
    return f"{n} {noun}" + ("" if n == 1 else "s")


# ------------------------------------------------------------------ durations
def fmt_min(m: Optional[float]) -> str:
    """Minutes on the review axis: '+12.5 min', '−3.0 min' (a true minus sign)."""
    if m is None:
        return MISSING
    return f"{m:+.1f} min".replace("-", "−")


def fmt_share(x: Optional[float]) -> str:
    """A fraction as a whole percentage: '55 %'; '–' when there is nothing to divide."""
    return MISSING if x is None else f"{100 * x:.0f} %"


def fmt_rate(x: Optional[float]) -> str:
    """A rate such as alarms per hour, to 0.01: '2.31'; '–' when there is no time to divide by."""
    return MISSING if x is None else f"{x:.2f}"


def fmt_duration(seconds: Optional[float]) -> str:
    """A length of time in words: '45 s', '3 min 05 s', '1 h 02 min'."""
    if seconds is None:
        return MISSING
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    if h:
        return f"{h} h {m:02d} min"
    return f"{m} min {s:02d} s" if m else f"{s} s"


def fmt_clock(seconds: float) -> str:
    """Elapsed time as a running clock: '04:09', '1:02:03' (negative shows as '00:00')."""
    seconds = max(0, int(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def minutes_from_infusion(ts: Optional[float], infusion_start: Optional[float]) -> Optional[float]:
    """Minutes from infusion start to ts, to 0.01 min (negative before it); None if either is unknown."""
    if ts is None or infusion_start is None:
        return None
    return round((ts - infusion_start) / 60.0, 2)


# ------------------------------------------------------------------ local wall-clock time (people)
def fmt_time(ts: Optional[float], seconds: bool = True) -> str:
    """Local wall-clock time, as the clinic reads it: '14:03:27' (or '14:03'); '–' when missing."""
    if ts is None:
        return MISSING
    return datetime.fromtimestamp(ts).strftime("%H:%M:%S" if seconds else "%H:%M")


def fmt_date(ts: Optional[float]) -> str:
    """Local date and time to the minute: '2026-03-05 14:03'; '–' when missing."""
    return MISSING if ts is None else datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M")


def fmt_datetime(ts: Optional[float]) -> str:
    """Local date and time to the second, for a log read entry by entry: '2026-03-05 14:03:27'."""
    return MISSING if ts is None else datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def fmt_day(ts: float) -> str:
    """Local day and month, for a short label: '05 Mar'."""
    return datetime.fromtimestamp(ts).strftime("%d %b")


def local_iso(ts: float) -> str:
    """Local wall time as ISO 8601 without a zone, as plotly's date axis wants it."""
    return datetime.fromtimestamp(ts).isoformat(timespec="seconds")


def parse_when(text: str) -> float:
    """A date or time a person typed, as epoch seconds: 'YYYY-MM-DD' is local midnight; an
    ISO 8601 time ('2026-03-05T14:00', '...Z', '...+01:00') is local unless it names its zone.
    ValueError saying what is expected."""
    raw = (text or "").strip()
    try:
        when = datetime.fromisoformat(raw[:-1] + "+00:00" if raw.endswith(("Z", "z")) else raw)
    except ValueError:
        raise ValueError(f"{text!r}: not a date (YYYY-MM-DD, or YYYY-MM-DDTHH:MM, local time "
                         "unless a zone is given)") from None
    return when.timestamp()  # a naive datetime is taken as local time


# ------------------------------------------------------------------ UTC (machines)
def iso_utc(ts: Optional[float]) -> Optional[str]:
    """ISO 8601 UTC to the second (more if the time has them) with Z, for the CLI's JSON;
    None for None; a time no calendar can show (a corrupt row) is printed as its number."""
    if ts is None:
        return None
    try:
        return datetime.fromtimestamp(ts, timezone.utc).isoformat().replace("+00:00", "Z")
    except (ValueError, OverflowError, OSError):
        return repr(ts)


def iso_utc_ms(ts: Optional[float]) -> str:
    """ISO 8601 UTC with milliseconds and Z, for the CSV export and FHIR; '' for None."""
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def hl7_dtm(ts: float) -> str:
    """HL7 v2 DTM in UTC with its offset, for the HL7 messages: 20261202055200+0000, with
    milliseconds when there are any (a NIBP measurement's time is to the millisecond)."""
    t = datetime.fromtimestamp(ts, timezone.utc)
    ms = round(t.microsecond / 1000)
    if ms == 1000:
        t, ms = datetime.fromtimestamp(int(ts) + 1, timezone.utc), 0
    return t.strftime("%Y%m%d%H%M%S") + (f".{ms:03d}" if ms else "") + "+0000"
