"""The command line as a user runs it: output contracts and clear errors (exit 2)."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from conftest import ROOT, add_test_users, interrupt, nothing_written, run_cli, signed_in_http, wait_until
from monitor.store import Store, queries

pytestmark = [pytest.mark.slow, pytest.mark.both_engines]  # every test runs the console script in a subprocess; on SQLite and PostgreSQL

COMMANDS = ["run", "acquire", "serve", "simulate", "replay", "sessions", "alerts", "end-session", "export",
            "import", "devices", "emulate"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_version_and_help(cli):
    out = cli("--version")
    assert out.returncode == 0 and "infusion-monitor" in out.stdout
    top = cli("--help")
    assert "decision support" in top.stdout.lower().replace("\n", " ")
    for cmd in COMMANDS:
        h = cli(cmd, "--help")
        assert h.returncode == 0 and "Usage:" in h.stdout, cmd


def test_simulate_prints_session_id_last(cli):
    out = cli("simulate", "--scenario", "hypertensive", "--seed", "3")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "1"
    js = cli("simulate", "--scenario", "normal", "--json")
    data = json.loads(js.stdout)
    assert data["session_id"] == 2 and data["readings"] > 11000 and data["alerts"] == 0


def test_sessions_and_alerts_json(cli):
    cli("simulate", "--scenario", "hypertensive", "--patient", "PT-9", check=True)
    sessions = json.loads(cli("sessions", "--json").stdout)
    (s,) = sessions
    assert set(s) == {"id", "patient_ref", "chair", "state", "started_at", "infusion_start", "infusion_end",
                      "ended_at", "protocol", "site"}
    assert s["protocol"] == "ketamine-iv"  # the profile the session ran under
    assert s["site"] is None  # recorded here, not forwarded from a site
    assert s["patient_ref"] == "PT-9" and s["state"] == "ended" and s["started_at"].endswith("Z")
    alerts = json.loads(cli("alerts", "--session", str(s["id"]), "--json").stdout)
    keys = {"id", "session_id", "rule", "parameter", "kind", "priority", "started_at", "ended_at", "started_min",
            "ended_min", "value", "limit", "message", "acknowledged_at", "acknowledged_by", "escalated_at"}
    assert alerts and all(set(a) == keys for a in alerts)
    crit = [a for a in alerts if a["rule"] == "bp_critical"][0]
    assert crit["priority"] == "high" and crit["limit"] == 180 and crit["value"] >= 180
    assert 15 <= crit["started_min"] <= 25
    assert [a["started_at"] for a in alerts] == sorted(a["started_at"] for a in alerts)
    text = cli("alerts", "--session", str(s["id"]))
    assert "bp_critical" in text.stdout


def test_replay_sample_recording(cli):
    out = cli("replay", ROOT / "data/recordings/desaturation-seed11.csv", "--json", "--patient", "R1")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    rules = {a["rule"] for a in json.loads(cli("alerts", "--session", data["session_id"], "--json").stdout)}
    assert {"spo2_low", "spo2_critical"} <= rules


@pytest.mark.parametrize("args,words", [
    (["simulate", "--scenario", "nosuch"], "unknown; choose from"),
    (["simulate", "--scenario", "normal", "--speed", "fast"], "--speed"),
    (["simulate", "--scenario", "normal", "--speed", "-2"], "--speed"),
    (["alerts", "--session", "42"], "no such session"),
    (["replay", "missing.csv"], "cannot read"),
    (["acquire", "--device", "toaster:/dev/null", "--duration", "1"], "unknown kind 'toaster'"),
    (["acquire", "--device", "nocolon", "--duration", "1"], "expected KIND:PORT"),
    (["acquire", "--device", "sim:nosuch", "--duration", "1"], "unknown scenario"),
    (["simulate"], "Missing option"),
    (["simulate", "--scenario", "normal", "--speed", "inf"], "--speed"),
    (["serve", "--port", "99999"], "99999 is not in the range"),
    (["acquire", "--device", "sim:normal", "--duration", "nan"], "--duration"),
    (["alerts", "--session", "abc"], "'abc' is not a valid integer"),
])
def test_bad_input_exits_2_with_one_clear_line(cli, db_path, args, words):
    from monitor.store import Store
    Store(db_path).close()
    out = cli(*args)
    assert out.returncode == 2, (out.returncode, out.stderr)
    assert words in out.stderr
    assert "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr


@pytest.mark.parametrize("args", [["sessions"], ["alerts", "--session", "1"], ["serve"]])
def test_mistyped_db_is_not_created(cli, db_path, engine, args):
    out = cli(*args)
    said = "no such database" if engine == "sqlite" else "not an infusion-monitor database (no monitoring tables"
    assert out.returncode == 2 and said in out.stderr, out.stderr
    assert nothing_written(db_path)


def test_malformed_csv_names_line_and_writes_nothing(cli, tmp_path, db_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("t_s,parameter,value,status\n0,hr,70,\n1,hr,71,\n2,hr,oops,\n")
    out = cli("replay", bad)
    assert out.returncode == 2
    assert f"{bad}: line 4:" in out.stderr
    assert nothing_written(db_path)  # rejected before the database was even opened


def test_bad_protocol_file_names_key(cli, tmp_path):
    from monitor.protocol import default_profile_path
    text = default_profile_path().read_text().replace('limit = 92', 'limit = "ninety-two"', 1)
    p = tmp_path / "broken.toml"
    p.write_text(text)
    out = cli("--protocol", p, "simulate", "--scenario", "normal")
    assert out.returncode == 2
    assert "broken.toml: rules.spo2_low.limit: expected a number" in out.stderr
    p.write_text("name = [unclosed")
    out = cli("--protocol", p, "sessions")
    assert out.returncode == 2 and "not valid TOML" in out.stderr


def test_custom_protocol_changes_alarms(cli, tmp_path):
    from monitor.protocol import default_profile_path
    text = default_profile_path().read_text().replace("limit = 180,", "limit = 200,", 1)
    p = tmp_path / "lenient.toml"
    p.write_text(text)
    sid = cli("--protocol", p, "simulate", "--scenario", "hypertensive", check=True).stdout.split()[-1]
    rules = {a["rule"] for a in json.loads(cli("alerts", "--session", sid, "--json").stdout)}
    assert "bp_critical" not in rules and "bp_high" in rules


def test_acquire_sim_records_a_session(cli, db_path):
    out = cli("acquire", "--device", "sim:normal", "--chair", "7", "--patient", "AQ-1", "--duration", "3",
              timeout=60)
    assert out.returncode == 0, out.stderr
    sid = out.stdout.strip().splitlines()[-1]
    (s,) = json.loads(cli("sessions", "--json").stdout)
    assert str(s["id"]) == sid and s["chair"] == "7" and s["state"] == "ended"
    store = Store(db_path, readonly=True)
    assert len(queries.readings(store, int(sid), ("hr",))) >= 2
    store.close()


def _start(args, db_path):
    cmd = [str(Path(sys.executable).parent / "infusion-monitor"), "--db", str(db_path), *args]
    return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.read().decode()


@pytest.mark.parametrize("command", ["serve", "run"])
def test_server_commands_serve_dashboard(db_path, command):
    port = free_port()
    if command == "serve":
        run_cli("simulate", "--scenario", "normal", db=db_path, check=True)
    from monitor.store import Store
    users = Store(db_path)
    add_test_users(users)
    users.close()
    proc = _start([command, "--port", str(port)], db_path)
    try:
        url = f"http://127.0.0.1:{port}"
        assert "login-password" in wait_until(lambda: _try_get(url + "/"), timeout=30)  # anonymous: sign in
        html = signed_in_http(url, "nurse").get(url + "/", timeout=10).text
        assert "infusion-monitor" in html and "_dash-config" in html  # the dashboard itself
        assert "cdn" not in html.lower() and "https://" not in html
        assert "monitor.css" in html
        if command == "run":  # a demo session is running on chair 1
            s = wait_until(lambda: json.loads(run_cli("sessions", "--json", db=db_path).stdout), timeout=20)
            assert s[0]["chair"] == "1" and s[0]["patient_ref"] == "DEMO" and s[0]["state"] == "baseline"
    finally:
        assert interrupt(proc), "it did not stop on Ctrl-C"


def _try_get(url):
    try:
        return _get(url)
    except OSError:
        return None


def test_port_in_use_is_a_clear_error(db_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        from monitor.store import Store
        Store(db_path).close()
        out = run_cli("serve", "--port", port, db=db_path, timeout=30)
    assert out.returncode == 2 and f"cannot listen on 127.0.0.1:{port}" in out.stderr


def test_end_session_closes_an_open_session(cli, db_path):
    from monitor.store import Store
    store = Store(db_path)
    sid = store.open_session("OPEN-1", "4", "ketamine-iv", 1_700_000_000.0)[0]
    store.close()
    bad = cli("end-session", "--session", sid, "--by", "x1")
    assert bad.returncode == 2 and "initials are 2-4 letters" in bad.stderr
    out = cli("end-session", "--session", sid, "--by", "kb", "--note", "acquisition stopped")
    assert out.returncode == 0, out.stderr
    (s,) = json.loads(cli("sessions", "--json").stdout)
    assert s["state"] == "ended" and s["ended_at"]
    again = cli("end-session", "--session", sid, "--by", "kb")
    assert again.returncode == 2 and "has ended" in again.stderr


def test_acquire_again_resumes_the_same_patients_open_session(cli, db_path):
    from monitor.store import Store
    store = Store(db_path)
    sid = store.open_session("R1", "5", "ketamine-iv", 1_700_000_000.0)[0]  # left open by a killed acquire
    store.close()
    other = cli("acquire", "--device", "sim:normal", "--chair", "5", "--patient", "R2", "--duration", "1")
    assert other.returncode == 2 and "open session" in other.stderr and "R1" in other.stderr
    out = cli("acquire", "--device", "sim:normal", "--chair", "5", "--patient", "R1", "--duration", "2")
    assert out.returncode == 0, out.stderr
    assert f"resuming session {sid}" in out.stderr and out.stdout.split()[-1] == str(sid)
    assert [s["id"] for s in json.loads(cli("sessions", "--json").stdout)] == [sid]
