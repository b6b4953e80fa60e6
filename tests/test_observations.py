"""Structured observations (issue 13, item 1): MOAA/S, CADSS-6, side effects and interventions
as signed events, checked in one place (monitor/observations.py), on the bedside, the review
chart and cards, the report, the CSV (round trip and a refused hand edit) and FHIR; and the
`deep-sedation` and `emergence` scenarios that chart them."""
from __future__ import annotations

import json
import time

import pytest
from hypothesis import given, settings, strategies as st

from conftest import CLINICIAN, NURSE
from monitor import observations as obs
from monitor.exports import csv_export, fhir
from monitor.exports.html_report import report_html
from monitor.exports.svg_chart import session_svg
from monitor.model import Event
from monitor.playback import SIMULATED_NURSE, simulate
from monitor.session_review import load, summary_items
from monitor.store import Store, queries
from monitor.store.transfer import insert_session
from monitor.web import bedside, charting, observing, review_figures

pytestmark = pytest.mark.both_engines  # on SQLite and on PostgreSQL (conftest.py)

fhir_observation = pytest.importorskip("fhir.resources.R4B.observation")


# ----------------------------------------------------------------- the scales and entries
def test_moaas_entry_scores_0_to_5_with_the_chart_wording():
    assert obs.moaas_entry("3") == ({"score": 3}, "MOAA/S 3: responds only after name is called loudly or repeatedly")
    assert obs.moaas_entry(0)[0] == {"score": 0}
    for bad, why in ((6, "expected a whole number 0-5"), ("2.5", "expected a whole number 0-5"),
                     (None, "required"), ("x", "is not a number"), (True, "whole number")):
        with pytest.raises(obs.EntryError, match=why):
            obs.moaas_entry(bad)


def test_cadss6_needs_all_six_items_and_totals_them():
    data, text = obs.cadss6_entry({1: 1, 2: "0", 6: 2, 7: 0, 15: 3, 22: 1})
    assert data == {"items": {"1": 1, "2": 0, "6": 2, "7": 0, "15": 3, "22": 1}, "total": 7}
    assert text == "CADSS-6 7/24 (items 1:1, 2:0, 6:2, 7:0, 15:3, 22:1)"
    with pytest.raises(obs.EntryError) as e:
        obs.cadss6_entry({1: 5, 2: 0, 6: 0, 7: 0, 15: 0, 3: 1})
    assert e.value.errors == ["CADSS-6: no item 3 (the six are 1, 2, 6, 7, 15, 22)",
                              "CADSS-6 item 1: expected a whole number 0-4, got 5", "CADSS-6 item 22: required"]
    assert list(obs.CADSS6_ITEMS) == [1, 2, 6, 7, 15, 22] and obs.CADSS6_MAX == 24


def test_side_effects_need_a_severity_and_other_says_what():
    data, text = obs.side_effect_entry({"headache": "moderate", "nausea": "mild", "dizziness": None})
    assert data == {"effects": [{"effect": "nausea", "severity": "mild"}, {"effect": "headache", "severity": "moderate"}]}
    assert text == "Side effects: nausea (mild), headache (moderate)"
    with pytest.raises(obs.EntryError, match="tick at least one"):
        obs.side_effect_entry({"nausea": None})
    with pytest.raises(obs.EntryError, match="Other side effect: say what it was"):
        obs.side_effect_entry({"other": "mild"})
    with pytest.raises(obs.EntryError, match="Nausea: severity one of mild, moderate, severe"):
        obs.side_effect_entry({"nausea": "awful"})
    assert obs.side_effect_entry({"other": "severe"}, "  tingling   lips ")[1] == "Side effects: tingling lips (severe)"


def test_interventions_from_the_list_other_needs_words():
    assert obs.intervention_entry("ondansetron", "4 mg IV") == (
        {"intervention": "ondansetron", "detail": "4 mg IV"}, "Intervention: Ondansetron given — 4 mg IV")
    assert obs.intervention_entry("infusion_paused")[1] == "Intervention: Infusion paused"
    with pytest.raises(obs.EntryError, match="choose one of"):
        obs.intervention_entry("aspirin")
    with pytest.raises(obs.EntryError, match="say what it was"):
        obs.intervention_entry("other", " ")
    with pytest.raises(obs.EntryError, match="at most 200"):
        obs.intervention_entry("midazolam", "x" * 201)


def test_check_data_refuses_what_no_entry_could_have_written():
    data, _ = obs.cadss6_entry({1: 1, 2: 1, 6: 1, 7: 1, 15: 1, 22: 1})
    assert obs.check_data("cadss6", data) is None
    assert obs.check_data("cadss6", {**data, "total": 9}) == "cadss6 data: total is 9, the entry makes it 6"
    assert "expected a whole number 0-5" in obs.check_data("moaas", {"score": 9})
    assert "expected a list" in obs.check_data("side_effect", {"effects": "nausea"})


JSON = st.recursive(st.none() | st.booleans() | st.integers(-5, 30) | st.floats(allow_nan=True) | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                    max_leaves=12)
SHAPED = st.fixed_dictionaries({}, optional={
    "score": JSON, "items": st.dictionaries(st.sampled_from(["1", "2", "6", "7", "15", "22", "3"]), JSON) | JSON,
    "total": JSON, "intervention": st.sampled_from(list(obs.INTERVENTIONS)) | JSON, "detail": JSON,
    "effects": st.lists(st.fixed_dictionaries({}, optional={"effect": st.sampled_from(list(obs.SIDE_EFFECTS)) | JSON,
                                                            "severity": st.sampled_from(obs.SEVERITIES) | JSON,
                                                            "detail": JSON}), max_size=4) | JSON})


@pytest.mark.slow
@settings(max_examples=120, deadline=None)
@given(kind=st.sampled_from(obs.OBSERVATION_TYPES), data=SHAPED | JSON)
def test_any_file_data_gets_an_answer_never_an_exception(kind, data):
    """What a hand-edited CSV may carry: check_data says why it is wrong (or that it is right),
    it never raises, so import names the line instead of failing with a traceback."""
    why = obs.check_data(kind, data if isinstance(data, dict) else {"score": data})
    assert why is None or isinstance(why, str)


def test_fold_keeps_the_newest_and_the_worst():
    events = [{"id": i, "ts": t, "type": k, "author": "RN", "data": obs.entry(k, raw)[0]}
              for i, (t, k, raw) in enumerate([(10, "moaas", {"score": 4}), (20, "moaas", {"score": 2}),
                                                (30, "moaas", {"score": 5}),
                                                (40, "cadss6", {"items": dict.fromkeys("1 2 6 7 15 22".split(), 2)}),
                                                (50, "intervention", {"intervention": "reassurance"})], 1)]
    seen = obs.fold(None, events)
    assert seen["moaas"] == {"value": 2, "ts": 20} and seen["cadss6"] == {"value": 12, "ts": 40}
    assert seen["latest"]["moaas"]["label"] == "MOAA/S 5" and seen["latest"]["cadss6"]["label"] == "CADSS-6 12"
    assert seen["latest"]["intervention"]["label"] == "Reassurance, lights and sound lowered"
    # a struck score no longer counts in the record's summary
    assert obs.summary(events, struck=[2])["moaas"] == {"value": 4, "ts": 10}


# ----------------------------------------------------------------- charted from the bedside
@pytest.fixture
def session(store):
    sid = store.open_session("P1", "7", "ketamine-iv", time.time() - 600)[0]
    return sid, {"chair": "7", "session_id": sid}


def test_each_observation_is_one_signed_audited_event(store, session):
    sid, state = session
    assert observing.observation_action(store, state, NURSE, "moaas", {"score": 2}) == (
        "Recorded: MOAA/S 2: responds only after mild prodding or shaking (RN).", True)
    items = dict.fromkeys(obs.CADSS6_ITEMS, 1)
    assert observing.observation_action(store, state, NURSE, "cadss6", {"items": items})[1]
    assert observing.observation_action(store, state, CLINICIAN, "side_effect",
                                        {"effects": {"nausea": "mild", "vomiting": observing.NONE}})[1]
    assert observing.observation_action(store, state, NURSE, "intervention",
                                        {"intervention": "ondansetron", "detail": "4 mg IV"})[1]
    events = queries.events(store, sid)
    assert [(e["type"], e["author"]) for e in events] == [("moaas", "RN"), ("cadss6", "RN"), ("side_effect", "DR"),
                                                          ("intervention", "RN")]
    assert events[2]["data"] == {"effects": [{"effect": "nausea", "severity": "mild"}]}
    audited = [r["action"] for r in store._query("SELECT action FROM audit WHERE session_id = ?", (sid,))]
    assert audited == ["moaas", "cadss6", "side_effect", "intervention"]


def test_an_incomplete_form_writes_nothing_and_names_the_field(store, session):
    sid, state = session
    msg, ok = observing.observation_action(store, state, NURSE, "cadss6", {"items": {1: 2, 2: None}})
    assert not ok and "CADSS-6 item 2: required" in msg and "CADSS-6 item 22: required" in msg
    msg, ok = observing.observation_action(store, state, NURSE, "side_effect", {"effects": {}, "other": ""})
    assert (msg, ok) == ("Side effects: tick at least one, with its severity", False)
    assert queries.events(store, sid) == []


def test_an_observation_can_be_struck_and_not_after_the_end(store, session):
    sid, state = session
    observing.observation_action(store, state, NURSE, "moaas", {"score": 1})
    (ev,) = queries.events(store, sid)
    assert charting.strike_action(store, state, NURSE, ev["id"], "wrong patient's score")[1]
    store.record_event(sid, Event(time.time(), "session_end", "", "DR"))
    msg, ok = observing.observation_action(store, state, NURSE, "moaas", {"score": 5})
    assert not ok and "ended" in msg


def test_bedside_lane_shows_the_newest_and_controls_follow_the_session(store, protocol, session):
    sid, state = session
    out = dict(zip(bedside.KEYS, bedside.bedside_tick(store, protocol, {"chair": "7", "session_id": None}, "nurse")))
    assert "No sedation, dissociation or side-effect entry yet." in str(out["obs-latest.children"])
    assert out["obs-moaas-save.disabled"] is False
    page = out["bed-state.data"]
    observing.observation_action(store, state, NURSE, "moaas", {"score": 3})
    observing.observation_action(store, state, NURSE, "moaas", {"score": 4})
    out = dict(zip(bedside.KEYS, bedside.bedside_tick(store, protocol, page, "nurse")))
    lane = str(out["obs-latest.children"])
    assert "MOAA/S 4" in lane and "lowest MOAA/S 3" in lane
    marks = out["bed-trend-new.data"]["notes"]
    assert [n["text"] for n in marks] == ["MOAA/S 3", "MOAA/S 4"]
    store.record_event(sid, Event(time.time(), "session_end", "", "DR"))
    out = dict(zip(bedside.KEYS, bedside.bedside_tick(store, protocol, {"chair": "7", "session_id": None}, "nurse")))
    assert out["obs-moaas-save.disabled"] is True and "ended" in out["obs-moaas-save.title"]


# ----------------------------------------------------------------- the simulated scenarios, review and exports
@pytest.fixture(scope="module")
def scenarios(tmp_path_factory, protocol):
    """One store with the two scenarios that chart observations, simulated once."""
    store = Store(tmp_path_factory.mktemp("observations") / "monitor.db")
    ids = {name: simulate(store, protocol, name, seed=3, chair=name).session_id for name in ("deep-sedation", "emergence")}
    yield store, ids
    store.close()


@pytest.mark.slow
def test_deep_sedation_charts_a_moaas_of_1_and_airway_support(scenarios):
    store, ids = scenarios
    events = queries.events(store, ids["deep-sedation"])
    scores = [e["data"]["score"] for e in events if e["type"] == "moaas"]
    assert scores == [4, 1, 3, 5]
    assert [e["data"]["intervention"] for e in events if e["type"] == "intervention"] == ["airway", "rate_reduced"]
    assert {e["author"] for e in events if e["type"] in obs.OBSERVATION_TYPES} == {SIMULATED_NURSE}
    assert any(a["parameter"] == "spo2" for a in queries.alerts(store, ids["deep-sedation"]))
    assert [(e["data"]["total"], e["data"]["activity"]) for e in events if e["type"] == "padss"] == [(9, 1), (10, 2)]


@pytest.mark.slow
def test_emergence_charts_side_effects_and_their_treatment(scenarios):
    store, ids = scenarios
    events = queries.events(store, ids["emergence"])
    effects = [eff["effect"] for e in events if e["type"] == "side_effect" for eff in e["data"]["effects"]]
    assert effects == ["anxiety", "agitation", "hallucinations", "nausea"]
    assert [e["data"]["intervention"] for e in events if e["type"] == "intervention"] == [
        "midazolam", "reassurance", "ondansetron"]
    assert max(e["data"]["total"] for e in events if e["type"] == "cadss6") == 18


@pytest.mark.slow
def test_review_cards_lane_and_report(scenarios, protocol):
    store, ids = scenarios
    review = load(store, ids["emergence"])
    cards = {label: (value, detail) for label, value, detail in summary_items(review)}
    assert cards["Highest CADSS-6"][0] == "18/24" and cards["Lowest MOAA/S"][0] == "4"
    assert cards["Side effects"] == ("4", "anxiety (moderate), agitation (severe), hallucinations (moderate), "
                                          "nausea (mild)")
    assert cards["Interventions"][0] == "3" and "Midazolam given — 1 mg IV" in cards["Interventions"][1]
    fig = review_figures.session_figure(review, protocol)
    lane = {t["name"]: t for t in fig["data"] if t.get("yaxis") in ("y4", "y5")}
    assert lane["MOAA/S"]["y"] == [5, 4, 5] and lane["CADSS-6"]["y"] == [18, 7, 0]
    assert fig["layout"]["yaxis4"]["domain"][1] <= fig["layout"]["yaxis"]["domain"][0]
    assert "CADSS-6 18" in session_svg(review, protocol)
    html = report_html(store, ids["emergence"], protocol)
    assert "Highest CADSS-6" in html and "Side effects: anxiety (moderate)" in html


def test_a_session_without_observations_has_no_lane_or_cards(store, protocol, session):
    sid, _ = session
    review = load(store, sid)
    assert "Lowest MOAA/S" not in {label for label, _, _ in summary_items(review)}
    assert "yaxis4" not in review_figures.session_figure(review, protocol)["layout"]


@pytest.mark.slow
def test_csv_round_trip_and_a_hand_edited_total_is_refused(scenarios, store):
    source, ids = scenarios
    text = csv_export.to_csv(source, ids["emergence"])
    parsed = csv_export.parse_text(text, "emergence.csv")
    copy = insert_session(store, parsed.session, parsed.baselines, parsed.readings, parsed.alerts,
                          parsed.events)
    kinds = ("type", "ts", "text", "author", "data")
    assert ([tuple(e[k] for k in kinds) for e in queries.events(store, copy)]
            == [tuple(e[k] for k in kinds) for e in queries.events(source, ids["emergence"])])
    lines = text.splitlines()
    n = next(i for i, line in enumerate(lines) if ",cadss6," in line)
    lines[n] = lines[n].replace('""total"": 18', '""total"": 20')
    with pytest.raises(csv_export.CsvImportError,
                       match=rf"edited.csv: line {n + 1}: data: cadss6 data: total is 20, the entry makes it 18"):
        csv_export.parse_text("\n".join(lines) + "\n", "edited.csv")


@pytest.mark.slow
def test_fhir_observations_carry_snomed_findings_and_local_scale_codes(scenarios):
    store, ids = scenarios
    bundle = json.loads(fhir.bundle_json(store, ids["emergence"]))
    ours = [e["resource"] for e in bundle["entry"]
            if e["resource"]["category"][0]["coding"][0]["code"] != "vital-signs"]
    for r in ours:
        fhir_observation.Observation.model_validate(r)
        assert r["performer"] == [{"display": SIMULATED_NURSE}] and "meta" not in r
    codes = [(c["system"], c["code"]) for r in ours for c in r["code"]["coding"]]
    assert ("urn:infusion-monitor:code", "moaas") in codes and ("urn:infusion-monitor:code", "cadss6") in codes
    assert ("http://snomed.info/sct", "24199005") in codes and ("http://snomed.info/sct", "422587007") in codes
    agitation = next(r for r in ours if r["code"]["coding"][0]["code"] == "24199005")
    assert agitation["valueCodeableConcept"]["coding"][0]["code"] == "24484000"  # severe
    cadss = next(r for r in ours if r["code"]["coding"][0]["code"] == "cadss6" and r["valueInteger"] == 18)
    assert [c["valueInteger"] for c in cadss["component"]] == [3, 4, 3, 2, 3, 3]
    assert {r["category"][0]["coding"][0]["code"] for r in ours} == {"survey", "exam", "therapy"}
    padss = next(r for r in ours if r["code"]["coding"][0]["code"] == "padss")
    assert padss["valueInteger"] == 9 and len(padss["component"]) == 5


def test_bedside_layout_ids_are_unique(store, protocol):
    """Dash wires callbacks by id: a panel reusing another's id (the "other" effect's radio and
    its text box once did) would send one control's value to the other's callback."""
    ids = []

    def walk(node):
        if isinstance(node, (list, tuple)):
            for child in node:
                walk(child)
            return
        if getattr(node, "id", None) is not None:
            ids.append(str(node.id))
        walk_children = getattr(node, "children", None)
        if walk_children is not None and not isinstance(walk_children, str):
            walk(walk_children)

    walk(bedside.layout(store, protocol, "/3"))
    assert "obs-se-what" in ids and "obs-se-other" in ids
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
