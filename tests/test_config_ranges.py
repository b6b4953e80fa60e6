"""Issue 10 item 7: no profile or clinic file can switch an alarm off.

Every number in a profile or clinic.toml has a sane range (monitor/sane_ranges.py); a value
outside it, nan or inf is refused with the file and the key; the limits keep their priority
order; two devices never share a port, however the path is spelled. The files here are real
TOML files edited from the shipped profile, loaded the way `--protocol` and `run --config` load them.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from monitor.clinic_config import ConfigError, build_chair, load_clinic
from monitor.protocol import ProtocolError, default_profile_path, load_protocol
from monitor.sane_ranges import DEVICE, ESCALATION, FOR_S, INTEGRATION, HYSTERESIS, LIMITS, PROFILE, SCHEDULE_AT_S

SHIPPED = default_profile_path().read_text(encoding="utf-8")
ARCHITECTURE = (Path(__file__).resolve().parents[1] / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")


def edited(table: str, key: str, value: str, text: str = SHIPPED) -> str:
    """The profile text with `key = value` in [table] (the first such key after the header)."""
    head = text.index(f"[{table}]\n")
    m = re.compile(rf"^{re.escape(key)} = .*$", re.M).search(text, head)
    assert m, f"no {key} in [{table}]"
    return text[:m.start()] + f"{key} = {value}" + text[m.end():]


def write_profile(tmp_path, text: str) -> Path:
    p = tmp_path / "profile.toml"
    p.write_text(text, encoding="utf-8")
    return p


def refused(tmp_path, text: str) -> str:
    p = write_profile(tmp_path, text)
    with pytest.raises(ProtocolError) as e:
        load_protocol(p)
    message = str(e.value)
    assert message.startswith(f"{p}: "), message  # the file is named
    assert "\n" not in message
    return message


# ----------------------------------------------------------------- the values the issue found accepted
@pytest.mark.parametrize("table,key,value,named", [
    ("rules.spo2_critical", "for_s", "1e9", "rules.spo2_critical.for_s: 1e+09 is outside 0..60 s"),
    ("technical", "disconnect_s", "1e12", "technical.disconnect_s: 1e+12 is outside 1..120 s"),
    ("technical", "signal_lost_s", "1e8", "technical.signal_lost_s: 1e+08 is outside 1..60 s"),
    ("continuous", "clear_for_s", "1e308", "continuous.clear_for_s: 1e+308 is outside 0..60 s"),
    ("nibp", "cycle_infusion_s", "1e9", "nibp.cycle_infusion_s: 1e+09 is outside 60..900 s"),
    # and their neighbours
    ("rules.spo2_low", "for_s", "121", "rules.spo2_low.for_s: 121 is outside 0..120 s"),
    ("rules.hr_rise", "for_s", "301", "rules.hr_rise.for_s: 301 is outside 0..300 s"),
    ("continuous", "max_gap_s", "3600", "continuous.max_gap_s: 3600 is outside 3..30 s"),
    ("continuous", "max_gap_s", "1", "continuous.max_gap_s: 1 is outside 3..30 s"),
    ("nibp", "cycle_other_s", "86400", "nibp.cycle_other_s: 86400 is outside 60..1800 s"),
    ("nibp", "overdue_factor", "100", "nibp.overdue_factor: 100 is outside 1..3"),
    ("freshness", "monitored_s", "3600", "freshness.monitored_s: 3600 is outside 1..60 s"),
    ("hysteresis", "spo2", "50", "hysteresis.spo2: 50 is outside 0..3 points"),
    ("hysteresis", "hr", "-5", "hysteresis.hr: -5 is outside 0..10 bpm"),
    ("rules.spo2_critical", "limit", "50", "rules.spo2_critical.limit: 50 outside its bounds"),
])
def test_values_that_would_silence_an_alarm_are_refused(tmp_path, table, key, value, named):
    message = refused(tmp_path, edited(table, key, value))
    assert named in message


@pytest.mark.parametrize("table,key", [(k.rpartition(".")[0], k.rpartition(".")[2]) for k in PROFILE]
                         + [("rules.spo2_critical", "for_s"), ("rules.spo2_critical", "limit"),
                            ("rules.spo2_drop", "baseline_offset"), ("rules.hr_rise", "baseline_factor"),
                            ("hysteresis", "spo2")])
def test_nan_and_infinity_are_refused_everywhere(tmp_path, table, key):
    for literal in ("nan", "inf", "-inf", "+inf", "-nan"):  # all valid TOML
        message = refused(tmp_path, edited(table, key, literal))
        assert f"{table}.{key}: expected " in message and "number" in message and "got" in message


@pytest.mark.parametrize("key", sorted(PROFILE))
def test_every_fixed_number_has_its_range(tmp_path, key):
    """Both ends are accepted; just beyond either end is refused, naming the key and the range."""
    table, _, name = key.rpartition(".")
    sane = PROFILE[key]
    step = 1 if sane.whole else 0.5
    for ok in (sane.low, sane.high):
        load_protocol(write_profile(tmp_path, edited(table, name, f"{ok:g}")))
    for bad in (sane.low - step, sane.high + step):
        message = refused(tmp_path, edited(table, name, repr(bad)))
        assert f"{key}: " in message and sane.text in message


@pytest.mark.parametrize("rule,priority", [("spo2_critical", "high"), ("spo2_low", "medium"), ("spo2_drop", "low")])
def test_a_sustain_window_is_bounded_by_the_rules_priority(tmp_path, rule, priority):
    sane = FOR_S[priority]
    assert load_protocol(write_profile(tmp_path, edited(f"rules.{rule}", "for_s", f"{sane.high:g}"))) \
        .rule(rule).for_s == sane.high
    assert f"rules.{rule}.for_s: {sane.high + 1:g} is outside {sane.text}" in \
        refused(tmp_path, edited(f"rules.{rule}", "for_s", f"{sane.high + 1:g}"))


@pytest.mark.parametrize("edit,named", [
    # bounds that would let a clinician set the alarm off for a session
    (lambda t: edited("rules.spo2_critical", "bounds", "[40, 92]", t), "rules.spo2_critical.bounds: [40, 92] reach outside 80..97 %"),
    (lambda t: edited("rules.hr_low", "bounds", "[0, 55]", t), "rules.hr_low.bounds: [0, 55] reach outside 30..60 bpm"),
    (lambda t: edited("rules.hr_high", "bounds", "[100, nan]", t), "rules.hr_high.bounds: expected [low, high]"),
    (lambda t: edited("rules.hr_high", "bounds", "[100, inf]", t), "rules.hr_high.bounds: expected [low, high]"),
    # no bounds: the limit itself is checked
    (lambda t: t.replace("limit = 45\nfor_s = 30\npriority = \"medium\"\nbounds = [35, 55]",
                         "limit = 10\nfor_s = 30\npriority = \"medium\""), "rules.hr_low.limit: 10 is outside 30..60 bpm"),
    (lambda t: t.replace('{ parameter = "sbp", op = "<", limit = 90, bounds = [70, 100] }',
                         '{ parameter = "sbp", op = "<", limit = 20 }'), "rules.sbp_low.any[0].limit: 20 is outside 60..110 mmHg"),
    # a flipped operator is an alarm that would never sound as meant
    (lambda t: edited("rules.spo2_critical", "op", '">"', t), "rules.spo2_critical: spo2 > with limit is not an alarm"),
    (lambda t: edited("rules.spo2_drop", "baseline_offset", "4", edited("rules.spo2_drop", "bounds", "[2, 8]", t)),
     "rules.spo2_drop.bounds: [2, 8] reach outside -10..-1 points"),
    (lambda t: edited("rules.hr_rise", "baseline_factor", "10", edited("rules.hr_rise", "bounds", "[1.1, 12]", t)),
     "rules.hr_rise.bounds: [1.1, 12] reach outside 1.05..2 × baseline"),
])
def test_limits_and_their_bounds_stay_clinical(tmp_path, edit, named):
    assert named in refused(tmp_path, edit(SHIPPED))


# ----------------------------------------------------------------- priority order, as the page keeps it
@pytest.mark.parametrize("edit,named", [
    (lambda t: edited("rules.spo2_critical", "limit", "92", edited("rules.spo2_low", "limit", "90", t)),
     "rules.spo2_critical.limit: 92 (high) is milder than rules.spo2_low.limit = 90 (medium)"),
    (lambda t: edited("rules.hr_critical", "limit", "120", edited("rules.hr_high", "limit", "130", t)),
     "rules.hr_critical.limit: 120 (high) is milder than rules.hr_high.limit = 130 (medium)"),
    (lambda t: t.replace('{ parameter = "sbp", op = ">=", limit = 180, bounds = [160, 200] }',
                         '{ parameter = "sbp", op = ">=", limit = 150, bounds = [120, 200] }'),
     "rules.bp_critical.any[0].limit: 150 (high) is milder than rules.bp_high.any[0].limit = 160 (medium)"),
])
def test_a_high_limit_milder_than_a_medium_one_is_refused(tmp_path, edit, named):
    assert named in refused(tmp_path, edit(SHIPPED))


def test_equal_limits_keep_the_order(tmp_path):
    p = write_profile(tmp_path, edited("rules.hr_critical", "limit", "130", edited("rules.hr_high", "limit", "130")))
    assert load_protocol(p).rule("hr_critical").clauses[0].limit == 130


# ----------------------------------------------------------------- the shipped profile documents its ranges
def test_the_shipped_profile_loads_and_states_every_range():
    load_protocol()
    for key, sane in PROFILE.items():
        table, _, name = key.rpartition(".")
        line = re.compile(rf"^{re.escape(name)} = .*$", re.M).search(SHIPPED, SHIPPED.index(f"[{table}]\n")).group()
        assert f"[{sane.low:g}..{sane.high:g}" in line, f"{key}: its range is not beside it in the shipped profile"
    for priority, sane in FOR_S.items():
        assert f"a {priority} rule [{sane.low:g}..{sane.high:g}" in SHIPPED
    for (parameter, side, _form), sane in LIMITS.items():
        assert f"{parameter} {'<' if side == 'low' else '>'} [{sane.low:g}..{sane.high:g}" in SHIPPED
    for parameter, sane in HYSTERESIS.items():
        assert f"{parameter} [{sane.low:g}..{sane.high:g}" in SHIPPED


def test_the_architecture_lists_every_range():
    rows = [f"| `{key}` | {r.text} |" for key, r in PROFILE.items()]
    rows += [f"| `rules.*.for_s` of a {p} rule | {r.text} |" for p, r in FOR_S.items()]
    rows += [f"| {param} {'<' if side == 'low' else '>'} `{form}` (and its `bounds`) | {r.text} |"
             for (param, side, form), r in LIMITS.items()]
    rows += [f"| `hysteresis.{p}` | {r.text} |" for p, r in HYSTERESIS.items()]
    rows += [f"| clinic.toml device `{k}` | {r.text} |" for k, r in DEVICE.items()]
    rows += [f"| clinic.toml `integrations.NAME.{k}` | {r.text} |" for k, r in INTEGRATION.items()]
    rows += [f"| `schedule.due[n].at_s` | {SCHEDULE_AT_S.text} |"]
    rows += [f"| `{key}` | {r.text} |" for key, r in ESCALATION.items()]
    assert [row for row in rows if row not in ARCHITECTURE] == []


# ----------------------------------------------------------------- clinic.toml
def clinic(tmp_path, text: str) -> Path:
    p = tmp_path / "clinic.toml"
    p.write_text(text, encoding="utf-8")
    return p


@pytest.mark.parametrize("option,named", [
    ("timeout = nan", "chairs.1.devices[0].timeout: expected a number in 30..180 s, got nan"),
    ("timeout = inf", "chairs.1.devices[0].timeout: expected a number in 30..180 s, got inf"),
    ("timeout = -inf", "chairs.1.devices[0].timeout: expected a number in 30..180 s, got -inf"),
    ("timeout = 0", "chairs.1.devices[0].timeout: 0 is outside 30..180 s"),
    ("timeout = 1e9", "chairs.1.devices[0].timeout: 1e+09 is outside 30..180 s"),
    ("baudrate = 9601", "chairs.1.devices[0].baudrate: 9601 is not a serial rate"),
    ("baudrate = 1000000000", "chairs.1.devices[0].baudrate: 1e+09 is outside 1200..115200 baud"),
    ("baudrate = 0", "chairs.1.devices[0].baudrate: 0 is outside 1200..115200 baud"),
])
def test_clinic_device_numbers_are_range_checked(store, protocol, tmp_path, option, named):
    p = clinic(tmp_path, f'[chairs.1]\ndevices = [{{ kind = "suntech", port = "/dev/ttyUSB1", {option} }}]\n')
    with pytest.raises(ConfigError) as e:
        load_clinic(p, store, protocol)
    assert str(e.value).startswith(f"{p}: ") and named in str(e.value)


def test_a_sane_clinic_device_is_accepted(store, protocol, tmp_path):
    p = clinic(tmp_path, '[chairs.1]\ndevices = [{ kind = "suntech", port = "/dev/ttyUSB1", timeout = 120, '
                         'baudrate = 9600 }, "nonin:/dev/ttyUSB0"]\n'
                         '[chairs.2]\ndevices = [{ kind = "sim", port = "normal", seed = 0 }]\n')
    chairs = load_clinic(p, store, protocol)
    assert chairs[0].devices[0].timing.measure_timeout_s == 120


@pytest.mark.parametrize("first,second", [
    ("/dev/ttyUSB0", "/dev/../dev/ttyUSB0"),
    ("/dev/ttyUSB0", "/dev/./ttyUSB0"),
    ("/dev/ttyUSB0", "//dev//ttyUSB0"),
])
def test_the_same_port_through_an_alias_is_refused(store, protocol, tmp_path, first, second):
    p = clinic(tmp_path, f'[chairs.1]\ndevices = ["nonin:{first}"]\n[chairs.2]\ndevices = ["suntech:{second}"]\n')
    with pytest.raises(ConfigError) as e:
        load_clinic(p, store, protocol)
    assert str(e.value) == (f"{p}: chairs.2.devices[0]: port {second} is already used by chairs.1.devices[0] "
                            f"(both are /dev/ttyUSB0)")


def test_a_by_id_link_and_its_device_are_one_port(store, protocol, tmp_path):
    device = tmp_path / "ttyUSB7"
    device.touch()
    link = tmp_path / "usb-FTDI_Nonin-if00-port0"
    link.symlink_to(device)
    p = clinic(tmp_path, f'[chairs.1]\ndevices = ["nonin:{link}", {{ kind = "suntech", port = "{device}" }}]\n')
    with pytest.raises(ConfigError, match=rf"chairs.1.devices\[1\]: port {re.escape(str(device))} is already used "
                                         rf"by chairs.1.devices\[0\]"):
        load_clinic(p, store, protocol)


def test_acquire_devices_are_held_to_the_same_port_rule(store, protocol):
    """`acquire --device` builds its chair with build_chair: two names for one port are refused there too."""
    with pytest.raises(ValueError, match=r"device 2 \(masimo:/dev/\.\./dev/ttyUSB0\): port /dev/\.\./dev/ttyUSB0 "
                                         r"is already used by device 1 \(both are /dev/ttyUSB0\)"):
        build_chair(store, protocol, "1", [{"spec": "nonin:/dev/ttyUSB0"}, {"spec": "masimo:/dev/../dev/ttyUSB0"}])
    chair = build_chair(store, protocol, "1", [{"spec": "nonin:/dev/ttyUSB0"}, {"spec": "suntech:/dev/ttyUSB1"},
                                               {"spec": "sim:normal"}, {"spec": "sim:normal"}])
    assert len(chair.devices) == 4


# ----------------------------------------------------------------- every way in
@pytest.mark.slow
def test_the_command_line_refuses_them_before_anything_runs(cli, tmp_path, db_path):
    profile = write_profile(tmp_path, edited("rules.spo2_critical", "for_s", "1e9"))
    out = cli("--protocol", profile, "sessions")
    assert out.returncode == 2 and f"{profile}: rules.spo2_critical.for_s: 1e+09 is outside 0..60 s" in out.stderr
    config = clinic(tmp_path, '[chairs.1]\ndevices = [{ kind = "suntech", port = "/dev/ttyUSB1", timeout = nan }]\n')
    out = cli("run", "--config", config, "--port", "1", timeout=30)
    assert out.returncode == 2 and f"{config}: chairs.1.devices[0].timeout: expected a number" in out.stderr
    out = cli("acquire", "--device", "nonin:/dev/ttyUSB0", "--device", "masimo:/dev/../dev/ttyUSB0", "--duration", "1")
    assert out.returncode == 2 and "already used by device 1 (both are /dev/ttyUSB0)" in out.stderr


# ----------------------------------------------------------------- the HIGH alarms no profile may switch off
def _rule_block(rule: str, text: str = SHIPPED) -> tuple[int, int]:
    start = text.index(f"[rules.{rule}]\n")
    nxt = re.compile(r"^\[", re.M).search(text, start + 1)
    return start, nxt.start() if nxt else len(text)


def with_rule_line(rule: str, line: str, text: str = SHIPPED) -> str:
    """The profile with `line` added to [rules.<rule>] (right after its header)."""
    head = text.index(f"[rules.{rule}]\n") + len(f"[rules.{rule}]\n")
    return text[:head] + line + "\n" + text[head:]


def without_rule(rule: str, text: str = SHIPPED) -> str:
    start, end = _rule_block(rule, text)
    return text[:start] + text[end:]


@pytest.mark.parametrize("text,danger", [
    (with_rule_line("spo2_critical", 'states = ["ended"]'), "spo2"),
    (with_rule_line("spo2_critical", 'states = ["baseline"]'), "spo2"),
    (with_rule_line("spo2_critical", 'states = ["infusion", "recovery"]'), "spo2"),
    (edited("rules.spo2_critical", "priority", '"medium"'), "spo2"),
    (without_rule("spo2_critical"), "spo2"),
    (with_rule_line("bp_critical", 'states = ["baseline"]'), "sbp"),
    (with_rule_line("bp_critical", "of_baseline = true"), "sbp"),
    (without_rule("hr_critical"), "hr"),
    (edited("rules.hr_critical", "priority", '"medium"'), "hr"),
])
def test_a_profile_cannot_remove_demote_or_restrict_a_required_high_alarm(tmp_path, text, danger):
    message = refused(tmp_path, text)
    assert f"no high alarm on a fixed {danger} limit" in message


def test_a_high_alarm_armed_in_every_phase_by_name_is_enough(tmp_path):
    text = with_rule_line("spo2_critical", 'states = ["baseline", "infusion", "recovery"]')
    assert load_protocol(write_profile(tmp_path, text)).name == "ketamine-iv"


@pytest.mark.parametrize("rule", ["device_disconnected", "oximeter_signal_lost"])
def test_losing_the_patients_data_cannot_be_set_to_a_low_alarm(tmp_path, rule):
    message = refused(tmp_path, edited("technical_priority", rule, '"low"'))
    assert f"technical_priority.{rule}: 'low' is below 'medium'" in message


def test_the_cuff_technical_alarms_may_stay_low(tmp_path):
    text = edited("technical_priority", "nibp_failed", '"low"')
    assert load_protocol(write_profile(tmp_path, text)).technical_priority["nibp_failed"] == "low"
