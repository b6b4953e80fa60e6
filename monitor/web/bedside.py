"""The bedside page: big numerics, alarms, the live trend and the nurse's buttons.

Everything shown comes from the store; a 1 s tick sends only what changed since
the cursor held in the page's dcc.Store.
"""
from __future__ import annotations

import time
from datetime import datetime
from typing import Optional

from dash import ALL, Input, Output, State, ctx, dcc, html, no_update

from ..model import Event
from ..store import StoreError, queries
from . import trend

STALE_S = 10.0  # a numeric older than this is shown as no data
SYMBOLS = {"high": "!!!", "medium": "!!", "low": "!"}
PRIORITY_WORD = {"high": "HIGH", "medium": "MEDIUM", "low": "LOW"}
STATUS_WORDS = {"sensor_off": "SENSOR OFF", "searching": "SEARCHING", "artifact": "ARTIFACT",
                "low_perfusion": "LOW PERF", "error": "ERROR"}


def layout(store, protocol, rest: str):
    chair = rest.strip("/") or "1"
    return html.Div(className="bedside", children=[
        dcc.Store(id="bed-state", data={"chair": chair, "session_id": None}),
        dcc.Interval(id="bed-tick", interval=1000),
        html.Div(id="bed-header", className="bed-header"),
        html.Div(id="bed-alarms", className="alarm-zone", role="alert", **{"aria-live": "assertive"}),
        html.Div(id="bed-technical", className="technical-zone"),
        html.Div(id="bed-numerics", className="numerics"),
        dcc.Graph(id="bed-trend", config={"displaylogo": False, "scrollZoom": False},
                  className="trend"),
        html.Div(className="actions", children=[
            html.Button("Start infusion", id="act-start", className="btn btn-go"),
            html.Button("Stop infusion", id="act-stop", className="btn btn-stop"),
            html.Button("STAT BP", id="act-stat", className="btn"),
            dcc.ConfirmDialogProvider(
                html.Button("End session", id="act-end-btn", className="btn btn-end"),
                id="act-end", message="End this session? Monitoring of this chair stops."),
            html.Span(id="act-status", className="act-status", role="status"),
        ]),
        html.Div(id="bed-open", className="open-session"),
        html.Div(id="bed-devices", className="devices"),
    ])


def register(app, store, protocol) -> None:
    @app.callback(
        Output("bed-trend", "figure"), Output("bed-header", "children"), Output("bed-numerics", "children"),
        Output("bed-alarms", "children"), Output("bed-technical", "children"),
        Output("bed-devices", "children"), Output("bed-open", "children"), Output("bed-state", "data"),
        Input("bed-tick", "n_intervals"), State("bed-state", "data"))
    def tick(_n, state):
        return bedside_tick(store, protocol, state)

    @app.callback(Output("act-status", "children"),
                  Input("act-start", "n_clicks"), Input("act-stop", "n_clicks"), Input("act-stat", "n_clicks"),
                  Input("act-end", "submit_n_clicks"), State("bed-state", "data"), prevent_initial_call=True)
    def act(_a, _b, _c, _d, state):
        return bedside_action(store, ctx.triggered_id, state)

    @app.callback(Output("open-status", "children"), Input("open-session", "n_clicks"),
                  State("open-patient", "value"), State("bed-state", "data"), prevent_initial_call=True)
    def open_session(_n, patient, state):
        return open_session_action(store, protocol, patient, state)


# ----------------------------------------------------------------- tick
def bedside_tick(store, protocol, state: dict):
    """One tick: returns the Dash outputs; pure over the store so benchmarks can call it."""
    chair = state["chair"]
    s = queries.current_session(store, chair)
    outputs_fig = no_update
    if s is None:
        empty = trend.full_figure([], [], protocol, {})
        fig = empty if state.get("session_id") != "none" else no_update
        return (fig, _header(chair, None, time.time()), _numerics({}, time.time()), [], [],
                _devices(store, chair), _open_form(chair), {"chair": chair, "session_id": "none"})
    sid = s["id"]
    if state.get("session_id") != sid:  # first tick or a new session: draw the history once
        rows = queries.readings(store, sid, ("hr", "spo2", "sbp", "dbp"))
        events = queries.events(store, sid)
        bl = queries.baselines(store, sid)
        outputs_fig = trend.full_figure(rows, events, protocol, bl)
        state = {"chair": chair, "session_id": sid, "cursor": queries.max_reading_id(store, sid),
                 "event_cursor": max([e["id"] for e in events], default=0),
                 "baseline_sig": _baseline_sig(bl), "last": _latest_values(store, sid)}
    else:
        rows = queries.readings_after(store, sid, state["cursor"])
        new_events = queries.events(store, sid, state["event_cursor"])
        bl = queries.baselines(store, sid)
        sig = _baseline_sig(bl)
        decorated = None
        if new_events or sig != state["baseline_sig"]:
            decorated = trend.decorations(protocol, bl, queries.events(store, sid))
            state["event_cursor"] = max([e["id"] for e in new_events], default=state["event_cursor"])
            state["baseline_sig"] = sig
        patch = trend.increment(rows, decorated)
        outputs_fig = patch if patch is not None else no_update
        if rows:
            state["cursor"] = rows[-1]["id"]
            _remember(state["last"], rows)
    latest_ts = max([v.get("ts") or 0 for v in state["last"].values()], default=0)
    now = max(time.time(), latest_ts)  # a sped-up simulation runs ahead of the wall clock
    board = queries.alarm_board(store, sid)
    phys = [a for a in board if a["kind"] == "physiological"]
    tech = [a for a in board if a["kind"] == "technical"]
    open_form = _open_form(chair) if s["state"] == "ended" else []
    return (outputs_fig, _header(chair, s, now), _numerics(state["last"], now, bl_values(store, sid)),
            [_alarm_tile(a, now) for a in phys], [_alarm_tile(a, now, technical=True) for a in tech],
            _devices(store, chair), open_form, state)


def bl_values(store, sid) -> dict:
    return {p: b["value"] for p, b in queries.baselines(store, sid).items()}


def _baseline_sig(bl: dict) -> str:
    return ";".join(f"{p}={b['value']}:{b['source']}" for p, b in sorted(bl.items()))


def _latest_values(store, sid) -> dict:
    last = {}
    for p in ("hr", "spo2", "pi"):
        r = queries.latest(store, sid, p)
        if r:
            last[p] = {"v": r["value"], "ts": r["ts"], "status": r["status"]}
    for p in ("sbp", "dbp", "map"):
        r = store.one("SELECT ts, value FROM readings WHERE session_id = ? AND parameter = ? AND status = 'ok' "
                      "ORDER BY ts DESC LIMIT 1", (sid, p))
        if r:
            last[p] = {"v": r["value"], "ts": r["ts"], "status": "ok"}
    err = store.one("SELECT ts, detail FROM readings WHERE session_id = ? AND parameter = 'sbp' AND "
                    "status = 'error' ORDER BY ts DESC LIMIT 1", (sid,))
    if err and (("sbp" not in last) or err["ts"] > last["sbp"]["ts"]):
        last["nibp_error"] = {"v": None, "ts": err["ts"], "status": "error", "detail": err["detail"]}
    return last


def _remember(last: dict, rows: list[dict]) -> None:
    for r in rows:
        p = r["parameter"]
        if p in ("hr", "spo2", "pi"):
            last[p] = {"v": r["value"], "ts": r["ts"], "status": r["status"]}
        elif p in ("sbp", "dbp", "map"):
            if r["status"] == "ok":
                last[p] = {"v": r["value"], "ts": r["ts"], "status": "ok"}
                last.pop("nibp_error", None)
            elif p == "sbp" and r["status"] == "error":
                last["nibp_error"] = {"v": None, "ts": r["ts"], "status": "error", "detail": r["detail"]}


# ----------------------------------------------------------------- rendering
def clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def _header(chair: str, s: Optional[dict], now: float):
    if s is None:
        return [html.Span(f"Chair {chair}", className="chair-name"),
                html.Span("No session", className="phase phase-none")]
    phase = s["state"]
    if phase == "infusion":
        elapsed = f"Infusion {clock(now - s['infusion_start'])}"
    elif phase == "recovery":
        elapsed = f"Recovery {clock(now - s['infusion_end'])} · infusion {clock(s['infusion_end'] - s['infusion_start'])}" \
            if s["infusion_start"] else f"Recovery {clock(now - s['infusion_end'])}"
    elif phase == "baseline":
        elapsed = f"Baseline {clock(now - s['started_at'])}"
    else:
        elapsed = f"Ended {datetime.fromtimestamp(s['ended_at']).strftime('%H:%M')}" if s["ended_at"] else "Ended"
    return [html.Span(f"Chair {chair}", className="chair-name"),
            html.Span(s["patient_ref"] or "", className="patient-ref"),
            html.Span(phase.upper(), className=f"phase phase-{phase}"),
            html.Span(elapsed, id="elapsed-clock", className="elapsed"),
            html.Span(datetime.fromtimestamp(now).strftime("%H:%M:%S"), className="wallclock")]


def _numeric(label: str, unit: str, value: str, cls: str, note: str = "", note_cls: str = ""):
    return html.Div(className=f"numeric {cls}", children=[
        html.Div([html.Span(label, className="num-label"), html.Span(unit, className="num-unit")]),
        html.Div(value, className="num-value", id=f"num-{cls}"),
        html.Div(note, className=f"num-note {note_cls}"),
    ])


def _numerics(last: dict, now: float, baselines: Optional[dict] = None):
    baselines = baselines or {}

    def cont(p):
        r = last.get(p)
        if r is None or now - r["ts"] > STALE_S:
            return "--", "no data", "note-warn"
        if r["status"] != "ok" or r["v"] is None:
            return "--", STATUS_WORDS.get(r["status"], r["status"]), "note-warn"
        return f"{r['v']:.0f}", (f"baseline {baselines[p]:.0f}" if p in baselines else ""), ""

    hr, hr_note, hr_cls = cont("hr")
    spo2, spo2_note, spo2_cls = cont("spo2")
    sbp, dbp, mp = last.get("sbp"), last.get("dbp"), last.get("map")
    if sbp and dbp:
        bp = f"{sbp['v']:.0f}/{dbp['v']:.0f}"
        age = now - sbp["ts"]
        bp_note = f"({mp['v']:.0f}) · {int(age // 60)} min ago" if mp else f"{int(age // 60)} min ago"
        if "sbp" in baselines and "dbp" in baselines:
            bp_note += f" · baseline {baselines['sbp']:.0f}/{baselines['dbp']:.0f}"
    else:
        bp, bp_note = "--/--", "no measurement yet"
    err = last.get("nibp_error")
    bp_cls = ""
    if err:
        bp_note, bp_cls = f"last attempt failed: {err.get('detail') or 'cuff error'}", "note-warn"
    pi = last.get("pi")
    pi_text = f"PI {pi['v']:.1f} %" if pi and pi["v"] is not None and now - pi["ts"] <= STALE_S else ""
    return [_numeric("HR", "/min", hr, "hr", hr_note, hr_cls),
            _numeric("SpO₂", "%", spo2, "spo2", spo2_note or pi_text, spo2_cls),
            _numeric("NIBP", "mmHg", bp, "bp", bp_note, bp_cls)]


def _alarm_tile(a: dict, now: float, technical: bool = False):
    ended = a["ended_at"] is not None
    prio = a["priority"]
    since = datetime.fromtimestamp(a["started_at"]).strftime("%H:%M:%S")
    state = f"ended {datetime.fromtimestamp(a['ended_at']).strftime('%H:%M:%S')}, not acknowledged" if ended \
        else f"since {since}"
    cls = f"alarm alarm-{prio}" + (" alarm-technical" if technical else "") + (" alarm-latched" if ended else "")
    return html.Div(className=cls, id={"type": "alarm", "id": a["id"]}, **{"data-priority": prio}, children=[
        html.Span(SYMBOLS[prio], className="alarm-symbol", **{"aria-hidden": "true"}),
        html.Span(PRIORITY_WORD[prio], className="alarm-priority"),
        html.Span(a["message"], className="alarm-message"),
        html.Span(state, className="alarm-since"),
    ])


def _devices(store, chair: str):
    rows = queries.devices(store, chair)
    if not rows:
        return []
    items = []
    for d in rows:
        ok = bool(d["connected"])
        txt = f"{d['source']} ({d['kind'] or ''} {d['port'] or ''}): " + ("connected" if ok else (d["error"] or "not connected"))
        if d.get("cuff_pressure") is not None:
            txt += f" · cuff {d['cuff_pressure']:.0f} mmHg"
        items.append(html.Span(txt, className="device " + ("device-ok" if ok else "device-down")))
    return items


def _open_form(chair: str):
    return html.Div(className="open-form", children=[
        html.Label(f"New session on chair {chair} — patient reference:", htmlFor="open-patient"),
        dcc.Input(id="open-patient", type="text", maxLength=40, debounce=False),
        html.Button("Open session", id="open-session", className="btn btn-go"),
        html.Span(id="open-status", role="status"),
    ])


# ----------------------------------------------------------------- actions
ACTION_EVENTS = {"act-start": "infusion_start", "act-stop": "infusion_stop", "act-end": "session_end"}


def bedside_action(store, trigger: str, state: dict, author: str = "bedside") -> str:
    sid = state.get("session_id")
    if not isinstance(sid, int):
        return "No open session on this chair."
    if trigger == "act-stat":
        store.request_command(state["chair"], "nibp:stat", time.time(), author)
        return "STAT BP requested."
    kind = ACTION_EVENTS.get(trigger)
    if kind is None:
        return no_update
    s = queries.session(store, sid)
    allowed = {"infusion_start": ("baseline",), "infusion_stop": ("infusion",),
               "session_end": ("baseline", "infusion", "recovery")}[kind]
    if s["state"] not in allowed:
        return f"Cannot {kind.replace('_', ' ')}: session is in {s['state']}."
    try:
        store.record_event(sid, Event(time.time(), kind, "", author))
    except StoreError as e:
        return f"Not recorded: {e}"
    return {"infusion_start": "Infusion started.", "infusion_stop": "Infusion stopped: recovery.",
            "session_end": "Session ended."}[kind]


def open_session_action(store, protocol, patient: Optional[str], state: dict) -> str:
    patient = (patient or "").strip()
    if not patient:
        return "Enter a patient reference."
    if len(patient) > 40 or any(ch in patient for ch in "<>\"'"):
        return "Patient reference: up to 40 characters, no quotes or angle brackets."
    chair = state["chair"]
    current = queries.current_session(store, chair)
    if current and current["state"] != "ended":
        return f"Chair {chair} already has an open session."
    sid = store.create_session(patient, chair, protocol.name, time.time())
    return f"Session {sid} opened for {patient}."
