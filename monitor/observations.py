"""Structured observations charted at the chair: sedation (MOAA/S), dissociation (CADSS-6),
side effects and the interventions given for them.

The scales are written here as data, each with its source; the functions are pure checks
that turn what a nurse entered (on the page, in a replayed or imported file, in a simulated
scenario) into an event's data and its one-line chart text, or say what is wrong with it,
naming the field. Each observation is an event of its own type (`moaas`, `cadss6`,
`side_effect`, `intervention`), signed like every entry and struck like one.

MOAA/S, the Modified Observer's Assessment of Alertness/Sedation: Chernik DA et al.,
"Validity and reliability of the Observer's Assessment of Alertness/Sedation Scale: study
with intravenous midazolam", J Clin Psychopharmacol 1990;10(4):244-251; the 0-5 form, 0 = no
response to pain. The esketamine (SPRAVATO) label measured sedation with it.

CADSS-6: Rodrigues NB et al., "A simplified 6-item clinician administered dissociative
symptom scale (CADSS-6) for monitoring dissociative effects of sub-anesthetic ketamine
infusions", J Affect Disord 2021;282:160: items 1, 2, 6, 7, 15 and 22 of the 23-item CADSS
(Bremner JD et al., J Trauma Stress 1998;11:125), Spearman's rho 0.91-0.95 with the full
scale. Each item is rated 0 (not at all) to 4 (extremely); the total is 0-24. The prompts
below are short paraphrases for the form, not the instrument's wording: items 1-15 are
asked of the patient; item 22 is one of the CADSS's observer items, rated by the clinician
as worded on the clinic's own CADSS form.
"""
from __future__ import annotations

from typing import Iterable, Optional

from .typed_entry import EntryError

# ----------------------------------------------------------------- MOAA/S
MOAAS_LEVELS = {
    5: "responds readily to name spoken in normal tone",
    4: "lethargic response to name spoken in normal tone",
    3: "responds only after name is called loudly or repeatedly",
    2: "responds only after mild prodding or shaking",
    1: "does not respond to mild prodding or shaking",
    0: "does not respond to pain",
}
MOAAS_AWAKE = 5  # anything lower is some degree of sedation

# ----------------------------------------------------------------- CADSS-6
CADSS6_ITEMS = {  # CADSS item number: (who answers, the form's prompt)
    1: ("patient", "Things seem to be moving in slow motion"),
    2: ("patient", "Things seem unreal, as if in a dream"),
    6: ("patient", "Feels disconnected from own body"),
    7: ("patient", "Sense of own body changed (unusually large or small)"),
    15: ("patient", "Spaces out, or loses track of what is going on"),
    22: ("observer", "Observer item 22, rated by the clinician as on the clinic's CADSS form"),
}
CADSS_ANCHORS = {0: "not at all", 1: "slightly", 2: "moderately", 3: "considerably", 4: "extremely"}
CADSS6_MAX = 4 * len(CADSS6_ITEMS)

# ----------------------------------------------------------------- side effects and interventions
# What the clinics document after ketamine (nausea, vomiting, anxiety, agitation,
# hallucinations, headache, dizziness); `other` needs a word on what it was.
SIDE_EFFECTS = {"nausea": "Nausea", "vomiting": "Vomiting", "anxiety": "Anxiety", "agitation": "Agitation",
                "hallucinations": "Hallucinations", "headache": "Headache", "dizziness": "Dizziness",
                "other": "Other"}
SEVERITIES = ("mild", "moderate", "severe")
INTERVENTIONS = {
    "ondansetron": "Ondansetron given", "midazolam": "Midazolam given", "infusion_paused": "Infusion paused",
    "rate_reduced": "Infusion rate reduced", "reassurance": "Reassurance, lights and sound lowered",
    "oxygen": "Supplemental oxygen", "airway": "Airway support (repositioning, jaw thrust)", "other": "Other",
}
DETAIL_MAX = 200

OBSERVATION_TYPES = ("moaas", "cadss6", "side_effect", "intervention")


def _whole(raw, label: str, low: int, high: int, errors: list) -> Optional[int]:
    """A whole number in [low, high] from a form value, a file's JSON or a scenario."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        errors.append(f"{label}: required")
        return None
    if isinstance(raw, bool):
        errors.append(f"{label}: expected a whole number {low}-{high}")
        return None
    try:
        value = float(str(raw).strip()) if isinstance(raw, str) else float(raw)
    except (TypeError, ValueError):
        errors.append(f"{label}: {str(raw)[:20]!r} is not a number")
        return None
    if not value.is_integer() or not low <= value <= high:
        errors.append(f"{label}: expected a whole number {low}-{high}, got {raw!r}")
        return None
    return int(value)


def _detail(raw, label: str, errors: list, required: bool = False) -> str:
    if raw is not None and not isinstance(raw, str):
        errors.append(f"{label}: expected text")
        return ""
    text = " ".join(str(raw or "").split())
    if required and not text:
        errors.append(f"{label}: say what it was")
    if len(text) > DETAIL_MAX:
        errors.append(f"{label}: {len(text)} characters, at most {DETAIL_MAX} (nothing was cut)")
    return text


# ----------------------------------------------------------------- entries: raw in, (data, text) out
def moaas_entry(score) -> tuple[dict, str]:
    errors: list[str] = []
    value = _whole(score, "MOAA/S", 0, 5, errors)
    if errors:
        raise EntryError(errors)
    return {"score": value}, f"MOAA/S {value}: {MOAAS_LEVELS[value]}"


def cadss6_entry(items) -> tuple[dict, str]:
    """items: {CADSS item number (int or its text): rating 0-4}, every one of the six."""
    errors: list[str] = []
    given = {str(k).strip(): v for k, v in dict(items or {}).items()} if isinstance(items, dict) else None
    if given is None:
        raise EntryError(["CADSS-6: expected a rating for each of items " + ", ".join(map(str, CADSS6_ITEMS))])
    unknown = sorted(set(given) - {str(n) for n in CADSS6_ITEMS})
    if unknown:
        errors.append(f"CADSS-6: no item {', '.join(unknown)} (the six are {', '.join(map(str, CADSS6_ITEMS))})")
    ratings = {}
    for n in CADSS6_ITEMS:
        ratings[str(n)] = _whole(given.get(str(n)), f"CADSS-6 item {n}", 0, 4, errors)
    if errors:
        raise EntryError(errors)
    total = sum(ratings.values())
    listed = ", ".join(f"{n}:{ratings[str(n)]}" for n in CADSS6_ITEMS)
    return {"items": ratings, "total": total}, f"CADSS-6 {total}/{CADSS6_MAX} (items {listed})"


def side_effect_entry(effects, other: str = "") -> tuple[dict, str]:
    """effects: {effect: severity} for each effect present (an effect left out is absent);
    `other` says what an `other` effect was."""
    errors: list[str] = []
    if not isinstance(effects, dict) or not any(effects.values()):
        raise EntryError(["Side effects: tick at least one, with its severity"])
    out = []
    for name, severity in effects.items():
        if not severity:
            continue
        if not isinstance(name, str) or name not in SIDE_EFFECTS:
            errors.append(f"Side effect {str(name)[:40]!r}: one of {', '.join(SIDE_EFFECTS)}")
            continue
        if not isinstance(severity, str) or severity not in SEVERITIES:
            errors.append(f"{SIDE_EFFECTS[name]}: severity one of {', '.join(SEVERITIES)}, got {str(severity)[:40]!r}")
            continue
        entry = {"effect": name, "severity": severity}
        if name == "other":
            entry["detail"] = _detail(other, "Other side effect", errors, required=True)
        out.append(entry)
    if errors:
        raise EntryError(errors)
    order = list(SIDE_EFFECTS)
    out.sort(key=lambda e: order.index(e["effect"]))
    return {"effects": out}, "Side effects: " + ", ".join(effect_words(e) for e in out)


def effect_words(effect: dict) -> str:
    """'nausea (moderate)'; another effect by what it was."""
    if effect.get("effect") == "other":
        name = effect.get("detail") or "other"
    else:
        name = SIDE_EFFECTS.get(effect.get("effect"), str(effect.get("effect"))).lower()
    return f"{name} ({effect.get('severity')})"


def intervention_entry(kind, detail: str = "") -> tuple[dict, str]:
    errors: list[str] = []
    if not isinstance(kind, str) or kind not in INTERVENTIONS:
        raise EntryError([f"Intervention: choose one of {', '.join(INTERVENTIONS)}"])
    text = _detail(detail, "Intervention detail", errors, required=kind == "other")
    if errors:
        raise EntryError(errors)
    data = {"intervention": kind, **({"detail": text} if text else {})}
    return data, f"Intervention: {INTERVENTIONS[kind] if kind != 'other' else text}" + (
        f" — {text}" if text and kind != "other" else "")


def entry(kind: str, raw: dict) -> tuple[dict, str]:
    """Any observation from its data's own shape (a file's or a scenario's): (data, text)."""
    raw = raw if isinstance(raw, dict) else {}
    if kind == "moaas":
        return moaas_entry(raw.get("score"))
    if kind == "cadss6":
        return cadss6_entry(raw.get("items"))
    if kind == "side_effect":
        effects = raw.get("effects")
        if not isinstance(effects, list) or not all(isinstance(e, dict) and isinstance(e.get("effect"), str)
                                                    for e in effects):
            raise EntryError(["Side effects: expected a list of {effect, severity}"])
        other = next((e.get("detail", "") for e in effects if e.get("effect") == "other"), "")
        return side_effect_entry({e.get("effect"): e.get("severity") for e in effects}, other)
    if kind == "intervention":
        return intervention_entry(raw.get("intervention"), raw.get("detail", ""))
    raise EntryError([f"{kind!r} is not an observation ({', '.join(OBSERVATION_TYPES)})"])


def check_data(kind: str, data: dict) -> Optional[str]:
    """Why an observation's stored data is not what its entry would have written (a file
    edited by hand: a CADSS-6 total that does not add up, a MOAA/S of 7), or None."""
    try:
        expected, _ = entry(kind, data)
    except EntryError as e:
        return str(e)
    mismatch = [k for k in expected if data.get(k) != expected[k]]
    if mismatch:
        return f"{kind} data: {', '.join(mismatch)} is {data.get(mismatch[0])!r}, the entry makes it {expected[mismatch[0]]!r}"
    return None


# ----------------------------------------------------------------- reading them back
def scale_value(event: dict) -> Optional[tuple[str, int]]:
    """("moaas", score) or ("cadss6", total) for a scale's event; None for anything else."""
    data = event.get("data") if isinstance(event.get("data"), dict) else {}
    if event.get("type") == "moaas" and isinstance(data.get("score"), int):
        return "moaas", data["score"]
    if event.get("type") == "cadss6" and isinstance(data.get("total"), int):
        return "cadss6", data["total"]
    return None


def short_label(event: dict) -> Optional[str]:
    """The mark's label on a chart: 'MOAA/S 3', 'CADSS-6 7', 'Nausea +1', 'Ondansetron given'."""
    data = event.get("data") if isinstance(event.get("data"), dict) else {}
    value = scale_value(event)
    if value is not None:
        return f"{SCALE_NAMES[value[0]]} {value[1]}"
    if event.get("type") == "side_effect" and data.get("effects"):
        first = data["effects"][0]
        name = first.get("detail") if first.get("effect") == "other" else SIDE_EFFECTS.get(first.get("effect"), "?")
        more = len(data["effects"]) - 1
        return f"{name}" + (f" +{more}" if more else "")
    if event.get("type") == "intervention":
        kind = data.get("intervention")
        return data.get("detail") if kind == "other" else INTERVENTIONS.get(kind)
    return None


SCALE_NAMES = {"moaas": "MOAA/S", "cadss6": "CADSS-6"}


def fold(seen: Optional[dict], events: Iterable[dict]) -> dict:
    """Fold events, in time order, into the bedside's small running view of the observations:
    the newest of each type and the lowest MOAA/S and highest CADSS-6 so far (value, when).
    Bounded in size however long the session; struck entries are the caller's to leave out."""
    out = {"latest": dict((seen or {}).get("latest", {})), "moaas": (seen or {}).get("moaas"),
           "cadss6": (seen or {}).get("cadss6")}
    for e in events:
        if e.get("type") not in OBSERVATION_TYPES:
            continue
        out["latest"][e["type"]] = {"ts": e["ts"], "label": short_label(e) or "", "author": e.get("author") or ""}
        value = scale_value(e)
        if value is not None:
            scale, v = value
            worst = out[scale]
            if worst is None or (v < worst["value"] if scale == "moaas" else v > worst["value"]):
                out[scale] = {"value": v, "ts": e["ts"]}
    return out


def summary(events: Iterable[dict], struck: Iterable[int] = ()) -> dict:
    """What a session's observations add up to, for the review and the report: `fold`'s view
    plus every side effect and intervention in time order and how many entries; struck
    entries left out."""
    gone = set(struck)
    kept = sorted((e for e in events if e.get("type") in OBSERVATION_TYPES and e.get("id") not in gone),
                  key=lambda e: (e["ts"], e.get("id") or 0))
    out = fold(None, kept)
    out["count"] = len(kept)
    out["side_effects"] = [{"ts": e["ts"], "words": effect_words(eff), "author": e.get("author") or "", **eff}
                           for e in kept if e["type"] == "side_effect" for eff in (e.get("data") or {}).get("effects", [])]
    out["interventions"] = [{"ts": e["ts"], "text": e.get("text") or "", "author": e.get("author") or "",
                             **(e.get("data") or {})} for e in kept if e["type"] == "intervention"]
    return out
