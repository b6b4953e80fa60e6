"""The tidy CSV export round-trips losslessly through import; bad files name their line."""
from __future__ import annotations

import csv
import io

import pytest

from monitor.exports.csv_export import COLUMNS, CsvImportError, parse_text, to_csv
from monitor.model import Event
from monitor.playback import simulate
from monitor.store import Store
from monitor.store.transfer import insert_session

from review_data import replay_hand_session

# Rows in the order the app reads them (by time, then arrival), without local ids.
TABLES = {
    "readings": "SELECT ts, parameter, value, source, status, detail FROM readings WHERE session_id = ? "
                "ORDER BY ts, id",
    "alerts": "SELECT key, rule, parameter, kind, priority, started_at, ended_at, value, limit_value, message, "
              "acknowledged_at, acknowledged_by FROM alerts WHERE session_id = ? ORDER BY started_at, id",
    "events": "SELECT ts, type, text, author, data FROM events WHERE session_id = ? ORDER BY ts, id",
    "baselines": "SELECT parameter, value, source, ts, n FROM baselines WHERE session_id = ? ORDER BY parameter",
    "sessions": "SELECT patient_ref, chair, protocol, state, started_at, infusion_start, infusion_end, ended_at, "
                "ended_by, source FROM sessions WHERE id = ?",
}


def import_text(store: Store, text: str, patient_ref=None) -> int:
    parsed = parse_text(text, "export.csv")
    if patient_ref:
        parsed.session["patient_ref"] = patient_ref
    return insert_session(store, parsed.session, parsed.baselines, parsed.readings, parsed.alerts, parsed.events)


def rows(store: Store, sid: int) -> dict:
    return {name: [tuple(r.values()) for r in store.query(sql, (sid,))] for name, sql in TABLES.items()}


@pytest.fixture
def rich_session(store, protocol):
    """The hand session plus what review adds later: an acknowledgement, a note with data."""
    sid = replay_hand_session(store, protocol)
    crit = store.one("SELECT id, started_at FROM alerts WHERE session_id = ? AND rule = 'bp_critical'", (sid,))
    store.acknowledge(crit["id"], "RN Ávila", crit["started_at"] + 12.345678)
    store.record_event(sid, Event(crit["started_at"] + 100.0, "note", "BP rechecked, \"fine\"\nnext line", "dr x"),
                       {"sbp": 131, "comment": "après"})
    return sid


def test_round_trip_is_lossless(store, rich_session, tmp_path):
    text = to_csv(store, rich_session)
    other = Store(tmp_path / "other.db")
    try:
        sid = import_text(other, text)
        assert rows(other, sid) == rows(store, rich_session)
        assert to_csv(other, sid) == text  # and exporting the copy gives the same bytes
    finally:
        other.close()


def test_round_trip_of_a_simulated_session_with_technical_alarms(store, protocol, tmp_path):
    sid = simulate(store, protocol, "sensor-off", seed=4).session_id
    text = to_csv(store, sid)
    assert ",sensor_off," in text and ",technical," in text
    copy = import_text(store, text, patient_ref="COPY")
    original, imported = rows(store, sid), rows(store, copy)
    assert imported["sessions"][0][0] == "COPY"
    imported["sessions"][0] = ("SIM",) + imported["sessions"][0][1:]
    assert imported == original


def test_tidy_columns_and_records(store, rich_session):
    table = list(csv.DictReader(io.StringIO(to_csv(store, rich_session))))
    assert list(table[0]) == COLUMNS
    kinds = [r["record"] for r in table]
    assert kinds[0] == "session" and set(kinds) == {"session", "baseline", "reading", "alert", "event"}
    assert kinds.count("reading") == 330 * 2 + 4 * 3 and kinds.count("alert") == 5
    crit = next(r for r in table if r["rule"] == "bp_critical")
    assert crit["min_from_infusion"] == "1.500" and crit["priority"] == "high" and crit["limit"] == "180"
    assert crit["acknowledged_by"] == "RN Ávila" and crit["time_utc"].endswith("Z")
    flagged = next(r for r in table if r["status"] == "sensor_off")
    assert flagged["value"] == "" and flagged["parameter"] == "spo2"


def test_open_session_import_is_closed(store, protocol):
    sid = store.create_session("PT-RUN", "1", protocol.name, 1000.0)
    store.record_event(sid, Event(1001.0, "note", "still running", "rn"))
    parsed = parse_text(to_csv(store, sid))
    assert parsed.closed_on_import and parsed.session["state"] == "ended"
    assert parsed.session["ended_at"] == 1001.0 and parsed.session["ended_by"] == "import"


def _text(store, sid) -> list[str]:
    return to_csv(store, sid).splitlines()


def _edit(line_no: int, old: str, new: str):
    """Change text on file line line_no (1-based) of the export."""
    def mutate(lines: list[str]) -> str:
        lines = list(lines)
        assert old in lines[line_no - 1], lines[line_no - 1]
        lines[line_no - 1] = lines[line_no - 1].replace(old, new, 1)
        return "\n".join(lines) + "\n"
    return mutate


FIRST_READING = 8  # header, session, five baselines, then readings


@pytest.mark.parametrize("mutate,line,words", [
    (lambda L: "t_s,parameter,value,status\n0,hr,70,\n", 1, "replay recording"),
    (lambda L: "\n".join([L[0], L[2], L[1]]), 2, "first row must be the session"),
    (_edit(3, "baseline,", "vitals,"), 3, "record 'vitals'"),
    (_edit(FIRST_READING, ",hr,", ",temp,"), FIRST_READING, "parameter 'temp'"),
    (_edit(FIRST_READING, ",hr,70,", ",hr,seventy,"), FIRST_READING, "value 'seventy' is not a number"),
    (_edit(FIRST_READING, ",hr,70,", ",hr,nan,"), FIRST_READING, "not a finite number"),
    (_edit(FIRST_READING, "reading,", "reading,extra,"), FIRST_READING, "expected 22 fields"),
    (_edit(FIRST_READING, ",ok,", ",weird,"), FIRST_READING, "status 'weird'"),
    (_edit(3, '{""n"": 1}', "{oops"), 3, "not valid JSON"),
    (lambda L: "\n".join(L[:9] + [L[1]] + L[9:]), 10, "second session row"),
    (lambda L: "\n".join(L + [next(x for x in L if x.startswith("alert,"))]), None, "appears twice"),
    (_edit(2, "infusion-monitor-csv/1", "v0"), 2, "format"),
])
def test_bad_files_name_the_line_and_import_nothing(store, rich_session, mutate, line, words):
    lines = _text(store, rich_session)
    text = mutate(lines)
    before = store.one("SELECT count(*) AS n FROM sessions")["n"]
    with pytest.raises(CsvImportError) as e:
        import_text(store, text)
    msg = str(e.value)
    assert words in msg
    if line is not None:
        assert f"line {line}:" in msg
    assert store.one("SELECT count(*) AS n FROM sessions")["n"] == before


def test_insert_failure_rolls_back_everything(store, rich_session):
    parsed = parse_text(to_csv(store, rich_session))
    parsed.alerts.append(dict(parsed.alerts[0]))  # duplicate (session_id, key): the insert fails at the end
    counts = {t: store.one(f"SELECT count(*) AS n FROM {t}")["n"] for t in ("sessions", "readings", "events")}
    with pytest.raises(Exception):
        insert_session(store, parsed.session, parsed.baselines, parsed.readings, parsed.alerts, parsed.events)
    assert {t: store.one(f"SELECT count(*) AS n FROM {t}")["n"] for t in counts} == counts
