"""Opening a session from the bedside page: the patient, and the profile it runs under.

The patient reference may be typed or scanned: a barcode scanner on a wristband types the
code and Enter into the focused field, and Enter opens the session as the button does, so
nobody types a reference (and mistypes it) at the chair. When the registration system has
said (ADT over MLLP, integrations/adt_in.py) who is at this chair,
that patient is offered ("Open for PT-…"); the nurse checks the wristband and opens.

A session runs under the chair's own profile (its clinic.toml `protocol`, else the process's
`--protocol`); a clinician may pick another shipped or known profile when opening it
(profile_choice.choices; access: `choose_profile`). The store records the name
(Store.open_session), and everything that decides or draws for the session follows it
(profile_choice.session_profile).
"""
from __future__ import annotations

import time
from typing import Optional

from dash import Input, Output, State, ctx, dcc, html

from .. import access, profile_choice, sessions
from ..access import Actor
from ..admissions import ARRIVAL_VALID_S, EVENTS, expected_patient
from ..formatting import fmt_time
from ..sessions import PATIENT_REF_MAX
from ..store import StoreError, arrivals, people
from . import auth
from .forms import refusal_text


def offered_patient(store, chair: str, now: float) -> Optional[dict]:
    """The registration system's patient for this chair, if any (admissions.expected_patient decides)."""
    since = now - ARRIVAL_VALID_S
    return expected_patient(arrivals.recent(store, chair, since), arrivals.opened_since(store, chair, since), now)


def open_form(chair: str, protocol, offer: Optional[dict] = None):
    """The form an empty chair shows: patient reference (offered by the registration system when
    it named this chair: store/arrivals.py) and, preset to the chair's own, the profile."""
    own = profile_choice.chair_profile(chair, protocol).name
    said = "" if offer is None else (
        f"Registration says {offer['patient_ref']} is at this chair ({EVENTS.get(offer['event'], offer['event'])} "
        f"{fmt_time(offer['received_at'], False)}): check the wristband.")
    return html.Div(className="open-form", children=[
        # always there (a callback listens to its button), shown only with an offer
        html.Div(className="open-offer", id="open-offer", hidden=offer is None,
                 **{"data-arrival": str(offer["id"]) if offer else ""}, children=[
            html.Span(said), " ",
            html.Button(f"Open for {offer['patient_ref']}" if offer else "", id="open-offered", className="btn btn-go")]),
        dcc.Store(id="open-offer-id", data=offer["id"] if offer else None),
        html.Label(f"New session on chair {chair} — patient reference:", htmlFor="open-patient"),
        # a wristband scanner types the code and Enter into the focused field: that opens the session
        dcc.Input(id="open-patient", type="text", maxLength=PATIENT_REF_MAX, debounce=False, autoFocus=True,
                  autoComplete="off", placeholder="type or scan the wristband"),
        html.Label("Profile (another than the chair's needs a clinician):", htmlFor="open-profile"),
        dcc.Dropdown(id="open-profile", options=[{"label": n + (" (this chair's)" if n == own else ""), "value": n}
                                                 for n in profile_choice.choices(protocol)],
                     value=own, clearable=False, className="limit-dropdown open-profile"),
        html.Button("Open session", id="open-session", className="btn btn-go"),
        html.Span(id="open-status", role="status"),
    ])


def open_session_action(store, protocol, patient: Optional[str], state: dict, actor: Actor,
                        profile: Optional[str] = None) -> str:
    """Open a session on this chair under `profile` (None: the chair's own), or find this
    patient's open one (sessions.open_or_resume). The chair named by the page is checked by
    the store (sessions.chair_name), as is the role; another profile than the chair's own needs
    the role that may choose one."""
    chair = (state or {}).get("chair") if isinstance(state, dict) else None
    try:
        with people.refusals_recorded(store, actor, "open_session", chair=str(chair or "")[:40] or None):
            name, needs = profile_choice.for_new_session(str(chair or ""), profile, protocol)
            if needs:
                access.check(actor, needs)
    except sessions.RuleError as e:  # the audit trail has it as refused
        return f"Not opened: {e}"
    try:
        sid, resumed = store.open_session(patient, chair, name, time.time(), actor=actor)
    except (sessions.RuleError, StoreError) as e:  # AccessError is a RuleError
        return refusal_text("Not opened", e)
    if resumed:
        return f"Session {sid} for this patient is already open on this chair."
    return f"Session {sid} opened for {sessions.patient_ref(patient)} under profile {name}."


def register(app, store, protocol) -> None:
    @app.callback(Output("open-status", "children"), Input("open-session", "n_clicks"),
                  Input("open-patient", "n_submit"), Input("open-offered", "n_clicks"),
                  State("open-patient", "value"), State("open-profile", "value"), State("open-offer-id", "data"),
                  State("bed-state", "data"), prevent_initial_call=True)
    def open_session(_n, _scanned, _offered, patient, profile, arrival, state):
        if ctx.triggered_id == "open-offered":
            patient = offered_reference(store, state, arrival, time.time())
            if patient is None:
                return "Not opened: the registration system's entry for this chair has changed; check it again."
        return open_session_action(store, protocol, patient, state, auth.current_actor(), profile)


def offered_reference(store, state, arrival, now: float) -> Optional[str]:
    """The offered patient's reference, read again on the server (never taken from the page),
    if the offer the nurse saw is still the one standing; else None."""
    chair = (state or {}).get("chair") if isinstance(state, dict) else None
    offer = offered_patient(store, str(chair or ""), now) if chair else None
    return offer["patient_ref"] if offer and str(offer["id"]) == str(arrival or "") else None
