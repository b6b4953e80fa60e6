"""Review commands: `export` a session (CSV, HTML report, FHIR R4) and `import` a CSV export.

Both check everything before writing: an export is built whole and replaces its
file atomically; an import validates the whole file, then writes one transaction.
They are plain click commands; cli.py adds them to the `infusion-monitor` group.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import click

from .cli_context import Context, InputError, pass_ctx
from .cli_users import operator
from .exports import FORMATS, ExportError, render, write_atomic


def _existing_store(c: Context):
    """Export reads an existing database; it never creates one or writes to it."""
    return c.store(readonly=True, existing=True)


@click.command()
@click.option("--session", "session_id", required=True, type=int, help="Session id.")
@click.option("--format", "fmt", required=True, type=click.Choice(FORMATS),
              help="csv: tidy rows (re-importable); html: printable report; fhir: FHIR R4 Bundle (JSON).")
@click.option("--out", default=None, metavar="FILE", help="Write here (atomically) instead of stdout.")
@pass_ctx
def export(c: Context, session_id: int, fmt: str, out: Optional[str]):
    """Export one session as CSV, a self-contained HTML report or FHIR R4 JSON."""
    if out is not None:
        target = Path(out)
        if not (target.parent if str(target.parent) else Path(".")).is_dir():
            raise InputError(f"--out {out}: directory {target.parent} does not exist")
        if target.is_dir():
            raise InputError(f"--out {out}: is a directory; give a file name")
    from .store import queries
    store = _existing_store(c)
    if queries.session(store, session_id) is None:
        raise InputError(f"--session {session_id}: no such session in {c.db}")
    protocol = c.protocol if fmt == "html" else None
    try:
        text = render(store, session_id, fmt, protocol)
        if out is None:
            click.echo(text, nl=False)
        else:
            write_atomic(out, text)
            click.echo(f"wrote {out} ({len(text.encode('utf-8'))} bytes)", err=True)
    except ExportError as e:
        raise InputError(str(e)) from None


@click.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--patient", "patient_ref", default=None, help="Store under this patient reference instead.")
@click.option("--json", "as_json", is_flag=True, help="Print {session_id, readings, alerts, events} as JSON.")
@pass_ctx
def import_(c: Context, file: str, patient_ref: Optional[str], as_json: bool):
    """Load a CSV made by `export --format csv` as a new session.

    The whole file is checked first (shape, plausible values and times, and the end
    record that proves the file is complete); a problem is reported with its line
    number and nothing is written. Prints the new session id as the last line.
    """
    from . import sessions
    from .exports.csv_export import CsvImportError, parse_file
    from .store import Conflict
    from .store.transfer import insert_session

    if patient_ref is not None:
        try:
            patient_ref = sessions.patient_ref(patient_ref)
        except sessions.RuleError as e:
            raise InputError(f"--patient {patient_ref!r}: {e}") from None
    try:
        parsed = parse_file(file, patient_ref)
    except CsvImportError as e:
        raise InputError(str(e)) from None
    try:
        sid = insert_session(c.store(), parsed.session, parsed.baselines, parsed.readings, parsed.alerts,
                             parsed.events, actor=operator(),
                             detail=f"{Path(file).name}: {len(parsed.readings)} readings, {len(parsed.events)} events")
    except Conflict as e:  # a backstop: parse_file checks the keys; the transaction rolled back
        raise InputError(f"{file}: cannot import: {e}; nothing was written") from None
    if parsed.closed_on_import:
        click.echo("note: the session was still running when exported; the imported copy is marked ended",
                   err=True)
    counts = {"session_id": sid, "readings": len(parsed.readings), "alerts": len(parsed.alerts),
              "events": len(parsed.events)}
    if as_json:
        click.echo(json.dumps(counts))
    else:
        click.echo(f"{counts['readings']} readings, {counts['alerts']} alerts, {counts['events']} events", err=True)
        click.echo(sid)
