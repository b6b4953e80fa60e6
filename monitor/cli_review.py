"""Review commands: `export` a session (CSV, HTML report, FHIR R4, HL7 v2.6 results, REMS facts page), `import` a CSV export,
and `alarms-report`, the alarm burden across sessions.

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
from .formatting import fmt_duration, fmt_rate, fmt_share, iso_utc


def _existing_store(c: Context):
    """Export reads an existing database; it never creates one or writes to it."""
    return c.store(readonly=True, existing=True)


@click.command()
@click.option("--session", "session_id", required=True, type=int, help="Session id.")
@click.option("--format", "fmt", required=True, type=click.Choice(FORMATS),
              help="csv: tidy rows (re-importable); html: printable report; fhir: FHIR R4 Bundle (JSON); "
                   "rems: the esketamine REMS monitoring form's facts, a printable page to check and submit "
                   "yourself; hl7: HL7 v2.6 ORU^R01 result messages (IHE PCD-01 style), each message's "
                   "segments ending in CR and the message followed by one LF.")
@click.option("--out", default=None, metavar="FILE", help="Write here (atomically) instead of stdout.")
@pass_ctx
def export(c: Context, session_id: int, fmt: str, out: Optional[str]):
    """Export one session as CSV, a self-contained HTML report, FHIR R4 JSON, HL7 v2.6 results or the
    esketamine REMS facts page (the form's facts from the record, for the clinician to check
    and submit; nothing is submitted)."""
    if out is not None:
        target = Path(out)
        if not (target.parent if str(target.parent) else Path(".")).is_dir():
            raise InputError(f"--out {out}: directory {target.parent} does not exist")
        if target.is_dir():
            raise InputError(f"--out {out}: is a directory; give a file name")
    from .store import queries
    store = _existing_store(c)
    if queries.session(store, session_id) is None:
        raise InputError(f"--session {session_id}: no such session in {c.db_name}")
    protocol = c.protocol if fmt in ("html", "rems") else None
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


@click.command("alarms-report")
@click.option("--since", default=None, metavar="DATE",
              help="Only sessions started on or after this local date (YYYY-MM-DD) or time (ISO 8601).")
@click.option("--what-if", "what_if", default=None, metavar="NAME|FILE",
              help="Also re-run these sessions under this profile and count what each rule would have raised.")
@click.option("--json", "as_json", is_flag=True, help="Print the whole report as JSON.")
@pass_ctx
def alarms_report(c: Context, since: Optional[str], what_if: Optional[str], as_json: bool):
    """Alarm burden: alarms per monitored hour by rule and priority, time in alarm, share
    acknowledged and time to acknowledge, alarms over within 30 s that nobody acted on.
    With --what-if, the alarms each rule would have raised under an edited profile."""
    from .alarm_burden import burden
    from .formatting import parse_when
    from .protocol import ProtocolError, load_protocol
    from .store import queries
    try:
        start = parse_when(since) if since is not None else None
    except ValueError as e:
        raise InputError(f"--since {e}") from None
    try:
        edited = load_protocol(what_if) if what_if is not None else None
    except ProtocolError as e:
        raise InputError(f"--what-if {e}") from None
    store = _existing_store(c)
    sessions = queries.sessions_since(store, start)
    report = burden(sessions, queries.alerts_of_sessions(store, [s["id"] for s in sessions]))
    if edited is not None:
        report["what_if"] = _what_if(c, store, sessions, edited)
    if as_json:
        report["since"] = iso_utc(start)
        for row in report["by_session"]:
            row["started_at"] = iso_utc(row["started_at"])
        click.echo(json.dumps(report, indent=1))
        return
    lines = burden_lines(report, since)
    if edited is not None:
        lines += [""] + what_if_lines(report["what_if"], what_if)
    click.echo("\n".join(lines))


def _what_if(c: Context, store, sessions: list[dict], edited) -> dict:
    """Each session re-run under its own profile and under `edited` (alarm_whatif.WhatIf),
    one session's record in memory at a time."""
    from .alarm_whatif import WhatIf
    from .store import queries
    result = WhatIf(edited, at_hand=c.protocol)
    for s in sessions:
        result.add_session(s, queries.readings(store, s["id"]), queries.events(store, s["id"]),
                           queries.alerts(store, s["id"]))
    return result.result()


def what_if_lines(w: dict, named: str) -> list[str]:
    """The what-if as text: per rule, what the sessions raised under their own profile and
    what they would have under the edited one."""
    lines = [f"What if: {w['sessions']} sessions re-run under their own profile and under {named} "
             f"(\"{w['edited_profile']}\"): {w['own_profile_alarms']} alarms → {w['edited_profile_alarms']} "
             f"({w['change']:+d}); device_disconnected is not in the record and not re-run"]
    if w["record_differs"]:
        lines.append("  note: re-run under their own profile, these differ from what was recorded (the profile of "
                     "that name, or the record, changed since): " + ", ".join(w["record_differs"]))
    if w["skipped"]:
        lines.append(f"  skipped {len(w['skipped'])} sessions: " + "; ".join(
            f"{x['session_id']} ({x['why']})" for x in w["skipped"][:5]) + (" …" if len(w["skipped"]) > 5 else ""))
    if w["by_rule"]:
        lines += _text_table([("rule", 24, "<", lambda x: x["rule"]), ("priority", 8, "<", lambda x: x["priority"]),
                              ("stored", 7, ">", lambda x: x["stored"]), ("own", 6, ">", lambda x: x["own_profile"]),
                              ("what if", 8, ">", lambda x: x["edited_profile"]),
                              ("change", 7, ">", lambda x: f"{x['change']:+d}")], w["by_rule"])
    return lines


def burden_lines(r: dict, since: Optional[str]) -> list[str]:
    """The report as text: the totals, a table per rule, the sessions busiest first."""
    lines = [f"Alarm burden{' since ' + since if since else ''}: {r['sessions']} sessions, "
             f"{r['monitored_h']:.1f} h monitored, {r['alarms']} alarms ({fmt_rate(r['per_hour'])} per hour); "
             f"in alarm {fmt_duration(r['time_in_alarm_s'])}; acknowledged {fmt_share(r['acknowledged_share'])}, "
             f"median {fmt_duration(r['median_to_ack_s'])} after the start; "
             f"{r['ended_within_short_unacknowledged']} over within {r['short_s']:g} s with nobody acting",
             f"Escalated (nobody acknowledged in time): {r['escalated']}" + "".join(
                 f"; {x['priority']} {x['escalated']} ({x['acknowledged']} acknowledged afterwards, median "
                 f"{fmt_duration(x['median_to_ack_s'])} after the start)" for x in r["escalated_by_priority"])]
    if not r["by_rule"]:
        return lines
    lines += [""] + _text_table([
        ("rule", 24, "<", lambda x: x["rule"]), ("kind", 13, "<", lambda x: x["kind"]),
        ("priority", 8, "<", lambda x: x["priority"]), ("alarms", 6, ">", lambda x: x["alarms"]),
        ("per h", 6, ">", lambda x: fmt_rate(x["per_hour"])),
        ("in alarm", 12, ">", lambda x: fmt_duration(x["time_in_alarm_s"])),
        ("ack", 5, ">", lambda x: fmt_share(x["acknowledged_share"])),
        ("to ack", 9, ">", lambda x: fmt_duration(x["median_to_ack_s"])),
        (f"<{r['short_s']:g} s unacted", 14, ">", lambda x: x["ended_within_short_unacknowledged"])], r["by_rule"])
    patient_w = max([12] + [len(x["patient_ref"] or "") for x in r["by_session"]])
    lines += [""] + _text_table([
        ("session", 7, ">", lambda x: x["session_id"]), ("patient", patient_w, "<", lambda x: x["patient_ref"] or "-"),
        ("chair", 6, "<", lambda x: x["chair"] or "-"), ("profile", 16, "<", lambda x: x["protocol"] or "-"),
        ("hours", 6, ">", lambda x: f"{x['monitored_h']:.2f}"), ("alarms", 6, ">", lambda x: x["alarms"]),
        ("per h", 6, ">", lambda x: fmt_rate(x["per_hour"])),
        ("in alarm", 12, ">", lambda x: fmt_duration(x["time_in_alarm_s"]))], r["by_session"])
    return lines


def _text_table(columns: list[tuple], rows: list[dict]) -> list[str]:
    """Fixed-width text columns: (heading, width, "<" or ">", cell(row)) each; a heading line, then a line a row."""
    return [" ".join(f"{heading:{align}{width}}" for heading, width, align, _ in columns)] + [
        " ".join(f"{str(cell(row)):{align}{width}}" for _, width, align, cell in columns) for row in rows]
