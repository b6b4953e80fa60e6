"""Charting on the bedside page: notes, medication, dose changes, manual observations, baseline.

Every entry is checked server-side (forms.validate_*), signed by the signed-in user
(auth.current_actor: their initials on the entry, their role checked and the entry
audited by the store), and written as one event through the store. The trend and the
event log pick it up on the next tick.
"""
from __future__ import annotations

from typing import Optional

from dash import Input, Output, State, dcc, html, no_update

from ..access import Actor
from ..medication import LOT_MAX, MED_ROUTES, MED_UNITS
from . import auth
from .bedside_view import consciousness_options
from .forms import (MAX_TEXT, FormError, chart, clean_text, page_protocol, page_session, validate_baseline,
                    validate_dose_change, validate_manual_vitals, validate_medication, validate_note)

OK, ERR = "form-status form-ok", "form-status form-error"


def _num(id_, placeholder="", width="num-input"):
    return dcc.Input(id=id_, type="text", inputMode="decimal", placeholder=placeholder, className=width,
                     autoComplete="off")


def _field(label, control, id_):
    return html.Div(className="field", children=[html.Label(label, htmlFor=id_), control])


def charting_panel(protocol):
    return html.Section(className="panel panel-charting", children=[
        html.H3("Chart an event"),
        html.Div(className="subform", children=[
            html.H4("Note"),
            # no maxLength: the browser would cut a long note without a word; the counter warns
            # and the server refuses it whole (forms.MAX_TEXT), so nothing typed is lost
            dcc.Textarea(id="note-text", className="note-input",
                         placeholder="Free-text note (e.g. patient reports nausea)"),
            html.Div(f"0/{MAX_TEXT}", id="note-count", className="muted note-count", **{"aria-live": "polite"}),
            html.Button("Add note", id="note-save", className="btn"),
        ]),
        html.Div(className="subform", children=[
            html.H4("Medication given"),
            html.Div(className="field-row", children=[
                _field("Drug", dcc.Input(id="med-drug", type="text", maxLength=60, className="text-input",
                                         autoComplete="off"), "med-drug"),
                _field("Dose", _num("med-dose"), "med-dose"),
                _field("Unit", dcc.Dropdown(id="med-unit", options=list(MED_UNITS), value="mg", clearable=False,
                                            className="small-dropdown"), "med-unit"),
                _field("Route", dcc.Dropdown(id="med-route", options=list(MED_ROUTES), value="IV", clearable=False,
                                             className="small-dropdown"), "med-route"),
                _field("Lot (optional)", dcc.Input(id="med-lot", type="text", maxLength=LOT_MAX,
                                                   className="text-input", autoComplete="off"), "med-lot"),
            ]),
            html.Button("Record medication", id="med-save", className="btn"),
        ]),
        html.Div(className="subform", children=[
            html.H4("Infusion rate change"),
            html.Div(className="field-row", children=[
                _field("New rate", _num("dose-rate"), "dose-rate"),
                _field("Unit", dcc.Dropdown(id="dose-unit", options=list(protocol.infusion_rates),
                                            value=next(iter(protocol.infusion_rates)),
                                            clearable=False, className="small-dropdown"), "dose-unit"),
                _field("Note", dcc.Input(id="dose-note", type="text", maxLength=200, className="text-input"),
                       "dose-note"),
            ]),
            html.Button("Record rate change", id="dose-save", className="btn"),
        ]),
        html.Div(id="chart-status", className="form-status", role="status"),
        html.Div(className="subform", children=[
            html.H4("Strike a wrong entry"),
            html.P("It stays in the record, struck through, with your reason, signed with your login.", className="muted"),
            dcc.Dropdown(id="strike-event", options=[], placeholder="Choose the entry…", className="limit-dropdown"),
            _field("Reason", dcc.Input(id="strike-reason", type="text", maxLength=200, className="text-input wide"),
                   "strike-reason"),
            html.Button("Strike entry (signed)", id="strike-save", className="btn"),
            html.Div(id="strike-status", className="form-status", role="status"),
        ]),
    ])


def strike_action(store, state, actor: Actor, event_id, reason) -> tuple[str, bool]:
    """Strike one entry through (sessions.check_correction decides in the store)."""
    def validate():
        errors: list[str] = []
        why = clean_text(reason, "Reason", errors, required=True, max_len=200)
        if not isinstance(event_id, int):
            errors.append("Entry: choose the entry to strike")
        if errors:
            raise FormError(errors)
        return {"strikes": event_id, "reason": why}, f"Struck an entry: {why}"
    return sign_and_chart(store, state, actor, "correction", validate)


def vitals_panel():
    return html.Section(className="panel panel-vitals", children=[
        html.H3("Manual observations"),
        html.Div(className="field-row", children=[
            _field("SBP mmHg", _num("mv-sbp"), "mv-sbp"),
            _field("DBP mmHg", _num("mv-dbp"), "mv-dbp"),
            _field("Resp. rate /min", _num("mv-rr"), "mv-rr"),
            _field("Temp °C", _num("mv-temp"), "mv-temp"),
        ]),
        html.Div(className="field-row", children=[
            _field("Consciousness (ACVPU)", dcc.Dropdown(id="mv-acvpu", options=consciousness_options(),
                                                         placeholder="—", className="acvpu-dropdown"), "mv-acvpu"),
            dcc.Checklist(id="mv-o2", options=[{"label": " on supplemental oxygen", "value": "o2"}], value=[],
                          className="o2-check"),
        ]),
        html.Button("Record observations", id="mv-save", className="btn"),
        html.Div(id="mv-status", className="form-status", role="status"),
    ])


def baseline_panel():
    return html.Section(className="panel panel-baseline", children=[
        html.H3("Baseline"),
        html.Div(id="bed-baseline"),
        html.Details(className="baseline-form", children=[
            html.Summary("Set or correct the baseline (clinician)"),
            html.Div(className="field-row", children=[
                _field("HR /min", _num("bl-hr"), "bl-hr"), _field("SpO₂ %", _num("bl-spo2"), "bl-spo2"),
                _field("SBP mmHg", _num("bl-sbp"), "bl-sbp"), _field("DBP mmHg", _num("bl-dbp"), "bl-dbp"),
            ]),
            _field("Reason", dcc.Input(id="bl-reason", type="text", maxLength=200, className="text-input wide"),
                   "bl-reason"),
            html.Button("Set baseline (signed with your login)", id="bl-save", className="btn"),
            html.Div(id="bl-status", className="form-status", role="status"),
        ]),
    ])


# ----------------------------------------------------------------- actions (pure over the store)
def sign_and_chart(store, state: dict, actor: Actor, kind: str, validate,
                   session_id: Optional[int] = None) -> tuple[str, bool]:
    """Validate the entry, then write one event signed by `actor`: (message, ok). session_id:
    what page_session already answered for this entry (else asked here)."""
    try:
        if session_id is None:  # the role first: a nurse's baseline is refused, not checked
            session_id = page_session(store, state, actor, kind)
        data, text = validate()
        chart(store, state, kind, data, text, actor, session_id=session_id)
    except FormError as e:
        return "; ".join(e.errors), False
    return f"Recorded: {text} ({actor.initials}).", True


def manual_vitals_action(store, state, actor: Actor, sbp, dbp, rr, temp, acvpu, o2):
    raw = {"sbp": sbp, "dbp": dbp, "rr": rr, "temp": temp, "consciousness": acvpu, "o2": bool(o2)}
    return sign_and_chart(store, state, actor, "manual_vitals", lambda: validate_manual_vitals(raw))


NOTE_COUNTER = """function (text) {
  var n = (text || "").length, max = %d;
  return n > max ? [n + "/" + max + " \u2014 too long: shorten it before adding (nothing is cut)", "note-count note-over"]
                 : [n + "/" + max, "muted note-count"];
}""" % MAX_TEXT


def register(app, store, protocol) -> None:
    app.clientside_callback(NOTE_COUNTER, Output("note-count", "children"), Output("note-count", "className"),
                            Input("note-text", "value"))

    @app.callback(Output("strike-status", "children"), Output("strike-status", "className"),
                  Output("strike-reason", "value"), Input("strike-save", "n_clicks"), State("strike-event", "value"),
                  State("strike-reason", "value"), State("bed-state", "data"), prevent_initial_call=True)
    def strike(_n, event_id, reason, state):
        msg, ok = strike_action(store, state, auth.current_actor(), event_id, reason)
        return msg, OK if ok else ERR, "" if ok else no_update

    @app.callback(Output("chart-status", "children"), Output("chart-status", "className"),
                  Output("note-text", "value"), Output("med-drug", "value"), Output("med-dose", "value"),
                  Output("dose-rate", "value"), Output("dose-note", "value"), Output("med-lot", "value"),
                  Input("note-save", "n_clicks"), Input("med-save", "n_clicks"), Input("dose-save", "n_clicks"),
                  State("note-text", "value"), State("med-drug", "value"), State("med-dose", "value"),
                  State("med-unit", "value"), State("med-route", "value"), State("med-lot", "value"),
                  State("dose-rate", "value"),
                  State("dose-unit", "value"), State("dose-note", "value"),
                  State("bed-state", "data"), prevent_initial_call=True)
    def chart_event(_a, _b, _c, note, drug, dose, unit, route, lot, rate, rate_unit, rate_note, state):
        from dash import ctx
        trig = ctx.triggered_id
        keep = [no_update] * 6
        if trig == "note-save":
            msg, ok = sign_and_chart(store, state, auth.current_actor(), "note", lambda: validate_note(note))
            cleared = ["", no_update, no_update, no_update, no_update, no_update]
        elif trig == "med-save":
            msg, ok = sign_and_chart(store, state, auth.current_actor(), "medication",
                                     lambda: validate_medication(drug, dose, unit, route, lot))
            cleared = [no_update, "", "", no_update, no_update, ""]
        elif trig == "dose-save":
            msg, ok = sign_and_chart(store, state, auth.current_actor(), "dose_change",
                                     lambda: validate_dose_change(rate, rate_unit, rate_note,
                                                                  rates=page_protocol(store, state,
                                                                                      protocol).infusion_rates))
            cleared = [no_update, no_update, no_update, "", "", no_update]
        else:
            return (no_update, no_update, *keep)
        return (msg, OK if ok else ERR, *(cleared if ok else keep))

    @app.callback(Output("mv-status", "children"), Output("mv-status", "className"),
                  Output("mv-sbp", "value"), Output("mv-dbp", "value"), Output("mv-rr", "value"),
                  Output("mv-temp", "value"), Output("mv-acvpu", "value"), Output("mv-o2", "value"),
                  Input("mv-save", "n_clicks"), State("mv-sbp", "value"), State("mv-dbp", "value"),
                  State("mv-rr", "value"), State("mv-temp", "value"), State("mv-acvpu", "value"),
                  State("mv-o2", "value"), State("bed-state", "data"), prevent_initial_call=True)
    def manual_vitals(_n, sbp, dbp, rr, temp, acvpu, o2, state):
        msg, ok = manual_vitals_action(store, state, auth.current_actor(), sbp, dbp, rr, temp, acvpu, o2)
        # every field resets after a save, so nothing charted once is silently charted again
        cleared = ["", "", "", "", None, []] if ok else [no_update] * 6
        return (msg, OK if ok else ERR, *cleared)

    @app.callback(Output("bl-status", "children"), Output("bl-status", "className"),
                  Input("bl-save", "n_clicks"), State("bl-hr", "value"), State("bl-spo2", "value"),
                  State("bl-sbp", "value"), State("bl-dbp", "value"), State("bl-reason", "value"),
                  State("bed-state", "data"), prevent_initial_call=True)
    def baseline(_n, hr, spo2, sbp, dbp, reason, state):
        raw = {"hr": hr, "spo2": spo2, "sbp": sbp, "dbp": dbp, "reason": reason}
        msg, ok = sign_and_chart(store, state, auth.current_actor(), "baseline_set", lambda: validate_baseline(raw))
        return msg, OK if ok else ERR
