"""Operations on the whole database: backup while the monitor writes, restore, and the
retention purge (monitor/store/backup.py, monitor/store/retention.py, monitor/cli_operations.py)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import ROOT, add_test_users, run_cli, wait_until, watched
from monitor.cli import main
from monitor.model import Reading
from monitor.store import Store, people, queries, summaries
from monitor.store.backup import url_and_password
from monitor.store.transfer import insert_session

pytestmark = pytest.mark.both_engines  # on SQLite and on PostgreSQL (conftest.py)

DAY = 24 * 3600
ROW_TABLES = ("readings", "alerts", "events", "baselines", "session_summaries")


def _cli(db, *args):
    return CliRunner().invoke(main, ["--db", str(db), *map(str, args)])


def _ended(store, started_at: float, chair: str = "A", readings: int = 40) -> int:
    """An ended session with a row in every table a session owns."""
    sid = insert_session(
        store,
        {"patient_ref": f"P-{chair}", "chair": chair, "protocol": "ketamine-iv", "state": "ended",
         "started_at": started_at, "infusion_start": started_at + 60, "infusion_end": started_at + 1800,
         "ended_at": started_at + 3600, "ended_by": "AB", "source": "live"},
        [{"parameter": "hr", "value": 72.0, "source": "computed", "ts": started_at + 50, "n": 10}],
        [(started_at + i, "hr", 72.0 + i % 3, "sim", "ok", None) for i in range(readings)],
        [{"key": "hr_high#1", "rule": "hr_high", "parameter": "hr", "kind": "physiological",
          "priority": "medium", "started_at": started_at + 100, "ended_at": started_at + 200, "value": 125.0,
          "limit_value": 120.0, "message": "HR 125 > 120", "acknowledged_at": None, "acknowledged_by": None}],
        [{"ts": started_at + 300, "type": "note", "text": "comfortable", "author": "AB", "data": None}])
    summaries.summary(store, sid)  # the session list's cache row, which must go with it
    return sid


def _rows_of(store, sid: int) -> dict:
    return {t: store._one(f"SELECT COUNT(*) AS n FROM {t} WHERE session_id = ?", (sid,))["n"] for t in ROW_TABLES}


def _state(store, sid: int):
    """The session's state as stored, hidden ones too (queries.session shows no `importing` one)."""
    row = store._one("SELECT state FROM sessions WHERE id = ?", (sid,))
    return row["state"] if row else None


def _all_counts(store) -> dict:
    return {t: store._one(f"SELECT COUNT(*) AS n FROM {t}")["n"] for t in ("sessions", "audit", *ROW_TABLES)}


def _day(days_ago: int) -> tuple[str, float]:
    """A local day some days back: as typed (YYYY-MM-DD) and its midnight in epoch seconds."""
    day = (datetime.now() - timedelta(days=days_ago)).date()
    return day.isoformat(), datetime(day.year, day.month, day.day).timestamp()


# ----------------------------------------------------------------- purge
def _clinic_with_history(store):
    """Two sessions ended long ago, one opened long ago and never ended, one ended last week."""
    _, cutoff = _day(30)
    old = [_ended(store, cutoff - 90 * DAY, "A"), _ended(store, cutoff - 40 * DAY, "B")]
    still_open, _ = store.open_session("P-OPEN", "C", "ketamine-iv", cutoff - 60 * DAY)
    store.put_reading(still_open, Reading(cutoff - 60 * DAY + 5, "hr", 80.0, "ok", "sim"))
    store.flush()
    recent = _ended(store, cutoff + 20 * DAY, "D")
    return old, still_open, recent


def test_purge_removes_exactly_the_old_ended_sessions_and_all_their_rows(store, db_path):
    old, still_open, recent = _clinic_with_history(store)
    kept = {sid: _rows_of(store, sid) for sid in (still_open, recent)}
    assert all(_rows_of(store, sid)["session_summaries"] == 1 for sid in old)
    before, _ = _day(30)

    out = _cli(db_path, "purge", "--before", before, "--by", "AB")

    assert out.exit_code == 0, out.output
    assert out.output.strip() == (f"removed 2 ended sessions started before {before} (ids {old[0]}–{old[1]}): "
                                  "80 readings, 2 alerts, 2 events")
    for sid in old:
        assert _state(store, sid) is None
        assert _rows_of(store, sid) == {t: 0 for t in ROW_TABLES}
    assert queries.session(store, still_open)["state"] == "baseline"  # open: never purged, however old
    assert queries.session(store, recent)["state"] == "ended"
    assert {sid: _rows_of(store, sid) for sid in kept} == kept


def test_the_purge_is_one_audit_row_signed_like_an_entry_and_the_trail_stays(store, db_path):
    old, _, _ = _clinic_with_history(store)
    people.record(store, None, "export", session_id=old[0], detail="csv", user="someone")
    before, _ = _day(30)
    assert _cli(db_path, "purge", "--before", before, "--by", "AB").exit_code == 0

    rows = people.audit_rows(store, action="purge")
    assert len(rows) == 1
    assert rows[0]["outcome"] == "ok" and rows[0]["user"].startswith("cli:") and rows[0]["role"] == "admin"
    assert rows[0]["detail"] == (f"2 ended sessions started before {before} (ids {old[0]}–{old[1]}): "
                                 "80 readings, 2 alerts, 2 events")
    assert people.audit_rows(store, session_id=old[0])[0]["detail"] == "csv"  # the trail is never purged


def test_once_there_are_users_only_an_administrator_may_purge(store, db_path):
    old, _, _ = _clinic_with_history(store)
    add_test_users(store)
    before, _ = _day(30)

    refused = _cli(db_path, "purge", "--before", before, "--by", "DR")  # a clinician
    assert refused.exit_code == 2 and len(refused.output.strip().splitlines()) == 1
    assert refused.output.startswith("infusion-monitor: error: --by DR:") and "administrator" in refused.output
    assert all(queries.session(store, sid) for sid in old)
    assert [(r["outcome"], r["user"].split(" (")[0]) for r in people.audit_rows(store, action="purge")] == \
        [("refused", "doc1")]  # a refused purge is on the record too

    done = _cli(db_path, "purge", "--before", before, "--by", "AD")
    assert done.exit_code == 0, done.output
    assert people.audit_rows(store, action="purge")[0]["user"].startswith("admin1 (cli:")
    assert not any(_state(store, sid) for sid in old)


def test_a_dry_run_says_what_would_go_and_writes_nothing(store, db_path):
    old, _, _ = _clinic_with_history(store)
    before, _ = _day(30)
    counts = _all_counts(store)

    out = _cli(db_path, "purge", "--before", before, "--by", "AB", "--dry-run")

    assert out.exit_code == 0, out.output
    assert out.output.startswith(f"would remove 2 ended sessions started before {before} (ids {old[0]}–{old[1]})")
    assert _all_counts(store) == counts  # not even the audit row


def test_nothing_to_purge_is_said_so(store, db_path):
    _clinic_with_history(store)
    out = _cli(db_path, "purge", "--before", _day(400)[0], "--by", "AB")
    assert out.exit_code == 0 and out.output.startswith("removed 0 ended sessions")


@pytest.mark.parametrize("before, says", [("notadate", "not a date"), ("2026-13-01", "not a date"),
                                          ((datetime.now() + timedelta(days=30)).date().isoformat(),
                                           "later than tomorrow")])
def test_a_bad_date_is_one_line_naming_the_option_and_nothing_goes(store, db_path, before, says):
    old, _, _ = _clinic_with_history(store)
    counts = _all_counts(store)
    out = _cli(db_path, "purge", "--before", before, "--by", "AB")
    assert out.exit_code == 2
    assert out.output.startswith(f"infusion-monitor: error: --before {before!r}" if says == "not a date"
                                 else f"infusion-monitor: error: --before {before}")
    assert says in out.output and len(out.output.strip().splitlines()) == 1
    assert _all_counts(store) == counts


@pytest.mark.slow
def test_purge_goes_in_chunks_while_acquisition_keeps_writing(store, db_path, monkeypatch):
    """A long session is removed in short transactions: another chair's readings keep landing."""
    from monitor.store import transfer
    monkeypatch.setattr(transfer, "_DELETE_ROWS", 500)
    _, cutoff = _day(30)
    big = _ended(store, cutoff - 40 * DAY, "A", readings=5000)
    live, _ = store.open_session("P-LIVE", "L", "ketamine-iv", time.time())
    writer = Store(db_path)
    stop = threading.Event()
    landed = []

    def acquisition():
        while not stop.is_set():
            writer.put_reading(live, Reading(time.time(), "hr", 70.0, "ok", "sim"))
            started = time.monotonic()
            writer.flush()
            landed.append(time.monotonic() - started)
    thread = threading.Thread(target=acquisition)
    thread.start()
    try:
        assert _cli(db_path, "purge", "--before", _day(30)[0], "--by", "AB").exit_code == 0
    finally:
        stop.set()
        thread.join()
        writer.close()
    assert _state(store, big) is None and _rows_of(store, big)["readings"] == 0
    assert len(queries.readings(store, live)) == len(landed) > 5
    assert max(landed) < 2.0  # no commit waited for the whole purge


# ----------------------------------------------------------------- backup and restore
@pytest.fixture
def other_db(engine, tmp_path, request):
    """A second, empty database on the same engine (a restore's target); dropped afterwards."""
    if engine == "postgresql":
        server = request.getfixturevalue("pg_server")
        name = f"r_{uuid.uuid4().hex[:12]}"
        yield server.create_database(name)
        server.drop_database(name)
    else:
        yield tmp_path / "restored.db"


def _backup_file(tmp_path, engine) -> Path:
    return tmp_path / ("monitor.backup" if engine == "postgresql" else "backup.db")


@pytest.mark.slow
def test_a_backup_taken_while_readings_are_written_has_every_committed_session(store, db_path, tmp_path,
                                                                                engine, other_db):
    _ended(store, time.time() - 5 * DAY, "A", readings=3000)
    writer = Store(db_path)
    stop = threading.Event()
    committed: list[int] = []

    def acquisition():
        n = 0
        while not stop.is_set():
            n += 1
            sid, _ = writer.open_session(f"P-{n}", f"W{n}", "ketamine-iv", time.time())
            for i in range(200):
                writer.put_reading(sid, Reading(time.time() + i * 0.001, "hr", 70.0 + i % 5, "ok", "sim"))
            writer.flush()
            committed.append(sid)
    thread = threading.Thread(target=acquisition)
    thread.start()
    try:
        while len(committed) < 3:
            time.sleep(0.01)
        before = list(committed)
        out = _cli(db_path, "backup", "--to", _backup_file(tmp_path, engine))
        time.sleep(0.1)
    finally:
        stop.set()
        thread.join()
        writer.close()
    assert out.exit_code == 0, out.output
    target = _backup_file(tmp_path, engine)
    assert out.output.startswith(f"wrote {target} ({target.stat().st_size} bytes, ")
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]
    assert target.stat().st_mode & 0o777 == 0o600  # password hashes and the cookie key in it: its owner's only

    restored = _cli(other_db, "restore", "--from", target)
    assert restored.exit_code == 0, restored.output
    copy = Store(other_db, readonly=True)
    try:
        for sid in [1, *before]:
            assert queries.session(copy, sid) is not None, f"session {sid} committed before the backup is missing"
            assert len(queries.readings(copy, sid)) == len(queries.readings(store, sid))
    finally:
        copy.close()


def test_restore_brings_back_a_deleted_session(store, db_path, tmp_path, engine):
    sid = _ended(store, time.time() - 40 * DAY, "A")
    rows = _rows_of(store, sid)
    backup = _backup_file(tmp_path, engine)
    assert _cli(db_path, "backup", "--to", backup).exit_code == 0
    assert _cli(db_path, "purge", "--before", _day(30)[0], "--by", "AB").exit_code == 0
    assert _state(store, sid) is None
    store.close()

    out = _cli(db_path, "restore", "--from", backup)

    assert out.exit_code == 0, out.output
    assert out.output.strip().endswith("(1 session)")
    again = Store(db_path)
    try:
        assert queries.session(again, sid)["patient_ref"] == "P-A"
        assert _rows_of(again, sid) == rows
        restore_rows = people.audit_rows(again, action="restore")
        assert len(restore_rows) == 1 and restore_rows[0]["detail"] == f"from {backup.name}"
        assert people.audit_rows(again, action="purge") == []  # the trail as it stood at the backup
    finally:
        again.close()


def test_restore_is_refused_while_acquisition_writes_the_database(store, db_path, tmp_path, engine):
    sid = _ended(store, time.time() - 40 * DAY, "A")
    backup = _backup_file(tmp_path, engine)
    assert _cli(db_path, "backup", "--to", backup).exit_code == 0
    later = _ended(store, time.time() - DAY, "B")
    watched(store, "3", "1")
    store.heartbeat(["9"], time.time(), 1, "host", time.time(), stopped=True)  # shut down: not writing

    out = _cli(db_path, "restore", "--from", backup)

    assert out.exit_code == 2 and len(out.output.strip().splitlines()) == 1
    assert "--from" in out.output and "acquisition is writing it now (chairs 1, 3)" in out.output
    assert queries.session(store, later) is not None and queries.session(store, sid) is not None


def test_restore_from_something_that_is_not_a_backup_changes_nothing(store, db_path, tmp_path):
    sid = _ended(store, time.time() - DAY, "A")
    junk = tmp_path / "notes.txt"
    junk.write_text("not a database\n")
    out = _cli(db_path, "restore", "--from", junk)
    assert out.exit_code == 2 and "--from" in out.output and len(out.output.strip().splitlines()) == 1
    assert queries.session(store, sid) is not None
    missing = _cli(db_path, "restore", "--from", tmp_path / "nope.db")
    assert missing.exit_code == 2 and "--from" in missing.output and "no such file" in missing.output


@pytest.mark.parametrize("where", ["/proc/backup.db", "{tmp}/no-such-dir/backup.db", "{tmp}"])
def test_a_backup_to_where_it_cannot_be_written_is_one_line_naming_the_option(store, db_path, tmp_path, where):
    _ended(store, time.time() - DAY, "A")
    to = where.format(tmp=tmp_path)
    out = _cli(db_path, "backup", "--to", to)
    assert out.exit_code == 2
    assert out.output.startswith(f"infusion-monitor: error: --to {to}") and len(out.output.strip().splitlines()) == 1


@pytest.mark.sqlite_only
def test_a_backup_is_never_written_over_the_database_itself(store, db_path):
    sid = _ended(store, time.time() - DAY, "A")
    out = _cli(db_path, "backup", "--to", db_path)
    assert out.exit_code == 2 and "is the database itself" in out.output
    assert queries.session(store, sid) is not None


def test_a_password_goes_to_the_tool_in_its_environment_not_its_command_line():
    assert url_and_password("postgresql://im:s3cr%40t@db.example:5433/monitor?sslmode=require") == \
        ("postgresql://im@db.example:5433/monitor?sslmode=require", "s3cr@t")
    assert url_and_password("postgresql://im@db/monitor") == ("postgresql://im@db/monitor", None)


@pytest.mark.slow
def test_backup_and_purge_as_a_user_runs_them(store, db_path, tmp_path, engine):
    sid = _ended(store, time.time() - 40 * DAY, "A")
    backup = _backup_file(tmp_path, engine)
    done = run_cli("backup", "--to", backup, db=db_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"wrote {backup} ({backup.stat().st_size} bytes, 1 session)"
    purged = run_cli("purge", "--before", _day(30)[0], "--by", "AB", db=db_path)
    assert purged.returncode == 0, purged.stderr
    assert purged.stdout.startswith("removed 1 ended session started") and _state(store, sid) is None
    bad = run_cli("purge", "--before", "notadate", "--by", "AB", db=db_path)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "--before" in bad.stderr


@pytest.mark.postgres
def test_a_failing_pg_dump_is_its_last_line_without_the_password(pg_url, tmp_path):
    """A role that may read the sessions but not the readings: pg_dump refuses, and says why."""
    import psycopg
    Store(pg_url).close()
    role = f"reader_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'pw-not-shown'")
        conn.execute(f"GRANT SELECT ON schema_version, sessions TO {role}")
    limited = pg_url.replace("postgresql://postgres@", f"postgresql://{role}:pw-not-shown@")
    target = tmp_path / "monitor.backup"

    out = _cli(limited, "backup", "--to", target)

    assert out.exit_code == 2 and len(out.output.strip().splitlines()) == 1
    assert out.output.startswith(f"infusion-monitor: error: --to {target}: pg_dump failed: ")
    assert "permission denied" in out.output and "pw-not-shown" not in out.output
    assert not target.exists() and list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_a_purge_killed_part_way_is_finished_by_the_next(store, db_path, tmp_path, engine):
    big = _ended(store, time.time() - 40 * DAY, "A", readings=150_000)
    cmd = [sys.executable, "-m", "monitor.cli", "--db", str(db_path), "purge", "--before", _day(30)[0], "--by", "AB"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        def part_removed():
            assert proc.poll() is None, proc.communicate()
            return _state(store, big) == "importing" and _rows_of(store, big)["readings"] < 150_000
        wait_until(part_removed, timeout=30, interval=0.005)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert 0 < _rows_of(store, big)["readings"] < 150_000  # cut part-way
    assert big not in [s["id"] for s in queries.sessions(store)]  # and shown nowhere meanwhile

    again = _cli(db_path, "purge", "--before", _day(30)[0], "--by", "AB")

    assert again.exit_code == 0, again.output
    assert _state(store, big) is None and _rows_of(store, big) == {t: 0 for t in ROW_TABLES}
    assert [r["detail"].split(":")[0] for r in people.audit_rows(store, action="purge")] == \
        [f"0 ended sessions started before {_day(30)[0]}", f"1 ended session started before {_day(30)[0]} (ids {big}–{big})"]
