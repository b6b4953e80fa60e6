"""Issue 13 item 3 (first part): the treatment profiles shipped with the package, picked by
name (`--protocol esketamine-rems`) or copied and edited (`profiles --show NAME`), each citing
its sources; a session records the profile it ran under and the bedside shows it."""
from __future__ import annotations

import json

import pytest

from monitor.alerts import AlertEngine
from monitor.model import Event, Reading
from monitor.protocol import (DEFAULT_PROFILE, SHIPPED_PROFILES, ProtocolError, load_protocol, profile_file,
                              shipped_profile_path)
from monitor.web.bedside_view import header

T0 = 1_700_000_000.0


@pytest.mark.parametrize("name", SHIPPED_PROFILES)
def test_each_shipped_profile_loads_by_name_and_cites_its_sources(name):
    p = load_protocol(name)  # every number in its sane range, the limits in priority order
    assert p.name == name and p.description
    text = shipped_profile_path(name).read_text(encoding="utf-8")
    assert "Sources:" in text  # where its numbers come from, in the file a clinician edits
    assert load_protocol(shipped_profile_path(name)) == p  # the same profile as a file


def test_the_contract_names_and_the_default():
    assert set(SHIPPED_PROFILES) == {"ketamine-iv", "esketamine-rems", "ketamine-pain"}
    assert load_protocol().name == DEFAULT_PROFILE == "ketamine-iv"


def test_esketamine_observes_two_hours_and_pain_measures_bp_less_often():
    es, pain, iv = load_protocol("esketamine-rems"), load_protocol("ketamine-pain"), load_protocol("ketamine-iv")
    assert es.minimum_observation_s == 2 * 3600  # SPRAVATO label and REMS: at least 2 h after the dose
    assert es.nibp_cycle_other_s <= 600  # the 40-minute reading falls on the cycle (10, 20, 30, 40 min)
    assert pain.nibp_cycle_infusion_s == 900 and pain.minimum_observation_s == 3600
    # the alarm limits the three share are the same numbers (one source for each)
    for rule in ("spo2_critical", "hr_critical", "bp_critical"):
        assert es.rule(rule) == pain.rule(rule) == iv.rule(rule)


def _bp(engine, at: float, sbp: float, dbp: float) -> list:
    out = []
    for parameter, v in (("sbp", sbp), ("dbp", dbp), ("map", round(dbp + (sbp - dbp) / 3))):
        out += engine.feed(Reading(T0 + at, parameter, v, "ok", "cuff"))
    return out + engine.advance(T0 + at + 1)


@pytest.mark.parametrize("rise, fires", [((39, 0), False), ((40, 0), True), ((0, 24), False), ((0, 25), True)])
def test_esketamine_alerts_on_a_rise_of_40_systolic_or_25_diastolic_from_the_predose_value(rise, fires):
    engine = AlertEngine(load_protocol("esketamine-rems"))
    _bp(engine, -600, 118, 74)
    _bp(engine, -300, 122, 76)  # pre-dose baseline: the median, 120/75
    engine.event(Event(T0, "infusion_start"))  # the first device given
    changes = _bp(engine, 2400, 120 + rise[0], 75 + rise[1])  # the 40-minute reading
    raised = [c for c in changes if getattr(c, "rule", None) == "bp_rise_from_predose"]
    assert bool(raised) == fires
    if fires:
        assert raised[0].priority == "medium" and raised[0].started_at == T0 + 2400
    # the IV ketamine profile has no such rule: 160/100 there is bp_high's business
    assert "bp_rise_from_predose" not in {r.id for r in load_protocol("ketamine-iv").rules}


def test_a_name_that_is_neither_shipped_nor_a_file_is_refused_with_the_names(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ProtocolError, match="esketamine: no such protocol profile.*esketamine-rems"):
        load_protocol("esketamine")
    with pytest.raises(ProtocolError, match="cannot read"):  # a path stays a path
        load_protocol("profiles/mine.toml")
    (tmp_path / "ketamine-iv").write_text("not a profile")  # a shipped name wins over a stray file
    assert profile_file("ketamine-iv") == shipped_profile_path("ketamine-iv")


@pytest.mark.slow
def test_cli_picks_a_profile_by_name_and_the_session_records_it(cli):
    r = cli("--protocol", "esketamine-rems", "simulate", "--scenario", "hypertensive", "--json")
    assert r.returncode == 0, r.stderr
    sid = json.loads(r.stdout)["session_id"]
    (s,) = [s for s in json.loads(cli("sessions", "--json", check=True).stdout) if s["id"] == sid]
    assert s["protocol"] == "esketamine-rems"
    assert cli("sessions", check=True).stdout.rstrip().endswith("esketamine-rems")
    bad = cli("--protocol", "esketamine", "sessions")
    assert bad.returncode == 2 and "ketamine-iv, esketamine-rems, ketamine-pain" in bad.stderr


@pytest.mark.slow
def test_profiles_lists_shows_and_the_shown_text_is_a_usable_copy(cli, tmp_path):
    listed = cli("profiles", check=True).stdout.splitlines()
    assert [line.split()[0] for line in listed] == list(SHIPPED_PROFILES)
    assert "(default)" in listed[0]
    rows = json.loads(cli("profiles", "--json", check=True).stdout)
    assert [r["name"] for r in rows] == list(SHIPPED_PROFILES) and rows[0]["default"] is True
    copy = tmp_path / "mine.toml"
    copy.write_text(cli("profiles", "--show", "ketamine-pain", check=True).stdout
                    .replace('name = "ketamine-pain"', 'name = "clinic-pain"'))
    assert load_protocol(copy).name == "clinic-pain"
    assert cli("--protocol", str(copy), "profiles", check=True).returncode == 0
    nope = cli("profiles", "--show", "nope")
    assert nope.returncode == 2 and "--show nope" in nope.stderr


def _texts(children) -> list[str]:
    return [c.children for c in children if isinstance(getattr(c, "children", None), str)]


def test_the_bedside_header_shows_the_sessions_profile_and_a_mismatch():
    s = {"id": 4, "state": "infusion", "patient_ref": "P-1", "protocol": "esketamine-rems",
         "started_at": T0, "infusion_start": T0 + 60, "infusion_end": None, "ended_at": None}
    same = _texts(header("1", s, T0 + 120, True, "esketamine-rems"))
    assert "profile esketamine-rems" in same and not any("limits drawn" in t for t in same)
    other = _texts(header("1", s, T0 + 120, True, "ketamine-iv"))
    assert "profile esketamine-rems" in other and "limits drawn here are ketamine-iv's" in other
