"""What a person types, as the pure entry checks and the page's forms read it: `EntryError`, an
entry's problems each naming its field (observations, medication; web/forms turns it into the
form's), and `typed_number`, a number as typed (a dot or a comma for decimals; never NaN or
infinite) within its range (web/forms.parse_number, medication). Pure."""
from __future__ import annotations

import math
import re
from typing import Optional

from .formatting import fmt_entered

NUMBER = re.compile(r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)$")


class EntryError(ValueError):
    """Every problem with one entry, each message naming its field."""

    def __init__(self, errors: list[str]):
        self.errors = list(errors)
        super().__init__("; ".join(self.errors))


def typed_number(raw, label: str, low: float, high: float, unit: str, errs: list,
                 required: bool) -> Optional[float]:
    """The value in [low, high], or None: left empty (a problem when required), or a problem
    appended to `errs`."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        if required:
            errs.append(f"{label}: required")
        return None
    if isinstance(raw, bool):
        errs.append(f"{label}: enter a number")
        return None
    if isinstance(raw, (int, float)):
        value = float(raw)
    else:
        text = str(raw).strip()
        if not NUMBER.match(text):
            errs.append(f"{label}: {text[:20]!r} is not a number")
            return None
        value = float(text.replace(",", "."))
    if not math.isfinite(value):
        errs.append(f"{label}: enter a number")
        return None
    if not low <= value <= high:
        u = f" {unit}" if unit else ""
        errs.append(f"{label}: {fmt_entered(value)} is outside {fmt_entered(low)}–{fmt_entered(high)}{u}")
        return None
    return value
