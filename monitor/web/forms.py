"""Server-side checks for everything a nurse or clinician types on the bedside page.

Each `validate_*` is pure: raw form values in, `(data, text)` out (the event's JSON
data and its one-line chart text), or `FormError` listing every problem, each
naming its field. `chart` writes one event through the store in one transaction,
so a rejected or failed entry writes nothing.
"""
from __future__ import annotations

import time
from typing import Optional

from .. import access, profile_choice, sessions
from ..access import Actor
from ..formatting import fmt_entered
from ..typed_entry import EntryError, typed_number
from ..model import Event, mean_arterial
from ..medication import medication_entry
from ..discharge import PADSS_CHOICES, PADSS_ITEMS, PADSS_LABELS, padss_entry
from ..scores import ALDRETE_CHOICES, ALDRETE_ITEMS, ALDRETE_LABELS, CONSCIOUSNESS, aldrete_entry
from ..store import StoreError, StoreUnavailable, people, queries

MAX_TEXT = 500

# field: (label, low, high, unit)
VITALS_RANGES = {
    "sbp": ("SBP", 50, 300, "mmHg"), "dbp": ("DBP", 20, 200, "mmHg"),
    "rr": ("Respiratory rate", 3, 60, "/min"), "temp": ("Temperature", 30.0, 43.0, "°C"),
}
# A resting SpO2 below 88 % is below the HIGH desaturation limit: such a patient is not
# infused in a clinic chair, so a lower entered baseline is a typo (79 for 97) that would
# move the relative SpO2 alarm out of reach.
BASELINE_RANGES = {
    "hr": ("Baseline HR", 30, 200, "/min"), "spo2": ("Baseline SpO2", 88, 100, "%"),
    "sbp": ("Baseline SBP", 60, 250, "mmHg"), "dbp": ("Baseline DBP", 30, 150, "mmHg"),
}


class FormError(ValueError):
    """Every problem with one form, each message naming its field."""

    def __init__(self, errors: list[str]):
        self.errors = list(errors)
        super().__init__("; ".join(self.errors))


def parse_number(raw, label: str, low: float, high: float, unit: str = "",
                 errors: Optional[list] = None, required: bool = False) -> Optional[float]:
    """A number typed in a text box, within [low, high]; None when left empty (and allowed).

    Problems are appended to `errors`, or raised as FormError when no list is given.
    """
    errs: list[str] = []
    value = typed_number(raw, label, low, high, unit, errs, required)
    if errors is None and errs:
        raise FormError(errs)
    if errors is not None:
        errors.extend(errs)
    return value




def clean_text(raw, label: str, errors: list, required: bool = False, max_len: int = MAX_TEXT) -> str:
    text = " ".join(str(raw or "").split())  # no control characters or line breaks
    if required and not text:
        errors.append(f"{label}: required")
    elif len(text) > max_len:
        errors.append(f"{label}: at most {max_len} characters (got {len(text)})")
    return text


def _bp_pair(sbp, dbp, errors: list, sbp_label="SBP", dbp_label="DBP") -> None:
    if (sbp is None) != (dbp is None):
        missing = dbp_label if dbp is None else sbp_label
        errors.append(f"{missing}: enter both {sbp_label} and {dbp_label}, or neither")
    elif sbp is not None and not sbp > dbp:
        errors.append(f"{sbp_label} {fmt_entered(sbp)} must be higher than {dbp_label} {fmt_entered(dbp)}")


def validate_manual_vitals(raw: dict) -> tuple[dict, str]:
    """BP from a manual cuff, RR, temperature, ACVPU and oxygen: at least one value."""
    errors: list[str] = []
    vals = {}
    for key, (label, low, high, unit) in VITALS_RANGES.items():
        vals[key] = parse_number(raw.get(key), label, low, high, unit, errors)
    sbp_ok = vals["sbp"] is not None or not _typed(raw.get("sbp"))
    dbp_ok = vals["dbp"] is not None or not _typed(raw.get("dbp"))
    if sbp_ok and dbp_ok:
        _bp_pair(vals["sbp"], vals["dbp"], errors)
    acvpu = str(raw.get("consciousness") or "").strip().upper()
    if acvpu and acvpu not in CONSCIOUSNESS:
        errors.append(f"Consciousness: choose one of {', '.join(CONSCIOUSNESS)} (ACVPU)")
    o2 = bool(raw.get("o2"))
    if not errors and all(v is None for v in vals.values()) and not acvpu:
        errors.append("Manual vitals: enter at least one value (SBP/DBP, respiratory rate, temperature or ACVPU)")
    if errors:
        raise FormError(errors)
    data: dict = {k: (int(v) if k != "temp" and v.is_integer() else v) for k, v in vals.items() if v is not None}
    parts = []
    if "sbp" in data:
        data["map"] = round(mean_arterial(data["sbp"], data["dbp"]))
        parts.append(f"BP {fmt_entered(data['sbp'])}/{fmt_entered(data['dbp'])} (MAP {data['map']})")
    if "rr" in data:
        parts.append(f"RR {fmt_entered(data['rr'])}")
    if "temp" in data:
        parts.append(f"T {data['temp']:.1f} °C")
    if acvpu:
        data["consciousness"] = acvpu
        parts.append(f"ACVPU {acvpu}")
    if o2 or acvpu or "rr" in data:  # air/oxygen is charted with the respiratory observations
        data["o2"] = o2
        parts.append("on O2" if o2 else "on air")
    return data, "Manual vitals: " + " · ".join(parts)


def _typed(raw) -> bool:
    return raw is not None and str(raw).strip() != ""


def validate_note(raw) -> tuple[dict, str]:
    errors: list[str] = []
    text = clean_text(raw, "Note", errors, required=True)
    if errors:
        raise FormError(errors)
    return {}, text


def entry_checked(make):
    """A pure entry check (observations, medication) as a form's validate step: its problems
    (EntryError) become the form's."""
    def validate():
        try:
            return make()
        except EntryError as e:
            raise FormError(e.errors) from None
    return validate


def validate_medication(drug, dose, unit, route, lot=None) -> tuple[dict, str]:
    """A medication given, with its lot number when typed (medication.medication_entry decides)."""
    return entry_checked(lambda: medication_entry(drug, dose, unit, route, lot))()


def validate_dose_change(rate, unit, note="", *, rates: dict) -> tuple[dict, str]:
    """An infusion rate within the profile's range for its unit (rates: Protocol.infusion_rates)."""
    errors: list[str] = []
    value = None
    if unit not in rates:
        errors.append(f"Rate unit: choose one of {', '.join(rates)}")
    else:
        low, high = rates[unit]
        value = parse_number(rate, "Infusion rate", low, high, unit, errors, required=True)
    extra = clean_text(note, "Dose note", errors, max_len=200)
    if errors:
        raise FormError(errors)
    data = {"rate": value, "unit": unit}
    return data, f"Rate {fmt_entered(value)} {unit}" + (f" · {extra}" if extra else "")


def validate_baseline(raw: dict) -> tuple[dict, str]:
    """A clinician's baseline: any of HR, SpO2, SBP+DBP; at least one."""
    errors: list[str] = []
    vals = {k: parse_number(raw.get(k), label, low, high, unit, errors)
            for k, (label, low, high, unit) in BASELINE_RANGES.items()}
    if not any(_typed(raw.get(k)) and vals[k] is None for k in ("sbp", "dbp")):
        _bp_pair(vals["sbp"], vals["dbp"], errors, "Baseline SBP", "Baseline DBP")
    reason = clean_text(raw.get("reason"), "Reason", errors, max_len=200)
    if not errors and all(v is None for v in vals.values()):
        errors.append("Baseline: enter at least one value (HR, SpO2 or SBP/DBP)")
    if errors:
        raise FormError(errors)
    data = {k: (int(v) if v.is_integer() else v) for k, v in vals.items() if v is not None}
    parts = []
    if "hr" in data:
        parts.append(f"HR {fmt_entered(data['hr'])}")
    if "spo2" in data:
        parts.append(f"SpO2 {fmt_entered(data['spo2'])}")
    if "sbp" in data:
        data["map"] = round(mean_arterial(data["sbp"], data["dbp"]))
        parts.append(f"BP {fmt_entered(data['sbp'])}/{fmt_entered(data['dbp'])}")
    return data, "Baseline set: " + " · ".join(parts) + (f" ({reason})" if reason else "")


def _checklist(raw: dict, items: tuple, labels: dict, choices: dict, prefilled: Optional[dict],
               errors: list) -> tuple[dict, dict, str]:
    """A scored checklist (Aldrete, PADSS): every item scored with one of its choices; scoring an
    item otherwise than the data suggests (prefilled: {item: (score, basis)}) needs a reason.
    Returns (scores, overridden {item: the data's score}, reason); problems go to `errors`."""
    scores = {}
    for k in items:
        v = raw.get(k)
        if v is None or v == "":
            errors.append(f"{labels[k]}: choose a score")
            continue
        text = str(v).strip()
        if text not in {str(c) for c in choices[k]}:
            allowed = [str(c) for c in sorted(choices[k])]
            errors.append(f"{labels[k]}: score must be {', '.join(allowed[:-1])} or {allowed[-1]}")
            continue
        scores[k] = int(text)
    reason = clean_text(raw.get("reason"), "Reason", errors, max_len=200)
    overridden = {k: score for k, (score, _) in (prefilled or {}).items()
                  if score is not None and k in scores and scores[k] != score}
    if overridden and not reason:
        errors += [f"{labels[k]}: the data suggests {score} ({prefilled[k][1]}); give a reason to score "
                   f"{scores[k]}" for k, score in overridden.items()]
    return scores, overridden, reason


def validate_aldrete(raw: dict, basis: Optional[dict] = None, *, minimum: int,
                     prefilled: Optional[dict] = None) -> tuple[dict, str]:
    """The recovery checklist: every item scored 0-2. prefilled: {item: (score, basis)} from the
    data (scores.aldrete_prefill); scoring an item otherwise than the data says needs a reason."""
    errors: list[str] = []
    items, overridden, reason = _checklist(raw, ALDRETE_ITEMS, ALDRETE_LABELS, ALDRETE_CHOICES, prefilled, errors)
    if errors:
        raise FormError(errors)
    data, text = aldrete_entry(items, minimum)
    if basis:
        data["basis"] = basis
    if overridden:
        data["overridden"] = {"items": overridden, "reason": reason}
    against = f" · scored against the data: {reason}" if overridden else ""
    return data, text + against


def validate_padss(raw: dict, *, minimum: int, prefilled: Optional[dict] = None) -> tuple[dict, str]:
    """PADSS: every item scored; prefilled: discharge.padss_prefill's (vital signs, nausea)."""
    errors: list[str] = []
    items, overridden, reason = _checklist(raw, PADSS_ITEMS, PADSS_LABELS, PADSS_CHOICES, prefilled, errors)
    if errors:
        raise FormError(errors)
    data, text = padss_entry(items, minimum)
    basis = {k: b for k, (_, b) in (prefilled or {}).items()}
    if basis:
        data["basis"] = basis
    if overridden:
        data["overridden"] = {"items": overridden, "reason": reason}
    return data, text + (f" · scored against the data: {reason}" if overridden else "")


# ----------------------------------------------------------------- writing
def session_now(store, session_id: int) -> float:
    """Now on the session's own clock (sessions.session_clock)."""
    s = queries.session(store, session_id)
    return sessions.session_clock(time.time(), queries.newest_reading_ts(store, session_id),
                                  s["ended_at"] if s else None)


def page_protocol(store, state: Optional[dict], default):
    """The profile the page's session runs under (profile_choice.session_profile): what its
    entries are checked against (infusion rates, limit bounds, discharge scores); the
    process's own when the page shows no session."""
    sid = state.get("session_id") if isinstance(state, dict) else None
    s = queries.session(store, sid) if isinstance(sid, int) and not isinstance(sid, bool) else None
    return profile_choice.session_profile(default, s["protocol"] if s else None)


def page_session(store, state: Optional[dict], actor: Optional[Actor] = None, action: Optional[str] = None) -> int:
    """The session a page entry is for: the one its chair shows now, checked on the server,
    once the signed-in user's role may do `action` at all.

    The page's own state names a session id; a page left open after its chair moved on to
    another session (or a forged page state) must not write into someone else's record.
    With an actor, a refusal here is audited (`refused`) like one from the store.
    """
    state = state or {}
    session_id, chair = state.get("session_id"), state.get("chair")
    try:
        if actor is not None and action is not None:
            access.check(actor, action)
        if not isinstance(session_id, int) or isinstance(session_id, bool):
            raise FormError(["No open session on this chair"])
        current = queries.current_session(store, str(chair)) if chair is not None else None
        if current is None or current["id"] != session_id:
            raise FormError(["This page is out of date: the chair's session has changed. Reload the page."])
    except (FormError, access.AccessError) as e:
        if actor is not None and action is not None:
            text = "; ".join(e.errors) if isinstance(e, FormError) else str(e)
            try:
                people.record(store, actor, action, "refused", str(chair)[:40] if chair else None,
                              session_id if isinstance(session_id, int) and not isinstance(session_id, bool)
                              else None, text)
            except StoreError:
                pass  # the refusal is what the page must show
        if isinstance(e, access.AccessError):
            raise FormError([f"Not recorded: {e}"]) from None
        raise
    return session_id


def chart(store, state: Optional[dict], kind: str, data: dict, text: str, actor: Actor,
          ts: Optional[float] = None, session_id: Optional[int] = None) -> int:
    """Record one event (all or nothing) for the page's session, signed by the signed-in
    user (their role checked and the entry audited by the store); raises FormError with a
    message the page can show. session_id: what page_session already answered for this entry."""
    if session_id is None:
        session_id = page_session(store, state, actor, kind)
    ts = session_now(store, session_id) if ts is None else ts
    try:
        return store.record_event(session_id, Event(ts, kind, text, actor.initials), data or None, actor=actor)
    except sessions.RuleError as e:
        raise FormError([f"Not recorded: {e}"]) from None
    except StoreError as e:
        raise FormError([not_stored("Not recorded", e)]) from None


def refusal_text(what: str, e: Exception) -> str:
    """What the page says when the store refused a write (`what`: "Not recorded"): the role's
    refusal after `what`, a session rule's in its own words, the database's with not_stored."""
    if isinstance(e, access.AccessError):
        return f"{what}: {e}"
    if isinstance(e, sessions.RuleError):
        return str(e)
    return not_stored(what, e)


def not_stored(what: str, e: Exception) -> str:
    """A page entry the database did not take: say so, say nothing was lost, say what to do."""
    if isinstance(e, StoreUnavailable):
        return f"{what}: the monitor's database is busy or full ({e}). What you entered is kept: try again."
    return f"{what}: {e}"
