"""Respiration (issue 13 item 5): RR and EtCO2 from a capnograph, their rules in the profile
(rr_low, apnea, etco2_high), a charted RR only when the profile says so, the simulated
capnograph and its respiratory-depression scenario, and the parameters through the trend,
the review, the report and the CSV and FHIR exports."""
from __future__ import annotations

import json
from dataclasses import replace

import pytest
from click.testing import CliRunner

from monitor.alarm_whatif import rerun
from monitor.alerts.engine import AlertEngine
from monitor.cli import main
from monitor.exports.csv_export import parse_text as parse_export, to_csv
from monitor.exports.fhir import bundle
from monitor.exports.html_report import report_html
from monitor.model import CONTINUOUS, PARAMETERS, PHYSICAL_RANGES, Alert, Event, Reading
from monitor.protocol import ProtocolError, parse_protocol
from monitor.scores import news2_inputs
from monitor.replay_csv import ReplayError, parse_text as parse_replay
from monitor.session_review import load, summary_items
from monitor.store import Store, queries
from monitor.store.transfer import insert_session
from monitor.web import review_figures, trend
from monitor.web.bedside_view import numerics

from adapters.sim import Patient, SimBedside
from adapters.sim.physiology import INFUSION_START_S, SESSION_LENGTH_S

pytestmark = pytest.mark.both_engines  # on SQLite and on PostgreSQL (conftest.py)

T0 = 1_700_000_000.0
CAPNO = "capno"


def alerts_of(changes) -> list[Alert]:
    return [c for c in changes if isinstance(c, Alert)]


def run_capnograph(engine, parameter, values, start=T0, source=CAPNO):
    """Feed one value a second; {second: alerts that changed then}."""
    out = {}
    for k, v in enumerate(values):
        changed = alerts_of(engine.feed(Reading(start + k, parameter, v, "ok", source)))
        if changed:
            out[k] = changed
    return out


# ----------------------------------------------------------------- the vocabulary and the profile
def test_rr_and_etco2_are_continuous_parameters_with_physical_ranges():
    assert {"rr", "etco2"} <= set(PARAMETERS) and {"rr", "etco2"} <= set(CONTINUOUS)
    assert PHYSICAL_RANGES["rr"] == (0, 150) and PHYSICAL_RANGES["etco2"] == (0, 150)


def test_shipped_profiles_have_the_respiratory_rules(protocol):
    rules = {r.id: r for r in protocol.rules}
    low, apnea, etco2 = rules["rr_low"], rules["apnea"], rules["etco2_high"]
    assert (low.parameter, low.clauses[0].op, low.clauses[0].limit, low.for_s, low.priority) == ("rr", "<", 8, 30, "medium")
    assert (apnea.parameter, apnea.clauses[0].op, apnea.clauses[0].limit, apnea.for_s, apnea.priority) == (
        "rr", "<", 1, 20, "high")
    assert (etco2.parameter, etco2.clauses[0].op, etco2.clauses[0].limit, etco2.priority) == ("etco2", ">", 50, "high")
    assert protocol.manual_rr_counts is False


def _edited(protocol, edit) -> dict:
    data = json.loads(json.dumps(protocol.raw))
    edit(data)
    return data


@pytest.mark.parametrize("edit, words", [
    (lambda d: d["rules"]["rr_low"].update(limit=20, bounds=[6, 20]), "rules.rr_low.bounds: [6, 20] reach outside 1..12 /min"),
    (lambda d: d["rules"]["etco2_high"].update(limit=100, bounds=[45, 100]), "outside 40..80 mmHg"),
    (lambda d: d["rules"]["etco2_high"].update(op="<"), "etco2 < with limit is not an alarm"),
    (lambda d: d["rules"]["apnea"].update(for_s=90), "rules.apnea.for_s: 90 is outside 0..60 s"),
    (lambda d: d["rules"]["apnea"].update(limit=9, bounds=[1, 10]), "apnea"),  # a HIGH limit inside the MEDIUM one
    (lambda d: d["hysteresis"].update(etco2=9), "hysteresis.etco2: 9 is outside 0..5 mmHg"),
    (lambda d: d["respiration"].update(manual_rr_counts="yes"), "respiration.manual_rr_counts: expected true or false"),
    (lambda d: d["respiration"].update(counted=True), "respiration.counted: unknown key"),
])
def test_bad_respiratory_numbers_are_refused_naming_the_key(protocol, edit, words):
    with pytest.raises(ProtocolError) as e:
        parse_protocol(_edited(protocol, edit), "clinic.toml")
    assert str(e.value).startswith("clinic.toml: ") and words in str(e.value)


def test_a_profile_without_the_respiration_table_keeps_its_meaning(protocol):
    """Profiles copied before respiration existed load as they did: a charted RR counts for nothing."""
    data = _edited(protocol, lambda d: d.pop("respiration"))
    assert parse_protocol(data, "old.toml").manual_rr_counts is False
    data["respiration"] = {"manual_rr_counts": True}
    assert parse_protocol(data, "new.toml").manual_rr_counts is True


# ----------------------------------------------------------------- the engine
def test_rr_low_after_30_s_and_not_before(protocol):
    engine = AlertEngine(protocol)
    changed = run_capnograph(engine, "rr", [14] * 5 + [6] * 40)
    (first_second, (alert,)), *_ = changed.items()
    assert first_second == 5 + 30  # the first low reading at 5 s, the window complete at 35 s
    assert (alert.rule, alert.priority, alert.parameter, alert.value, alert.limit) == ("rr_low", "medium", "rr", 6, 8)
    assert alert.started_at == T0 + 35 and alert.message == "RR 6 < 8"
    assert not any(a.rule == "apnea" for a in engine.active)


def test_rr_low_ends_after_recovery_beyond_the_hysteresis(protocol):
    engine = AlertEngine(protocol)
    run_capnograph(engine, "rr", [6] * 31)
    changed = run_capnograph(engine, "rr", [8] * 15 + [12] * 15, start=T0 + 31)  # 8 is not yet 8 + 1
    ended = [a for batch in changed.values() for a in batch if a.ended_at is not None]
    assert [(a.rule, a.ended_at) for a in ended] == [("rr_low", T0 + 31 + 15 + protocol.clear_for_s)]


def test_etco2_high_is_a_high_alarm(protocol):
    engine = AlertEngine(protocol)
    changed = run_capnograph(engine, "etco2", [40] * 3 + [53, 55, 58] + [56] * 30)
    (second, (alert,)), *_ = changed.items()
    assert second == 3 + protocol.rule("etco2_high").for_s
    assert (alert.rule, alert.priority, alert.value) == ("etco2_high", "high", 58)
    assert alert.message == "EtCO2 58 > 50"


def test_no_breath_for_20_s_is_apnea_high(protocol):
    engine = AlertEngine(protocol)
    changed = run_capnograph(engine, "rr", [12] * 10 + [0] * 25 + [12] * 30)
    raised = [(k, a.rule, a.priority) for k, batch in changed.items() for a in batch if a.ended_at is None]
    assert raised[0] == (10 + 20, "apnea", "high")
    assert "rr_low" not in {rule for _, rule, _ in raised}  # 25 s without a breath: apnea, not yet rr_low's 30 s
    # each alarm's first ended snapshot (an ended HIGH nobody signed for escalates later: another snapshot)
    ended = list({a.key: a for batch in reversed(changed.values()) for a in batch if a.ended_at is not None}.values())
    assert [a.rule for a in ended] == ["apnea"] and ended[0].ended_at == T0 + 35 + protocol.clear_for_s


def test_a_flagged_capnograph_reading_never_raises(protocol):
    engine = AlertEngine(protocol)
    for k in range(60):
        assert alerts_of(engine.feed(Reading(T0 + k, "rr", 0, "artifact", CAPNO))) == []


def test_a_silent_capnograph_is_a_disconnected_device(protocol):
    engine = AlertEngine(protocol)
    run_capnograph(engine, "rr", [14] * 3)
    changes = alerts_of(engine.advance(T0 + 2 + protocol.disconnect_s))
    assert [(a.rule, a.message) for a in changes] == [
        ("device_disconnected", f"{CAPNO}: no data for {protocol.disconnect_s:g} s")]


def _manual_rr(engine, ts, rr):
    return alerts_of(engine.event(Event(ts, "manual_vitals", f"RR {rr}", "RN"), {"rr": rr, "temp": 36.8}))


def test_a_charted_rr_feeds_no_rule_by_default(protocol):
    engine = AlertEngine(protocol)
    assert _manual_rr(engine, T0, 4) == [] and _manual_rr(engine, T0 + 60, 0) == []
    assert engine.active == []
    assert alerts_of(engine.advance(T0 + 600)) == []  # and a nurse is never a device that disconnects


def test_a_charted_rr_feeds_the_rr_rules_when_the_profile_says_so(protocol):
    engine = AlertEngine(replace(protocol, manual_rr_counts=True))
    (low,) = _manual_rr(engine, T0, 6)  # a count over its own period: no device window to wait for
    assert (low.rule, low.priority, low.started_at, low.value) == ("rr_low", "medium", T0, 6)
    assert low.message == "RR 6 < 8 (counted)"
    assert {a.rule for a in _manual_rr(engine, T0 + 120, 0)} == {"apnea", "rr_low"}  # none counted in a minute
    ended = [a for a in _manual_rr(engine, T0 + 300, 16) if a.ended_at is not None]  # not their escalations
    assert {(a.rule, a.ended_at) for a in ended} == {("apnea", T0 + 300), ("rr_low", T0 + 300)}
    assert engine.active == [] and alerts_of(engine.advance(T0 + 900)) == []


def test_a_count_never_ends_an_alarm_the_capnograph_still_holds(protocol):
    """A nurse's 12/min does not silence an apnea the capnograph still sees; it ends only an
    alarm that stands on counts alone."""
    engine = AlertEngine(replace(protocol, manual_rr_counts=True), state="infusion")
    run_capnograph(engine, "rr", [0.0] * 60)
    assert {a.rule for a in engine.active} >= {"apnea", "rr_low"}
    assert alerts_of(engine.event(Event(T0 + 60, "manual_vitals", "", "RN"), {"rr": 12})) == []
    later = run_capnograph(engine, "rr", [0.0] * 30, start=T0 + 61)
    assert later == {} and {a.rule for a in engine.active} >= {"apnea", "rr_low"}  # the same alarms go on
    counted = AlertEngine(replace(protocol, manual_rr_counts=True), state="infusion")
    (raised,) = [a for a in alerts_of(counted.event(Event(T0, "manual_vitals", "", "RN"), {"rr": 6}))
                 if a.parameter == "rr"]
    assert raised.rule == "rr_low" and raised.message.endswith("(counted)")
    (ended,) = [a for a in alerts_of(counted.event(Event(T0 + 300, "manual_vitals", "", "RN"), {"rr": 14}))
                if a.parameter == "rr" and a.ended_at is not None]  # its escalation at T0 + 120 came first
    assert ended.rule == "rr_low" and ended.ended_at == T0 + 300


def test_the_what_if_rerun_counts_a_charted_rr_only_under_a_profile_that_says_so(protocol):
    events = [{"ts": T0, "type": "manual_vitals", "text": "RR 5", "author": "RN", "data": {"rr": 5}}]
    assert rerun(protocol, [], events) == []
    assert [a.rule for a in rerun(replace(protocol, manual_rr_counts=True), [], events)] == ["rr_low"]


# ----------------------------------------------------------------- physical ranges
def test_replay_refuses_an_impossible_respiratory_value_naming_the_line():
    ok = "t_s,parameter,value,status\n0,rr,14,\n0,etco2,38,\n1,event,infusion_start,\n2,event,session_end,\n"
    assert [(r.parameter, r.value) for r in parse_replay(ok) if not r.event] == [("rr", 14), ("etco2", 38)]
    with pytest.raises(ReplayError) as e:
        parse_replay(ok.replace("0,etco2,38,", "0,etco2,151,"), "rec.csv")
    assert "rec.csv: line 3" in str(e.value) and "etco2 value 151 outside 0..150" in str(e.value)


# ----------------------------------------------------------------- the simulated capnograph
def test_a_normal_patient_breathes_normally():
    p = Patient("normal", 5)
    samples = [p.capnograph(t) for t in range(0, SESSION_LENGTH_S, 7)]
    assert all(12 <= s.rr <= 18 and 35 <= s.etco2 <= 45 and s.status == "ok" for s in samples)
    assert [p.capnograph(t) for t in range(0, 900, 31)] == [Patient("normal", 5).capnograph(t) for t in range(0, 900, 31)]


@pytest.mark.slow
def test_the_respiratory_depression_scenario_shape():
    p = Patient("respiratory-depression", 0)
    seconds = range(INFUSION_START_S, INFUSION_START_S + 2400)
    rr = {t: p.capnograph(t).rr for t in seconds}
    etco2 = {t: p.capnograph(t).etco2 for t in seconds}
    apnea = [t for t, v in rr.items() if v == 0]
    assert apnea and apnea[-1] - apnea[0] + 1 == len(apnea) > 20  # one apnea, longer than 20 s
    breathing = [v for v in rr.values() if v > 0]
    assert min(breathing) <= 6 and sum(v > 50 for v in etco2.values()) >= 180  # minutes above 50 mmHg
    assert all(p.oximeter(t).spo2 >= 93 for t in seconds)  # as on oxygen: only capnography shows it


def test_the_sim_device_sends_rr_and_etco2_as_the_capnograph():
    from adapters.nibp_cycle import NibpCycle
    bedside = SimBedside(Patient("normal", 1), NibpCycle(300, 600), T0)
    items, _ = bedside.step(T0 + 10)
    readings = {r.parameter: r for r in items if isinstance(r, Reading)}
    assert readings["rr"].source == readings["etco2"].source == "sim-capnograph" == bedside.capnograph_source
    assert "sim-capnograph" in bedside.sources


# ----------------------------------------------------------------- simulate, end to end
@pytest.fixture(scope="module")
def depression(tmp_path_factory):
    """`infusion-monitor simulate --scenario respiratory-depression` run once through the CLI (in process)."""
    db = tmp_path_factory.mktemp("resp") / "monitor.db"
    out = CliRunner().invoke(main, ["--db", str(db), "simulate", "--scenario", "respiratory-depression", "--json"])
    assert out.exit_code == 0, out.output
    sid = json.loads(out.output.strip().splitlines()[-1])["session_id"]
    store = Store(db)
    yield store, sid
    store.close()


def test_simulate_help_names_every_scenario():
    from adapters.sim import SCENARIOS
    text = " ".join(CliRunner().invoke(main, ["simulate", "--help"]).output.split())
    assert [name for name in SCENARIOS if name not in text] == []


@pytest.mark.slow
def test_simulate_stores_rr_and_etco2_and_the_engine_raises_the_alarms(depression, protocol):
    store, sid = depression
    readings = queries.readings(store, sid, ("rr", "etco2"))
    assert {r["source"] for r in readings} == {"sim-capnograph"}
    assert sum(r["parameter"] == "rr" for r in readings) > SESSION_LENGTH_S - 5
    alerts = queries.alerts(store, sid)
    raised = {(a["rule"], a["priority"]) for a in alerts}
    assert {("rr_low", "medium"), ("apnea", "high"), ("etco2_high", "high")} <= raised
    assert not {a["rule"] for a in alerts} & {"spo2_low", "spo2_critical"}
    (apnea,) = [a for a in alerts if a["rule"] == "apnea"]
    zero = [r["ts"] for r in readings if r["parameter"] == "rr" and r["value"] == 0]
    assert apnea["started_at"] == zero[0] + 20 and apnea["value"] == 0
    # the stored alarms are exactly what the engine makes of the stored record
    again = rerun(protocol, queries.readings(store, sid), queries.events(store, sid))
    assert sorted((a.rule, a.started_at) for a in again if a.kind == "physiological") == sorted(
        (a["rule"], a["started_at"]) for a in alerts if a["kind"] == "physiological")


@pytest.mark.slow  # a whole simulated session
def test_a_normal_simulation_raises_no_respiratory_alarm(store, protocol):
    from monitor.playback import simulate
    sid = simulate(store, protocol, "normal", seed=2).session_id
    assert {r["parameter"] for r in queries.readings(store, sid)} >= {"rr", "etco2"}
    assert not {a["rule"] for a in queries.alerts(store, sid)} & {"rr_low", "apnea", "etco2_high"}


@pytest.mark.slow  # 20,000 rows exported, parsed and stored again
def test_csv_export_import_round_trip_carries_rr_and_etco2(depression, tmp_path):
    store, sid = depression
    text = to_csv(store, sid)
    parsed = parse_export(text, "export.csv")
    assert {r[1] for r in parsed.readings} >= {"rr", "etco2"}
    other = Store(tmp_path / "copy.db")
    try:
        copy = insert_session(other, parsed.session, parsed.baselines, parsed.readings, parsed.alerts, parsed.events)
        key = lambda rows: sorted((r["ts"], r["parameter"], r["value"], r["status"]) for r in rows)  # noqa: E731
        assert key(queries.readings(other, copy, ("rr", "etco2"))) == key(queries.readings(store, sid, ("rr", "etco2")))
        assert {a["rule"] for a in queries.alerts(other, copy)} == {a["rule"] for a in queries.alerts(store, sid)}
        assert to_csv(other, copy) == text
    finally:
        other.close()


@pytest.mark.slow
def test_fhir_carries_rr_and_etco2_with_loinc_and_ucum(depression):
    store, sid = depression
    entries = [e["resource"] for e in bundle(store, sid)["entry"]]
    by_code = {}
    for r in entries:
        for c in r["code"]["coding"]:
            by_code.setdefault(c["code"], []).append(r)
    rr, etco2 = by_code["9279-1"], by_code["19889-5"]
    assert rr[0]["code"]["coding"][0]["display"] == "Respiratory rate"
    assert {(r["valueQuantity"]["system"], r["valueQuantity"]["code"]) for r in rr} == {("http://unitsofmeasure.org", "/min")}
    assert {r["valueQuantity"]["code"] for r in etco2} == {"mm[Hg]"}
    assert "http://hl7.org/fhir/StructureDefinition/resprate" in rr[0]["meta"]["profile"]
    assert min(r["valueQuantity"]["value"] for r in rr) <= 6  # the depressed minutes (a 35 s apnea is half of two)
    assert max(r["valueQuantity"]["value"] for r in etco2) > 50
    observation = pytest.importorskip("fhir.resources.R4B.observation")
    for r in rr[:3] + etco2[:3]:
        observation.Observation.model_validate(r)


@pytest.mark.slow
def test_review_report_and_summary_show_respiration(depression, protocol):
    store, sid = depression
    review = load(store, sid)
    main_chart = review_figures.session_figure(review, protocol)
    resp = review_figures.respiration_figure(review, protocol, main_chart)
    assert [t["name"] for t in resp["data"]] == ["RR", "EtCO₂"]
    assert {s["name"] for s in resp["layout"]["shapes"] if s["name"].startswith("alarm:")} >= {
        "alarm:rr_low:medium", "alarm:apnea:high", "alarm:etco2_high:high"}
    assert resp["layout"]["xaxis"]["range"] == main_chart["layout"]["xaxis"]["range"]
    # each chart draws the limit lines of its own axes only (an axis it lacks would be made up)
    assert {s["yref"] for s in main_chart["layout"]["shapes"] if s["type"] == "line" and s["xref"] == "paper"} <= {"y", "y2"}
    assert {s["name"] for s in resp["layout"]["shapes"] if s["type"] == "line"} == {"!! RR < 8", "!!! RR < 1",
                                                                                 "!!! EtCO2 > 50"}
    items = {label: value for label, value, _ in summary_items(review)}
    assert items["Lowest RR"] == "0" and int(items["Highest EtCO₂"]) > 50
    html = report_html(store, sid, protocol)
    assert 'class="chart chart-resp"' in html and "Lowest RR" in html and 'data-rule="apnea"' in html


def test_no_capnograph_no_respiration_panel(store, protocol):
    from review_data import replay_hand_session
    sid = replay_hand_session(store, protocol)
    review = load(store, sid)
    assert review_figures.respiration_figure(review, protocol, review_figures.session_figure(review, protocol)) is None
    assert "Lowest RR" not in {label for label, _, _ in summary_items(review)}
    assert "chart-resp" not in report_html(store, sid, protocol)


# ----------------------------------------------------------------- the bedside
def test_the_trend_draws_rr_and_etco2_after_the_traces_that_were_there(protocol):
    rows = [{"id": k, "ts": T0 + k, "parameter": p, "value": v, "status": "ok", "source": "s"}
            for k in range(120) for p, v in (("hr", 70), ("spo2", 97), ("rr", 0 if k > 100 else 14), ("etco2", 40))]
    fig, state = trend.start(rows, [], protocol, {}, "f1")
    assert [fig["data"][i]["name"] for i in range(7)] == ["HR", "SPO2", "SBP", "DBP", "Charted", "HR (lowest and highest "
                                                         "of each minute)", "SPO2 (lowest and highest of each minute)"]
    rr, etco2 = fig["data"][trend.TRACE_INDEX["rr"]], fig["data"][trend.TRACE_INDEX["etco2"]]
    assert (trend.TRACE_INDEX["rr"], trend.TRACE_INDEX["etco2"]) == (7, 8) and len(fig["data"]) == 11
    assert (rr["yaxis"], etco2["yaxis"]) == ("y4", "y5") and rr["y"][-1] == 0
    assert fig["layout"]["meta"]["trend"]["history"] == {"0": 5, "1": 6, "7": 9, "8": 10}
    limits = {s["name"]: s["yref"] for s in fig["layout"]["shapes"]}
    assert limits["!! RR < 8"] == "y4" and limits["!!! RR < 1"] == "y4" and limits["!!! EtCO2 > 50"] == "y5"
    message = trend.increment(state, [{"id": 999, "ts": T0 + 121, "parameter": "etco2", "value": 44, "status": "ok",
                                       "source": "s"}])
    assert list(message["extend"]) == ["8"]


def test_bedside_tiles_for_a_capnograph(protocol):
    now = T0 + 100
    last = {"hr": {"v": 70, "ts": now, "status": "ok"}, "spo2": {"v": 98, "ts": now, "status": "ok"}}
    assert len(numerics(last, now, protocol)) == 3  # no capnograph in this session: no empty tiles
    last.update(rr={"v": 0.0, "ts": now, "status": "ok"}, etco2={"v": 0.0, "ts": now - 60, "status": "ok"})
    tiles = numerics(last, now, protocol)
    text = str(tiles[3:])
    assert len(tiles) == 5 and "NO BREATH" in text and "no data" in text  # a stale EtCO2 is not shown as current


def test_news2_takes_the_capnographs_rr_or_the_charted_one_whichever_is_newer(protocol):
    now, ages = T0 + 1000, protocol.news2_max_age_s
    device = {"rr": {"v": 6.0, "ts": now - 1, "status": "ok"}}
    assert news2_inputs(device, {}, now, ages)["rr"] == 6.0
    assert news2_inputs(device, {"rr": {"v": 14, "ts": now - 600}}, now, ages)["rr"] == 6.0
    assert news2_inputs(device, {"rr": {"v": 14, "ts": now}}, now, ages)["rr"] == 14
    flagged = {"rr": {"v": 0.0, "ts": now - 1, "status": "artifact"}}
    assert "rr" not in news2_inputs(flagged, {}, now, ages)
    assert news2_inputs(flagged, {"rr": {"v": 12, "ts": now - 60}}, now, ages)["rr"] == 12


def test_the_overview_tile_shows_rr_only_with_a_capnograph(store, protocol):
    from monitor.web.overview import chair_summary, _view
    sid = store.open_session("P-44", "4", protocol.name, T0)[0]
    now = T0 + 30
    for r in (Reading(now, "hr", 70.0, "ok", "ox"), Reading(now, "spo2", 97.0, "ok", "ox")):
        store.put_reading(sid, r)
    store.flush()
    assert "RR " not in str(_view(chair_summary(store, "4", None, now, protocol), now, protocol)[1])
    store.put_reading(sid, Reading(now, "rr", 7.0, "ok", "capno"))
    store.flush()
    assert "['RR ', B('7')]" in str(_view(chair_summary(store, "4", None, now, protocol), now, protocol)[1])


def test_rr_and_etco2_older_than_the_window_are_decimated_like_hr(protocol):
    """40 min of 1 Hz RR: the minutes before the window are the older-part trace (lowest and highest
    of each minute, an apnea's 0 kept), the window's closed minutes wait in the figure's meta."""
    n = 40 * 60
    rows = [{"id": k, "ts": T0 + k, "parameter": "rr", "value": 0.0 if 300 <= k < 330 else 14.0, "status": "ok",
             "source": "s"} for k in range(n)]
    fig, _ = trend.start(rows, [], protocol, {}, "f2")
    live, older = fig["data"][trend.TRACE_INDEX["rr"]], fig["data"][trend.HISTORY_TRACE["rr"]]
    assert 0.0 in older["y"] and len(older["x"]) < 2 * 12  # a few points a minute, the apnea's 0 among them
    boundary = trend.window_start(T0 + n - 1)
    assert len(live["x"]) == sum(r["ts"] >= boundary for r in rows)  # the window at full resolution
    assert sum(b["n"] for b in fig["layout"]["meta"]["trend"]["pending"]["7"]) == trend.WINDOW_S  # its closed minutes
