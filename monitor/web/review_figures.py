"""Plotly figures for review: one session's whole chart, and a patient's course.

The session chart puts everything on one axis in minutes from infusion start.
HR and SpO2 (1 Hz, thousands of points) are WebGL lines; BP, alarms and events are
a few dozen SVG marks. Alarm intervals are shaded bands in their priority colour
and carry a symbol label, so colour is never the only cue. A capnograph's RR and EtCO2
are a second chart under it on the same time axis (`respiration_figure`).
"""
from __future__ import annotations

from typing import Optional

from ..formatting import fmt_day, fmt_duration
from ..model import LABELS, PRIORITIES, PRIORITY, RESPIRATION, UNCHARTED_EVENTS, priority_mark, struck_entries
from ..observations import SCALE_NAMES, scale_value
from ..session_review import SessionReview, worst_priority_segments
from . import trend

PRIORITY_COLORS = {p: PRIORITY[p].colour for p in PRIORITIES}
COLORS = trend.COLORS
COURSE_COLORS = ("#ff8a65", "#4fc3f7", "#39d353", "#d2a8ff", "#f5c518", "#36cfc9", "#ff7eb6", "#c9d1d9")
DARK = {"paper_bgcolor": "#0d1117", "plot_bgcolor": "#0d1117", "font": {"color": "#c9d1d9", "size": 13}}


LANE_H = 0.045  # one lane per priority along the top, most urgent highest
LANES = {p: (1.0 - LANE_H * (PRIORITY[p].rank + 1), 1.0 - LANE_H * PRIORITY[p].rank) for p in PRIORITIES}


def alarm_band(a: dict, x_end: float, bottom: float = 0.0) -> dict:
    """One alarm's interval in its priority's lane at the top of the plot (technical: a
    strip at the bottom of the vital signs, `bottom`), labelled with its symbol so colour is
    never the only cue."""
    technical = a["kind"] == "technical"
    end = a["end_min"] if a["end_min"] is not None else x_end
    y0, y1 = (bottom, bottom + 0.045) if technical else LANES[a["priority"]]
    return {"type": "rect", "xref": "x", "yref": "paper", "x0": a["start_min"], "x1": max(end, a["start_min"] + 0.05),
            "y0": y0, "y1": y1, "fillcolor": PRIORITY_COLORS[a["priority"]], "opacity": 0.75,
            "line": {"width": 0}, "layer": "below",
            "name": f"alarm:{a['rule']}:{a['priority']}" + (":technical" if technical else ""),
            "label": {"text": PRIORITY[a["priority"]].symbol, "textposition": "middle left", "padding": 2,
                      "font": {"size": 10, "color": "#0d1117"}}}


def worst_priority_shading(alarms: list[dict], x_end: float, bottom: float = 0.0) -> list[dict]:
    """Shading over the vital signs in the colour of the worst physiological alarm at each moment."""
    return [{"type": "rect", "xref": "x", "yref": "paper", "x0": lo, "x1": hi, "y0": bottom, "y1": 1,
             "fillcolor": PRIORITY_COLORS[p], "opacity": 0.13, "line": {"width": 0}, "layer": "below",
             "name": f"shade:{p}"} for lo, hi, p in worst_priority_segments(alarms, x_end)]


def session_figure(review: SessionReview, protocol) -> dict:
    s = review.session
    x_end = review.minutes(review.end_ts)
    data = []
    for p in ("hr", "spo2"):
        xs, ys = review.series(p)
        data.append({"type": "scattergl", "mode": "lines", "name": p.upper() if p == "hr" else "SpO₂",
                     "x": xs, "y": ys, "yaxis": "y2" if p == "spo2" else "y",
                     "line": {"color": COLORS[p], "width": 1.5}, "connectgaps": False,
                     "hovertemplate": ("%{y:.0f} /min" if p == "hr" else "%{y:.0f} %") + "<extra>" + p.upper()
                     + "</extra>"})
    for p, symbol in (("sbp", "triangle-down"), ("dbp", "triangle-up"), ("map", "circle")):
        xs, ys = review.series(p, manual=False)
        data.append({"type": "scatter", "mode": "markers", "name": p.upper(), "x": xs, "y": ys,
                     "marker": {"symbol": symbol, "size": 11 if p != "map" else 6, "color": COLORS.get(p, "#ffcc80")},
                     "visible": True if p != "map" else "legendonly",
                     "hovertemplate": "%{y:.0f} mmHg<extra>" + p.upper() + "</extra>"})
    for p, symbol in (("sbp", "triangle-down-open"), ("dbp", "triangle-up-open")):  # typed, not measured
        xs, ys = review.series(p, manual=True)
        if xs:
            data.append({"type": "scatter", "mode": "markers", "name": f"{p.upper()} manual", "x": xs, "y": ys,
                         "marker": {"symbol": symbol, "size": 12, "color": COLORS[p], "line": {"width": 2}},
                         "hovertemplate": "%{y:.0f} mmHg<extra>" + p.upper() + " manual cuff</extra>"})
    alarms = review.alarm_rows()
    data.append({"type": "scatter", "mode": "markers", "name": "Alarms", "yaxis": "y3",
                 "x": [a["start_min"] for a in alarms],
                 "y": [0.02 if a["kind"] == "technical" else sum(LANES[a["priority"]]) / 2 for a in alarms],
                 "marker": {"symbol": "diamond", "size": 10, "color": [PRIORITY_COLORS[a["priority"]] for a in alarms],
                            "line": {"width": 1, "color": "#0d1117"}},
                 "hovertext": [f"{priority_mark(a['priority'])} {a['rule']}: {a['message']} "
                               f"({fmt_duration(a['duration_s']) if a['duration_s'] is not None else 'active'})"
                               for a in alarms],
                 "hovertemplate": "%{hovertext}<extra></extra>"})
    events = [e for e in review.events if e["type"] not in UNCHARTED_EVENTS]
    data.append({"type": "scatter", "mode": "markers", "name": "Events", "yaxis": "y3",
                 "x": [review.minutes(e["ts"]) for e in events], "y": [0.9] * len(events),
                 "marker": {"symbol": "line-ns-open", "size": 14, "color": "#c9d1d9"},
                 "hovertext": [f"{trend.event_mark(e)[0]}"
                               + (f": {e['text']}" if e["text"] else "") + (f" ({e['author']})" if e["author"] else "")
                               for e in events],
                 "hovertemplate": "%{hovertext}<extra></extra>"})
    lane = observation_lane(review)
    bottom = OBS_LANE_TOP + 0.06 if lane else 0.0
    data += lane
    shapes = worst_priority_shading(alarms, x_end, bottom) + [alarm_band(a, x_end, bottom) for a in alarms]
    annotations = []
    for i, e in enumerate(events):
        label, color = trend.event_mark(e)
        x = review.minutes(e["ts"])
        shapes.append({"type": "line", "xref": "x", "yref": "paper", "x0": x, "x1": x, "y0": 0, "y1": 1,
                       "name": f"event:{e['type']}",
                       "line": {"color": color, "width": 2 if e["type"].startswith("infusion") else 1}})
        annotations.append({"x": x, "xref": "x", "y": 1.0 + 0.06 * (i % 2), "yref": "paper", "text": label,
                            "showarrow": False, "xanchor": "left", "yanchor": "bottom",
                            "font": {"color": color, "size": 12}})
    # the lines of this chart's axes: RR and EtCO2's are on the respiration chart (respiration_figure)
    shapes += [line for line in trend.limit_shapes(protocol, review.baselines) if line["yref"] in ("y", "y2")]
    x0 = min([review.minutes(s["started_at"])] + [t for t in data[0]["x"][:1]])
    layout = {
        **DARK, "uirevision": f"session-{review.id}", "height": 480, "hovermode": "closest",
        "margin": {"l": 60, "r": 60, "t": 50, "b": 50}, "dragmode": "zoom",
        "legend": {"orientation": "h", "y": -0.16},
        "xaxis": {"title": {"text": review.axis_title}, "range": [x0, x_end], "gridcolor": "#30363d",
                  "zeroline": True, "zerolinecolor": "#7ee787"},
        "yaxis": {"title": {"text": "HR /min · BP mmHg"}, "range": [30, 245], "gridcolor": "#30363d"},
        "yaxis2": {"title": {"text": "SpO₂ %"}, "range": [70, 106], "overlaying": "y", "side": "right",
                   "showgrid": False, "tickmode": "array", "tickvals": list(range(70, 101, 5))},
        "yaxis3": {"range": [0, 1], "overlaying": "y", "visible": False, "fixedrange": True},
        "shapes": shapes, "annotations": annotations,
    }
    if lane:  # the vital signs above, the sedation and dissociation scales in a lane below
        layout["yaxis"]["domain"] = [bottom, 1]
        layout["xaxis"]["anchor"] = "y4"  # the time axis under the lane
        layout["height"] += 120
        layout.update({
            "yaxis4": {"domain": [0, OBS_LANE_TOP], "anchor": "x", "range": [-0.5, 5.5], "title": {"text": "MOAA/S"},
                       "tickvals": list(range(6)), "gridcolor": "#30363d", "fixedrange": True},
            "yaxis5": {"overlaying": "y4", "side": "right", "range": [-1, 25], "title": {"text": "CADSS-6"},
                       "tickvals": [0, 8, 16, 24], "showgrid": False, "fixedrange": True},
        })
    return {"data": data, "layout": layout}


OBS_LANE_TOP = 0.2  # the observation lane's share of the plot's height, at the bottom


def observation_lane(review: SessionReview) -> list[dict]:
    """MOAA/S (0-5, left) and CADSS-6 total (0-24, right) as points in a lane under the vital
    signs; none when the session has neither (struck entries left out)."""
    struck = struck_entries(review.events)
    points: dict[str, list] = {"moaas": [], "cadss6": []}
    for e in review.events:
        value = scale_value(e)
        if value is not None and e.get("id") not in struck:
            points[value[0]].append((review.minutes(e["ts"]), value[1], e))
    if not any(points.values()):
        return []
    out = []
    for scale, axis, color, symbol in (("moaas", "y4", "#79c0ff", "circle"), ("cadss6", "y5", "#d2a8ff", "square")):
        pts = points[scale]
        out.append({"type": "scatter", "mode": "lines+markers+text", "name": SCALE_NAMES[scale], "yaxis": axis,
                    "x": [m for m, _, _ in pts], "y": [v for _, v, _ in pts], "text": [str(v) for _, v, _ in pts],
                    "textposition": "top center", "marker": {"symbol": symbol, "size": 9, "color": color},
                    "line": {"color": color, "width": 1, "dash": "dot"},
                    "hovertext": [f"{e['text']} ({e['author'] or '?'})" for _, _, e in pts],
                    "hovertemplate": "%{hovertext}<extra></extra>"})
    return out


def respiration_figure(review: SessionReview, protocol, main: dict) -> Optional[dict]:
    """RR and EtCO2 (a capnograph's, 1 Hz) under the session chart, on its time axis (`main`'s
    x range), with the respiratory alarms' bands and the limit lines; None when the session
    has no capnograph readings (a clinic without one sees no empty panel)."""
    series = {p: review.series(p) for p in RESPIRATION}
    if not any(xs for xs, _ in series.values()):
        return None
    x_end = review.minutes(review.end_ts)
    data = []
    for p in RESPIRATION:
        xs, ys = series[p]
        unit = "/min" if p == "rr" else "mmHg"
        data.append({"type": "scattergl", "mode": "lines", "name": "EtCO₂" if p == "etco2" else "RR",
                     "x": xs, "y": ys, "yaxis": "y2" if p == "etco2" else "y",
                     "line": {"color": COLORS[p], "width": 1.5}, "connectgaps": False,
                     "hovertemplate": f"%{{y:.0f}} {unit}<extra>{LABELS[p]}</extra>"})
    alarms = [a for a in review.alarm_rows() if a["parameter"] in RESPIRATION]
    shapes = worst_priority_shading(alarms, x_end) + [alarm_band(a, x_end) for a in alarms]
    shapes += [{**line, "yref": "y2" if line["yref"] == "y5" else "y"}
               for line in trend.limit_shapes(protocol, {}) if line["yref"] in ("y4", "y5")]
    layout = {
        **DARK, "uirevision": f"session-resp-{review.id}", "height": 240, "hovermode": "closest",
        "margin": {"l": 60, "r": 60, "t": 20, "b": 40}, "dragmode": "zoom",
        "legend": {"orientation": "h", "y": -0.3},
        "xaxis": {"title": {"text": review.axis_title}, "range": main["layout"]["xaxis"]["range"],
                  "gridcolor": "#30363d", "zeroline": True, "zerolinecolor": "#7ee787"},
        "yaxis": {"title": {"text": "RR /min"}, "range": [0, 40], "gridcolor": "#30363d"},
        "yaxis2": {"title": {"text": "EtCO₂ mmHg"}, "range": [0, 80], "overlaying": "y", "side": "right",
                   "showgrid": False},
        "shapes": shapes,
    }
    return {"data": data, "layout": layout}


# ------------------------------------------------------------------ a patient's course
def _label(i: int, row: dict) -> str:
    return f"#{i + 1} {fmt_day(row['started_at'])}"


def course_figure(rows: list[dict]) -> dict:
    """Peak SBP, peak HR, lowest SpO2 and alarm counts per session, side by side."""
    labels = [_label(i, r) for i, r in enumerate(rows)]
    panels = [("Peak SBP mmHg (grey: baseline)", [("peak_sbp", "peak", COLORS["sbp"]),
                                                   ("baseline_sbp", "baseline", "#8b949e")]),
              ("Peak HR /min (grey: baseline)", [("peak_hr", "peak", COLORS["hr"]),
                                                 ("baseline_hr", "baseline", "#8b949e")]),
              ("Lowest SpO₂ % (grey: baseline)", [("min_spo2", "lowest", COLORS["spo2"]),
                                                  ("baseline_spo2", "baseline", "#8b949e")]),
              ("Alarms: " + " · ".join(f"{PRIORITY[p].symbol} {p}" for p in PRIORITIES), [])]
    gap, n = 0.05, len(panels)
    width = (1 - gap * (n - 1)) / n
    data, layout = [], {**DARK, "height": 300, "margin": {"l": 40, "r": 20, "t": 40, "b": 60}, "showlegend": False,
                        "barmode": "stack", "annotations": [], "hovermode": "closest"}
    for k, (title, series) in enumerate(panels):
        ax = "" if k == 0 else str(k + 1)
        lo = k * (width + gap)
        layout[f"xaxis{ax}"] = {"domain": [lo, lo + width], "anchor": f"y{ax}", "type": "category",
                                "gridcolor": "#30363d", "tickangle": -30}
        layout[f"yaxis{ax}"] = {"anchor": f"x{ax}", "gridcolor": "#30363d",
                                "rangemode": "tozero" if k == 3 else "normal"}
        layout["annotations"].append({"text": title, "x": lo + width / 2, "xref": "paper", "y": 1.08, "yref": "paper",
                                      "showarrow": False, "xanchor": "center", "font": {"size": 13}})
        for col, what, color in series:
            data.append({"type": "scatter", "mode": "lines+markers" if what != "baseline" else "markers",
                         "name": f"{title}: {what}", "x": labels, "y": [r.get(col) for r in rows],
                         "xaxis": f"x{ax}", "yaxis": f"y{ax}", "marker": {"color": color, "size": 9},
                         "line": {"color": color}, "hovertemplate": f"{what} %{{y:.0f}}<extra>%{{x}}</extra>"})
        if k == 3:
            for p in PRIORITIES:
                data.append({"type": "bar", "name": f"{p} alarms", "x": labels,
                             "y": [r.get(f"alarms_{p}") or 0 for r in rows],
                             "xaxis": f"x{ax}", "yaxis": f"y{ax}", "marker": {"color": PRIORITY_COLORS[p]},
                             "hovertemplate": f"{PRIORITY[p].symbol} {p}: %{{y}}<extra>%{{x}}</extra>"})
    return {"data": data, "layout": layout}


def bp_overlay_figure(rows: list[dict], series: dict[int, list[dict]]) -> dict:
    """Every session's BP curve on one axis (minutes from infusion start), older ones paler."""
    data = []
    n = len(rows)
    for i, r in enumerate(rows):
        origin = r["infusion_start"] if r["infusion_start"] is not None else r["started_at"]
        alpha = 0.35 + 0.65 * (i + 1) / n if n else 1
        name = _label(i, r)
        color = COURSE_COLORS[i % len(COURSE_COLORS)]
        for p, dash in (("sbp", "solid"), ("dbp", "dot")):
            pts = [m for m in series.get(r["id"], []) if m["parameter"] == p]
            data.append({"type": "scatter", "mode": "lines+markers", "name": name, "legendgroup": name,
                         "showlegend": p == "sbp", "x": [round((m["ts"] - origin) / 60.0, 2) for m in pts],
                         "y": [m["value"] for m in pts], "opacity": alpha,
                         "line": {"dash": dash, "width": 2 if i == n - 1 else 1.5, "color": color},
                         "marker": {"size": 6, "symbol": "triangle-down" if p == "sbp" else "triangle-up",
                                    "color": color},
                         "hovertemplate": f"{name} {p.upper()} %{{y:.0f}} at %{{x:.0f}} min<extra></extra>"})
    layout = {**DARK, "height": 400, "margin": {"l": 60, "r": 20, "t": 30, "b": 50}, "hovermode": "closest",
              "xaxis": {"title": {"text": "minutes from infusion start"}, "gridcolor": "#30363d", "zeroline": True,
                        "zerolinecolor": "#7ee787"},
              "yaxis": {"title": {"text": "BP mmHg (SBP solid ▼, DBP dotted ▲)"}, "gridcolor": "#30363d"},
              "legend": {"title": {"text": "infusion"}}}
    return {"data": data, "layout": layout}
