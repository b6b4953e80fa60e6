"""A self-contained HTML report of one session, for filing and printing to PDF.

One file with everything inline (CSS and an SVG chart, no script, no fonts, no
links to fetch), so it opens the same on any machine and years later. A print
stylesheet sets A4 margins, keeps table rows and the chart whole across pages and
keeps the alarm colours when printing.
"""
from __future__ import annotations

import time
from html import escape

from .. import __version__
from ..formatting import fmt_date, fmt_duration, fmt_min, fmt_num, fmt_time
from ..session_review import SessionReview, label, load, summary_items
from .svg_chart import session_svg

SYMBOLS = {"high": "!!!", "medium": "!!", "low": "!"}

CSS = """
:root { --high: #c62828; --medium: #f9a825; --low: #00838f; --line: #c9ced6; --muted: #5b6470; }
* { box-sizing: border-box; }
body { font-family: "DejaVu Sans", "Liberation Sans", Arial, sans-serif; color: #111; background: #fff;
  margin: 1.5rem auto; max-width: 1100px; padding: 0 1rem; font-size: 14px; line-height: 1.35; }
h1 { font-size: 1.5rem; margin: 0 0 .2rem; } h2 { font-size: 1.15rem; margin: 1.4rem 0 .5rem;
  border-bottom: 2px solid #111; padding-bottom: .15rem; }
.meta { color: var(--muted); margin: 0 0 .3rem; } .disclaimer { font-size: .85rem; color: var(--muted); }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: .5rem; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: .4rem .6rem; }
.card .label { font-size: .8rem; color: var(--muted); text-transform: uppercase; letter-spacing: .03em; }
.card .value { font-size: 1.35rem; font-weight: bold; font-variant-numeric: tabular-nums; white-space: pre; }
.card .detail { font-size: .8rem; color: var(--muted); }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { border-bottom: 1px solid var(--line); padding: .25rem .4rem; text-align: left; vertical-align: top; }
th { background: #f1f3f5; font-size: .85rem; }
td.num { text-align: right; }
.prio { font-weight: bold; white-space: nowrap; }
.prio-high { color: var(--high); } .prio-medium { color: #8a6100; } .prio-low { color: var(--low); }
.empty { color: var(--muted); font-style: italic; }
svg.chart { display: block; border: 1px solid var(--line); margin: .3rem 0; }
svg .plot-bg { fill: #fff; } svg .grid { stroke: #e3e6ea; stroke-width: 1; }
svg text { font-size: 11px; fill: #333; } svg .axis-title { font-size: 12px; fill: #333; }
svg .event { stroke: #555; stroke-width: 1; stroke-dasharray: 3 2; } svg .event-label { font-size: 10px; }
svg .limit, svg .baseline { stroke-width: 1.2; } svg .bp-bar { stroke-width: 1.5; }
svg .bp-mark { font-size: 12px; } svg .tick-spo2 { fill: #0b6aa8; }
svg .lane-symbol { font-size: 9px; font-weight: bold; fill: #111; }
footer { margin-top: 1.5rem; font-size: .8rem; color: var(--muted); }
@page { size: A4; margin: 12mm; }
@media print {
  body { margin: 0; max-width: none; padding: 0; font-size: 10pt; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  h2 { break-after: avoid; page-break-after: avoid; }
  tr, .card, svg.chart { break-inside: avoid; page-break-inside: avoid; }
  thead { display: table-header-group; }
  .cards { grid-template-columns: repeat(4, 1fr); }
}
"""


def _cell(value, cls: str = "") -> str:
    attr = f' class="{cls}"' if cls else ""
    return f"<td{attr}>{escape(str(value))}</td>"


def alarm_table(review: SessionReview) -> str:
    rows = review.alarm_rows()
    if not rows:
        return '<p class="empty">No alarms in this session.</p>'
    head = ("Priority", "Rule", "Kind", "Start", "End", "Duration", "Worst", "Limit", "Message",
            "Time to ack", "Acknowledged by")
    body = []
    for a in rows:
        p = a["priority"]
        end = "active at end" if a["ended_at"] is None else fmt_min(a["end_min"])
        body.append(
            f'<tr class="alarm-row alarm-{p}" data-rule="{escape(a["rule"])}">'
            f'<td class="prio prio-{p}">{SYMBOLS[p]} {p.upper()}</td>'
            + _cell(a["rule"]) + _cell(a["kind"]) + _cell(f"{fmt_min(a['start_min'])} ({fmt_time(a['started_at'])})")
            + _cell(end) + _cell(fmt_duration(a["duration_s"]))
            + _cell(fmt_num(a["value"], 1).removesuffix(".0"), "num")
            + _cell(fmt_num(a["limit"], 1).removesuffix(".0"), "num") + _cell(a["message"] or "")
            + _cell(fmt_duration(a["ack_delay_s"]) if a["ack_delay_s"] is not None else "not acknowledged")
            + _cell(a["acknowledged_by"] or "–") + "</tr>")
    return _table(head, body, "alarms")


def events_table(review: SessionReview) -> str:
    if not review.events:
        return '<p class="empty">No events charted.</p>'
    body = [f'<tr data-type="{escape(e["type"])}">' + _cell(fmt_min(review.minutes(e["ts"])))
            + _cell(fmt_time(e["ts"])) + _cell(e["type"]) + _cell(e["text"] or "") + _cell(e["author"] or "")
            + "</tr>" for e in review.events]
    return _table(("Minute", "Time", "Event", "Text", "By"), body, "events")


def bp_table(review: SessionReview) -> str:
    by_ts: dict = {}
    for r in review.readings:
        if r["parameter"] in ("sbp", "dbp", "map") and r["value"] is not None and r["status"] == "ok":
            by_ts.setdefault(r["ts"], {})[r["parameter"]] = r["value"]
    if not by_ts:
        return '<p class="empty">No blood pressure measurements.</p>'
    body = []
    for ts in sorted(by_ts):
        v = by_ts[ts]
        bp = f"{fmt_num(v.get('sbp'))}/{fmt_num(v.get('dbp'))}"
        body.append("<tr>" + _cell(fmt_min(review.minutes(ts))) + _cell(fmt_time(ts)) + _cell(bp, "num")
                    + _cell(fmt_num(v.get("map")), "num") + "</tr>")
    return _table(("Minute", "Time", "SBP/DBP mmHg", "MAP mmHg"), body, "bp")


def _table(head, body: list[str], name: str) -> str:
    th = "".join(f"<th>{escape(h)}</th>" for h in head)
    return f'<table class="{name}"><thead><tr>{th}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def render(review: SessionReview, protocol=None, generated_at: float | None = None) -> str:
    s = review.session
    cards = "".join(
        f'<div class="card" data-item="{escape(lbl)}"><div class="label">{escape(lbl)}</div>'
        f'<div class="value">{escape(value)}</div><div class="detail">{escape(detail)}</div></div>'
        for lbl, value, detail in summary_items(review))
    baselines = ", ".join(f"{label(p)} {b['value']:g} ({b['source']})" for p, b in sorted(review.baselines.items()))
    when = fmt_date(generated_at or time.time())
    title = f"Session {s['id']} · {s['patient_ref'] or 'no patient ref'} · {fmt_date(s['started_at'])}"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
<style>{CSS}</style></head>
<body>
<header>
<h1>Infusion session report</h1>
<p class="meta" id="meta">Patient <b>{escape(s['patient_ref'] or '–')}</b> · chair {escape(s['chair'] or '–')} ·
started {escape(fmt_date(s['started_at']))} ·
infusion {escape(fmt_time(s['infusion_start']))}–{escape(fmt_time(s['infusion_end']))}
· ended {escape(fmt_time(s['ended_at']))} · state {escape(s['state'])} · session {s['id']}</p>
<p class="disclaimer">Decision support only: the devices' own alarms stay primary. Times are local;
minutes are counted from infusion start.</p>
</header>
<section><h2>Summary</h2><div class="cards" id="summary">{cards}</div>
<p class="meta">Baselines: {escape(baselines) or 'none recorded'}</p></section>
<section><h2>Chart</h2>{session_svg(review, protocol)}</section>
<section><h2>Alarms</h2>{alarm_table(review)}</section>
<section><h2>Events</h2>{events_table(review)}</section>
<section><h2>Blood pressure measurements</h2>{bp_table(review)}</section>
<footer>infusion-monitor {escape(__version__)} · protocol {escape(s['protocol'] or '–')} ·
source {escape(s.get('source') or '–')} · report generated {escape(when)}</footer>
</body></html>
"""


def report_html(store, session_id: int, protocol=None) -> str:
    from . import ExportError
    review = load(store, session_id)
    if review is None:
        raise ExportError(f"no session {session_id}")
    return render(review, protocol)
