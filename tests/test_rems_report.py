"""The esketamine REMS facts page (issue 13, item 6): each fact read from a simulated esketamine
session under the esketamine-rems profile and checked against the stored data; a fact the
record lacks reads "not charted"; `export --format rems` writes the page atomically; the
session page's download is a clinician's and audited."""
from __future__ import annotations

import dataclasses
import json
import re
import time

import pytest
from plotly.utils import PlotlyJSONEncoder

from conftest import CLINICIAN, NURSE
from monitor import rems_facts, session_review
from monitor.exports import FORMATS, rems_report
from monitor.medication import MedicationError, medication_entry
from monitor.model import Event, is_valid
from monitor.playback import simulate
from monitor.protocol import load_protocol
from monitor.store import Store, people, queries
from monitor.web import review
from monitor.web.forms import FormError, validate_medication



@pytest.fixture(scope="module")
def esk_profile():
    return load_protocol("esketamine-rems")


@pytest.fixture(scope="module")
def esk(tmp_path_factory, esk_profile):
    """One simulated esketamine session: (store, session id, its review, its facts)."""
    store = Store(tmp_path_factory.mktemp("rems") / "monitor.db")
    sid = simulate(store, esk_profile, "esketamine", seed=0).session_id
    r = session_review.load(store, sid, None)
    yield store, sid, r, rems_facts.facts(r, esk_profile)
    store.close()


def _bps(r):
    """{ts: (sbp, dbp)} of every valid BP, straight from the readings."""
    out: dict = {}
    for x in r.readings:
        if x["parameter"] in ("sbp", "dbp") and is_valid(x["status"], x["value"]):
            out.setdefault(x["ts"], {})[x["parameter"]] = x["value"]
    return {ts: (v["sbp"], v["dbp"]) for ts, v in out.items()}


def _rows(html: str) -> dict:
    """{fact key: (value, when, how)} from the page."""
    rows = re.findall(r'<tr data-fact="(\w+)"[^>]*><td>.*?</td><td class="value">(.*?)</td><td>(.*?)</td>'
                      r'<td class="how">(.*?)</td>', html)
    return {k: (v, w, h) for k, v, w, h in rows}


# ----------------------------------------------------------------- the scenario
@pytest.mark.slow
def test_the_esketamine_scenario_peaks_at_40_min_and_charts_its_observations(esk):
    store, sid, r, _ = esk
    s = r.session
    assert s["protocol"] == "esketamine-rems" and s["state"] == "ended"
    assert s["infusion_end"] - s["infusion_start"] == 300  # two devices, five minutes apart
    assert s["ended_at"] - s["infusion_end"] >= 7200  # the REMS's 2 h after the last device
    rules = {a["rule"] for a in r.alerts}
    assert "bp_rise_from_predose" in rules
    assert not rules & {"rr_low", "apnea", "etco2_high", "spo2_low", "spo2_critical", "spo2_drop"}
    peak_ts = max(_bps(r).items(), key=lambda kv: kv[1][0])[0]
    assert 30 <= (peak_ts - s["infusion_start"]) / 60 <= 50
    types = [e["type"] for e in r.events]
    for kind in ("medication", "moaas", "cadss6", "aldrete", "padss"):
        assert kind in types
    med = next(e for e in r.events if e["type"] == "medication")
    assert med["data"] == {"drug": "Esketamine nasal spray", "dose": 56.0, "unit": "mg", "route": "IN",
                           "lot": "SIM-ESK-0042"}
    assert med["text"] == "Esketamine nasal spray 56 mg IN (lot SIM-ESK-0042)"


# ----------------------------------------------------------------- each fact against the data
@pytest.mark.slow
def test_dose_lot_and_times_as_charted(esk):
    _, _, r, f = esk
    assert [(m["dose"], m["unit"], m["route"], m["lot"]) for m in f.medications] == [(56.0, "mg", "IN", "SIM-ESK-0042")]
    assert f.first_dose == r.session["infusion_start"] and f.last_dose == r.session["infusion_end"]
    assert f.monitoring_end == r.session["ended_at"] and f.monitoring_end_source == "the session's end"
    assert f.session_minutes == pytest.approx((r.session["ended_at"] - r.session["started_at"]) / 60)
    assert f.minutes_after_first_dose == pytest.approx(135.0)
    assert f.minutes_after_last_dose == pytest.approx(130.0)


@pytest.mark.slow
def test_the_three_blood_pressures(esk):
    _, _, r, f = esk
    start, end = r.session["infusion_start"], r.session["ended_at"]
    bps = _bps(r)
    before = max(ts for ts in bps if start - 900 <= ts <= start)
    assert (f.bp_before.ts, (f.bp_before.sbp, f.bp_before.dbp)) == (before, bps[before])
    near = min((ts for ts in bps if 35 * 60 <= ts - start <= 50 * 60), key=lambda ts: abs(ts - start - 2400))
    assert (f.bp_40.ts, (f.bp_40.sbp, f.bp_40.dbp)) == (near, bps[near])
    assert abs(f.bp_40.ts - start - 2400) <= 60  # the cuff measured at 40.5 min
    assert f.bp_40.sbp >= f.bp_before.sbp + 40  # the peak the profile's bp_rise_from_predose caught
    last = max(ts for ts in bps if ts <= end)
    assert (f.bp_end.ts, (f.bp_end.sbp, f.bp_end.dbp)) == (last, bps[last])
    assert not f.bp_before.manual and f.bp_before.ts < start  # the STAT BP after dosing is not "before"


@pytest.mark.slow
def test_sedation_dissociation_and_breathing(esk):
    _, _, r, f = esk
    moaas = [e["data"]["score"] for e in r.events if e["type"] == "moaas"]
    cadss = [e["data"]["total"] for e in r.events if e["type"] == "cadss6"]
    assert f.lowest_moaas["value"] == min(moaas) == 4 and f.sedation is True
    assert f.highest_cadss6["value"] == max(cadss) == 6 and f.dissociation is True
    assert f.respiratory_depression is False and f.respiratory_alarms == []
    assert f.spo2_monitored and f.capnography


@pytest.mark.slow
def test_ready_to_leave_is_when_readiness_first_held(esk, esk_profile):
    _, _, r, f = esk
    padss = [e["ts"] for e in r.events if e["type"] == "padss"]
    # the second qualifying PADSS, 20 min after the first and past the 2 h after the last device
    assert f.ready_at == padss[1]
    assert f.ready_at >= r.session["infusion_end"] + esk_profile.minimum_observation_s
    assert f.discharge is None


@pytest.mark.slow
def test_readiness_waits_for_an_unsigned_high_alarm(esk, esk_profile):
    """An alarm on the board at the moment the PADSS qualified moves "ready" to when it was signed for."""
    _, _, r, f = esk
    ts = f.ready_at
    alarm = {"rule": "spo2_critical", "kind": "physiological", "priority": "high", "parameter": "spo2",
             "started_at": ts - 120, "ended_at": ts - 60, "acknowledged_at": ts + 300, "message": "SpO2 85 < 88"}
    assert rems_facts.first_ready(r.events, [*r.alerts, alarm], r.session["infusion_end"], r.session["ended_at"],
                                  esk_profile) == ts + 300


@pytest.mark.slow
def test_the_page_shows_each_fact_and_the_check_statement(esk):
    store, sid, _, f = esk
    html = rems_report.rems_html(store, sid, load_protocol())  # the default profile given: the session's own is used
    rows = _rows(html)
    assert rows["dose1"][0] == "Esketamine nasal spray 56 mg IN" and rows["lot1"][0] == "SIM-ESK-0042"
    assert rows["bp_before"][0] == f"{f.bp_before.sbp:.0f}/{f.bp_before.dbp:.0f} mmHg"
    assert rows["bp_40"][0] == f"{f.bp_40.sbp:.0f}/{f.bp_40.dbp:.0f} mmHg" and "+40.5 min" in rows["bp_40"][1]
    assert rows["bp_end"][0] == f"{f.bp_end.sbp:.0f}/{f.bp_end.dbp:.0f} mmHg"
    assert rows["sedation"][0] == "Yes" and "lowest MOAA/S 4" in rows["sedation"][2]
    assert rows["dissociation"][0] == "Yes" and "CADSS-6 total 6/24" in rows["dissociation"][2]
    assert rows["respiratory"][0] == "No"
    assert rows["minutes_dose"][0] == "135 min" and rows["minutes_last"][0] == "130 min"
    assert rows["ready"][0] != "not charted" and rows["discharge"][0] == "not charted"
    assert "Check every fact below against the session" in html and "not sent" in html
    assert "submit" in html and "profile esketamine-rems" in html
    assert "<script" not in html and "http" not in html.split("</style>")[0]  # self-contained
    assert "@media print" in html


@pytest.mark.slow
def test_a_discharge_entry_ends_monitoring_and_a_struck_dose_is_left_out(esk, esk_profile):
    _, _, r, f = esk
    med = next(e for e in r.events if e["type"] == "medication")
    leave = f.ready_at + 120
    events = [*r.events,
              {"id": 10**6, "ts": leave, "type": "discharge", "text": "Discharged", "author": "DR",
               "data": {"ready": True}},
              {"id": 10**6 + 1, "ts": leave + 1, "type": "correction", "text": "wrong patient", "author": "DR",
               "data": {"strikes": med["id"], "reason": "wrong patient"}}]
    g = rems_facts.facts(dataclasses.replace(r, events=events), esk_profile)
    assert g.monitoring_end == leave and g.monitoring_end_source == "the discharge entry"
    assert g.bp_end.ts == max(ts for ts in _bps(r) if ts <= leave)
    assert g.medications == [] and g.discharge["author"] == "DR"
    rows = {x["key"]: x for x in rems_report.rows(g)}
    assert rows["dose1"]["value"] == "not charted" and rows["discharge"]["how"] == "ready; signed DR"


@pytest.mark.slow
def test_the_session_page_offers_the_download(esk, esk_profile):
    store, sid, _, _ = esk
    page = json.dumps(review.session_layout(store, esk_profile, str(sid)), cls=PlotlyJSONEncoder, ensure_ascii=False)
    assert "sv-dl-rems" in page and "REMS form facts" in page


# ----------------------------------------------------------------- missing facts
def test_a_session_without_the_facts_says_not_charted(store, esk_profile):
    t = time.time() - 3600
    sid = store.open_session("PT-EMPTY", "E", "esketamine-rems", t)[0]
    store.record_event(sid, Event(t + 60, "infusion_start", "", "RN"))
    store.record_event(sid, Event(t + 120, "medication", "Esketamine 56 mg IN", "RN"),
                       {"drug": "Esketamine", "dose": 56, "unit": "mg", "route": "IN"})  # an entry from before lots
    store.record_event(sid, Event(t + 400, "session_end", "", "RN"))
    store.flush()
    rows = _rows(rems_report.rems_html(store, sid, esk_profile))
    assert rows["dose1"][0] == "Esketamine 56 mg IN"
    for key in ("lot1", "last_dose", "minutes_last", "bp_before", "bp_40", "bp_end", "sedation", "dissociation",
                "respiratory", "ready", "discharge"):
        assert rows[key][0] == "not charted", key
    assert rows["minutes_total"][0] == "7 min"


def test_an_unknown_session_is_an_error(store):
    with pytest.raises(Exception, match="no session 42"):
        rems_report.rems_html(store, 42)


# ----------------------------------------------------------------- the lot on the medication form
def test_the_medication_form_takes_an_optional_lot():
    assert validate_medication("Esketamine", "56", "mg", "IN", " AB-123 ") == (
        {"drug": "Esketamine", "dose": 56.0, "unit": "mg", "route": "IN", "lot": "AB-123"},
        "Esketamine 56 mg IN (lot AB-123)")
    assert validate_medication("Ondansetron", "4", "mg", "IV", "") == (
        {"drug": "Ondansetron", "dose": 4.0, "unit": "mg", "route": "IV"}, "Ondansetron 4 mg IV")
    with pytest.raises(FormError, match="Lot: at most 40 characters"):
        validate_medication("Esketamine", "56", "mg", "IN", "X" * 41)
    with pytest.raises(MedicationError, match="Lot: '<b>': letters, digits"):
        medication_entry("Esketamine", "56", "mg", "IN", "<b>")


def test_a_nurse_charts_the_lot_on_the_page(store):
    from monitor.web import charting
    sid = store.open_session("PT-LOT", "L", "esketamine-rems", time.time() - 600)[0]
    msg, ok = charting.sign_and_chart(store, {"chair": "L", "session_id": sid}, NURSE, "medication",
                                      lambda: validate_medication("Esketamine", "28", "mg", "IN", "LOT 7/B"))
    assert ok, msg
    med = [e for e in queries.events(store, sid) if e["type"] == "medication"][-1]
    assert (med["data"]["lot"], med["text"], med["author"]) == ("LOT 7/B", "Esketamine 28 mg IN (lot LOT 7/B)", "RN")


# ----------------------------------------------------------------- reachable
def test_rems_is_an_export_format():
    assert "rems" in FORMATS


@pytest.mark.slow  # the CLI in a subprocess
def test_export_rems_writes_the_page_atomically(cli, tmp_path):
    sid = cli("--protocol", "esketamine-rems", "simulate", "--scenario", "esketamine", check=True).stdout.split()[-1]
    (tmp_path / "out").mkdir()
    out = tmp_path / "out" / "rems.html"
    p = cli("export", "--session", sid, "--format", "rems", "--out", str(out), check=True)
    assert "wrote" in p.stderr and out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert 'data-fact="bp_40"' in out.read_text(encoding="utf-8")
    assert [x.name for x in out.parent.iterdir()] == ["rems.html"]  # no temporary file left
    bad = cli("export", "--session", "999", "--format", "rems", "--out", str(tmp_path / "x.html"))
    assert bad.returncode == 2 and "no such session" in bad.stderr and not (tmp_path / "x.html").exists()


@pytest.mark.slow
def test_the_session_pages_download_is_a_clinicians_and_audited(esk, esk_profile):
    store, sid, _, _ = esk
    data, msg = review.export_action(store, esk_profile, sid, "rems", NURSE)
    assert data is None and "needs a clinician login" in msg
    assert people.audit_rows(store, user=NURSE.name, action="export", limit=1)[0]["outcome"] == "refused"
    data, msg = review.export_action(store, esk_profile, sid, "rems", CLINICIAN)
    assert msg == "Exported REMS (DR)." and data["filename"].endswith(".rems.html") and data["type"] == "text/html"
    assert 'data-fact="ready"' in data["content"]
    row = people.audit_rows(store, user=CLINICIAN.name, action="export", limit=1)[0]
    assert (row["outcome"], row["detail"], row["session_id"]) == ("ok", "rems", sid)
    assert queries.session(store, sid)["state"] == "ended"


@pytest.mark.browser
def test_the_page_renders_and_prints_in_chromium(browser, esk, tmp_path):
    store, sid, _, f = esk
    path = tmp_path / "rems.html"
    path.write_text(rems_report.rems_html(store, sid), encoding="utf-8")
    browser.get(path.as_uri())
    facts = browser.execute_script("return document.getElementById('facts').innerText")
    assert f"{f.bp_40.sbp:.0f}/{f.bp_40.dbp:.0f} mmHg" in facts and "SIM-ESK-0042" in facts
    assert "submit" in browser.execute_script("return document.getElementById('statement').innerText")
    assert browser.execute_script("return performance.getEntriesByType('resource').length") == 0
    pdf = browser.execute_cdp_cmd("Page.printToPDF", {"printBackground": True})
    assert len(pdf["data"]) > 10_000
