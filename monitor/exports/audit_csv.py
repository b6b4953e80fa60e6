"""The audit trail as CSV for an administrator: one row per audit entry, times in UTC.

Every text cell goes through exports/spreadsheet.py's `neutralise`: the trail holds what
people typed (a user name tried at the login page, a chair name, a refusal's text), and
a cell such as `=cmd|' /C calc'!A0` must reach the spreadsheet as text, not as a formula.
The session id is the one number and is written as a number.
"""
from __future__ import annotations

import csv
import io
from typing import Iterable

from ..formatting import iso_utc
from .spreadsheet import neutralise

COLUMNS = ("ts", "user", "role", "action", "outcome", "chair", "session_id", "detail", "address")


def cell(row: dict, column: str) -> str:
    value = row.get(column)
    if column == "ts":
        return iso_utc(value) or ""
    if column == "session_id":
        return "" if value is None else str(int(value))
    return neutralise("" if value is None else str(value))


def to_csv(rows: Iterable[dict]) -> str:
    """The rows (store/people.audit_rows) as CSV text with a header line."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    quoted = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_ALL)  # the writer leaves a lone CR bare
    writer.writerow(COLUMNS)
    for row in rows:
        cells = [cell(row, c) for c in COLUMNS]
        (quoted if any("\r" in c for c in cells) else writer).writerow(cells)
    return out.getvalue()
