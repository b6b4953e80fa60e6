"""Recovery and discharge: the modified Aldrete checklist and discharge readiness.

Circulation and SpO2 are prefilled from the data (latest NIBP vs the pre-infusion
baseline; latest SpO2 and whether the patient was last charted on oxygen); the nurse
confirms or changes every item and records the assessment as an `aldrete` event
with its items in data. Ending the session (who and when) is the End session button.
How recent a reading must be to prefill an item is the profile's ([aldrete]).
"""
from __future__ import annotations

from typing import Optional

from dash import Input, Output, State, dcc, html, no_update

from ..access import Actor
from ..formatting import fmt_time
from ..protocol import Protocol
from ..scores import ALDRETE_CHOICES, ALDRETE_ITEMS, ALDRETE_LABELS, aldrete, aldrete_prefill
from ..store import queries
from . import auth
from .charting import ERR, OK, sign_and_chart
from .forms import FormError, page_session, session_now, validate_aldrete


def prefill(store, session_id: int, now: float, protocol: Protocol) -> dict:
    """The checklist's prefilled items from the latest data (decided by scores.aldrete_prefill)."""
    base = queries.baselines(store, session_id).get("sbp")
    return aldrete_prefill(queries.latest_valid(store, session_id, "sbp"), base["value"] if base else None,
                           queries.latest(store, session_id, "spo2"),
                           bool(queries.last_charted(store, session_id, "manual_vitals", "o2")),
                           now, protocol.aldrete_bp_max_age_s, protocol.aldrete_spo2_max_age_s)


def panel_body(store, state: Optional[dict], phase: Optional[str], now: float, protocol: Protocol):
    """The checklist, rendered when the session enters recovery (not every tick)."""
    sid = (state or {}).get("session_id")
    if phase != "recovery" or not isinstance(sid, int):
        text = {"ended": "Session ended.", None: "No session."}.get(
            phase, "The discharge checklist opens when the infusion stops (recovery).")
        return [html.P(text, className="muted")]
    pre = prefill(store, sid, now, protocol)
    rows = []
    for item in ALDRETE_ITEMS:
        score, basis = pre.get(item, (None, ""))
        opts = [{"label": f" {v} — {txt}", "value": str(v)} for v, txt in ALDRETE_CHOICES[item].items()]
        children = [html.Legend(ALDRETE_LABELS[item]),
                    dcc.RadioItems(id=f"ald-{item}", options=opts, value=None if score is None else str(score),
                                   className="ald-radio")]
        if item in pre:
            children.append(html.Div(f"prefilled: {basis}", id=f"ald-basis-{item}", className="muted ald-basis"))
        rows.append(html.Fieldset(className="ald-item", children=children))
    return [html.Div(rows, className="ald-grid"),
            html.Div(total_text({k: pre.get(k, (None, ""))[0] for k in ALDRETE_ITEMS},
                                protocol.aldrete_discharge_min), id="ald-total",
                     className="ald-total"),
            html.Label(["Reason, if you score an item otherwise than the data suggests ",
                        dcc.Input(id="ald-reason", type="text", maxLength=200, className="text-input wide")]),
            html.Div(className="actions", children=[
                html.Button("Prefill from monitor again", id="ald-prefill", className="btn"),
                html.Button("Record assessment (signed)", id="ald-save", className="btn btn-go"),
            ]),
            html.Div(id="ald-status", className="form-status", role="status")]


def total_text(items: dict, minimum: int) -> str:
    """The running total while the nurse fills the checklist (not recorded until signed)."""
    a = aldrete({k: int(v) for k, v in items.items() if v not in (None, "")}, minimum)
    if a.missing:
        return f"Score so far {a.total}/10 · still to score: " + ", ".join(ALDRETE_LABELS[k] for k in a.missing)
    verdict = "ready for discharge" if a.ready else f"not ready (discharge at ≥ {a.minimum})"
    return f"Modified Aldrete {a.total}/10 · {verdict}"


def discharge(last: Optional[dict], phase: Optional[str], ready: bool, why: list[str]):
    """Discharge readiness as the session rules decide it (sessions.discharge_readiness): ready
    only in recovery, with the reasons shown whenever it is not."""
    if last is None and phase != "recovery":
        return [html.P("No Aldrete assessment recorded yet.", className="muted")]
    parts = []
    if last is not None:
        d = last["data"]
        parts = [html.Span(f" · modified Aldrete {d.get('total')}/10 (discharge at ≥ {d.get('minimum', '?')})"),
                 html.Span(f" · {last.get('author') or '?'} {fmt_time(last['ts'])}", className="muted")]
    if phase != "recovery":  # the record of the last assessment, not a live verdict
        return [html.Div(className="discharge discharge-past", **{"data-ready": "past"},
                         children=[html.B("Last assessment"), *parts])]
    word = "READY FOR DISCHARGE" if ready else "NOT READY"
    box = html.Div(className="discharge " + ("discharge-ready" if ready else "discharge-not"),
                   **{"data-ready": str(ready).lower()},
                   children=[html.Span("✔ " if ready else "✖ "), html.B(word), *parts])
    return [box] + ([html.Ul([html.Li(w) for w in why], className="discharge-why")] if why else [])


def register(app, store, protocol: Protocol) -> None:
    @app.callback(Output("ald-status", "children"), Output("ald-status", "className"),
                  Input("ald-save", "n_clicks"), *[State(f"ald-{k}", "value") for k in ALDRETE_ITEMS],
                  State("ald-reason", "value"), State("bed-state", "data"), prevent_initial_call=True)
    def save(_n, *args):
        *values, reason, state = args
        raw = {**dict(zip(ALDRETE_ITEMS, values)), "reason": reason}
        msg, ok = aldrete_action(store, protocol, state, auth.current_actor(), raw)
        return msg, OK if ok else ERR

    @app.callback(Output("ald-total", "children"), *[Input(f"ald-{k}", "value") for k in ALDRETE_ITEMS],
                  prevent_initial_call=True)
    def running_total(*values):
        return total_text(dict(zip(ALDRETE_ITEMS, values)), protocol.aldrete_discharge_min)

    @app.callback(Output("ald-circulation", "value"), Output("ald-spo2", "value"),
                  Output("ald-basis-circulation", "children"), Output("ald-basis-spo2", "children"),
                  Input("ald-prefill", "n_clicks"), State("bed-state", "data"), prevent_initial_call=True)
    def refill(_n, state):
        try:
            sid = page_session(store, state)
        except FormError:
            return no_update, no_update, no_update, no_update
        pre = prefill(store, sid, session_now(store, sid), protocol)
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
