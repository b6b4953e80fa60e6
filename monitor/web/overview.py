"""All chairs at a glance: one tile per chair, the worst active alarm on each."""
from __future__ import annotations

import time
from urllib.parse import quote

from dash import Input, Output, dcc, html

from ..store import queries
from .bedside import SYMBOLS, clock

RANK = {"high": 0, "medium": 1, "low": 2}


def layout(store, protocol, rest: str):
    return html.Div(className="overview", children=[
        dcc.Interval(id="ov-tick", interval=1000),
        html.H1("All chairs", className="page-title"),
        html.Div(id="ov-tiles", className="tiles", children=tiles(store)),
    ])


def register(app, store, protocol) -> None:
    @app.callback(Output("ov-tiles", "children"), Input("ov-tick", "n_intervals"))
    def refresh(_n):
        return tiles(store)


def chair_summary(store, chair: str) -> dict:
    """What a tile shows, from indexed lookups only."""
    s = queries.current_session(store, chair)
    out = {"chair": chair, "session": s, "values": {}, "alarm": None, "alarms": 0}
    if s is None:
        return out
    for p in ("hr", "spo2"):
        r = queries.latest(store, s["id"], p)
        if r:
            out["values"][p] = r
    for p in ("sbp", "dbp"):
        r = store.one("SELECT ts, value FROM readings WHERE session_id = ? AND parameter = ? AND status = 'ok' "
                      "ORDER BY ts DESC LIMIT 1", (s["id"], p))
        if r:
            out["values"][p] = r
    board = queries.alarm_board(store, s["id"])
    out["alarms"] = len(board)
    if board:
        out["alarm"] = min(board, key=lambda a: (RANK[a["priority"]], -a["started_at"]))
    return out


def tiles(store):
    now = time.time()
    chairs = queries.chairs(store)
    if not chairs:
        return [html.P("No chairs yet: start `infusion-monitor run` or `acquire`.")]
    return [_tile(chair_summary(store, c), now) for c in chairs]


def _tile(info: dict, now: float):
    s, v, a = info["session"], info["values"], info["alarm"]
    cls = "tile" + (f" tile-alarm tile-{a['priority']}" if a else "")
    head = [html.Span(f"Chair {info['chair']}", className="tile-chair")]
    if s is None or s["state"] == "ended":
        head.append(html.Span("free", className="phase phase-none"))
        return html.A(href=f"/chair/{quote(info['chair'])}", className=cls, children=[html.Div(head)])
    latest = max([r["ts"] for r in v.values()], default=now)
    now = max(now, latest)
    head += [html.Span(s["patient_ref"] or "", className="tile-patient"),
             html.Span(s["state"].upper(), className=f"phase phase-{s['state']}")]
    if s["state"] == "infusion" and s["infusion_start"]:
        head.append(html.Span(clock(now - s["infusion_start"]), className="tile-elapsed"))

    def num(p):
        r = v.get(p)
        return "--" if r is None or r["value"] is None or now - r["ts"] > 10 else f"{r['value']:.0f}"

    bp = f"{v['sbp']['value']:.0f}/{v['dbp']['value']:.0f}" if "sbp" in v and "dbp" in v else "--/--"
    body = html.Div(className="tile-nums", children=[
        html.Span(["HR ", html.B(num("hr"))]), html.Span(["SpO₂ ", html.B(num("spo2"))]),
        html.Span(["BP ", html.B(bp)])])
    alarm = html.Div(className="tile-alarm-text", children=(
        [html.Span(SYMBOLS[a["priority"]] + " ", className="alarm-symbol"), a["message"]] if a else "no active alarm"))
    return html.A(href=f"/chair/{quote(info['chair'])}", className=cls, children=[html.Div(head), body, alarm],
                  **({"data-priority": a["priority"]} if a else {}))
