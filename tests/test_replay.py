"""Replay CSV: strict validation with line numbers, and nothing written on error."""
from __future__ import annotations

import pytest

from monitor.playback import PARTIAL_END, replay, simulate
from monitor.replay_csv import ReplayError, parse_file, parse_text, session_to_csv
from monitor.store import queries

pytestmark = pytest.mark.both_engines  # on SQLite and on PostgreSQL (conftest.py)

GOOD = """t_s,parameter,value,status
0,hr,72,
0,spo2,97,ok
1,spo2,,sensor_off
30,sbp,121,
30,dbp,78,
60,event,infusion_start,
61,event,"note:patient relaxed, eyes closed",
90,hr,75,
95,event,session_end,
"""


def test_good_file_parses():
    rows = parse_text(GOOD)
    assert [r.parameter for r in rows][:3] == ["hr", "spo2", "spo2"]
    assert rows[2].value is None and rows[2].status == "sensor_off"
    assert rows[5].event == "infusion_start"
    assert rows[6].event == "note" and rows[6].text == "patient relaxed, eyes closed"


@pytest.mark.parametrize("text,line,words", [
    ("t,p,v,s\n0,hr,1,\n", 1, "header"),
    ("", 1, "empty"),
    ("t_s,parameter,value,status\n0,hr,72,\nabc,hr,72,\n", 3, "not a number"),
    ("t_s,parameter,value,status\n5,hr,72,\n4,hr,72,\n", 3, "back in time"),
    ("t_s,parameter,value,status\n0,temp,37,\n", 2, "parameter 'temp'"),
    ("t_s,parameter,value,status\n0,hr,seventy,\n", 2, "not a number"),
    ("t_s,parameter,value,status\n0,hr,72,weird\n", 2, "status 'weird'"),
    ("t_s,parameter,value,status\n0,hr,,\n", 2, "no value"),
    ("t_s,parameter,value,status\n0,spo2,140,\n", 2, "outside"),
    ("t_s,parameter,value,status\n0,event,explode,\n", 2, "event 'explode'"),
    ("t_s,parameter,value,status\n-1,hr,70,\n", 2, ">= 0"),
    ("t_s,parameter,value,status\nnan,hr,70,\n", 2, "finite"),
    ("t_s,parameter,value,status\n0,hr\n", 2, "at least 3"),
    ("t_s,parameter,value,status\n", 1, "no data rows"),
    ("t_s,parameter,value,status\n0,hr,70,\n1e12,hr,70,\n", 3, "milliseconds?"),
    ("t_s,parameter,value,status\n0,event,session_end,\n1,hr,70,\n", 3, "data after session_end (line 2)"),
    ("t_s,parameter,value,status\n0,event,infusion_start,\n9,event,infusion_start,\n", 3, "a second infusion_start"),
    ("t_s,parameter,value,status\n0,event,infusion_start,\n5,event,infusion_stop,\n9,event,infusion_start,\n", 4,
     "a second infusion_start (first on line 2)"),
    ("t_s,parameter,value,status\n0,hr,70,\n9,event,infusion_stop,\n", 3,
     "Cannot stop the infusion: the session is in baseline"),
])
def test_malformed_lines_are_named(text, line, words):
    with pytest.raises(ReplayError) as e:
        parse_text(text, "rec.csv")
    msg = str(e.value)
    assert msg.startswith("rec.csv: ")
    if "no data rows" not in words:
        assert f"line {line}:" in msg
    assert words in msg


def test_binary_garbage_is_rejected(tmp_path):
    p = tmp_path / "junk.csv"
    p.write_bytes(b"t_s,parameter,value,status\n0,hr,70,\n\xff\xfe\x00garbage\n")
    with pytest.raises(ReplayError, match=r"junk.csv: line 3: not UTF-8"):
        parse_file(p)


def test_replay_runs_through_engine(store, protocol):
    text = "t_s,parameter,value,status\n" + "".join(f"{t},spo2,{86 if 100 <= t < 140 else 97},\n"
                                                    for t in range(0, 200)) + "200,event,session_end,\n"
    r = replay(store, protocol, parse_text(text))
    s = queries.session(store, r.session_id)
    alerts = {a["rule"]: a for a in queries.alerts(store, r.session_id)}
    assert alerts["spo2_critical"]["started_at"] - s["started_at"] == 110
    assert alerts["spo2_low"]["started_at"] - s["started_at"] == 115
    assert r.readings == 200


@pytest.mark.slow  # two whole sessions: simulated, then replayed
def test_simulated_session_round_trips_through_replay_csv(store, protocol):
    sim = simulate(store, protocol, "tachycardia", seed=5)
    text = session_to_csv(store, sim.session_id)
    rep = replay(store, protocol, parse_text(text))

    def rel(sid):
        s0 = queries.session(store, sid)["started_at"]
        return [(a["rule"], round(a["started_at"] - s0, 2), round(a["ended_at"] - s0, 2))
                for a in queries.alerts(store, sid) if a["kind"] == "physiological"]
    assert rel(sim.session_id) == rel(rep.session_id)
    assert rep.readings == sim.readings


def test_interrupted_max_speed_replay_leaves_nothing(store, protocol, monkeypatch):
    import monitor.recording as recording
    rows = parse_text(GOOD)
    calls = {"n": 0}
    real = recording.SessionRecorder.reading

    def boom(self, r):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return real(self, r)
    monkeypatch.setattr(recording.SessionRecorder, "reading", boom)
    with pytest.raises(KeyboardInterrupt):
        replay(store, protocol, rows)
    for table in ("sessions", "readings", "events", "alerts"):
        assert store._query(f"SELECT count(*) AS n FROM {table}")[0]["n"] == 0


def test_partial_recording_is_closed_as_partial(store, protocol):
    text = "t_s,parameter,value,status\n" + "".join(f"{t},spo2,86,\n" for t in range(0, 30))
    r = replay(store, protocol, parse_text(text, partial=True))
    s = queries.session(store, r.session_id)
    assert s["state"] == "ended" and s["ended_at"] == s["started_at"] + 29
    assert all(a["ended_at"] is not None for a in queries.alerts(store, r.session_id))
    assert queries.events(store, r.session_id)[-1]["text"] == PARTIAL_END
