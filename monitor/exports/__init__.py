"""Session exports (CSV, HTML report, FHIR R4) and the CSV import.

Every export is built as a whole string first and written with `write_atomic`, so a
failed export never leaves half a file behind.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

FORMATS = ("csv", "html", "fhir")
SUFFIX = {"csv": "csv", "html": "html", "fhir": "fhir.json"}


class ExportError(ValueError):
    """An export that cannot be made or written; the message says why in one line."""


def write_atomic(path: str | Path, text: str) -> Path:
    """Write text to path via a temp file in the same directory and os.replace."""
    p = Path(path)
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise ExportError(f"cannot write {p}: directory {parent} does not exist")
    if p.is_dir():
        raise ExportError(f"cannot write {p}: it is a directory")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".part", dir=parent)
    except OSError as e:
        raise ExportError(f"cannot write {p}: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, p)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError):
            raise ExportError(f"cannot write {p}: {e.strerror or e}") from None
        raise
    return p


def default_filename(session: dict, fmt: str) -> str:
    """'session-12-PT-9.csv': names that sort and say what they hold."""
    ref = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in (session.get("patient_ref") or ""))
    return f"session-{session['id']}" + (f"-{ref}" if ref else "") + f".{SUFFIX[fmt]}"


def render(store, session_id: int, fmt: str, protocol=None) -> str:
    """The export of one session as text; ExportError for an unknown session or format."""
    if fmt == "csv":
        from .csv_export import to_csv
        return to_csv(store, session_id)
    if fmt == "html":
        from .html_report import report_html
        return report_html(store, session_id, protocol)
    if fmt == "fhir":
        from .fhir import bundle_json
        return bundle_json(store, session_id)
    raise ExportError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
