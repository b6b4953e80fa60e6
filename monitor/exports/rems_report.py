"""The esketamine REMS page: the facts the REMS patient monitoring form asks for, read from one
session (monitor/rems_facts.py decides each), on one printable, self-contained page for the
clinician to check against the chart and then fill in and submit the form themselves. This
program submits nothing to anyone.

Like the session report (html_report.py): the Jinja2 template templates/rems.html.j2 with
autoescaping on, CSS inline, no script, no link to fetch. This module only turns each fact
into its cells; a fact the record does not hold reads NOT_CHARTED, never a guess.
"""
from __future__ import annotations

import time
from typing import Optional

from .. import __version__, profile_choice
from ..formatting import fmt_bp, fmt_date, fmt_entered, fmt_min, fmt_time
from ..observations import CADSS6_MAX
from ..protocol import Protocol
from ..rems_facts import Bp, RemsFacts, Window, facts
from ..session_review import SessionReview, load
from . import ExportError
from .html_report import _environment

TEMPLATE = "rems.html.j2"
NOT_CHARTED = "not charted"
STATEMENT = ("Check every fact below against the session's chart before you use it. This page only "
             "gathers what was recorded; it is not the REMS patient monitoring form and it is not sent "
             "anywhere. The prescriber or clinician completes and submits the form through the REMS "
             "themselves.")


def session_profile(session: dict, given: Optional[Protocol]) -> Protocol:
    """The profile a session ran under (profile_choice.session_profile over the one given, or
    the esketamine profile when none is)."""
    return profile_choice.session_profile(given or profile_choice.known("esketamine-rems"), session.get("protocol"))


def _at(f: RemsFacts, ts: Optional[float]) -> str:
    if ts is None:
        return ""
    minutes = None if f.first_dose is None else (ts - f.first_dose) / 60.0
    return fmt_time(ts) + ("" if minutes is None else f" ({fmt_min(minutes)} from the first dose)")


def _bp(f: RemsFacts, bp: Optional[Bp], window: Optional[Window], why_none: str) -> dict:
    if bp is None:
        return {"value": NOT_CHARTED, "when": "", "how": why_none if window is None else
                f"no valid BP {fmt_time(window.start, False)}–{fmt_time(window.end, False)}; {window.source}",
                "charted": False}
    return {"value": f"{fmt_bp(bp.sbp, bp.dbp)} mmHg", "when": _at(f, bp.ts),
            "how": ("manual cuff" if bp.manual else "cuff") + (f"; {window.source}" if window else ""),
            "charted": True}


def _yes_no(flag: Optional[bool]) -> str:
    return NOT_CHARTED if flag is None else ("Yes" if flag else "No")


def rows(f: RemsFacts) -> list[dict]:
    """The form's facts, each {key, label, value, when, how, charted}, in the form's order."""
    out = []

    def add(key, label, value, when="", how="", charted=True):
        out.append({"key": key, "label": label, "value": value, "when": when, "how": how, "charted": charted})

    if f.medications:
        for n, m in enumerate(f.medications, 1):
            add(f"dose{n}", "Dose given" if len(f.medications) == 1 else f"Dose given ({n})",
                f"{m.get('drug', '?')} {fmt_entered(m['dose']) if isinstance(m.get('dose'), (int, float)) else '?'} "
                f"{m.get('unit', '')} {m.get('route', '')}".strip(), _at(f, m["ts"]), f"charted by {m['author'] or '?'}")
            add(f"lot{n}", "Lot number" if len(f.medications) == 1 else f"Lot number ({n})",
                m.get("lot") or NOT_CHARTED, "", "as charted with the dose", bool(m.get("lot")))
    else:
        add("dose1", "Dose given", NOT_CHARTED, "", "no medication entry in the record", False)
        add("lot1", "Lot number", NOT_CHARTED, "", "no medication entry in the record", False)
    add("first_dose", "First dose (first device)", fmt_date(f.first_dose) if f.first_dose else NOT_CHARTED,
        "", "“Start infusion” on the page" if f.first_dose else "no start charted", f.first_dose is not None)
    add("last_dose", "Last dose (last device)", fmt_date(f.last_dose) if f.last_dose else NOT_CHARTED,
        "", "“Stop infusion” on the page" if f.last_dose else "no stop charted", f.last_dose is not None)
    end_note = f"to {fmt_date(f.monitoring_end)} ({f.monitoring_end_source})" if f.monitoring_end else f.monitoring_end_source
    for key, label, minutes, start in (
            ("minutes_total", "Total monitoring time", f.session_minutes, "from the session's start"),
            ("minutes_dose", "Monitored after the first dose", f.minutes_after_first_dose, "from the first dose"),
            ("minutes_last", "Observed after the last dose", f.minutes_after_last_dose, "from the last dose")):
        extra = (f"; the profile asks for at least {f.minimum_observation_s / 60:g} min"
                 if key == "minutes_last" else "")
        add(key, label, NOT_CHARTED if minutes is None else f"{minutes:.0f} min", "",
            f"{start} {end_note}{extra}", minutes is not None)
    out.append({"key": "bp_before", "label": "BP before dosing",
                **_bp(f, f.bp_before, f.bp_before_window, "no first dose charted")})
    out.append({"key": "bp_40", "label": "BP at about 40 min", **_bp(f, f.bp_40, f.bp_40_window, "no first dose charted")})
    out.append({"key": "bp_end", "label": "BP before completion",
                **_bp(f, f.bp_end, None, "monitoring has not ended")})
    if f.bp_end is not None:
        out[-1]["how"] = ("manual cuff" if f.bp_end.manual else "cuff") + "; the last BP before monitoring ended"
    m = f.lowest_moaas
    add("sedation", "Sedation", _yes_no(f.sedation), _at(f, m["ts"]) if m else "",
        (f"lowest MOAA/S {m['value']} (sedation: any score below 5)" if m else "no MOAA/S charted"), m is not None)
    c = f.highest_cadss6
    add("dissociation", "Dissociation", _yes_no(f.dissociation), _at(f, c["ts"]) if c else "",
        (f"highest CADSS-6 total {c['value']}/{CADSS6_MAX} (yes: any total above 0; some esketamine trials "
         f"counted a CADSS total above 4: judge from the value)" if c else "no CADSS-6 charted"), c is not None)
    if f.respiratory_depression is None:
        add("respiratory", "Respiratory depression", NOT_CHARTED, "", "no SpO2 was monitored", False)
    else:
        alarms = "; ".join(f"{a['rule']} ({a['message']}) at {fmt_time(a['started_at'])}" for a in f.respiratory_alarms)
        monitored = "SpO2" + (" and capnography" if f.capnography else "")
        add("respiratory", "Respiratory depression", _yes_no(f.respiratory_depression),
            _at(f, f.respiratory_alarms[0]["started_at"]) if f.respiratory_alarms else "",
            alarms or f"no RR, EtCO2 or SpO2 alarm ({monitored} monitored)")
    add("ready", "Ready to leave", fmt_date(f.ready_at) if f.ready_at else NOT_CHARTED, _at(f, f.ready_at),
        "the first time discharge readiness held (Aldrete, PADSS, no alarm, minimum observation)"
        if f.ready_at else "discharge readiness never held on the record", f.ready_at is not None)
    d = f.discharge
    if d is None:
        add("discharge", "Discharged", NOT_CHARTED, "", "no discharge entry", False)
    else:
        data = d.get("data") or {}
        how = ("ready" if data.get("ready") else f"not ready, discharged by a clinician: {data.get('override', '')}")
        add("discharge", "Discharged", fmt_date(d["ts"]), _at(f, d["ts"]), f"{how}; signed {d.get('author') or '?'}")
    return out


def render(review: SessionReview, protocol: Optional[Protocol] = None, generated_at: Optional[float] = None) -> str:
    s = review.session
    f = facts(review, session_profile(s, protocol))
    return _environment().get_template(TEMPLATE).render(
        s=s, version=__version__, rows=rows(f), notes=f.notes, statement=STATEMENT, profile=f.profile,
        title=f"REMS facts · session {s['id']} · {s['patient_ref'] or 'no patient ref'} · {fmt_date(s['started_at'])}",
        page_header=f"REMS facts · patient {s['patient_ref'] or '–'} · session {s['id']}",
        started=fmt_date(s["started_at"]), generated=fmt_date(generated_at or time.time()))


def rems_html(store, session_id: int, protocol: Optional[Protocol] = None) -> str:
    review = load(store, session_id, None)
    if review is None:
        raise ExportError(f"no session {session_id}")
    return render(review, protocol)
