"""Which database a `--db` value names: a SQLite file (the embedded default) or, for a value
starting `postgresql://` (the contract), a PostgreSQL database.

A backend is what differs between the two and nothing else (store/sqlite_backend.py,
store/postgres_backend.py): connect, begin a write transaction that waits its turn, wait
at most so long, probe for write permission, migrate the schema, tell a broken connection.
Every query and write is the store's own SQL, written once.
"""
from __future__ import annotations

import re


def is_postgres_url(db) -> bool:
    """The contract: a --db value starting postgresql:// selects PostgreSQL."""
    return str(db).startswith("postgresql://")


def backend_for(db):
    """The backend for a --db value; psycopg is imported only when PostgreSQL is asked for."""
    if is_postgres_url(db):
        from .postgres_backend import PostgresBackend
        return PostgresBackend(str(db), display_name(db))
    from .sqlite_backend import SqliteBackend
    return SqliteBackend(str(db))


def display_name(db) -> str:
    """What messages call a --db value: a URL's password replaced by ***."""
    return re.sub(r"^(postgresql://[^/@:]*):[^/@]*@", r"\1:***@", str(db))
