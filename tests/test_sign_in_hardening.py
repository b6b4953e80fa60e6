"""What the security audit of sign-in found, each held (README "Security"): names without
case in the throttle, distinct initials, every refused page write in the audit trail,
HEAD is never a sign-in, an anonymous callback is told to sign in (401), not "CSRF"."""
from __future__ import annotations

import time

import pytest

from conftest import CLINICIAN, NURSE, TEST_PASSWORD, add_test_users, login_form_token, sign_in_test_client
from monitor import access
from monitor.model import Event
from monitor.sessions import RuleError
from monitor.store import Conflict, people
from monitor.web import create_app
from monitor.web.alarms import acknowledge_action
from monitor.web.bedside import bedside_action

pytestmark = pytest.mark.both_engines  # on SQLite and on PostgreSQL (conftest.py)


@pytest.fixture
def app_client(store, protocol):
    add_test_users(store)
    return create_app(store, protocol).server.test_client()


def test_failed_sign_ins_count_a_name_whatever_its_case(store):
    now = time.time()
    for name in ("Victim.Nurse", "VICTIM.NURSE", "victim.nurse"):
        people.record(store, None, "login", "failed", user=name, address="10.0.0.9")
    by_name, by_address = people.failed_logins(store, "victim.NURSE", "10.0.0.1", now - 60)
    assert len(by_name) == 3 and by_address == []


def test_one_persons_typos_at_a_shared_computer_do_not_lock_out_the_next_nurse(store):
    now = time.time()
    for k in range(access.LOGIN_FAILURES_ALLOWED):
        people.record(store, None, "login", "failed", user=f"typo{k}", address="10.0.0.7")
    by_name, by_address = people.failed_logins(store, "nurse1", "10.0.0.7", now - access.LOGIN_WINDOW_S)
    assert access.login_wait(by_name, now) == 0.0
    assert access.login_wait(by_address, now, access.LOGIN_FAILURES_PER_ADDRESS) == 0.0
    # a guesser spraying names from that address is slowed down all the same
    spray = [now - k for k in range(access.LOGIN_FAILURES_PER_ADDRESS)]
    assert access.login_wait(spray, now, access.LOGIN_FAILURES_PER_ADDRESS) > 0


@pytest.mark.slow
def test_users_never_sign_alike(store):
    add_test_users(store)
    a = people.add_user(store, "nurse2", "nurse", TEST_PASSWORD)
    b = people.add_user(store, "nurse3", "nurse", TEST_PASSWORD)
    assert a["initials"] != b["initials"] and {a["initials"], b["initials"]}.isdisjoint({"RN", "DR", "AD"})
    with pytest.raises(Conflict, match="initials RN are already nurse1's"):
        people.add_user(store, "rnurse", "nurse", TEST_PASSWORD, initials="RN")
    assert list(access.initials_candidates("x1")) == []
    with pytest.raises(RuleError, match="no free initials"):
        people.add_user(store, "x1", "nurse", TEST_PASSWORD)


def _session_with_alarm(store, chair):
    sid, _ = store.open_session("P-" + chair, chair, "ketamine-iv", time.time() - 60)
    return sid


def test_a_refused_page_write_is_in_the_audit_trail(store, protocol):
    add_test_users(store)
    a = _session_with_alarm(store, "1")
    b = _session_with_alarm(store, "2")
    # a stale or forged page: chair 1's page naming chair 2's session
    msg = bedside_action(store, "act-stat", {"chair": "1", "session_id": b}, NURSE)
    assert "out of date" in msg
    # a nurse ending a session: the role, before anything else
    msg = bedside_action(store, "act-end", {"chair": "1", "session_id": a}, NURSE)
    assert msg.startswith("Not recorded: Session end needs a clinician login")
    rows = people.audit_rows(store, user=NURSE.name, outcome="refused")
    by_action = {r["action"]: r for r in rows}
    assert by_action["stat_bp"]["chair"] == "1" and "out of date" in by_action["stat_bp"]["detail"]
    assert by_action["session_end"]["chair"] == "1" and by_action["session_end"]["session_id"] == a
    # nothing was written for either
    from monitor.store import queries
    assert [e for e in queries.events(store, a) if e["type"] == "session_end"] == []


def test_acknowledging_an_alarm_of_another_chair_is_refused_and_audited(store, protocol):
    add_test_users(store)
    from monitor.model import Alert
    a = _session_with_alarm(store, "1")
    b = _session_with_alarm(store, "2")
    store.put_change(b, Alert(key="spo2_low", rule="spo2_low", parameter="spo2", kind="physiological",
                              priority="high", started_at=time.time() - 5, ended_at=None, value=85, limit=90,
                              message="SpO2 85 < 90"))
    store.flush()
    from monitor.store import queries
    alert_id = queries.alarm_board(store, b)[0]["id"]
    msg, _ = acknowledge_action(store, alert_id, NURSE, {"chair": "1", "session_id": a})
    assert msg == "That alarm is not on this chair."
    assert queries.alarm_board(store, b)[0]["acknowledged_at"] is None
    row = people.audit_rows(store, user=NURSE.name, action="acknowledge")[0]
    assert row["outcome"] == "refused" and row["chair"] == "1" and f"no alarm {alert_id}" in row["detail"]


def test_head_on_the_login_page_never_signs_in(app_client, store):
    form = login_form_token(app_client.get("/login").get_data(as_text=True))
    r = app_client.open("/login", method="HEAD", data={"name": CLINICIAN.name, "password": TEST_PASSWORD,
                                                       "csrf_token": form})
    assert r.status_code == 200
    assert app_client.get("/_dash-layout").status_code == 401  # still anonymous
    assert people.audit_rows(store, action="login") == []  # nothing tried, nothing counted


def test_an_anonymous_callback_is_told_to_sign_in(app_client):
    r = app_client.post("/_dash-update-component", json={"output": "page.children", "outputs": {
        "id": "page", "property": "children"}, "inputs": [], "changedPropIds": []})
    assert r.status_code == 401 and "signed out" in r.get_data(as_text=True)


@pytest.mark.slow
def test_junk_typed_as_a_name_is_not_kept(app_client, store):
    token = login_form_token(app_client.get("/login").get_data(as_text=True))
    app_client.post("/login", data={"name": "=cmd|' /C calc'!A0\nforged row", "password": "x" * 9,
                                    "csrf_token": token})
    assert [r["user"] for r in people.audit_rows(store, action="login")] == ["(not a user name)"]


@pytest.mark.slow
def test_a_signed_in_nurse_is_refused_the_session_list_callback(app_client):
    client = sign_in_test_client(app_client, "nurse")
    r = client.post("/_dash-update-component", json={
        "output": "..sl-table.children...sl-count.children...sl-page.data..",
        "outputs": [{"id": "sl-table", "property": "children"}, {"id": "sl-count", "property": "children"},
                    {"id": "sl-page", "property": "data"}], "inputs": [], "changedPropIds": []})
    assert r.status_code == 403


def test_a_reviewer_signs_a_record_once(store):
    from monitor.store import queries
    from monitor.web.review import sign_off_action
    add_test_users(store)
    sid = _session_with_alarm(store, "5")
    store.record_event(sid, Event(time.time(), "session_end", "", "DR"))
    assert sign_off_action(store, sid, CLINICIAN) == ("Signed by doc1 (DR).", True)
    again = sign_off_action(store, sid, CLINICIAN)
    assert again == ("Not signed: Already signed by DR: a reviewer signs a record once.", False)
    assert len([e for e in queries.events(store, sid) if e["type"] == "review_signoff"]) == 1
    assert people.audit_rows(store, action="review_signoff", outcome="refused")[0]["user"] == "doc1"


def test_an_import_and_its_audit_row_commit_together(store):
    """The row naming who imported a session is written by the transaction that makes it visible."""
    from monitor.store.transfer import insert_session
    session = {"patient_ref": "PT-IMP", "chair": "9", "protocol": "ketamine-iv", "state": "ended",
               "started_at": 1000.0, "ended_at": 2000.0, "source": "import"}
    sid = insert_session(store, session, [], [(1001.0, "hr", 70.0, "ox", "ok", None)], [], [],
                         actor=access.Actor("cli:test", "admin", "CL", "cli"), detail="x.csv")
    (row,) = people.audit_rows(store, action="import")
    assert (row["user"], row["chair"], row["session_id"], row["detail"]) == ("cli:test", "9", sid, "x.csv")
    with pytest.raises(access.AccessError):  # nobody but the command line's operator imports
        insert_session(store, session, [], [], [], [], actor=CLINICIAN)
    from monitor.store import queries
    assert [s["id"] for s in queries.sessions(store)] == [sid]  # the refused one left nothing


def test_setting_the_role_a_user_already_has_ends_nobodys_sign_in(store):
    add_test_users(store)
    before = people.user(store, NURSE.name)["login_version"]
    with pytest.raises(RuleError, match="nothing to change: nurse1 is already nurse"):
        people.change_user(store, NURSE.name, role="nurse")
    with pytest.raises(RuleError, match="already enabled"):
        people.change_user(store, NURSE.name, active=True)
    assert people.user(store, NURSE.name)["login_version"] == before
