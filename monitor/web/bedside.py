"""The bedside page: big numerics, alarms, the live trend and the nurse's charting.

Everything shown comes from the store; a 1 s tick (`bedside_tick`) reads only what
is new since the cursors held in the page's dcc.Store (readings and events by id)
plus a handful of small fixed-size lookups (session row, alarm board, baselines,
devices), so its cost does not grow with session length. Panels are re-sent only
when what they show has changed.
"""
from __future__ import annotations

import secrets
import time
from typing import Optional

from dash import Input, Output, Patch, State, ctx, dcc, html, no_update

from .. import access, discharge, observation_schedule, observations, profile_choice, sessions
from ..access import Actor
from ..model import Event, is_valid, struck_entries
from ..store import StoreError, queries
from . import alarms, auth, charting, limits, observing, opening, recovery, ticks, trend
from .opening import offered_patient, open_form
from .bedside_view import (baseline_body, cuff_pressure, devices, event_item, header, manual_from_events,
                           news2_indicator, numerics, strike_options)
from .forms import FormError, refusal_text, page_session, session_now

TICK_OUTPUTS = (
    ("bed-trend", "figure"), ("bed-trend-new", "data"), ("bed-header", "children"), ("bed-numerics", "children"),
    ("bed-news2", "children"), ("bed-alarms", "children"), ("bed-technical", "children"),
    ("bed-alarm-data", "data"), ("bed-history", "children"), ("bed-events", "children"),
    ("bed-baseline", "children"), ("bed-limits", "children"), ("bed-recovery", "children"),
    ("bed-discharge", "children"), ("bed-devices", "children"), ("bed-open", "children"),
    ("bed-state", "data"), ("obs-latest", "children"), ("obs-due", "children"), ("dis-countdown", "children"),
    # what depends on the session's profile, set when the page meets a session
    ("limit-rule", "options"), ("dose-unit", "options"), ("dose-unit", "value"),
)
# Each control and the entry it makes: enabled only while the signed-in role may make it
# (access.permits) and the session rules would accept it (sessions.refusal), its title saying why not.
CONTROLS = {"act-start": "infusion_start", "act-stop-btn": "infusion_stop", "act-end-btn": "session_end",
            "act-stat": "nibp:stat", "note-save": "note", "med-save": "medication", "dose-save": "dose_change",
            "mv-save": "manual_vitals", "bl-save": "baseline_set", "limit-save": "limit_change",
            "strike-save": "correction", "obs-moaas-save": "moaas", "obs-cadss-save": "cadss6",
            "obs-se-save": "side_effect", "obs-int-save": "intervention"}
TICK_OUTPUTS += tuple((c, p) for c in CONTROLS for p in ("disabled", "title")) + (("strike-event", "options"),)
KEYS = [f"{i}.{p}" for i, p in TICK_OUTPUTS]
# What a page's bed-state holds once it met its session (_first_tick): a page from an older
# version lacking one (open across an upgrade) is sent a whole new view, never a KeyError.
PAGE_STATE_KEYS = ("trend", "due_entries", "assessed", "observed", "settings", "manual", "last")
MONITORED = ("hr", "spo2", "pi", "rr", "etco2")  # device parameters a tile shows as they come, flagged or not


def control_outputs(phase: Optional[str], role: Optional[str] = None) -> dict:
    """disabled/title for every control in a session in `phase` (None: no session), for a
    user signed in with `role` (None: the session rules alone, as a benchmark or a rule test asks)."""
    out = {}
    for control, entry in CONTROLS.items():
        why = access.refusal(role, access.COMMAND_ACTIONS.get(entry, entry)) if role is not None else None
        why = why or sessions.refusal(entry, phase)
        out[f"{control}.disabled"], out[f"{control}.title"] = why is not None, why or ""
    return out


def layout(store, protocol, rest: str):
    chair = rest.strip("/") or "1"
    return html.Div(className="bedside", children=[
        dcc.Store(id="bed-state", data={"chair": chair, "session_id": None}),
        *ticks.interval("bed"),
        dcc.Store(id="bed-push"),  # set by assets/live-push.js when this chair changes: tick now
        html.Div(id="bed-header", className="bed-header"),
        alarms.controls("bed", protocol),
        html.Div(className="alarm-zones", children=[
            html.Section(className="alarm-section", children=[
                html.H2("Patient alarms", className="zone-title"),
                html.Div(id="bed-alarms", className="alarm-zone", role="alert", **{"aria-live": "assertive"})]),
            html.Section(className="technical-section", children=[
                html.H2("Technical alarms (equipment)", className="zone-title"),
                html.Div(id="bed-technical", className="technical-zone")]),
        ]),
        html.Div(className="numerics-row", children=[
            html.Div(id="bed-numerics", className="numerics"), html.Div(id="bed-news2", className="news2-box")]),
        dcc.Graph(id="bed-trend", config={"displaylogo": False, "scrollZoom": False}, className="trend"),
        *trend.stores(),
        html.Div(className="actions", children=[
            html.Button("Start infusion", id="act-start", className="btn btn-go"),
            dcc.ConfirmDialogProvider(
                html.Button("Stop infusion", id="act-stop-btn", className="btn btn-stop"),
                id="act-stop", message="Stop the infusion now? The session moves to recovery."),
            html.Button("STAT BP", id="act-stat", className="btn"),
            dcc.ConfirmDialogProvider(
                html.Button("End session", id="act-end-btn", className="btn btn-end"),
                id="act-end", message="End this session? Monitoring of this chair stops. "
                                      "It is signed with your login."),
            html.Span(id="act-status", className="act-status", role="status"),
        ]),
        html.Div(id="bed-open", className="open-session"),
        html.Div(className="panels", children=[
            charting.vitals_panel(), observing.panel(), charting.charting_panel(protocol), charting.baseline_panel(),
            limits.panel(protocol),
            html.Section(className="panel panel-recovery", children=[
                html.H3("Recovery and discharge"),
                html.Div(id="dis-countdown", className="dis-countdown", role="timer", **{"aria-live": "off"}),
                html.Div(id="bed-discharge"), html.Div(id="bed-recovery")]),
            html.Section(className="panel panel-history", children=[
                html.H3("Alarm history"), html.Div(id="bed-history", className="history"),
                html.H3("Charted events"), html.Ul(id="bed-events", className="event-log")]),
        ]),
        html.Div(id="bed-devices", className="devices"),
    ])


def register(app, store, protocol) -> None:
    ticks.register(app, "bed")

    @app.callback(*[Output(i, p) for i, p in TICK_OUTPUTS], ticks.beat("bed"),
                  Input("bed-push", "data"), State("bed-state", "data"))
    def tick(_n, _pushed, state):
        return bedside_tick(store, protocol, state, auth.current_role())

    @app.callback(Output("act-status", "children"),
                  Input("act-start", "n_clicks"), Input("act-stop", "submit_n_clicks"), Input("act-stat", "n_clicks"),
                  Input("act-end", "submit_n_clicks"), State("bed-state", "data"), prevent_initial_call=True)
    def act(_a, _b, _c, _d, state):
        return bedside_action(store, ctx.triggered_id, state, auth.current_actor())

    trend.register(app)
    alarms.register(app, store)
    charting.register(app, store, protocol)
    opening.register(app, store, protocol)
    observing.register(app, store)
    limits.register(app, store, protocol)
    recovery.register(app, store, protocol)


# ----------------------------------------------------------------- tick
def bedside_tick(store, protocol, state: dict, role: Optional[str] = None):
    """One tick: the Dash outputs in TICK_OUTPUTS order; pure over the store so benchmarks can call it.
    role: the signed-in user's, whose controls are shown disabled where it may not use them."""
    chair = state["chair"]
    out = dict.fromkeys(KEYS, no_update)
    s = queries.current_session(store, chair)
    now = time.time()
    wall = now  # heartbeats are wall-clock times (the session clock below may run ahead of it)
    beat = queries.heartbeat(store, chair)  # is an acquisition process watching this chair?
    watched = sessions.acquisition_alive(beat, wall)
    if s is None:
        offer = offered_patient(store, chair, now)  # from the registration system, if it said so
        if state.get("session_id") != "none" or state.get("offer") != (offer or {}).get("id"):
            out["bed-open.children"] = open_form(chair, protocol, offer)
        if state.get("session_id") != "none":
            out.update({"bed-trend.figure": trend.full_figure([], [], protocol, {}), "bed-alarms.children": [],
                        "bed-technical.children": [], "bed-alarm-data.data": [], "obs-latest.children": [],
                        "obs-due.children": [], "dis-countdown.children": "",
                        "bed-news2.children": news2_indicator({}, {}, now, protocol),
                        "bed-recovery.children": recovery.panel_body(store, None, None, now, protocol),
                        **control_outputs(None, role)})
        out.update({"bed-header.children": header(chair, None, now),
                    "bed-numerics.children": numerics({}, now, protocol),
                    "bed-devices.children": devices(queries.devices(store, chair), watched),
                    "bed-state.data": {"chair": chair, "session_id": "none", "offer": (offer or {}).get("id")}})
        return tuple(out[k] for k in KEYS)
    sid = s["id"]
    protocol = profile_choice.session_profile(protocol, s["protocol"])  # the session's own, when known here
    bl = queries.baselines(store, sid)
    if state.get("session_id") != sid or any(k not in state for k in PAGE_STATE_KEYS):  # (or an older page's)
        state = _first_tick(store, protocol, chair, sid, bl, out)
    else:
        _next_tick(store, protocol, sid, bl, state, out)
    latest_ts = max([v.get("ts") or 0 for v in state["last"].values()], default=0)
    standing = alarms.standing_alarms(s, beat, wall, protocol, chair)
    live = s["state"] != "ended"
    if live:  # the newest reading this page holds, so the tick needs no query for it
        now = sessions.session_clock(now, latest_ts)
    standing += _schedule_outputs(protocol, s, state, out, now)
    _alarm_outputs(store, s, state, out, standing)
    _panel_outputs(store, protocol, s, bl, state, out, now, role)
    device_rows = queries.devices(store, chair)
    out.update({"bed-header.children": header(chair, s, now, access.permits(role, "review") if role else True,
                                              protocol.name),
                "bed-numerics.children": numerics(state["last"] if live else {}, now, protocol,
                                                  {p: b["value"] for p, b in bl.items()},
                                                  cuff_pressure(device_rows) if live and watched else None),
                "bed-news2.children": news2_indicator(state["last"] if live else {}, state["manual"], now, protocol),
                "bed-devices.children": devices(device_rows, watched), "bed-state.data": state})
    return tuple(out[k] for k in KEYS)


def _first_tick(store, protocol, chair: str, sid: int, bl: dict, out: dict) -> dict:
    """A new page or a new session: draw the history once and set the cursors."""
    cursor = queries.max_reading_id(store, sid)  # first: a reading stored meanwhile comes with the next tick
    rows = [r for r in queries.readings(store, sid, trend.TRACES) if r["id"] <= cursor]
    events = queries.events(store, sid)
    settings = limits.settings_from_events(protocol, events)
    out["bed-trend.figure"], trend_state = trend.start(rows, events, limits.effective_protocol(protocol, settings), bl,
                                                       f"{sid}.{secrets.token_hex(4)}")
    state = {"trend": trend_state, "chair": chair, "session_id": sid, "cursor": cursor,
             "event_cursor": max([e["id"] for e in events], default=0), "baseline_sig": _baseline_sig(bl),
             "last": _latest_values(store, sid), "board_sig": None, "history_sig": None, "alert_max": -1,
             "settings": settings,
             "manual": {}, "phase": None, "assessed": None, "baseline_by": None, "baseline_view": None,
             "limit_log": {}, "observed": None,
             "due_entries": observation_schedule.fold_bp({}, rows, protocol.schedule), "due_view": None}
    _refold(protocol, state, events, out)
    out["bed-limits.children"] = limits.render_log(protocol, state["limit_log"], state["settings"])
    out["limit-rule.options"] = limits.rule_options(protocol)
    out["dose-unit.options"], out["dose-unit.value"] = list(protocol.infusion_rates), next(iter(protocol.infusion_rates))
    return state


def _next_tick(store, protocol, sid: int, bl: dict, state: dict, out: dict) -> None:
    rows = queries.readings_after(store, sid, state["cursor"])
    new_events = queries.events(store, sid, state["event_cursor"])
    sig = _baseline_sig(bl)
    shapes = None
    if new_events:
        state["event_cursor"] = max(e["id"] for e in new_events)
        before = dict(state["settings"])
        _absorb_events(protocol, state, new_events)
        if state["settings"] != before:
            sig = None  # limit lines to redraw
            out["bed-limits.children"] = limits.render_log(protocol, state["limit_log"], state["settings"])
        if any(e["type"] == "correction" for e in new_events):  # rare: redo what the struck entry fed
            _refold(protocol, state, queries.events(store, sid), out)
            state["last"] = _latest_values(store, sid)  # a struck manual BP no longer counts
        else:
            if any(e["type"] in observations.OBSERVATION_TYPES for e in new_events):
                out["obs-latest.children"] = observing.latest(state["observed"])
            log = Patch()
            for e in new_events:
                log.prepend(event_item(e))
            out["bed-events.children"] = log
            choices = strike_options(new_events)  # only what is new: the tick's cost stays flat
            if choices:
                options = Patch()
                for o in reversed(choices):
                    options.prepend(o)
                out["strike-event.options"] = options
    if sig != state["baseline_sig"]:
        shapes = trend.limit_shapes(limits.effective_protocol(protocol, state["settings"]), bl)
        state["baseline_sig"] = _baseline_sig(bl)
    message = trend.increment(state["trend"], rows, new_events, shapes)
    if message is not None:  # applied in place in the browser: the figure prop is set only by _first_tick
        out["bed-trend-new.data"] = message
    if rows:
        state["cursor"] = rows[-1]["id"]
        _remember(state["last"], rows)
        observation_schedule.fold_bp(state["due_entries"], rows, protocol.schedule)


def _schedule_outputs(protocol, s: dict, state: dict, out: dict, now: float) -> list[dict]:
    """The observation schedule's list (sent only when it changed) and its overdue items as
    reminder rows for the technical zone."""
    due = observation_schedule.status(protocol.schedule, s, state["due_entries"], now,
                                      protocol.minimum_observation_s)
    view = alarms.digest(repr([(r["label"], r["state"], r["done_at"]) for r in due]))
    if view != state.get("due_view"):
        out["obs-due.children"] = observing.due_list(due)
        state["due_view"] = view
    return alarms.reminder_rows(observation_schedule.reminders(due), state["chair"])


def _refold(protocol, state: dict, events: list[dict], out: dict) -> None:
    """Rebuild the page's running summaries and event log from all events, leaving out what
    a correction struck (it no longer feeds NEWS2, the Aldrete verdict or anything else)."""
    struck = struck_entries(events)
    state["due_entries"] = observation_schedule.without_struck(state.get("due_entries") or {}, events)
    state.update(manual={}, assessed=None, baseline_by=None, limit_log={}, observed=None,
                 settings=limits.settings_from_events(protocol, []))
    _absorb_events(protocol, state, [e for e in events if e["id"] not in struck])
    out["bed-events.children"] = [event_item(e, struck) for e in reversed(events)]
    out["strike-event.options"] = strike_options(events)
    out["obs-latest.children"] = observing.latest(state["observed"])


def _absorb_events(protocol, state: dict, events: list[dict]) -> None:
    """Fold new events into the small running summaries the page keeps (bounded size)."""
    state["settings"] = limits.settings_from_events(protocol, events, state["settings"])
    state["limit_log"] = limits.change_log(protocol, events, state["limit_log"])
    state["manual"] = manual_from_events(events, state["manual"])
    state["observed"] = observations.fold(state.get("observed"), events)
    state["assessed"] = discharge.fold_assessments(state.get("assessed"), events)
    observation_schedule.fold_events(state["due_entries"], events)
    for e in events:
        if e["type"] == "baseline_set":
            state["baseline_by"] = {"by": e["author"] or "?", "at": e["ts"]}


def _alarm_outputs(store, s: dict, state: dict, out: dict, standing: list[dict]) -> None:
    """The alarm zones and the data the page sounds from: the stored board, and first the
    alarms about the monitoring itself (alarms.standing_alarms), shown and sounded alike."""
    sid = s["id"]
    board = queries.alarm_board(store, sid)
    shown = standing + board
    bsig = alarms.board_signature(shown) + f"|{s['state']}"
    amax = queries.max_alert_id(store, sid)
    if bsig != state["board_sig"]:
        phys, tech = alarms.zones(shown)
        out.update({"bed-alarms.children": phys, "bed-technical.children": tech,
                    # an ended session no longer sounds; its unacknowledged alarms stay shown
                    "bed-alarm-data.data": [] if s["state"] == "ended" else alarms.board_data(shown, state["chair"])})
    # the history is the stored alarms only: a standing row's text that changes each second (the
    # count of readings held while the disk is full) must not re-read the session's alarms each tick
    hsig = alarms.board_signature(board) + f"|{s['state']}"
    if hsig != state.get("history_sig") or amax != state["alert_max"]:
        out["bed-history.children"] = alarms.history(store, sid)
    state["board_sig"], state["history_sig"], state["alert_max"] = bsig, hsig, amax
    state["_board"] = board
    state["_advisory"] = next(({"message": a["message"], "priority": a["priority"]} for a in board
                               if a["rule"] == "baseline_bp_high" and a["ended_at"] is None), None)


def _panel_outputs(store, protocol, s: dict, bl: dict, state: dict, out: dict, now: float,
                   role: Optional[str]) -> None:
    advisory, board = state.pop("_advisory", None), state.pop("_board", [])
    assessed = state["assessed"]
    ready = discharge.readiness((assessed["aldrete"] or {}).get("data"), assessed["padss"], protocol.padss, board,
                                s["infusion_end"], now, protocol.minimum_observation_s)
    view = alarms.digest(f"{s['state']}|{ready.ready}|{ready.why}|{assessed}")  # bed-state travels each tick
    if view != state.get("discharge_view"):
        out["bed-discharge.children"] = recovery.readiness_view(assessed, s["state"], ready)
        state["discharge_view"] = view
    countdown = recovery.countdown(s["state"], ready.left_s, protocol.minimum_observation_s)
    if countdown != state.get("countdown"):
        out["dis-countdown.children"] = state["countdown"] = countdown
    view = f"{_baseline_sig(bl)}|{s['state']}|{advisory}|{state['baseline_by']}"
    if view != state["baseline_view"]:
        out["bed-baseline.children"] = baseline_body(bl, s["state"], advisory, state["baseline_by"], protocol)
        state["baseline_view"] = view
    if s["state"] != state["phase"]:
        out["bed-recovery.children"] = recovery.panel_body(store, state, s["state"], now, protocol)
        out["bed-open.children"] = open_form(state["chair"], protocol, offered_patient(store, state["chair"], now)) \
            if s["state"] == "ended" else []
        out.update(control_outputs(s["state"], role))
        state["phase"] = s["state"]


def _baseline_sig(bl: dict) -> str:
    return ";".join(f"{p}={b['value']}:{b['source']}" for p, b in sorted(bl.items()))


def _latest_values(store, sid) -> dict:
    last = {}
    for p in MONITORED:
        r = queries.latest(store, sid, p)
        if r:
            last[p] = {"v": r["value"], "ts": r["ts"], "status": r["status"]}
    for p in ("sbp", "dbp", "map"):
        r = queries.latest_valid(store, sid, p)
        if r:
            last[p] = {"v": r["value"], "ts": r["ts"], "status": "ok", "src": r["source"], "detail": r["detail"]}
    err = queries.latest_with_status(store, sid, "sbp", "error")
    if err and (("sbp" not in last) or err["ts"] > last["sbp"]["ts"]):
        last["nibp_error"] = {"v": None, "ts": err["ts"], "status": "error", "detail": err["detail"]}
    return last


def _remember(last: dict, rows: list[dict]) -> None:
    for r in rows:
        p = r["parameter"]
        if p in MONITORED:
            last[p] = {"v": r["value"], "ts": r["ts"], "status": r["status"]}
        elif p in ("sbp", "dbp", "map"):
            if is_valid(r["status"], r["value"]):
                last[p] = {"v": r["value"], "ts": r["ts"], "status": r["status"], "src": r["source"],
                           "detail": r["detail"]}
                last.pop("nibp_error", None)
            elif p == "sbp" and r["status"] == "error":
                last["nibp_error"] = {"v": None, "ts": r["ts"], "status": "error", "detail": r["detail"]}


# ----------------------------------------------------------------- actions
ACTION_EVENTS = {"act-start": "infusion_start", "act-stop": "infusion_stop", "act-end": "session_end"}
DONE = {"infusion_start": "Infusion started.", "infusion_stop": "Infusion stopped: recovery.",
        "session_end": "Session ended."}


def bedside_action(store, trigger: str, state: dict, actor: Actor) -> str:
    """Start/stop infusion, end session, STAT BP, signed by `actor`; their role and the
    session rules decide (in the store's write)."""
    action = "stat_bp" if trigger == "act-stat" else ACTION_EVENTS.get(trigger)
    if action is None:
        return no_update
    try:
        sid = page_session(store, state, actor, action)
    except FormError as e:
        msg = e.errors[0]
        if msg.startswith("Not recorded"):  # the role refused it
            return msg.replace("Not recorded", "Not requested") if trigger == "act-stat" else msg
        return msg.rstrip(".") + "."
    if trigger == "act-stat":
        try:
            store.request_command(sid, "nibp:stat", session_now(store, sid), actor.initials, actor=actor)
        except (sessions.RuleError, StoreError) as e:  # AccessError is a RuleError
            return refusal_text("Not requested", e)
        return "STAT BP requested."
    kind = action  # an event type: start, stop, end
    advisory = [a["message"] for a in queries.alarm_board(store, sid)
                if a["rule"] == "baseline_bp_high" and a["ended_at"] is None] if kind == "infusion_start" else []
    try:
        store.record_event(sid, Event(session_now(store, sid), kind, "", actor.initials), actor=actor)
    except (sessions.RuleError, StoreError) as e:  # AccessError is a RuleError
        return refusal_text("Not recorded", e)
    return f"{DONE[kind]} ({actor.initials})" + (f" Baseline advisory was active: {advisory[0]}." if advisory else "")
