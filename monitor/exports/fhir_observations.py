"""The structured observations of a session (monitor/observations.py) as FHIR R4 Observations.

Codes, where a terminology has one, else this program's own, clearly local:
- MOAA/S and CADSS-6 have no LOINC or SNOMED CT code, so they carry local codes in
  LOCAL_SYSTEM (`moaas`, `cadss6`, and `cadss-item-N` for each CADSS-6 item as a
  component); the value is an integer (score, total, rating), category `survey`.
- Each side effect is one Observation coded with its SNOMED CT clinical finding
  (nausea 422587007, vomiting 422400008, anxiety 48694002, agitation 24199005,
  hallucinations 7011001, headache 25064002, dizziness 404640003; another effect:
  local `side-effect-other` with the nurse's words as text), category `exam`, its
  severity as the value, coded with SNOMED CT's severity qualifiers (mild 255604002,
  moderate 6736007, severe 24484000).
- PADSS: local `padss` (total, integer) with each item a component (`padss-<item>`).
- An intervention is an Observation with a local code `intervention-<kind>` (no single
  terminology codes "infusion paused" or "reassurance"), category `therapy`, the charted
  detail as valueString.
Every one names its performer (the initials that signed it); struck entries are left out,
as everywhere a record is read, except from a transaction to a server that may already hold
them: there they go as `entered-in-error`.
"""
from __future__ import annotations

from ..discharge import PADSS_ITEMS, PADSS_LABELS
from ..formatting import iso_utc_ms
from ..model import struck_entries
from ..observations import CADSS6_ITEMS, INTERVENTIONS, MOAAS_LEVELS, OBSERVATION_TYPES, SIDE_EFFECTS

SNOMED = "http://snomed.info/sct"
LOCAL_SYSTEM = "urn:infusion-monitor:code"
CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/observation-category"
CATEGORIES = {"moaas": "survey", "cadss6": "survey", "side_effect": "exam", "intervention": "therapy",
              "padss": "survey"}
EXPORTED = (*OBSERVATION_TYPES, "padss")
CATEGORY_TEXT = {"survey": "Survey", "exam": "Exam", "therapy": "Therapy"}
SIDE_EFFECT_SNOMED = {"nausea": ("422587007", "Nausea"), "vomiting": ("422400008", "Vomiting"),
                      "anxiety": ("48694002", "Anxiety"), "agitation": ("24199005", "Feeling agitated"),
                      "hallucinations": ("7011001", "Hallucinations"), "headache": ("25064002", "Headache"),
                      "dizziness": ("404640003", "Dizziness")}
assert set(SIDE_EFFECT_SNOMED) | {"other"} == set(SIDE_EFFECTS)
SEVERITY_SNOMED = {"mild": ("255604002", "Mild"), "moderate": ("6736007", "Moderate"),
                   "severe": ("24484000", "Severe")}


def _local(code: str, display: str) -> dict:
    return {"coding": [{"system": LOCAL_SYSTEM, "code": code, "display": display}], "text": display}


def _snomed(code: str, display: str) -> dict:
    return {"coding": [{"system": SNOMED, "code": code, "display": display}], "text": display}


def _category(kind: str) -> list[dict]:
    code = CATEGORIES[kind]
    return [{"coding": [{"system": CATEGORY_SYSTEM, "code": code, "display": CATEGORY_TEXT[code]}]}]


def _resources(e: dict) -> list[tuple[str, dict]]:
    """(local id suffix, the Observation's body) per resource an event makes."""
    data = e.get("data") or {}
    if e["type"] == "moaas":
        score = data["score"]
        return [("", {"code": _local("moaas", "MOAA/S sedation score (0-5)"), "valueInteger": score,
                      "interpretation": [{"text": MOAAS_LEVELS[score]}]})]
    if e["type"] == "cadss6":
        return [("", {"code": _local("cadss6", "CADSS-6 dissociation total (0-24)"), "valueInteger": data["total"],
                      "component": [{"code": _local(f"cadss-item-{n}", f"CADSS item {n}: {CADSS6_ITEMS[n][1]}"),
                                     "valueInteger": data["items"][str(n)]} for n in CADSS6_ITEMS]})]
    if e["type"] == "padss":
        return [("", {"code": _local("padss", "PADSS discharge score (0-10)"), "valueInteger": data["total"],
                      "component": [{"code": _local(f"padss-{k}", PADSS_LABELS[k]), "valueInteger": data[k]}
                                    for k in PADSS_ITEMS if k in data]})]
    if e["type"] == "side_effect":
        out = []
        for eff in data["effects"]:
            if eff["effect"] == "other":
                code = _local("side-effect-other", "Other side effect")
                code["text"] = eff.get("detail") or "Other side effect"
            else:
                code = _snomed(*SIDE_EFFECT_SNOMED[eff["effect"]])
            out.append((f"|{eff['effect']}", {"code": code,
                                              "valueCodeableConcept": _snomed(*SEVERITY_SNOMED[eff["severity"]])}))
        return out
    kind = data["intervention"]
    body = {"code": _local(f"intervention-{kind}", INTERVENTIONS[kind])}
    if data.get("detail"):
        body["valueString"] = data["detail"]
    return [("", body)]


def entries(builder, events: list[dict], struck: bool = False) -> list[dict]:
    """Bundle entries for the session's observations (builder: fhir._Builder); with `struck`, the
    struck ones too, status `entered-in-error` (fhir.transaction_bundle), else left out."""
    gone = struck_entries(events)
    out = []
    for e in events:
        if e["type"] not in EXPORTED or (e.get("id") in gone and not struck):
            continue
        status = {"status": "entered-in-error"} if e.get("id") in gone else {}
        for suffix, body in _resources(e):
            performer = {"performer": [{"display": e["author"]}]} if e.get("author") else {}
            # named by what it is, not by a database id, so an imported copy exports the same ids
            out.append(builder.entry(f"{e['type']}|{e['ts']!r}|{e.get('author') or ''}{suffix}", _category(e["type"]),
                                     {"effectiveDateTime": iso_utc_ms(e["ts"])}, **body, **performer, **status))
    return out
