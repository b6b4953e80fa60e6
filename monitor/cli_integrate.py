"""`integrate`: the clinic.toml [integrations] destinations fed from the database (monitor/integrations)."""
from __future__ import annotations

import json
import logging
import sys
import threading
import time
from typing import Optional

import click

from .cli_context import Context, InputError, pass_ctx


@click.command()
@click.option("--config", default=None, type=click.Path(dir_okay=False),
              help="clinic.toml with an [integrations] section (its chairs are not started).")
@click.option("--once", is_flag=True,
              help="Queue and send what is there now, then exit: 0 when every outbox is empty, 3 when "
                   "messages wait undelivered.")
@click.option("--interval", default=2.0, show_default=True, type=click.FloatRange(0.1, 3600),
              help="Seconds between passes.")
@click.option("--status", is_flag=True, help="Print each destination's outbox (depth, oldest, last error) and exit.")
@click.option("--json", "as_json", is_flag=True, help="With --once or --status: print JSON.")
@click.option("--set-aside", "set_aside", default=None, metavar="DESTINATION",
              help="Move the first waiting message of DESTINATION, which its receiver did not take, out of the "
                   "queue so the rest go: kept whole, audited; needs --message and --reason.")
@click.option("--message", "message_id", default=None, type=int,
              help="With --set-aside: the id of the first waiting message, as --status shows it.")
@click.option("--reason", default=None, help="With --set-aside: why (kept with the message and in the audit trail).")
@click.option("--set-aside-list", "set_aside_list", is_flag=True,
              help="Print the messages set aside, newest first, with their text (--json: as JSON), and exit.")
@pass_ctx
def integrate(c: Context, config: Optional[str], once: bool, interval: float, status: bool, as_json: bool,
              set_aside: Optional[str], message_id: Optional[int], reason: Optional[str], set_aside_list: bool):
    """Feed clinic.toml's [integrations]: results, alarms and sessions out, registrations in, continuously.

    Each session's NIBP measurements, vital signs per interval and charted events become
    ORU^R01 messages, queued in the database's outbox once each and sent in order; an AA
    acknowledgement removes one, anything else is retried with backoff, so a receiver
    that is down for an hour, or a restart of either side, loses nothing. A "fhir"
    destination gets each ended session as a FHIR R4 transaction Bundle over HTTP(S), through
    the same outbox; an "adt" destination listens for the registration system's ADT messages
    (not with --once). README, "Integrations".
    """
    modes = [name for name, on in (("--once", once), ("--status", status), ("--set-aside", set_aside is not None),
                                   ("--set-aside-list", set_aside_list)) if on]
    if len(modes) > 1:
        raise InputError(f"{' and '.join(modes)}: one at a time")
    if set_aside is not None:
        _set_aside(c, set_aside, message_id, reason)
        return
    if message_id is not None or reason is not None:
        raise InputError("--message and --reason go with --set-aside")
    if set_aside_list:
        _print_set_aside(c, as_json)
        return
    if status:
        _print_status(c, as_json)
        return
    if not config:
        raise InputError("--config: give the clinic.toml whose [integrations] says where to send")
    from .clinic_config import ConfigError, load_integrations
    from .integrations.runner import IntegrationRunner
    try:
        integrations = load_integrations(config)
    except ConfigError as e:
        raise InputError(str(e)) from None
    if not integrations.destinations:
        raise InputError(f"{config}: [integrations]: no destination; add e.g. [integrations.ehr] "
                         "kind = \"mllp\", host, port")
    store = c.store(existing=True)
    store.require_writable()
    runner = IntegrationRunner(store, integrations)
    try:
        if once:
            report = runner.one_pass()
            waiting = _status_rows(store)
            if as_json:
                click.echo(json.dumps({"destinations": report, "outbox": waiting}))
            else:
                for name, r in report.items():
                    click.echo(f"{name}: {r['queued']} queued, {r['sent']} sent"
                               + (f"; not delivered: {r['failed']}" if r["failed"] else ""))
            if any(row["depth"] for row in waiting):
                sys.exit(3)
            return
        logging.getLogger("infusion_monitor.integrate").setLevel(logging.INFO)
        names = ", ".join(f"{d.name} ({d.kind} {d.address})" for d in integrations.destinations)
        click.echo(f"infusion-monitor: sending from {c.db_name} to {names} every {interval:g} s (Ctrl-C stops)",
                   err=True)
        try:
            runner.listen()
        except OSError as e:
            raise InputError(str(e.strerror or e)) from None
        stop = threading.Event()
        try:
            runner.run(stop, interval)
        except KeyboardInterrupt:
            stop.set()
    finally:
        runner.close()


def _set_aside(c: Context, destination: str, message_id: Optional[int], reason: Optional[str]) -> None:
    from .cli_users import operator
    from .sessions import RuleError
    from .store import Conflict, NotFound, outbox
    if message_id is None:
        raise InputError("--set-aside: give --message, the id of the first waiting message (see --status)")
    if not reason:
        raise InputError("--set-aside: give --reason, why the message is set aside")
    store = c.store(existing=True)
    store.require_writable()
    try:
        row = outbox.set_aside(store, destination, message_id, operator(), reason, time.time())
    except (RuleError, Conflict, NotFound) as e:
        raise InputError(f"--set-aside {destination}: {e}") from None
    click.echo(f"{destination}: message {row['outbox_id']} ({row['message_key']}) set aside after "
               f"{row['attempts']} tries; the messages behind it go next")


def _print_set_aside(c: Context, as_json: bool) -> None:
    from .formatting import fmt_datetime
    from .store import outbox
    rows = outbox.set_aside_messages(c.store(readonly=True, existing=True), limit=None)
    if as_json:
        click.echo(json.dumps(rows))
        return
    if not rows:
        click.echo("no message has been set aside")
    for r in rows:
        after_all = f"; delivered after all {fmt_datetime(r['delivered_at'])}" if r["delivered_at"] else ""
        click.echo(f"{r['destination']}: message {r['outbox_id']} ({r['message_key']}, control id "
                   f"{r['control_id'] or '-'}) set aside {fmt_datetime(r['set_aside_at'])} by {r['set_aside_by']}: "
                   f"{r['reason']} (after {r['attempts']} tries: {r['last_error'] or '-'}){after_all}")
        click.echo("    " + r["payload"].replace("\r", "\n    ").rstrip())


def _status_rows(store) -> list[dict]:
    from .store import outbox
    return outbox.queue_status(store, time.time())


def _print_status(c: Context, as_json: bool) -> None:
    from .formatting import fmt_datetime
    rows = _status_rows(c.store(readonly=True, existing=True))
    if as_json:
        click.echo(json.dumps(rows))
        return
    if not rows:
        click.echo("no destination has queued or sent anything")
    for r in rows:
        oldest = f", oldest waiting {r['oldest_age_s']:.0f} s" if r["depth"] else ""
        last = f", last sent {fmt_datetime(r['last_sent_at'])}" if r.get("last_sent_at") else ""
        problem = (f"; retrying message {r['head_id']} ({r['head_message_key']}): {r['head_last_error']}"
                   if r["depth"] and r.get("head_last_error") else "")
        aside = f"; {r['set_aside']} set aside" if r.get("set_aside") else ""
        click.echo(f"{r['destination']}: {r['depth']} waiting{oldest}; {r['sent']} sent{last}{aside}{problem}")
