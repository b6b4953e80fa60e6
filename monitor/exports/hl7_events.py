"""What a charted event says as HL7 v2 OBX results (the content; hl7_results.py builds the
segments around it).

Which events are sent (SENT), and why:
- infusion_start, infusion_stop, dose_change, medication, session_end, note: what was done
  to the patient and when; a receiving record needs them to read the vital signs
  (a BP rise means something else after the infusion started). OBX-2 ST, the event's text.
- moaas, cadss6, aldrete, padss: scores, OBX-2 NM with this program's local codes (the same
  as the FHIR export's, fhir_observations.py: MOAA/S, CADSS-6, PADSS have no LOINC or SNOMED
  CT code), a total and one OBX per item.
- side_effect: one OBX-2 CWE per effect, OBX-3 its SNOMED CT finding and OBX-5 its SNOMED
  CT severity (the codes of fhir_observations.py); intervention: OBX-2 CWE, local codes.
- discharge: the decision to send the patient home, and its override reason.
Not sent: acknowledge, limit_change, baseline_set, monitoring_interrupted (the monitor's own
working, not observations of the patient); review_signoff (a reviewer's act on the record,
after the fact); manual_vitals (a manual cuff BP is stored as readings with source
`manual` and sent as an NIBP result, manual_vitals' other numbers are left for part 2);
correction: it is sent as the struck entry's results with OBX-11 `W` (hl7_results.py).

Free text (a note, an "other" side effect's words, a medication's lot) goes through the
message's escaping, never raw (hl7_results.text).
"""
from __future__ import annotations

from ..discharge import PADSS_ITEMS, PADSS_LABELS
from ..model import event_label
from ..observations import CADSS6_ITEMS, INTERVENTIONS
from ..scores import ALDRETE_ITEMS, ALDRETE_LABELS
from .fhir_observations import SEVERITY_SNOMED, SIDE_EFFECT_SNOMED

LOCAL = "99IMN"  # HL7 v2 local coding system ("99zzz", HL7 table 0396): this program's own codes
SNOMED = "SCT"  # HL7 table 0396: SNOMED CT

SENT = ("infusion_start", "infusion_stop", "dose_change", "medication", "note", "moaas", "cadss6",
        "aldrete", "padss", "side_effect", "intervention", "discharge", "session_end")

# the event types not sent, each with why (every type in model.EVENT_TYPES is in SENT or here)
NOT_SENT = {
    "acknowledge": "the monitor's own working: someone signed for an alarm",
    "limit_change": "the monitor's own working: an alarm limit for this session",
    "baseline_set": "the monitor's own working: the reference its relative alarms use",
    "monitoring_interrupted": "the monitor's own working: a gap in acquisition",
    "review_signoff": "a reviewer's act on the record after the session, not an observation of the patient",
    "manual_vitals": "its BP is stored as readings (source manual) and sent as an NIBP result",
    "correction": "sent as the struck entry's results with OBX-11 W",
}

# score event -> (local code, display, its items: [(data key, item code, item display)])
SCORES = {
    "moaas": ("moaas", "MOAA/S sedation score (0-5)", "score", []),
    "cadss6": ("cadss6", "CADSS-6 dissociation total (0-24)", "total",
               [(str(n), f"cadss-item-{n}", f"CADSS item {n}") for n in CADSS6_ITEMS]),
    "aldrete": ("aldrete", "Modified Aldrete score (0-10)", "total",
                [(k, f"aldrete-{k}", f"Aldrete {ALDRETE_LABELS[k]}") for k in ALDRETE_ITEMS]),
    "padss": ("padss", "PADSS discharge score (0-10)", "total",
              [(k, f"padss-{k}", f"PADSS {PADSS_LABELS[k]}") for k in PADSS_ITEMS]),
}


def observations(event: dict) -> tuple[list[dict], list[str]]:
    """(OBX contents, notes) of one sent event. An OBX content is {"type": "NM"|"ST"|"CWE",
    "code": [CWE components], "value": a number, a text or [CWE components]}; texts are
    unescaped here (the builder escapes them). Notes become NTE segments after the OBX."""
    t, data = event["type"], event.get("data") or {}
    text = event.get("text") or ""
    notes = []
    if t in SCORES:
        code, display, key, items = SCORES[t]
        source = data.get("items", data) if t == "cadss6" else data
        obx = [{"type": "NM", "code": [code, display, LOCAL], "value": data[key]}]
        obx += [{"type": "NM", "code": [icode, idisplay, LOCAL], "value": source[k]}
                for k, icode, idisplay in items if isinstance(source.get(k), (int, float))]
        notes = [text] if text else []
    elif t == "side_effect":
        obx = []
        for eff in data.get("effects", []):
            if eff["effect"] in SIDE_EFFECT_SNOMED:
                finding = [*SIDE_EFFECT_SNOMED[eff["effect"]], SNOMED]
            else:
                finding = ["side-effect-other", "Other side effect", LOCAL]
                if eff.get("detail"):
                    notes.append(f"Other side effect: {eff['detail']}")
            obx.append({"type": "CWE", "code": finding, "value": [*SEVERITY_SNOMED[eff["severity"]], SNOMED]})
    elif t == "intervention":
        kind = data.get("intervention", "other")
        obx = [{"type": "CWE", "code": ["intervention", "Intervention", LOCAL],
                "value": [kind, INTERVENTIONS.get(kind, kind), LOCAL]}]
        notes = [data["detail"]] if data.get("detail") else []
    else:
        obx = [{"type": "ST", "code": [t, event_label(t), LOCAL], "value": text or event_label(t)}]
        for reason in ("override", "reason"):
            if isinstance(data.get(reason), str) and data[reason]:
                notes.append(f"{reason.capitalize()}: {data[reason]}")
    if data.get("late"):
        notes.append("Late entry, charted after the session had ended")
    return obx, notes
