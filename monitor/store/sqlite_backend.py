"""The embedded default: one SQLite file, WAL mode, one writer at a time (BEGIN IMMEDIATE).

What the store needs of a database and no more (monitor/store/backends.py): open a
connection, begin a write transaction that waits its turn, wait at most so long for
another writer, probe whether writing is allowed, bring the schema up to date. The SQL
itself is shared with PostgreSQL and lives in the store's modules.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path

from .errors import StoreError
from .schema import migrate


def connect(path: str, readonly: bool, busy_timeout_s: float = 5.0) -> sqlite3.Connection:
    """A connection in autocommit (transactions are begun by hand); rows by name and by place."""
    if readonly:
        uri = Path(path).resolve().as_uri() + "?mode=ro"
        conn = sqlite3.connect(uri, uri=True, check_same_thread=False, timeout=busy_timeout_s)
    else:
        conn = sqlite3.connect(path, check_same_thread=False, timeout=busy_timeout_s, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
    return conn


class SqliteBackend:
    name = "sqlite"
    error_types = (sqlite3.Error,)

    def __init__(self, path: str):
        self.path = path
        self.display = path  # what every message names

    def connect_reader(self, busy_timeout_s: float) -> sqlite3.Connection:
        return connect(self.path, readonly=True, busy_timeout_s=busy_timeout_s)

    def check_exists(self) -> None:
        if not Path(self.path).exists():
            raise StoreError(f"{self.path}: no such database")

    def open_writer(self, busy_timeout_s: float) -> sqlite3.Connection:
        """The writer's connection, the schema brought up to date (RuntimeError: a newer schema)."""
        try:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            conn = connect(self.path, readonly=False, busy_timeout_s=busy_timeout_s)
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            migrate(conn)
        except (sqlite3.DatabaseError, OSError) as e:
            raise StoreError(f"{self.path}: cannot open database: {e}") from None
        return conn

    def broken(self, conn) -> bool:
        """A file's connection does not break the way a network one does."""
        return False

    def begin_write(self, conn) -> None:
        """One writer at a time, across processes: the write lock is taken now, not at the
        first write, so two transactions never deadlock upgrading their locks."""
        conn.execute("BEGIN IMMEDIATE")

    def set_wait(self, conn, seconds: float) -> None:
        conn.execute(f"PRAGMA busy_timeout = {int(seconds * 1000)}")

    def probe_write(self, conn) -> None:
        """The cheapest real write, inside a transaction the caller rolls back."""
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        conn.execute(f"PRAGMA user_version = {int(version)}")

    def database_version(self) -> tuple[int, bool]:
        """(schema version, whether the monitoring tables are there), read-only."""
        conn = connect(self.path, readonly=True, busy_timeout_s=5.0)
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        finally:
            conn.close()
        return version, "sessions" in tables
