"""The store's failures, and the one place the driver's exceptions become them.

Callers get these, never a sqlite3 or psycopg exception, whichever database is behind the
store; each message names the database (a file, or a URL with its password hidden).
"""
from __future__ import annotations

import contextlib
import sqlite3
import sys
from typing import Iterator


class StoreError(RuntimeError):
    """The database cannot be opened or used; the message names the file."""


class StoreUnavailable(StoreError):
    """The database is busy, locked, full or unreadable: nothing was written; try again."""


class NotFound(StoreError):
    """No such session or alarm."""


class Conflict(StoreError):
    """The write clashes with what is stored (a duplicate key, a broken reference)."""


class ReadOnlyStore(StoreError):
    """A write to a store opened read-only, or to a file (or directory) this process may not write."""


@contextlib.contextmanager
def driver_errors(path: str) -> Iterator[None]:
    """Turn the driver's exceptions into StoreErrors that name the file."""
    try:
        yield
    except StoreError:
        raise
    except sqlite3.IntegrityError as e:
        raise Conflict(f"{path}: {e}") from None
    except sqlite3.OperationalError as e:  # locked, busy, disk full, I/O
        if "readonly" in str(e):  # SQLITE_READONLY: the file, its directory or its -wal/-shm
            raise ReadOnlyStore(f"{path}: cannot write: the file or its directory is read-only ({e})") from None
        raise StoreUnavailable(f"{path}: {e}") from None
    except sqlite3.Error as e:
        raise StoreError(f"{path}: {e}") from None
    except OverflowError:  # an id beyond 64 bits (a forged page state) names nothing stored
        raise NotFound(f"{path}: no such record (id out of range)") from None
    except Exception as e:
        psycopg = sys.modules.get("psycopg")  # imported only when a PostgreSQL store was opened
        if psycopg is not None and isinstance(e, psycopg.Error):
            raise _from_postgres(path, e, psycopg) from None
        raise


def _from_postgres(path: str, e: Exception, psycopg) -> StoreError:
    """The same families for PostgreSQL's errors (by SQLSTATE class), one line each."""
    text = " ".join(str(e).split()) or type(e).__name__
    pe = psycopg.errors
    if isinstance(e, (pe.ReadOnlySqlTransaction, pe.InsufficientPrivilege)):
        return ReadOnlyStore(f"{path}: cannot write: {text}")
    if isinstance(e, (psycopg.IntegrityError, pe.RaiseException)):  # a constraint, the audit trail's trigger
        return Conflict(f"{path}: {text}")
    if isinstance(e, psycopg.DataError):  # an id out of range or not a number names nothing stored
        return NotFound(f"{path}: no such record ({text})")
    if isinstance(e, (psycopg.OperationalError, psycopg.InterfaceError, pe.TransactionRollback)):
        # the server gone, restarting or refusing connections; a lock not had in time; a full disk
        return StoreUnavailable(f"{path}: {text}")
    return StoreError(f"{path}: {text}")
