"""A session as a FHIR R4 Bundle (type collection) of vital-signs Observations.

- One blood-pressure panel (LOINC 85354-9) per NIBP measurement, with SBP 8480-6,
  DBP 8462-4 and MAP 8478-0 components in mm[Hg].
- Heart rate (8867-4, /min) and SpO2 (59408-5 pulse oximetry plus 2708-6, %) from
  the 1 Hz oximeter, respiratory rate (9279-1, /min) and end-tidal CO2 (19889-5,
  mm[Hg]) from the 1 Hz capnograph, each summarised per clock minute as the median of
  that minute's valid readings, with effectivePeriod covering the minute: a record
  wants the trend, not 3,600 rows an hour. (A median hides a short apnea: the alarms,
  in the report and the CSV, are where one is recorded.)
- The structured observations (MOAA/S, CADSS-6, side effects, interventions, PADSS), with
  the codes and local codes listed in fhir_observations.py.
- Subject: the patient by identifier (the clinic's patient reference), since the
  monitor holds no Patient resource of its own.
`transaction_bundle` is the same entries as a FHIR transaction for a server
(monitor/integrations/session_push.py), see its docstring.
Flagged readings (sensor off, searching, artifact, error) are left out. The shared summaries and
codes are in vital_signs.py (the HL7 v2 export uses the same). Plain dicts
and json only; the tests validate the output with the `fhir.resources` R4B models.
"""
from __future__ import annotations

import json
import time
import uuid
from typing import Optional

from ..formatting import iso_utc_ms
from ..store import Store, queries
from . import ExportError, fhir_observations
from .vital_signs import CODES, CONTINUOUS, UNITS, bp_measurements, per_minute

UCUM = "http://unitsofmeasure.org"
PATIENT_SYSTEM = "urn:infusion-monitor:patient-ref"
OBSERVATION_SYSTEM = "urn:infusion-monitor:observation"
CATEGORY = [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                         "code": "vital-signs", "display": "Vital Signs"}], "text": "Vital Signs"}]
PROFILE = "http://hl7.org/fhir/StructureDefinition/"
NAMESPACE = uuid.UUID("6f1f1b9e-5f0e-4d7c-9a8e-1c3b0e6a2d41")  # this program's uuid5 namespace

UNIT_TEXT = {"mm[Hg]": "mmHg", "/min": "beats/minute", "%": "%"}
UNIT_TEXT_OF = {"rr": "breaths/minute"}  # where the same UCUM unit reads otherwise
TEXT = {"bp": "Blood pressure", "sbp": "Systolic blood pressure", "dbp": "Diastolic blood pressure",
        "map": "Mean blood pressure", "hr": "Heart rate", "spo2": "Oxygen saturation (pulse oximetry)",
        "rr": "Respiratory rate", "etco2": "End-tidal CO2 (capnography)"}
# The vital-signs profile each kind also claims; EtCO2 has none of its own (only vitalsigns).
PROFILES = {"bp": "bp", "hr": "heartrate", "spo2": "oxygensat", "rr": "resprate"}
PER_MINUTE = CONTINUOUS  # the 1 Hz devices' parameters, summarised per minute


def _code(kind: str) -> dict:
    return {"coding": [{"system": s, "code": c, "display": d} for s, c, d in CODES[kind]], "text": TEXT[kind]}


def _quantity(parameter: str, value: float) -> dict:
    unit = UNITS[parameter]
    v = int(value) if float(value).is_integer() else round(float(value), 2)
    return {"value": v, "unit": UNIT_TEXT_OF.get(parameter, UNIT_TEXT[unit]), "system": UCUM, "code": unit}


class _Builder:
    def __init__(self, session: dict):
        self.session = session
        self.seed = f"{session['patient_ref']}|{session['chair']}|{session['started_at']!r}"
        self.subject = {"type": "Patient", "identifier": {"system": PATIENT_SYSTEM, "value": session["patient_ref"]},
                        "display": session["patient_ref"]}

    def observation(self, kind: str, local_id: str, effective: dict, **body) -> dict:
        """A vital-signs Observation (FHIR's vital-signs profiles)."""
        profiles = [PROFILE + "vitalsigns"] + ([PROFILE + PROFILES[kind]] if kind in PROFILES else [])
        return self.entry(local_id, CATEGORY, effective, code=_code(kind), meta={"profile": profiles}, **body)

    def entry(self, local_id: str, category: list, effective: dict, **body) -> dict:
        """An Observation about this session's patient, its id derived from `local_id` (stable
        across exports); body: its code, value and the rest."""
        ident = f"{self.seed}|{local_id}"
        rid = str(uuid.uuid5(NAMESPACE, ident))
        meta = body.pop("meta", None)
        resource = {
            "resourceType": "Observation",
            "id": rid,
            **({"meta": meta} if meta else {}),
            "identifier": [{"system": OBSERVATION_SYSTEM, "value": rid}],
            "status": "final",
            "category": category,
            "subject": self.subject,
            **effective,
            **body,
        }
        return {"fullUrl": f"urn:uuid:{rid}", "resource": resource}


def bundle(store: Store, session_id: int, now: Optional[float] = None, *, struck: bool = False) -> dict:
    """The collection Bundle; with `struck`, also each struck structured observation, its status
    `entered-in-error` (what a server that already holds it must be told; a file leaves it out)."""
    s = queries.session(store, session_id)
    if s is None:
        raise ExportError(f"no session {session_id}")
    if not s["patient_ref"]:
        raise ExportError(f"session {session_id} has no patient reference; a FHIR Observation needs a subject")
    b = _Builder(s)
    readings = queries.readings(store, session_id, ("sbp", "dbp", "map") + PER_MINUTE)
    entries = []
    absent = {"dataAbsentReason": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/data-absent-reason",
                                               "code": "unknown", "display": "Unknown"}]}}
    for ts, values in bp_measurements(readings):
        components = []
        for p in ("sbp", "dbp", "map"):
            if p in values:
                components.append({"code": _code(p), "valueQuantity": _quantity(p, values[p])})
            elif p != "map":  # the bp profile wants both SBP and DBP, each a value or a reason
                components.append({"code": _code(p), **absent})
        manual = {}
        if "manual" in values:  # typed by a nurse from a manual cuff, not measured by the monitor's cuff
            who = values["manual"].rpartition("entered by ")[2] or "?"
            manual = {"method": {"text": values["manual"]}, "performer": [{"display": who}]}
        entries.append(b.observation("bp", f"bp|{ts!r}", {"effectiveDateTime": iso_utc_ms(ts)},
                                     component=components, **manual))
    for p in PER_MINUTE:
        for start, value, n in per_minute(readings, p):
            period = {"effectivePeriod": {"start": iso_utc_ms(start), "end": iso_utc_ms(start + 60)}}
            entries.append(b.observation(
                p, f"{p}|{start!r}", period, valueQuantity=_quantity(p, value),
                note=[{"text": f"Median of {n} valid 1 Hz readings in this minute"}]))
    entries += fhir_observations.entries(b, queries.events(store, session_id), struck=struck)
    entries.sort(key=lambda e: (e["resource"].get("effectiveDateTime")
                                or e["resource"]["effectivePeriod"]["start"]))
    out = {
        "resourceType": "Bundle",
        "id": str(uuid.uuid5(NAMESPACE, b.seed)),
        "identifier": {"system": "urn:infusion-monitor:session", "value": str(uuid.uuid5(NAMESPACE, b.seed))},
        "type": "collection",
        "timestamp": iso_utc_ms(time.time() if now is None else now),
    }
    if entries:  # FHIR arrays are never empty: no measurements, no entry element
        out["entry"] = entries
    return out


def bundle_json(store: Store, session_id: int) -> str:
    return json.dumps(bundle(store, session_id), indent=1, ensure_ascii=False) + "\n"


def conditional_url(resource: dict) -> str:
    """The conditional-update url of one of this program's Observations: found by its identifier."""
    ident = next(i for i in resource["identifier"] if i["system"] == OBSERVATION_SYSTEM)
    return f"Observation?identifier={OBSERVATION_SYSTEM}|{ident['value']}"


def transaction_bundle(store: Store, session_id: int, now: Optional[float] = None) -> dict:
    """The session's Observations as a FHIR R4 transaction for a server: each entry a
    conditional update (`PUT Observation?identifier=urn:infusion-monitor:observation|<id>`), so
    sending the session again (a late sign-off, a lost answer) updates the resources the server
    already holds instead of creating copies. Why each entry looks as it does (R4 3.1.0.11,
    http.html#cond-update):
    - no `id` in the resource: the server gives its own logical ids; a conditional update that
      carried one would be refused (400) when a server had already stored the match under
      another id, and a server without update-as-create could not take the first send at all;
    - `fullUrl` stays `urn:uuid:<the stable id>`, unique in the Bundle (bdl-7), so the entries
      keep the names the collection export gives them;
    - the Bundle itself also loses `id` and `identifier`: a transaction is a request, not a
      document to keep (the server stores the Observations, not the Bundle);
    - a structured observation struck after it was sent is sent again as `entered-in-error`
      (same identifier): the server's copy is withdrawn, not left standing as final."""
    out = bundle(store, session_id, now=now, struck=True)
    out = {k: v for k, v in out.items() if k not in ("id", "identifier")}
    out["type"] = "transaction"
    entries = []
    for e in out.get("entry", []):
        resource = {k: v for k, v in e["resource"].items() if k != "id"}
        entries.append({"fullUrl": e["fullUrl"], "resource": resource,
                        "request": {"method": "PUT", "url": conditional_url(resource)}})
    if entries:
        out["entry"] = entries
    return out


def transaction_json(store: Store, session_id: int, now: Optional[float] = None) -> str:
    """transaction_bundle as compact JSON text (what the outbox keeps and the sender POSTs)."""
    return compact_json(transaction_bundle(store, session_id, now=now))


def compact_json(resource: dict) -> str:
    """A resource as JSON text without the export's indentation (a message, not a file)."""
    return json.dumps(resource, ensure_ascii=False, separators=(",", ":"))
