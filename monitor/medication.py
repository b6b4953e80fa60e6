"""A medication given, as charted: the one check of an entry, whether a nurse typed it on the
bedside page (web/forms.validate_medication) or a simulated scenario charts it
(playback.scenario_script). Pure: raw values in, the event's data and chart text out.

The data is {drug, dose, unit, route} and, when given, {lot}: the lot (batch) number on the
pack, which the esketamine REMS monitoring form asks for. Entries charted before the lot field
existed have none and stay valid; a report shows "not charted" for it.
"""
from __future__ import annotations

import re
from typing import Optional

from .formatting import fmt_entered
from .typed_entry import EntryError, typed_number

MED_UNITS = ("mg", "mcg", "g", "mL", "units")
MED_ROUTES = ("IV", "PO", "IM", "SC", "SL", "IN", "inhaled")
DRUG_MAX = 60
LOT_MAX = 40
LOT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ./-]*$")  # what packs print: letters, digits, - / .
DOSE_RANGE = (0.001, 10000)


class MedicationError(EntryError):
    """Every problem with one medication entry, each message naming its field."""


def _text(raw) -> str:
    return " ".join(str(raw or "").split())  # no control characters or line breaks


def _dose(raw, errors: list) -> Optional[float]:
    return typed_number(raw, "Dose", *DOSE_RANGE, "", errors, required=True)


def medication_entry(drug, dose, unit, route, lot=None) -> tuple[dict, str]:
    """(data, text) of one medication given; MedicationError listing every problem."""
    errors: list[str] = []
    name = _text(drug)
    if not name:
        errors.append("Medication: required")
    elif len(name) > DRUG_MAX:
        errors.append(f"Medication: at most {DRUG_MAX} characters (got {len(name)})")
    amount = _dose(dose, errors)
    if unit not in MED_UNITS:
        errors.append(f"Dose unit: choose one of {', '.join(MED_UNITS)}")
    if route not in MED_ROUTES:
        errors.append(f"Route: choose one of {', '.join(MED_ROUTES)}")
    batch = _text(lot)
    if len(batch) > LOT_MAX:
        errors.append(f"Lot: at most {LOT_MAX} characters (got {len(batch)})")
    elif batch and not LOT.match(batch):
        errors.append(f"Lot: {batch[:20]!r}: letters, digits, spaces and - / . only")
    if errors:
        raise MedicationError(errors)
    data = {"drug": name, "dose": amount, "unit": unit, "route": route}
    text = f"{name} {fmt_entered(amount)} {unit} {route}"
    if batch:
        data["lot"] = batch
        text += f" (lot {batch})"
    return data, text


def entry(raw: dict) -> tuple[dict, str]:
    """A medication from its data's own shape (a scenario's): (data, text)."""
    raw = raw if isinstance(raw, dict) else {}
    return medication_entry(raw.get("drug"), raw.get("dose"), raw.get("unit"), raw.get("route"), raw.get("lot"))
