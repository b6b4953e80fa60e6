"""Is a file (or a PostgreSQL database) an infusion-monitor database? Asked without writing a byte to it.

Read-only commands (`sessions`, `alerts`, `export`) must not turn a mistyped, empty or
foreign file into a database: opening the store for writing would write the schema
into it. This looks first, through a read-only connection (docs/ARCHITECTURE.md, "CLI").
"""
from __future__ import annotations

from pathlib import Path

from .backends import backend_for, is_postgres_url
from .errors import StoreError, StoreUnavailable, driver_errors
from .schema import SCHEMA_VERSION


def database_version(db: str | Path) -> int:
    """The schema version of an existing infusion-monitor database; StoreError naming it otherwise."""
    backend = backend_for(db)
    name = backend.display
    if not is_postgres_url(db) and not Path(db).is_file():
        raise StoreError(f"{name}: no such database")
    try:
        with driver_errors(name):
            version, has_tables = backend.database_version()
    except StoreError as e:
        if isinstance(e, StoreUnavailable) and is_postgres_url(db):  # the server down: say that
            raise
        raise StoreError(f"{name}: not an infusion-monitor database ({str(e).replace(name + ': ', '')})") from None
    if version == 0 or not has_tables:
        empty = not is_postgres_url(db) and Path(db).stat().st_size == 0
        raise StoreError(f"{name}: not an infusion-monitor database "
                         f"({'an empty file' if empty else 'no monitoring tables in it'})")
    if version > SCHEMA_VERSION:
        raise StoreError(f"{name}: database schema version {version} is newer than this program "
                         f"({SCHEMA_VERSION}); upgrade infusion-monitor")
    return version
