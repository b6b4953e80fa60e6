"""Live acquisition: device threads, chair sessions, crash isolation, clinic.toml."""
from __future__ import annotations

import time

import pytest

from conftest import wait_until
from monitor.acquisition import Acquisition
from monitor.chairs import Chair
from monitor.clinic_config import ConfigError, build_chair, load_clinic
from monitor.model import Event
from monitor.store import queries

pytestmark = pytest.mark.both_engines  # on SQLite and on PostgreSQL (conftest.py)


class CrashingDevice:
    """An adapter with a bug: it raises every time it runs."""

    kind, port, source = "broken", "/dev/null", "chairX-broken"

    def __init__(self):
        self.runs = 0

    def run(self, ctx, stop):
        self.runs += 1
        raise RuntimeError("adapter bug")


@pytest.fixture
def acquisition(store):
    running = []

    def start(chairs):
        acq = Acquisition(store, chairs)
        store.flush_interval = 0.2
        acq.start()
        running.append(acq)
        return acq
    yield start
    for acq in running:
        acq.stop_event.set()
        for t in acq.threads:
            t.join(timeout=5)


def count(store, sid, parameter="hr"):
    return store._query("SELECT count(*) AS n FROM readings WHERE session_id = ? AND parameter = ?",
                       (sid, parameter))[0]["n"]


@pytest.mark.slow
def test_sim_chair_records_and_reports_device_status(store, protocol, acquisition):
    chair = build_chair(store, protocol, "1", [{"spec": "sim:normal"}])
    sid = chair.open_session("P-1")
    acquisition([chair])
    wait_until(lambda: count(store, sid) >= 2)
    devs = wait_until(lambda: [d for d in queries.devices(store, "1") if d["connected"]])
    assert {d["source"] for d in devs} == {"chair1-sim-oximeter", "chair1-sim-nibp", "chair1-sim-capnograph"}
    r = queries.latest(store, sid, "spo2")
    assert r["status"] == "ok" and 90 <= r["value"] <= 100


@pytest.mark.slow
def test_crashing_device_does_not_stop_the_others(store, protocol, acquisition):
    good = build_chair(store, protocol, "1", [{"spec": "sim:normal"}])
    broken = Chair(store, protocol, "2", [CrashingDevice()])
    sid = good.open_session("P-1")
    acquisition([good, broken])
    wait_until(lambda: count(store, sid) >= 3)
    row = wait_until(lambda: [d for d in queries.devices(store, "2") if d["error"]])
    assert "adapter bug" in row[0]["error"] and row[0]["connected"] == 0
    assert broken.devices[0].runs >= 1


@pytest.mark.slow
def test_page_events_reach_the_engine(store, protocol, acquisition):
    chair = build_chair(store, protocol, "1", [{"spec": "sim:normal"}])
    sid = chair.open_session("P-1")
    acquisition([chair])
    wait_until(lambda: count(store, sid) >= 2)
    store.record_event(sid, Event(time.time(), "infusion_start", "", "RN"))
    wait_until(lambda: chair.phase() == (sid, "infusion"))
    hr = wait_until(lambda: queries.baselines(store, sid).get("hr"))
    assert hr["source"] == "computed"


@pytest.mark.slow
def test_session_opened_elsewhere_is_attached_and_ended(store, protocol, acquisition):
    chair = build_chair(store, protocol, "4", [{"spec": "sim:normal"}])
    delivered = []
    record = chair.reading

    def reading(r):  # the device thread hands every reading to its chair
        delivered.append(r)
        record(r)
    chair.reading = reading
    acquisition([chair])
    sid = store.open_session("WEB-1", "4", protocol.name, time.time())[0]  # as the page does
    wait_until(lambda: count(store, sid) >= 2)
    store.record_event(sid, Event(time.time(), "session_end", "", "RN"))
    wait_until(lambda: chair.phase() == (None, None))
    store.flush()
    recorded = len(queries.readings(store, sid))
    since = len(delivered)
    # the device goes on measuring: once a whole second of its readings has come in after the
    # detach, none of them may have reached the ended session
    wait_until(lambda: len(delivered) >= since + 3)
    store.flush()
    assert len(queries.readings(store, sid)) == recorded


def test_one_open_session_per_chair(store, protocol):
    chair = build_chair(store, protocol, "1", [{"spec": "sim:normal"}])
    chair.open_session("A")
    with pytest.raises(ValueError, match="has open session"):
        chair.open_session("B")


def test_clinic_toml_two_chairs(store, protocol, tmp_path):
    p = tmp_path / "clinic.toml"
    p.write_text('[chairs.1]\ndevices = ["sim:normal"]\npatient = "P1"\n\n'
                 '[chairs.2]\ndevices = [{ kind = "sim", port = "hypertensive", seed = 3 }]\n')
    chairs = load_clinic(p, store, protocol)
    assert [c.name for c in chairs] == ["1", "2"]
    assert chairs[0].phase()[1] == "baseline" and chairs[1].phase() == (None, None)
    assert chairs[1].devices[0].patient.scenario.name == "hypertensive"


@pytest.mark.slow
@pytest.mark.parametrize("text,words", [
    ("chairs = 3", "[chairs]: missing"),
    ("[chairs.1]\n", "chairs.1.devices: expected a non-empty list"),
    ("[chairs.1]\ndevices = [\"toaster:/dev/ttyS0\"]\n", "unknown kind 'toaster'"),
    ("[chairs.1]\ndevices = [\"sim:normal\"]\ncolour = 1\n", "chairs.1: unknown key 'colour'"),
    ("[chairs.1]\ndevices = [{ kind = \"sim\", port = \"normal\", speed = 2 }]\n", "chairs.1.devices[0]: unknown key 'speed'"),
    ("[chairs.1]\ndevices = [\"nonin:/dev/ttyUSB0\"]\n[chairs.2]\ndevices = [\"nonin:/dev/ttyUSB0\"]\n",
     "already used by chairs.1.devices[0]"),
    ("[chairs.1\n", "not valid TOML"),
])
def test_bad_clinic_config_is_named(store, protocol, tmp_path, text, words):
    p = tmp_path / "clinic.toml"
    p.write_text(text)
    with pytest.raises(ConfigError) as e:
        load_clinic(p, store, protocol)
    assert str(e.value).startswith(str(p)) and words in str(e.value)


def _feed(rec, t0, start, seconds, hr):
    from monitor.model import Reading
    for k in range(start, start + seconds):
        rec.reading(Reading(t0 + k, "hr", hr, "ok", "ox"))
        rec.reading(Reading(t0 + k, "spo2", 97, "ok", "ox"))


def test_restart_mid_infusion_keeps_baselines_limits_and_the_active_alarm(store, protocol):
    from monitor.recording import SessionRecorder
    t0 = 1_700_000_000.0
    sid = store.open_session("R1", "5", protocol.name, t0)[0]
    rec = SessionRecorder(store, sid, protocol)
    _feed(rec, t0, 0, 120, 74)
    rec.event(Event(t0 + 120, "infusion_start", "", "RN"))
    rec.event(Event(t0 + 121, "limit_change", "", "DR"), {"rule": "hr_high", "clause": 0, "old": 120, "new": 130})
    _feed(rec, t0, 122, 20, 150)
    store.flush()
    before = {a["key"]: a for a in queries.alerts(store, sid)}
    assert "hr_critical" in {a["rule"] for a in before.values()}
    assert all(a["ended_at"] is None for a in before.values())
    # the process dies; a new one attaches to the open session
    rec2 = SessionRecorder.resume(store, sid, protocol, t0 + 200)
    store.flush()
    after = {a["key"]: a for a in queries.alerts(store, sid)}
    assert all(after[k]["ended_at"] is None for k in before)  # carried over, not closed (tests/test_restart.py)
    assert rec2.engine.state == "infusion" and rec2.engine.infusion_start == t0 + 120
    assert rec2.engine.rules["hr_high"].clauses[0].limit == 130  # the session's own limit survives
    b = queries.baselines(store, sid)["hr"]
    assert b["source"] == "computed" and b["value"] == 74
    _feed(rec2, t0, 200, 40, 150)
    store.flush()
    assert queries.baselines(store, sid)["hr"]["source"] == "computed"  # not replaced by a provisional 150
    new = [a for a in queries.alerts(store, sid) if a["key"] not in before]
    assert "hr_critical" not in {a["rule"] for a in new}  # the same alarm went on
    assert "hr_high" in {a["rule"] for a in new}  # the session's limit (130) after its own 30 s
    assert all(a["started_at"] >= t0 + 200 for a in new)
    assert len({a["key"] for a in queries.alerts(store, sid)}) == len(queries.alerts(store, sid))


def test_restart_during_baseline_keeps_the_history_for_the_median(store, protocol):
    from monitor.recording import SessionRecorder
    t0 = 1_700_000_000.0
    sid = store.open_session("R2", "5", protocol.name, t0)[0]
    rec = SessionRecorder(store, sid, protocol)
    _feed(rec, t0, 0, 200, 80)
    store.flush()
    rec2 = SessionRecorder.resume(store, sid, protocol, t0 + 210)
    _feed(rec2, t0, 210, 10, 80)
    rec2.event(Event(t0 + 220, "infusion_start", "", "RN"))
    store.flush()
    b = queries.baselines(store, sid)["hr"]
    assert b["source"] == "computed" and b["value"] == 80 and b["n"] >= 200


@pytest.mark.parametrize("text,words", [
    ('[chairs.1]\ndevices = ["masimo:/dev/ttyUSB0"]\n[chairs.2]\ndevices = ["nonin:/dev/ttyUSB0"]\n',
     "already used by chairs.1.devices[0]"),
    ('[chairs.1]\ndevices = [{ spec = 5 }]\n', "chairs.1.devices[0].spec: expected a string"),
    ('[chairs.1]\ndevices = [{ kind = "sim", port = "normal", seed = "abc" }]\n', "seed: expected a whole number"),
    ('[chairs.1]\ndevices = [{ kind = "sim", port = "normal", seed = 1.5 }]\n', "seed: expected a whole number"),
    ('[chairs.1]\ndevices = [{ spec = "sim:normal", kind = "sim" }]\n', "not both"),
    ('site = "x"\n[chairs.1]\ndevices = ["sim:normal"]\n', "site: unknown key"),
])
def test_more_bad_clinic_configs(store, protocol, tmp_path, text, words):
    p = tmp_path / "clinic.toml"
    p.write_text(text)
    with pytest.raises(ConfigError, match=None) as e:
        load_clinic(p, store, protocol)
    assert words in str(e.value)


def test_bad_clinic_config_writes_nothing(store, protocol, tmp_path):
    p = tmp_path / "clinic.toml"
    p.write_text('[chairs.1]\ndevices = ["sim:normal"]\npatient = "P1"\n[chairs.2]\ndevices = ["bogus:/dev/x"]\n')
    with pytest.raises(ConfigError, match="unknown kind 'bogus'"):
        load_clinic(p, store, protocol)
    assert queries.sessions(store) == []


def test_impossible_device_values_are_flagged_not_alarmed(store, protocol):
    from monitor.model import Reading
    chair = build_chair(store, protocol, "1", [{"spec": "sim:normal"}])
    sid = chair.open_session("P-1", ts=1_700_000_000.0)
    for k in range(40):
        chair.reading(Reading(1_700_000_000.0 + k, "hr", 400.0, "ok", "ox"))
    chair.recorder.finish()
    store.flush()
    rows = queries.readings(store, sid, ("hr",))
    assert {r["status"] for r in rows} == {"artifact"} and "outside 0..350" in rows[0]["detail"]
    assert [a for a in queries.alerts(store, sid) if a["kind"] == "physiological"] == []


def test_clinic_toml_resumes_its_patient_and_refuses_another(store, protocol, tmp_path):
    sid = store.open_session("P1", "1", protocol.name, 1_700_000_000.0)[0]  # left open by a crash
    p = tmp_path / "clinic.toml"
    p.write_text('[chairs.1]\ndevices = ["sim:normal"]\npatient = "P1"\n')
    (chair,) = load_clinic(p, store, protocol)
    assert [s["id"] for s in queries.sessions(store)] == [sid]
    p.write_text('[chairs.1]\ndevices = ["sim:normal"]\npatient = "P2"\n')
    with pytest.raises(ConfigError, match="chairs.1.patient: chair 1 has open session .* for patient P1"):
        load_clinic(p, store, protocol)
    assert len(queries.sessions(store)) == 1
