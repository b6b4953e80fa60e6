"""Escalation on the record (issue 15 part 4): the engine's escalated_at through the recorder into
the store (never cleared, never over a signature already stored), after a restart, in the CSV
export and import, in `alerts --json` and forwarded to a central database."""
from __future__ import annotations

import json

import pytest

from monitor.exports.csv_export import COLUMNS, parse_text, to_csv
from monitor.model import Alert, Event, Reading
from monitor.recording import SessionRecorder
from monitor.store import Store, queries
from monitor.store.transfer import insert_session

pytestmark = pytest.mark.both_engines

T0 = 1_700_000_000.0


def desaturated(store, protocol, seconds=60, chair="E") -> tuple[SessionRecorder, int]:
    """A session whose SpO2 is 80 from T0: spo2_critical (HIGH) raised at T0 + 10."""
    sid = store.open_session(f"P-{chair}", chair, protocol.name, T0)[0]
    rec = SessionRecorder(store, sid, protocol)
    for t in range(0, seconds + 1):
        rec.reading(Reading(T0 + t, "spo2", 80, "ok", "ox"))
    store.flush()
    return rec, sid


def critical(store, sid) -> dict:
    return store._one("SELECT * FROM alerts WHERE session_id = ? AND rule = 'spo2_critical'", (sid,))


def test_the_escalation_is_stored_and_the_signature_after_it_too(store, protocol):
    rec, sid = desaturated(store, protocol)
    row = critical(store, sid)
    assert row["started_at"] == T0 + 10 and row["escalated_at"] == T0 + 40 and row["acknowledged_at"] is None
    assert store.acknowledge(row["id"], "RN", T0 + 61, session_id=sid)
    rec.poll_events()  # the engine hears the signature as the chair's tick hands it on
    for t in range(61, 80):
        rec.reading(Reading(T0 + t, "spo2", 79, "ok", "ox"))  # later snapshots of the same alarm
    store.flush()
    row = critical(store, sid)
    assert (row["escalated_at"], row["acknowledged_at"], row["acknowledged_by"]) == (T0 + 40, T0 + 61, "RN")
    assert queries.alert_json(row, None)["escalated_at"] == "2023-11-14T22:14:00Z"


def test_a_signature_in_time_that_reaches_the_store_after_the_escalation_takes_it_back(store, protocol):
    """The nurse signs at T0 + 39.9; a reading at T0 + 40 took the engine past the moment and its
    escalated snapshot was written first: the record must not say it escalated."""
    _, sid = desaturated(store, protocol)
    row = critical(store, sid)
    assert row["escalated_at"] == T0 + 40
    assert store.acknowledge(row["id"], "RN", T0 + 39.9, session_id=sid)
    assert critical(store, sid)["escalated_at"] is None and critical(store, sid)["acknowledged_by"] == "RN"


def test_an_escalation_is_never_cleared(store, protocol):
    _, sid = desaturated(store, protocol)
    row = critical(store, sid)
    snapshot = Alert(row["key"], row["rule"], row["parameter"], row["kind"], row["priority"], row["started_at"],
                     78, row["limit_value"], "SpO2 78 < 88")  # a snapshot that does not carry it
    store.put_change(sid, snapshot)
    store.flush()
    assert critical(store, sid)["escalated_at"] == T0 + 40 and critical(store, sid)["value"] == 78


def test_a_signature_stored_before_the_moment_keeps_the_escalation_out(store, protocol):
    """The engine hears a signature at the next tick; the store, which has it, writes no escalation
    at or after it."""
    _, sid = desaturated(store, protocol, seconds=20)
    row = critical(store, sid)
    assert store.acknowledge(row["id"], "RN", T0 + 39, session_id=sid)
    late = Alert(row["key"], row["rule"], row["parameter"], row["kind"], row["priority"], row["started_at"],
                 row["value"], row["limit_value"], row["message"], escalated_at=T0 + 40)
    store.put_change(sid, late)
    store.flush()
    assert critical(store, sid)["escalated_at"] is None


def test_after_a_restart_an_alarm_nobody_signed_for_still_escalates(store, protocol):
    _, sid = desaturated(store, protocol, seconds=20)  # raised at T0 + 10, then the process dies
    assert critical(store, sid)["escalated_at"] is None
    rec = SessionRecorder.resume(store, sid, protocol, T0 + 60)
    rec.advance(T0 + 60)  # the new process's first tick
    store.flush()
    assert critical(store, sid)["escalated_at"] == T0 + 40


def test_after_a_restart_a_signed_alarm_does_not(store, protocol):
    _, sid = desaturated(store, protocol, seconds=20)
    assert store.acknowledge(critical(store, sid)["id"], "RN", T0 + 25, session_id=sid)
    rec = SessionRecorder.resume(store, sid, protocol, T0 + 60)
    rec.advance(T0 + 60)
    store.flush()
    assert critical(store, sid)["escalated_at"] is None


def test_the_csv_carries_it_both_ways_and_an_older_file_still_imports(store, protocol):
    rec, sid = desaturated(store, protocol)
    store.acknowledge(critical(store, sid)["id"], "RN", T0 + 61, session_id=sid)
    rec.event(Event(T0 + 62, "session_end", "", "RN"))
    store.flush()
    text = to_csv(store, sid)
    assert COLUMNS[-1] == "escalated_at"
    parsed = parse_text(text, "export.csv")
    copy_id = insert_session(store, parsed.session, parsed.baselines, parsed.readings, parsed.alerts, parsed.events)
    row = critical(store, copy_id)
    assert (row["escalated_at"], row["acknowledged_by"]) == (T0 + 40, "RN")
    # a file written before the column existed: every row one cell shorter, read as never escalated
    lines = text.splitlines()
    older = "\n".join([lines[0].rsplit(",", 1)[0]] + [ln[:ln.rindex(",")] for ln in lines[1:]]) + "\n"
    parsed = parse_text(older, "old.csv")
    assert all(a["escalated_at"] is None for a in parsed.alerts) and len(parsed.alerts) == len(
        queries.alerts(store, sid))


@pytest.mark.slow
def test_alerts_json_names_it(store, protocol, cli):
    _, sid = desaturated(store, protocol, chair="J")
    store.flush()
    out = cli("alerts", "--session", str(sid), "--json", check=True).stdout
    rows = {a["rule"]: a for a in json.loads(out)}
    assert rows["spo2_critical"]["escalated_at"] == "2023-11-14T22:14:00Z"
    assert rows["spo2_low"]["escalated_at"] is None  # MEDIUM: 120 s, the session is 60 s old


def test_the_report_and_the_review_say_escalated_after_and_who_signed(store, protocol):
    from monitor.exports.html_report import report_html
    from monitor.session_review import escalation_text, load
    rec, sid = desaturated(store, protocol)
    store.acknowledge(critical(store, sid)["id"], "RN", T0 + 61, session_id=sid)
    rows = {a["rule"]: a for a in load(store, sid).alarm_rows()}
    assert rows["spo2_critical"]["escalated_after_s"] == 30 and rows["spo2_critical"]["acknowledged_by"] == "RN"
    assert escalation_text(rows["spo2_critical"]) == "escalated after 30 s"
    assert escalation_text(rows["spo2_low"]) == "–"
    page = report_html(store, sid, protocol)
    assert "<th>Escalated</th>" in page and "escalated after 30 s" in page


@pytest.mark.postgres
@pytest.mark.sqlite_only  # the site is a SQLite file; the central database is PostgreSQL
def test_forwarding_carries_the_escalation_and_a_later_signature(tmp_path, pg_url, protocol):
    from monitor.forwarder import Forwarder
    site, central = Store(tmp_path / "site.db"), Store(pg_url)
    try:
        _, sid = desaturated(site, protocol)
        Forwarder(site, central, "north").forward_pass()
        row = central._one("SELECT * FROM alerts WHERE rule = 'spo2_critical'")
        assert row["escalated_at"] == T0 + 40 and row["acknowledged_at"] is None
        site.acknowledge(critical(site, sid)["id"], "RN", T0 + 70, session_id=sid)
        Forwarder(site, central, "north").forward_pass()
        row = central._one("SELECT * FROM alerts WHERE rule = 'spo2_critical'")
        assert (row["escalated_at"], row["acknowledged_by"]) == (T0 + 40, "RN")
    finally:
        site.close()
        central.close()


def test_the_banner_lists_escalated_unsigned_alarms_of_open_sessions_only(store, protocol):
    """queries.escalated_alarms: what every page's banner shows (web/escalation.py)."""
    rec, sid = desaturated(store, protocol, chair="B1")
    desaturated(store, protocol, seconds=20, chair="B2")  # raised, not yet escalated
    rows = queries.escalated_alarms(store)
    assert [(r["chair"], r["rule"], r["escalated_at"]) for r in rows] == [("B1", "spo2_critical", T0 + 40)]
    store.acknowledge(rows[0]["id"], "RN", T0 + 70, session_id=sid)
    assert queries.escalated_alarms(store) == []
