"""Is a file an infusion-monitor database? Asked without writing a byte to it.

Read-only commands (`sessions`, `alerts`, `export`) must not turn a mistyped, empty or
foreign file into a database: opening the store for writing would write the schema
into it. This looks first, through a read-only connection (docs/ARCHITECTURE.md, "CLI").
"""
from __future__ import annotations

import sqlite3
from pathlib import Path

from .db import StoreError, _connect
from .schema import SCHEMA_VERSION


def database_version(path: str | Path) -> int:
    """The schema version of an existing infusion-monitor database; StoreError naming the file otherwise."""
    p = Path(path)
    if not p.is_file():
        raise StoreError(f"{p}: no such database")
    try:
        conn = _connect(str(p), readonly=True)
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        finally:
            conn.close()
    except sqlite3.Error as e:
        raise StoreError(f"{p}: not an infusion-monitor database ({e})") from None
    if version == 0 or "sessions" not in tables:
        what = "an empty file" if p.stat().st_size == 0 else "no monitoring tables in it"
        raise StoreError(f"{p}: not an infusion-monitor database ({what})")
    if version > SCHEMA_VERSION:
        raise StoreError(f"{p}: database schema version {version} is newer than this program "
                         f"({SCHEMA_VERSION}); upgrade infusion-monitor")
    return version
