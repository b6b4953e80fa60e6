"""Recovery and discharge: the modified Aldrete checklist, PADSS, readiness and the decision.

Aldrete's circulation and SpO2 are prefilled from the data (latest NIBP vs the pre-infusion
baseline; latest SpO2 and whether the patient was last charted on oxygen); PADSS's vital
signs (BP and pulse against baseline) and nausea (the side effects charted since the
infusion stopped) likewise (discharge.padss_prefill). The nurse confirms or changes every
item and records each assessment as an `aldrete` or `padss` event with its items in data.
Readiness is discharge.readiness's; the minimum observation counts down on the page; the
discharge itself is a signed `discharge` event (discharge.check_discharge: a clinician may
discharge a patient not ready, with a reason). Ending the session is the End session button.
How recent a reading must be to prefill an item is the profile's ([aldrete]).
"""
from __future__ import annotations

from typing import Optional

from dash import Input, Output, State, dcc, html, no_update

from .. import access, discharge, observations, sessions
from ..access import Actor
from ..formatting import fmt_time
from ..model import struck_entries
from ..protocol import Protocol
from ..scores import ALDRETE_CHOICES, ALDRETE_ITEMS, ALDRETE_LABELS, aldrete, aldrete_prefill
from ..sessions import RuleError
from ..store import people, queries
from . import auth
from .charting import ERR, OK, sign_and_chart
from .forms import FormError, page_protocol, page_session, session_now, validate_aldrete, validate_padss


def prefill(store, session_id: int, now: float, protocol: Protocol) -> dict:
    """The checklist's prefilled items from the latest data (decided by scores.aldrete_prefill)."""
    base = queries.baselines(store, session_id).get("sbp")
    return aldrete_prefill(queries.latest_valid(store, session_id, "sbp"), base["value"] if base else None,
                           queries.latest(store, session_id, "spo2"),
                           bool(queries.last_charted(store, session_id, "manual_vitals", "o2")),
                           now, protocol.aldrete_bp_max_age_s, protocol.aldrete_spo2_max_age_s)


def padss_prefill(store, session_id: int, now: float, protocol: Protocol) -> dict:
    """PADSS's vital signs and nausea items from the data (decided by discharge.padss_prefill)."""
    s = queries.session(store, session_id)
    events = queries.events(store, session_id)
    since = s["infusion_end"] or s["started_at"]
    effects = [e for e in observations.summary(events, struck_entries(events))["side_effects"] if e["ts"] >= since]
    baselines = {p: b["value"] for p, b in queries.baselines(store, session_id).items()}
    return discharge.padss_prefill(queries.latest_valid(store, session_id, "sbp"), queries.latest(store, session_id, "hr"),
                                   baselines, effects, now, protocol.aldrete_bp_max_age_s, protocol.monitored_fresh_s)


def _scored_items(prefix: str, items: tuple, labels: dict, choices: dict, pre: dict) -> list:
    rows = []
    for item in items:
        score, basis = pre.get(item, (None, ""))
        opts = [{"label": f" {v} — {txt}", "value": str(v)} for v, txt in choices[item].items()]
        children = [html.Legend(labels[item]),
                    dcc.RadioItems(id=f"{prefix}-{item}", options=opts, value=None if score is None else str(score),
                                   className="ald-radio")]
        if item in pre:
            children.append(html.Div(f"prefilled: {basis}", id=f"{prefix}-basis-{item}", className="muted ald-basis"))
        rows.append(html.Fieldset(className="ald-item", children=children))
    return rows


def padss_form(store, sid: int, now: float, protocol: Protocol) -> list:
    """PADSS for home readiness, after the Aldrete; none when the profile asks for none."""
    if protocol.padss is None:
        return [html.P("This profile asks for no PADSS score before discharge.", className="muted")]
    pre = padss_prefill(store, sid, now, protocol)
    rule = protocol.padss
    series = (f"; {rule.scores_needed} in a row, the last at least {rule.interval_s / 60:g} min after the first"
              if rule.scores_needed > 1 else "")
    return [html.H4(f"PADSS: home readiness (discharge at ≥ {rule.discharge_min}/{discharge.PADSS_MAX}{series})"),
            html.Div(_scored_items("padss", discharge.PADSS_ITEMS, discharge.PADSS_LABELS, discharge.PADSS_CHOICES,
                                   pre), className="ald-grid"),
            html.Label(["Reason, if you score an item otherwise than the data suggests ",
                        dcc.Input(id="padss-reason", type="text", maxLength=200, className="text-input wide")]),
            html.Button("Record PADSS (signed)", id="padss-save", className="btn btn-go"),
            html.Div(id="padss-status", className="form-status", role="status")]


def panel_body(store, state: Optional[dict], phase: Optional[str], now: float, protocol: Protocol):
    """The checklist, rendered when the session enters recovery (not every tick)."""
    sid = (state or {}).get("session_id")
    if phase != "recovery" or not isinstance(sid, int):
        text = {"ended": "Session ended.", None: "No session."}.get(
            phase, "The discharge checklist opens when the infusion stops (recovery).")
        return [html.P(text, className="muted")]
    pre = prefill(store, sid, now, protocol)
    rows = _scored_items("ald", ALDRETE_ITEMS, ALDRETE_LABELS, ALDRETE_CHOICES, pre)
    return [html.H4("Modified Aldrete: first recovery"), html.Div(rows, className="ald-grid"),
            html.Div(total_text({k: pre.get(k, (None, ""))[0] for k in ALDRETE_ITEMS},
                                protocol.aldrete_discharge_min), id="ald-total",
                     className="ald-total"),
            html.Label(["Reason, if you score an item otherwise than the data suggests ",
                        dcc.Input(id="ald-reason", type="text", maxLength=200, className="text-input wide")]),
            html.Div(className="actions", children=[
                html.Button("Prefill from monitor again", id="ald-prefill", className="btn"),
                html.Button("Record assessment (signed)", id="ald-save", className="btn btn-go"),
            ]),
            html.Div(id="ald-status", className="form-status", role="status"),
            *padss_form(store, sid, now, protocol), *discharge_form()]


def total_text(items: dict, minimum: int) -> str:
    """The running total while the nurse fills the checklist (not recorded until signed)."""
    a = aldrete({k: int(v) for k, v in items.items() if v not in (None, "")}, minimum)
    if a.missing:
        return f"Score so far {a.total}/10 · still to score: " + ", ".join(ALDRETE_LABELS[k] for k in a.missing)
    verdict = "ready for discharge" if a.ready else f"not ready (discharge at ≥ {a.minimum})"
    return f"Modified Aldrete {a.total}/10 · {verdict}"


def readiness_view(assessed: Optional[dict], phase: Optional[str], ready: discharge.Readiness):
    """Readiness as discharge.readiness decides it: ready only in recovery, with every reason
    shown whenever it is not; the last Aldrete and PADSS, and the discharge once taken."""
    assessed = assessed or {}
    last, series, done = assessed.get("aldrete"), assessed.get("padss") or [], assessed.get("discharge")
    if last is None and not series and phase != "recovery":
        return [html.P("No Aldrete assessment recorded yet.", className="muted")]
    parts = []
    if last is not None:
        d = last["data"]
        parts = [html.Span(f" · modified Aldrete {d.get('total')}/10 (discharge at ≥ {d.get('minimum', '?')})"),
                 html.Span(f" · {last.get('author') or '?'} {fmt_time(last['ts'])}", className="muted")]
    if series:
        parts.append(html.Span(" · PADSS " + ", ".join(f"{h['total']} at {fmt_time(h['ts'])}" for h in series[-3:])))
    if done is not None:
        how = "ready" if done["data"].get("ready") else f"NOT READY, override: {done['data'].get('override')}"
        return [html.Div(className="discharge discharge-done", **{"data-ready": "discharged"}, children=[
            html.B(f"DISCHARGED {fmt_time(done['ts'])} by {done.get('author') or '?'} ({how})"), *parts])]
    if phase != "recovery":  # the record of the last assessment, not a live verdict
        return [html.Div(className="discharge discharge-past", **{"data-ready": "past"},
                         children=[html.B("Last assessment"), *parts])]
    word = "READY FOR DISCHARGE" if ready.ready else "NOT READY"
    box = html.Div(className="discharge " + ("discharge-ready" if ready.ready else "discharge-not"),
                   **{"data-ready": str(ready.ready).lower()},
                   children=[html.Span("✔ " if ready.ready else "✖ "), html.B(word), *parts])
    return [box] + ([html.Ul([html.Li(w) for w in ready.why], className="discharge-why")] if ready.why else [])


def countdown(phase: Optional[str], left_s: Optional[float], minimum_observation_s: float) -> str:
    """The profile's minimum observation, counting down in recovery: "Minimum observation
    (30 min): 12:05 to go", then "complete"."""
    if phase != "recovery" or left_s is None:
        return ""
    head = f"Minimum observation ({minimum_observation_s / 60:g} min): "
    if left_s <= 0:
        return head + "complete"
    whole = int(left_s + 0.999)
    return head + f"{whole // 60}:{whole % 60:02d} to go"


def discharge_form() -> list:
    """The decision, signed: rendered once when recovery begins (a typed reason survives the ticks)."""
    return [html.H4("Discharge"),
            html.Label(["Only if the patient is not ready: the clinician's reason to discharge now ",
                        dcc.Input(id="dis-override", type="text", maxLength=200, className="text-input wide")]),
            html.Button("Discharge home (signed)", id="dis-save", className="btn btn-go"),
            html.Div(id="dis-status", className="form-status", role="status")]


def readiness_now(store, sid: int, now: float, protocol: Protocol) -> tuple[discharge.Readiness, dict]:
    """(readiness, what it was read from) for a session from the store, as the tick decides it."""
    events = queries.events(store, sid)
    struck = struck_entries(events)
    assessed = discharge.fold_assessments(None, [e for e in events if e["id"] not in struck])
    s = queries.session(store, sid)
    ready = discharge.readiness((assessed["aldrete"] or {}).get("data"), assessed["padss"], protocol.padss,
                                queries.alarm_board(store, sid), s["infusion_end"], now,
                                protocol.minimum_observation_s)
    return ready, assessed


def discharge_action(store, protocol: Protocol, state, actor: Actor, override: Optional[str]) -> tuple[str, bool]:
    """Discharge the chair's patient, signed by `actor`: ready, or not ready with a clinician's
    reason (discharge.check_discharge; access: discharge_override)."""
    try:
        sid = page_session(store, state, actor, "discharge")
    except FormError as e:
        return "; ".join(e.errors), False
    now = session_now(store, sid)
    ready, assessed = readiness_now(store, sid, now, protocol)
    reason = " ".join(str(override or "").split())
    try:
        with people.refusals_recorded(store, actor, "discharge", session_id=sid):  # a refusal is audited too
            if reason and not ready.ready:
                access.check(actor, "discharge_override")
            if assessed["discharge"] is not None:  # asked first, so the reason says so (the store decides again)
                sessions.check_discharged_once([assessed["discharge"].get("author")])
            data = discharge.check_discharge(ready, reason)
    except RuleError as e:
        return str(e), False
    s = queries.session(store, sid)
    observed = f"observed {(now - s['infusion_end']) / 60:.0f} min" if s["infusion_end"] else ""
    scores = [f"Aldrete {assessed['aldrete']['data'].get('total')}/10"] if assessed["aldrete"] else []
    scores += [f"PADSS {h['total']}/{discharge.PADSS_MAX}" for h in assessed["padss"][-2:]]
    data.update({"observed_s": (now - s["infusion_end"]) if s["infusion_end"] else None})
    text = ("Discharged home: ready" if ready.ready else f"Discharged home NOT READY: {reason}") + \
        (f" ({', '.join(scores + [observed] if observed else scores)})" if scores or observed else "")
    return sign_and_chart(store, state, actor, "discharge", lambda: (data, text), session_id=sid)


def padss_action(store, protocol: Protocol, state, actor: Actor, raw: dict) -> tuple[str, bool]:
    """Record PADSS, signed by `actor`, against what the session's data suggests."""
    if protocol.padss is None:
        return "This profile asks for no PADSS score.", False
    try:
        sid = page_session(store, state, actor, "padss")
    except FormError as e:
        return "; ".join(e.errors), False
    pre = padss_prefill(store, sid, session_now(store, sid), protocol)
    return sign_and_chart(store, state, actor, "padss",
                          lambda: validate_padss(raw, minimum=protocol.padss.discharge_min, prefilled=pre),
                          session_id=sid)


def register(app, store, protocol: Protocol) -> None:
    @app.callback(Output("padss-status", "children"), Output("padss-status", "className"),
                  Input("padss-save", "n_clicks"), *[State(f"padss-{k}", "value") for k in discharge.PADSS_ITEMS],
                  State("padss-reason", "value"), State("bed-state", "data"), prevent_initial_call=True)
    def save_padss(_n, *args):
        *values, reason, state = args
        raw = {**dict(zip(discharge.PADSS_ITEMS, values)), "reason": reason}
        msg, ok = padss_action(store, page_protocol(store, state, protocol), state, auth.current_actor(), raw)
        return msg, OK if ok else ERR

    @app.callback(Output("dis-status", "children"), Output("dis-status", "className"),
                  Input("dis-save", "n_clicks"), State("dis-override", "value"), State("bed-state", "data"),
                  prevent_initial_call=True)
    def save_discharge(_n, override, state):
        msg, ok = discharge_action(store, page_protocol(store, state, protocol), state, auth.current_actor(),
                                   override)
        return msg, OK if ok else ERR

    @app.callback(Output("ald-status", "children"), Output("ald-status", "className"),
                  Input("ald-save", "n_clicks"), *[State(f"ald-{k}", "value") for k in ALDRETE_ITEMS],
                  State("ald-reason", "value"), State("bed-state", "data"), prevent_initial_call=True)
    def save(_n, *args):
        *values, reason, state = args
        raw = {**dict(zip(ALDRETE_ITEMS, values)), "reason": reason}
        msg, ok = aldrete_action(store, page_protocol(store, state, protocol), state, auth.current_actor(), raw)
        return msg, OK if ok else ERR

    @app.callback(Output("ald-total", "children"), *[Input(f"ald-{k}", "value") for k in ALDRETE_ITEMS],
                  State("bed-state", "data"), prevent_initial_call=True)
    def running_total(*values):
        *scores, state = values
        return total_text(dict(zip(ALDRETE_ITEMS, scores)), page_protocol(store, state, protocol).aldrete_discharge_min)

    @app.callback(Output("ald-circulation", "value"), Output("ald-spo2", "value"),
                  Output("ald-basis-circulation", "children"), Output("ald-basis-spo2", "children"),
                  Input("ald-prefill", "n_clicks"), State("bed-state", "data"), prevent_initial_call=True)
    def refill(_n, state):
        try:
            sid = page_session(store, state)
        except FormError:
            return no_update, no_update, no_update, no_update
        pre = prefill(store, sid, session_now(store, sid), page_protocol(store, state, protocol))
        (c, cb), (s, sb) = pre["circulation"], pre["spo2"]
        return (no_update if c is None else str(c), no_update if s is None else str(s),
                f"prefilled: {cb}", f"prefilled: {sb}")


def aldrete_action(store, protocol: Protocol, state, actor: Actor, raw: dict):
    """Record the checklist, signed by `actor`, against what the chair's session's data suggests."""
    try:
        sid = page_session(store, state, actor, "aldrete")
    except FormError as e:
        return "; ".join(e.errors), False
    pre = prefill(store, sid, session_now(store, sid), protocol)
    basis = {k: v[1] for k, v in pre.items()}
    return sign_and_chart(store, state, actor, "aldrete",
                          lambda: validate_aldrete(raw, basis, minimum=protocol.aldrete_discharge_min, prefilled=pre),
                          session_id=sid)
