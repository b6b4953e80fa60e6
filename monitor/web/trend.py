"""The bedside trend: the figure is sent once per page or session, then extended in place.

A dcc.Graph whose `figure` prop changes is re-plotted whole (Plotly.react), so a figure
that grew every second cost the browser more every minute. Here the server sends the
figure only on a page's first tick (`start`): the newest `WINDOW_S` of HR, SpO2, RR and EtCO2 at
full resolution and everything older DECIMATED, each `BUCKET_S` minute kept as its
lowest and highest reading (their true values at their true times, so a desaturation or
a peak is never hidden). After that each tick sends only what is new (`increment`) to a
small dcc.Store, and `assets/trend-extend.js` appends it in place with Plotly's
extendTraces, moving each minute that leaves the window into the decimated trace. So the
browser redraws a figure whose size is bounded by the window, not by the session.

Decimation is decided here and only here (`_fold`, `decimated`): the server folds each
reading into its minute's bucket as it arrives (the open bucket per trace travels in the
page's bed-state) and sends a closed minute's decimated points with the tick that closes
it; the browser keeps them aside until the window boundary passes that minute.

Charted events are a trace of vertical marks (hover shows the entry) plus a label
annotation each, both extended by the tick; limit and baseline lines are the layout's
shapes, replaced (Plotly.relayout) only when a baseline or a per-session limit changes.
"""
from __future__ import annotations

import time
from typing import Optional

from dash import ClientsideFunction, Input, Output, State, dcc

from ..formatting import local_iso
from ..model import LABELS, MANUAL, OPERATOR_SYMBOLS, PRIORITY, UNCHARTED_EVENTS, event_label, is_valid
from ..observations import short_label

# Trace order is part of the protocol with assets/trend-extend.js: indices into figure["data"].
# 0-3 the vital signs, 4 the event marks, 5-6 HR and SpO2's older part; the capnograph's
# (respiration, added later) come after them, so the first seven never moved: 7-8 RR and
# EtCO2, 9-10 their older part. The script learns which trace's older part is which from
# the figure's meta, so it needs no change when a windowed line is added.
TRACE_INDEX = {"hr": 0, "spo2": 1, "sbp": 2, "dbp": 3, "rr": 7, "etco2": 8}
TRACES = tuple(TRACE_INDEX)  # the parameters drawn, in trace order
EVENT_TRACE = 4
WINDOWED = ("hr", "spo2", "rr", "etco2")  # 1 Hz lines; a BP is one point per cuff cycle and stays whole
HISTORY_TRACE = {"hr": 5, "spo2": 6, "rr": 9, "etco2": 10}  # the windowed lines' decimated older part
TRACE_PARAMETER = {i: p for p, i in TRACE_INDEX.items()}
WINDOW_S = 30 * 60  # the newest half hour at full resolution
BUCKET_S = 60  # older minutes: lowest and highest reading of each
COLORS = {"hr": "#39d353", "spo2": "#4fc3f7", "sbp": "#ff8a65", "dbp": "#ffb74d", "rr": "#e3b341",
          "etco2": "#f778ba"}
# The y axis of each parameter: HR and BP share the upper panel's left axis, SpO2 its right;
# RR and EtCO2 have the lower panel (RR left, EtCO2 right).
YAXIS = {"hr": "y", "sbp": "y", "dbp": "y", "spo2": "y2", "rr": "y4", "etco2": "y5"}
UPPER, LOWER = [0.36, 1.0], [0.0, 0.27]  # the two panels' vertical domains (fractions of the plot)
# Event mark colours on the dark screen; the words are model.EVENT_LABELS.
EVENT_COLORS = {"infusion_start": "#7ee787", "infusion_stop": "#f0883e", "dose_change": "#d2a8ff",
                "medication": "#d2a8ff", "note": "#8b949e", "manual_vitals": "#ffb74d", "baseline_set": "#8b949e",
                "limit_change": "#8b949e", "aldrete": "#7ee787", "session_end": "#8b949e",
                "monitoring_interrupted": "#ff7b72", "moaas": "#79c0ff", "cadss6": "#d2a8ff",
                "side_effect": "#ffa657", "intervention": "#7ee787"}
EVENT_COLOR = "#8b949e"


def event_mark(event: dict) -> tuple[str, str]:
    """(label, colour) of an event's mark on the trend and the review chart: an observation's
    label carries its value ("MOAA/S 3", observations.short_label)."""
    label = short_label(event) or event_label(event["type"])
    return label, EVENT_COLORS.get(event["type"], EVENT_COLOR)


def _points(rows: list[dict]) -> dict[str, list[tuple]]:
    """(ts, value) per trace in row order; a flagged HR/SpO2 is (ts, None), a gap in the line."""
    points: dict[str, list[tuple]] = {p: [] for p in TRACES}
    for r in rows:
        p = r["parameter"]
        if p not in points:
            continue
        ok = is_valid(r["status"], r["value"])
        if p in WINDOWED:
            points[p].append((r["ts"], r["value"] if ok else None))  # a gap where the signal was flagged
        elif ok and r.get("source") != MANUAL:  # a typed BP is the "Manual obs" mark, not a cuff point
            points[p].append((r["ts"], r["value"]))
    return points


def _name(p: str) -> str:
    """A trace's legend name: 'HR', 'SPO2' (as they always were), 'RR', 'EtCO2'."""
    return LABELS[p] if p in ("rr", "etco2") else p.upper()


def _xy(points) -> list[list]:
    return [[local_iso(t) for t, _ in points], [v for _, v in points]]


# ----------------------------------------------------------------- decimation
def _fold(bucket: Optional[dict], points: list[tuple]) -> tuple[list[dict], Optional[dict]]:
    """Fold readings, in the order they are charted, into minute buckets: (closed buckets, open one).

    A reading opens a new bucket when it is at or past the end of the open one; an earlier
    (late) reading joins the open bucket, so a bucket always holds the `n` consecutive
    points of the full-resolution trace that the browser later takes out of the window.
    """
    closed = []
    for ts, v in points:
        if bucket is None or ts >= bucket["start"] + BUCKET_S:
            if bucket is not None:
                closed.append(bucket)
            bucket = {"start": ts - ts % BUCKET_S, "n": 0, "lo": None, "hi": None, "gap": None}
        bucket["n"] += 1
        if v is None:
            if bucket["gap"] is None:
                bucket["gap"] = ts
        else:
            if bucket["lo"] is None or v < bucket["lo"][1]:
                bucket["lo"] = [ts, v]
            if bucket["hi"] is None or v > bucket["hi"][1]:
                bucket["hi"] = [ts, v]
    return closed, bucket


def decimated(bucket: dict) -> list[tuple]:
    """A minute as its lowest and highest valid reading (true values at their true times) and,
    if the signal was flagged in it, a gap where that began; in time order."""
    points = {tuple(p) for p in (bucket["lo"], bucket["hi"]) if p is not None}
    if bucket["gap"] is not None:
        points.add((bucket["gap"], None))
    return sorted(points, key=lambda p: (p[0], p[1] is None))


def _closed_json(bucket: dict) -> dict:
    """A closed minute as the browser keeps it until it leaves the window."""
    x, y = _xy(decimated(bucket))
    return {"end": bucket["start"] + BUCKET_S, "n": bucket["n"], "x": x, "y": y}


def window_start(newest: Optional[float]) -> Optional[float]:
    """Where full resolution begins: minutes ending at or before it are shown decimated."""
    return None if newest is None else newest - newest % BUCKET_S - WINDOW_S


# ----------------------------------------------------------------- the figure
def limit_shapes(protocol, baselines: dict) -> list[dict]:
    """Horizontal lines: absolute limits (dashed) and baselines (dotted)."""
    shapes = []
    drawn = set()
    for rule in protocol.rules:
        for clause in rule.clauses:
            if clause.limit is None or rule.of_baseline or clause.parameter not in ("hr", "spo2", "sbp", "rr", "etco2"):
                continue
            key = (clause.parameter, clause.limit)
            if key in drawn:
                continue
            drawn.add(key)
            color = PRIORITY[rule.priority].colour
            shapes.append(_hline(clause.limit, YAXIS[clause.parameter], color, "dash",
                                 f"{PRIORITY[rule.priority].symbol} {LABELS.get(clause.parameter, clause.parameter)} "
                                 f"{OPERATOR_SYMBOLS[clause.op]} {clause.limit:g}"))
    for p, b in baselines.items():
        if p in ("hr", "spo2", "sbp", "dbp"):
            shapes.append(_hline(b["value"], "y2" if p == "spo2" else "y", COLORS[p], "dot",
                                 f"baseline {p.upper()} {b['value']:g}"))
    return shapes


def _hline(y: float, yref: str, color: str, dash: str, name: str) -> dict:
    """A labelled horizontal line: a nurse must see which limit a dashed line is."""
    return {"type": "line", "xref": "paper", "x0": 0, "x1": 1, "yref": yref, "y0": y, "y1": y,
            "line": {"color": color, "width": 1, "dash": dash}, "name": name, "opacity": 0.8,
            "label": {"text": name, "textposition": "end", "yanchor": "bottom", "font": {"size": 10, "color": color}}}


def label_height(ev: dict) -> float:
    """Stagger labels over four heights so events close in time stay readable."""
    return 0.99 - 0.07 * ((ev.get("id") or 0) % 4)


def event_marks(events: list[dict]) -> tuple[list, list, list, list]:
    """(xs, ys, hover texts, label annotations) for the event trace, in event order."""
    xs, ys, texts, notes = [], [], [], []
    for ev in events:
        if ev["type"] in UNCHARTED_EVENTS:
            continue
        label, color = event_mark(ev)
        x = local_iso(ev["ts"])
        hover = f"{label}: {ev.get('text') or ''}".rstrip(": ") + (f" ({ev['author']})" if ev.get("author") else "")
        xs += [x, x, None]
        ys += [0, 1, None]
        texts += [hover, hover, None]
        notes.append({"x": x, "xref": "x", "y": label_height(ev), "yref": "paper", "text": label,
                      "showarrow": False, "font": {"color": color, "size": 13}, "xanchor": "left",
                      "yanchor": "top", "bgcolor": "rgba(13,17,23,0.8)", "textangle": 0, "hovertext": hover})
    return xs, ys, texts, notes


def full_figure(rows: list[dict], events: list[dict], protocol, baselines: dict) -> dict:
    """The figure a page opens with (see `start`), for callers that keep no trend state."""
    return start(rows, events, protocol, baselines, "")[0]


def start(rows: list[dict], events: list[dict], protocol, baselines: dict, figure_id: str) -> tuple[dict, dict]:
    """(figure, trend state): the whole session, decimated before the window, and the state
    `increment` continues from (kept in the page's bed-state; a few hundred bytes).

    `figure_id` names this figure: each increment says which figure it extends, so the
    browser never applies one to another session's figure."""
    points = _points(rows)
    newest = max((points[p][-1][0] for p in WINDOWED if points[p]), default=None)
    boundary = window_start(newest)
    history, pending, open_buckets, shown = {}, {}, {}, {}
    for p in WINDOWED:
        closed, open_buckets[p] = _fold(None, points[p])
        retired = 0
        while retired < len(closed) and closed[retired]["start"] + BUCKET_S <= boundary:
            retired += 1
        history[p] = _xy([pt for b in closed[:retired] for pt in decimated(b)])
        pending[str(TRACE_INDEX[p])] = [_closed_json(b) for b in closed[retired:]]
        shown[p] = points[p][sum(b["n"] for b in closed[:retired]):]
    data: list = [None] * (max(HISTORY_TRACE.values()) + 1)
    for p in TRACES:
        xs, ys = _xy(shown.get(p, points[p]))
        trace = {"type": "scattergl", "name": _name(p), "legendgroup": p, "x": xs, "y": ys,
                 "line": {"color": COLORS[p], "width": 2}}
        if YAXIS[p] != "y":
            trace["yaxis"] = YAXIS[p]
        if p in ("sbp", "dbp"):
            trace.update(mode="markers+lines", marker={"symbol": "triangle-down" if p == "sbp" else "triangle-up",
                                                       "size": 11, "color": COLORS[p]},
                         line={"color": COLORS[p], "width": 1, "dash": "dot"})
        else:
            trace["mode"] = "lines"
        data[TRACE_INDEX[p]] = trace
    exs, eys, etexts, notes = event_marks(events)
    data[EVENT_TRACE] = {"type": "scattergl", "name": "Charted", "x": exs, "y": eys, "text": etexts, "yaxis": "y3",
                         "mode": "lines", "hoverinfo": "text", "showlegend": False,
                         "line": {"color": "#d2a8ff", "width": 1.5}}
    for p in WINDOWED:  # the decimated older part: same colour and legend entry as its live line
        data[HISTORY_TRACE[p]] = {"type": "scattergl", "name": f"{_name(p)} (lowest and highest of each minute)",
                                  "legendgroup": p, "showlegend": False, "x": history[p][0], "y": history[p][1],
                                  "mode": "lines", "line": {"color": COLORS[p], "width": 1.5},
                                  **({"yaxis": YAXIS[p]} if YAXIS[p] != "y" else {})}
    layout = {
        "uirevision": "bedside", "paper_bgcolor": "#0d1117", "plot_bgcolor": "#0d1117",
        "font": {"color": "#c9d1d9", "size": 14}, "margin": {"l": 50, "r": 50, "t": 30, "b": 40},
        "legend": {"orientation": "h", "y": -0.12}, "height": 460,
        "xaxis": {"type": "date", "gridcolor": "#30363d", "anchor": "y4",  # the time axis under the lower panel
                  **({} if rows else {"range": [local_iso(time.time() - 600), local_iso(time.time() + 60)]})},
        "yaxis": {"title": {"text": "HR /min · BP mmHg"}, "range": [30, 220], "gridcolor": "#30363d",
                  "domain": UPPER},
        "yaxis2": {"title": {"text": "SpO2 %"}, "range": [70, 101], "overlaying": "y", "side": "right",
                   "showgrid": False, "tickmode": "linear", "tick0": 70, "dtick": 5},
        "yaxis3": {"range": [0, 1], "overlaying": "y", "visible": False, "fixedrange": True},
        "yaxis4": {"title": {"text": "RR /min"}, "range": [0, 40], "gridcolor": "#30363d", "domain": LOWER,
                   "anchor": "x"},
        "yaxis5": {"title": {"text": "EtCO2 mmHg"}, "range": [0, 80], "overlaying": "y4", "side": "right",
                   "showgrid": False, "anchor": "x"},
        "shapes": limit_shapes(protocol, baselines), "annotations": notes,
        # read by assets/trend-extend.js: which figure this is, where each live line's older part
        # goes, and the closed minutes still inside the window
        "meta": {"trend": {"id": figure_id, "events": EVENT_TRACE, "pending": pending,
                           "history": {str(TRACE_INDEX[p]): HISTORY_TRACE[p] for p in WINDOWED}}},
    }
    state = {"id": figure_id, "seq": 0, "newest": newest, "open": open_buckets}
    return {"data": data, "layout": layout}, state


def increment(state: dict, rows: list[dict], events: Optional[list] = None,
              shapes: Optional[list] = None) -> Optional[dict]:
    """What the browser appends to the figure `state` continues (None if nothing is new):
    new points per trace, the minutes this closed (decimated), where the window now starts,
    new event marks and labels, and new limit lines. Updates `state` in place."""
    points = _points(rows)
    exs, eys, etexts, notes = event_marks(events or [])
    if not any(points.values()) and not exs and shapes is None:
        return None
    state["seq"] += 1
    message: dict = {"base": state["id"], "seq": state["seq"], "extend": {}, "closed": {}}
    for p in TRACES:
        if points[p]:
            message["extend"][str(TRACE_INDEX[p])] = _xy(points[p])
    for p in WINDOWED:
        if points[p]:
            closed, state["open"][p] = _fold(state["open"].get(p), points[p])
            if closed:
                message["closed"][str(TRACE_INDEX[p])] = [_closed_json(b) for b in closed]
            state["newest"] = max(state["newest"] or points[p][-1][0], max(t for t, _ in points[p]))
    message["boundary"] = window_start(state["newest"])
    if exs:
        message["marks"], message["notes"] = [exs, eys, etexts], notes
    if shapes is not None:
        message["shapes"] = shapes
    return message


# ----------------------------------------------------------------- the page's parts
def stores() -> list:
    """The page's store the tick writes increments to, and the one the browser answers with
    the last increment it applied (tests and the benchmark read it)."""
    return [dcc.Store(id="bed-trend-new"), dcc.Store(id="bed-trend-applied")]


def register(app) -> None:
    """Apply each increment in the browser (assets/trend-extend.js), never through the figure prop."""
    app.clientside_callback(ClientsideFunction("infusionTrend", "apply"), Output("bed-trend-applied", "data"),
                            Input("bed-trend-new", "data"), State("bed-state", "data"), prevent_initial_call=True)
