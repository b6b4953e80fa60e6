"""A real PostgreSQL server for the tests (conftest.py's `pg_server` and `pg_url`): Debian's
`postgresql` binaries run by hand, initdb and pg_ctl in a temporary directory, no system
service and no cluster of the machine's touched. The tests stop it, crash it and bring it
back, which a shared server could not allow.

initdb and postgres refuse to run as root; as root (`make test` is, to install packages) they
run as the `postgres` system user, which then owns the temporary directory.

Measured on a 2-core machine: start() (initdb --no-sync, then pg_ctl start -w) takes about
1.4 s, nearly all of it initdb; a CREATE DATABASE about 0.05-0.07 s and a DROP DATABASE ...
WITH (FORCE) about 0.05 s; stop() and start_again() about 0.13 s each. So one server per test
run, a fresh database per test."""
from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Optional

INSTALL_HINT = ("the PostgreSQL tests need Debian's `postgresql` package: `make test` installs it "
                "when run as root, otherwise `sudo apt-get install postgresql`")
SERVER_USER = "postgres"  # the system user the server runs as when we are root, and its superuser role


def find_bindir() -> Path:
    """The directory holding initdb, pg_ctl and postgres. Debian keeps them out of PATH
    (/usr/lib/postgresql/<version>/bin), so PATH is the last place looked."""
    pg_config = shutil.which("pg_config")
    if pg_config:
        done = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        if done.returncode == 0 and (Path(done.stdout.strip()) / "initdb").is_file():
            return Path(done.stdout.strip())

    def version(bindir: str) -> tuple:
        return tuple(int(n) for n in re.findall(r"\d+", Path(bindir).parent.name)) or (0,)
    installed = [d for d in glob.glob("/usr/lib/postgresql/*/bin") if os.path.isfile(os.path.join(d, "initdb"))]
    if installed:
        return Path(max(installed, key=version))
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return Path(initdb).resolve().parent
    raise RuntimeError(f"no PostgreSQL server binaries (initdb, pg_ctl) found: {INSTALL_HINT}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """One throwaway PostgreSQL cluster: `start()`, `create_database(name)` for a URL, then
    `close()`. `stop()`, `start_again()` and `kill()` are for tests of a store whose central
    server goes away and comes back."""

    def __init__(self, bindir: Optional[Path] = None):
        self.bindir = bindir or find_bindir()
        self.as_root = os.geteuid() == 0
        self.root: Optional[Path] = None  # the temporary directory: data, socket, log
        self.port: Optional[int] = None

    # --- paths ---
    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "socket"

    @property
    def log_file(self) -> Path:
        return self.root / "server.log"

    # --- running the binaries ---
    def _run(self, program: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        """A server binary, as the postgres user when we are root (it refuses root), from inside
        the temporary directory (that user may not be able to enter the current one)."""
        cmd = [str(self.bindir / program), *args]
        if self.as_root:
            cmd = ["runuser", "-u", SERVER_USER, "--", *cmd]
        return subprocess.run(cmd, cwd=self.root, capture_output=True, text=True, timeout=timeout)

    def _checked(self, program: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        done = self._run(program, *args, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"{program} {' '.join(args)} failed ({done.returncode}): "
                               f"{done.stderr.strip() or done.stdout.strip()}\n--- server log ---\n{self.log_tail()}")
        return done

    def _server_options(self) -> str:
        # No durability against the machine going down (fsync off), which no test does; a killed
        # server (kill) still recovers every commit it acknowledged, since each commit's WAL is
        # written to the OS before the client hears back. synchronous_commit stays on for that:
        # with it off, commits in the last 200 ms vanished in a kill, and with fsync off it
        # saved nothing measurable here (about 0.15 ms a commit either way).
        return (f"-k {self.socket_dir} -p {self.port} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c full_page_writes=off -c max_connections=300")

    # --- lifecycle ---
    def start(self) -> "PostgresServer":
        """A new cluster in a fresh temporary directory, started on a free port."""
        if self.root is not None:
            raise RuntimeError("already started: start_again() restarts a stopped server")
        self.root = Path(tempfile.mkdtemp(prefix="im-postgres-"))
        try:
            self.socket_dir.mkdir()
            if self.as_root:
                user = pwd.getpwnam(SERVER_USER)
                for path in (self.root, self.socket_dir):
                    os.chown(path, user.pw_uid, user.pw_gid)
            self._checked("initdb", "-D", str(self.data_dir), "-A", "trust", "-U", SERVER_USER, "--no-sync",
                          "-E", "UTF8", "--locale=C")
            self.port = free_port()
            self.start_again()
        except BaseException:
            self.close()
            raise
        return self

    def start_again(self) -> None:
        """Start the stopped (or killed) server: same data, same port, so URLs handed out still work."""
        self._checked("pg_ctl", "start", "-w", "-t", "60", "-D", str(self.data_dir), "-l", str(self.log_file),
                      "-o", self._server_options(), timeout=90)

    def stop(self, mode: str = "fast") -> None:
        """pg_ctl stop: "smart" waits for clients, "fast" disconnects them, "immediate" is a crash without the kill."""
        self._checked("pg_ctl", "stop", "-w", "-t", "60", "-D", str(self.data_dir), "-m", mode, timeout=90)

    def kill(self) -> None:
        """SIGKILL the postmaster, as a crash or an OOM kill would; start_again() then recovers.
        Its backends notice their parent is gone and exit; they are waited for (and killed if
        they linger), since a new postmaster will not start while they hold the shared memory."""
        pid = self.postmaster_pid()
        if pid is None:
            raise RuntimeError("no postmaster running")
        children = _children_of(pid)
        os.kill(pid, signal.SIGKILL)
        end = time.monotonic() + 5
        while time.monotonic() < end and any(_alive(p) for p in [pid, *children]):
            time.sleep(0.02)
        for p in [pid, *children]:
            if _alive(p):
                os.kill(p, signal.SIGKILL)
        # A new postmaster refuses to start while the pid in its lock files (postmaster.pid, the
        # socket's .lock) answers kill(pid, 0), and a zombie does: where init is slow to reap
        # orphans (a container's init may be), the killed postmaster lingers as one. It is dead
        # and its shared memory detached, so the lock files are stale, as after a crash.
        for lock in (self.data_dir / "postmaster.pid", self.socket_dir / f".s.PGSQL.{self.port}.lock"):
            lock.unlink(missing_ok=True)

    def close(self) -> None:
        """Stop the server (if running) and remove its temporary directory."""
        if self.root is None:
            return
        pid = self.postmaster_pid()
        if pid is not None and _alive(pid):
            done = self._run("pg_ctl", "stop", "-w", "-t", "30", "-D", str(self.data_dir), "-m", "immediate",
                             timeout=60)
            if done.returncode != 0:
                self.kill()
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = None

    def __enter__(self) -> "PostgresServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    # --- facts ---
    def postmaster_pid(self) -> Optional[int]:
        """The pid in postmaster.pid (None when there is none); it may be stale after a kill."""
        try:
            return int((self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except (OSError, TypeError):
            return "(no server log)"

    # --- databases ---
    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://{SERVER_USER}@127.0.0.1:{self.port}/{dbname}"

    def _admin(self, statement) -> None:
        import psycopg
        with psycopg.connect(self.url("postgres"), autocommit=True, connect_timeout=10) as conn:
            conn.execute(statement)

    def create_database(self, name: str) -> str:
        """A new empty database; its URL."""
        from psycopg import sql
        self._admin(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop it even with clients still connected (a test's leftover pool): they are cut off."""
        from psycopg import sql
        self._admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie is gone for our purposes (its parent, the killed postmaster, is not there to reap it yet)
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _children_of(pid: int) -> list[int]:
    found = []
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            fields = Path(stat).read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(Path(stat).parent.name))
    return found
