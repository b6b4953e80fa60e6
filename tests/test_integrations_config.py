"""clinic.toml [integrations]: checked whole, each mistake named by file and key, nothing sent nowhere."""
from __future__ import annotations

import pytest

from monitor.clinic_config import ConfigError, load_integrations
from monitor.integrations.config import Destination, Integrations, IntegrationsError, parse_integrations

GOOD = {
    "facility": "NORTH",
    "ehr": {"kind": "mllp", "host": "10.20.0.5", "port": 2575, "send": ["results"], "vitals_every_s": 300,
            "receiving_application": "EPIC", "receiving_facility": "MAIN", "ack_timeout_s": 5},
}


def test_a_destination_is_read_with_its_defaults():
    got = parse_integrations("clinic.toml", GOOD)
    assert got.facility == "NORTH" and got.application == "INFUSION-MONITOR"
    (ehr,) = got.destinations
    assert ehr == Destination(name="ehr", kind="mllp", host="10.20.0.5", port=2575, sends=("results",),
                              vitals_every_s=300, receiving_application="EPIC", receiving_facility="MAIN",
                              connect_timeout_s=10.0, ack_timeout_s=5.0, retry_max_s=60.0)
    assert got.sending("results") == (ehr,)
    assert ehr.address == "10.20.0.5:2575"


def test_webhook_and_fhir_destinations_send_what_they_can_by_default():
    got = parse_integrations("clinic.toml", {
        "pager": {"kind": "webhook", "url": "https://pager.example.org/hooks/im", "token_env": "PAGER_TOKEN"},
        "fhir": {"kind": "fhir", "url": "http://10.0.0.9:8080/fhir/r4"}})
    pager, fhir = got.destinations
    assert (pager.sends, pager.address, pager.token_env) == (("alerts",), "https://pager.example.org/hooks/im",
                                                             "PAGER_TOKEN")
    assert (fhir.sends, fhir.url) == (("sessions",), "http://10.0.0.9:8080/fhir/r4")
    assert got.sending("alerts") == (pager,) and got.sending("sessions") == (fhir,)


def test_an_adt_listener_is_read_with_its_defaults():
    got = parse_integrations("clinic.toml", {"registration": {"kind": "adt", "port": 2576}})
    (reg,) = got.destinations
    assert (reg.host, reg.port, reg.chair_from, reg.sends) == ("127.0.0.1", 2576, "bed", ())
    assert got.sending("results") == ()


def test_no_section_is_no_destination():
    assert parse_integrations("clinic.toml", None) == Integrations()


@pytest.mark.parametrize("change, message", [
    ({"ehr": {"kind": "mllp", "host": "h"}}, "clinic.toml: integrations.ehr.port: missing"),
    ({"ehr": {**GOOD["ehr"], "kind": "smtp"}}, "integrations.ehr.kind: 'smtp' is not one of mllp, webhook, fhir"),
    ({"ehr": {**GOOD["ehr"], "kind": "webhook"}}, "integrations.ehr.url: missing (kind webhook needs url)"),
    ({"ehr": {**GOOD["ehr"], "url": "http://x"}}, "integrations.ehr.url: means nothing to kind mllp"),
    ({"hook": {"kind": "webhook", "url": "http://h/x", "port": 80}}, "integrations.hook.port: means nothing to kind webhook"),
    ({"hook": {"kind": "webhook", "url": "ftp://h/x"}}, "integrations.hook.url: expected an http:// or https://"),
    ({"hook": {"kind": "webhook", "url": "https://u:pw@h/x"}}, "integrations.hook.url: expected an http://"),
    ({"hook": {"kind": "webhook", "url": "https://h/x", "send": ["results"]}},
     "integrations.hook.send: 'results' is not one of alerts (what kind webhook takes)"),
    ({"hook": {"kind": "webhook", "url": "https://h/x", "token_env": "A TOKEN"}},
     "integrations.hook.token_env: the name of an environment variable"),
    ({"reg": {"kind": "adt"}}, "integrations.reg.port: missing (kind adt needs port)"),
    ({"reg": {"kind": "adt", "port": 2576, "chair_from": "seat"}}, "integrations.reg.chair_from: 'seat' is not one"),
    ({"reg": {"kind": "adt", "port": 2576, "send": ["results"]}}, "integrations.reg.send: means nothing to kind adt"),
    ({"reg": {"kind": "adt", "port": 2576, "ack_timeout_s": 5}}, "integrations.reg.ack_timeout_s: means nothing"),
    ({"fhir": {"kind": "fhir", "url": "https://h/r4", "send": ["alerts"]}},
     "integrations.fhir.send: 'alerts' is not one of sessions"),
    ({"ehr": {**GOOD["ehr"], "port": 0}}, "integrations.ehr.port: 0 is outside 1..65535"),
    ({"ehr": {**GOOD["ehr"], "port": "2575"}}, "integrations.ehr.port: expected a whole number, got '2575'"),
    ({"ehr": {**GOOD["ehr"], "vitals_every_s": 1}}, "integrations.ehr.vitals_every_s: 1 is outside 10..3600 s"),
    ({"ehr": {**GOOD["ehr"], "ack_timeout_s": float("nan")}}, "integrations.ehr.ack_timeout_s: expected a number"),
    ({"ehr": {**GOOD["ehr"], "retry_max_s": 1e9}}, "integrations.ehr.retry_max_s: 1e+09 is outside 5..3600 s"),
    ({"ehr": {**GOOD["ehr"], "send": ["alarms"]}}, "integrations.ehr.send: 'alarms' is not one of results, alerts"),
    ({"ehr": {**GOOD["ehr"], "send": []}}, "integrations.ehr.send: empty"),
    ({"ehr": {**GOOD["ehr"], "hots": "x"}}, "integrations.ehr.hots: unknown key"),
    ({"ehr": {**GOOD["ehr"], "host": "  "}}, "integrations.ehr.host: expected a host name"),
    ({"ehr": {**GOOD["ehr"], "receiving_facility": "A|B"}}, "integrations.ehr.receiving_facility: 'A|B' cannot go"),
    ({"facility": "NORTH^2"}, "integrations.facility: 'NORTH^2' cannot go into an HL7 header"),
    ({"facilty": "NORTH"}, "integrations.facilty: unknown key"),
    ({"bad name": {**GOOD["ehr"]}}, "integrations.bad name: a destination's name"),
    ({"copy": {**GOOD["ehr"]}}, "integrations.copy: 10.20.0.5:2575 is already integrations.ehr"),
])
def test_every_mistake_is_named(change, message):
    with pytest.raises(IntegrationsError) as e:
        parse_integrations("clinic.toml", {**GOOD, **change})
    assert message in str(e.value)


def test_clinic_toml_with_integrations_is_read_and_checked(tmp_path):
    f = tmp_path / "clinic.toml"
    f.write_text('[chairs.1]\ndevices = ["sim:normal"]\n\n[integrations]\nfacility = "NORTH"\n\n'
                 '[integrations.ehr]\nkind = "mllp"\nhost = "127.0.0.1"\nport = 2575\n', encoding="utf-8")
    assert load_integrations(f).destinations[0].port == 2575
    f.write_text(f.read_text().replace("port = 2575", "port = 70000"), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"clinic.toml: integrations.ehr.port: 70000 is outside 1..65535"):
        load_integrations(f)


def test_an_unknown_top_level_table_is_still_refused(tmp_path):
    f = tmp_path / "clinic.toml"
    f.write_text('[integration.ehr]\nkind = "mllp"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="integration: unknown key"):
        load_integrations(f)
