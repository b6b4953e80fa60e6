"""The bedside trend figure: built once per session, then extended tick by tick.

`full_figure` draws the history when a page opens; `increment` turns the readings
and events that arrived since the cursor into a Dash Patch, so a tick's payload
depends on what is new, never on how long the session has run.

Charted events are a trace of vertical marks (hover shows the entry) plus a label
annotation each, both extended by the patch; limit and baseline lines are the
layout's shapes, replaced only when a baseline or a per-session limit changes.
"""
from __future__ import annotations

import time
from typing import Optional

from dash import Patch

from ..formatting import local_iso
from ..model import LABELS, MANUAL, OPERATOR_SYMBOLS, PRIORITY, UNCHARTED_EVENTS, event_label, is_valid

# Trace order is part of the incremental protocol: indices into figure["data"].
TRACES = ("hr", "spo2", "sbp", "dbp")
TRACE_INDEX = {p: i for i, p in enumerate(TRACES)}
EVENT_TRACE = len(TRACES)
COLORS = {"hr": "#39d353", "spo2": "#4fc3f7", "sbp": "#ff8a65", "dbp": "#ffb74d"}
# Event mark colours on the dark screen; the words are model.EVENT_LABELS.
EVENT_COLORS = {"infusion_start": "#7ee787", "infusion_stop": "#f0883e", "dose_change": "#d2a8ff",
                "medication": "#d2a8ff", "note": "#8b949e", "manual_vitals": "#ffb74d", "baseline_set": "#8b949e",
                "limit_change": "#8b949e", "aldrete": "#7ee787", "session_end": "#8b949e",
                "monitoring_interrupted": "#ff7b72"}
EVENT_COLOR = "#8b949e"


def event_mark(event_type: str) -> tuple[str, str]:
    """(label, colour) of an event's mark on the trend and the review chart."""
    return event_label(event_type), EVENT_COLORS.get(event_type, EVENT_COLOR)


def _columns(rows: list[dict]) -> dict:
    cols = {p: ([], []) for p in TRACES}
    for r in rows:
        p = r["parameter"]
        if p not in cols:
            continue
        xs, ys = cols[p]
        ok = is_valid(r["status"], r["value"])
        if p in ("hr", "spo2"):
            xs.append(local_iso(r["ts"]))
            ys.append(r["value"] if ok else None)  # a gap where the signal was flagged
        elif ok and r.get("source") != MANUAL:  # a typed BP is the "Manual obs" mark, not a cuff point
            xs.append(local_iso(r["ts"]))
            ys.append(r["value"])
    return cols


def limit_shapes(protocol, baselines: dict) -> list[dict]:
    """Horizontal lines: absolute limits (dashed) and baselines (dotted)."""
    shapes = []
    drawn = set()
    for rule in protocol.rules:
        for clause in rule.clauses:
            if clause.limit is None or rule.of_baseline or clause.parameter not in ("hr", "spo2", "sbp"):
                continue
            key = (clause.parameter, clause.limit)
            if key in drawn:
                continue
            drawn.add(key)
            color = PRIORITY[rule.priority].colour
            shapes.append(_hline(clause.limit, "y2" if clause.parameter == "spo2" else "y", color, "dash",
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
        label, color = event_mark(ev["type"])
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
    cols = _columns(rows)
    data = []
    for p in TRACES:
        xs, ys = cols[p]
        trace = {"type": "scattergl" if p in ("hr", "spo2") else "scatter", "name": p.upper(),
                 "x": xs, "y": ys, "line": {"color": COLORS[p], "width": 2}}
        if p == "spo2":
            trace["yaxis"] = "y2"
        if p in ("sbp", "dbp"):
            trace.update(mode="markers+lines", marker={"symbol": "triangle-down" if p == "sbp" else "triangle-up",
                                                       "size": 11, "color": COLORS[p]},
                         line={"color": COLORS[p], "width": 1, "dash": "dot"})
        else:
            trace["mode"] = "lines"
        data.append(trace)
    exs, eys, etexts, notes = event_marks(events)
    data.append({"type": "scatter", "name": "Charted", "x": exs, "y": eys, "text": etexts, "yaxis": "y3",
                 "mode": "lines", "hoverinfo": "text", "showlegend": False,
                 "line": {"color": "#d2a8ff", "width": 1.5}})
    layout = {
        "uirevision": "bedside", "paper_bgcolor": "#0d1117", "plot_bgcolor": "#0d1117",
        "font": {"color": "#c9d1d9", "size": 14}, "margin": {"l": 50, "r": 50, "t": 30, "b": 40},
        "legend": {"orientation": "h", "y": -0.12}, "height": 360,
        "xaxis": {"type": "date", "gridcolor": "#30363d",
                  **({} if rows else {"range": [local_iso(time.time() - 600), local_iso(time.time() + 60)]})},
        "yaxis": {"title": {"text": "HR /min · BP mmHg"}, "range": [30, 220], "gridcolor": "#30363d"},
        "yaxis2": {"title": {"text": "SpO2 %"}, "range": [70, 101], "overlaying": "y", "side": "right",
                   "showgrid": False, "tickmode": "linear", "tick0": 70, "dtick": 5},
        "yaxis3": {"range": [0, 1], "overlaying": "y", "visible": False, "fixedrange": True},
        "shapes": limit_shapes(protocol, baselines), "annotations": notes,
    }
    return {"data": data, "layout": layout}


def increment(rows: list[dict], events: Optional[list] = None,
              shapes: Optional[list] = None) -> Optional[Patch]:
    """A Patch appending only the new points and event marks (and new limit lines); None if nothing is new."""
    cols = _columns(rows)
    exs, eys, etexts, notes = event_marks(events or [])
    if not any(xs for xs, _ in cols.values()) and not exs and shapes is None:
        return None
    patch = Patch()
    for p, (xs, ys) in cols.items():
        if xs:
            i = TRACE_INDEX[p]
            patch["data"][i]["x"].extend(xs)
            patch["data"][i]["y"].extend(ys)
    if exs:
        patch["data"][EVENT_TRACE]["x"].extend(exs)
        patch["data"][EVENT_TRACE]["y"].extend(eys)
        patch["data"][EVENT_TRACE]["text"].extend(etexts)
        patch["layout"]["annotations"].extend(notes)
    if shapes is not None:
        patch["layout"]["shapes"] = shapes
    return patch
