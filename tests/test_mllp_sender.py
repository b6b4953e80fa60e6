"""The MLLP sender (monitor/integrations/mllp.py) against a real MLLP listener on a real port
(tests/mllp_listener.py): delivered in order and removed on an accepting ACK for its own
control id; kept, with its reason and a backoff, on anything else; a receiver down for an hour
gets everything afterwards, in order, none lost; a restarted sender resumes from the head;
the one duplicate a receiver sees is the message whose ACK was lost."""
from __future__ import annotations

import time

import pytest

from monitor.integrations.config import Destination
from monitor.integrations.delivery import RETRY_MIN_S, backoff
from monitor.integrations.mllp import MllpSender
from monitor.store import Store
from monitor.store import outbox

DEST = "lab"
T0 = 1_800_000_000.0


class Clock:
    """The sender's clock, moved by hand: backoffs are checked without waiting for them."""

    def __init__(self, t: float = T0):
        self.t = t

    def __call__(self) -> float:
        return self.t


def message(n: int) -> dict:
    control_id = f"C{n}"
    payload = (f"MSH|^~\\&|INFUSION-MONITOR|CLINIC|LIS|LAB|20270115083000||ORU^R01^ORU_R01|{control_id}|P|2.6\r"
               f"PID|1||PT-7\rOBR|1|||8867-4^Heart rate^LN\rOBX|1|NM|8867-4^Heart rate^LN||{60 + n}|/min\r")
    return {"kind": "hl7", "message_key": f"1/{n}", "control_id": control_id, "session_id": 1,
            "about_ts": T0 + n, "payload": payload}


def queue(store, first: int, last: int, now: float = T0) -> None:
    outbox.enqueue(store, DEST, [message(n) for n in range(first, last + 1)], now=now)


def ids(first: int, last: int) -> list[str]:
    return [f"C{n}" for n in range(first, last + 1)]


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def sender(store, mllp_listener, clock):
    s = MllpSender(store, Destination(DEST, "mllp", "127.0.0.1", mllp_listener.port, connect_timeout_s=2,
                                          ack_timeout_s=0.5), clock=clock)
    yield s
    s.close()


def head(store) -> dict:
    return outbox.due(store, DEST, now=float("inf"))[0]


def test_accepted_messages_are_delivered_in_order_and_removed(store, sender, mllp_listener, clock):
    queue(store, 1, 5)
    assert sender.send_pending() == {"sent": 5, "failed": None}
    assert mllp_listener.control_ids == ids(1, 5)
    assert mllp_listener.received[0].text == message(1)["payload"]  # the queued text, byte for byte
    assert mllp_listener.connections == 1  # one persistent connection
    assert outbox.due(store, DEST, now=clock.t) == []
    (status,) = outbox.queue_status(store, now=clock.t)
    assert (status["depth"], status["sent"], status["last_sent_at"]) == (0, 5, T0)
    queue(store, 6, 8)
    assert sender.send_pending(limit=2) == {"sent": 2, "failed": None}
    assert sender.send_pending() == {"sent": 1, "failed": None}
    assert mllp_listener.control_ids == ids(1, 8) and mllp_listener.connections == 1


@pytest.mark.slow
@pytest.mark.parametrize("behaviour,reason", [
    ("AE", "AE for control id 'C1': AE by the test listener"),
    ("AR", "AR for control id 'C1': AR by the test listener"),
    ("wrong_id", "AA for control id 'C1-OTHER', not 'C1'"),
    ("garbage", "unparsable answer"),
    ("silent", "no ACK within 0.5 s for control id 'C1'"),
    ("drop", "connection closed before the ACK for control id 'C1'"),
])
def test_a_message_not_accepted_stays_queued_with_its_reason_and_backs_off(
        store, sender, mllp_listener, clock, behaviour, reason):
    queue(store, 1, 3)
    mllp_listener.behaviour = behaviour
    result = sender.send_pending()
    where = f"lab (127.0.0.1:{mllp_listener.port}): "
    assert result["sent"] == 0 and result["failed"].startswith(where + reason)
    assert "\n" not in result["failed"]
    assert mllp_listener.control_ids == ["C1"]  # the pass stopped there: C2 never overtakes C1
    row = head(store)
    assert (row["control_id"], row["attempts"], row["last_error"], row["last_try"], row["next_try"]) == (
        "C1", 1, result["failed"], T0, T0 + 2)
    clock.t += 1.9
    assert sender.send_pending() == {"sent": 0, "failed": None}  # backing off: not tried
    assert mllp_listener.control_ids == ["C1"]
    mllp_listener.behaviour = "AA"
    clock.t = T0 + 2
    assert sender.send_pending() == {"sent": 3, "failed": None}
    assert mllp_listener.control_ids == ["C1", "C1", "C2", "C3"]
    assert outbox.queue_status(store, now=clock.t)[0]["depth"] == 0


def test_an_accepting_commit_ack_counts_and_an_error_one_does_not(store, sender, mllp_listener):
    queue(store, 1, 2)
    mllp_listener.behaviour = "CA"
    assert sender.send_pending(limit=1) == {"sent": 1, "failed": None}
    mllp_listener.behaviour = "CE"
    assert sender.send_pending()["failed"].endswith("CE for control id 'C2': CE by the test listener")


def test_the_backoff_doubles_up_to_its_ceiling_while_nobody_listens(store, sender, mllp_listener, clock):
    mllp_listener.stop()
    queue(store, 1, 1)
    waits = []
    for _ in range(8):
        result = sender.send_pending()
        assert "cannot connect" in result["failed"] and f"127.0.0.1:{mllp_listener.port}" in result["failed"]
        waits.append(head(store)["next_try"] - clock.t)
        clock.t = head(store)["next_try"]
    assert waits == [2, 4, 8, 16, 32, 60, 60, 60]
    assert head(store)["attempts"] == 8
    assert backoff(10_000, RETRY_MIN_S, sender.destination.retry_max_s) == 60


def test_a_receiver_restarted_between_passes_costs_no_failure(store, sender, mllp_listener):
    queue(store, 1, 2)
    assert sender.send_pending()["sent"] == 2
    mllp_listener.stop()  # closes the sender's connection too
    mllp_listener.start()
    queue(store, 3, 4)
    assert sender.send_pending() == {"sent": 2, "failed": None}  # the closed connection noticed, a new one opened
    assert mllp_listener.control_ids == ids(1, 4) and mllp_listener.connections == 2


@pytest.mark.slow
def test_a_receiver_down_for_an_hour_gets_everything_in_order(store, sender, mllp_listener, clock):
    queue(store, 1, 5)
    assert sender.send_pending()["sent"] == 5
    mllp_listener.stop()
    started, tries, n = time.monotonic(), 0, 5
    while clock.t < T0 + 3600:  # an hour of the sender's clock, a pass every 18 s, a result queued each time
        clock.t += 18
        n += 1
        queue(store, n, n, now=clock.t)
        result = sender.send_pending()
        assert result["sent"] == 0
        tries += result["failed"] is not None
    assert n == 205
    # tried about once a minute (the backoff's ceiling, then the next pass), not at every pass
    assert 3600 / (60 + 18) <= tries <= 3600 / 60 + 6 and head(store)["attempts"] == tries
    assert outbox.queue_status(store, now=clock.t)[0]["depth"] == 200
    mllp_listener.start()
    clock.t += 60
    assert sender.send_pending() == {"sent": 200, "failed": None}
    assert mllp_listener.control_ids == ids(1, 205)  # every one, in order, none twice
    assert outbox.due(store, DEST, now=clock.t) == []
    assert time.monotonic() - started < 10


def test_a_restarted_sender_resumes_from_the_head(db_path, mllp_listener, clock):
    destination = Destination(DEST, "mllp", "127.0.0.1", mllp_listener.port, ack_timeout_s=0.5)
    first_store = Store(db_path)
    queue(first_store, 1, 6)
    with MllpSender(first_store, destination, clock=clock) as first:
        assert first.send_pending(limit=3)["sent"] == 3
        mllp_listener.behaviour = "AE"
        assert first.send_pending()["failed"]
    first_store.close()
    mllp_listener.behaviour = "AA"
    store = Store(db_path)  # the process started again: everything it knows is in the database
    try:
        with MllpSender(store, destination, clock=clock) as second:
            clock.t += 1
            assert second.send_pending() == {"sent": 0, "failed": None}  # the head's backoff survived
            clock.t += 1
            assert second.send_pending() == {"sent": 3, "failed": None}
        assert mllp_listener.control_ids == ids(1, 4) + ids(4, 6)
    finally:
        store.close()


@pytest.mark.slow
@pytest.mark.parametrize("lost_by", ["drop", "silent"])
def test_the_only_duplicate_is_the_message_whose_ack_was_lost(store, sender, mllp_listener, clock, lost_by):
    queue(store, 1, 5)
    assert sender.send_pending(limit=2)["sent"] == 2
    mllp_listener.behaviour = lost_by  # C3 arrives; its ACK never comes back
    assert sender.send_pending()["failed"]
    in_flight = head(store)["control_id"]
    assert in_flight == "C3" and mllp_listener.control_ids[-1] == in_flight
    mllp_listener.behaviour = "AA"
    clock.t += 2
    assert sender.send_pending() == {"sent": 3, "failed": None}
    got = mllp_listener.control_ids
    assert got == ["C1", "C2", "C3", "C3", "C4", "C5"]
    assert {c for c in got if got.count(c) > 1} == {in_flight}


def test_an_ack_is_judged_by_its_msa_alone():
    import hl7
    from monitor.integrations.mllp import judge_ack
    msh = "MSH|^~\\&|LIS|LAB|INFUSION-MONITOR|CLINIC|20270115083001||ACK^R01^ACK|A1|P|2.6\r"
    assert judge_ack(hl7.parse(msh + "MSA|AA|C1"), "C1") is None
    assert judge_ack(hl7.parse(msh + "MSA|CA|C1"), "C1") is None
    assert judge_ack(hl7.parse(msh), "C1") == "answer without an MSA segment"
    assert judge_ack(hl7.parse(msh + "MSA|AA"), "C1") == "AA for control id '', not 'C1'"
    assert judge_ack(hl7.parse(msh + "MSA|AR|C1|unknown patient"), "C1") == "AR for control id 'C1': unknown patient"
