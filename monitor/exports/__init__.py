"""Session exports (CSV, HTML report, FHIR R4, HL7 v2.6 results, the esketamine REMS facts page) and the CSV import.

Every export is built as a whole string first and written with `write_atomic`, so a
failed export never leaves half a file behind.
"""
from __future__ import annotations

import errno
import os
from pathlib import Path

FORMATS = ("csv", "html", "fhir", "rems", "hl7")
SUFFIX = {"csv": "csv", "html": "html", "fhir": "fhir.json", "rems": "rems.html", "hl7": "hl7"}


class ExportError(ValueError):
    """An export that cannot be made or written; the message says why in one line."""


def write_atomic(path: str | Path, text: str) -> Path:
    """Write text to path via a temp file in the same directory and os.replace.

    The temp file is created with mode 0o666 and the kernel applies the process umask,
    so the export ends up 0o666 & ~umask like any file the user creates: exports hold
    patient data, and a site's umask 077 must keep them private. (tempfile.mkstemp
    would make it 0600 whatever the umask; reading the umask with os.umask is a
    process-wide race.)
    """
    p = Path(path)
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise ExportError(f"cannot write {p}: directory {parent} does not exist")
    if p.is_dir():
        raise ExportError(f"cannot write {p}: it is a directory")
    try:
        fd, tmp = _create_temp(parent, p.name)
    except OSError as e:
        raise ExportError(f"cannot write {p}: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
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


_TEMP_FLAGS = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
               | getattr(os, "O_BINARY", 0))


def _create_temp(parent: Path, name: str) -> tuple[int, str]:
    """A new, exclusive '.name.XXXXXXXX.part' in parent, opened for writing with mode 0o666 & ~umask."""
    import secrets  # here, not at the top: the CLI imports this package for FORMATS at start-up
    for _ in range(100):
        tmp = str(parent / f".{name}.{secrets.token_hex(4)}.part")
        try:
            return os.open(tmp, _TEMP_FLAGS, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary file name")


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
    if fmt == "hl7":
        from .hl7_results import hl7_file_text, session_results
        return hl7_file_text(session_results(store, session_id))
    if fmt == "rems":
        from .rems_report import rems_html
        return rems_html(store, session_id, protocol)
    raise ExportError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
