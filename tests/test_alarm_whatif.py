"""Issue 13 item 7 (the what-if): recorded sessions re-run through the engine under their own
profile give back exactly the alarms they stored, so re-running them under an edited
profile says exactly what the edit would have removed or added (monitor/alarm_whatif.py,
`alarms-report --what-if`)."""
from __future__ import annotations

import json
import time
from dataclasses import replace

import pytest

from monitor.alarm_whatif import WhatIf, rerun
from monitor.model import Event, Reading
from monitor.protocol import load_protocol
from monitor.recording import SessionRecorder
from monitor.store import queries


T0 = 1_700_000_000.0


def _record(store, protocol, dips: int = 3, dip_s: int = 20, patient: str = "P-WHATIF") -> int:
    """A session as acquisition records it: 10 min baseline with BPs, infusion with `dips`
    SpO2 dips to 91 % of `dip_s` seconds, a limit change, a HR run, recovery, end."""
    sid = store.open_session(patient, "W", protocol.name, T0)[0]
    rec = SessionRecorder(store, sid, protocol)
    t = 0

    def second(spo2: float, hr: float) -> None:
        rec.reading(Reading(T0 + t, "spo2", spo2, "ok", "ox"))
        rec.reading(Reading(T0 + t, "hr", hr, "ok", "ox"))

    for t in range(0, 600):
        second(97, 72)
        if t % 300 == 0:
            for p, v in (("sbp", 122.0), ("dbp", 76.0), ("map", 91.0)):
                rec.reading(Reading(T0 + t, p, v, "ok", "cuff"))
    rec.event(Event(T0 + 600, "infusion_start", "", "RN"))
    rec.event(Event(T0 + 601, "limit_change", "", "DR"), {"rule": "hr_high", "clause": 0, "old": 120, "new": 110})
    for t in range(600, 2400):
        k = (t - 700) % 400
        spo2 = 91 if t >= 700 and k < dip_s and (t - 700) // 400 < dips else 97
        second(spo2, 115 if 1500 <= t < 1560 else 80)  # 115 for 60 s: over the changed limit only
        if t % 300 == 0:
            for p, v in (("sbp", 150.0), ("dbp", 88.0), ("map", 109.0)):
                rec.reading(Reading(T0 + t, p, v, "ok", "cuff"))
    rec.event(Event(T0 + 2400, "infusion_stop", "", "RN"))
    for t in range(2400, 2700):
        second(97, 76)
    rec.event(Event(T0 + 2700, "session_end", "", "DR"))
    rec.finish()
    store.flush()
    return sid


def _same(alert) -> tuple:
    return (alert.rule, alert.priority, alert.started_at, alert.ended_at, alert.value, alert.limit)


@pytest.mark.slow
def test_a_recorded_session_re_run_under_its_own_profile_gives_back_its_stored_alarms(store, protocol):
    sid = _record(store, protocol)
    stored = sorted((a["rule"], a["priority"], a["started_at"], a["ended_at"], a["value"], a["limit_value"])
                    for a in queries.alerts(store, sid))
    again = sorted(_same(a) for a in rerun(protocol, queries.readings(store, sid), queries.events(store, sid)))
    assert again == stored
    rules = {s[0] for s in stored}
    assert {"spo2_low", "hr_high", "sbp_rise"} <= rules  # hr_high only by the session's own limit change


@pytest.mark.slow
def test_a_longer_sustain_time_removes_the_short_dips_and_nothing_else(store, protocol):
    sid = _record(store, protocol, dips=3, dip_s=20)
    slower = replace(protocol, name="spo2-30s", rules=tuple(
        replace(r, for_s=30.0) if r.id == "spo2_low" else r for r in protocol.rules))
    w = WhatIf(slower)
    w.add(protocol, queries.readings(store, sid), queries.events(store, sid), queries.alerts(store, sid))
    r = w.result()
    row = {x["rule"]: x for x in r["by_rule"]}
    assert (row["spo2_low"]["stored"], row["spo2_low"]["own_profile"], row["spo2_low"]["edited_profile"]) == (3, 3, 0)
    assert row["spo2_low"]["change"] == -3 and r["change"] == -3 and r["by_rule"][0]["rule"] == "spo2_low"
    assert all(x["change"] == 0 for x in r["by_rule"] if x["rule"] != "spo2_low")
    assert r["own_profile_alarms"] == r["stored_alarms"]


@pytest.mark.slow
def test_a_stricter_limit_adds_the_alarms_it_would_have_raised(store, protocol):
    sid = _record(store, protocol)
    w = WhatIf(load_protocol("esketamine-rems"))  # its BP rise from the pre-dose value: 150 vs 122 is +28
    w.add(protocol, queries.readings(store, sid), queries.events(store, sid), queries.alerts(store, sid))
    assert {x["rule"]: x["change"] for x in w.result()["by_rule"]}.get("bp_rise_from_predose", 0) == 0
    lower = load_protocol("esketamine-rems")
    lower = replace(lower, rules=tuple(replace(r, clauses=(replace(r.clauses[0], baseline_offset=25.0),
                                                           *r.clauses[1:]))
                                       if r.id == "bp_rise_from_predose" else r for r in lower.rules))
    w = WhatIf(lower)
    w.add(protocol, queries.readings(store, sid), queries.events(store, sid), queries.alerts(store, sid))
    assert {x["rule"]: x["change"] for x in w.result()["by_rule"]}["bp_rise_from_predose"] == 1


@pytest.mark.slow
def test_alarms_report_what_if_from_the_command_line(db_path, protocol, cli, tmp_path):
    from monitor.store import Store
    store = Store(db_path)
    _record(store, protocol, patient="P-CLI")
    other = store.open_session("P-OTHER", "X", "clinic-custom", time.time())[0]  # a profile not at hand
    store.put_reading(other, Reading(time.time(), "hr", 70.0, "ok", "ox"))
    store.close()
    edited = tmp_path / "slower.toml"
    from monitor.protocol import default_profile_path
    edited.write_text(default_profile_path().read_text().replace("limit = 92\nfor_s = 15", "limit = 92\nfor_s = 30")
                      .replace('name = "ketamine-iv"', 'name = "slower-spo2"'))
    out = json.loads(cli("alarms-report", "--what-if", str(edited), "--json", check=True).stdout)["what_if"]
    assert out["edited_profile"] == "slower-spo2" and out["sessions"] == 1
    assert {x["rule"]: x["change"] for x in out["by_rule"]}["spo2_low"] == -3
    assert [s["why"] for s in out["skipped"]] == ["its profile 'clinic-custom' is neither shipped nor the --protocol "
                                                  "given"]
    text = cli("alarms-report", "--what-if", str(edited), check=True).stdout
    assert "What if: 1 sessions re-run" in text and "spo2_low" in text and "-3" in text
    bad = cli("alarms-report", "--what-if", "nonesuch")
    assert bad.returncode == 2 and "--what-if nonesuch: no such protocol profile" in bad.stderr


@pytest.mark.slow
def test_a_rule_only_the_record_has_is_shown_and_said(store, protocol):
    sid = _record(store, protocol)
    stored = queries.alerts(store, sid) + [{"rule": "hr_low", "priority": "medium"}]  # as if edited since
    w = WhatIf(protocol)
    w.add(protocol, queries.readings(store, sid), queries.events(store, sid), stored)
    r = w.result()
    row = next(x for x in r["by_rule"] if x["rule"] == "hr_low")
    assert (row["stored"], row["own_profile"], row["edited_profile"]) == (1, 0, 0)
    assert r["record_differs"] == ["hr_low (medium)"]
    assert sum(x["stored"] for x in r["by_rule"]) == r["stored_alarms"]


def test_a_sessions_own_profile_is_the_one_given_or_a_shipped_one_by_its_name(protocol):
    clinic = replace(protocol, name="clinic-own")
    w = WhatIf(protocol, at_hand=clinic)
    assert w.own_profile({"id": 1, "protocol": "clinic-own"}) is clinic
    assert w.own_profile({"id": 2, "protocol": "esketamine-rems"}).name == "esketamine-rems"
    assert w.own_profile({"id": 3, "protocol": "elsewhere"}) is None
    w.add_session({"id": 3, "protocol": "elsewhere"}, [], [], [])
    assert w.result()["skipped"] == [{"session_id": 3, "protocol": "elsewhere",
                                      "why": "its profile 'elsewhere' is neither shipped nor the --protocol given"}]
