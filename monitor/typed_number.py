"""A number as a person types it, checked against its range: the one reading of a typed number
for the page's forms (web/forms.parse_number) and the pure entry checks (medication). A dot or
a comma for decimals; never NaN or infinite; each problem a message naming the field. Pure."""
from __future__ import annotations

import math
import re
from typing import Optional

from .formatting import fmt_entered

NUMBER = re.compile(r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)$")


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
