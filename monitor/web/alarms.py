"""Alarm presentation: tiles by priority, acknowledgement, sound and audio pause, history.

The engine decides alarms and the store holds them; this module only shows the
board (queries.alarm_board: active alerts plus ended-but-unacknowledged high ones)
and records acknowledgements signed by the signed-in user (auth.current_actor, their
initials on the alarm), for the session the server holds for the chair (store.acknowledge).

Sound and the 2-minute audio pause are page state, run in the browser by
assets/alarm-audio.js (`infusionAlarms.update`) from the board sent here as data,
with the priority table (model.PRIORITY: rank and word) sent alongside in a
dcc.Store so the script never keeps its own copy:
what sounds is the highest unacknowledged priority, unless paused; a new alarm of
higher priority than the one paused (or any new HIGH alarm) breaks through.
"""
from __future__ import annotations

import hashlib
from typing import Optional

from dash import ALL, ClientsideFunction, Input, Output, State, ctx, dcc, html, no_update

from .. import sessions
from ..access import Actor
from ..formatting import fmt_time
from ..model import PRIORITY, priority_mark, priority_table
from ..store import NotFound, StoreError, queries
from . import auth
from .forms import FormError, not_stored, page_session, session_now


# ----------------------------------------------------------------- board
def board_signature(board: list[dict]) -> str:
    """What the board shows, as a short digest: the bedside keeps it in bed-state, which
    travels both ways every tick, to re-send the board only when it changed."""
    return digest("|".join(f"{a['id']}:{a['priority']}:{a['ended_at']}:{a['acknowledged_at']}:{a['message']}"
                           for a in board))


def digest(text: str) -> str:
    """A 20-character stand-in for a page view's text, to tell a change without sending the text."""
    return hashlib.blake2b(text.encode(), digest_size=10).hexdigest()


def board_data(board: list[dict], chair: str = "") -> list[dict]:
    """What the browser's sound and pause logic needs, nothing more. A reminder is shown, never
    sounded: it is not in it."""
    return [{"id": a["id"], "priority": a["priority"], "kind": a["kind"], "chair": chair,
             "latched": a["ended_at"] is not None, "acked": a["acknowledged_at"] is not None}
            for a in board if not a.get("reminder")]


def reminder_rows(reminders: list[dict], chair: str) -> list[dict]:
    """Board rows for overdue observations (observation_schedule.reminders): technical, at their
    LOW priority, shown with the technical alarms, never sounded on their own, gone once done."""
    return [{"id": f"reminder:{r['label']}:{chair}", "rule": r["rule"], "priority": r["priority"],
             "kind": "technical", "message": r["message"], "started_at": r["since"], "ended_at": None,
             "acknowledged_at": None, "acknowledged_by": None, "standing": True, "reminder": True}
            for r in reminders]


def standing_alarms(session: Optional[dict], beat: Optional[dict], now: float, protocol, chair: str) -> list[dict]:
    """Board rows for the alarms about the monitoring itself (sessions.monitoring_alarms, at
    sessions.monitoring_priority): not stored (the process that would store them is the one
    gone), shown and sounded like a stored technical alarm while the condition holds; only
    the audio pause silences them."""
    conditions = sessions.monitoring_alarms(session, beat, now,
                                            sessions.monitoring_priority(protocol.technical_priority))
    return [{"id": f"{c['rule']}:{chair}", "rule": c["rule"], "priority": c["priority"], "kind": "technical",
             "message": c["message"], "started_at": c["since"], "ended_at": None, "acknowledged_at": None,
             "acknowledged_by": None, "standing": True} for c in conditions]


def alarm_tile(a: dict):
    prio = a["priority"]
    technical = a["kind"] == "technical"
    acked = a["acknowledged_at"] is not None
    latched = a["ended_at"] is not None
    if a.get("reminder"):
        status, state = f"overdue since {fmt_time(a['started_at'])} · a reminder: shown, not sounded", "reminder"
    elif a.get("standing"):
        since = f"since {fmt_time(a['started_at'])} · " if a["started_at"] else ""
        status, state = since + "until monitoring resumes (Pause audio silences it for 2 min)", "active"
    elif latched:
        status, state = f"ENDED {fmt_time(a['ended_at'])} · latched until acknowledged", "latched"
    elif acked:
        status, state = f"since {fmt_time(a['started_at'])} · acknowledged by {a['acknowledged_by']} " \
                        f"{fmt_time(a['acknowledged_at'])}", "acknowledged"
    else:
        status, state = f"since {fmt_time(a['started_at'])}", "active"
    cls = f"alarm alarm-{prio}" + (" alarm-technical" if technical else "") + \
        (" alarm-latched" if latched else "") + (" alarm-acknowledged" if acked else "")
    children = [
        html.Span(PRIORITY[prio].symbol, className="alarm-symbol", **{"aria-hidden": "true"}),
        html.Span(PRIORITY[prio].word, className="alarm-priority"),
        html.Span(a["message"], className="alarm-message"),
        html.Span(status, className="alarm-since"),
    ]
    if not acked and not a.get("standing"):
        children.append(html.Button("Acknowledge", id={"type": "ack", "id": a["id"]}, className="btn btn-ack",
                                    title="Acknowledge (signed with your login)"))
    return html.Div(className=cls, **{"data-priority": prio, "data-alert-id": str(a["id"]), "data-state": state,
                                      "data-kind": a["kind"]}, children=children)


def zones(board: list[dict]) -> tuple[list, list]:
    """(physiological tiles, technical tiles), highest priority first."""
    phys = [alarm_tile(a) for a in board if a["kind"] == "physiological"]
    tech = [alarm_tile(a) for a in board if a["kind"] == "technical"]
    if not phys:
        phys = [html.Div("No patient alarm", className="alarm-none")]
    if not tech:
        tech = [html.Div("No technical alarm", className="alarm-none")]
    return phys, tech


def history(store, session_id: int) -> list:
    """Every alert of the session, newest first (queried only when the board changed)."""
    rows = queries.alerts(store, session_id)
    if not rows:
        return [html.P("No alarms this session.", className="muted")]
    head = html.Tr([html.Th(h) for h in ("Priority", "Kind", "Alarm", "Started", "Ended", "Acknowledged")])
    body = []
    for a in reversed(rows):
        ack = f"{a['acknowledged_by']} {fmt_time(a['acknowledged_at'])}" if a["acknowledged_at"] else "—"
        body.append(html.Tr(className=f"hist-{a['priority']}", children=[
            html.Td(priority_mark(a["priority"])), html.Td(a["kind"]),
            html.Td(a["message"]), html.Td(fmt_time(a["started_at"])),
            html.Td(fmt_time(a["ended_at"]) if a["ended_at"] else "active"), html.Td(ack)]))
    return [html.Table([html.Thead(head), html.Tbody(body)], className="history-table")]


# ----------------------------------------------------------------- controls
def controls(prefix: str, protocol, with_ack: bool = True):
    """Sound switch, audio pause with countdown, the page's alarm state and (bedside) Acknowledge all.
    The alarm state carries the priority the page sounds "connection lost" at on its own
    (assets/connection-watch.js): the same as a chair whose monitoring stopped."""
    items = [
        html.Button("Sound…", id=f"{prefix}-sound-toggle", className="btn btn-sound",
                    title="Browsers block sound until you click: click to enable alarm sound"),
        html.Button("Pause audio 2 min", id=f"{prefix}-audio-pause", className="btn btn-pause"),
        html.Div(id=f"{prefix}-alarm-state", className="alarm-state", role="status",
                 **{"data-highest": "none", "data-sounding": "none", "data-paused": "false",
                    "data-pause-remaining": "0", "data-breakthrough": "false", "data-sound": "unknown",
                    "data-unacknowledged": "0",
                    "data-connection-priority": sessions.monitoring_priority(protocol.technical_priority)}),
    ]
    if with_ack:
        items += [
            html.Button("Acknowledge all", id="bed-ack-all", className="btn btn-ack"),
            html.Span(id="bed-ack-status", className="form-status", role="status"),
        ]
    return html.Div(className="alarm-controls", children=[
        dcc.Store(id=f"{prefix}-alarm-data", data=[]),
        dcc.Store(id=f"{prefix}-priorities", data=priority_table()),
        dcc.Store(id=f"{prefix}-audio", data={}),
        *items])


def register_audio(app, prefix: str, tick_id: str) -> None:
    """The browser-side alarm state machine for one page (bed or ov)."""
    app.clientside_callback(
        ClientsideFunction(namespace="infusionAlarms", function_name="update"),
        Output(f"{prefix}-audio", "data"),
        Output(f"{prefix}-alarm-state", "data-highest"), Output(f"{prefix}-alarm-state", "data-sounding"),
        Output(f"{prefix}-alarm-state", "data-paused"), Output(f"{prefix}-alarm-state", "data-pause-remaining"),
        Output(f"{prefix}-alarm-state", "data-breakthrough"), Output(f"{prefix}-alarm-state", "data-sound"),
        Output(f"{prefix}-alarm-state", "data-unacknowledged"), Output(f"{prefix}-alarm-state", "children"),
        Output(f"{prefix}-audio-pause", "children"), Output(f"{prefix}-audio-pause", "className"),
        Output(f"{prefix}-sound-toggle", "children"), Output(f"{prefix}-sound-toggle", "className"),
        Input(f"{prefix}-alarm-data", "data"), Input(tick_id, "n_intervals"),
        Input(f"{prefix}-audio-pause", "n_clicks"), Input(f"{prefix}-sound-toggle", "n_clicks"),
        State(f"{prefix}-audio", "data"), State(f"{prefix}-priorities", "data"))


def register(app, store) -> None:
    register_audio(app, "bed", "bed-tick")

    @app.callback(Output("bed-ack-status", "children"), Output("bed-ack-status", "className"),
                  Input({"type": "ack", "id": ALL}, "n_clicks"), Input("bed-ack-all", "n_clicks"),
                  State("bed-state", "data"), prevent_initial_call=True)
    def ack(_clicks, _all, state):
        trig = ctx.triggered_id
        if not ctx.triggered or not ctx.triggered[0].get("value"):
            return no_update, no_update  # a button re-rendered, not clicked
        if trig == "bed-ack-all":
            return acknowledge_action(store, None, auth.current_actor(), state)
        if isinstance(trig, dict) and trig.get("type") == "ack":
            return acknowledge_action(store, trig["id"], auth.current_actor(), state)
        return no_update, no_update


def acknowledge_action(store, alert_id, actor: Actor, state: dict, now=None):
    """Acknowledge one alarm (or, with alert_id None, every unacknowledged one on the board),
    signed by `actor`, in the session the server holds for the page's chair (page_session)."""
    try:
        sid = page_session(store, state, actor, "acknowledge")
    except FormError as e:
        return e.errors[0].replace("Not recorded", "Not acknowledged"), "form-status form-error"
    if alert_id is None:
        ids = [a["id"] for a in queries.alarm_board(store, sid) if a["acknowledged_at"] is None]
        if not ids:
            return "Nothing to acknowledge.", "form-status"
    else:
        ids = [alert_id]
    now = session_now(store, sid) if now is None else now  # the session's clock, as alarms use
    try:
        done = [i for i in ids if store.acknowledge(i, actor.initials, now, session_id=sid, actor=actor)]
    except NotFound:  # the store audited the refusal
        return "That alarm is not on this chair.", "form-status form-error"
    except sessions.RuleError as e:  # the role (AccessError) or the session rules
        return f"Not acknowledged: {e}", "form-status form-error"
    except StoreError as e:
        return not_stored("Not acknowledged", e), "form-status form-error"
    if not done:
        return "Already acknowledged.", "form-status"
    what = "alarm" if len(done) == 1 else f"{len(done)} alarms"
    return f"Acknowledged {what} ({actor.initials} {fmt_time(now)}).", "form-status form-ok"
