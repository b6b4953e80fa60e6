"""The registration system says who is at a chair (ADT^A01/A04/A08 over MLLP, integrations/adt_in.py):
each message answered (AA kept, AE a field that cannot be used, AR not an ADT), the arrival
kept, and the chair's opening form offers that patient until a session is opened for them;
nothing opens by itself."""
from __future__ import annotations

import asyncio
import time

import hl7
import pytest
from hl7.mllp import open_hl7_connection

from monitor.admissions import ARRIVAL_VALID_S, expected_patient
from monitor.exports.hl7_results import read_text
from monitor.integrations.adt_in import AdmissionsListener, answer
from monitor.integrations.config import Destination
from monitor.store import arrivals
from monitor.web import opening
from monitor.web.bedside import KEYS, bedside_tick

from mllp_listener import free_port

pytestmark = pytest.mark.both_engines

DEST = Destination(name="registration", kind="adt", host="127.0.0.1", port=0, sends=(), chair_from="bed")


def adt(event="A04", ref="PT-1^^^^MR", place="INF^^3", control="X1", kind="ADT") -> str:
    return (f"MSH|^~\\&|REG|CLINIC|INFUSION-MONITOR|NORTH|20261202100000||{kind}^{event}^ADT_A01|{control}|P|2.6\r"
            f"EVN|{event}|20261202100000\rPID|1||{ref}||Doe^Jane\rPV1|1|O|{place}\r")


def msa(ack: str) -> tuple[str, str, str]:
    m = hl7.parse(ack)
    seg = m.segment("MSA")
    return str(seg[1]), str(seg[2]), read_text(m, seg[3]) if len(seg) > 3 else ""


# ------------------------------------------------------------------ the rule
def row(i, ref, at, chair="3"):
    return {"id": i, "chair": chair, "patient_ref": ref, "event": "A04", "received_at": at}


def test_the_newest_fresh_arrival_is_offered_until_a_session_is_opened_for_it():
    now = 1_800_000_000.0
    assert expected_patient([], [], now) is None
    older, newer = row(1, "PT-1", now - 600), row(2, "PT-2", now - 60)
    assert expected_patient([older, newer], [], now) == newer
    assert expected_patient([older, newer], [{"patient_ref": "PT-2", "started_at": now - 30}], now) is None
    # a session for that patient before the arrival (yesterday's) does not use it
    assert expected_patient([newer], [{"patient_ref": "PT-2", "started_at": now - 3600, "ended_at": now - 3000}],
                            now) == newer
    assert expected_patient([row(3, "PT-3", now - ARRIVAL_VALID_S - 1)], [], now) is None
    # an update (A08) while the patient's session ran does not offer them again after it ends
    update = row(4, "PT-4", now - 3000)
    assert expected_patient([update], [{"patient_ref": "PT-4", "started_at": now - 5000,
                                        "ended_at": now - 600}], now) is None
    # another patient's session open then does not use it (the next patient, registered early)
    assert expected_patient([update], [{"patient_ref": "PT-5", "started_at": now - 5000,
                                        "ended_at": now - 600}], now) == update


# ------------------------------------------------------------------ one message
@pytest.mark.parametrize("text, code, reason", [
    (adt(), "AA", ""),
    (adt(event="A08"), "AA", ""),
    (adt(kind="ORU", event="R01"), "AR", "MSH-9 ORU^R01: only ADT^A01, ADT^A04, ADT^A08 are taken"),
    (adt(event="A03"), "AR", "only ADT^A01"),
    (adt(ref=""), "AE", "PID-3: no patient identifier"),
    (adt(place="INF"), "AE", "PV1-3.3 (bed): no chair named"),
    (adt(place="INF^^<script>"), "AE", "PV1-3: Chair name: 1–32 letters"),
    (adt(ref="PT\"1"), "AE", "PID-3: Patient reference: up to 40 characters, no quotes"),
])
def test_each_message_is_answered_with_what_was_done(store, text, code, reason):
    ack = answer(store, DEST, text, time.time())
    got = msa(ack)
    assert got[0] == code and got[1] == "X1" and reason in got[2]
    assert (len(arrivals.recent(store, "3", 0)) == 1) == (code == "AA")
    if code != "AA":
        assert hl7.parse(ack).segment("ERR")


def test_something_that_is_not_hl7_is_rejected(store):
    code, _, reason = msa(answer(store, DEST, "hello | world", time.time()))
    assert (code, reason) == ("AR", "not an HL7 v2 message")


def test_an_escaped_reference_is_kept_as_sent(store):
    answer(store, DEST, adt(ref="A\\T\\B-7^^^^MR", place="^^Bay 2"), time.time())
    (got,) = arrivals.recent(store, "Bay 2", 0)
    assert got["patient_ref"] == "A&B-7" and got["sender"] == "REG^CLINIC" and got["control_id"] == "X1"


# ------------------------------------------------------------------ over MLLP, to the page
async def _send(port: int, texts: list[str]) -> list[str]:
    reader, writer = await open_hl7_connection("127.0.0.1", port, encoding="utf-8")
    out = []
    for text in texts:
        writer.writemessage(text)
        await writer.drain()
        out.append(str(await asyncio.wait_for(reader.readmessage(), 5)))
    writer.close()
    return out


def test_a_registration_over_mllp_is_offered_on_the_chairs_opening_form(store, protocol):
    dest = Destination(name="registration", kind="adt", host="127.0.0.1", port=free_port(), sends=(),
                       chair_from="bed")
    listener = AdmissionsListener(store, dest).start()
    try:
        acks = asyncio.run(_send(dest.port, [adt(control="A"), adt(kind="ORU", event="R01", control="B"),
                                             adt(ref="PT-9^^^^MR", control="C", event="A08")]))
    finally:
        listener.stop()
    assert [msa(a)[:2] for a in acks] == [("AA", "A"), ("AR", "B"), ("AA", "C")]
    now = time.time()
    offer = opening.offered_patient(store, "3", now)
    assert offer["patient_ref"] == "PT-9"  # the newest
    out = dict(zip(KEYS, bedside_tick(store, protocol, {"chair": "3", "session_id": None})))
    form = str(out["bed-open.children"])
    assert "Registration says PT-9 is at this chair" in form and "Open for PT-9" in form
    state = out["bed-state.data"]
    assert state["offer"] == offer["id"]
    # the button opens for the patient read again on the server, only while the offer stands
    assert opening.offered_reference(store, state, offer["id"], now) == "PT-9"
    assert opening.offered_reference(store, state, offer["id"] - 1, now) is None
    store.open_session("PT-9", "3", "ketamine-iv", now + 1)
    assert opening.offered_patient(store, "3", now + 2) is None  # used


@pytest.mark.parametrize("text", [
    "MSH|^~\\&|REG|NORTH|||20260101||ADT^A04\rPID|||PT-1\rPV1||O|^^3\r",  # MSH ends at MSH-9
    "MSH|^~\\&|REG|NORTH|||20260101||ORM|C1|P|2.5\rPID|||PT-1\r",        # MSH-9 without its event
])
def test_a_short_or_odd_header_is_still_answered(store, text):
    code, _, _ = msa(answer(store, DEST, text, time.time()))
    assert code in ("AA", "AR")
    assert len(arrivals.recent(store, "3", 0)) == (1 if code == "AA" else 0)


def test_what_a_sender_names_itself_is_kept_short(store):
    answer(store, DEST, adt(control="C" * 5000).replace("|REG|CLINIC|", "|" + "R" * 100_000 + "|CLINIC|"), time.time())
    (got,) = arrivals.recent(store, "3", 0)
    assert len(got["sender"]) <= 200 and len(got["control_id"]) <= 200


@pytest.mark.slow
def test_the_listener_bounds_what_a_stranger_can_hold(store):
    dest = Destination(name="registration", kind="adt", host="127.0.0.1", port=free_port(), sends=(),
                       chair_from="bed")
    listener = AdmissionsListener(store, dest)
    listener.max_connections, listener.idle_s = 2, 0.5
    listener.start()

    async def hold_and_try() -> tuple[bool, str]:
        held = [await open_hl7_connection("127.0.0.1", dest.port) for _ in range(2)]
        await asyncio.sleep(0.1)
        reader, writer = await open_hl7_connection("127.0.0.1", dest.port)  # the third: closed at once
        refused = (await asyncio.wait_for(reader.read(), 5)) == b""
        await asyncio.sleep(0.8)  # the two held ones sent nothing: closed as idle; a new one is served
        ok = await _send(dest.port, [adt(control="Z")])
        for _, w in held:
            w.close()
        writer.close()
        return refused, msa(ok[0])[0]

    try:
        assert asyncio.run(hold_and_try()) == (True, "AA")
    finally:
        listener.stop()
