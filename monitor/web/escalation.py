"""The escalation banner: on every page of the clinic, an alarm nobody signed for in time.

Why: nurses watch several chairs from across the room; an alarm nobody acknowledges must not
stay a quiet corner of one screen. The engine decides that an alarm escalated
(alerts/escalation.py) and the store holds it (`alerts.escalated_at`); this module only shows
what `queries.escalated_alarms` returns: escalated, still on its chair's board, its session
open, nobody signed for it. It sits in the app shell (web/__init__.py `_shell`), above every
page: the overview, other chairs' bedsides, the review pages, the administrator's page. Each
line names the chair, the alarm and how long it has gone unacknowledged, and links to that
chair's bedside, where it is acknowledged as usual; the first signature takes it away.

Contract (tests and other programs rely on it): the element `#escalation-banner` with
`data-escalated="<count>"` (0: hidden), `data-sounding` (the priority it sounds, `none`) and
`data-sound` (`on`, `blocked`); each line `.escalation-item` with `data-chair` and
`data-alert-id`.

It sounds through the page's one alarm sound (assets/alarm-audio.js, `infusionAlarms.escalation`)
at the most urgent priority's pattern, whatever the alarm's own priority: escalating is raising
it (IEC 60601-1-8 lets an alarm condition escalate in priority). It sounds on a page whose own
chair is quiet, and the page's own "Pause audio" does not silence it; the banner's own pause
follows the same rules as the page's: 2 minutes, and a new escalation breaks through.
"""
from __future__ import annotations

import time
from urllib.parse import quote

from dash import ClientsideFunction, Input, Output, State, dcc, html

from ..formatting import fmt_duration
from ..model import priority_mark, priority_table
from ..store import StoreError, queries
from . import ticks

TICK_MS = 1000


def banner():
    """The banner's place in the shell, empty and hidden until an escalation arrives."""
    return html.Div(id="escalation-banner", className="escalation-banner", hidden=True, role="alert",
                    **{"data-escalated": "0", "data-sounding": "none", "data-sound": "unknown"}, children=[
        *ticks.interval("esc", TICK_MS),
        dcc.Store(id="esc-alarm-data", data=[]),
        dcc.Store(id="esc-priorities", data=priority_table()),
        dcc.Store(id="esc-audio", data={}),
        html.Div(className="escalation-head", children=[
            html.Span("ESCALATED: nobody has acknowledged", className="escalation-title"),
            html.Span(id="esc-sound-status", className="escalation-sound", role="status"),
            html.Button("Pause audio 2 min", id="esc-audio-pause", className="btn btn-pause")]),
        html.Div(id="esc-items", className="escalation-items"),
    ])


def items(rows: list[dict], now: float) -> list:
    """One line per escalated alarm: chair, priority, message, time unacknowledged; a link to the bedside."""
    out = []
    for a in rows:
        waited = max(0.0, now - a["started_at"])
        text = f"Chair {a['chair']} — {priority_mark(a['priority'])} {a['message']} — unacknowledged {fmt_duration(waited)}"
        out.append(html.Div(className="escalation-item", **{"data-chair": a["chair"], "data-alert-id": str(a["id"]),
                                                            "data-priority": a["priority"]},
                            children=dcc.Link(text, href=f"/chair/{quote(a['chair'])}", className="escalation-link")))
    return out


def sound_data(rows: list[dict]) -> list[dict]:
    """What the browser's sound needs: which escalations there are (their ids), nothing more."""
    return [{"id": a["id"], "chair": a["chair"]} for a in rows]


def register(app, store) -> None:
    ticks.register(app, "esc")

    @app.callback(Output("esc-items", "children"), Output("escalation-banner", "data-escalated"),
                  Output("escalation-banner", "hidden"), Output("esc-alarm-data", "data"),
                  ticks.beat("esc"))
    def show(_n):
        try:
            rows = queries.escalated_alarms(store)
        except StoreError:  # the page's own views say the database cannot answer
            rows = []
        return items(rows, time.time()), str(len(rows)), not rows, sound_data(rows)

    app.clientside_callback(
        ClientsideFunction(namespace="infusionAlarms", function_name="escalation"),
        Output("esc-audio", "data"), Output("escalation-banner", "data-sounding"),
        Output("escalation-banner", "data-sound"), Output("esc-sound-status", "children"),
        Output("esc-audio-pause", "children"), Output("esc-audio-pause", "className"),
        Input("esc-alarm-data", "data"), Input("esc-tick", "n_intervals"), Input("esc-audio-pause", "n_clicks"),
        State("esc-audio", "data"), State("esc-priorities", "data"))
