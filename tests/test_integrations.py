"""Results to the clinic's interface engine (monitor/integrations): a session's ORU^R01 results
reach a real MLLP listener once each, in order, reading back to the store's numbers; an open
session's intervals are queued only once complete; late entries and corrections follow; a
destination set up today does not send last year; a receiver down for a while and a
restarted `integrate` lose nothing; the admin page shows the outbox."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from statistics import median

import hl7
import pytest

from monitor.exports.hl7_results import session_results
from monitor.integrations.config import Destination, Integrations
from monitor.integrations.results import SETTLE_S, queue_results
from monitor.integrations.runner import IntegrationRunner
from monitor.model import Event, Reading
from monitor.playback import simulate
from monitor.store import outbox, queries

from conftest import run_cli, wait_until
from mllp_listener import MllpListener

MDC = {"149530": "hr", "150456": "spo2", "150021": "sbp", "150022": "dbp", "150023": "map",
       "151562": "rr", "151708": "etco2"}
FLAGGED = ("sensor_off", "searching", "artifact", "error")


def integrations_for(listener, **options) -> Integrations:
    return Integrations(facility="NORTH", destinations=(
        Destination(name="ehr", kind="mllp", host=listener.host, port=listener.port, ack_timeout_s=2.0,
                    connect_timeout_s=2.0, **options),))


def values(message: hl7.Message) -> list[tuple[str, float]]:
    """(parameter, value) of each numeric vital-sign OBX, in order."""
    out = []
    for seg in message.segments("OBX"):
        code = str(seg[3]).split("^")[0]
        if code in MDC and str(seg[2]) == "NM":
            out.append((MDC[code], float(str(seg[5]))))
    return out


@pytest.mark.slow
@pytest.mark.both_engines
def test_a_simulated_session_reaches_the_listener_as_the_export_has_it(store, protocol, mllp_listener):
    result = simulate(store, protocol, "hypertensive", seed=3, patient_ref="PT-44", chair="3")
    sid = result.session_id
    runner = IntegrationRunner(store, integrations_for(mllp_listener))
    try:
        report = runner.one_pass()
    finally:
        runner.close()
    expected = session_results(store, sid)
    assert report["ehr"]["failed"] is None
    assert report["ehr"]["queued"] == report["ehr"]["sent"] == len(expected) > 60
    assert mllp_listener.control_ids == [m.control_id for m in expected]  # each once, in time order
    readings = queries.readings(store, sid)
    bp = {}
    for r in readings:
        if r["parameter"] in ("sbp", "dbp", "map") and r["value"] is not None and r["status"] not in FLAGGED:
            bp.setdefault(round(r["ts"], 3), {})[r["parameter"]] = r["value"]
    got_bp = []
    for got in mllp_listener.received:
        msg = got.message
        assert str(msg.segment("PID")[3]).split("^")[0] == "PT-44" and str(msg.segment("MSH")[4]) == "NORTH"
        pairs = values(msg)
        if pairs and {p for p, _ in pairs} <= {"sbp", "dbp", "map"}:
            got_bp.append(dict(pairs))
    assert got_bp == [v for _, v in sorted(bp.items())]  # every NIBP measurement, exactly the store's
    # one interval checked by hand: its median over the store's valid HR readings
    minute = next(m for m in mllp_listener.received if ("hr" in dict(values(m.message))))
    start = float(int(float(next(r["ts"] for r in readings if r["parameter"] == "hr") // 60) * 60))
    obr_start = str(minute.message.segment("OBR")[7])
    assert obr_start.startswith(time.strftime("%Y%m%d%H%M", time.gmtime(start)))
    hr = [r["value"] for r in readings if r["parameter"] == "hr" and start <= r["ts"] < start + 60
          and r["value"] is not None and r["status"] not in FLAGGED]
    assert dict(values(minute.message))["hr"] == pytest.approx(median(hr), abs=0.01)
    # nothing left owed; sent again, nothing new is queued or sent
    assert outbox.queue_status(store, time.time())[0]["depth"] == 0
    runner = IntegrationRunner(store, integrations_for(mllp_listener))
    try:
        assert runner.one_pass()["ehr"] == {"queued": 0, "sent": 0, "failed": None}
    finally:
        runner.close()


@pytest.mark.both_engines
def test_an_open_session_is_sent_interval_by_interval_as_each_completes(store):
    t0 = 1_800_000_000.0  # on a minute boundary
    sid, _ = store.open_session("PT-9", "2", "ketamine-iv", t0)
    dest = Destination(name="ehr", kind="mllp", host="127.0.0.1", port=9)
    integrations = Integrations(destinations=(dest,))

    def beat(until: float, start: float) -> None:
        for k in range(int(start - t0), int(until - t0)):
            store.put_reading(sid, Reading(t0 + k, "hr", 70 + k % 5, "ok", "chair2-nonin"))
            store.put_reading(sid, Reading(t0 + k, "spo2", 97, "ok", "chair2-nonin"))
        store.flush()

    sent: list[str] = []

    def keys() -> list[str]:
        """What was queued, in order, delivered as it goes (delivered messages leave the outbox:
        nothing of theirs may come back)."""
        for r in outbox.due(store, "ehr", now=t0 + 10_000, limit=1000):
            sent.append(r["message_key"])
            outbox.delivered(store, r["id"], t0)
        return sent

    beat(t0 + 65, t0)  # minute 0 is over, but nothing 10 s past its end yet
    assert queue_results(store, integrations, dest, now=t0 + 65) == 0
    beat(t0 + 71, t0 + 65)
    store.put_reading(sid, Reading(t0 + 70.5, "sbp", 141, "ok", "chair2-suntech"))
    store.put_reading(sid, Reading(t0 + 70.5, "dbp", 88, "ok", "chair2-suntech"))
    store.flush()
    assert queue_results(store, integrations, dest, now=t0 + 71) == 1
    assert keys() == [f"s{sid}/vitals/{int(t0)}"]
    beat(t0 + 129, t0 + 71)  # minute 1, with the NIBP in it, is not complete until a reading at 130 s
    assert queue_results(store, integrations, dest, now=t0 + 129) == 0
    beat(t0 + 131, t0 + 129)
    assert queue_results(store, integrations, dest, now=t0 + 131) == 2
    assert keys()[-2:] == [f"s{sid}/vitals/{int(t0) + 60}", f"s{sid}/nibp/{t0 + 70.5!r}"]
    start_id = store.record_event(sid, Event(t0 + 100, "infusion_start", "0.5 mg/kg over 40 min", "RN"))
    note_id = store.record_event(sid, Event(t0 + 101, "note", "dizzy | asks for \\ water", "RN"))
    assert queue_results(store, integrations, dest, now=t0 + 136) == 2
    assert keys()[-2:] == [f"s{sid}/event/{start_id}", f"s{sid}/event/{note_id}"]
    store.record_event(sid, Event(t0 + 137, "correction", "", "RN"), {"strikes": note_id, "reason": "wrong chair"})
    assert queue_results(store, integrations, dest, now=t0 + 137) == 1  # the struck note only, not every entry
    assert keys()[-1] == f"s{sid}/event/{note_id}/struck"
    # a cuff result stored late, timed in minute 0 (already sent): sent on its own, once
    store.put_reading(sid, Reading(t0 + 30, "sbp", 152, "ok", "chair2-suntech"))
    store.put_reading(sid, Reading(t0 + 30, "dbp", 91, "ok", "chair2-suntech"))
    store.flush()
    assert queue_results(store, integrations, dest, now=t0 + 138) == 1
    assert keys()[-1] == f"s{sid}/nibp/{t0 + 30!r}"
    assert queue_results(store, integrations, dest, now=t0 + 139) == 0
    store.record_event(sid, Event(t0 + 140, "session_end", "", "RN"), override="a test")
    queue_results(store, integrations, dest, now=t0 + 141)
    got = keys()
    assert got.count(f"s{sid}/vitals/{int(t0) + 60}") == 1 and f"s{sid}/vitals/{int(t0) + 120}" in got
    assert len(got) == len(set(got))  # nothing delivered came back
    assert SETTLE_S == 10.0
    # everything queued is the export's, once, and the struck note's first version before it was struck
    assert set(got) == {f"s{sid}/{m.key}" for m in session_results(store, sid)} | {f"s{sid}/event/{note_id}"}
    assert queue_results(store, integrations, dest, now=t0 + 200) == 0
    assert keys() == got


@pytest.mark.slow
@pytest.mark.both_engines
def test_a_destination_set_up_today_skips_last_years_sessions(store, protocol):
    old = simulate(store, protocol, "normal", seed=1, patient_ref="PT-OLD", chair="4").session_id
    dest = Destination(name="ehr", kind="mllp", host="127.0.0.1", port=9)
    later = time.time() + 3 * 24 * 3600
    assert queue_results(store, Integrations(destinations=(dest,)), dest, now=later) == 0
    assert outbox.progress(store, "ehr", old) == (None, None)
    # a destination first fed within a day of the session's end sends it
    other = Destination(name="lis", kind="mllp", host="127.0.0.1", port=10)
    assert queue_results(store, Integrations(destinations=(other,)), other, now=time.time() + 3600) > 0


@pytest.mark.slow
def test_alarms_reach_the_pager_webhook_and_the_interface_engine_as_they_happen(store, protocol, mllp_listener,
                                                                               fhir_receiver):
    integrations = Integrations(destinations=(
        Destination(name="pager", kind="webhook", url=fhir_receiver.url, sends=("alerts",), ack_timeout_s=2.0),
        Destination(name="alarms", kind="mllp", host=mllp_listener.host, port=mllp_listener.port, sends=("alerts",),
                    ack_timeout_s=2.0)))
    clock = [time.time() - 4 * 3600]  # set up before the (played-back, already past) session began
    runner = IntegrationRunner(store, integrations, clock=lambda: clock[0])
    try:
        assert runner.one_pass()["pager"] == {"queued": 0, "sent": 0, "failed": None}  # from then on
        clock[0] = time.time()
        sid = simulate(store, protocol, "desaturation", seed=1, patient_ref="PT-8", chair="6").session_id
        alerts = queries.alerts(store, sid)
        store.acknowledge(alerts[0]["id"], "RN", alerts[0]["started_at"] + 5, session_id=sid)
        report = runner.one_pass()
    finally:
        runner.close()
    assert report["pager"]["failed"] is None and report["alarms"]["failed"] is None
    docs = [r.json for r in fhir_receiver.received]
    assert {d["schema"] for d in docs} == {"infusion-monitor.alert/1"} and len({d["id"] for d in docs}) == len(docs)
    raised = [d for d in docs if d["event"] == "raised"]
    assert len(raised) == len(alerts) and {d["alarm"]["key"] for d in raised} == {a["key"] for a in alerts}
    escalated = [d for d in docs if d["event"] == "escalated"]  # the engine's, unacknowledged past the profile's time
    assert escalated and {d["alarm"]["key"] for d in escalated} == {a["key"] for a in queries.alerts(store, sid)
                                                                     if a["escalated_at"] is not None}
    acked = [d for d in docs if d["event"] == "acknowledged"]
    assert acked and acked[0]["alarm"]["acknowledged_by"] == "RN" and acked[0]["session"]["patient_ref"] == "PT-8"
    assert [d["at"] for d in docs] == sorted(d["at"] for d in docs)  # in the order they happened
    r40 = [r.message for r in mllp_listener.received]
    assert len(r40) == len(docs) and all(str(m.segment("MSH")[9]) == "ORU^R40^ORU_R40" for m in r40)


@pytest.mark.slow
def test_one_process_sends_a_destination_at_a_time(store, protocol, mllp_listener):
    simulate(store, protocol, "normal", seed=2, patient_ref="PT-3", chair="5")
    first = IntegrationRunner(store, integrations_for(mllp_listener))
    second = IntegrationRunner(store, integrations_for(mllp_listener))
    second.owner = "other-host pid 1"  # as if beside `run --config` on another machine
    try:
        assert first.one_pass()["ehr"]["sent"] > 0
        got = second.one_pass()["ehr"]
        assert got["sent"] == 0 and got["failed"] == f"ehr is being sent by {first.owner}"
    finally:
        first.close()  # a clean stop gives the queue up at once
    try:
        assert second.one_pass()["ehr"]["failed"] is None
    finally:
        second.close()
    # a claim left by a killed process of this machine is taken over without waiting
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    import socket
    assert outbox.claim_sender(store, "ehr", f"{socket.gethostname()} pid {dead.pid}", time.time(), 600) is None
    third = IntegrationRunner(store, integrations_for(mllp_listener))
    try:
        assert third.one_pass()["ehr"]["failed"] is None
    finally:
        third.close()


@pytest.mark.slow
def test_a_failing_destination_never_stops_the_others(store, protocol, mllp_listener, monkeypatch):
    from monitor.integrations import runner as runner_module
    simulate(store, protocol, "normal", seed=4, patient_ref="PT-4", chair="7")
    real = runner_module.queue_results

    def broken(store_, integrations, d, now=None):
        if d.name == "bad":
            raise RuntimeError("a bug")
        return real(store_, integrations, d, now=now)

    monkeypatch.setattr(runner_module, "queue_results", broken)
    good = Destination(name="ehr", kind="mllp", host=mllp_listener.host, port=mllp_listener.port, ack_timeout_s=2.0)
    bad = Destination(name="bad", kind="mllp", host="127.0.0.1", port=9)
    runner = IntegrationRunner(store, Integrations(destinations=(bad, good)))
    try:
        report = runner.one_pass()
    finally:
        runner.close()
    assert report["bad"]["failed"] == "bad: internal error: RuntimeError: a bug"
    assert report["ehr"]["failed"] is None and report["ehr"]["sent"] > 0


def test_the_outbox_is_on_the_admin_page(store):
    from monitor.access import Actor
    from monitor.web import outbox_panel
    outbox.enqueue(store, "ehr", [{"kind": "hl7", "message_key": "k1", "control_id": "C1", "session_id": None,
                                   "about_ts": 1.0, "payload": "MSH|^~\\&|A\r"}], now=time.time() - 300)
    outbox.failed(store, outbox.due(store, "ehr", time.time())[0]["id"], "ehr (127.0.0.1:2575): refused",
                  time.time() + 30, time.time())
    admin = Actor("ada", "admin", "AD")
    (row,) = outbox_panel.outbox_rows(store, admin)
    assert "outbox-failing" in row.className and getattr(row, "data-depth") == "1"
    cells = [c.children for c in row.children]
    assert cells[0] == "ehr" and cells[1] == "1" and cells[2] == "5 min" and cells[3] == "1"
    assert cells[4] == "ehr (127.0.0.1:2575): refused" and cells[6] == "0" and cells[7] == "never"
    assert cells[8].startswith("NOBODY IS SENDING")  # no integrate process has claimed it
    outbox.claim_sender(store, "ehr", "host-a pid 7", time.time(), 600)
    (row,) = outbox_panel.outbox_rows(store, admin)
    assert row.children[8].children == "host-a pid 7"
    (row,) = outbox_panel.outbox_rows(store, admin, now=time.time() + 120)  # it fell silent
    assert row.children[8].children == "host-a pid 7: silent for 2 min"
    from monitor.access import AccessError
    with pytest.raises(AccessError):
        outbox_panel.outbox_rows(store, Actor("nina", "nurse", "NN"))


# ----------------------------------------------------------------- the CLI, end to end
def clinic_toml(tmp_path, port: int) -> str:
    f = tmp_path / "clinic.toml"
    f.write_text('[integrations]\nfacility = "NORTH"\n\n[integrations.ehr]\nkind = "mllp"\nhost = "127.0.0.1"\n'
                 f'port = {port}\nack_timeout_s = 2\nconnect_timeout_s = 2\n', encoding="utf-8")
    return str(f)


@pytest.mark.slow
def test_integrate_once_sends_a_simulated_session_and_says_what_waits(tmp_path, mllp_listener):
    db = str(tmp_path / "m.db")
    config = clinic_toml(tmp_path, mllp_listener.port)
    sid = json.loads(run_cli("simulate", "--scenario", "desaturation", "--patient", "PT-5", "--json",
                             db=db, check=True).stdout)["session_id"]
    out = run_cli("integrate", "--config", config, "--once", "--json", db=db)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["destinations"]["ehr"]["sent"] == len(mllp_listener.received) > 0
    exported = tmp_path / "s.hl7"
    run_cli("export", "--session", str(sid), "--format", "hl7", "--out", str(exported), db=db, check=True)
    files = [hl7.parse(t) for t in exported.read_bytes().decode("utf-8").split("\n") if t]
    assert [str(m.segment("MSH")[10]) for m in files] == mllp_listener.control_ids
    assert [values(m) for m in files] == [values(r.message) for r in mllp_listener.received]
    # the receiver goes away: --once says what waits and exits 3
    mllp_listener.stop()
    run_cli("simulate", "--scenario", "normal", "--patient", "PT-6", db=db, check=True)
    out = run_cli("integrate", "--config", config, "--once", db=db)
    assert out.returncode == 3 and "not delivered" in out.stdout
    status = json.loads(run_cli("integrate", "--status", "--json", db=db, check=True).stdout)
    assert status[0]["destination"] == "ehr" and status[0]["depth"] > 0 and status[0]["head_last_error"]


@pytest.mark.slow
def test_a_receiver_outage_and_a_killed_integrate_lose_nothing(tmp_path):
    db = str(tmp_path / "m.db")
    listener = MllpListener().start()
    try:
        config = clinic_toml(tmp_path, listener.port)
        run_cli("simulate", "--scenario", "normal", "--patient", "PT-1", db=db, check=True)
        env = {**os.environ, "INFUSION_MONITOR_DB": db}
        cmd = [sys.executable, "-m", "monitor.cli", "integrate", "--config", config, "--interval", "0.2"]

        def start():
            return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

        proc = start()
        assert wait_until(lambda: len(listener.received) > 0, timeout=30)
        listener.stop()  # the interface engine goes down ...
        run_cli("simulate", "--scenario", "hypertensive", "--patient", "PT-2", db=db, check=True)
        time.sleep(1.0)
        proc.send_signal(signal.SIGKILL)  # ... and integrate is killed while messages wait
        proc.wait(10)
        listener.start()
        proc = start()
        try:
            ids = [m.control_id for s in (1, 2) for m in session_results(_store(db), s)]
            assert wait_until(lambda: set(ids) <= set(listener.control_ids), timeout=60), \
                f"{len(set(ids) - set(listener.control_ids))} not delivered"
            firsts = list(dict.fromkeys(listener.control_ids))
            assert firsts == ids  # in order; a repeat is only ever of a message whose ACK was lost
            assert len(listener.control_ids) - len(firsts) <= 1
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(15)
    finally:
        listener.stop()


def _store(db: str):
    from monitor.store import Store
    return Store(db)
