"""`export` and `import` as a user runs them: files, round trip, and clear errors (exit 2)."""
from __future__ import annotations

import json
import os

import pytest

from monitor.exports import ExportError, write_atomic
from monitor.store import Store

from review_data import replay_hand_session



@pytest.fixture
def session_db(db_path, protocol):
    store = Store(db_path)
    sid = replay_hand_session(store, protocol, patient_ref="PT-CLI")
    crit = store._one("SELECT id, started_at FROM alerts WHERE rule = 'bp_critical'")
    store.acknowledge(crit["id"], "RN Lee", crit["started_at"] + 30)
    store.close()
    return sid


@pytest.mark.slow
def test_help(cli):
    for cmd, words in (("export", "--format"), ("import", "line number")):
        r = cli(cmd, "--help")
        assert r.returncode == 0 and words in r.stdout.replace("\n", " ")


@pytest.mark.slow
def test_export_each_format_to_a_file(cli, session_db, tmp_path):
    for fmt, first in (("csv", "record,time_utc"), ("html", "<!DOCTYPE html>"), ("fhir", "{")):
        out = tmp_path / f"s.{fmt}"
        r = cli("export", "--session", session_db, "--format", fmt, "--out", out)
        assert r.returncode == 0, r.stderr
        assert out.read_text(encoding="utf-8").startswith(first)
    assert json.loads((tmp_path / "s.fhir").read_text())["resourceType"] == "Bundle"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("s.")) == ["s.csv", "s.fhir", "s.html"]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]


@pytest.mark.slow
def test_export_to_stdout(cli, session_db):
    r = cli("export", "--session", session_db, "--format", "csv")
    assert r.returncode == 0 and r.stdout.splitlines()[1].startswith("session,")


@pytest.mark.parametrize("args,words", [
    (["--session", "99", "--format", "csv"], "--session 99: no such session"),
    (["--session", "1", "--format", "pdf"], "Invalid value for '--format'"),
    (["--session", "1", "--format", "csv", "--out", "no/such/dir/x.csv"], "directory no/such/dir does not exist"),
])
@pytest.mark.slow
def test_export_bad_input_exits_2(cli, session_db, args, words):
    r = cli("export", *args)
    assert r.returncode == 2 and words in r.stderr and "Traceback" not in r.stderr


@pytest.mark.slow
def test_export_to_a_directory_or_missing_db_exits_2(cli, session_db, tmp_path, db_path):
    r = cli("export", "--session", session_db, "--format", "csv", "--out", tmp_path)
    assert r.returncode == 2 and "is a directory" in r.stderr
    from conftest import run_cli
    r = run_cli("export", "--session", "1", "--format", "csv", db=tmp_path / "none.db")
    assert r.returncode == 2 and "no such database" in r.stderr
    assert not (tmp_path / "none.db").exists()


@pytest.mark.slow
def test_failed_export_leaves_the_old_file_and_no_temp(cli, session_db, tmp_path):
    out = tmp_path / "keep.csv"
    out.write_text("previous export\n")
    r = cli("export", "--session", "42", "--format", "csv", "--out", out)
    assert r.returncode == 2 and out.read_text() == "previous export\n"
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".part")]


def test_write_atomic_never_leaves_half_a_file(tmp_path, monkeypatch):
    target = tmp_path / "r.html"
    target.write_text("old")

    def boom(src, dst):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(ExportError, match="No space left"):
        write_atomic(target, "new" * 1000)
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["r.html"]


@pytest.fixture
def umask():
    """Set the process umask for one test (subprocesses inherit it); restored afterwards."""
    old = os.umask(0o022)
    try:
        yield os.umask
    finally:
        os.umask(old)


@pytest.mark.parametrize("mask", [0o077, 0o027, 0o022, 0o002])
def test_write_atomic_respects_the_umask(tmp_path, umask, mask):
    """Exports hold patient data: a site's umask 077 keeps them private (0600), never a forced 0644."""
    umask(mask)
    fresh = write_atomic(tmp_path / "new.csv", "x")
    old = tmp_path / "old.csv"
    old.write_text("previous")
    os.chmod(old, 0o644)
    write_atomic(old, "y")  # replacing a file gives the new file's mode, not the old one's
    for p in (fresh, old):
        assert os.stat(p).st_mode & 0o777 == 0o666 & ~mask, oct(os.stat(p).st_mode)
    assert sorted(os.listdir(tmp_path)) == ["new.csv", "old.csv"]


@pytest.mark.slow
def test_export_under_umask_077_is_private(cli, session_db, tmp_path, umask):
    umask(0o077)
    for fmt in ("csv", "html", "fhir"):
        out = tmp_path / f"s.{fmt}"
        r = cli("export", "--session", session_db, "--format", fmt, "--out", out)
        assert r.returncode == 0, r.stderr
        assert os.stat(out).st_mode & 0o777 == 0o600


@pytest.mark.slow
def test_import_round_trip_through_the_cli(cli, session_db, tmp_path):
    exported = tmp_path / "s.csv"
    cli("export", "--session", session_db, "--format", "csv", "--out", exported, check=True)
    other = tmp_path / "other.db"
    from conftest import run_cli
    r = run_cli("import", exported, "--patient", "PT-MOVED", "--json", db=other)
    assert r.returncode == 0, r.stderr
    counts = json.loads(r.stdout)
    assert counts == {"session_id": 1, "readings": 672, "alerts": 5, "events": 5}  # 4 charted + 1 acknowledgement
    (s,) = json.loads(run_cli("sessions", "--json", db=other).stdout)
    (orig,) = json.loads(cli("sessions", "--json").stdout)
    assert s["patient_ref"] == "PT-MOVED" and s["state"] == "ended"
    assert {k: s[k] for k in s if k not in ("id", "patient_ref")} == {k: orig[k] for k in orig
                                                                        if k not in ("id", "patient_ref")}
    moved = json.loads(run_cli("alerts", "--session", "1", "--json", db=other).stdout)
    original = json.loads(cli("alerts", "--session", session_db, "--json").stdout)
    strip = lambda rows: [{k: v for k, v in a.items() if k not in ("id", "session_id")} for a in rows]  # noqa: E731
    assert strip(moved) == strip(original)
    assert next(a for a in moved if a["rule"] == "bp_critical")["acknowledged_by"] == "RN Lee"


@pytest.mark.slow
def test_import_bad_file_names_the_line_and_writes_nothing(cli, session_db, tmp_path):
    exported = tmp_path / "s.csv"
    cli("export", "--session", session_db, "--format", "csv", "--out", exported, check=True)
    lines = exported.read_text(encoding="utf-8").splitlines()
    i = [n for n, line in enumerate(lines) if line.startswith("reading,") and ",hr," in line][10]
    lines[i] = lines[i].replace(",hr,", ",heart,")
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    r = cli("import", bad)
    assert r.returncode == 2 and f"{bad}: line {i + 1}: parameter 'heart'" in r.stderr
    assert len(json.loads(cli("sessions", "--json").stdout)) == 1
    r = cli("import", tmp_path / "missing.csv")
    assert r.returncode == 2 and "cannot read" in r.stderr
    recording = tmp_path / "rec.csv"
    recording.write_text("t_s,parameter,value,status\n0,hr,70,\n")
    r = cli("import", recording)
    assert r.returncode == 2 and "use `replay`" in r.stderr


def _export(cli, session_db, tmp_path):
    exported = tmp_path / "s.csv"
    cli("export", "--session", session_db, "--format", "csv", "--out", exported, check=True)
    return exported.read_text(encoding="utf-8").splitlines(keepends=True)


def _one_line_error(r, *words):
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    for w in words:
        assert w in r.stderr, r.stderr


@pytest.mark.slow
def test_import_refuses_a_truncated_export(cli, session_db, tmp_path):
    lines = _export(cli, session_db, tmp_path)
    cut = tmp_path / "cut.csv"
    cut.write_text("".join(lines[:100]), encoding="utf-8")  # head -n 100 s.csv > cut.csv
    _one_line_error(cli("import", cut), f"{cut}: file ends at line 100 without its end record: truncated?")
    assert len(json.loads(cli("sessions", "--json").stdout)) == 1


@pytest.mark.slow
def test_import_refuses_implausible_rows_before_writing(cli, session_db, tmp_path):
    lines = _export(cli, session_db, tmp_path)
    i = next(n for n, line in enumerate(lines) if line.startswith("reading,") and ",hr,70,ok," in line)
    for old, new, words in ((",hr,70,ok,", ",hr,-5,ok,", "value -5 is outside 0..350 for hr"),
                            (",hr,70,ok,", ",hr,,ok,", "value: hr has no value but status ok")):
        bad = tmp_path / "bad.csv"
        bad.write_text("".join(lines[:i] + [lines[i].replace(old, new)] + lines[i + 1:]), encoding="utf-8")
        _one_line_error(cli("import", bad), f"{bad}: line {i + 1}: {words}")
    assert len(json.loads(cli("sessions", "--json").stdout)) == 1


@pytest.mark.slow
def test_import_duplicate_baseline_is_a_line_numbered_error_not_a_traceback(cli, session_db, tmp_path):
    lines = _export(cli, session_db, tmp_path)
    first = next(n for n, line in enumerate(lines) if line.startswith("baseline,"))
    bad = tmp_path / "dup.csv"
    end = lines[-1].replace('""baselines"": 5', '""baselines"": 6')  # counts agree: only the duplicate is wrong
    bad.write_text("".join(lines[:first + 1] + [lines[first]] + lines[first + 1:-1] + [end]), encoding="utf-8")
    _one_line_error(cli("import", bad), f"{bad}: line {first + 2}: parameter: a second dbp baseline "
                                        f"(first on line {first + 1})")
    assert len(json.loads(cli("sessions", "--json").stdout)) == 1
