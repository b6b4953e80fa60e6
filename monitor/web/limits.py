"""Per-session limit adjustment within the bounds the protocol profile defines.

A change is a `limit_change` event {"rule", "clause", "old", "new"} signed by the
signed-in clinician (a nurse's is refused by the store, access.py); the engine applies it (SessionRecorder.poll_events). The page only
checks the bounds and shows what was changed, by whom and when.
"""
from __future__ import annotations

from typing import Optional

from dash import Input, Output, State, dcc, html

from ..access import Actor
from ..formatting import fmt_entered, fmt_time
from ..model import LABELS, OPERATOR_SYMBOLS, priority_mark
from ..protocol import Clause, Protocol, Rule, clause_key, effective_protocol, priority_order_errors
from . import auth
from .forms import FormError, chart, page_protocol, page_session, parse_number


def adjustable(protocol: Protocol) -> list[dict]:
    """Every clause with bounds, in profile order."""
    out = []
    for rule in protocol.rules:
        for i, c in enumerate(rule.clauses):
            if c.bounds is None:
                continue
            out.append({"key": clause_key(rule.id, i), "rule": rule.id, "clause": i, "priority": rule.priority,
                        "parameter": c.parameter, "setting": c.setting, "bounds": c.bounds,
                        "label": describe(rule, c)})
    return out


def describe(rule: Rule, clause: Clause, setting: Optional[float] = None) -> str:
    """'spo2_low: SpO2 < 92', 'hr_rise: HR ≥ 1.3 × baseline' (with setting in place of the profile's)."""
    c = clause if setting is None else clause.with_setting(setting)
    what = "baseline " if rule.of_baseline else ""
    return f"{rule.id}: {what}{LABELS.get(c.parameter, c.parameter)} {OPERATOR_SYMBOLS[c.op]} {c.describe_limit()}"


def settings_from_events(protocol: Protocol, events: list[dict], settings: Optional[dict] = None) -> dict:
    """Current setting per clause key: the profile's, overlaid by limit_change events in order."""
    out = dict(settings or {})
    known = {a["key"] for a in adjustable(protocol)}
    for ev in events:
        if ev.get("type") != "limit_change":
            continue
        d = ev.get("data") or {}
        key = clause_key(str(d.get("rule")), int(d.get("clause", 0) or 0))
        if key in known and isinstance(d.get("new"), (int, float)):
            out[key] = float(d["new"])
    return out


def validate_limit_change(protocol: Protocol, settings: dict, key, raw_new) -> tuple[dict, str]:
    """The clause must have bounds; the new setting must be a number within them and differ."""
    options = {a["key"]: a for a in adjustable(protocol)}
    errors: list[str] = []
    if key not in options:
        raise FormError(["Limit: choose the limit to change"])
    a = options[key]
    low, high = a["bounds"]
    new = parse_number(raw_new, f"New setting for {a['rule']}", low, high, "", errors, required=True)
    old = settings.get(key, a["setting"])
    if new is not None and abs(new - old) < 1e-9:
        errors.append(f"New setting for {a['rule']}: {fmt_entered(new)} is already the current setting")
    if not errors and new is not None:
        errors += priority_order_errors(protocol, dict(settings, **{key: new}), a)
    if errors:
        raise FormError(errors)
    rule = protocol.rule(a["rule"])
    clause = rule.clauses[a["clause"]]
    data = {"rule": a["rule"], "clause": a["clause"], "old": old, "new": new}
    text = f"Limit {describe(rule, clause, old)} → {clause.with_setting(new).describe_limit()}"
    return data, text


def change_log(protocol: Protocol, events: list[dict], log: Optional[dict] = None) -> dict:
    """Latest change per clause key: {key: {"from": profile, "to", "by", "at"}} (bounded by clauses)."""
    out = dict(log or {})
    options = {a["key"]: a for a in adjustable(protocol)}
    for ev in events:
        d = ev.get("data") or {}
        if ev.get("type") != "limit_change":
            continue
        key = clause_key(str(d.get("rule")), int(d.get("clause", 0) or 0))
        if key in options and isinstance(d.get("new"), (int, float)):
            out[key] = {"from": options[key]["setting"], "to": float(d["new"]), "by": ev.get("author") or "",
                        "at": ev["ts"]}
    return out


# ----------------------------------------------------------------- page
def rule_options(protocol: Protocol) -> list[dict]:
    """The limits a clinician may move in a session under this profile (the tick sets them from
    the session's own, profile_choice.session_profile)."""
    return [{"label": f"{a['label']}  (allowed {fmt_entered(a['bounds'][0])} to {fmt_entered(a['bounds'][1])})",
             "value": a["key"]} for a in adjustable(protocol)]


def panel(protocol: Protocol):
    opts = rule_options(protocol)
    return html.Section(className="panel panel-limits", children=[
        html.H3("Alarm limits for this session"),
        html.Div(id="bed-limits", className="limit-log"),
        html.Div(className="form-grid", children=[
            html.Label("Limit", htmlFor="limit-rule"),
            dcc.Dropdown(id="limit-rule", options=opts, clearable=True, placeholder="Choose a limit…",
                         className="limit-dropdown"),
            html.Label("New setting", htmlFor="limit-new"),
            dcc.Input(id="limit-new", type="text", inputMode="decimal", className="num-input"),
        ]),
        html.Button("Change limit (signed with your login)", id="limit-save", className="btn"),
        html.Div(id="limit-status", className="form-status", role="status"),
    ])


def limits_in_force(protocol: Protocol, settings: dict) -> list[dict]:
    """Every patient-alarm limit as it stands for this session: [{priority, text, changed}]."""
    eff = effective_protocol(protocol, settings)
    return [{"priority": rule.priority, "text": describe(rule, clause),
             "changed": clause_key(rule.id, i) in settings}
            for rule in eff.rules for i, clause in enumerate(rule.clauses)]


def render_log(protocol: Protocol, log: dict, settings: Optional[dict] = None):
    """The limits in force (a changed one marked), then who changed what this session."""
    rows = [html.Tr(className=f"hist-{x['priority']}" + (" limit-changed" if x["changed"] else ""), children=[
                html.Td(priority_mark(x["priority"])), html.Td(x["text"]),
                html.Td("changed this session" if x["changed"] else "profile", className="muted")])
            for x in limits_in_force(protocol, settings or {})]
    in_force = html.Table([html.Caption("Limits in force"), html.Tbody(rows)], className="limits-in-force")
    if not log:
        return [in_force, html.P(f"Profile {protocol.name} limits; none changed this session.", className="muted")]
    items = []
    for key, ch in sorted(log.items(), key=lambda kv: kv[1]["at"]):
        rule_id, idx = key.rsplit(":", 1)
        rule = protocol.rule(rule_id)
        clause = rule.clauses[int(idx)]
        when = fmt_time(ch["at"])
        items.append(html.Li(className="limit-changed", children=[
            html.B(describe(rule, clause, ch["from"])), " → ",
            html.B(clause.with_setting(ch["to"]).describe_limit()),
            html.Span(f" (profile {fmt_entered(ch['from'])}; changed by {ch['by'] or '?'} at {when})", className="muted"),
        ]))
    return [in_force, html.Ul(items, className="limit-list")]


def register(app, store, protocol: Protocol) -> None:
    @app.callback(Output("limit-status", "children"), Output("limit-status", "className"),
                  Input("limit-save", "n_clicks"), State("limit-rule", "value"), State("limit-new", "value"),
                  State("bed-state", "data"), prevent_initial_call=True)
    def save(_n, key, new, state):
        return limit_action(store, page_protocol(store, state, protocol), key, new, auth.current_actor(), state)


def limit_action(store, protocol: Protocol, key, new, actor: Actor, state: dict):
    from ..store import queries
    try:
        sid = page_session(store, state, actor, "limit_change")
        rows = [e for e in queries.events(store, sid) if e["type"] == "limit_change"]
        data, text = validate_limit_change(protocol, settings_from_events(protocol, rows), key, new)
        chart(store, state, "limit_change", data, text, actor, session_id=sid)
    except FormError as e:
        return "; ".join(e.errors), "form-status form-error"
    return f"Recorded: {text} (by {actor.initials}).", "form-status form-ok"
