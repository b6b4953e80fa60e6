"""Rendering for the bedside page: header, numerics, NEWS2, baseline, event log, devices.

Pure functions from values already read (no queries except `devices`), so the tick
in bedside.py decides what to read and these only decide how it looks. Every clinical
number they show by (how long a value stays current, how old a NEWS2 input may be,
the baseline windows) comes from the loaded protocol profile.
"""
from __future__ import annotations

from typing import Optional

from dash import dcc, html

from ..formatting import fmt_clock, fmt_time
from ..sessions import STRIKEABLE
from ..model import MANUAL, entry_label, is_valid, priority_mark, struck_entries
from ..protocol import Protocol
from ..scores import CHARTED, CONSCIOUSNESS, NEWS2_LABELS, news2, news2_inputs

STATUS_WORDS = {"sensor_off": "SENSOR OFF", "searching": "SEARCHING", "artifact": "ARTIFACT",
                "low_perfusion": "LOW PERF", "error": "ERROR"}
SOURCE_WORDS = {"computed": "computed", "provisional": "provisional", "entered": "entered"}


def elapsed_text(s: dict, now: float) -> str:
    phase = s["state"]
    if phase == "infusion" and s["infusion_start"]:
        return f"Infusion {fmt_clock(now - s['infusion_start'])}"
    if phase == "recovery" and s["infusion_end"]:
        if s["infusion_start"]:
            return f"Recovery {fmt_clock(now - s['infusion_end'])} · infusion {fmt_clock(s['infusion_end'] - s['infusion_start'])}"
        return f"Recovery {fmt_clock(now - s['infusion_end'])}"
    if phase == "baseline":
        return f"Baseline {fmt_clock(now - s['started_at'])}"
    return f"Ended {fmt_time(s['ended_at'], seconds=False)}" if s["ended_at"] else "Ended"


def header(chair: str, s: Optional[dict], now: float, may_review: bool = True, page_profile: str = ""):
    """page_profile: the profile whose limits this page draws (the session's own when this
    process knows it, profile_choice.session_profile; else the process's --protocol); a session
    whose profile this process does not know says so beside its own."""
    back = dcc.Link("← All chairs", href="/", className="navlink back-link")
    if s is None:
        return [back, html.Span(f"Chair {chair}", className="chair-name"),
                html.Span("No session", className="phase phase-none")]
    phase = s["state"]
    out = [back, html.Span(f"Chair {chair}", className="chair-name"),
           html.Span(s["patient_ref"] or "", className="patient-ref"),
           html.Span(phase.upper(), className=f"phase phase-{phase}"),
           html.Span(elapsed_text(s, now), id="elapsed-clock", className="elapsed"),
           html.Span(f"profile {s['protocol'] or '–'}", id="bed-profile", className="profile muted",
                     title="The alarm protocol profile this session runs under")]
    if page_profile and s["protocol"] and s["protocol"] != page_profile:
        out.append(html.Span(f"limits drawn here are {page_profile}'s", className="profile-mismatch warn",
                             title="This server does not know the session's profile (a file another "
                                   "process was started with): the alarms are the session's own, the limit "
                                   "lines and panels are this server's --protocol"))
    if phase == "ended" and s.get("ended_by"):
        out.append(html.Span(f"ended by {s['ended_by']}", className="muted"))
    if may_review:  # the session chart is review: a clinician's page (access.LEAST_ROLE)
        out.append(dcc.Link("Session chart →", href=f"/session/{s['id']}", className="navlink review-link"))
    out.append(html.Span(fmt_time(now), className="wallclock"))
    return out


def _numeric(label: str, unit: str, value: str, cls: str, note: str = "", note_cls: str = ""):
    return html.Div(className=f"numeric {cls}", children=[
        html.Div([html.Span(label, className="num-label"), html.Span(unit, className="num-unit")]),
        html.Div(value, className="num-value", id=f"num-{cls}"),
        html.Div(note, className=f"num-note {note_cls}"),
    ])


def numerics(last: dict, now: float, protocol: Protocol, baselines: Optional[dict] = None,
             cuff: Optional[float] = None):
    baselines = baselines or {}
    fresh_s = protocol.monitored_fresh_s

    def cont(p):
        r = last.get(p)
        if r is None or now - r["ts"] > fresh_s:
            return "--", "no data", "note-warn"
        if not is_valid(r["status"], r["v"]):
            return "--", STATUS_WORDS.get(r["status"], r["status"]), "note-warn"
        if r["status"] != "ok":  # a value with a warning (low perfusion): shown, and the warning with it
            return f"{r['v']:.0f}", STATUS_WORDS.get(r["status"], r["status"]), "note-warn"
        return f"{r['v']:.0f}", (f"baseline {baselines[p]:.0f}" if p in baselines else ""), ""

    hr, hr_note, hr_cls = cont("hr")
    spo2, spo2_note, spo2_cls = cont("spo2")
    sbp, dbp, mp = last.get("sbp"), last.get("dbp"), last.get("map")
    if sbp and dbp:
        bp = f"{sbp['v']:.0f}/{dbp['v']:.0f}"
        age = now - sbp["ts"]
        bp_note = f"({mp['v']:.0f}) · {int(age // 60)} min ago" if mp else f"{int(age // 60)} min ago"
        if sbp.get("src") == MANUAL:  # typed by a nurse, not measured by the cuff: say so
            bp_note = f"MANUAL ({sbp.get('detail') or 'manual cuff'}) · " + bp_note
        if "sbp" in baselines and "dbp" in baselines:
            bp_note += f" · baseline {baselines['sbp']:.0f}/{baselines['dbp']:.0f}"
    else:
        bp, bp_note = "--/--", "no measurement yet"
    err = last.get("nibp_error")
    bp_cls = ""
    if err:
        bp_note, bp_cls = f"last attempt failed: {err.get('detail') or 'cuff error'}", "note-warn"
    if cuff is not None:  # a measurement is running: its pressure belongs on the tile, not in a footer
        bp_note, bp_cls = f"measuring · cuff {cuff:.0f} mmHg", "note-live"
    pi = last.get("pi")
    pi_text = f"PI {pi['v']:.1f} %" if pi and pi["v"] is not None and now - pi["ts"] <= fresh_s else ""
    tiles = [_numeric("HR", "/min", hr, "hr", hr_note, hr_cls),
             _numeric("SpO₂", "%", spo2, "spo2", spo2_note or pi_text, spo2_cls),
             _numeric("NIBP", "mmHg", bp, "bp", bp_note, bp_cls)]
    if "rr" in last or "etco2" in last:  # a capnograph reported in this session: its tiles, kept once seen
        rr, rr_note, rr_cls = cont("rr")
        etco2, etco2_note, etco2_cls = cont("etco2")
        if rr == "0" and not rr_cls:  # the capnograph detects no breath: say so, not only "0"
            rr_note, rr_cls = "NO BREATH", "note-warn"
        tiles += [_numeric("RR", "/min", rr, "rr", rr_note, rr_cls),
                  _numeric("EtCO₂", "mmHg", etco2, "etco2", etco2_note, etco2_cls)]
    return tiles


# ----------------------------------------------------------------- NEWS2
def news2_indicator(last: dict, manual: dict, now: float, protocol: Protocol):
    n = news2(news2_inputs(last, manual, now, protocol.news2_max_age_s))
    if n is None:
        return html.Div(className="news2 news2-none", **{"data-band": "none"}, children=[
            html.Div("NEWS2", className="news2-title"), html.Div("--", className="news2-score"),
            html.Div("no observations", className="news2-band")])
    parts = " · ".join(f"{NEWS2_LABELS[p]} {v}" for p, v in n.scores.items() if v)
    missing = ", ".join(NEWS2_LABELS[p] for p in n.missing)
    monitored_missing = [NEWS2_LABELS[p] for p in ("spo2", "hr") if p in n.missing]
    if monitored_missing:  # no reassuring band while the monitor itself has no numbers
        return html.Div(className="news2 news2-none", **{"data-band": "none"}, children=[
            html.Div("NEWS2", className="news2-title"), html.Div("--", className="news2-score"),
            html.Div(f"incomplete: no {' / '.join(monitored_missing)} from the monitor", className="news2-band"),
            html.Div(parts, className="news2-parts"),
            html.Div(f"not available: {', '.join(monitored_missing)}", className="news2-missing")])
    band_text = {"0": "0", "1-4": "1–4", "3-in-one": "3 in one parameter", "5-6": "5–6", "7+": "≥ 7"}[n.band]
    return html.Div(className=f"news2 news2-{n.risk}", **{"data-band": n.band, "data-score": str(n.total)},
                    title=n.response, children=[
        html.Div("NEWS2" + (" (partial)" if n.partial else ""), className="news2-title"),
        html.Div(str(n.total) + ("+" if n.partial else ""), className="news2-score", id="news2-score"),
        html.Div(f"{band_text} · {n.risk} risk", className="news2-band"),
        html.Div(parts or "all parameters 0", className="news2-parts"),
        html.Div(f"not charted: {missing}" if missing else n.response, className="news2-missing"),
    ])


def manual_from_events(events: list[dict], manual: Optional[dict] = None) -> dict:
    """Latest charted SBP / RR / temperature / ACVPU / air-or-oxygen, each with its time."""
    out = dict(manual or {})
    for ev in events:
        if ev["type"] != "manual_vitals":
            continue
        for p in ("sbp", *CHARTED):
            if p in ev["data"]:
                out[p] = {"v": ev["data"][p], "ts": ev["ts"]}
    return out


def strike_options(events: list[dict]) -> list[dict]:
    """The entries a nurse may strike (sessions.STRIKEABLE, not struck yet), newest first."""
    struck = struck_entries(events)
    return [{"label": f"{fmt_time(e['ts'])} {entry_label(e)}: {(e.get('text') or '')[:50]} ({e.get('author') or '?'})",
             "value": e["id"]} for e in reversed(events)
            if e["type"] in STRIKEABLE and e["id"] not in struck]


# ----------------------------------------------------------------- baseline
def minutes_text(seconds: float) -> str:
    """A profile window in minutes as the page writes it: '10 min', '1.5 min'."""
    return f"{seconds / 60:g} min"


def baseline_window_text(protocol: Protocol) -> str:
    """How the baseline will be computed, from the profile's windows."""
    return (f"Computed at infusion start from the median of the last {minutes_text(protocol.baseline_window_s)} "
            f"(BP: {minutes_text(protocol.nibp_baseline_window_s)}) unless a clinician sets it below.")


def baseline_body(bl: dict, phase: str, advisory: Optional[dict], entered_by: Optional[dict], protocol: Protocol):
    rows = []
    for label, keys, unit in (("HR", ("hr",), "/min"), ("SpO₂", ("spo2",), "%"), ("BP", ("sbp", "dbp"), "mmHg")):
        got = [bl.get(k) for k in keys]
        if not all(got):
            rows.append(html.Tr([html.Th(label), html.Td("not set", className="muted"), html.Td(""), html.Td("")]))
            continue
        value = "/".join(f"{b['value']:.0f}" for b in got)
        b = got[0]
        src = b["source"]
        if src == "computed":
            how = f"median of {b['n']} before infusion start" if b["n"] else "median before infusion start"
        elif src == "provisional":
            how = "first value after infusion start (no pre-infusion data)"
        else:
            how = f"entered by {entered_by['by']}" if entered_by else "entered by a clinician"
        rows.append(html.Tr([html.Th(label), html.Td(f"{value} {unit}", className="bl-value"),
                             html.Td(SOURCE_WORDS.get(src, src), className=f"bl-source bl-{src}"),
                             html.Td(f"{how} · {fmt_time(b['ts'])}", className="muted")]))
    out = [html.Table(rows, className="baseline-table")]
    if phase == "baseline" and not bl:
        out.append(html.P(baseline_window_text(protocol), className="muted", id="baseline-window"))
    if advisory is not None:
        out.insert(0, html.Div(className="advisory", role="alert", children=[
            html.Span(priority_mark(advisory["priority"]) + " ", className="alarm-priority"),
            f"{advisory['message']} — review before starting the infusion."]))
    return out


# ----------------------------------------------------------------- events and devices
def event_item(ev: dict, struck: Optional[dict] = None):
    """One line of the event log; a struck entry stays, struck through, with who struck it and why."""
    d = fmt_time(ev["ts"])
    gone = ev.get("id") in (struck or {})
    return html.Li(className=f"ev ev-{ev['type']}" + (" ev-struck" if gone else ""), children=[
        html.Span(d, className="ev-time"), html.B(entry_label(ev, struck)),
        html.Span(ev.get("text") or "", className="ev-text"),
        html.Span(ev.get("author") or "", className="ev-author")])


def cuff_pressure(device_rows: list[dict]) -> Optional[float]:
    """The live cuff pressure while a measurement runs (None when the cuff is idle)."""
    return next((d["cuff_pressure"] for d in device_rows if d.get("cuff_pressure") is not None), None)


def devices(rows: list[dict], watched: bool):
    """The footer: each device's connection and last data time (rows: queries.devices).
    Unless an acquisition process is watching the chair now (sessions.acquisition_alive), a
    stored state is only what a gone process last wrote: "unknown", never "connected"."""
    items = []
    for d in rows:
        ok = bool(d["connected"])
        if not watched:
            state, text = "unknown", "unknown (monitoring stopped)"
        else:
            state, text = ("ok", "connected") if ok else ("down", d["error"] or "not connected")
        txt = f"{d['source']} ({d['kind'] or ''} {d['port'] or ''}): {text}"
        if d.get("last_seen"):
            txt += f" · last data {fmt_time(d['last_seen'])}"
        if watched and d.get("cuff_pressure") is not None:
            txt += f" · cuff {d['cuff_pressure']:.0f} mmHg"
        items.append(html.Span(txt, className=f"device device-{state}", **{"data-state": state}))
    return items


def consciousness_options():
    return [{"label": f"{k} — {v}", "value": k} for k, v in CONSCIOUSNESS.items()]
