"""The tidy CSV export round-trips losslessly through import; bad files name their line."""
from __future__ import annotations

import csv
import io
import json

import pytest

from monitor.exports.csv_export import COLUMNS, CsvImportError, parse_text, to_csv
from monitor.model import Alert, Event, Reading
from monitor.playback import simulate
from monitor.store import Store, queries
from monitor.store.transfer import insert_session

from review_data import replay_hand_session

pytestmark = pytest.mark.both_engines  # on SQLite and on PostgreSQL (conftest.py)

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
    return {name: [tuple(r.values()) for r in store._query(sql, (sid,))] for name, sql in TABLES.items()}


@pytest.fixture
def rich_session(store, protocol):
    """The hand session plus what review adds later: an acknowledgement, a note with data."""
    sid = replay_hand_session(store, protocol)
    crit = store._one("SELECT id, started_at FROM alerts WHERE session_id = ? AND rule = 'bp_critical'", (sid,))
    store.acknowledge(crit["id"], "RN Ávila", crit["started_at"] + 12.345678)
    store.record_event(sid, Event(crit["started_at"] + 100.0, "note", "BP rechecked, \"fine\"\nnext line", "dr x"),
                       {"sbp": 131, "comment": "après"})
    return sid


@pytest.mark.slow
def test_round_trip_is_lossless(store, rich_session, tmp_path):
    text = to_csv(store, rich_session)
    other = Store(tmp_path / "other.db")
    try:
        sid = import_text(other, text)
        assert rows(other, sid) == rows(store, rich_session)
        assert to_csv(other, sid) == text  # and exporting the copy gives the same bytes
    finally:
        other.close()


@pytest.fixture(scope="module")
def simulated(tmp_path_factory, protocol):
    """(store, session id) of one whole simulated session, made once for the tests that only read it."""
    store = Store(tmp_path_factory.mktemp("simulated") / "monitor.db")
    yield store, simulate(store, protocol, "sensor-off", seed=4).session_id
    store.close()


@pytest.mark.slow
def test_round_trip_of_a_simulated_session_with_technical_alarms(store, simulated):
    text = to_csv(*simulated)
    assert ",sensor_off," in text and ",technical," in text
    copy = import_text(store, text, patient_ref="COPY")
    original, imported = rows(*simulated), rows(store, copy)
    assert imported["sessions"][0][0] == "COPY"
    imported["sessions"][0] = ("SIM",) + imported["sessions"][0][1:]
    assert imported == original


def test_tidy_columns_and_records(store, rich_session):
    table = list(csv.DictReader(io.StringIO(to_csv(store, rich_session))))
    assert list(table[0]) == COLUMNS
    kinds = [r["record"] for r in table]
    assert kinds[0] == "session" and set(kinds) == {"session", "baseline", "reading", "alert", "event", "end"}
    assert kinds.count("reading") == 330 * 2 + 4 * 3 and kinds.count("alert") == 5
    assert kinds[-1] == "end" and kinds.count("end") == 1
    assert json.loads(table[-1]["data"]) == {"baselines": 5, "readings": 672, "alerts": 5, "events": 6}
    assert not any(v for k, v in table[-1].items() if k not in ("record", "data"))
    crit = next(r for r in table if r["rule"] == "bp_critical")
    assert crit["min_from_infusion"] == "1.500" and crit["priority"] == "high" and crit["limit"] == "180"
    assert crit["acknowledged_by"] == "RN Ávila" and crit["time_utc"].endswith("Z")
    flagged = next(r for r in table if r["status"] == "sensor_off")
    assert flagged["value"] == "" and flagged["parameter"] == "spo2"


def test_open_session_import_is_closed(store, protocol):
    sid = store.open_session("PT-RUN", "1", protocol.name, T0)[0]
    store.record_event(sid, Event(T0 + 1.0, "note", "still running", "rn"))
    parsed = parse_text(to_csv(store, sid))
    assert parsed.closed_on_import and parsed.session["state"] == "ended"
    assert parsed.session["ended_at"] == T0 + 1.0 and parsed.session["ended_by"] == "import"


def test_a_running_copy_is_closed_as_any_session_ends(store, protocol, tmp_path):
    """Its alarms end at the close and an unacknowledged HIGH one is on the record, by id once imported."""
    sid = store.open_session("PT-RUN", "1", protocol.name, T0)[0]
    store.put_change(sid, Alert("bp_critical#1", "bp_critical", "sbp", "physiological", "high", T0 + 5, 186.0,
                                180.0, "SBP 186 ≥ 180"))
    store.put_reading(sid, Reading(T0 + 9, "hr", 80.0, "ok", "ox"))
    store.flush()
    other = Store(tmp_path / "other.db")
    try:
        copy = import_text(other, to_csv(store, sid))
        (alert,) = queries.alerts(other, copy)
        assert alert["ended_at"] == T0 + 9
        end = [e for e in queries.events(other, copy) if e["type"] == "session_end"][0]
        assert end["data"]["unacknowledged"] == [alert["id"]] and "imported while still running" in \
            end["data"]["override"]
    finally:
        other.close()


@pytest.mark.parametrize("edit,message", [
    (lambda L: [L[0], L[1].replace("PT-RULE", "PT<b>")] + L[2:], "line 2: Patient reference: up to 40 characters"),
    (lambda L: L[:-2] + [L[-2].replace("infusion_start", "infusion_stop")] + L[-1:],
     "event infusion_stop: Cannot stop the infusion: the session is in baseline"),
])
def test_import_keeps_the_session_rules(store, protocol, edit, message):
    sid = store.open_session("PT-RULE", "1", protocol.name, T0)[0]
    store.record_event(sid, Event(T0 + 1.0, "infusion_start", "", "RN"))
    lines = to_csv(store, sid).splitlines()
    with pytest.raises(CsvImportError, match=message):
        parse_text("\n".join(edit(lines)) + "\n")


def test_empty_session_round_trips_with_its_end_record(store, protocol, tmp_path):
    sid = store.open_session("PT-EMPTY", "2", protocol.name, T0)[0]
    text = to_csv(store, sid)
    # data, then the (empty) escalated_at column
    assert text.splitlines()[-1].endswith('"{""baselines"": 0, ""readings"": 0, ""alerts"": 0, ""events"": 0}",')
    parsed = parse_text(text)
    assert (parsed.baselines, parsed.readings, parsed.alerts) == ([], [], [])
    assert [(e["type"], e["author"]) for e in parsed.events] == [("session_end", "import")]  # closed on import


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
T0 = 1_700_000_000.0  # 2023-11-14, a plausible session start


@pytest.mark.slow
@pytest.mark.parametrize("mutate,line,words", [
    (lambda L: "t_s,parameter,value,status\n0,hr,70,\n", 1, "replay recording"),
    (lambda L: "\n".join([L[0], L[2], L[1]]), 2, "first row must be the session"),
    (_edit(3, "baseline,", "vitals,"), 3, "record 'vitals'"),
    (_edit(FIRST_READING, ",hr,", ",temp,"), FIRST_READING, "parameter 'temp'"),
    (_edit(FIRST_READING, ",hr,70,", ",hr,seventy,"), FIRST_READING, "value 'seventy' is not a number"),
    (_edit(FIRST_READING, ",hr,70,", ",hr,nan,"), FIRST_READING, "not a finite number"),
    (_edit(FIRST_READING, "reading,", "reading,extra,"), FIRST_READING, "expected 23 fields"),
    (_edit(FIRST_READING, ",ok,", ",weird,"), FIRST_READING, "status 'weird'"),
    (_edit(3, '{""n"": 1}', "{oops"), 3, "not valid JSON"),
    (lambda L: "\n".join(L[:9] + [L[1]] + L[9:]), 10, "second session row"),
    (lambda L: "\n".join(L[:-1] + [next(x for x in L if x.startswith("alert,")), L[-1]]), None,
     "appears twice (first on line"),
    (_edit(2, "infusion-monitor-csv/2", "v0"), 2, "format"),
])
def test_bad_files_name_the_line_and_import_nothing(store, rich_session, mutate, line, words):
    lines = _text(store, rich_session)
    text = mutate(lines)
    before = store._one("SELECT count(*) AS n FROM sessions")["n"]
    with pytest.raises(CsvImportError) as e:
        import_text(store, text)
    msg = str(e.value)
    assert words in msg
    if line is not None:
        assert f"line {line}:" in msg
    assert store._one("SELECT count(*) AS n FROM sessions")["n"] == before


def _set(record: str, col: str, value, nth: int = 0, also: dict = None, **where):
    """Set column col (and the columns in also) of the nth row of this record type (matching where)
    to value, or to value(row); returns the new text and the line changed."""
    def mutate(text: str) -> tuple[str, int]:
        table = list(csv.reader(io.StringIO(text)))
        hits = [i for i, r in enumerate(table) if r[0] == record
                and all(r[COLUMNS.index(k)] == v for k, v in where.items())]
        i = hits[nth]
        row = dict(zip(COLUMNS, table[i]))
        for c, v in {col: value, **(also or {})}.items():
            table[i][COLUMNS.index(c)] = v(row) if callable(v) else v
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows(table)
        return out.getvalue(), i + 1
    return mutate


def _meta(**changes):
    """The session row's data with changes; values are callables of the session row."""
    def change(row: dict) -> str:
        meta = json.loads(row["data"])
        meta.update({k: f(row) for k, f in changes.items()})
        return json.dumps(meta)
    return change


@pytest.mark.slow
@pytest.mark.parametrize("mutate,words", [
    # physical ranges (replay_csv.RANGES) and ok readings without a value
    (_set("reading", "value", "-5", parameter="hr"), "value -5 is outside 0..350 for hr"),
    (_set("reading", "value", "500", parameter="spo2"), "value 500 is outside 0..100 for spo2"),
    (_set("reading", "value", "", parameter="hr", status="ok"), "value: hr has no value but status ok"),
    (_set("baseline", "value", "7000", parameter="hr"), "value 7000 is outside 0..350 for hr"),
    (_set("alert", "value", "999", rule="hr_high"), "value 999 is outside 0..350 for hr"),
    # times: plausible epoch seconds, sessions in order
    (_set("reading", "ts", "12"), "ts 12 is not a time between 2000 and 2100"),
    (_set("reading", "ts", lambda r: str(float(r["ts"]) * 1000)), "is not a time between 2000 and 2100"),
    (_set("event", "ts", "-1"), "ts -1 is not a time"),
    (_set("baseline", "ts", "4102444801"), "ts 4102444801 is not a time"),
    (_set("alert", "acknowledged_at", "5", rule="bp_critical"), "acknowledged_at 5 is not a time"),
    (_set("session", "ts", "1000"), "ts 1000 is not a time"),
    (_set("session", "end_ts", lambda r: repr(float(r["ts"]) - 1)), "is before the session start"),
    (_set("session", "data", _meta(infusion_start=lambda r: float(r["end_ts"]) + 60)),
     "is after the session end (end_ts"),
    (_set("session", "data", _meta(infusion_end=lambda r: float(r["end_ts"]) + 1)), "after the session end"),
    (_set("session", "data", _meta(infusion_start=lambda r: 12)), "session infusion_start 12 is not a time"),
    # alerts: what the engine emits
    (_set("alert", "parameter", "temp", rule="hr_high"), "parameter 'temp': expected one of"),
    (_set("alert", "parameter", "device", rule="hr_high"), "parameter 'device': physiological alerts are on"),
    (_set("alert", "rule", "oximeter_signal_lost", rule="hr_high"), "is a technical alert, not kind physiological"),
    (_set("alert", "kind", "technical", rule="hr_high"), "rule 'hr_high': technical alerts have rule"),
    (_set("alert", "rule", "oximeter_signal_lost", also={"kind": "technical"}, rule="bp_high"), "parameter 'sbp': "
     "oximeter_signal_lost alerts are filed under 'spo2'"),
    (_set("alert", "kind", "clinical"), "kind 'clinical': expected one of"),
    (_set("alert", "priority", "urgent"), "priority 'urgent': expected one of"),
    (_set("alert", "rule", " "), "rule is empty"),
    # baselines and ids
    (_set("baseline", "parameter", "hr", parameter="map"), "parameter: a second hr baseline (first on line 4)"),
    (_set("baseline", "source", "guessed"), "source 'guessed': expected one of"),
    (_set("alert", "alert_key", "hr_high#1", nth=1), "alert_key 'hr_high#1' appears twice (first on line"),
])
def test_implausible_files_are_refused_with_line_and_field(store, rich_session, mutate, words):
    text, line = mutate(to_csv(store, rich_session))
    before = store._one("SELECT count(*) AS n FROM sessions")["n"]
    with pytest.raises(CsvImportError) as e:
        import_text(store, text)
    assert str(e.value).startswith(f"export.csv: line {line}: ") and words in str(e.value), str(e.value)
    assert "\n" not in str(e.value)
    assert store._one("SELECT count(*) AS n FROM sessions")["n"] == before


def test_technical_alerts_of_the_engine_import(store, protocol):
    """The parameters the engine files technical alarms under (device, spo2, sbp) all load."""
    sid = store.open_session("PT-TECH", "3", protocol.name, T0)[0]
    from monitor.model import Alert
    for i, (rule, parameter) in enumerate([("device_disconnected", "device"), ("oximeter_signal_lost", "spo2"),
                                           ("nibp_failed", "sbp"), ("nibp_overdue", "sbp")]):
        store.put_change(sid, Alert(f"{rule}#{i}", rule, parameter, "technical", "low", T0 + i, None, 10.0, rule))
    store.flush()
    parsed = parse_text(to_csv(store, sid))
    assert [(a["rule"], a["parameter"]) for a in parsed.alerts] == [
        ("device_disconnected", "device"), ("oximeter_signal_lost", "spo2"), ("nibp_failed", "sbp"),
        ("nibp_overdue", "sbp")]


@pytest.mark.slow
@pytest.mark.parametrize("keep", [10000, 1000, 8, 2])
def test_a_file_cut_short_is_refused_as_truncated(store, simulated, keep):
    lines = to_csv(*simulated).splitlines(keepends=True)
    assert len(lines) > keep
    before = store._one("SELECT count(*) AS n FROM sessions")["n"]
    with pytest.raises(CsvImportError) as e:
        import_text(store, "".join(lines[:keep]))  # `head -n keep`
    assert str(e.value) == f"export.csv: file ends at line {keep} without its end record: truncated?"
    assert store._one("SELECT count(*) AS n FROM sessions")["n"] == before


def test_a_file_cut_mid_row_is_refused(store, rich_session):
    text = to_csv(store, rich_session)
    with pytest.raises(CsvImportError, match="line 400: expected 23 fields"):
        import_text(store, "".join(text.splitlines(keepends=True)[:400])[:-20])


@pytest.mark.slow
@pytest.mark.parametrize("mutate,words", [
    # rich_session is 692 lines (its note holds a line break); the end record is line 692
    (lambda L: L[:20] + L[21:], "line 691: the end record counts 672 readings but the file holds 671"),
    (lambda L: L[:-2] + L[-1:], "line 691: the end record counts 6 events but the file holds 5"),
    (lambda L: L + [L[20]], r"line 693: a row after the end record \(line 692\)"),
    (lambda L: L[:-1] + [L[-1].replace('""alerts"": 5, ', "")], "line 692: end data must count"),
    (lambda L: L[:-1] + [L[-1].replace('""alerts"": 5', '""alerts"": -1')], "alerts must be a whole number"),
    (lambda L: [L[0], L[-1]] + L[1:-1], "line 2: the first row must be the session row"),
])
def test_the_end_record_must_match_the_file(store, rich_session, mutate, words):
    lines = to_csv(store, rich_session).splitlines()
    assert len(lines) == 692
    with pytest.raises(CsvImportError, match=words):
        import_text(store, "\n".join(mutate(lines)) + "\n")


def test_blank_lines_after_the_end_record_are_fine(store, rich_session):
    text = to_csv(store, rich_session)
    assert len(parse_text(text + "\n\n").readings) == 672


def test_insert_failure_rolls_back_everything(store, rich_session):
    parsed = parse_text(to_csv(store, rich_session))
    parsed.alerts.append(dict(parsed.alerts[0]))  # duplicate (session_id, key): the insert fails at the end
    counts = {t: store._one(f"SELECT count(*) AS n FROM {t}")["n"] for t in ("sessions", "readings", "events")}
    with pytest.raises(Exception):
        insert_session(store, parsed.session, parsed.baselines, parsed.readings, parsed.alerts, parsed.events)
    assert {t: store._one(f"SELECT count(*) AS n FROM {t}")["n"] for t in counts} == counts
