"""Read-only commands never create or write a database (issue 10 item 10): `sessions`,
`alerts` and `export` on a missing, empty or foreign file say so in one line naming the
file, exit 2, and leave the file byte for byte as it was (and nothing beside it)."""
from __future__ import annotations

import sqlite3

import pytest
from click.testing import CliRunner

from monitor.cli import main
from monitor.playback import replay
from monitor.replay_csv import parse_text

READ_ONLY = [["sessions"], ["sessions", "--json"], ["alerts", "--session", "1"],
             ["export", "--session", "1", "--format", "csv"], ["export", "--session", "1", "--format", "fhir"],
             ["alarms-report"], ["alarms-report", "--json"]]
FILES = {
    "empty.db": (b"", "not an infusion-monitor database (an empty file)"),
    "notes.txt": (b"ward 3 rota\n", "not an infusion-monitor database (file is not a database)"),
    "other.db": (None, "not an infusion-monitor database (no monitoring tables in it)"),
}


def _foreign_sqlite(path) -> bytes:
    """Another program's SQLite file, made without the project's store."""
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE rota (nurse TEXT)")
    conn.commit()
    conn.close()
    return path.read_bytes()


def run(db, args):
    return CliRunner().invoke(main, ["--db", str(db), *args])


@pytest.mark.parametrize("args", READ_ONLY, ids=lambda a: " ".join(a))
@pytest.mark.parametrize("name", list(FILES))
def test_a_file_that_is_not_a_database_is_left_untouched(tmp_path, name, args):
    content, words = FILES[name]
    path = tmp_path / name
    if content is None:
        content = _foreign_sqlite(path)
    else:
        path.write_bytes(content)
    out = run(path, args)
    assert out.exit_code == 2, out.output
    assert out.stderr.strip() == f"infusion-monitor: error: --db {path}: {words}"
    assert path.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # no -wal, -shm or journal either


@pytest.mark.parametrize("args", READ_ONLY, ids=lambda a: " ".join(a))
def test_a_missing_file_is_not_created(tmp_path, args):
    out = run(tmp_path / "typo.db", args)
    assert out.exit_code == 2 and "typo.db: no such database" in out.stderr
    assert list(tmp_path.iterdir()) == []


def test_read_only_commands_still_read_a_real_database(tmp_path, store, protocol, db_path):
    text = "t_s,parameter,value,status\n0,hr,70,\n1,spo2,97,\n2,event,session_end,\n"
    sid = replay(store, protocol, parse_text(text), patient_ref="PT-RO").session_id
    store.close()
    before = db_path.read_bytes()
    assert '"patient_ref": "PT-RO"' in run(db_path, ["sessions", "--json"]).output
    assert run(db_path, ["alerts", "--session", str(sid)]).exit_code == 0
    out = run(db_path, ["export", "--session", str(sid), "--format", "csv"])
    assert out.exit_code == 0 and "PT-RO" in out.output
    assert db_path.read_bytes() == before
