"""The /alarms page: the clinic's alarm burden, for a clinician tuning the profile.

It renders what `alarm_burden.burden` decides (docs/ARCHITECTURE.md, "Alarm burden"): alarms
per monitored hour by rule and priority, and what was done about them, as charts and as
tables; the sessions busiest first, each a link to its chart. `infusion-monitor
alarms-report` prints the same numbers.
"""
from __future__ import annotations

from typing import Optional

from dash import Input, Output, dcc, html

from .. import access
from ..alarm_burden import burden
from ..formatting import fmt_date, fmt_duration, fmt_rate, fmt_share, parse_when
from ..model import PRIORITIES, PRIORITY
from ..store import queries
from . import auth
from .review import patient_href, review_table, session_href

ACTION_COLOURS = {"acknowledged": "#2e7d32", "over within 30 s, nobody acted": "#9e9e9e",
                  "not acknowledged": "#6d4c41"}


def layout(store, protocol, rest: str):
    return html.Div(className="review review-burden", children=[
        html.H1("Alarm burden", className="page-title"),
        html.P("Which rules alarm, how often per monitored hour, and whether anyone acted: the numbers to "
               "tune the profile by. A what-if for an edited profile: infusion-monitor alarms-report --what-if.",
               className="muted"),
        html.Div(className="filters", children=[
            html.Div(["Sessions started since ", dcc.DatePickerSingle(
                id="ab-since", display_format="YYYY-MM-DD", clearable=True, placeholder="any date")],
                className="date-filter")]),
        html.Div(view(store, None), id="ab-view"),
    ])


def view(store, since: Optional[float]) -> list:
    sessions = queries.sessions_since(store, since)
    r = burden(sessions, queries.alerts_of_sessions(store, [s["id"] for s in sessions]))
    if not r["sessions"]:
        return [html.P("No sessions started in this period.", className="empty", id="ab-summary")]
    rate = "" if r["per_hour"] is None else f" ({fmt_rate(r['per_hour'])} per hour)"
    summary = (f"{r['sessions']} sessions, {r['monitored_h']:.1f} h monitored: {r['alarms']} alarms{rate}; "
               f"in alarm {fmt_duration(r['time_in_alarm_s'])}; acknowledged {fmt_share(r['acknowledged_share'])}; "
               f"{r['ended_within_short_unacknowledged']} over within {r['short_s']:g} s with nobody acting.")
    out = [html.P(summary, id="ab-summary", className="count-text", role="status")]
    if not r["by_rule"]:
        return out + [html.P("No alarms in these sessions.", className="empty")]
    out += [dcc.Graph(id="ab-rate", figure=rate_figure(r), config={"displaylogo": False}, className="burden-chart"),
            dcc.Graph(id="ab-action", figure=action_figure(r), config={"displaylogo": False},
                      className="burden-chart"),
            html.H2("By rule"), review_table(["Rule", "Kind", "Priority", "Alarms", "Per hour", "Time in alarm",
                                        "Acknowledged", "Median to acknowledge", "Over < 30 s, unacted"],
                                       [_rule_row(x) for x in r["by_rule"]], "burden-rules"),
            *escalation_part(r),
            html.H2("By session, busiest first"),
            review_table(["Started", "Patient", "Chair", "Profile", "Hours", "Alarms", "Per hour", "Time in alarm"],
                   [_session_row(x) for x in r["by_session"]], "burden-sessions")]
    return out


def escalation_part(r: dict) -> list:
    """The alarms nobody acknowledged in time (alarm_burden: escalated), per priority, then each
    one with who finally signed for it and how long after its start."""
    if not r["escalated"]:
        return [html.H2("Escalated"), html.P("No alarm went unacknowledged past its profile's time.",
                                             className="empty", id="ab-escalated")]
    per = [html.Tr(className=f"burden-escalated prio-{x['priority']}", **{"data-priority": x["priority"]}, children=[
        html.Td(f"{_symbol(x['priority'])} {x['priority']}"), html.Td(str(x["escalated"]), className="num"),
        html.Td(str(x["acknowledged"]), className="num"),
        html.Td(fmt_duration(x["median_to_ack_s"]), className="num")]) for x in r["escalated_by_priority"]]
    each = [html.Tr(className="burden-escalation", **{"data-alert-id": str(x["alert_id"])}, children=[
        html.Td(dcc.Link(str(x["session_id"]), href=session_href(x["session_id"]))), html.Td(x["chair"] or "–"),
        html.Td(f"{_symbol(x['priority'])} {x['rule']}"), html.Td(fmt_duration(x["escalated_after_s"]), className="num"),
        html.Td(x["acknowledged_by"] or "not acknowledged"),
        html.Td(fmt_duration(x["to_ack_s"]), className="num")]) for x in r["escalations"]]
    return [html.H2("Escalated: nobody acknowledged in time"),
            html.P(f"{r['escalated']} alarms escalated; {r['escalated_acknowledged']} acknowledged afterwards, "
                   f"median {fmt_duration(r['escalated_median_to_ack_s'])} after the start.", id="ab-escalated"),
            review_table(["Priority", "Escalated", "Acknowledged", "Median to acknowledge"], per,
                         "burden-escalated-priorities"),
            review_table(["Session", "Chair", "Alarm", "Escalated after", "Acknowledged by", "After the start"], each,
                         "burden-escalations")]


def _symbol(priority: str) -> str:
    return PRIORITY[priority].symbol if priority in PRIORITY else "?"


def _label(x: dict) -> str:
    return f"{_symbol(x['priority'])} {x['rule']}"


def rate_figure(r: dict) -> dict:
    """Alarms per monitored hour, one bar per rule and priority, in the priority's colour."""
    rows = list(reversed(r["by_rule"]))  # busiest at the top
    return {"data": [{"type": "bar", "orientation": "h", "name": p,
                      "y": [_label(x) for x in rows if x["priority"] == p],
                      "x": [x["per_hour"] or 0 for x in rows if x["priority"] == p],
                      "customdata": [[x["alarms"], fmt_duration(x["time_in_alarm_s"])] for x in rows
                                     if x["priority"] == p],
                      "marker": {"color": PRIORITY[p].colour},
                      "hovertemplate": "%{y}: %{x:.2f} per hour (%{customdata[0]} alarms, in alarm "
                                       "%{customdata[1]})<extra></extra>"}
                     for p in PRIORITIES if any(x["priority"] == p for x in rows)],
            "layout": {"title": {"text": "Alarms per monitored hour"}, "barmode": "stack",
                       "height": 120 + 28 * len(rows), "margin": {"l": 200, "r": 20, "t": 40, "b": 40},
                       "yaxis": {"categoryorder": "array", "categoryarray": [_label(x) for x in rows]},
                       "xaxis": {"title": {"text": "per hour"}, "rangemode": "tozero"}, "legend": {"title": {
                           "text": "priority"}}}}


def action_figure(r: dict) -> dict:
    """What was done about each rule's alarms: acknowledged, over within 30 s with nobody
    acting, or neither (left to end by themselves after longer)."""
    rows = list(reversed(r["by_rule"]))
    labels = [_label(x) for x in rows]
    parts = {"acknowledged": [x["acknowledged"] for x in rows],
             "over within 30 s, nobody acted": [x["ended_within_short_unacknowledged"] for x in rows]}
    parts["not acknowledged"] = [max(0, x["alarms"] - a - s) for x, a, s in
                                 zip(rows, parts["acknowledged"], parts["over within 30 s, nobody acted"])]
    return {"data": [{"type": "bar", "orientation": "h", "name": name, "y": labels, "x": values,
                      "marker": {"color": ACTION_COLOURS[name]},
                      "hovertemplate": f"%{{y}}: %{{x}} {name}<extra></extra>"} for name, values in parts.items()],
            "layout": {"title": {"text": "What was done about them"}, "barmode": "stack",
                       "height": 120 + 28 * len(rows), "margin": {"l": 200, "r": 20, "t": 40, "b": 40},
                       "yaxis": {"categoryorder": "array", "categoryarray": labels},
                       "xaxis": {"title": {"text": "alarms"}, "rangemode": "tozero"}}}


def _rule_row(x: dict):
    return html.Tr(className=f"burden-rule prio-{x['priority']}", **{"data-rule": x["rule"]}, children=[
        html.Td(x["rule"]), html.Td(x["kind"]), html.Td(f"{_symbol(x['priority'])} {x['priority']}"),
        html.Td(str(x["alarms"]), className="num"),
        html.Td(fmt_rate(x["per_hour"]), className="num"),
        html.Td(fmt_duration(x["time_in_alarm_s"]), className="num"),
        html.Td(f"{x['acknowledged']} ({fmt_share(x['acknowledged_share'])})", className="num"),
        html.Td(fmt_duration(x["median_to_ack_s"]), className="num"),
        html.Td(str(x["ended_within_short_unacknowledged"]), className="num")])


def _session_row(x: dict):
    return html.Tr(className="burden-session", **{"data-session": str(x["session_id"])}, children=[
        html.Td(dcc.Link(fmt_date(x["started_at"]), href=session_href(x["session_id"]))),
        html.Td(dcc.Link(x["patient_ref"], href=patient_href(x["patient_ref"])) if x["patient_ref"] else "–"),
        html.Td(x["chair"] or "–"), html.Td(x["protocol"] or "–"),
        html.Td(f"{x['monitored_h']:.2f}", className="num"), html.Td(str(x["alarms"]), className="num"),
        html.Td(fmt_rate(x["per_hour"]), className="num"),
        html.Td(fmt_duration(x["time_in_alarm_s"]), className="num")])


def register(app, store, protocol) -> None:
    @app.callback(Output("ab-view", "children"), Input("ab-since", "date"), prevent_initial_call=True)
    def since_changed(date):
        access.check(auth.current_actor(), "review")  # the gate let it through for review; ask again
        try:
            since = parse_when(date) if date else None
        except ValueError as e:
            return [html.P(f"Since: {e}", className="form-error", role="alert")]
        return view(store, since)
