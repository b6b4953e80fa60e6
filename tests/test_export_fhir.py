"""The FHIR R4 export validates against fhir.resources' R4B models and carries the right
LOINC codes, UCUM units and values."""
from __future__ import annotations

import json
from collections import defaultdict
from statistics import median

import pytest

from monitor.formatting import iso_utc_ms
from monitor.exports.fhir import bundle, bundle_json
from monitor.store import queries

from review_data import replay_hand_session

pytestmark = pytest.mark.both_engines  # on SQLite and on PostgreSQL (conftest.py)

fhir_bundle = pytest.importorskip("fhir.resources.R4B.bundle")
fhir_observation = pytest.importorskip("fhir.resources.R4B.observation")

UCUM = "http://unitsofmeasure.org"


@pytest.fixture
def exported(store, protocol):
    sid = replay_hand_session(store, protocol, patient_ref="PT-FHIR")
    return store, sid, json.loads(bundle_json(store, sid))


def _codes(concept) -> set:
    return {(c["system"], c["code"]) for c in concept["coding"]}


def _by_kind(b):
    out = defaultdict(list)
    for e in b["entry"]:
        codes = _codes(e["resource"]["code"])
        kind = ("bp" if ("http://loinc.org", "85354-9") in codes else
                "hr" if ("http://loinc.org", "8867-4") in codes else "spo2")
        out[kind].append(e["resource"])
    return out


def test_bundle_and_every_observation_validate(exported):
    _, _, b = exported
    model = fhir_bundle.Bundle.model_validate(b)
    assert model.type == "collection" and len(model.entry) == len(b["entry"]) > 0
    for e in b["entry"]:
        obs = fhir_observation.Observation.model_validate(e["resource"])
        assert obs.status == "final"
        assert e["fullUrl"] == f"urn:uuid:{e['resource']['id']}"


def test_vital_signs_profile_category_and_subject(exported):
    _, _, b = exported
    for e in b["entry"]:
        r = e["resource"]
        assert "http://hl7.org/fhir/StructureDefinition/vitalsigns" in r["meta"]["profile"]
        assert _codes(r["category"][0]) == {("http://terminology.hl7.org/CodeSystem/observation-category",
                                             "vital-signs")}
        assert r["subject"]["type"] == "Patient" and r["subject"]["identifier"]["value"] == "PT-FHIR"


def test_one_bp_panel_per_nibp_measurement(exported):
    store, sid, b = exported
    panels = _by_kind(b)["bp"]
    assert len(panels) == 4
    assert all("http://hl7.org/fhir/StructureDefinition/bp" in p["meta"]["profile"] for p in panels)
    values = []
    for p in panels:
        comp = {next(iter(_codes(c["code"])))[1]: c["valueQuantity"] for c in p["component"]}
        assert set(comp) == {"8480-6", "8462-4", "8478-0"}
        assert all(q["system"] == UCUM and q["code"] == "mm[Hg]" for q in comp.values())
        values.append((comp["8480-6"]["value"], comp["8462-4"]["value"], comp["8478-0"]["value"]))
    assert values == [(120, 80, 93), (185, 105, 132), (150, 112, 125), (125, 78, 94)]
    t0 = queries.session(store, sid)["started_at"]
    assert panels[1]["effectiveDateTime"] == iso_utc_ms(t0 + 150)


@pytest.mark.slow
def test_hr_and_spo2_are_per_minute_medians_of_valid_readings(exported):
    store, sid, b = exported
    kinds = _by_kind(b)
    expected = {}
    for p in ("hr", "spo2"):
        bins = defaultdict(list)
        for r in queries.readings(store, sid, (p,)):
            if r["status"] == "ok":
                bins[int(r["ts"] // 60)].append(r["value"])
        expected[p] = [median(v) for _, v in sorted(bins.items())]
    hr = kinds["hr"]
    assert [o["valueQuantity"]["value"] for o in hr] == expected["hr"]
    assert all(o["valueQuantity"]["code"] == "/min" and o["valueQuantity"]["system"] == UCUM for o in hr)
    assert max(o["valueQuantity"]["value"] for o in hr) < 210  # the flagged artifact is left out
    spo2 = kinds["spo2"]
    assert [o["valueQuantity"]["value"] for o in spo2] == expected["spo2"]
    assert all(_codes(o["code"]) == {("http://loinc.org", "59408-5"), ("http://loinc.org", "2708-6")} for o in spo2)
    assert all(o["valueQuantity"]["code"] == "%" for o in spo2)
    first = hr[0]["effectivePeriod"]
    assert first["start"].endswith(":00.000Z") and first["end"].endswith(":00.000Z")


def test_ids_are_stable_across_exports(store, exported):
    _, sid, b = exported
    again = bundle(store, sid)
    assert [e["fullUrl"] for e in again["entry"]] == [e["fullUrl"] for e in b["entry"]]
