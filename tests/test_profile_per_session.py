"""A session runs under its own profile (issue 13, item 3): a clinic.toml chair names its
profile, a clinician picks another when opening a session, and the chair's engine, its cuff
cycle, the bedside page and the checks of what is charted all follow the session's profile,
not the process's `--protocol`."""
from __future__ import annotations

import time

import pytest

from conftest import CLINICIAN, NURSE
from monitor import profile_choice
from monitor.clinic_config import ConfigError, build_chair, load_clinic
from monitor.model import Event
from monitor.protocol import load_protocol
from monitor.store import people, queries
from monitor.web import bedside, charting, opening
from monitor.web.forms import page_protocol, validate_dose_change

pytestmark = pytest.mark.both_engines  # on SQLite and on PostgreSQL (conftest.py)


def tick(store, protocol, chair):
    return dict(zip(bedside.KEYS, bedside.bedside_tick(store, protocol, {"chair": chair, "session_id": None},
                                                       "clinician")))


def test_a_clinic_chair_names_its_profile_and_its_sessions_run_under_it(store, protocol, tmp_path):
    clinic = tmp_path / "clinic.toml"
    clinic.write_text('[chairs.1]\ndevices = ["sim:normal"]\n\n'
                      '[chairs.2]\ndevices = ["sim:normal"]\nprotocol = "esketamine-rems"\npatient = "PT-E"\n',
                      encoding="utf-8")
    one, two = load_clinic(clinic, store, protocol)
    assert (one.protocol.name, two.protocol.name) == ("ketamine-iv", "esketamine-rems")
    s = queries.current_session(store, "2")
    assert s["protocol"] == "esketamine-rems"
    assert two.recorder.engine.protocol.rule("bp_rise_from_predose").priority == "medium"
    assert two.cycles and all(c.interval_other_s == 600 for c in two.cycles)  # esketamine: BP every 10 min
    # the page offers the chair's own profile first for its next session
    form = str(opening.open_form("2", protocol))
    assert "esketamine-rems (this chair's)" in form


@pytest.mark.parametrize("value,named", [
    ('"ketamine-fast"', "chairs.1.protocol: ketamine-fast: no such protocol profile"),
    ("3", "chairs.1.protocol: expected a shipped profile's name or a file"),
    ('"missing.toml"', "chairs.1.protocol: "),
])
def test_a_bad_chair_profile_is_refused_naming_the_key(store, protocol, tmp_path, value, named):
    clinic = tmp_path / "clinic.toml"
    clinic.write_text(f'[chairs.1]\ndevices = ["sim:normal"]\nprotocol = {value}\n', encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_clinic(clinic, store, protocol)
    assert named in str(e.value)
    assert queries.sessions(store) == []  # nothing written


def test_a_chair_profile_file_beside_clinic_toml_and_a_name_taken_twice(store, protocol, tmp_path):
    raw = load_protocol("ketamine-pain").source
    text = open(raw, encoding="utf-8").read()
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "pain-long.toml").write_text(text.replace('name = "ketamine-pain"',
                                                                       'name = "pain-long"'), encoding="utf-8")
    (tmp_path / "profiles" / "copy.toml").write_text(text.replace("cycle_infusion_s = 900", "cycle_infusion_s = 600"),
                                                     encoding="utf-8")
    clinic = tmp_path / "clinic.toml"
    clinic.write_text('[chairs.5]\ndevices = ["sim:normal"]\nprotocol = "profiles/pain-long.toml"\n',
                      encoding="utf-8")
    (chair,) = load_clinic(clinic, store, protocol)
    assert chair.protocol.name == "pain-long" and "pain-long" in profile_choice.choices(protocol)
    clinic.write_text('[chairs.6]\ndevices = ["sim:normal"]\nprotocol = "ketamine-pain"\n\n'
                      '[chairs.7]\ndevices = ["sim:normal"]\nprotocol = "profiles/copy.toml"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="chairs.7.protocol: .*name 'ketamine-pain' is already the name of"):
        load_clinic(clinic, store, protocol)


def test_picking_another_profile_needs_a_clinician(store, protocol):
    msg = opening.open_session_action(store, protocol, "PT-1", {"chair": "4"}, NURSE, "ketamine-pain")
    assert msg.startswith("Not opened: Choose profile needs a clinician login")
    assert queries.current_session(store, "4") is None
    (refused,) = [r for r in people.audit_rows(store) if r["outcome"] == "refused"]
    assert (refused["user"], refused["action"], refused["chair"]) == ("nurse1", "open_session", "4")
    msg = opening.open_session_action(store, protocol, "PT-1", {"chair": "4"}, NURSE, "ketamine-iv")
    assert msg.endswith("under profile ketamine-iv.")  # the chair's own: a nurse's choice
    store.record_event(queries.current_session(store, "4")["id"], Event(time.time(), "session_end", "", "DR"))
    msg = opening.open_session_action(store, protocol, "PT-2", {"chair": "4"}, CLINICIAN, "ketamine-pain")
    assert msg.endswith("under profile ketamine-pain.")
    assert queries.current_session(store, "4")["protocol"] == "ketamine-pain"
    assert opening.open_session_action(store, protocol, "PT-3", {"chair": "8"}, CLINICIAN, "ketamine-fast") == (
        "Not opened: no profile 'ketamine-fast' here (known: ketamine-iv, esketamine-rems, ketamine-pain)")


def test_the_page_and_the_chair_follow_the_sessions_profile(store, protocol):
    opening.open_session_action(store, protocol, "PT-E", {"chair": "3"}, CLINICIAN, "esketamine-rems")
    sid = queries.current_session(store, "3")["id"]
    out = tick(store, protocol, "3")
    header = str(out["bed-header.children"])
    assert "profile esketamine-rems" in header and "limits drawn here" not in header
    assert [o["value"] for o in out["limit-rule.options"]][:1] and any(
        o["value"].startswith("bp_rise_from_predose") for o in out["limit-rule.options"])
    assert (out["dose-unit.options"], out["dose-unit.value"]) == (["mg/h"], "mg/h")
    # a rate in a unit the session's profile does not chart is refused, whatever the server's allows
    state = {"chair": "3", "session_id": sid}
    msg, ok = charting.sign_and_chart(store, state, NURSE, "dose_change", lambda: validate_dose_change(
        "0.5", "mg/kg/h", "", rates=page_protocol(store, state, protocol).infusion_rates))
    assert (msg, ok) == ("Rate unit: choose one of mg/h", False)
    # the chair's own acquisition (built with the server's profile) records under the session's
    chair = build_chair(store, protocol, "3", [{"spec": "sim:normal"}])
    chair.tick()
    assert chair.recorder.engine.protocol.name == "esketamine-rems"
    assert all(c.interval_other_s == 600 for c in chair.cycles)


def test_a_profile_this_process_does_not_know_is_said(store, protocol):
    sid = store.open_session("PT-X", "X", "clinic-own", time.time() - 60)[0]
    out = tick(store, protocol, "X")
    header = str(out["bed-header.children"])
    assert "profile clinic-own" in header and "limits drawn here are ketamine-iv's" in header
    chair = build_chair(store, protocol, "X", [{"spec": "sim:normal"}])
    chair.tick()
    assert chair.recorder.session_id == sid and chair.recorder.engine.protocol.name == "ketamine-iv"
