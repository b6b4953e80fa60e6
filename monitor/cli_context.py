"""What every `infusion-monitor` command shares: the lazily opened database and profile,
the one-line input error, and the parsers of option values more than one command takes.

It sits apart from the command group so the command modules (cli, cli_review,
cli_devices) all import it and none imports another.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import click

if TYPE_CHECKING:  # imported inside the methods: `--help` does not pay for the store or the profile
    from .store import Store


class InputError(click.ClickException):
    """Bad usage or input: one clear line, exit 2."""

    exit_code = 2

    def show(self, file=None):
        click.echo(f"infusion-monitor: error: {self.format_message()}", err=True)


class Context:
    """The global options (--db, --protocol), opening the store and profile only when a command needs them."""

    def __init__(self, db: str, protocol_path: Optional[str]):
        self.db = db
        self.protocol_path = protocol_path
        self._store: Optional["Store"] = None
        self._protocol = None

    @property
    def db_name(self) -> str:
        """The --db value as messages show it (a URL's password hidden)."""
        from .store.backends import display_name
        return display_name(self.db)

    @property
    def protocol(self):
        from .protocol import ProtocolError, load_protocol
        if self._protocol is None:
            try:
                self._protocol = load_protocol(self.protocol_path)
                from . import profile_choice
                profile_choice.start_with(self._protocol)  # sessions recording its name run under it
            except ProtocolError as e:
                raise InputError(str(e)) from None
        return self._protocol

    def store(self, readonly: bool = False, existing: bool = False) -> "Store":
        """The database; with existing=True a mistyped --db, an empty or a foreign file is an
        error, not a new database, and nothing is written to it. readonly: the command only
        reads (an older schema is still upgraded first)."""
        from .store import SCHEMA_VERSION, Store, StoreError
        from .store.backends import is_postgres_url
        from .store.existing import database_version
        if existing and not is_postgres_url(self.db) and not Path(self.db).is_file():
            raise InputError(f"--db {self.db_name}: no such database")
        if existing and self._store is None:
            try:
                version = database_version(self.db)  # a foreign or empty database is refused, never written
                readonly = readonly and version == SCHEMA_VERSION
            except StoreError as e:
                raise InputError(f"--db {e}") from None
        if self._store is None:
            try:
                self._store = Store(self.db, readonly=readonly)
            except StoreError as e:
                raise InputError(str(e)) from None
        return self._store


pass_ctx = click.make_pass_decorator(Context)


def parse_speed(value: str) -> Optional[float]:
    """--speed: times real time (a number > 0), or None for 'max'."""
    if value == "max":
        return None
    try:
        speed = float(value)
    except ValueError:
        raise InputError(f"--speed {value!r}: expected a number > 0 or 'max'") from None
    if not (speed > 0 and math.isfinite(speed)):
        raise InputError(f"--speed {value!r}: expected a number > 0 or 'max'")
    return speed
