"""Protocol profiles: the shipped defaults equal the documented defaults (docs/ARCHITECTURE.md), and bad profiles are named."""
from __future__ import annotations

import tomllib

import pytest

from monitor.protocol import ProtocolError, default_profile_path, load_protocol, parse_protocol

EXPECTED_SUSTAINED = {
    "spo2_low": ("spo2", "<", 92, None, None, 15, "medium"),
    "spo2_critical": ("spo2", "<", 88, None, None, 10, "high"),
    "spo2_drop": ("spo2", "<=", None, -4, None, 30, "low"),
    "hr_high": ("hr", ">", 120, None, None, 30, "medium"),
    "hr_critical": ("hr", ">", 140, None, None, 15, "high"),
    "hr_low": ("hr", "<", 45, None, None, 30, "medium"),
    "hr_rise": ("hr", ">=", None, None, 1.30, 60, "low"),
}


def test_shipped_profile_holds_design_defaults(protocol):
    assert protocol.name == "ketamine-iv"
    for rid, (param, op, limit, offset, factor, for_s, prio) in EXPECTED_SUSTAINED.items():
        r = protocol.rule(rid)
        c = r.clauses[0]
        assert (c.parameter, c.op, c.limit, c.baseline_offset, c.baseline_factor, r.for_s, r.priority) == \
            (param, op, limit, offset, factor, for_s, prio), rid
    crit = protocol.rule("bp_critical")
    assert [(c.parameter, c.op, c.limit) for c in crit.clauses] == [("sbp", ">=", 180), ("dbp", ">=", 110)]
    assert [(c.parameter, c.limit) for c in protocol.rule("bp_high").clauses] == [("sbp", 160), ("dbp", 100)]
    assert protocol.rule("sbp_rise").clauses[0].baseline_factor == 1.20
    assert protocol.rule("sbp_low").clauses[0].limit == 90
    adv = protocol.rule("baseline_bp_high")
    assert adv.of_baseline and adv.states == ("baseline",)
    assert protocol.hysteresis == {"spo2": 1.0, "hr": 5.0, "rr": 1.0, "etco2": 2.0}
    assert protocol.clear_for_s == 10 and protocol.signal_lost_s == 10 and protocol.disconnect_s == 10
    assert (protocol.baseline_window_s, protocol.nibp_baseline_window_s) == (600, 900)
    assert (protocol.nibp_cycle_infusion_s, protocol.nibp_cycle_other_s, protocol.nibp_overdue_factor) == (300, 600, 1.5)
    assert protocol.technical_priority == {"oximeter_signal_lost": "medium", "device_disconnected": "medium",
                                           "nibp_failed": "low", "nibp_overdue": "low"}


def test_shipped_profile_holds_the_page_numbers(protocol):
    """The numbers the pages used to keep themselves, now the profile's: unchanged values."""
    assert protocol.monitored_fresh_s == 10
    assert protocol.news2_max_age_s == {"spo2": 10, "hr": 10, "sbp": 1800, "rr": 3600, "temp": 3600,
                                        "consciousness": 3600, "o2": 3600}
    assert (protocol.aldrete_spo2_max_age_s, protocol.aldrete_bp_max_age_s) == (60, 1800)
    assert (protocol.aldrete_discharge_min, protocol.minimum_observation_s) == (9, 1800)
    assert protocol.infusion_rates == {"mg/kg/h": (0.01, 3.0), "mg/h": (0.5, 300.0)}
    assert next(iter(protocol.infusion_rates)) == "mg/kg/h"  # the form's default unit


def raw():
    return tomllib.loads(default_profile_path().read_text())


@pytest.mark.parametrize("mutate,words", [
    (lambda d: d["rules"]["hr_high"].update(priority="urgent"), "rules.hr_high.priority"),
    (lambda d: d["rules"]["hr_high"].update(op="=>"), "rules.hr_high.op"),
    (lambda d: d["rules"]["hr_high"].update(parameter="pulse"), "rules.hr_high.parameter"),
    (lambda d: d["rules"]["hr_high"].pop("for_s"), "rules.hr_high.for_s"),
    (lambda d: d["rules"]["hr_high"].update(baseline_factor=1.2), "exactly one of"),
    (lambda d: d["rules"]["hr_high"].update(limit=300), "outside its bounds"),
    (lambda d: d["rules"]["hr_high"].update(colour="red"), "unknown key 'colour'"),
    (lambda d: d["rules"]["bp_high"].update(any=[]), "rules.bp_high.any"),
    (lambda d: d["hysteresis"].update(temp=1), "hysteresis.temp"),
    (lambda d: d["technical_priority"].pop("nibp_failed"), "technical_priority.nibp_failed"),
    (lambda d: d["nibp"].update(cycle_infusion_s=5), "nibp.cycle_infusion_s"),
    (lambda d: d.pop("baseline"), "[baseline]"),
    (lambda d: d.update(rules={}), "[rules]"),
    (lambda d: d["continuous"].update(clear_for_s=float("nan")), "continuous.clear_for_s: expected a number"),
    (lambda d: d["rules"]["spo2_low"].update(for_s=float("inf")), "rules.spo2_low.for_s: expected a number"),
    (lambda d: d["rules"]["sbp_low"]["any"][0].update(parameter="hr"), "cannot be used in a measurement rule"),
    (lambda d: d["rules"]["hr_high"].update(parameter="sbp"), "cannot be used in a sustained rule"),
    (lambda d: d["rules"]["bp_high"].update(measurement="false"), "rules.bp_high.measurement: expected true or false"),
    (lambda d: d["rules"]["bp_high"].update(for_s=30), "rules.bp_high: unknown key 'for_s'"),
    (lambda d: d["rules"]["bp_high"]["any"][0].update(limt=150), "unknown key 'limt'"),
    (lambda d: d["nibp"].update(cycle_s=300), "nibp.cycle_s: unknown key"),
    (lambda d: d.update(rule={"spo2_low": {}}), "rule: unknown key"),
    # [freshness]
    (lambda d: d.pop("freshness"), "[freshness]: missing table"),
    (lambda d: d["freshness"].pop("monitored_s"), "freshness.monitored_s: expected a number, got None"),
    (lambda d: d["freshness"].update(monitored_s="10"), "freshness.monitored_s: expected a number"),
    (lambda d: d["freshness"].update(monitored_s=0), "freshness.monitored_s: 0 is outside 1..60 s"),
    (lambda d: d["freshness"].update(bp_s=60), "freshness.bp_s: unknown key"),
    # [news2.max_age_s]
    (lambda d: d.pop("news2"), "[news2]: missing table"),
    (lambda d: d["news2"].pop("max_age_s"), "[news2.max_age_s]: missing table"),
    (lambda d: d["news2"].update(window_s=60), "news2.window_s: unknown key"),
    (lambda d: d["news2"]["max_age_s"].pop("sbp"), "news2.max_age_s.sbp: missing"),
    (lambda d: d["news2"]["max_age_s"].update(pulse=10), "news2.max_age_s.pulse: unknown NEWS2 input"),
    (lambda d: d["news2"]["max_age_s"].update(rr=True), "news2.max_age_s.rr: expected a number"),
    (lambda d: d["news2"]["max_age_s"].update(temp=-5), "news2.max_age_s.temp: -5 is outside 60..14400 s"),
    # [aldrete]
    (lambda d: d.pop("aldrete"), "[aldrete]: missing table"),
    (lambda d: d["aldrete"].pop("spo2_max_age_s"), "aldrete.spo2_max_age_s: expected a number, got None"),
    (lambda d: d["aldrete"].update(bp_max_age_s="30 min"), "aldrete.bp_max_age_s: expected a number"),
    (lambda d: d["aldrete"].update(bp_max_age_s=0.5), "aldrete.bp_max_age_s: 0.5 is outside 60..3600 s"),
    (lambda d: d["aldrete"].update(discharge=9), "aldrete.discharge: unknown key"),
    (lambda d: d["aldrete"].pop("discharge_min"), "aldrete.discharge_min: expected a number, got None"),
    (lambda d: d["aldrete"].update(discharge_min=6), "aldrete.discharge_min: 6 is outside 7..10"),
    (lambda d: d["aldrete"].update(discharge_min=9.5), "aldrete.discharge_min: expected a whole number in 7..10"),
    (lambda d: d["aldrete"].pop("minimum_observation_s"), "aldrete.minimum_observation_s: expected a number"),
    (lambda d: d["aldrete"].update(minimum_observation_s=-1), "aldrete.minimum_observation_s: -1 is outside 900..14400 s"),
    # [infusion_rate]
    (lambda d: d.pop("infusion_rate"), "[infusion_rate]: missing table"),
    (lambda d: d.update(infusion_rate={}), "[infusion_rate]: give at least one unit"),
    (lambda d: d["infusion_rate"].update({"mg/h": [300, 0.5]}), 'infusion_rate."mg/h": expected [lowest, highest]'),
    (lambda d: d["infusion_rate"].update({"mg/h": 300}), 'infusion_rate."mg/h": expected [lowest, highest]'),
    (lambda d: d["infusion_rate"].update({"mcg/kg/min": [0, 5]}), 'infusion_rate."mcg/kg/min": expected'),
    (lambda d: d["infusion_rate"].update({"mg/h": ["0.5", 300]}), 'infusion_rate."mg/h": expected'),
])
def test_bad_profiles_name_the_key(mutate, words):
    d = raw()
    mutate(d)
    with pytest.raises(ProtocolError) as e:
        parse_protocol(d, "clinic.toml")
    assert str(e.value).startswith("clinic.toml: ") and words in str(e.value)


def test_missing_file(tmp_path):
    with pytest.raises(ProtocolError, match="cannot read"):
        load_protocol(tmp_path / "nope.toml")


def test_edited_profile_loads(tmp_path):
    p = tmp_path / "strict.toml"
    p.write_text(default_profile_path().read_text().replace("limit = 120", "limit = 110"))
    assert load_protocol(p).rule("hr_high").clauses[0].limit == 110


def test_binary_file_is_a_clear_error(tmp_path):
    p = tmp_path / "binary.toml"
    p.write_bytes(b"\xff\xfe\x00\x01garbage")
    with pytest.raises(ProtocolError, match="binary.toml: not a text"):
        load_protocol(p)
