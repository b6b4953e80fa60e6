"""Operations: `backup`, `restore` and `purge` (retention), the clinic's care of its database.

The work is the store's (store/backup.py, store/retention.py); these commands check their
options first, so a typo is one line naming the option and nothing is touched. They are
plain click commands; cli.py adds them to the `infusion-monitor` group.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import click

from .cli_context import Context, InputError, pass_ctx
from .cli_users import operator, signer
from .formatting import counted

DAY_S = 24 * 3600


def _writable_file(option: str, value: str) -> Path:
    """A file the command may create or replace: its directory exists and takes files."""
    target = Path(value)
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise InputError(f"{option} {value}: directory {folder} does not exist")
    if target.is_dir():
        raise InputError(f"{option} {value}: is a directory; give a file name")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(f"{option} {value}: directory {folder} is not writable")
    return target


@click.command()
@click.option("--to", "to", required=True, metavar="PATH",
              help="Write the backup here (a temporary file beside it, renamed over it when complete).")
@pass_ctx
def backup(c: Context, to: str):
    """Back up the whole database while the monitor keeps running: SQLite's online backup
    (one consistent moment), or pg_dump's custom format for PostgreSQL."""
    from .store import StoreError
    from .store.backup import backup as write_backup
    target = _writable_file("--to", to)
    store = c.store(readonly=True, existing=True)
    try:
        done = write_backup(store, target)
    except StoreError as e:
        raise InputError(f"--to {to}: {e}") from None
    click.echo(f"wrote {done['path']} ({counted(done['bytes'], 'byte')}, {counted(done['sessions'], 'session')})")


@click.command()
@click.option("--from", "source", required=True, metavar="PATH", help="A file written by `backup`.")
@pass_ctx
def restore(c: Context, source: str):
    """Replace the database with a backup (refused while acquisition writes to it). Everything
    since the backup is lost, the audit trail's rows included; the restore itself is audited."""
    from .store import Store, StoreError, people
    from .store.backends import is_postgres_url
    from .store.backup import restore as put_back, session_count
    if not Path(source).is_file():
        raise InputError(f"--from {source}: no such file")
    if not is_postgres_url(c.db):
        _writable_file("--db", c.db)
    try:
        put_back(c.db, Path(source))
    except StoreError as e:
        raise InputError(f"--from {source}: {e}") from None
    store = Store(c.db)  # an older backup's schema brought up to date
    try:
        people.record(store, operator(), "restore", detail=f"from {Path(source).name}")
        sessions = session_count(store)
    finally:
        store.close()
    click.echo(f"restored {store.path} from {source} ({counted(sessions, 'session')})")


@click.command()
@click.option("--before", required=True, metavar="DATE",
              help="Remove ended sessions started before this day (local YYYY-MM-DD).")
@click.option("--by", "author", required=True, help="Initials of who purges (2-4 letters; an administrator).")
@click.option("--dry-run", is_flag=True, help="Say what would be removed; write nothing.")
@pass_ctx
def purge(c: Context, before: str, author: str, dry_run: bool):
    """Retention: remove the sessions that ended and started before DATE, with all their
    readings, alarms, events and baselines. Open sessions are never removed; the audit trail
    is kept whole, and the purge is written to it before the first delete."""
    from . import sessions as session_rules
    from .formatting import parse_when
    from .store import retention
    try:
        start = parse_when(before)
    except ValueError as e:
        raise InputError(f"--before {e}") from None
    if start > time.time() + DAY_S:  # tomorrow takes in today's sessions; a later day is a typo
        raise InputError(f"--before {before}: later than tomorrow; give a past day (or tomorrow)")
    try:
        by = session_rules.initials(author)
    except session_rules.RuleError:
        raise InputError(f"--by {author!r}: initials are 2-4 letters") from None
    store = c.store(readonly=dry_run, existing=True)
    try:
        done = retention.purge(store, start, before, signer(store, by), dry_run=dry_run)
    except session_rules.RuleError as e:  # the role (AccessError)
        raise InputError(f"--by {by}: {e}") from None
    click.echo(("would remove " if dry_run else "removed ") + retention.describe(done, before))
