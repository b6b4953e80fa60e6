"""PostgreSQL for a clinic group (`--db postgresql://…`), through psycopg 3.

The store's SQL is written once, in SQLite's `?` style, and runs on both: `PgConnection`
gives a psycopg connection the few methods of sqlite3's the store uses (execute,
executemany, in_transaction, rows by name and by place) and turns `?` into psycopg's `%s`.
What the two engines do differently is decided here:

- **One writer at a time, as in SQLite.** Every write transaction first takes one
  transaction-level advisory lock (WRITE_LOCK). Ids are then handed out in commit order, as
  they are in SQLite, so every id cursor (a page's "readings after id N", the change feed,
  the forwarder) can never pass a row that commits later with a smaller id. Writes are short
  (the batched writer commits every few milliseconds, bulk writes in CHUNK_SECONDS chunks),
  so the lock is what SQLite's BEGIN IMMEDIATE is, across every machine sharing the database.
- **Waiting**: `lock_timeout` is the busy timeout; past it a write is StoreUnavailable.
- **Readers** run each statement in autocommit (its own snapshot), read-only.
- **A lost connection** (the server restarted, the network dropped) is noticed (`broken`)
  and the next write or read opens a fresh one; meanwhile the batched writer holds rows.
- `numeric` (what SUM and AVG of integers give) comes back as float, as SQLite gives.
- The schema (store/postgres_schema.py) is the SQLite one in PostgreSQL's types, migrated
  under its own advisory lock so several processes starting at once apply each version once.
"""
from __future__ import annotations

import functools
from typing import Any, Callable, Iterable, Optional

import psycopg
from psycopg.pq import TransactionStatus
from psycopg.types.numeric import FloatLoader

from .errors import ReadOnlyStore, StoreError, StoreUnavailable
from .postgres_schema import MIGRATIONS
from .schema import SCHEMA_VERSION

# Advisory lock keys (64-bit, per database): the one writer, and the schema's migration.
WRITE_LOCK = 0x1F05_10C4
MIGRATE_LOCK = 0x1F05_10C5
# A server that does not answer a connection attempt within this long is StoreUnavailable.
CONNECT_TIMEOUT_S = 5

assert len(MIGRATIONS) == SCHEMA_VERSION, "store/postgres_schema.py must have every migration of store/schema.py"


class PgRow:
    """A row by column name (row["id"]), by place (row[0]), unpacked or made a dict, as a sqlite3.Row."""

    __slots__ = ("_index", "_values")

    def __init__(self, index: dict, values):
        self._index = index
        self._values = values

    def __getitem__(self, key):
        return self._values[key] if isinstance(key, int) else self._values[self._index[key]]

    def keys(self):
        return self._index.keys()

    def __iter__(self):
        return iter(self._values)

    def __len__(self):
        return len(self._values)


def _row_maker(cursor) -> Callable:
    index = {c.name: i for i, c in enumerate(cursor.description or ())}
    return lambda values: PgRow(index, values)


@functools.lru_cache(maxsize=2048)
def pg_sql(sql: str, with_params: bool) -> str:
    """The store's `?` placeholders as psycopg's `%s` (a literal % doubled when parameters are bound)."""
    if with_params:
        sql = sql.replace("%", "%%")
    return sql.replace("?", "%s")


def _bound(params: Iterable) -> tuple:
    """Values as SQLite would take them: a bool as 0/1 (PostgreSQL refuses a boolean in an integer
    column), and a NUL character in text (a device's garbled status line) as U+FFFD: PostgreSQL
    refuses NUL in text, and one such value would fail its whole batch, again at every retry."""
    return tuple(int(v) if isinstance(v, bool) else v.replace("\x00", "\ufffd") if isinstance(v, str) and "\x00" in v
                 else v for v in params)


class PgConnection:
    """A psycopg connection with the methods of sqlite3's the store calls."""

    def __init__(self, raw: psycopg.Connection):
        self.raw = raw
        self._trace: Optional[Callable[[str], None]] = None

    def execute(self, sql: str, params: Iterable = ()):
        params = _bound(params)
        query = pg_sql(sql, bool(params))
        if self._trace is not None:
            self._trace(query)
        return self.raw.execute(query, params or None)

    def executemany(self, sql: str, rows: Iterable[Iterable]):
        query = pg_sql(sql, True)
        if self._trace is not None:
            self._trace(query)
        cur = self.raw.cursor()
        rows = [_bound(r) for r in rows]
        if rows:
            cur.executemany(query, rows)
        return cur

    @property
    def in_transaction(self) -> bool:
        return self.raw.info.transaction_status in (TransactionStatus.INTRANS, TransactionStatus.INERROR,
                                                    TransactionStatus.ACTIVE)

    @property
    def broken(self) -> bool:
        return self.raw.closed or self.raw.broken

    def rollback(self) -> None:
        if self.in_transaction:
            self.raw.execute("ROLLBACK")

    def set_trace_callback(self, callback: Optional[Callable[[str], None]]) -> None:
        self._trace = callback

    def close(self) -> None:
        self.raw.close()


def connect(url: str, readonly: bool, wait_s: float) -> PgConnection:
    """A connection in autocommit (the store begins its transactions by hand, as with SQLite)."""
    raw = psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S, row_factory=_row_maker)
    raw.adapters.register_loader("numeric", FloatLoader)
    raw.execute(f"SET lock_timeout = {int(wait_s * 1000)}")
    if readonly:
        raw.execute("SET default_transaction_read_only = on")
    return PgConnection(raw)


class PostgresBackend:
    name = "postgresql"
    error_types = (psycopg.Error,)

    def __init__(self, url: str, display: str, secrets: tuple[str, ...] = ()):
        self.url = url
        self.display = display  # the URL without its password (backends.display_name)
        self._secrets = tuple(x for x in secrets if x)  # what a message must never show

    def connect_reader(self, busy_timeout_s: float) -> PgConnection:
        try:
            return connect(self.url, readonly=True, wait_s=busy_timeout_s)
        except psycopg.Error as e:
            raise self._refused(e, "cannot read") from None

    def _refused(self, e: Exception, what: str) -> StoreError:
        """A failed connection as a StoreError that never shows the password (psycopg's own message
        may quote the URL it could not parse)."""
        text = _one_line(e)
        for secret in self._secrets:
            text = text.replace(secret, "***")
        text = text.replace(self.url, self.display)
        kind = StoreUnavailable if isinstance(e, psycopg.OperationalError) else StoreError
        if isinstance(e, psycopg.errors.InsufficientPrivilege):
            kind = ReadOnlyStore
        return kind(f"{self.display}: {what}: {text}")

    def check_exists(self) -> None:
        """A server's database is found (or not) when it is first read."""

    def open_writer(self, busy_timeout_s: float) -> PgConnection:
        """The writer's connection, the schema brought up to date (RuntimeError: a newer schema)."""
        try:
            conn = connect(self.url, readonly=False, wait_s=busy_timeout_s)
            migrate(conn)
        except psycopg.errors.InsufficientPrivilege as e:  # a role that may not create the schema
            raise self._refused(e, "cannot write") from None
        except psycopg.Error as e:  # the server down or unreachable (StoreUnavailable): try again later
            raise self._refused(e, "cannot open database") from None
        return conn

    def broken(self, conn: PgConnection) -> bool:
        return conn.broken

    def begin_write(self, conn: PgConnection) -> None:
        """One writer at a time across every process and machine (WRITE_LOCK, module docstring)."""
        conn.execute("BEGIN")
        try:
            conn.execute(f"SELECT pg_advisory_xact_lock({WRITE_LOCK})")
        except BaseException:
            conn.rollback()
            raise

    def set_wait(self, conn: PgConnection, seconds: float) -> None:
        conn.execute(f"SET lock_timeout = {int(seconds * 1000)}")

    def probe_write(self, conn: PgConnection) -> None:
        """A real write (refused to a read-only role or server), inside a transaction the caller rolls back."""
        conn.execute("UPDATE schema_version SET version = version")

    def database_version(self) -> tuple[int, bool]:
        """(schema version, whether the monitoring tables are there), read-only."""
        conn = connect(self.url, readonly=True, wait_s=5.0)
        try:
            found = conn.execute("SELECT to_regclass('schema_version') IS NOT NULL AS v, "
                                 "to_regclass('sessions') IS NOT NULL AS s").fetchone()
            version = conn.execute("SELECT version FROM schema_version").fetchone()[0] if found["v"] else 0
        finally:
            conn.close()
        return version, bool(found["s"])


def migrate(conn: PgConnection) -> int:
    """Bring the database up to SCHEMA_VERSION, each version in one transaction; returns the version found."""
    found = None
    for version in range(SCHEMA_VERSION + 1):
        conn.execute("BEGIN")
        try:
            conn.execute(f"SELECT pg_advisory_xact_lock({MIGRATE_LOCK})")
            if not conn.execute("SELECT to_regclass('schema_version') IS NOT NULL").fetchone()[0]:
                conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")  # a new database
            row = conn.execute("SELECT version FROM schema_version").fetchone()
            if row is None:
                conn.execute("INSERT INTO schema_version (version) VALUES (0)")
            current = row[0] if row else 0
            found = current if found is None else found
            if current > SCHEMA_VERSION:
                raise RuntimeError(f"database schema version {current} is newer than this program "
                                   f"({SCHEMA_VERSION}); upgrade infusion-monitor")
            if current >= SCHEMA_VERSION:
                conn.execute("COMMIT")
                return found
            conn.raw.execute(MIGRATIONS[current])  # no parameters: several statements in one
            conn.execute("UPDATE schema_version SET version = ?", (current + 1,))
            conn.execute("COMMIT")
        except BaseException:
            conn.rollback()
            raise
    return found or 0


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__


def notification_connection(url: str, channel: str) -> psycopg.Connection:
    """A connection of its own that LISTENs on `channel` (store/changes.py reads what arrives)."""
    raw = psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)
    raw.execute(f"LISTEN {channel}")
    return raw


def pending_notifications(raw: psycopg.Connection) -> list[Any]:
    """The payloads that have arrived, without waiting."""
    return [n.payload for n in raw.notifies(timeout=0)]
