"""Store-and-forward (store/forwarding.py, monitor/forwarder.py): a site's SQLite database
shipped to a central PostgreSQL one, compared table by table, row by row; later
acknowledgements, ends and corrections follow; a killed forwarder and a stopped central
server lose and duplicate nothing."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import CLINICIAN, NURSE, ROOT, run_cli, wait_until
from monitor.forwarder import Forwarder
from monitor.model import Event, Reading
from monitor.playback import simulate
from monitor.store import Store, queries, summaries
from monitor.store import forwarding as fw

pytestmark = pytest.mark.postgres

SITE = "north"
# How long the central server is down in the fault-injection test: a minute, as an outage of
# a site's network or a central restart would be (connection attempts time out meanwhile).
OUTAGE_S = 60


@pytest.fixture
def site(tmp_path):
    s = Store(tmp_path / "site.db")
    yield s
    s.close()


@pytest.fixture
def central(pg_url):
    s = Store(pg_url)
    yield s
    s.close()


def open_session_with_entries(site: Store, chair: str = "2") -> int:
    """An open session with what a nurse adds by hand: an alarm signed for, a typed BP struck."""
    from monitor.model import Alert
    sid = site.open_session("PT-7", chair, "ketamine-iv", 1000.0, actor=NURSE)[0]
    for i in range(30):
        site.put_reading(sid, Reading(1000.0 + i, "hr", 70.0 + i, "ok", "ox"))
    site.put_change(sid, Alert("hr_high#1", "hr_high", "hr", "physiological", "medium", 1020.0, 125, 120, "HR 125"))
    site.flush()
    alert_id = queries.alerts(site, sid)[0]["id"]
    site.acknowledge(alert_id, "RN", 1025.0, actor=NURSE)
    typed = site.record_event(sid, Event(1026.0, "manual_vitals", "BP 210/90", "RN"), {"sbp": 210, "dbp": 90},
                              actor=NURSE)
    site.record_event(sid, Event(1027.0, "correction", "typo", "RN"), {"strikes": typed, "reason": "typo"},
                      actor=NURSE)
    return sid


def importing_session(site: Store, patient: str, chair: str) -> int:
    """A session being imported (hidden, store/transfer.py) with its first chunk of readings committed."""
    sid = site._execute("INSERT INTO sessions (patient_ref, chair, protocol, state, started_at) "
                        "VALUES (?, ?, 'ketamine-iv', 'importing', 1000.0) RETURNING id", (patient, chair)).fetchall()[0][0]
    for i in range(50):
        site.put_reading(sid, Reading(1000.0 + i, "hr", 60.0, "ok", "ox"))
    site.flush()
    return sid


def _central_of(central: Store, table: str, site_ids) -> dict[int, dict]:
    rows = central._query(f"SELECT * FROM {table} WHERE site = ?", (SITE,))
    return {r["site_id"]: r for r in rows}


def assert_identical(site: Store, central: Store) -> None:
    """Every forwarded table, row by row: each site row once at the central database, with the
    same values (ids mapped to the central ones, chairs named <site>-<chair>), and nothing else."""
    sessions = _central_of(central, "sessions", None)
    site_sessions = {r["id"]: r for r in site._query("SELECT * FROM sessions")}
    assert set(sessions) == set(site_sessions)
    to_site_session = {c["id"]: sid for sid, c in sessions.items()}
    for sid, s in site_sessions.items():
        c = sessions[sid]
        assert c["chair"] == f"{SITE}-{s['chair']}"
        assert {k: c[k] for k in fw.SESSION_COLS if k != "chair"} == {k: s[k] for k in fw.SESSION_COLS if k != "chair"}
    for table, cols in (("readings", fw.READING_COLS), ("alerts", fw.ALERT_COLS), ("events", fw.EVENT_COLS)):
        here = {r["id"]: r for r in site._query(f"SELECT * FROM {table}")}
        there = _central_of(central, table, None)
        assert len(there) == len(here) == central._one(
            f"SELECT count(*) AS n FROM {table} WHERE site = ?", (SITE,))["n"], table  # none twice, none missing
        alert_site_id = {c["id"]: i for i, c in _central_of(central, "alerts", None).items()}
        event_site_id = {c["id"]: i for i, c in _central_of(central, "events", None).items()}
        for i, r in here.items():
            c = there[i]
            assert to_site_session[c["session_id"]] == r["session_id"], (table, i)
            for col in cols:
                if col == "data" and c[col]:
                    d = json.loads(c[col])
                    if "alert_id" in d:
                        d["alert_id"] = alert_site_id[d["alert_id"]]
                    if "strikes" in d:
                        d["strikes"] = event_site_id[d["strikes"]]
                    assert d == json.loads(r[col]), (table, i)
                else:
                    assert c[col] == r[col], (table, i, col)
    for sid in site_sessions:
        here = sorted((b["parameter"], b["value"], b["ts"], b["n"]) for b in queries.baselines(site, sid).values())
        there = sorted((b["parameter"], b["value"], b["ts"], b["n"])
                       for b in queries.baselines(central, sessions[sid]["id"]).values())
        assert here == there, sid
    audit_here = site._query("SELECT * FROM audit ORDER BY id")
    audit_there = _central_of(central, "audit", None)
    assert len(audit_there) == len(audit_here)
    for r in audit_here:
        c = audit_there[r["id"]]
        assert (c["action"], c["user"], c["outcome"], c["detail"], c["ts"]) == \
               (r["action"], r["user"], r["outcome"], r["detail"], r["ts"])
        assert c["chair"] == (f"{SITE}-{r['chair']}" if r["chair"] else None)
        assert (to_site_session[c["session_id"]] if c["session_id"] else None) == r["session_id"]


def test_a_site_arrives_whole_and_its_later_changes_follow(site, central, protocol):
    simulate(site, protocol, "hypertensive", seed=3, speed=None, chair="1", patient_ref="PT-1")
    open_sid = open_session_with_entries(site)
    forwarder = Forwarder(site, central, SITE)
    first = forwarder.forward_pass()
    assert first.readings == site._one("SELECT count(*) AS n FROM readings")["n"] > 1000
    assert_identical(site, central)
    assert forwarder.forward_pass().rows == 0  # nothing new: nothing sent

    # later at the site: a new alarm signed for, the open session ended
    (alert,) = queries.alerts(site, open_sid)
    site.put_reading(open_sid, Reading(1100.0, "hr", 72.0, "ok", "ox"))
    site.flush()
    site.record_event(open_sid, Event(1200.0, "session_end", "end", "DR"), actor=CLINICIAN)
    second = forwarder.forward_pass()
    assert second.readings == 1 and second.sessions >= 1
    assert_identical(site, central)
    c = queries.session(central, _central_of(central, "sessions", None)[open_sid]["id"])
    assert c["state"] == "ended" and c["site"] == SITE
    struck = [r for r in queries.readings(central, c["id"]) if r["source"] == "manual"]
    assert struck and all(r["status"] == "artifact" for r in struck)  # the correction followed its reading

    # the central review: its summary, its site filter, the site's chairs apart
    rows, total = summaries.list_sessions(central, site=SITE)
    assert total == 2 and {r["chair"] for r in rows} == {f"{SITE}-1", f"{SITE}-2"}
    assert summaries.list_sessions(central, site="south")[1] == 0
    assert queries.sites(central) == [SITE]


def test_a_heartbeat_follows_under_the_central_chair_name(site, central):
    site.heartbeat(["1"], 500.0, 4242, "site-host", 400.0)
    Forwarder(site, central, SITE).forward_pass()
    assert queries.heartbeat(central, f"{SITE}-1")["beat_at"] == 500.0


@pytest.mark.slow
def test_the_command_forwards_once_and_sessions_json_names_the_site(tmp_path, pg_url):
    site_db = tmp_path / "site.db"
    run_cli("simulate", "--scenario", "normal", "--chair", "5", db=site_db, check=True)
    out = run_cli("forward", "--to", pg_url, "--site", SITE, "--once", "--json", db=site_db, check=True)
    sent = json.loads(out.stdout)
    assert sent["site"] == SITE and sent["sessions"] >= 1 and sent["readings"] > 1000
    again = json.loads(run_cli("forward", "--to", pg_url, "--site", SITE, "--once", "--json", db=site_db,
                               check=True).stdout)
    assert again["readings"] == 0 and again["cursors"] == sent["cursors"]
    (s,) = json.loads(run_cli("sessions", "--json", db=pg_url, check=True).stdout)
    assert s["site"] == SITE and s["chair"] == f"{SITE}-5"
    (local,) = json.loads(run_cli("sessions", "--json", db=site_db, check=True).stdout)
    assert local["site"] is None
    for bad, said in ((["--site", "no/slash"], "--site"), (["--to", str(site_db)], "this site's own database")):
        out = run_cli("forward", "--to", pg_url, "--once", *bad, db=site_db)
        assert out.returncode == 2 and said in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr


def _forwarder(site_db: Path, url: str) -> subprocess.Popen:
    return subprocess.Popen([str(Path(sys.executable).parent / "infusion-monitor"), "--db", str(site_db), "forward",
                             "--to", url, "--site", SITE, "--interval", "0.1"],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_a_killed_forwarder_and_a_stopped_central_server_lose_and_duplicate_nothing(tmp_path, protocol):
    """Kill the forwarder mid-batch (twice), stop the central server while the site records
    and the forwarder runs, bring both back: site and central identical, row by row."""
    from pg_server import PostgresServer
    server = PostgresServer().start()
    site_db = tmp_path / "site.db"
    site = Store(site_db)
    try:
        url = server.create_database("central")
        Store(url).close()
        for seed in range(3):  # a backlog: tens of thousands of readings, many batches
            simulate(site, protocol, "hypertensive", seed=seed, speed=None, chair=str(seed + 1))
        central = Store(url)
        head = fw.site_heads(site)["readings"]
        for _ in range(2):  # killed mid-batch: what it sent stays, with its cursor; the rest is resent
            proc = _forwarder(site_db, url)
            wait_until(lambda: fw.cursors(central, SITE)["readings"] > 0 or proc.poll() is not None, timeout=30)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        landed = fw.cursors(central, SITE)["readings"]
        assert 0 < landed < head  # it really was cut off part-way
        proc = _forwarder(site_db, url)
        try:
            assert wait_until(lambda: fw.cursors(central, SITE)["readings"] == head, timeout=60)  # caught up
            sid = site.open_session("PT-9", "9", "ketamine-iv", time.time())[0]
            server.stop()  # the central server goes away while the site goes on recording
            for i in range(200):
                site.put_reading(sid, Reading(time.time() + i, "hr", 80.0, "ok", "ox"))
            site.flush()
            time.sleep(OUTAGE_S)
            assert proc.poll() is None, proc.stderr.read()  # the forwarder waits it out
            server.start_again()
            total = site._one("SELECT count(*) AS n FROM readings")["n"]
            central.close()
            central = Store(url)
            assert wait_until(lambda: fw.cursors(central, SITE)["readings"] == fw.site_heads(site)["readings"],
                              timeout=60)
        finally:
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=20)
        assert "forwarding paused" in err  # it said so, once it could not reach the server
        assert central._one("SELECT count(*) AS n FROM readings WHERE site = ?", (SITE,))["n"] == total
        assert_identical(site, central)
        central.close()
    finally:
        site.close()
        server.close()


def test_what_the_site_purges_stays_centrally_and_an_aborted_import_goes(site, central, protocol):
    """A site's retention is its own: a purged session stays at the central database. A session
    that never became visible (an import cut short) is removed there too."""
    from monitor.store import transfer
    kept = simulate(site, protocol, "normal", seed=1, speed=None, chair="1").session_id
    forwarder = Forwarder(site, central, SITE)
    forwarder.forward_pass()
    hidden = importing_session(site, "PT-3", "3")
    forwarder.forward_pass()
    central_hidden = _central_of(central, "sessions", None)[hidden]["id"]
    assert queries.session(central, central_hidden) is None  # hidden there as here
    transfer.remove(site, hidden)  # the import is abandoned
    transfer.remove(site, kept)  # the way retention removes an ended session
    forwarder.forward_pass()
    assert _central_of(central, "sessions", None).keys() == {kept}
    c = queries.session(central, _central_of(central, "sessions", None)[kept]["id"])
    assert c["state"] == "ended" and len(queries.readings(central, c["id"])) > 1000


def _readme_example() -> list[list[str]]:
    """The commands of README's "Running a clinic group" example, as argument lists."""
    import shlex
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Running a clinic group"):]
    block = section[section.index("```sh"):].split("```")[1]
    return [shlex.split(line.split("  #")[0])[1:] for line in block.splitlines() if line.strip().startswith("infusion")]


@pytest.mark.slow
def test_the_readme_example_runs_as_written(tmp_path, pg_url):
    example = [[pg_url if a == "$CENTRAL" else a for a in args] for args in _readme_example()]
    assert len(example) == 4 and any("--once" in args for args in example)
    (tmp_path / "data").mkdir()
    last = None
    for args in example:
        if "forward" in args and "--once" not in args:  # the continuous forwarder: until Ctrl-C
            proc = subprocess.Popen([str(Path(sys.executable).parent / "infusion-monitor"), *args], cwd=tmp_path,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                    env={**os.environ, "PYTHONFAULTHANDLER": "1"})  # SIGABRT: its stacks
            central = Store(pg_url)
            try:
                assert wait_until(lambda: queries.sessions(central), timeout=30)
            finally:
                central.close()
                proc.send_signal(signal.SIGINT)
            try:
                out, err = proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGABRT)
                raise AssertionError("forward did not stop on Ctrl-C: " + proc.communicate(timeout=20)[1][-3000:])
            assert proc.returncode == 0, err
            continue
        last = run_cli(*args, cwd=tmp_path, check=True)
    (s,) = json.loads(last.stdout)
    assert s["site"] == "north" and s["chair"] == "north-1" and s["state"] == "ended"


def test_an_id_freed_by_an_aborted_import_is_never_given_again(site, central, protocol):
    """The newest rows removed (an import cut short): the next live readings get new ids, so
    the cursor that already passed the removed ones does not skip them."""
    from monitor.store import transfer
    live = site.open_session("PT-1", "1", "ketamine-iv", 1000.0)[0]
    forwarder = Forwarder(site, central, SITE)
    aborted = importing_session(site, "PT-2", "2")
    forwarder.forward_pass()
    transfer.remove(site, aborted)
    for i in range(10):
        site.put_reading(live, Reading(2000.0 + i, "hr", 70.0 + i, "ok", "ox"))
    site.flush()
    forwarder.forward_pass()
    c = _central_of(central, "sessions", None)[live]["id"]
    assert [r["value"] for r in queries.readings(central, c)] == [70.0 + i for i in range(10)]
    assert_identical(site, central)


def test_a_second_database_under_a_taken_name_or_a_restored_one_is_refused(site, central, tmp_path):
    from monitor.store.forwarding import ForwardRefused
    sid = site.open_session("PT-1", "1", "ketamine-iv", 1000.0)[0]
    site.put_reading(sid, Reading(1000.0, "hr", 70.0, "ok", "ox"))
    site.flush()
    Forwarder(site, central, SITE).forward_pass()
    other = Store(tmp_path / "other.db")
    with pytest.raises(ForwardRefused, match="another database"):
        Forwarder(other, central, SITE).forward_pass()  # another machine under the same name
    Forwarder(other, central, "south").forward_pass()  # under its own name it goes
    other.close()
    import sqlite3
    with sqlite3.connect(tmp_path / "backup.db") as copy:  # a backup of the site, taken now ...
        sqlite3.connect(tmp_path / "site.db").backup(copy)
    site.put_reading(sid, Reading(1001.0, "hr", 71.0, "ok", "ox"))
    site.flush()
    Forwarder(site, central, SITE).forward_pass()  # ... then more was sent ...
    restored = Store(tmp_path / "backup.db")  # ... and the site restored from it: its next ids were sent already
    with pytest.raises(ForwardRefused, match="restored from a backup"):
        Forwarder(restored, central, SITE).forward_pass()
    restored.close()


def test_a_nul_in_a_device_text_does_not_stop_the_writer(central):
    """PostgreSQL refuses NUL in text; one garbled status line must not fail every batch after it."""
    sid = central.open_session("PT-1", "1", "ketamine-iv", 1000.0)[0]
    central.device_status("ox", chair="1", error="garbled\x00line")
    central.put_reading(sid, Reading(1000.0, "hr", 70.0, "ok", "ox", "bad\x00detail"))
    assert central.flush() == 2
    assert queries.devices(central, "1")[0]["error"] == "garbled\ufffdline"
    assert queries.readings(central, sid)[0]["detail"] == "bad\ufffddetail"


@pytest.mark.slow
def test_forward_refuses_a_dashed_site_itself_and_keeps_a_password_off_screen(tmp_path, pg_url):
    site_db = tmp_path / "site.db"
    Store(site_db).close()
    out = run_cli("forward", "--to", pg_url, "--site", "north-a", "--once", db=site_db)
    assert out.returncode == 2 and "--site 'north-a'" in out.stderr
    out = run_cli("forward", "--to", str(tmp_path / "." / "site.db"), "--site", "x", "--once", db=site_db)
    assert out.returncode == 2 and "this site's own database" in out.stderr
    secret = pg_url + "?password=s3cret-pw"
    out = run_cli("forward", "--site", "x", "--once", db=site_db, env={"INFUSION_MONITOR_FORWARD_TO": secret})
    assert out.returncode == 0, out.stderr
    assert "s3cret-pw" not in out.stdout + out.stderr and "password=***" in out.stdout
