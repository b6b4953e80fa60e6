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
        return PostgresBackend(str(db), display_name(db), url_passwords(db))
    from .sqlite_backend import SqliteBackend
    return SqliteBackend(str(db))


def url_passwords(db) -> tuple[str, ...]:
    """The password(s) a postgresql:// URL carries: in its user part or as `password=` in its query."""
    text = str(db)
    if not is_postgres_url(text):
        return ()
    found = []
    rest = text[len("postgresql://"):]
    authority = rest.split("/", 1)[0] if "@" not in rest else rest.rsplit("@", 1)[0]
    if "@" in rest and ":" in authority:
        found.append(authority.split(":", 1)[1])
    found += re.findall(r"[?&]password=([^&]*)", text)
    return tuple(p for p in found if p)


def display_name(db) -> str:
    """What messages call a --db value: a URL's password replaced by *** (in the user part,
    wherever its '@' is, and in a `password=` parameter)."""
    text = str(db)
    if not is_postgres_url(text):
        return text
    rest = text[len("postgresql://"):]
    if "@" in rest:
        user_part, host_part = rest.rsplit("@", 1)
        if ":" in user_part:
            user_part = user_part.split(":", 1)[0] + ":***"
        rest = f"{user_part}@{host_part}"
    rest = re.sub(r"([?&]password=)[^&]*", r"\1***", rest)
    return "postgresql://" + rest
