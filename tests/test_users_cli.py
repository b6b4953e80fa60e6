"""`infusion-monitor users`: adding and listing the people who may sign in, one-line refusals
of bad input, and `serve`/`run` refusing a non-loopback --host until an administrator exists.
The installed console script in a subprocess, as an administrator would run it."""
from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from conftest import ROOT, free_port, interrupt, run_cli, wait_until

pytestmark = pytest.mark.slow

PASSWORD = "a long enough password"


def add(monitor_cli, name, role, password=PASSWORD, *extra):
    return monitor_cli("users", "add", name, "--role", role, "--password-stdin", *extra, input=password + "\n")


@pytest.fixture
def monitor_cli(db_path):
    """The console script with input on its standard input (a password for --password-stdin)."""
    def _run(*args, input=None, timeout=60):
        cmd = [str(Path(sys.executable).parent / "infusion-monitor"), "--db", str(db_path), *map(str, args)]
        return subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    return _run


def one_line_error(out) -> str:
    assert out.returncode == 2, (out.returncode, out.stdout, out.stderr)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    return lines[0]


def test_users_added_with_each_role_are_listed(monitor_cli):
    for name, role, initials in (("rn.one", "nurse", None), ("dr.two", "clinician", "DT"), ("boss", "admin", None)):
        out = add(monitor_cli, name, role, PASSWORD, *(["--initials", initials] if initials else []))
        assert out.returncode == 0, out.stderr
        assert out.stderr.strip().startswith(f"added {name} (") and out.stderr.strip().endswith(f"as {role}")
    listed = monitor_cli("users", "list")
    assert listed.returncode == 0
    rows = {line.split()[0]: line.split() for line in listed.stdout.splitlines()}
    assert rows["rn.one"][1:4] == ["nurse", "RO", "active"]
    assert rows["dr.two"][1:4] == ["clinician", "DT", "active"]
    assert rows["boss"][1:4] == ["admin", "BO", "active"]
    assert all("last sign-in never" in line for line in listed.stdout.splitlines())
    as_json = json.loads(monitor_cli("users", "list", "--json").stdout)
    assert {u["name"]: u["role"] for u in as_json} == {"rn.one": "nurse", "dr.two": "clinician", "boss": "admin"}
    assert not any("hash" in k or "password" in k for u in as_json for k in u)  # never shown
    assert PASSWORD not in listed.stdout + json.dumps(as_json)


def test_bad_role_short_password_and_duplicate_name_are_one_line_refusals(monitor_cli):
    line = one_line_error(add(monitor_cli, "someone", "doctor"))
    assert "--role" in line and "'doctor' is not one of 'nurse', 'clinician', 'admin'" in line
    assert "Password: at least 8 characters" in one_line_error(add(monitor_cli, "someone", "nurse", "short"))
    assert "User name:" in one_line_error(add(monitor_cli, "two words", "nurse"))
    assert add(monitor_cli, "someone", "nurse").returncode == 0
    assert "user someone already exists" in one_line_error(add(monitor_cli, "someone", "admin"))
    assert "no password on standard input" in one_line_error(
        monitor_cli("users", "add", "other", "--role", "nurse", "--password-stdin", input=""))
    rows = json.loads(monitor_cli("users", "list", "--json").stdout)
    assert [(u["name"], u["role"]) for u in rows] == [("someone", "nurse")]  # nothing else was added


def start(db_path, command, port):
    cmd = [str(Path(sys.executable).parent / "infusion-monitor"), "--db", str(db_path), command,
           "--host", "0.0.0.0", "--port", str(port)]
    return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def answers(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.read().decode()
    except OSError:
        return None


@pytest.mark.parametrize("command", ["serve", "run"])
def test_listening_beyond_this_machine_needs_an_administrator(monitor_cli, db_path, command):
    if command == "serve":
        run_cli("simulate", "--scenario", "normal", db=db_path, check=True)
    assert add(monitor_cli, "rn.one", "nurse").returncode == 0  # users, but no administrator
    port = free_port()
    refused = start(db_path, command, port)
    try:
        _, err = refused.communicate(timeout=60)
    finally:
        if refused.poll() is None:
            refused.kill()
    assert refused.returncode == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "--host 0.0.0.0: refusing to serve beyond this machine while no administrator " \
                               "exists" in lines[0] and "users add NAME --role admin" in lines[0]
    assert answers(f"http://127.0.0.1:{port}/") is None  # nothing listened

    assert add(monitor_cli, "boss", "admin").returncode == 0
    proc = start(db_path, command, port)
    try:
        page = wait_until(lambda: proc.poll() is None and answers(f"http://127.0.0.1:{port}/")
                          or (proc.poll() is not None and pytest.fail(proc.stderr.read())), timeout=30)
        assert "login-password" in page  # listening on every address, behind the login page
    finally:
        assert interrupt(proc), "it did not stop on Ctrl-C"


def test_end_session_is_signed_by_a_user_who_may_end_it(monitor_cli, db_path):
    """Once the clinic has users, `end-session --by XX` names one of them, and their role decides
    (a nurse's initials cannot end a session from the command line either)."""
    import time
    from conftest import add_test_users
    from monitor.store import Store, people
    store = Store(db_path)
    add_test_users(store)
    sid = store.open_session("PT-CLI", "7", "ketamine-iv", time.time() - 600)[0]
    store.close()
    unknown = one_line_error(monitor_cli("end-session", "--session", sid, "--by", "ZZ"))
    assert "--by ZZ: no active user signs with ZZ" in unknown
    nurse = one_line_error(monitor_cli("end-session", "--session", sid, "--by", "RN"))
    assert "needs a clinician login" in nurse and "--override" not in nurse
    done = monitor_cli("end-session", "--session", sid, "--by", "DR")
    assert done.returncode == 0, done.stderr
    store = Store(db_path, readonly=True)
    try:
        row = people.audit_rows(store, action="session_end", outcome="ok")[0]
        refused = people.audit_rows(store, action="session_end", outcome="refused")[0]
    finally:
        store.close()
    assert row["user"].startswith("doc1 (cli:") and row["session_id"] == sid and row["chair"] == "7"
    assert refused["user"].startswith("nurse1 (cli:")
