"""Backups of the whole database, and putting one back (`infusion-monitor backup`, `restore`).

A backup is taken while the monitor runs: acquisition keeps writing, and the copy must be
a database as it stood at one moment, never half a file. SQLite: the online backup API
copies the file in one step under a read snapshot (in WAL mode the writer is not held up;
a copy made step by step would start over at every commit of another connection, and with
a chair writing every few milliseconds might never finish), into a temporary file beside
the target that is renamed over it only when complete. PostgreSQL: `pg_dump` in its custom
format (a consistent snapshot of its own), again into a temporary file then renamed.

Restoring replaces everything, the audit trail included, so it is refused while any
acquisition process is writing the database (a heartbeat of the last LIVE_BEAT_S not
stopped), naming the chairs; the restore is then audited in the restored database.
SQLite: the backup API in reverse, into the database through its own pager: one write
transaction, so a reader sees the old database or the new one, and the -wal beside the
file stays consistent with it (a file renamed over a WAL database would meet the old
-wal on its next open). PostgreSQL: `pg_restore --clean --if-exists --no-owner
--single-transaction`, all or nothing.
"""
from __future__ import annotations

import contextlib
import glob
import os
import re
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Optional
from urllib.parse import unquote, urlsplit, urlunsplit

from .backends import backend_for, is_postgres_url
from .errors import StoreError
from .existing import database_version

# A heartbeat newer than this, not stopped, is an acquisition process writing the database
# now (it beats about once a second; sessions.MONITORING_STALE_S allows a few missed).
LIVE_BEAT_S = 10.0


def temporary_beside(target: Path) -> Path:
    """Where a file is written before it is renamed over `target`: the same directory (a
    rename within one filesystem is atomic), a name no reader takes for the target."""
    return target.with_name(f".{target.name}.{os.getpid()}.partial")


def same_file(a, b) -> bool:
    """Do two paths name one file (a backup must never be written over the database itself)?"""
    a, b = Path(a), Path(b)
    if a.exists() and b.exists():
        return os.path.samefile(a, b)
    return a.resolve() == b.resolve()


# ----------------------------------------------------------------- backup
def backup(store, to: Path) -> dict:
    """Write a backup of the store's database to `to`: {path, bytes, sessions}. StoreError
    (one line, no password) when it cannot; `to` is then left as it was."""
    to = Path(to)
    partial = temporary_beside(to)
    try:
        if store.is_postgres:
            sessions = session_count(store)
            _pg_dump(store.backend.url, store.path, partial)
        else:
            if same_file(to, store.backend.path):
                raise StoreError("is the database itself; give another file")
            store.flush()  # what this process holds goes in too
            _sqlite_copy(store.backend.path, partial)
            sessions = _sessions_in_file(partial)
        os.chmod(partial, 0o600)  # patients' data, password hashes and the cookie key: its owner's only
        os.replace(partial, to)
        _sync_directory(to.parent)
    finally:
        with contextlib.suppress(OSError):
            partial.unlink()
    return {"path": str(to), "bytes": to.stat().st_size, "sessions": sessions}


def _sync_directory(folder: Path) -> None:
    """The rename itself on disk: a power cut right after a backup does not undo it."""
    with contextlib.suppress(OSError):
        fd = os.open(folder if str(folder) else ".", os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _sqlite_copy(db: str, into: Path) -> None:
    """The whole database as it stands now, into one self-contained file (no -wal needed)."""
    try:
        src = sqlite3.connect(Path(db).resolve().as_uri() + "?mode=ro", uri=True)
        try:
            dst = sqlite3.connect(into)
            try:
                src.backup(dst)  # pages=-1: one step, one snapshot
                dst.execute("PRAGMA journal_mode = DELETE")
            finally:
                dst.close()
        finally:
            src.close()
        with open(into, "rb+") as f:
            os.fsync(f.fileno())
    except (sqlite3.Error, OSError) as e:
        raise StoreError(f"cannot write the backup in {into.parent}: {e}") from None


def _sessions_in_file(path: Path) -> int:
    conn = sqlite3.connect(Path(path).resolve().as_uri() + "?mode=ro", uri=True)
    try:
        return conn.execute("SELECT COUNT(*) FROM sessions").fetchone()[0]
    finally:
        conn.close()


def session_count(store) -> int:
    return store._one("SELECT COUNT(*) AS n FROM sessions")["n"]


# ----------------------------------------------------------------- restore
def live_chairs(db: str) -> list[str]:
    """The chairs an acquisition process is writing to this database now (a heartbeat within
    LIVE_BEAT_S, not stopped); none for a database that is not there yet or is not ours."""
    from .db import Store
    if not is_postgres_url(db) and not Path(db).is_file():
        return []
    try:
        database_version(db)
    except StoreError:
        return []
    store = Store(db, readonly=True)
    try:
        return [r["chair"] for r in store._query(
            "SELECT chair FROM heartbeats WHERE stopped_at IS NULL AND beat_at > ? ORDER BY chair",
            (time.time() - LIVE_BEAT_S,))]
    finally:
        store.close()


def restore(db: str, source: Path) -> None:
    """Write the backup at `source` over the database `db` (a file path or a PostgreSQL URL).
    StoreError when an acquisition is writing it, or the backup is not one, or it fails."""
    chairs = live_chairs(db)
    if chairs:
        raise StoreError(f"{backend_for(db).display}: acquisition is writing it now (chairs "
                         f"{', '.join(chairs)}): stop it first")
    if is_postgres_url(db):
        _pg_restore(db, backend_for(db).display, Path(source))
        return
    if same_file(source, db):
        raise StoreError("is the database itself")
    database_version(str(source))  # an infusion-monitor database, and not newer than this program
    Path(db).parent.mkdir(parents=True, exist_ok=True)
    try:
        src = sqlite3.connect(Path(source).resolve().as_uri() + "?mode=ro", uri=True)
        try:
            dst = sqlite3.connect(db, timeout=5.0)
            try:
                src.backup(dst)
            finally:
                dst.close()
        finally:
            src.close()
    except sqlite3.Error as e:
        raise StoreError(f"{db}: cannot restore {source}: {e}") from None


# ----------------------------------------------------------------- PostgreSQL's tools
def pg_tool(name: str) -> Optional[str]:
    """pg_dump or pg_restore: on PATH, else in `pg_config --bindir`, else in the newest
    /usr/lib/postgresql/*/bin (where Debian keeps them); None when there is none."""
    found = shutil.which(name)
    if found:
        return found
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            done = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=10)
            candidate = Path(done.stdout.strip()) / name
            if done.returncode == 0 and candidate.is_file():
                return str(candidate)

    def version(bindir: str) -> tuple:
        return tuple(int(n) for n in re.findall(r"\d+", Path(bindir).parent.name)) or (0,)
    installed = [d for d in glob.glob("/usr/lib/postgresql/*/bin") if os.path.isfile(os.path.join(d, name))]
    return str(Path(max(installed, key=version)) / name) if installed else None


def url_and_password(url: str) -> tuple[str, Optional[str]]:
    """The URL without its password, and the password: given to the tool in its environment
    (PGPASSWORD), never on its command line, where any user on the machine can read it."""
    parts = urlsplit(url)
    if parts.password is None:
        return url, None
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = (parts.username or "") + "@" + host + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc)), unquote(parts.password)


def _run_pg_tool(name: str, args: list[str], url: str, display: str) -> None:
    tool = pg_tool(name)
    if tool is None:
        raise StoreError(f"{name} not found (on PATH, in `pg_config --bindir` or /usr/lib/postgresql/*/bin): "
                         "install PostgreSQL's client programs")
    bare, password = url_and_password(url)
    env = dict(os.environ)
    if password is not None:
        env["PGPASSWORD"] = password
    try:
        done = subprocess.run([tool, *args, "--dbname", bare], capture_output=True, text=True, env=env)
    except OSError as e:
        raise StoreError(f"{name}: cannot run {tool}: {e}") from None
    if done.returncode != 0:
        # its last error line: a "detail:" line after it (the query it ran) does not say why
        lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
        errors = [line for line in lines if "error:" in line.lower()]
        last = (errors or lines or [f"exit status {done.returncode}"])[-1]
        for secret in filter(None, (url, password)):
            last = last.replace(secret, display if secret == url else "***")
        raise StoreError(f"{name} failed: {last}")


def _pg_dump(url: str, display: str, into: Path) -> None:
    _run_pg_tool("pg_dump", ["--format=custom", f"--file={into}"], url, display)


def _pg_restore(url: str, display: str, source: Path) -> None:
    if not source.is_file():
        raise StoreError(f"{source}: no such file")
    _run_pg_tool("pg_restore", ["--clean", "--if-exists", "--no-owner", "--single-transaction", str(source)],
                 url, display)
