"""SIGTERM (and SIGHUP) stop every long-running command the way Ctrl-C does (issue 10 item 6).

A service manager or `kill` sends SIGTERM; a closed terminal sends SIGHUP. Each takes
Ctrl-C's path: a paced `simulate` or `replay` ends its session ("playback interrupted")
instead of leaving it in infusion, `acquire` flushes and closes, `serve` and `run` leave
their loop and close. The command says so in one line; a stopped playback exits 128 +
the signal number. Every test runs the console script in a subprocess.
"""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from conftest import ROOT, free_port, run_cli, wait_until
from monitor.store import Store, StoreError, queries

pytestmark = pytest.mark.slow

RECORDING = ROOT / "data" / "recordings" / "desaturation-seed11.csv"


def _start(db_path, *args) -> subprocess.Popen:
    cmd = [str(Path(sys.executable).parent / "infusion-monitor"), "--db", str(db_path), *map(str, args)]
    return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _stop(proc: subprocess.Popen, sig: int) -> tuple[int, str, str]:
    proc.send_signal(sig)
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    return proc.returncode, out, err


def _recording(db_path) -> dict:
    """The session a playback is writing, once it has readings."""
    def started():
        if not Path(db_path).exists():
            return None
        store = Store(db_path, readonly=True)
        try:
            rows = queries.sessions(store)
            return rows and queries.newest_reading_ts(store, rows[0]["id"]) and rows[0]
        except StoreError:  # the schema is still being created
            return None
        finally:
            store.close()
    return wait_until(started, timeout=30)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
@pytest.mark.parametrize("command", [("simulate", "--scenario", "normal", "--speed", "20"),
                                     ("replay", RECORDING, "--speed", "20")], ids=["simulate", "replay"])
def test_a_paced_playback_is_ended_not_left_open(db_path, command, sig):
    proc = _start(db_path, *command)
    session = _recording(db_path)
    code, out, err = _stop(proc, sig)
    assert code == 128 + sig and err.strip() == f"infusion-monitor: stopped by {signal.Signals(sig).name}"
    store = Store(db_path, readonly=True)
    try:
        s = queries.session(store, session["id"])
        assert s["state"] == "ended" and s["ended_at"] is not None
        end = [e for e in queries.events(store, s["id"]) if e["type"] == "session_end"]
        assert [e["text"] for e in end] == ["playback interrupted"]  # as Ctrl-C ends it (playback._run)
        assert queries.newest_reading_ts(store, s["id"]) <= s["ended_at"]
    finally:
        store.close()


def test_acquire_flushes_and_closes_on_sigterm(db_path):
    proc = _start(db_path, "acquire", "--device", "sim:normal", "--chair", "T", "--patient", "P-TERM")
    session = _recording(db_path)
    code, out, err = _stop(proc, signal.SIGTERM)
    assert code == 0 and "Traceback" not in err, err
    assert out.split()[-1] == str(session["id"])  # as after Ctrl-C: the session id, left open to resume
    store = Store(db_path, readonly=True)
    try:
        assert queries.session(store, session["id"])["state"] != "ended"
    finally:
        store.close()


@pytest.mark.parametrize("command", ["serve", "run"])
def test_server_commands_stop_on_sigterm(db_path, command):
    if command == "serve":
        Store(db_path).close()
    port = free_port()
    proc = _start(db_path, command, "--port", port)

    def up():
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2):
                return True
        except OSError:
            return False
    wait_until(up, timeout=30)
    code, _, err = _stop(proc, signal.SIGTERM)
    assert code == 0 and "Traceback" not in err, err
    if command == "run":  # the demo chair's acquisition stopped cleanly: the file is whole
        sessions = json.loads(run_cli("sessions", "--json", db=db_path, check=True).stdout)
        assert sessions and sessions[0]["patient_ref"] == "DEMO"
