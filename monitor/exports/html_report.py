"""A self-contained HTML report of one session, for filing and printing to PDF.

One file with everything inline (CSS and an SVG chart, no script, no fonts, no
links to fetch), so it opens the same on any machine and years later. A print
stylesheet sets A4 margins, keeps table rows and the chart whole across pages and
keeps the alarm colours when printing.

The page is the Jinja2 template templates/report.html.j2 with autoescaping on, so a
patient reference, note or message is always shown as text, never read as markup.
This module only decides what goes in each cell; the template decides the markup.
"""
from __future__ import annotations

import time
from functools import lru_cache

from jinja2 import Environment, PackageLoader
from markupsafe import Markup

from .. import __version__, profile_choice
from ..formatting import fmt_date, fmt_duration, fmt_min, fmt_num, fmt_time
from ..model import MANUAL, entry_label, is_valid, priority_mark, struck_entries
from ..sessions import SIGNOFF_STATEMENT
from ..session_review import SessionReview, escalation_text, label, load, summary_items
from . import ExportError
from .svg_chart import respiration_svg, session_svg

TEMPLATE = "report.html.j2"


@lru_cache(maxsize=1)
def _environment() -> Environment:
    """The template environment, built on first use (the CLI's start-up does not pay for it)."""
    env = Environment(loader=PackageLoader("monitor.exports", "templates"), autoescape=True,
                      keep_trailing_newline=True)
    env.filters["cssstring"] = css_string
    return env


def css_string(text: str) -> str:
    """Text inside a CSS "…" string in a <style> element (the printed page header): quotes,
    backslashes, line breaks and angle brackets escaped, so nothing can leave the string."""
    out = []
    for ch in str(text):
        out.append(f"\\{ord(ch):x} " if ch in '"\\<>\n\r' or ord(ch) < 32 else ch)
    return Markup("".join(out))


def alarm_rows(review: SessionReview) -> list[dict]:
    """One row per alarm: priority and rule for the row's markup, then the cell texts in column order."""
    rows = []
    for a in review.alarm_rows():
        end = "active at end" if a["ended_at"] is None else fmt_min(a["end_min"])
        rows.append({"priority": a["priority"], "mark": priority_mark(a["priority"]), "rule": a["rule"], "cells": [
            a["rule"], a["kind"], f"{fmt_min(a['start_min'])} ({fmt_time(a['started_at'])})", end,
            fmt_duration(a["duration_s"]), fmt_num(a["value"], 1).removesuffix(".0"),
            fmt_num(a["limit"], 1).removesuffix(".0"), a["message"] or "",
            fmt_duration(a["ack_delay_s"]) if a["ack_delay_s"] is not None else "not acknowledged",
            a["acknowledged_by"] or "–", escalation_text(a)]})
    return rows


def event_rows(review: SessionReview) -> list[dict]:
    struck = struck_entries(review.events)  # a struck entry stays in the record, labelled as struck
    return [{"type": e["type"], "cells": [fmt_min(review.minutes(e["ts"])), fmt_time(e["ts"]),
                                          entry_label(e, struck), e["text"] or "", e["author"] or ""]}
            for e in review.events]


def bp_rows(review: SessionReview) -> list[tuple[str, str, str, str, str]]:
    """(minute, time, SBP/DBP, MAP, how) per valid BP, in time order; how says cuff or manual (and who)."""
    by_ts: dict = {}
    for r in review.readings:
        if r["parameter"] in ("sbp", "dbp", "map") and is_valid(r["status"], r["value"]):
            by_ts.setdefault(r["ts"], {})[r["parameter"]] = r["value"]
            if r["source"] == MANUAL:
                by_ts[r["ts"]]["how"] = r["detail"] or "manual cuff"
    return [(fmt_min(review.minutes(ts)), fmt_time(ts), f"{fmt_num(v.get('sbp'))}/{fmt_num(v.get('dbp'))}",
             fmt_num(v.get("map")), v.get("how", "cuff")) for ts, v in sorted(by_ts.items())]


def render(review: SessionReview, protocol=None, generated_at: float | None = None) -> str:
    s = review.session
    baselines = ", ".join(f"{label(p)} {b['value']:g} ({b['source']})" for p, b in sorted(review.baselines.items()))
    return _environment().get_template(TEMPLATE).render(
        s=s, version=__version__,
        title=f"Session {s['id']} · {s['patient_ref'] or 'no patient ref'} · {fmt_date(s['started_at'])}",
        started=fmt_date(s["started_at"]), infusion_start=fmt_time(s["infusion_start"]),
        infusion_end=fmt_time(s["infusion_end"]), ended=fmt_time(s["ended_at"]),
        cards=summary_items(review), baselines=baselines,
        chart=Markup(session_svg(review, protocol)),  # svg_chart escapes every text it draws
        resp_chart=Markup(respiration_svg(review, protocol)),
        alarms=alarm_rows(review), events=event_rows(review), bp_rows=bp_rows(review),
        page_header=f"Patient {s['patient_ref'] or '–'} · session {s['id']} · {fmt_date(s['started_at'])}",
        signoffs=[{"statement": e["text"], "name": e["data"].get("name", ""), "author": e["author"],
                   "when": fmt_date(e["ts"])} for e in review.events if e["type"] == "review_signoff"],
        statement=SIGNOFF_STATEMENT, generated=fmt_date(generated_at or time.time()))


def report_html(store, session_id: int, protocol=None) -> str:
    review = load(store, session_id)
    if review is None:
        raise ExportError(f"no session {session_id}")
    if protocol is not None:  # the limit lines of the profile the session ran under, when known here
        protocol = profile_choice.session_profile(protocol, review.session["protocol"])
    return render(review, protocol)
