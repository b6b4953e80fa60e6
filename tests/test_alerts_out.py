"""The alerts producer (monitor/integrations/alerts_out.py) on both engines: a destination's
first pass starts at forward_log's head; every state of an alarm is queued once, in time order,
with the cursor in the same transaction; a later acknowledgement or escalation queues only
itself, also after the earlier states were delivered; stale states and (for HL7) sessions
without a patient are not paged; a webhook gets the alert JSON; alarms forwarded from a site
are paged by the central database; and over MllpSender to a real listener the R40s arrive in
order."""
from __future__ import annotations

import json
import time

import hl7
import pytest

from monitor.forwarder import Forwarder
from monitor.integrations import alerts_out
from monitor.integrations.alerts_out import FRESH_S, queue_alerts
from monitor.integrations.config import Destination, Integrations
from monitor.integrations.config import Destination
from monitor.integrations.mllp import MllpSender
from monitor.playback import simulate
from monitor.store import Store, forwarding, outbox, queries

from alarm_states import escalate

pytestmark = pytest.mark.both_engines  # on SQLite and on PostgreSQL (conftest.py)

PAGER = Destination(name="pager", kind="mllp", host="127.0.0.1", port=2575, sends=("alerts",))
HOOK = Destination(name="hook", kind="webhook", url="https://pager.example.org/hook", sends=("alerts",))
CLINIC = Integrations(facility="NORTH", destinations=(PAGER, HOOK))


def queued(store, destination=PAGER) -> list[dict]:
    return outbox.due(store, destination.name, now=float("inf"), limit=1000)


def states_of(alerts: list[dict]) -> list[tuple[float, str]]:
    out = []
    for a in alerts:
        for state, column in (("raised", "started_at"), ("escalated", "escalated_at"),
                              ("acknowledged", "acknowledged_at"), ("ended", "ended_at")):
            if a[column] is not None:
                out.append((a[column], f"s{a['session_id']}/alert/{a['id']}/{state}"))
    return sorted(out)


SETUP = time.time() - 6 * 3600  # when the destinations were set up: before the simulated session


@pytest.fixture
def session(store, protocol):
    """The pager and the webhook set up first (their cursors at the head), then a session
    raising and ending alarms (simulated at full speed: it ends now)."""
    assert queue_alerts(store, CLINIC, PAGER, now=SETUP) == 0
    assert queue_alerts(store, CLINIC, HOOK, now=SETUP) == 0
    sid = simulate(store, protocol, "respiratory-depression", seed=1, patient_ref="PT-OUT").session_id
    return sid, queries.alerts(store, sid)


@pytest.mark.slow
def test_the_first_pass_starts_at_the_head(store, protocol):
    sid = simulate(store, protocol, "respiratory-depression", seed=1, patient_ref="PT-OLD").session_id
    assert queries.alerts(store, sid)
    assert queue_alerts(store, CLINIC, PAGER) == 0  # last year's alarms are not paged
    assert outbox.cursor(store, PAGER.name, "alerts") == forwarding.site_heads(store)["log"] > 0
    assert queue_alerts(store, CLINIC, PAGER) == 0 and queued(store) == []


@pytest.mark.slow
def test_each_state_is_queued_once_in_time_order(store, session):
    sid, alerts = session
    expected = states_of(alerts)
    assert len(expected) >= 2 * len(alerts) >= 6  # raised and ended, each; escalated where nobody signed in time
    assert any(key.endswith("/escalated") for _, key in expected)  # the engine's (alerts/escalation.py)
    assert queue_alerts(store, CLINIC, PAGER) == len(expected)
    rows = queued(store)
    assert [r["message_key"] for r in rows] == [key for _, key in expected]
    assert [r["about_ts"] for r in rows] == [ts for ts, _ in expected]
    assert all(r["kind"] == "hl7" and r["session_id"] == sid and "ORU^R40^ORU_R40" in r["payload"] for r in rows)
    assert all("|NORTH|" in r["payload"].split("\r")[0] for r in rows)  # MSH-4 from [integrations]
    assert outbox.cursor(store, PAGER.name, "alerts") == forwarding.site_heads(store)["log"]
    bits = 0b1001 | (0b0010 if alerts[0]["escalated_at"] is not None else 0)  # raised, (escalated,) ended
    assert outbox.cursor(store, PAGER.name, alerts_out.alarm_stream(alerts[0]["id"])) == bits
    assert queue_alerts(store, CLINIC, PAGER) == 0  # again: nothing new


@pytest.mark.slow
def test_a_later_state_queues_only_itself_even_after_delivery(store, session):
    sid, alerts = session
    queue_alerts(store, CLINIC, PAGER)
    for r in queued(store):  # all delivered: their keys are gone from the outbox
        assert outbox.delivered(store, r["id"], now=1.0)
    first, second = alerts[0], alerts[1]
    assert store.acknowledge(first["id"], "RN", first["ended_at"] + 30)
    assert queue_alerts(store, CLINIC, PAGER) == 1
    [row] = queued(store)
    assert row["message_key"] == f"s{sid}/alert/{first['id']}/acknowledged"
    ack = hl7.parse(row["payload"])
    assert [str(s[16]) for s in ack.segments("OBX") if str(s[3]).startswith("68483^")] == ["RN"]
    escalate(store, second["id"], None)  # as if signed for in time ...
    queue_alerts(store, CLINIC, PAGER)
    escalate(store, second["id"], second["started_at"] + 45)  # ... then escalated after all
    assert queue_alerts(store, CLINIC, PAGER) == 0  # its escalation was paged before: not again
    third = alerts[2]
    assert store.acknowledge(third["id"], "MD", third["ended_at"] + 60)
    assert queue_alerts(store, CLINIC, PAGER) == 1
    assert queued(store)[-1]["message_key"] == f"s{sid}/alert/{third['id']}/acknowledged"
    assert queue_alerts(store, CLINIC, PAGER) == 0


@pytest.mark.slow
def test_a_webhook_gets_the_json(store, session):
    sid, alerts = session
    assert queue_alerts(store, CLINIC, HOOK) == len(states_of(alerts))
    assert [r["message_key"] for r in queued(store, HOOK)] == [key for _, key in states_of(alerts)]
    assert all(r["kind"] == "json" for r in queued(store, HOOK)) and queued(store) == []  # per destination
    first = alerts[0]
    assert store.acknowledge(first["id"], "RN", first["ended_at"] + 30)
    assert queue_alerts(store, CLINIC, HOOK) == 1
    row = queued(store, HOOK)[-1]
    doc = json.loads(row["payload"])
    assert row["kind"] == "json" and row["control_id"] == doc["id"] and doc["id"].endswith("/acknowledged")
    assert doc["schema"] == "infusion-monitor.alert/1" and doc["event"] == "acknowledged"
    assert doc["alarm"]["acknowledged_by"] == "RN" and doc["session"] == {"id": sid, "patient_ref": "PT-OUT",
                                                                          "chair": "sim"}


@pytest.mark.slow
def test_stale_states_and_hl7_without_a_patient_are_not_paged(store, session):
    sid, alerts = session
    late = max(a["ended_at"] for a in alerts) + FRESH_S + 1
    assert queue_alerts(store, CLINIC, PAGER, now=late) == 0  # history by now: marked handled, not sent
    assert queue_alerts(store, CLINIC, PAGER) == 0 and queued(store) == []
    with store._transaction() as conn:  # a session from before patient references were required
        conn.execute("UPDATE sessions SET patient_ref = '' WHERE id = ?", (sid,))
    assert queue_alerts(store, CLINIC, HOOK) == len(states_of(alerts))  # the webhook pages it all the same
    first = alerts[0]
    assert store.acknowledge(first["id"], "RN", first["ended_at"] + 30)
    assert queue_alerts(store, CLINIC, PAGER) == 0  # no PID-3: no R40
    assert queue_alerts(store, CLINIC, HOOK) == 1
    assert json.loads(queued(store, HOOK)[-1]["payload"])["session"]["patient_ref"] is None


@pytest.mark.slow
def test_a_state_from_before_the_destination_was_set_up_is_not_paged(store, protocol):
    sid = simulate(store, protocol, "respiratory-depression", seed=1, patient_ref="PT-OLD").session_id
    assert queue_alerts(store, CLINIC, PAGER) == 0  # set up now: the session is over
    first = queries.alerts(store, sid)[0]
    assert store.acknowledge(first["id"], "RN", time.time() + 5)  # its alarm signed for afterwards
    assert queue_alerts(store, CLINIC, PAGER) == 1  # the acknowledgement alone, not its raise and end
    assert queued(store)[0]["message_key"].endswith(f"/alert/{first['id']}/acknowledged")


@pytest.mark.slow
def test_alarms_forwarded_from_a_site_are_paged_centrally(store, protocol, tmp_path):
    central = store
    assert queue_alerts(central, CLINIC, PAGER, now=SETUP) == 0
    site = Store(tmp_path / "site.db")
    try:
        sid = simulate(site, protocol, "respiratory-depression", seed=1, patient_ref="PT-SITE").session_id
        first = queries.alerts(site, sid)[0]
        escalate(site, first["id"], first["started_at"] + 30)
        Forwarder(site, central, "north").forward_pass()
    finally:
        site.close()
    n = queue_alerts(central, CLINIC, PAGER)
    rows = queued(central)
    assert n == len(rows) > 6 and rows[0]["message_key"].endswith("/raised")
    assert any(r["message_key"].endswith("/escalated") for r in rows)
    assert all("PV1|1|O|^^north-sim" in r["payload"] for r in rows)


@pytest.mark.slow
def test_end_to_end_over_mllp(store, session, mllp_listener):
    sid, alerts = session
    queue_alerts(store, CLINIC, PAGER)
    expected = [r["control_id"] for r in queued(store)]
    sender = MllpSender(store, Destination(PAGER.name, "mllp", "127.0.0.1", mllp_listener.port, connect_timeout_s=2,
                                               ack_timeout_s=2))
    try:
        assert sender.send_pending() == {"sent": len(expected), "failed": None}
        assert store.acknowledge(alerts[0]["id"], "RN", alerts[0]["ended_at"] + 30)
        assert queue_alerts(store, CLINIC, PAGER) == 1
        assert sender.send_pending()["sent"] == 1
    finally:
        sender.close()
    assert len(mllp_listener.received) == len(expected) + 1
    assert mllp_listener.control_ids[:-1] == expected and queued(store) == []
    phases = [[str(s[5]) for s in r.message.segments("OBX") if str(s[3]).startswith("68481^")][0]
              for r in mllp_listener.received]
    assert phases.count("start") == phases.count("end") == len(alerts) and phases[-1] == "update"
    assert all(str(r.message.segment("MSH")[9]) == "ORU^R40^ORU_R40" for r in mllp_listener.received)
