"""All chairs at a glance: one tile per chair, the worst alarm on each, audible here too.

Each tile shows patient ref, phase, elapsed time, numerics and the highest alarm on
the chair's board; it links to the chair's bedside page (a client-side link, so the
page's sound stays enabled). The alarm sound follows the same rules as the bedside
(assets/alarm-audio.js): the highest unacknowledged priority over all chairs.

The grid is re-drawn only when the set of chairs changes; each second only the tiles'
class (the flashing border) and contents are updated in place, so a tile's flash is
not restarted every tick.
"""
from __future__ import annotations

import time
from urllib.parse import quote

from dash import ALL, Input, Output, State, dcc, html, no_update

from .. import sessions
from ..model import MANUAL, PRIORITY, is_valid, priority_rank
from ..store import queries
from . import ticks
from .alarms import board_data, controls, register_audio, standing_alarms
from .bedside_view import elapsed_text


def layout(store, protocol, rest: str):
    chairs = queries.chairs(store)
    return html.Div(className="overview", children=[
        *ticks.interval("ov"),
        dcc.Store(id="ov-push"),  # set by assets/live-push.js when any chair changes: tick now
        dcc.Store(id="ov-chairs", data=chairs),
        html.H1("All chairs", className="page-title"),
        controls("ov", protocol, with_ack=False),
        html.Div(id="ov-tiles", className="tiles", children=grid(store, chairs, protocol)),
    ])


def register(app, store, protocol) -> None:
    register_audio(app, "ov", "ov-tick")
    ticks.register(app, "ov")

    @app.callback(Output("ov-tiles", "children"), Output("ov-chairs", "data"), ticks.beat("ov"),
                  State("ov-chairs", "data"), prevent_initial_call=True)
    def regrid(_n, known):
        chairs = queries.chairs(store)
        if chairs == known:
            return no_update, no_update
        return grid(store, chairs, protocol), chairs

    @app.callback(Output({"type": "ov-link", "chair": ALL}, "className"),
                  Output({"type": "ov-body", "chair": ALL}, "children"),
                  Output({"type": "ov-wrap", "chair": ALL}, "data-priority"),
                  Output({"type": "ov-wrap", "chair": ALL}, "data-phase"),
                  Output("ov-alarm-data", "data"),
                  ticks.beat("ov"), Input("ov-push", "data"),
                  State({"type": "ov-link", "chair": ALL}, "id"))
    def update(_n, _pushed, ids):
        return overview_tick(store, [i["chair"] for i in ids], protocol)


def overview_tick(store, chairs: list[str], protocol) -> tuple:
    """Per tile (in the page's order): class, contents, priority, phase; and the alarm data for sound."""
    now = time.time()
    beats = queries.heartbeats(store)
    infos = [chair_summary(store, c, beats.get(c), now, protocol) for c in chairs]
    views = [_view(info, now, protocol) for info in infos]
    # an ended session no longer sounds (as on the bedside); its unsigned HIGH alarm stays shown
    data = [d for info in infos if info["session"] and info["session"]["state"] != "ended"
            for d in board_data(info["board"], info["chair"])]
    return ([v[0] for v in views], [v[1] for v in views], [v[2] for v in views], [v[3] for v in views], data)


def chair_summary(store, chair: str, beat, now: float, protocol) -> dict:
    """What a tile shows, from indexed lookups only. `beat`: the chair's acquisition heartbeat
    (queries.heartbeats), for the alarms about the monitoring itself (sessions.monitoring_alarms)."""
    s = queries.current_session(store, chair)
    out = {"chair": chair, "session": s, "values": {}, "alarm": None, "alarms": 0, "board": [], "standing": []}
    if s is None:
        return out
    out["standing"] = standing_alarms(s, beat, now, protocol, chair)
    if s["state"] == "ended":  # free, unless the bedside still shows an alarm nobody signed for
        _board(store, s["id"], out)
        return out
    for p in ("hr", "spo2", "rr"):  # rr: only a session with a capnograph has one
        r = queries.latest(store, s["id"], p)
        if r:
            out["values"][p] = r
    for p in ("sbp", "dbp"):
        r = queries.latest_valid(store, s["id"], p)
        if r:
            out["values"][p] = r
    _board(store, s["id"], out)
    return out


def _board(store, session_id: int, out: dict) -> None:
    board = out["standing"] + queries.alarm_board(store, session_id)
    out["board"] = board
    out["alarms"] = len(board)
    if board:
        out["alarm"] = min(board, key=lambda a: (priority_rank(a["priority"]), a["acknowledged_at"] is not None,
                                                 not a.get("standing"), -(a["started_at"] or 0)))


def grid(store, chairs: list[str], protocol):
    if not chairs:
        return [html.P("No chairs yet: start `infusion-monitor run` or `acquire`.")]
    now = time.time()
    beats = queries.heartbeats(store)
    return [_tile(chair_summary(store, c, beats.get(c), now, protocol), now, protocol) for c in chairs]


def tiles(store, protocol):
    return grid(store, queries.chairs(store), protocol)


def _tile(info: dict, now: float, protocol):
    cls, body, priority, phase = _view(info, now, protocol)
    chair = info["chair"]
    link = dcc.Link(id={"type": "ov-link", "chair": chair}, href=f"/chair/{quote(chair)}", className=cls,
                    children=html.Div(id={"type": "ov-body", "chair": chair}, children=body))
    # dcc.Link takes no data-* attributes: the wrapper carries them for scripts and tests
    return html.Div(className="tile-wrap", id={"type": "ov-wrap", "chair": chair}, children=link,
                    **{"data-chair": chair, "data-priority": priority, "data-phase": phase})


def _view(info: dict, now: float, protocol) -> tuple[str, list, str, str]:
    """(link class, contents, highest priority or 'none', phase or 'none') for one chair."""
    s, v, a = info["session"], info["values"], info["alarm"]
    cls = "tile" + (f" tile-alarm tile-{a['priority']}" if a else "")
    if a and a["acknowledged_at"] is not None:
        cls += " tile-acknowledged"
    head = [html.Span(f"Chair {info['chair']}", className="tile-chair")]
    if s is None or (s["state"] == "ended" and a is None):
        head.append(html.Span("free", className="phase phase-none"))
        return cls, [html.Div(head, className="tile-head")], "none", "none"
    if s["state"] == "ended":  # the bedside still shows this alarm: so does its tile, without sound
        head += [html.Span(s["patient_ref"] or "", className="tile-patient"),
                 html.Span("ENDED", className="phase phase-ended")]
        text = [html.Span(PRIORITY[a["priority"]].symbol + " ", className="alarm-symbol"),
                html.Span(PRIORITY[a["priority"]].word + " ", className="alarm-priority-word"),
                a["message"] + " (session ended: acknowledge on its page)"]
        return cls, [html.Div(head, className="tile-head"),
                     html.Div(className="tile-alarm-text", children=text)], a["priority"], "ended"
    now = sessions.session_clock(now, max([r["ts"] for r in v.values()], default=None))
    head += [html.Span(s["patient_ref"] or "", className="tile-patient"),
             html.Span(s["state"].upper(), className=f"phase phase-{s['state']}"),
             html.Span(elapsed_text(s, now), className="tile-elapsed")]

    def num(p):
        r = v.get(p)
        if r is None or not is_valid(r["status"], r["value"]) or now - r["ts"] > protocol.monitored_fresh_s:
            return "--"
        return f"{r['value']:.0f}"

    bp = f"{v['sbp']['value']:.0f}/{v['dbp']['value']:.0f}" if "sbp" in v and "dbp" in v else "--/--"
    if "sbp" in v and v["sbp"].get("source") == MANUAL:
        bp += " manual"
    if "sbp" in v:  # a BP is episodic: its age says whether it still describes the patient
        bp += f" · {int(max(0, now - v['sbp']['ts']) // 60)} min"
    body = html.Div(className="tile-nums", children=[
        html.Span(["HR ", html.B(num("hr"))]), html.Span(["SpO₂ ", html.B(num("spo2"))]),
        html.Span(["BP ", html.B(bp)]), *([html.Span(["RR ", html.B(num("rr"))])] if "rr" in v else [])])
    if a:
        extra = " (latched)" if a["ended_at"] is not None else (
            f" (ack {a['acknowledged_by']})" if a["acknowledged_at"] is not None else "")
        more = f" +{info['alarms'] - 1} more" if info["alarms"] > 1 else ""
        text = [html.Span(PRIORITY[a["priority"]].symbol + " ", className="alarm-symbol"),
                html.Span(PRIORITY[a["priority"]].word + " ", className="alarm-priority-word"),
                a["message"] + extra, html.Span(more, className="muted")]
    else:
        text = "no active alarm"
    alarm = html.Div(className="tile-alarm-text", children=text)
    if any(x.get("escalated_at") is not None and x["acknowledged_at"] is None for x in info["board"]):
        cls += " tile-escalated"  # nobody signed for it in time (alerts/escalation.py decided, the store says)
    parts = [html.Div(head, className="tile-head"), body, alarm]
    stopped = [x for x in info.get("standing", ()) if x is not a]
    if stopped:  # the tile's alarm line shows a worse alarm: monitoring's own state is said anyway
        parts.append(html.Div(stopped[0]["message"], className="tile-monitoring"))
    return cls, parts, a["priority"] if a else "none", s["state"]
