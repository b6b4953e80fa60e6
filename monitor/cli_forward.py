"""`forward`: a site's database shipped to the clinic group's central one (monitor/forwarder.py)."""
from __future__ import annotations

import json
import logging
import threading
from typing import Optional

import click

from .cli_context import Context, InputError, pass_ctx


@click.command()
@click.option("--to", "to_db", required=True, metavar="URL", envvar="INFUSION_MONITOR_FORWARD_TO",
              help="The central database: a postgresql://… URL (or a SQLite file, for a trial); also "
                   "INFUSION_MONITOR_FORWARD_TO, which keeps a password off the command line.")
@click.option("--site", "site", default=None, metavar="NAME",
              help="This site's name at the central database (default: this machine's name). Keep it: "
                   "its chairs are named <site>-<chair> there and its rows are keyed by it.")
@click.option("--once", is_flag=True, help="Ship what is there now, then exit 0.")
@click.option("--interval", default=1.0, show_default=True, type=click.FloatRange(0.05, 3600),
              help="Seconds between passes.")
@click.option("--json", "as_json", is_flag=True, help="With --once: print what was sent as JSON.")
@pass_ctx
def forward(c: Context, to_db: str, site: Optional[str], once: bool, interval: float, as_json: bool):
    """Forward this site's database (--db) to a central one, continuously and exactly once.

    Sessions, readings, alarms (with their later acknowledgements and ends), events,
    baselines and the audit trail; idempotent upserts keyed by site and local id, and a
    cursor kept at the central database with each batch, so a network outage, a killed
    forwarder or a central restart loses and duplicates nothing. The bedside never waits:
    this only reads the site's database.
    """
    from .forwarder import Forwarder, site_name
    from .store.backends import display_name

    try:
        name = site_name(site)
    except ValueError as e:
        raise InputError(str(e)) from None
    if _same_database(to_db, c.db):
        raise InputError(f"--to {display_name(to_db)}: that is this site's own database (--db)")
    site_store = c.store(existing=True)
    central = _open_central(to_db, wait=not once, interval=interval)
    try:
        forwarder = Forwarder(site_store, central, name, interval)
        if once:
            result = forwarder.forward_pass()
            if as_json:
                click.echo(json.dumps({"site": name, "to": central.path, "sessions": result.sessions,
                                       "readings": result.readings, "alerts": result.alerts, "events": result.events,
                                       "baselines": result.baselines, "audit": result.audit,
                                       "cursors": result.cursors}))
            else:
                click.echo(f"forwarded to {central.path} as site {name}: {result.sessions} session rows, "
                           f"{result.readings} readings, {result.alerts} alarm rows, {result.events} events, "
                           f"{result.audit} audit rows")
            return
        logging.getLogger("infusion_monitor.forward").setLevel(logging.INFO)
        click.echo(f"infusion-monitor: forwarding {c.db_name} to {central.path} as site {name} "
                   f"every {interval:g} s (Ctrl-C stops)", err=True)
        stop = threading.Event()
        try:
            forwarder.run(stop)
        except KeyboardInterrupt:
            stop.set()
    finally:
        central.close()


def _open_central(to_db: str, wait: bool, interval: float):
    """The central database; when it cannot be reached now, a continuous forwarder waits for it
    (an outage is what forwarding is for), a --once one says so and exits 2."""
    import time
    from .store import Store, StoreError, StoreUnavailable
    said = None
    while True:
        try:
            return Store(to_db)
        except StoreUnavailable as e:
            if not wait:
                raise InputError(f"--to {e}") from None
            if str(e) != said:
                click.echo(f"infusion-monitor: the central database cannot be reached, retrying: {e}", err=True)
            said = str(e)
            time.sleep(max(interval, 1.0))
        except StoreError as e:
            raise InputError(f"--to {e}") from None


def _same_database(a: str, b: str) -> bool:
    """The same SQLite file under two spellings, or the same URL: forwarding a database into
    itself would copy its sessions into it again and again."""
    from pathlib import Path
    from .store.backends import is_postgres_url
    if is_postgres_url(a) or is_postgres_url(b):
        return a.rstrip("/") == b.rstrip("/")
    return Path(a).resolve() == Path(b).resolve()
