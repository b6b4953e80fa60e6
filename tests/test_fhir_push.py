"""FHIR push (issue 15 part 5): an ended session's transaction Bundle of conditional updates,
queued once (and again whole after a late entry) and POSTed over HTTP to a real FHIR server
(tests/fhir_receiver.py, validating with fhir.resources) in order, kept with a reason and a
backoff when it is not taken; a resend updates, never duplicates; the webhook's JSON rides the
same sender."""
from __future__ import annotations

import json
import time

import pytest

from monitor.exports.fhir import OBSERVATION_SYSTEM, bundle, transaction_bundle, transaction_json
from monitor.integrations.config import Destination, Integrations
from monitor.integrations.http_sender import HttpSender, judge_answer
from monitor.integrations.results import SETTLE_S
from monitor.integrations.runner import IntegrationRunner
from monitor.integrations.session_push import control_id, queue_sessions
from monitor.model import Event, Reading
from monitor.observations import entry
from monitor.store import outbox, queries

fhir_bundle = pytest.importorskip("fhir.resources.R4B.bundle")

T0 = 1_800_000_000.0  # on a minute boundary
TOKEN_ENV = "INFUSION_MONITOR_TEST_FHIR_TOKEN"


def open_session(store, patient="PT-7", chair="2", t0=T0, minutes=3) -> tuple[int, int]:
    """A session with 1 Hz HR and SpO2 for `minutes`, one NIBP and a MOAA/S: (id, the MOAA/S's event id)."""
    sid, _ = store.open_session(patient, chair, "ketamine-iv", t0)
    for k in range(minutes * 60):
        store.put_reading(sid, Reading(t0 + k, "hr", 70 + k % 5, "ok", "c-nonin"))
        store.put_reading(sid, Reading(t0 + k, "spo2", 97, "ok", "c-nonin"))
    for p, v in (("sbp", 120), ("dbp", 80), ("map", 93)):
        store.put_reading(sid, Reading(t0 + 30, p, v, "ok", "c-suntech"))
    store.flush()
    data, text = entry("moaas", {"score": 4})
    moaas = store.record_event(sid, Event(t0 + 60, "moaas", text, "RN"), data)
    return sid, moaas


def end(store, sid, ts) -> None:
    store.record_event(sid, Event(ts, "session_end", "", "RN"), override="a test")


def ended_session(store, **kw) -> int:
    sid, _ = open_session(store, **kw)
    end(store, sid, kw.get("t0", T0) + kw.get("minutes", 3) * 60)
    return sid


def fhir_destination(url="http://127.0.0.1:9/fhir", **kw) -> Destination:
    options = {"connect_timeout_s": 1.0, "ack_timeout_s": 1.0, "retry_max_s": 60.0, **kw}
    return Destination(name="fhir", kind="fhir", url=url, sends=("sessions",), **options)


def queue(store, dest, now) -> int:
    return queue_sessions(store, Integrations(destinations=(dest,)), dest, now=now)


def keys(store, name="fhir") -> list[str]:
    return [r["message_key"] for r in outbox.due(store, name, now=T0 + 10**9, limit=1000)]


class Clock:
    def __init__(self, t: float):
        self.t = t

    def __call__(self) -> float:
        return self.t


# ----------------------------------------------------------------- the transaction Bundle
@pytest.mark.both_engines
def test_the_transaction_bundle_validates_and_each_entry_is_a_conditional_update(store):
    sid = ended_session(store)
    t = transaction_bundle(store, sid, now=T0 + 200)
    model = fhir_bundle.Bundle.model_validate(t)
    collection = bundle(store, sid, now=T0 + 200)
    assert model.type == "transaction" and len(t["entry"]) == len(collection["entry"]) > 5
    assert "id" not in t and collection["type"] == "collection" and "id" in collection  # the export unchanged
    for got, same in zip(t["entry"], collection["entry"]):
        assert got["fullUrl"] == same["fullUrl"]
        assert "id" not in got["resource"]  # the server names it; found by identifier
        assert got["resource"]["identifier"] == [{"system": OBSERVATION_SYSTEM, "value": same["resource"]["id"]}]
        assert got["request"] == {"method": "PUT",
                                  "url": f"Observation?identifier={OBSERVATION_SYSTEM}|{same['resource']['id']}"}
    assert len({e["fullUrl"] for e in t["entry"]}) == len(t["entry"])
    assert json.loads(transaction_json(store, sid, now=T0 + 200)) == t


def test_a_struck_observation_goes_to_the_server_as_entered_in_error(store):
    sid, moaas = open_session(store)
    end(store, sid, T0 + 180)
    store.record_event(sid, Event(T0 + 300, "correction", "", "RN"), {"strikes": moaas, "reason": "wrong patient"})
    struck = [e["resource"] for e in transaction_bundle(store, sid)["entry"]
              if e["resource"].get("valueInteger") == 4]
    assert [r["status"] for r in struck] == ["entered-in-error"]
    assert not [e for e in bundle(store, sid)["entry"] if e["resource"].get("valueInteger") == 4]  # a file leaves it out


# ----------------------------------------------------------------- the producer
@pytest.mark.both_engines
def test_a_session_is_queued_once_when_it_ends_not_while_open(store):
    sid, _ = open_session(store)
    dest = fhir_destination()
    assert queue(store, dest, T0 + 170) == 0 and keys(store) == []  # open: its minutes are not final
    end(store, sid, T0 + 180)
    assert queue(store, dest, T0 + 185) == 0  # the last readings may still be on their way
    assert queue(store, dest, T0 + 190) == 1
    assert queue(store, dest, T0 + 195) == 0
    rows = outbox.due(store, "fhir", now=T0 + 200)
    assert [r["message_key"] for r in rows] == [f"s{sid}/bundle"]
    row = rows[0]
    assert row["kind"] == "fhir" and row["session_id"] == sid and len(row["control_id"]) == 20
    assert json.loads(row["payload"])["entry"] == transaction_bundle(store, sid)["entry"]
    last_event = max(e["id"] for e in queries.events(store, sid))
    assert outbox.progress(store, "fhir", sid)[1] == last_event
    assert row["control_id"] == control_id(queries.session(store, sid), last_event)


@pytest.mark.both_engines
def test_a_late_signoff_queues_the_whole_bundle_again(store):
    sid = ended_session(store)
    dest = fhir_destination()
    queue(store, dest, T0 + 195)
    signoff = store.record_event(sid, Event(T0 + 900, "review_signoff", "I have reviewed this session record.", "MD"))
    assert queue(store, dest, T0 + 901) == 1
    assert queue(store, dest, T0 + 902) == 0
    assert keys(store) == [f"s{sid}/bundle", f"s{sid}/bundle/{signoff}"]
    first, again = outbox.due(store, "fhir", now=T0 + 1000)
    assert first["control_id"] != again["control_id"]
    assert [e["request"] for e in json.loads(again["payload"])["entry"]] == \
        [e["request"] for e in json.loads(first["payload"])["entry"]]


def test_a_destination_set_up_days_later_skips_old_sessions(store):
    old = ended_session(store)
    dest = fhir_destination()
    assert queue(store, dest, T0 + 3 * 24 * 3600) == 0
    assert outbox.progress(store, "fhir", old) == (None, None)
    ended_session(store, patient="PT-8", chair="3", t0=T0 + 3 * 24 * 3600)
    assert queue(store, dest, T0 + 3 * 24 * 3600 + 200) == 1


# ----------------------------------------------------------------- the sender, against a real server
def sender_for(store, receiver, clock, **kw) -> HttpSender:
    return HttpSender(store, fhir_destination(receiver.url, **kw), clock=clock)


def test_a_bundle_is_delivered_with_its_headers_and_stored_by_identifier(store, fhir_receiver):
    sid = ended_session(store)
    dest = fhir_destination(fhir_receiver.url)
    queue(store, dest, T0 + 195)
    row = outbox.due(store, "fhir", T0 + 200)[0]
    report = HttpSender(store, dest, clock=Clock(T0 + 200)).send_pending()
    assert report == {"sent": 1, "failed": None} and keys(store) == []
    [got] = fhir_receiver.received
    assert got.path == "/fhir" and got.headers["Content-Type"].startswith("application/fhir+json")
    assert got.headers["Idempotency-Key"] == row["control_id"] and got.headers["X-Message-Id"] == f"s{sid}/bundle"
    assert "Authorization" not in got.headers
    ids = {e["resource"]["id"] for e in bundle(store, sid)["entry"]}
    assert set(fhir_receiver.observations) == ids
    assert outbox.queue_status(store, T0 + 200)[0]["sent"] == 1


@pytest.mark.parametrize("behaviour, says", [
    ("500", "HTTP 500 Internal Server Error: the test server is failing"),
    ("400", "HTTP 400 Bad Request: the test server refuses this"),
    ("entry_fail", "status 422 Unprocessable Entity: the test server refuses this entry"),
    ("drop", "connection closed before the answer"),
])
def test_a_refusal_or_a_dropped_connection_keeps_the_bundle_with_a_reason_and_a_backoff(
        store, fhir_receiver, behaviour, says):
    ended_session(store)
    queue(store, fhir_destination(fhir_receiver.url), T0 + 195)
    fhir_receiver.behaviour = behaviour
    clock = Clock(T0 + 200)
    sender = sender_for(store, fhir_receiver, clock)
    report = sender.send_pending()
    assert report["sent"] == 0 and report["failed"].startswith(f"fhir (http://127.0.0.1:{fhir_receiver.port}): ")
    assert says in report["failed"] and "\n" not in report["failed"]
    [row] = outbox.due(store, "fhir", T0 + 10_000)
    assert row["attempts"] == 1 and row["last_error"] == report["failed"] and row["next_try"] == T0 + 202
    assert sender.send_pending() == {"sent": 0, "failed": None}  # backing off: not tried before next_try
    clock.t = T0 + 202
    assert sender.send_pending()["failed"] and outbox.due(store, "fhir", T0 + 10_000)[0]["next_try"] == T0 + 206
    fhir_receiver.behaviour = "ok"
    clock.t = T0 + 206
    assert sender.send_pending() == {"sent": 1, "failed": None}


@pytest.mark.slow
def test_a_server_slower_than_the_answer_timeout_is_a_failure(store, fhir_receiver):
    ended_session(store)
    queue(store, fhir_destination(fhir_receiver.url), T0 + 195)
    fhir_receiver.behaviour = "slow"
    fhir_receiver.slow_s = 2.0
    started = time.monotonic()
    report = sender_for(store, fhir_receiver, Clock(T0 + 200), ack_timeout_s=1.0).send_pending()
    assert time.monotonic() - started < 1.9
    assert "no answer within 1 s" in report["failed"] and len(keys(store)) == 1


def test_a_server_that_is_down_is_a_connection_failure(store, fhir_receiver):
    ended_session(store)
    queue(store, fhir_destination(fhir_receiver.url), T0 + 195)
    fhir_receiver.stop()
    report = sender_for(store, fhir_receiver, Clock(T0 + 200)).send_pending()
    assert "cannot connect" in report["failed"] and len(keys(store)) == 1


def test_a_tls_failure_is_a_reason(store, fhir_receiver):
    ended_session(store)
    queue(store, fhir_destination(fhir_receiver.url), T0 + 195)
    https = fhir_destination(fhir_receiver.url.replace("http://", "https://"))
    report = HttpSender(store, https, clock=Clock(T0 + 200)).send_pending()  # the server speaks plain HTTP
    assert report["failed"].startswith(f"fhir (https://127.0.0.1:{fhir_receiver.port}): TLS: ") and len(keys(store)) == 1


def test_the_token_is_sent_when_set_and_nothing_is_sent_when_it_is_configured_but_unset(
        store, fhir_receiver, monkeypatch):
    ended_session(store)
    queue(store, fhir_destination(fhir_receiver.url), T0 + 195)
    clock = Clock(T0 + 200)
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    sender = sender_for(store, fhir_receiver, clock, token_env=TOKEN_ENV)
    report = sender.send_pending()
    assert TOKEN_ENV in report["failed"] and "not set" in report["failed"]
    assert fhir_receiver.received == []  # refused here: not sent unauthenticated
    fhir_receiver.token = "s3cret-token"
    monkeypatch.setenv(TOKEN_ENV, "s3cret-token")
    clock.t += 60
    assert sender.send_pending() == {"sent": 1, "failed": None}
    assert fhir_receiver.received[-1].headers["Authorization"] == "Bearer s3cret-token"
    status = outbox.queue_status(store, clock.t)[0]
    assert "s3cret" not in json.dumps(status)


def test_a_wrong_token_is_a_401(store, fhir_receiver, monkeypatch):
    ended_session(store)
    queue(store, fhir_destination(fhir_receiver.url), T0 + 195)
    fhir_receiver.token = "right"
    monkeypatch.setenv(TOKEN_ENV, "wrong")
    report = sender_for(store, fhir_receiver, Clock(T0 + 200), token_env=TOKEN_ENV).send_pending()
    assert "HTTP 401" in report["failed"] and "wrong" not in report["failed"]


@pytest.mark.parametrize("token", ["abc\u00e9\u2013x", "abc\r\nX-Injected: 1"])
def test_a_token_no_header_can_carry_is_a_reason_not_a_stop(store, fhir_receiver, monkeypatch, token):
    ended_session(store)
    queue(store, fhir_destination(fhir_receiver.url), T0 + 195)
    monkeypatch.setenv(TOKEN_ENV, token)
    report = sender_for(store, fhir_receiver, Clock(T0 + 200), token_env=TOKEN_ENV).send_pending()
    assert report["sent"] == 0 and "holds characters a token cannot have" in report["failed"]
    assert "abc" not in report["failed"] and fhir_receiver.received == []


def test_a_webhook_secret_in_its_path_is_never_shown(store, fhir_receiver):
    ended_session(store)
    url = fhir_receiver.url + "/hooks/T0/B0/XXXXSECRET?key=SECRET2"
    queue(store, fhir_destination(url), T0 + 195)
    fhir_receiver.behaviour = "500"
    report = HttpSender(store, fhir_destination(url), clock=Clock(T0 + 200)).send_pending()
    assert "SECRET" not in report["failed"] and f"127.0.0.1:{fhir_receiver.port}" in report["failed"]


def test_a_resend_updates_and_leaves_one_observation_per_identifier(store, fhir_receiver):
    sid, moaas = open_session(store)
    end(store, sid, T0 + 180)
    dest = fhir_destination(fhir_receiver.url)
    clock = Clock(T0 + 200)
    sender = HttpSender(store, dest, clock=clock)
    queue(store, dest, clock.t)
    assert sender.send_pending()["sent"] == 1
    first = dict(fhir_receiver.observations)
    store.record_event(sid, Event(T0 + 900, "review_signoff", "I have reviewed this session record.", "MD"))
    store.record_event(sid, Event(T0 + 901, "correction", "", "RN"), {"strikes": moaas, "reason": "wrong chair"})
    clock.t = T0 + 1000
    assert queue(store, dest, clock.t) == 1
    assert sender.send_pending() == {"sent": 1, "failed": None}
    assert len(fhir_receiver.received) == 2
    assert set(fhir_receiver.observations) == set(first)  # the same resources, updated: none twice
    assert set(fhir_receiver.versions.values()) == {2}
    assert {k: v["id"] for k, v in fhir_receiver.observations.items()} == {k: v["id"] for k, v in first.items()}
    withdrawn = [o for o in fhir_receiver.observations.values() if o["status"] == "entered-in-error"]
    assert [o.get("valueInteger") for o in withdrawn] == [4]


@pytest.mark.slow
def test_an_outage_then_everything_arrives_in_order(store, fhir_receiver):
    dest = fhir_destination(fhir_receiver.url)
    clock = Clock(T0 + 200)
    sender = HttpSender(store, dest, clock=clock)
    sids = [ended_session(store, patient=f"PT-{n}", chair=str(n), minutes=1) for n in range(1, 3)]
    fhir_receiver.stop()
    queue(store, dest, clock.t)
    assert "cannot connect" in sender.send_pending()["failed"]
    clock.t += 3600
    sids.append(ended_session(store, patient="PT-3", chair="3", t0=T0 + 3000, minutes=1))
    assert queue(store, dest, clock.t) == 1
    assert "cannot connect" in sender.send_pending()["failed"]
    fhir_receiver.start()
    clock.t += 60
    assert sender.send_pending() == {"sent": 3, "failed": None}
    assert [r.headers["X-Message-Id"] for r in fhir_receiver.received] == [f"s{s}/bundle" for s in sids]
    assert keys(store) == []


def test_the_webhook_json_rides_the_same_sender(store, fhir_receiver):
    hook = Destination(name="pager", kind="webhook", url=fhir_receiver.url + "/hook", sends=("alerts",),
                       connect_timeout_s=1.0, ack_timeout_s=1.0)
    outbox.enqueue(store, "pager", [{"kind": "json", "message_key": "a1/raised", "control_id": "a1r",
                                     "session_id": None, "about_ts": T0, "payload": '{"alert": "hr_high"}'}], now=T0)
    assert HttpSender(store, hook, clock=Clock(T0 + 1)).send_pending() == {"sent": 1, "failed": None}
    [got] = fhir_receiver.received
    assert got.path == "/fhir/hook" and got.headers["Content-Type"].startswith("application/json")
    assert got.json == {"alert": "hr_high"} and got.headers["Idempotency-Key"] == "a1r"


def test_the_integrations_loop_pushes_an_ended_session(store, fhir_receiver):
    sid = ended_session(store)
    runner = IntegrationRunner(store, Integrations(destinations=(fhir_destination(fhir_receiver.url),)),
                               clock=lambda: T0 + 200)
    try:
        assert runner.one_pass() == {"fhir": {"queued": 1, "sent": 1, "failed": None}}
    finally:
        runner.close()
    assert fhir_receiver.received[0].headers["X-Message-Id"] == f"s{sid}/bundle"


@pytest.mark.parametrize("body, says", [
    (b'{"resourceType": "Bundle", "type": "batch-response"}', "not a transaction-response Bundle"),
    (b"<html>ok</html>", "not JSON"),
    (b'{"resourceType": "Bundle", "type": "transaction-response", "entry": [{"response": {}}]}',
     "entry 1: status missing"),
])
def test_a_2xx_that_is_not_a_successful_transaction_response_is_a_failure(body, says):
    assert says in judge_answer(200, "OK", body, "fhir")
    assert judge_answer(200, "OK", body, "json") is None


@pytest.mark.slow
def test_integrate_once_pushes_a_simulated_session_to_the_fhir_server(tmp_path, fhir_receiver):
    from conftest import run_cli
    db = str(tmp_path / "m.db")
    config = tmp_path / "clinic.toml"
    config.write_text(f'[integrations.fhir]\nkind = "fhir"\nurl = "{fhir_receiver.url}"\nsend = ["sessions"]\n'
                      f'token_env = "{TOKEN_ENV}"\nack_timeout_s = 5\nconnect_timeout_s = 2\n', encoding="utf-8")
    sid = json.loads(run_cli("simulate", "--scenario", "desaturation", "--patient", "PT-5", "--json",
                             db=db, check=True).stdout)["session_id"]
    ended = time.time()  # a simulation at full speed ends now: the Bundle waits SETTLE_S for late readings
    out = run_cli("integrate", "--config", str(config), "--once", "--json", db=db, env={TOKEN_ENV: "cli-token"})
    assert json.loads(out.stdout)["destinations"]["fhir"]["queued"] == 0
    time.sleep(max(0.0, ended + SETTLE_S + 0.5 - time.time()))
    fhir_receiver.token = "cli-token"
    out = run_cli("integrate", "--config", str(config), "--once", "--json", db=db, env={TOKEN_ENV: "cli-token"})
    assert out.returncode == 0, out.stdout + out.stderr
    assert json.loads(out.stdout)["destinations"]["fhir"] == {"queued": 1, "sent": 1, "failed": None}
    exported = json.loads(run_cli("export", "--session", str(sid), "--format", "fhir", db=db, check=True).stdout)
    assert set(fhir_receiver.observations) == {e["resource"]["id"] for e in exported["entry"]}
    assert "cli-token" not in out.stdout + out.stderr
