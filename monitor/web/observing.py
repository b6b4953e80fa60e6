"""The bedside's observation panel: MOAA/S, CADSS-6, side effects and interventions.

The scales and what counts as a complete entry are monitor/observations.py's, when each is
due monitor/observation_schedule.py's (shown here as the "due" list); this module lays out
the form, and each save is validated there and written as one signed event through
charting.sign_and_chart (role checked and audited by the store). The panel's head, the
"lane", shows the newest of each observation and the worst so far; the page's tick keeps it
(bedside._absorb_events folds new events with observations.fold).
"""
from __future__ import annotations

from typing import Optional

from dash import Input, Output, State, ctx, dcc, html, no_update

from .. import observations
from ..access import Actor
from ..formatting import fmt_time
from ..observations import (CADSS6_ITEMS, CADSS6_MAX, CADSS_ANCHORS, INTERVENTIONS, MOAAS_LEVELS, SEVERITIES,
                            SIDE_EFFECTS)
from . import auth
from .charting import ERR, OK, sign_and_chart
from .forms import entry_checked

CADSS_IDS = {n: f"obs-cadss-{n}" for n in CADSS6_ITEMS}
EFFECT_IDS = {name: f"obs-se-{name}" for name in SIDE_EFFECTS}
NONE = "none"  # an effect not present (a radio needs a value for it)


def panel():
    return html.Section(className="panel panel-observations", children=[
        html.H3("Sedation, dissociation, side effects"),
        html.Div(id="obs-latest", className="obs-latest", **{"aria-live": "polite"}),
        html.Ul(id="obs-due", className="obs-due"),
        html.Div(className="subform", children=[
            html.H4("MOAA/S (sedation)"),
            dcc.RadioItems(id="obs-moaas", className="obs-scale",
                           options=[{"label": f" {k} — {v}", "value": k} for k, v in MOAAS_LEVELS.items()]),
            html.Button("Record MOAA/S", id="obs-moaas-save", className="btn"),
        ]),
        html.Div(className="subform", children=[
            html.H4("CADSS-6 (dissociation)"),
            html.P("Each item 0 " + " · ".join(f"{k} {v}" for k, v in CADSS_ANCHORS.items()) + ".",
                   className="muted"),
            *[html.Div(className="field obs-item", children=[
                html.Label(f"{n}. {prompt}" + (" (observer)" if who == "observer" else ""), htmlFor=CADSS_IDS[n]),
                dcc.RadioItems(id=CADSS_IDS[n], inline=True, className="obs-rating",
                               options=[{"label": f" {k}", "value": k, "title": v} for k, v in CADSS_ANCHORS.items()]),
            ]) for n, (who, prompt) in CADSS6_ITEMS.items()],
            html.Div(f"Total –/{CADSS6_MAX}", id="obs-cadss-total", className="obs-total"),
            html.Button("Record CADSS-6", id="obs-cadss-save", className="btn"),
        ]),
        html.Div(className="subform", children=[
            html.H4("Side effects"),
            *[html.Div(className="field obs-item", children=[
                html.Label(label, htmlFor=EFFECT_IDS[name]),
                dcc.RadioItems(id=EFFECT_IDS[name], inline=True, value=NONE, className="obs-rating",
                               options=[{"label": " –", "value": NONE}] +
                                       [{"label": f" {s}", "value": s} for s in SEVERITIES]),
            ]) for name, label in SIDE_EFFECTS.items()],
            html.Div(className="field", children=[
                html.Label("Other: what it was", htmlFor="obs-se-what"),
                dcc.Input(id="obs-se-what", type="text", maxLength=observations.DETAIL_MAX,
                          className="text-input wide", autoComplete="off")]),
            html.Button("Record side effects", id="obs-se-save", className="btn"),
        ]),
        html.Div(className="subform", children=[
            html.H4("Intervention given"),
            dcc.Dropdown(id="obs-int-kind", options=[{"label": v, "value": k} for k, v in INTERVENTIONS.items()],
                         placeholder="Choose…", className="limit-dropdown"),
            html.Div(className="field", children=[
                html.Label("Detail (dose and route, how long paused, new rate…)", htmlFor="obs-int-detail"),
                dcc.Input(id="obs-int-detail", type="text", maxLength=observations.DETAIL_MAX,
                          className="text-input wide", autoComplete="off")]),
            html.Button("Record intervention", id="obs-int-save", className="btn"),
        ]),
        html.Div(id="obs-status", className="form-status", role="status"),
    ])


def latest(seen: Optional[dict]):
    """The lane: the newest of each observation (when, what, who) and the worst scale values so far."""
    seen = seen or {}
    items = []
    for kind in observations.OBSERVATION_TYPES:
        last = seen.get("latest", {}).get(kind)
        if last:
            items.append(html.Span(className=f"obs-chip obs-{kind}", children=[
                html.B(f"{last['label']} "), f"at {fmt_time(last['ts'])} ({last['author'] or '?'})"]))
    worst = [f"lowest MOAA/S {seen['moaas']['value']} at {fmt_time(seen['moaas']['ts'])}"] if seen.get("moaas") else []
    if seen.get("cadss6"):
        worst.append(f"highest CADSS-6 {seen['cadss6']['value']}/{CADSS6_MAX} at {fmt_time(seen['cadss6']['ts'])}")
    if not items:
        return html.Span("No sedation, dissociation or side-effect entry yet.", className="muted")
    return [*items, html.Div(" · ".join(worst), className="muted obs-worst")] if worst else items


STATE_WORDS = {"waiting": "waiting", "upcoming": "upcoming", "due": "DUE NOW", "overdue": "OVERDUE",
               "done": "done", "done_late": "done late", "missed": "missed", "not_needed": "not needed"}


def due_list(rows: list[dict]):
    """The profile's schedule for this session (observation_schedule.status), one line per item."""
    if not rows:
        return [html.Li("This profile schedules no observation.", className="muted")]
    items = []
    for r in rows:
        when = f"due {fmt_time(r['due_at'])}" if r["due_at"] is not None else "time set when its moment comes"
        if r["state"] in ("done", "done_late"):
            when = f"{when} · {STATE_WORDS[r['state']]} {fmt_time(r['done_at'])} ({r['done_by']})"
        elif r["state"] == "overdue":
            when = f"{when} · overdue since {fmt_time(r['overdue_at'])}"
        elif r["state"] == "not_needed":
            when = "the infusion had stopped"
        items.append(html.Li(className=f"due due-{r['state']}", **{"data-state": r["state"]}, children=[
            html.B(STATE_WORDS[r["state"]], className="due-state"), html.Span(r["label"], className="due-label"),
            html.Span(when, className="muted due-when")]))
    return items


def observation_action(store, state, actor: Actor, kind: str, raw: dict) -> tuple[str, bool]:
    """Record one observation from the form's raw values (observations decides what is complete)."""
    makers = {
        "moaas": lambda: observations.moaas_entry(raw.get("score")),
        "cadss6": lambda: observations.cadss6_entry(raw.get("items")),
        "side_effect": lambda: observations.side_effect_entry(
            {k: v for k, v in (raw.get("effects") or {}).items() if v and v != NONE}, raw.get("other", "")),
        "intervention": lambda: observations.intervention_entry(raw.get("intervention"), raw.get("detail", "")),
    }
    return sign_and_chart(store, state, actor, kind, entry_checked(makers[kind]))


CADSS_TOTAL = """function () {
  var vals = Array.prototype.slice.call(arguments), done = vals.filter(function (v) { return v !== null && v !== undefined; });
  var total = done.reduce(function (a, b) { return a + b; }, 0);
  return done.length === vals.length ? "Total " + total + "/%d" : "Total so far " + total + " (" + done.length + " of " + vals.length + " items)";
}""" % CADSS6_MAX


def register(app, store) -> None:
    app.clientside_callback(CADSS_TOTAL, Output("obs-cadss-total", "children"),
                            *[Input(i, "value") for i in CADSS_IDS.values()])
    fields = ["obs-moaas", *CADSS_IDS.values(), *EFFECT_IDS.values(), "obs-se-what", "obs-int-kind",
              "obs-int-detail"]

    @app.callback(Output("obs-status", "children"), Output("obs-status", "className"),
                  *[Output(f, "value") for f in fields],
                  Input("obs-moaas-save", "n_clicks"), Input("obs-cadss-save", "n_clicks"),
                  Input("obs-se-save", "n_clicks"), Input("obs-int-save", "n_clicks"),
                  *[State(f, "value") for f in fields], State("bed-state", "data"), prevent_initial_call=True)
    def record(_a, _b, _c, _d, *values):
        *given, state = values
        v = dict(zip(fields, given))
        trig = ctx.triggered_id
        if trig == "obs-moaas-save":
            kind, raw, reset = "moaas", {"score": v["obs-moaas"]}, {"obs-moaas": None}
        elif trig == "obs-cadss-save":
            kind = "cadss6"
            raw = {"items": {n: v[i] for n, i in CADSS_IDS.items()}}
            reset = {i: None for i in CADSS_IDS.values()}
        elif trig == "obs-se-save":
            kind = "side_effect"
            raw = {"effects": {name: v[i] for name, i in EFFECT_IDS.items()}, "other": v["obs-se-what"]}
            reset = {**{i: NONE for i in EFFECT_IDS.values()}, "obs-se-what": ""}
        elif trig == "obs-int-save":
            kind, raw = "intervention", {"intervention": v["obs-int-kind"], "detail": v["obs-int-detail"]}
            reset = {"obs-int-kind": None, "obs-int-detail": ""}
        else:
            return (no_update, no_update, *[no_update] * len(fields))
        msg, ok = observation_action(store, state, auth.current_actor(), kind, raw)
        # a saved form starts empty, so nothing is charted twice; a refused one keeps what was typed
        return (msg, OK if ok else ERR, *[reset.get(f, no_update) if ok else no_update for f in fields])
