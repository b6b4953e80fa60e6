"""Bad replay files (issue 10 item 8): a recording cut short or with rows written twice is
refused with its line numbers; `--partial` plays an incomplete one honestly; a file is
streamed, never held in memory."""
from __future__ import annotations

import tracemalloc

import pytest

from conftest import nothing_written, run_cli
from monitor.playback import PARTIAL_END, replay
from monitor.replay_csv import ReplayError, check_file, iter_file, iter_rows, parse_file, parse_text
from monitor.store import Store, queries

pytestmark = pytest.mark.both_engines  # on SQLite and on PostgreSQL (conftest.py)

HEADER = "t_s,parameter,value,status\n"
BODY = "".join(f"{t},hr,72,\n{t},spo2,97,\n" for t in range(0, 20))
COMPLETE = HEADER + BODY + "20,event,session_end,\n"


def write(tmp_path, text: str, name: str = "rec.csv"):
    p = tmp_path / name
    p.write_bytes(text.encode())
    return p


# ----------------------------------------------------------------- cut short
def test_a_file_cut_mid_value_is_refused_naming_the_line(tmp_path):
    """The report's case: SpO2 95 cut to `9`, no session_end: refused, never stored as an ok 9."""
    p = write(tmp_path, HEADER + BODY + "20,spo2,9")
    with pytest.raises(ReplayError) as e:
        parse_file(p)
    assert str(e.value).startswith(f"{p}: line 42: the file ends mid-line")
    assert "--partial" in str(e.value)


def test_a_recording_without_session_end_is_refused(tmp_path):
    p = write(tmp_path, HEADER + BODY)
    with pytest.raises(ReplayError, match=r"rec.csv: line 41: the recording ends without session_end.*--partial"):
        parse_file(p)


def test_a_complete_recording_is_accepted(tmp_path):
    p = write(tmp_path, COMPLETE)
    found = check_file(p)
    assert (found.rows, found.length_s, found.complete, found.cut_line) == (41, 20.0, True, None)
    assert [r.event for r in iter_file(p)][-1] == "session_end"


def test_a_session_end_without_a_line_end_is_complete(tmp_path):
    """An editor that drops the last newline cuts nothing from `20,event,session_end`."""
    p = write(tmp_path, COMPLETE.rstrip("\n"))
    assert check_file(p).complete
    with pytest.raises(ReplayError, match="line 42: the file ends mid-line"):
        check_file(write(tmp_path, COMPLETE.replace("session_end,\n", "session_e"), "cut-end.csv"))


def test_a_late_note_may_still_follow_the_end(tmp_path):
    p = write(tmp_path, COMPLETE + "30,event,note:called the patient\n")
    assert check_file(p).rows == 42


def test_partial_leaves_out_the_cut_line_and_says_so(tmp_path):
    p = write(tmp_path, HEADER + BODY + "20,spo2,9")
    found = check_file(p, partial=True)
    assert (found.rows, found.complete, found.cut_line) == (40, False, 42)
    assert all(r.value != 9 for r in iter_file(p, partial=True))


def test_a_partial_session_is_not_ended_as_a_normal_recording(store, protocol, tmp_path):
    p = write(tmp_path, HEADER + BODY + "20,spo2,9")
    found = check_file(p, partial=True)
    r = replay(store, protocol, iter_file(p, partial=True), length_s=found.length_s)
    s = queries.session(store, r.session_id)
    end = [e for e in queries.events(store, r.session_id) if e["type"] == "session_end"]
    assert r.readings == 40 and s["state"] == "ended" and s["ended_at"] == s["started_at"] + 19
    assert [e["text"] for e in end] == [PARTIAL_END] and "end of recording" not in PARTIAL_END
    assert 9 not in [x["value"] for x in queries.readings(store, r.session_id)]


# ----------------------------------------------------------------- written twice
def test_an_exact_duplicate_row_is_refused_naming_both_lines():
    text = HEADER + "0,hr,72,\n1,spo2,97,\n1,hr,72,\n1,spo2,97,ok\n2,event,session_end,\n"
    with pytest.raises(ReplayError, match=r"dup.csv: line 5: a duplicate of line 3 "):
        parse_text(text, "dup.csv")


@pytest.mark.parametrize("rows", [
    "0,hr,72,\n1,hr,72,\n",  # the same value a second later
    "1,hr,72,\n1,hr,73,\n",  # another value
    "1,spo2,,sensor_off\n1,spo2,,searching\n",  # another status
    "1,hr,72,,nonin\n1,hr,72,,masimo\n",  # another device
])
def test_rows_that_differ_are_not_duplicates(rows):
    text = "t_s,parameter,value,status,source\n" + rows + "5,event,session_end,\n"
    assert len(parse_text(text)) == 3


def test_duplicate_notes_at_the_same_time_are_refused():
    text = HEADER + "0,event,note:restless,\n0,event,note:restless,\n1,event,session_end,\n"
    with pytest.raises(ReplayError, match="line 3: a duplicate of line 2"):
        parse_text(text)


# ----------------------------------------------------------------- streamed
def test_rows_come_out_as_lines_go_in():
    """The reader is a stream: each row is given as soon as its line is read, not after the file."""
    consumed = 0

    def lines():
        nonlocal consumed
        for line in (COMPLETE.splitlines(keepends=True)):
            consumed += 1
            yield line
    lag = [consumed - n for n, _ in enumerate(iter_rows(lines(), "stream.csv"), start=2)]
    assert lag and max(lag) == 0


@pytest.mark.slow  # tracemalloc makes the pass ~10x slower; benchmarks/replay_memory.py measures 50 MB
def test_checking_a_file_keeps_none_of_it_in_memory(tmp_path):
    """The checking pass holds only the current second's rows: its peak is far below the file."""
    lines = [HEADER] + [f"{t},hr,72,\n{t},spo2,97,\n{t},pi,3.5,\n" for t in range(0, 20000)]
    p = write(tmp_path, "".join(lines) + "20000,event,session_end,\n", "big.csv")
    size = p.stat().st_size
    assert size > 700_000
    tracemalloc.start()
    try:
        found = check_file(p)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert found.rows == 60001
    assert peak < size / 4, f"peak {peak} bytes for a {size}-byte file"


def test_playback_takes_rows_one_at_a_time(store, protocol, monkeypatch):
    """replay() consumes an iterator lazily: each row is asked for only once the ones before it
    were played through the recorder, never all read first."""
    from monitor.recording import SessionRecorder
    played = 0
    play = SessionRecorder.reading

    def counting(self, r):
        nonlocal played
        played += 1
        play(self, r)
    monkeypatch.setattr(SessionRecorder, "reading", counting)
    readings_given = 0
    asked_after_played = []

    def rows():
        nonlocal readings_given
        for row in parse_text(COMPLETE):
            asked_after_played.append(played == readings_given)
            readings_given += row.event is None
            yield row
    r = replay(store, protocol, rows(), length_s=20.0)
    assert r.readings == 40 and len(asked_after_played) == 41 and all(asked_after_played)



# ----------------------------------------------------------------- the command line
@pytest.mark.slow
def test_replay_command_refuses_bad_files_and_plays_partial_ones(tmp_path, db_path):
    cut = write(tmp_path, HEADER + BODY + "20,spo2,9", "cut.csv")
    dup = write(tmp_path, HEADER + "0,hr,72,\n0,hr,72,\n1,event,session_end,\n", "dup.csv")
    for path, words in ((cut, "line 42: the file ends mid-line"), (dup, "line 3: a duplicate of line 2")):
        out = run_cli("replay", path, db=db_path)
        assert out.returncode == 2 and f"{path}: {words}" in out.stderr, out.stderr
        assert len(out.stderr.strip().splitlines()) == 1
    assert nothing_written(db_path)  # refused before the database was opened
    out = run_cli("replay", cut, "--partial", "--json", db=db_path)
    assert out.returncode == 0, out.stderr
    assert "line 42 is cut off" in out.stderr and "partial recording" in out.stderr
    store = Store(db_path, readonly=True)
    (s,) = queries.sessions(store)
    assert s["state"] == "ended"
    assert queries.events(store, s["id"])[-1]["text"] == PARTIAL_END


@pytest.mark.parametrize("played_text", [
    HEADER + "".join(f"{t},hr,72,\n" for t in range(0, 3600)) + "3600,event,session_end,\n",  # grown
    HEADER + "0,hr,72,\n1,event,session_end,\n",  # shrunk
])
def test_a_file_that_changed_since_it_was_checked_is_refused_and_nothing_is_stored(store, protocol, played_text):
    """The check pass and the play pass read the file twice (a FIFO, or someone writing it):
    the play pass must find what was checked, else nothing of it is kept at max speed."""
    from monitor.replay_csv import ReplayError
    checked = parse_text(COMPLETE)
    with pytest.raises(ReplayError, match="the file changed since it was checked"):
        replay(store, protocol, iter(parse_text(played_text)), length_s=checked[-1].t_s,
               expected_rows=len(checked))
    assert queries.sessions(store) == []


def test_a_killed_playbacks_staging_folder_is_removed_by_the_next(store, protocol, tmp_path, monkeypatch):
    import subprocess
    import sys
    import tempfile

    from monitor.playback import STAGING_PREFIX
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True).stdout)
    left = tmp_path / f"{STAGING_PREFIX}{dead}-abc"
    left.mkdir()
    (left / "staging.db").write_bytes(b"x" * 1000)
    replay(store, protocol, parse_text(COMPLETE))
    assert not left.exists()
    assert list(tmp_path.glob(f"{STAGING_PREFIX}*")) == []  # and its own is gone too
