"""A message its receiver will never take, set aside by an administrator (store/outbox.py
`set_aside`, the /admin form in web/outbox_panel.py, `integrate --set-aside`), on both engines.

The outbox sends strictly in order, so a first message refused for good (an AR) holds
everything behind it. Set aside, it leaves the queue whole (payload, tries, last reason) with
who, when and why, in one transaction with its audit row, and the messages behind it go to the
real MLLP listener. Only an administrator, only a head the receiver itself refused (not one it
could not reach), only the head the person saw, only with a reason; every refusal changes
nothing and is itself audited. A purged session takes its messages with it.
"""
from __future__ import annotations

import time

import pytest

from conftest import ADMIN, CLINICIAN, NURSE
from monitor.access import AccessError
from monitor.integrations.config import Destination
from monitor.integrations.mllp import MllpSender
from monitor.sessions import RuleError
from monitor.store import Conflict, NotFound, outbox, people
from monitor.web import outbox_panel

pytestmark = pytest.mark.both_engines  # on SQLite and on PostgreSQL (conftest.py)

DEST = "lab"
T0 = 1_800_000_000.0


def message(n: int) -> dict:
    payload = (f"MSH|^~\\&|INFUSION-MONITOR|CLINIC|LIS|LAB|20270115083000||ORU^R01^ORU_R01|C{n}|P|2.6\r"
               f"PID|1||PT-7\rOBR|1|||8867-4^Heart rate^LN\rOBX|1|NM|8867-4^Heart rate^LN||{60 + n}|/min\r")
    return {"kind": "hl7", "message_key": f"1/{n}", "control_id": f"C{n}", "session_id": 1,
            "about_ts": T0 + n, "payload": payload}


def queued(store) -> list[str]:
    return [r["control_id"] for r in outbox.due(store, DEST, now=float("inf"))]


def refused_head(store, n: int = 3) -> dict:
    """n messages queued; the first tried and refused (AR), as the sender leaves it."""
    outbox.enqueue(store, DEST, [message(k) for k in range(1, n + 1)], now=T0)
    head = outbox.due(store, DEST, now=T0)[0]
    outbox.failed(store, head["id"], "lab (127.0.0.1:2575): AR: unknown patient", next_try=T0 + 60, now=T0 + 1,
                  answered=True)
    return outbox.due(store, DEST, now=float("inf"))[0]


def audit(store, outcome: str) -> list[dict]:
    return [r for r in people.audit_rows(store, action="outbox_set_aside") if r["outcome"] == outcome]


def test_a_refused_head_set_aside_is_kept_whole_audited_and_the_rest_go(store, mllp_listener):
    outbox.enqueue(store, DEST, [message(k) for k in range(1, 4)], now=T0)
    sender = MllpSender(store, Destination(DEST, "mllp", "127.0.0.1", mllp_listener.port, connect_timeout_s=2,
                                               ack_timeout_s=2), clock=lambda: T0 + 5)
    try:
        mllp_listener.stop()  # first the receiver cannot be reached: nothing to set aside, it would not help
        assert "cannot connect" in sender.send_pending()["failed"]
        unreached = outbox.due(store, DEST, now=float("inf"))[0]
        assert outbox.queue_status(store, now=T0 + 6)[0]["head_answered"] is False
        with pytest.raises(Conflict, match="was not refused by the receiver"):
            outbox.set_aside(store, DEST, unreached["id"], ADMIN, "the LIS refuses it", now=T0 + 6)
        mllp_listener.start()
        mllp_listener.behaviour = "AR"  # the receiver refuses C1 and would for ever
        outbox.failed(store, unreached["id"], unreached["last_error"], next_try=T0, now=T0)  # due again now
        assert sender.send_pending()["failed"].endswith("AR by the test listener")
        before = outbox.due(store, DEST, now=float("inf"))[0]
        status = outbox.queue_status(store, now=T0 + 6)[0]
        assert (status["head_id"], status["head_message_key"], status["head_control_id"], status["head_attempts"],
                status["head_answered"]) == (before["id"], "1/1", "C1", 3, True)

        row = outbox.set_aside(store, DEST, before["id"], ADMIN, "  unknown patient at the LIS;\n ticket 4411 ",
                               now=T0 + 10)
        assert queued(store) == ["C2", "C3"]
        for key in ("kind", "message_key", "control_id", "session_id", "about_ts", "payload", "queued_at",
                    "attempts", "last_error"):
            assert row[key] == before[key], key  # kept whole
        assert (row["outbox_id"], row["destination"], row["set_aside_at"], row["set_aside_by"], row["reason"],
                row["delivered_at"]) == (before["id"], DEST, T0 + 10, "admin1", "unknown patient at the LIS; ticket 4411",
                                         None)
        assert outbox.set_aside_messages(store) == [row] == outbox.set_aside_messages(store, DEST)
        assert outbox.set_aside_messages(store, "elsewhere") == []
        assert outbox.queue_status(store, now=T0 + 11)[0]["set_aside"] == 1
        [entry] = audit(store, "ok")
        assert entry["user"] == "admin1" and entry["role"] == "admin" and entry["session_id"] == 1
        assert "(1/1, control id C1, 3 tries; last: lab (127.0.0.1:" in entry["detail"]
        assert "AR by the test listener" in entry["detail"]
        assert entry["detail"].startswith(f"lab: message {before['id']} set aside: unknown patient at the LIS; ticket 4411")

        mllp_listener.behaviour = "AA"  # the next messages are ones the receiver takes
        assert sender.send_pending() == {"sent": 2, "failed": None}
        assert mllp_listener.control_ids == ["C1", "C2", "C3"]  # C1 once, refused; never sent again
        assert queued(store) == [] and outbox.queue_status(store, now=T0 + 12)[0]["sent"] == 2
    finally:
        sender.close()


@pytest.mark.parametrize("who, head_offset, reason, error, words", [
    (NURSE, 0, "the LIS refuses it", AccessError, "admin"),
    (CLINICIAN, 0, "the LIS refuses it", AccessError, "admin"),
    (ADMIN, 0, "bad", RuleError, "Reason"),
    (ADMIN, 0, "   \n  ", RuleError, "Reason"),
    (ADMIN, 0, "x" * 201, RuleError, "Reason: at most 200"),
    (ADMIN, 1, "the LIS refuses it", Conflict, "no longer the first waiting"),
])
def test_a_refused_set_aside_changes_nothing_and_is_audited(store, who, head_offset, reason, error, words):
    head = refused_head(store)
    with pytest.raises(error, match=words):
        outbox.set_aside(store, DEST, head["id"] + head_offset, who, reason, now=T0 + 10)
    assert queued(store) == ["C1", "C2", "C3"] and outbox.set_aside_messages(store) == []
    assert outbox.due(store, DEST, now=float("inf"))[0]["attempts"] == 1
    [entry] = audit(store, "refused")
    assert entry["user"] == who.name and words.split()[0].lower() in entry["detail"].lower()
    assert audit(store, "ok") == []


def test_only_a_head_that_was_refused_and_is_still_there(store):
    outbox.enqueue(store, DEST, [message(1)], now=T0)
    untried = outbox.due(store, DEST, now=T0)[0]
    with pytest.raises(Conflict, match="has not been tried yet"):
        outbox.set_aside(store, DEST, untried["id"], ADMIN, "the LIS refuses it", now=T0 + 1)
    outbox.delivered(store, untried["id"], now=T0 + 2)
    with pytest.raises(NotFound, match="nothing is waiting"):
        outbox.set_aside(store, DEST, untried["id"], ADMIN, "the LIS refuses it", now=T0 + 3)
    with pytest.raises(NotFound, match="no destination named 'labb' has queued anything"):
        outbox.set_aside(store, "labb", untried["id"], ADMIN, "the LIS refuses it", now=T0 + 3)
    for bad in ("abc", 1.9, None, True):  # what a hand-made request could carry: refused, not a crash
        with pytest.raises(RuleError, match="whole number"):
            outbox.set_aside(store, DEST, bad, ADMIN, "the LIS refuses it", now=T0 + 3)
    assert outbox.set_aside_messages(store) == [] and len(audit(store, "refused")) == 7


def test_the_reason_is_in_the_audit_row_however_long_the_receiver_s_answer(store):
    outbox.enqueue(store, DEST, [message(1)], now=T0)
    head = outbox.due(store, DEST, now=T0)[0]
    outbox.failed(store, head["id"], "lab (10.0.0.5:2575): AR: " + "ERR|" * 70, next_try=T0, now=T0, answered=True)
    reason = "patient unknown to the LIS; ticket 88 " + "y" * 150
    outbox.set_aside(store, DEST, head["id"], ADMIN, reason, now=T0 + 1)
    [entry] = audit(store, "ok")
    assert reason.strip() in entry["detail"]


def test_a_purged_session_takes_its_messages_with_it(store):
    sid = store.open_session("PT-7", "1", "ketamine-iv", T0)[0]
    outbox.enqueue(store, DEST, [message(1, ) | {"session_id": sid}, message(2) | {"session_id": sid},
                                 message(3) | {"session_id": sid + 1000}], progress=(sid, T0, 0), now=T0)
    head = outbox.due(store, DEST, now=T0)[0]
    outbox.failed(store, head["id"], "lab: AR: unknown patient", next_try=T0, now=T0, answered=True)
    outbox.set_aside(store, DEST, head["id"], ADMIN, "the LIS refuses it", now=T0 + 1)
    store.delete_session(sid)
    assert queued(store) == ["C3"] and outbox.set_aside_messages(store) == []
    assert outbox.progress(store, DEST, sid) == (None, None)


def test_a_try_on_its_way_when_set_aside_that_is_taken_after_all_is_said_so(store):
    head = refused_head(store)
    outbox.set_aside(store, DEST, head["id"], ADMIN, "the LIS refuses it", now=T0 + 10)
    # the sender's try, begun before, comes back accepted: nothing is counted twice, the record tells
    assert outbox.delivered(store, head["id"], now=T0 + 11) is False
    [row] = outbox.set_aside_messages(store)
    assert row["delivered_at"] == T0 + 11 and queued(store) == ["C2", "C3"]
    assert outbox.queue_status(store, now=T0 + 12)[0]["sent"] == 1  # it was delivered: counted once
    assert outbox.delivered(store, head["id"], now=T0 + 13) is False  # a repeat counts nothing
    assert outbox.queue_status(store, now=T0 + 14)[0]["sent"] == 1
    html = str(outbox_panel.set_aside_view(store, ADMIN))
    assert "delivered after all" in html


def test_the_admin_form_sets_aside_what_it_shows(store):
    head = refused_head(store)
    heads = outbox_panel.refused_heads(store, ADMIN, now=T0 + 5)
    assert list(heads) == [DEST]
    text = outbox_panel.head_text(heads[DEST])
    assert f"message {head['id']} (1/1, control id C1), tried 1 times: lab (127.0.0.1:2575): AR" in text
    with pytest.raises(AccessError):
        outbox_panel.refused_heads(store, NURSE)
    assert outbox_panel.confirm_text(heads[DEST]) == (f"Set aside message {head['id']} (1/1) of lab? It will not be "
                                                      "sent unless somebody sends it again by hand.")
    assert outbox_panel.drift_text(DEST, head["id"], heads[DEST]) is None
    message_text, ok, again = outbox_panel.set_aside_action(store, NURSE, DEST, head["id"], "the LIS refuses it")
    assert not ok and not again and message_text.startswith("Not set aside:") and queued(store) == ["C1", "C2", "C3"]
    message_text, ok, again = outbox_panel.set_aside_action(store, ADMIN, DEST, None, "the LIS refuses it")
    assert not ok and "choose a destination" in message_text
    message_text, ok, again = outbox_panel.set_aside_action(store, ADMIN, DEST, head["id"], "bad")
    assert not ok and not again  # the reason is refused: the form keeps what it shows
    message_text, ok, again = outbox_panel.set_aside_action(store, ADMIN, DEST, head["id"], "the LIS refuses it",
                                                            now=T0 + 20)
    assert ok and again and message_text == f"lab: message {head['id']} (1/1) set aside; the messages behind it go next."
    assert queued(store) == ["C2", "C3"] and outbox_panel.refused_heads(store, ADMIN) == {}
    listing = str(outbox_panel.set_aside_view(store, ADMIN))
    assert "the LIS refuses it" in listing and "admin1" in listing and f"{head['id']} (1/1" in listing
    # the same button again: the head it named is gone, nothing else is set aside, the form reads again
    second = outbox.due(store, DEST, now=float("inf"))[0]
    outbox.failed(store, second["id"], "lab: AR: unknown patient", next_try=T0, now=T0, answered=True)
    now_first = outbox_panel.refused_heads(store, ADMIN)[DEST]
    assert outbox_panel.drift_text(DEST, head["id"], now_first) == (
        f"Message {head['id']} is no longer the first of lab waiting for a refusal to be set aside "
        f"(message {second['id']} is): choose the destination again.")
    message_text, ok, again = outbox_panel.set_aside_action(store, ADMIN, DEST, head["id"], "the LIS refuses it")
    assert not ok and again and "no longer the first waiting" in message_text and queued(store) == ["C2", "C3"]


@pytest.mark.slow  # the CLI in a subprocess
@pytest.mark.sqlite_only
def test_integrate_set_aside_from_the_command_line(store, cli):
    head = refused_head(store)
    status = cli("integrate", "--status")
    assert status.returncode == 0
    assert f"retrying message {head['id']} (1/1): lab (127.0.0.1:2575): AR: unknown patient" in status.stdout
    both = cli("integrate", "--status", "--set-aside", DEST, "--message", str(head["id"]), "--reason", "the LIS")
    assert both.returncode == 2 and "--status and --set-aside: one at a time" in both.stderr
    refused = cli("integrate", "--set-aside", DEST, "--message", str(head["id"]))
    assert refused.returncode == 2 and "--reason" in refused.stderr
    wrong = cli("integrate", "--set-aside", DEST, "--message", str(head["id"] + 1), "--reason", "the LIS refuses it")
    assert wrong.returncode == 2 and "no longer the first waiting" in wrong.stderr
    assert cli("integrate", "--message", "1").returncode == 2  # --message without --set-aside
    done = cli("integrate", "--set-aside", DEST, "--message", str(head["id"]), "--reason", "the LIS refuses it")
    assert done.returncode == 0, done.stderr
    assert f"lab: message {head['id']} (1/1) set aside after 1 tries" in done.stdout
    assert queued(store) == ["C2", "C3"]
    assert "1 set aside" in cli("integrate", "--status").stdout
    listed = cli("integrate", "--set-aside-list")
    assert listed.returncode == 0 and f"lab: message {head['id']} (1/1, control id C1) set aside" in listed.stdout
    assert "the LIS refuses it (after 1 tries: lab (127.0.0.1:2575): AR: unknown patient)" in listed.stdout
    assert "    PID|1||PT-7" in listed.stdout  # its text, a segment a line
    import json
    [row] = json.loads(cli("integrate", "--set-aside-list", "--json").stdout)
    assert row["payload"] == message(1)["payload"] and row["reason"] == "the LIS refuses it"
    [entry] = audit(store, "ok")
    assert entry["user"].startswith("cli:") and entry["role"] == "admin"
    assert time.time() - outbox.set_aside_messages(store)[0]["set_aside_at"] < 60


@pytest.mark.browser
@pytest.mark.sqlite_only
def test_the_admin_page_sets_a_refused_message_aside(browser, server, store):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    from conftest import wait_until
    head = refused_head(store)
    srv = server()
    srv.login(browser, "admin", "/admin")

    def text(element_id: str) -> str:
        return browser.execute_script("const e = document.getElementById(arguments[0]); return e ? e.innerText : '';",
                                      element_id) or ""

    wait_until(lambda: "No message has been set aside" in text("adm-aside-list"), timeout=30)
    # the dropdown (drawn once its script has loaded) offers the destination whose head was refused
    wait_until(lambda: browser.find_elements(By.ID, "adm-aside-dest"), timeout=30)[0].click()
    wait_until(lambda: browser.find_elements(By.XPATH, f"//*[@role='option'][normalize-space()='{DEST}']"),
               timeout=10)[0].click()
    wait_until(lambda: f"message {head['id']} (1/1, control id C1), tried 1 times" in text("adm-aside-head-text"),
               timeout=15)
    button = browser.find_element(By.XPATH, "//button[normalize-space()='Set aside the first message']")
    button.click()  # no reason yet: refused, nothing moved
    WebDriverWait(browser, 10).until(lambda d: d.switch_to.alert).accept()
    wait_until(lambda: text("adm-aside-status").startswith("Not set aside: Reason"), timeout=15)
    assert queued(store) == ["C1", "C2", "C3"]
    browser.find_element(By.ID, "adm-aside-reason").send_keys("AR: unknown patient, LIS ticket 88")
    button.click()
    WebDriverWait(browser, 10).until(lambda d: d.switch_to.alert).accept()
    wait_until(lambda: text("adm-aside-status") == f"lab: message {head['id']} (1/1) set aside; the messages "
                                                   "behind it go next.", timeout=15)
    assert queued(store) == ["C2", "C3"]
    listed = wait_until(lambda: "LIS ticket 88" in text("adm-aside-list") and text("adm-aside-list"), timeout=10)
    assert "admin1" in listed and f"{head['id']} (1/1, control id C1)" in listed
    [entry] = audit(store, "ok")
    assert entry["user"] == "admin1" and "LIS ticket 88" in entry["detail"]


def test_an_http_receiver_s_error_answer_is_a_refusal_and_no_answer_is_not(store, fhir_receiver):
    from monitor.integrations.http_sender import HttpSender
    hook = Destination(name="hook", kind="webhook", url=fhir_receiver.url + "/hook", sends=("alerts",),
                       ack_timeout_s=1.0)
    outbox.enqueue(store, "hook", [{**message(1), "kind": "json", "payload": '{"alert": 1}'}], now=T0)
    sender = HttpSender(store, hook, clock=lambda: T0)
    fhir_receiver.behaviour = "drop"  # the connection goes without an answer: not the receiver's refusal
    assert sender.send_pending()["failed"]
    assert outbox.queue_status(store, now=T0)[0]["head_answered"] is False
    fhir_receiver.behaviour = "400"
    outbox.failed(store, outbox.due(store, "hook", now=float("inf"))[0]["id"], "-", next_try=T0, now=T0)
    assert "HTTP 400" in sender.send_pending()["failed"]
    status = outbox.queue_status(store, now=T0)[0]
    assert status["head_answered"] is True and "hook" in outbox_panel.refused_heads(store, ADMIN, now=T0)
