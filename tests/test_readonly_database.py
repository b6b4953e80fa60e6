"""A database this process cannot write: every writing command says so in one line, exit 2,
and writes nothing (issue 10 item 6). `acquire` (with or without --patient) and `run`
refuse at start instead of logging a traceback every second.

How the file is made read-only, for real: for an ordinary user, the permission bits (the
file 0444; its directory 0555, or left writable so SQLite can still make its -wal/-shm
files). Permission bits do not stop root (CAP_DAC_OVERRIDE), and running the command as
another user needs an interpreter that user may execute (this venv's may live under
/root), so as root the same two cases are made with the immutable attribute (`chattr +i`,
which root's writes obey too): the kernel refuses SQLite's write open and SQLite falls back
to reading, exactly as for a file it lacks permission to write. Where the file system or
the container does not allow `chattr`, the root case is skipped, saying why.
"""
from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT
from monitor.exports.csv_export import to_csv
from monitor.model import Event
from monitor.store import Store

pytestmark = pytest.mark.slow  # every test runs the console script in a subprocess

RECORDING = ROOT / "data" / "recordings" / "hypertensive-seed11.csv"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _protect(path: Path, mode: int) -> None:
    """Make path unwritable to this test's user: chmod, or for root `chattr +i`."""
    if os.geteuid() != 0:
        path.chmod(mode)
        return
    done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"running as root and chattr +i is not available here: {done.stderr.strip()}")


def _unprotect(path: Path, mode: int) -> None:
    if os.geteuid() == 0:
        subprocess.run(["chattr", "-i", str(path)], capture_output=True)
    else:
        path.chmod(mode)


@pytest.fixture(params=["directory read-only", "directory writable"])
def readonly_db(request, tmp_path):
    """(database path, an open session's id, a CSV to import, whether its directory is writable):
    the database read-only to the CLI."""
    folder = tmp_path / "db"
    folder.mkdir()
    db = folder / "monitor.db"
    store = Store(db)
    ended = store.open_session("P-DONE", "A", "ketamine-iv", 1_700_000_000.0)[0]
    store.record_event(ended, Event(1_700_000_100.0, "session_end", "", "RN"))
    csv = tmp_path / "import.csv"
    csv.write_text(to_csv(store, ended))
    open_id = store.open_session("P-OPEN", "B", "ketamine-iv", 1_700_000_000.0)[0]
    store.close()  # the last connection: no -wal or -shm left
    protected = [(db, 0o444, 0o644)]
    if request.param == "directory read-only":
        protected.append((folder, 0o555, 0o755))
    try:
        for path, mode, _ in protected:
            _protect(path, mode)
        yield db, open_id, csv, request.param == "directory writable"
    finally:
        for path, _, mode in protected:
            _unprotect(path, mode)


def _run(db: Path, *args) -> subprocess.CompletedProcess:
    cmd = [str(Path(sys.executable).parent / "infusion-monitor"), "--db", str(db), *map(str, args)]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)


def _digest(db: Path) -> str:
    return hashlib.sha256(db.read_bytes()).hexdigest()


WRITING = {
    "simulate": lambda sid, csv: ("simulate", "--scenario", "normal"),
    "simulate paced": lambda sid, csv: ("simulate", "--scenario", "normal", "--speed", "50"),
    "replay": lambda sid, csv: ("replay", RECORDING),
    "replay paced": lambda sid, csv: ("replay", RECORDING, "--speed", "50"),
    "import": lambda sid, csv: ("import", csv),
    "end-session": lambda sid, csv: ("end-session", "--session", sid, "--by", "AB"),
    "acquire": lambda sid, csv: ("acquire", "--device", "sim:normal", "--chair", "C", "--duration", "3"),
    "acquire --patient": lambda sid, csv: ("acquire", "--device", "sim:normal", "--chair", "C",
                                           "--patient", "P-NEW", "--duration", "3"),
    "acquire resuming": lambda sid, csv: ("acquire", "--device", "sim:normal", "--chair", "B",
                                          "--patient", "P-OPEN", "--duration", "3"),
    "run": lambda sid, csv: ("run", "--port", _free_port()),
}


@pytest.mark.parametrize("command", WRITING)
def test_a_writing_command_is_one_line_exit_2(readonly_db, command):
    db, open_id, csv, _ = readonly_db
    before = _digest(db)
    out = _run(db, *WRITING[command](open_id, csv))
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2, out.stderr
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    assert lines[0].startswith("infusion-monitor: error: ") and str(db) in lines[0]
    assert _digest(db) == before


def test_listing_still_works_when_only_writing_is_refused(readonly_db):
    """`sessions` reads: with a writable directory (SQLite makes its -shm there) it lists; with
    none it lists or, where SQLite cannot read a WAL file without its -shm, says so in one line."""
    db, _, _, directory_writable = readonly_db
    out = _run(db, "sessions", "--json")
    if out.returncode == 0 or directory_writable:
        assert out.returncode == 0, out.stderr
        assert "P-OPEN" in out.stdout and "P-DONE" in out.stdout
    else:
        assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1 and str(db) in out.stderr
