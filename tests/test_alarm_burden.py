"""Issue 13 item 7 (first part): the alarm burden across sessions (monitor/alarm_burden.py)
and the `alarms-report [--since DATE] [--json]` command that prints it."""
from __future__ import annotations

import json
import time

import pytest

from monitor.alarm_burden import SHORT_S, burden
from monitor.formatting import parse_when

H = 3600.0
T0 = 1_700_000_000.0


def _session(sid, start, end=None, last=None, **kw):
    return {"id": sid, "patient_ref": f"P-{sid}", "chair": "1", "protocol": "ketamine-iv", "started_at": start,
            "ended_at": end, "last_ts": last, **kw}


def _alert(aid, sid, rule, start, end=None, ack=None, priority="medium", kind="physiological"):
    return {"id": aid, "session_id": sid, "rule": rule, "kind": kind, "priority": priority, "started_at": start,
            "ended_at": end, "acknowledged_at": ack}


def test_rates_are_per_monitored_hour_and_an_open_session_ends_at_its_newest_reading():
    sessions = [_session(1, T0, T0 + H), _session(2, T0 + 2 * H, None, last=T0 + 3 * H)]  # 2 h in all
    alerts = [_alert(1, 1, "spo2_low", T0 + 60, T0 + 120), _alert(2, 2, "spo2_low", T0 + 2 * H + 60, T0 + 2 * H + 90),
              _alert(3, 2, "hr_high", T0 + 3 * H - 600, None)]  # still active: in alarm to the newest reading
    r = burden(sessions, alerts)
    assert r["sessions"] == 2 and r["monitored_h"] == 2.0 and r["alarms"] == 3 and r["per_hour"] == 1.5
    spo2, hr = r["by_rule"]
    assert (spo2["rule"], spo2["alarms"], spo2["per_hour"], spo2["time_in_alarm_s"]) == ("spo2_low", 2, 1.0, 90.0)
    assert (hr["rule"], hr["time_in_alarm_s"]) == ("hr_high", 600.0)
    assert r["time_in_alarm_s"] == 690.0


def test_acknowledgement_share_time_to_ack_and_the_short_ones_nobody_acted_on():
    s = [_session(1, T0, T0 + H)]
    alerts = [
        _alert(1, 1, "spo2_low", T0 + 100, T0 + 100 + SHORT_S - 10),                   # over in 20 s, nobody: counted
        _alert(2, 1, "spo2_low", T0 + 200, T0 + 215, ack=T0 + 210),                    # acknowledged while on: not
        _alert(3, 1, "spo2_low", T0 + 300, T0 + 310, ack=T0 + 400),                    # acknowledged after: counted
        _alert(4, 1, "spo2_low", T0 + 500, T0 + 500 + SHORT_S + 5),                    # lasted: not short
        _alert(5, 1, "bp_critical", T0 + 600, T0 + 900, ack=T0 + 640, priority="high"),
    ]
    r = burden(s, alerts)
    spo2 = next(x for x in r["by_rule"] if x["rule"] == "spo2_low")
    assert spo2["ended_within_short_unacknowledged"] == 2
    assert spo2["acknowledged"] == 2 and spo2["acknowledged_share"] == 0.5
    assert spo2["median_to_ack_s"] == 55.0  # 10 s and 100 s
    bp = next(x for x in r["by_rule"] if x["rule"] == "bp_critical")
    assert (bp["priority"], bp["median_to_ack_s"], bp["ended_within_short_unacknowledged"]) == ("high", 40.0, 0)
    assert r["acknowledged_share"] == 0.6 and r["ended_within_short_unacknowledged"] == 2
    assert r["by_rule"][0]["rule"] == "spo2_low"  # busiest first


def test_the_same_rule_at_two_priorities_is_two_rows_and_sessions_come_busiest_first():
    s = [_session(1, T0, T0 + H), _session(2, T0 + H, T0 + 1.5 * H), _session(3, T0 + 2 * H, T0 + 3 * H)]
    alerts = [_alert(1, 1, "hr_high", T0 + 10, T0 + 100), _alert(2, 2, "hr_high", T0 + H + 10, T0 + H + 100,
                                                                 priority="high"),
              _alert(3, 2, "spo2_low", T0 + H + 200, T0 + H + 300)]
    r = burden(s, alerts)
    assert sorted((x["rule"], x["priority"]) for x in r["by_rule"]) == [("hr_high", "high"), ("hr_high", "medium"),
                                                                        ("spo2_low", "medium")]
    assert [x["session_id"] for x in r["by_session"]] == [2, 1, 3]  # 4/h, 1/h, none
    assert r["by_session"][0]["per_hour"] == 4.0 and r["by_session"][2]["alarms"] == 0


def test_nothing_to_report_is_a_report_of_nothing():
    r = burden([], [])
    assert r["sessions"] == 0 and r["alarms"] == 0 and r["per_hour"] is None and r["by_rule"] == []
    r = burden([_session(1, T0, None, last=None)], [])  # opened, nothing recorded yet: no time, no rate
    assert r["monitored_h"] == 0 and r["per_hour"] is None and r["by_session"][0]["per_hour"] is None


def test_since_is_a_local_date_or_time():
    assert parse_when("2026-03-05") == time.mktime((2026, 3, 5, 0, 0, 0, 0, 0, -1))
    assert parse_when("2026-03-05T14:00Z") == 1772719200.0
    with pytest.raises(ValueError, match="'last week': not a date"):
        parse_when("last week")


@pytest.mark.slow
def test_alarms_report_agrees_with_the_sessions_alerts(cli):
    for scenario in ("hypertensive", "desaturation"):
        cli("simulate", "--scenario", scenario, check=True)
    r = json.loads(cli("alarms-report", "--json", check=True).stdout)
    per_session = {s["id"]: len(json.loads(cli("alerts", "--session", str(s["id"]), "--json", check=True).stdout))
                   for s in json.loads(cli("sessions", "--json", check=True).stdout)}
    assert r["sessions"] == 2 and r["alarms"] == sum(per_session.values()) > 0
    assert {s["session_id"]: s["alarms"] for s in r["by_session"]} == per_session
    assert sum(x["alarms"] for x in r["by_rule"]) == r["alarms"]
    text = cli("alarms-report", check=True).stdout
    assert text.startswith("Alarm burden: 2 sessions") and "spo2_low" in text and "bp_critical" in text
    later = json.loads(cli("alarms-report", "--since", "2999-01-01", "--json", check=True).stdout)
    assert later["sessions"] == 0 and later["since"][:4] in ("2998", "2999")  # local midnight, in UTC
    bad = cli("alarms-report", "--since", "soon")
    assert bad.returncode == 2 and "--since 'soon': not a date" in bad.stderr


def test_every_alarm_has_a_row_even_one_imported_without_a_priority():
    s = [_session(1, T0, T0 + H)]
    alerts = [_alert(1, 1, "spo2_low", T0 + 10, T0 + 100), _alert(2, 1, "spo2_low", T0 + 200, T0 + 300, priority=None),
              _alert(3, 1, None, T0 + 400, T0 + 500, kind=None)]
    r = burden(s, alerts)
    assert sum(x["alarms"] for x in r["by_rule"]) == r["alarms"] == 3  # the table adds up to the headline
    assert {(x["rule"], x["priority"]) for x in r["by_rule"]} == {("spo2_low", "medium"), ("spo2_low", "?"),
                                                                  ("?", "medium")}


def test_an_open_session_is_monitored_up_to_its_newest_alarm_when_that_is_later():
    # the oximeter stopped sending at +10 min; its signal-lost alarm began 10 s later and is still on
    s = [_session(1, T0, None, last=T0 + 600)]
    r = burden(s, [_alert(1, 1, "oximeter_signal_lost", T0 + 610, None, kind="technical")])
    assert r["monitored_h"] == round(610 / H, 2) and r["time_in_alarm_s"] == 0.0
    assert r["by_session"][0]["alarms"] == 1


def test_escalations_per_priority_who_signed_and_how_long_after_the_start():
    """Issue 15 part 4: the alarms nobody signed for in time (alerts.escalated_at), added to the
    report beside the fields it always had."""
    s = [_session(1, T0, T0 + H, chair="3"), _session(2, T0 + H, T0 + 2 * H)]
    alerts = [
        {**_alert(1, 1, "spo2_critical", T0 + 100, T0 + 200, ack=T0 + 160, priority="high"),
         "acknowledged_by": "RN", "escalated_at": T0 + 130},
        {**_alert(2, 1, "spo2_low", T0 + 300, T0 + 600, ack=T0 + 500), "acknowledged_by": "KB",
         "escalated_at": T0 + 420},
        {**_alert(3, 2, "bp_critical", T0 + H + 10, None, priority="high"), "acknowledged_by": None,
         "escalated_at": T0 + H + 40},
        {**_alert(4, 2, "hr_high", T0 + H + 50, T0 + H + 60, ack=T0 + H + 55), "acknowledged_by": "RN",
         "escalated_at": None},
    ]
    r = burden(s, alerts)
    assert r["alarms"] == 4 and r["escalated"] == 3 and r["escalated_acknowledged"] == 2
    assert r["escalated_median_to_ack_s"] == 130.0  # 60 s and 200 s
    assert r["escalated_by_priority"] == [
        {"priority": "high", "escalated": 2, "acknowledged": 1, "median_to_ack_s": 60.0},
        {"priority": "medium", "escalated": 1, "acknowledged": 1, "median_to_ack_s": 200.0}]
    first, second, third = r["escalations"]
    assert (first["chair"], first["rule"], first["escalated_after_s"], first["acknowledged_by"], first["to_ack_s"]) == \
        ("3", "spo2_critical", 30.0, "RN", 60.0)
    assert (second["acknowledged_by"], second["escalated_after_s"]) == ("KB", 120.0)
    assert (third["acknowledged_by"], third["to_ack_s"]) == (None, None)
    assert {x["rule"]: x["escalated"] for x in r["by_rule"]} == {"spo2_critical": 1, "spo2_low": 1,
                                                                  "bp_critical": 1, "hr_high": 0}
    assert {x["session_id"]: x["escalated"] for x in r["by_session"]} == {1: 2, 2: 1}
    json.dumps(r)  # the --json output


def test_a_report_without_escalations_says_none():
    r = burden([_session(1, T0, T0 + H)], [_alert(1, 1, "spo2_low", T0 + 60, T0 + 120)])
    assert (r["escalated"], r["escalated_by_priority"], r["escalations"]) == (0, [], [])
    assert r["escalated_median_to_ack_s"] is None
