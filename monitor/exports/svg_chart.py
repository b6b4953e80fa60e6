"""The session chart as inline SVG for the self-contained report.

Hand-made rather than plotly: a few tens of kilobytes, no script, prints crisply,
and shows the same layers as the page: HR and SpO2 lines, BP measurements,
alarm intervals shaded by priority, events, baselines and limits; and, for a session with
a capnograph, a second smaller chart of RR and EtCO2 on the same minutes (`respiration_svg`).
"""
from __future__ import annotations

from html import escape
from typing import Optional

from ..model import LABELS, PRIORITIES, PRIORITY, RESPIRATION, UNCHARTED_EVENTS, event_label
from ..observations import short_label
from ..session_review import SessionReview, worst_priority_segments

W, H = 1000, 380
LEFT, RIGHT, TOP, BOTTOM = 52, 48, 34, 40
Y_RANGE = (30.0, 240.0)  # HR /min and BP mmHg share the left axis
Y2_RANGE = (70.0, 104.0)  # SpO2 % on the right
COLORS = {"hr": "#1b7f3b", "spo2": "#0b6aa8", "sbp": "#c2410c", "dbp": "#b45309", "map": "#92400e",
          "rr": "#8a6d00", "etco2": "#a8326e"}
RESP_H = 190
RESP_RANGE = {"rr": (0.0, 40.0), "etco2": (0.0, 80.0)}  # RR /min on the left, EtCO2 mmHg on the right
BAND = {p: PRIORITY[p].print_colour for p in PRIORITIES}
LANE_H = 10


def protocol_limits(protocol) -> list[tuple[str, float, str]]:
    """(parameter, limit, priority) of each absolute limit line, from the loaded profile."""
    if protocol is None:
        raise ValueError("the chart's limit lines come from the loaded protocol profile; none was given")
    out, seen = [], set()
    for rule in protocol.rules:
        for c in rule.clauses:
            if c.limit is None or rule.of_baseline or c.parameter not in ("hr", "spo2", "sbp", "rr", "etco2"):
                continue
            if (c.parameter, c.limit) not in seen:
                seen.add((c.parameter, c.limit))
                out.append((c.parameter, c.limit, rule.priority))
    return out


class _Axes:
    def __init__(self, x0: float, x1: float):
        self.x0, self.x1 = x0, max(x1, x0 + 1.0)

    def x(self, m: float) -> float:
        return LEFT + (m - self.x0) / (self.x1 - self.x0) * (W - LEFT - RIGHT)

    @staticmethod
    def y(v: float, right: bool = False) -> float:
        lo, hi = Y2_RANGE if right else Y_RANGE
        v = min(max(v, lo), hi)
        return TOP + (hi - v) / (hi - lo) * (H - TOP - BOTTOM)


def _polylines(ax: _Axes, xs: list, ys: list, right: bool, color: str, cls: str) -> list[str]:
    """One polyline per unbroken run (a flagged reading is a gap)."""
    out, run = [], []
    for x, y in zip(xs, ys):
        if y is None:
            if len(run) > 1:
                out.append(run)
            run = []
        else:
            run.append(f"{ax.x(x):.1f},{ax.y(y, right):.1f}")
    if len(run) > 1:
        out.append(run)
    return [f'<polyline class="{cls}" fill="none" stroke="{color}" stroke-width="1.4" points="{" ".join(r)}"/>'
            for r in out]


def _ticks(lo: float, hi: float, step: float) -> list[float]:
    start = (int(lo // step) + (0 if lo % step == 0 else 1)) * step
    out, t = [], start
    while t <= hi + 1e-9:
        out.append(t)
        t += step
    return out


def session_svg(review: SessionReview, protocol) -> str:
    s = review.session
    hr_x, hr_y = review.series("hr")
    sp_x, sp_y = review.series("spo2")
    first = [review.minutes(s["started_at"])]
    x0 = min(first + hr_x[:1] + sp_x[:1])
    ax = _Axes(x0, review.minutes(review.end_ts))
    parts = [f'<svg class="chart" viewBox="0 0 {W} {H}" width="100%" role="img" '
             f'aria-label="Session chart: HR, SpO2, BP, alarms and events by minute">',
             "<title>Session chart</title>",
             f'<rect x="{LEFT}" y="{TOP}" width="{W - LEFT - RIGHT}" height="{H - TOP - BOTTOM}" class="plot-bg"/>']
    # alarms: full-height shading in the worst active priority, then one bar per alarm in
    # its priority's lane along the top (technical: a strip along the bottom), with its symbol
    rows = review.alarm_rows()
    plot_h = H - TOP - BOTTOM
    for lo, hi, p in worst_priority_segments(rows, ax.x1):
        parts.append(f'<rect class="shade shade-{p}" x="{ax.x(lo):.1f}" y="{TOP}" '
                     f'width="{max(ax.x(hi) - ax.x(lo), 1.0):.1f}" height="{plot_h}" fill="{BAND[p]}" '
                     f'fill-opacity="0.14"/>')
    for a in rows:
        start = ax.x(a["start_min"])
        end = ax.x(a["end_min"] if a["end_min"] is not None else ax.x1)
        tech = a["kind"] == "technical"
        y0 = H - BOTTOM - LANE_H if tech else TOP + LANE_H * PRIORITY[a["priority"]].rank
        parts.append(_band(a, start, end, y0, LANE_H, y0 + LANE_H - 2, " band-technical" if tech else ""))
    # grid and axes
    for t in _ticks(ax.x0, ax.x1, _step(ax.x1 - ax.x0)):
        x = ax.x(t)
        parts.append(f'<line class="grid" x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{H - BOTTOM}"/>'
                     f'<text class="tick" x="{x:.1f}" y="{H - BOTTOM + 14}" text-anchor="middle">{t:g}</text>')
    for v in _ticks(40, 220, 20):
        y = ax.y(v)
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{W - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
                     f'<text class="tick" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{v:g}</text>')
    for v in _ticks(Y2_RANGE[0], 100, 5):
        parts.append(f'<text class="tick tick-spo2" x="{W - RIGHT + 6}" y="{ax.y(v, True) + 4:.1f}">{v:g}</text>')
    parts.append(f'<text class="axis-title" x="{(LEFT + W - RIGHT) / 2}" y="{H - 6}" text-anchor="middle">'
                 f'{escape(review.axis_title)}</text>'
                 f'<text class="axis-title" x="12" y="{TOP - 12}">HR /min · BP mmHg</text>'
                 f'<text class="axis-title" x="{W - 8}" y="{TOP - 12}" text-anchor="end">SpO₂ %</text>')
    # limits (dashed, by priority colour) and baselines (dotted)
    for parameter, limit, priority in protocol_limits(protocol):
        if parameter in RESPIRATION:
            continue
        y = ax.y(limit, parameter == "spo2")
        parts.append(f'<line class="limit" x1="{LEFT}" x2="{W - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
                     f'stroke="{BAND[priority]}" stroke-dasharray="6 4"><title>{parameter.upper()} limit {limit:g}'
                     f'</title></line>')
    for p, b in review.baselines.items():
        if p in ("hr", "spo2", "sbp", "dbp"):
            y = ax.y(b["value"], p == "spo2")
            parts.append(f'<line class="baseline" x1="{LEFT}" x2="{W - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
                         f'stroke="{COLORS[p]}" stroke-dasharray="2 3"><title>baseline {p.upper()} '
                         f'{b["value"]:g}</title></line>')
    parts += _polylines(ax, hr_x, hr_y, False, COLORS["hr"], "line-hr")
    parts += _polylines(ax, sp_x, sp_y, True, COLORS["spo2"], "line-spo2")
    # BP: a bar from DBP to SBP with a mark at each end
    sbp = dict(zip(*review.series("sbp")))
    dbp = dict(zip(*review.series("dbp")))
    for m in sorted(set(sbp) | set(dbp)):
        x = ax.x(m)
        if m in sbp and m in dbp:
            parts.append(f'<line class="bp-bar" x1="{x:.1f}" x2="{x:.1f}" y1="{ax.y(sbp[m]):.1f}" '
                         f'y2="{ax.y(dbp[m]):.1f}" stroke="{COLORS["sbp"]}"/>')
        for p, val, sym in (("sbp", sbp.get(m), "▼"), ("dbp", dbp.get(m), "▲")):
            if val is not None:
                parts.append(f'<text class="bp-mark bp-{p}" x="{x:.1f}" y="{ax.y(val) + 4:.1f}" text-anchor="middle" '
                             f'style="fill: {COLORS[p]}">{sym}'
                             f'<title>{p.upper()} {val:g} at {m:+.1f} min</title></text>')
    # events: a line and a label
    for i, e in enumerate(e for e in review.events if e["type"] not in UNCHARTED_EVENTS):
        m = review.minutes(e["ts"])
        if m is None or not ax.x0 <= m <= ax.x1:
            continue
        x = ax.x(m)
        label = short_label(e) or event_label(e["type"])  # an observation's mark says its value
        parts.append(f'<line class="event" x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{H - BOTTOM}"/>'
                     f'<text class="event-label" x="{x + 3:.1f}" y="{TOP - 2 - 11 * (i % 2)}">{escape(label)}'
                     f'<title>{escape(label)} {escape(e["text"] or "")}</title></text>')
    parts.append(_legend())
    parts.append("</svg>")
    return "\n".join(parts)


def respiration_svg(review: SessionReview, protocol) -> str:
    """RR and EtCO2 under the main chart, on its minutes, with the respiratory alarms' bands and
    limit lines; "" for a session without capnograph readings."""
    series = {p: review.series(p) for p in RESPIRATION}
    if not any(xs for xs, _ in series.values()):
        return ""
    s = review.session
    hr_x, sp_x = review.series("hr")[0], review.series("spo2")[0]
    ax = _Axes(min([review.minutes(s["started_at"])] + hr_x[:1] + sp_x[:1]), review.minutes(review.end_ts))
    top = 16  # the plot runs from top to RESP_H - 30; x as in the main chart

    def y(p: str, v: float) -> float:
        lo, hi = RESP_RANGE[p]
        return top + (hi - min(max(v, lo), hi)) / (hi - lo) * (RESP_H - 30 - top)

    plot_h = RESP_H - 30 - top
    parts = [f'<svg class="chart chart-resp" viewBox="0 0 {W} {RESP_H}" width="100%" role="img" '
             f'aria-label="Respiration: RR and EtCO2 by minute">', "<title>Respiration</title>",
             f'<rect x="{LEFT}" y="{top}" width="{W - LEFT - RIGHT}" height="{plot_h}" class="plot-bg"/>']
    rows = [a for a in review.alarm_rows() if a["parameter"] in RESPIRATION]
    for a in rows:
        x0, x1 = ax.x(a["start_min"]), ax.x(a["end_min"] if a["end_min"] is not None else ax.x1)
        parts.append(_band(a, x0, x1, top, plot_h, top + 10, opacity=0.18))
    for t in _ticks(ax.x0, ax.x1, _step(ax.x1 - ax.x0)):
        x = ax.x(t)
        parts.append(f'<line class="grid" x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{top + plot_h}"/>'
                     f'<text class="tick" x="{x:.1f}" y="{top + plot_h + 14}" text-anchor="middle">{t:g}</text>')
    for v in _ticks(0, 40, 10):
        parts.append(f'<text class="tick tick-rr" x="{LEFT - 6}" y="{y("rr", v) + 4:.1f}" text-anchor="end">{v:g}</text>')
    for v in _ticks(0, 80, 20):
        parts.append(f'<text class="tick tick-etco2" x="{W - RIGHT + 6}" y="{y("etco2", v) + 4:.1f}">{v:g}</text>')
    parts.append('<g class="legend">' + "".join(
        f'<rect x="{x}" y="4" width="12" height="8" fill="{COLORS[p]}"/><text x="{x + 16}" y="12">{text}</text>'
        for x, p, text in ((LEFT + 190, "rr", "RR (left axis)"), (LEFT + 330, "etco2", "EtCO₂ (right axis)")))
        + "</g>")
    parts.append(f'<text class="axis-title" x="12" y="{top - 4}" fill="{COLORS["rr"]}">RR /min</text>'
                 f'<text class="axis-title" x="{W - 8}" y="{top - 4}" text-anchor="end" fill="{COLORS["etco2"]}">'
                 f'EtCO₂ mmHg</text>')
    for parameter, limit, priority in protocol_limits(protocol):
        if parameter in RESPIRATION:
            ly = y(parameter, limit)
            parts.append(f'<line class="limit" x1="{LEFT}" x2="{W - RIGHT}" y1="{ly:.1f}" y2="{ly:.1f}" '
                         f'stroke="{BAND[priority]}" stroke-dasharray="6 4"><title>{LABELS[parameter]} limit '
                         f'{limit:g}</title></line>')
    for p in RESPIRATION:
        xs, ys = series[p]
        pts, runs = [], []
        for xm, v in zip(xs, ys):
            if v is None:
                runs.append(pts)
                pts = []
            else:
                pts.append(f"{ax.x(xm):.1f},{y(p, v):.1f}")
        runs.append(pts)
        parts += [f'<polyline class="line-{p}" fill="none" stroke="{COLORS[p]}" stroke-width="1.2" '
                  f'points="{" ".join(r)}"/>' for r in runs if len(r) > 1]
    parts.append("</svg>")
    return "\n".join(parts)


def _band(a: dict, x0: float, x1: float, y: float, height: float, symbol_y: float, extra_class: str = "",
          opacity: Optional[float] = None) -> str:
    """One alarm's interval as a band in its priority's colour, with its symbol (never colour
    alone) and its message on hover."""
    p = PRIORITY[a["priority"]]
    fill = f' fill-opacity="{opacity}"' if opacity is not None else ""
    return (f'<g class="band band-{a["priority"]}{extra_class}" data-rule="{escape(a["rule"])}">'
            f'<rect x="{x0:.1f}" y="{y}" width="{max(x1 - x0, 2.0):.1f}" height="{height}" '
            f'fill="{BAND[a["priority"]]}"{fill}/>'
            f'<text class="lane-symbol" x="{x0 + 2:.1f}" y="{symbol_y}">{p.symbol}</text>'
            f'<title>{escape(p.word)}: {escape(a["message"] or a["rule"])}</title></g>')


def _step(span: float) -> float:
    for step in (1, 2, 5, 10, 15, 30, 60, 120):
        if span / step <= 14:
            return step
    return 240


def _legend() -> str:
    items = [("HR", COLORS["hr"]), ("SpO₂", COLORS["spo2"]), ("SBP ▼ / DBP ▲", COLORS["sbp"]),
             *((f"{p} alarm" if i == 0 else p, BAND[p]) for i, p in enumerate(PRIORITIES))]
    out, x = ['<g class="legend">'], LEFT + 190
    for text, color in items:
        out.append(f'<rect x="{x}" y="6" width="12" height="8" fill="{color}"/>'
                   f'<text x="{x + 16}" y="14">{escape(text)}</text>')
        x += 20 + 8 * len(text)
    out.append("</g>")
    return "".join(out)
