"""The administrator's page in-process: the audit trail's filters, paging and CSV (formulas
neutralised, the download itself audited), the user forms with the rules' own messages, and
a nurse or clinician refused by every function the page's callbacks call."""
from __future__ import annotations

import csv
import io
import time
from datetime import datetime, timedelta

import pytest

from monitor.access import AccessError, Actor
from monitor.exports import audit_csv
from monitor.exports.spreadsheet import restore
from monitor.model import Event
from monitor.sessions import RuleError
from monitor.store import people
from monitor.web import admin

from conftest import ADMIN, CLINICIAN, NURSE, TEST_PASSWORD, add_test_users

pytestmark = pytest.mark.both_engines  # on SQLite and on PostgreSQL (conftest.py)


def text(component) -> str:
    """All the text a Dash component tree shows."""
    if component is None:
        return ""
    if isinstance(component, (str, int, float)):
        return str(component)
    if isinstance(component, (list, tuple)):
        return " ".join(text(c) for c in component)
    return text(getattr(component, "children", None))


def cells(tr) -> list[str]:
    return [text(td) for td in tr.children]


@pytest.fixture
def trail(store, protocol):
    """Users, and an audit trail made the way the monitor makes one: logins, a failed login,
    a session opened and charted by a nurse, a limit change a nurse was refused."""
    add_test_users(store)
    people.login_succeeded(store, people.user(store, NURSE.name), "10.0.0.5")
    people.record(store, None, "login", "failed", user="=cmd|' /C calc'!A0", address="10.0.0.9")
    sid = store.open_session("PT-AUD", "3", protocol.name, time.time() - 60, actor=NURSE)[0]
    store.record_event(sid, Event(time.time(), "note", "+quiet now", "RN"), actor=NURSE)
    with pytest.raises(RuleError):
        store.record_event(sid, Event(time.time(), "limit_change", "spo2_critical 80", "RN"),
                           {"parameter": "spo2", "limit": "spo2_critical", "value": 80}, actor=NURSE)
    return sid


def test_the_trail_is_newest_first_and_each_filter_narrows_it(store, trail):
    rows, total = admin.audit_table_rows(store, ADMIN, {})
    assert total == len(rows) == people.audit_count(store) >= 5
    times = [people.audit_rows(store, limit=None)[i]["ts"] for i in range(total)]
    assert times == sorted(times, reverse=True)
    assert [getattr(r, "data-action") for r in rows][-1] == "login"  # the first thing that happened

    def actions(**filters):
        return [getattr(r, "data-action") for r in admin.audit_table_rows(store, ADMIN, filters)[0]]
    assert actions(user=NURSE.name) == ["limit_change", "note", "open_session", "login"]
    assert actions(action="login") == ["login", "login"]
    assert actions(action="login", outcome="failed") == ["login"]
    assert actions(outcome="refused") == ["limit_change"]
    assert actions(chair="3", outcome="ok") == ["note", "open_session"]
    assert actions(session_id=str(trail)) == ["limit_change", "note", "open_session"]
    assert actions(session_id=str(trail + 1)) == []
    today = datetime.now().strftime("%Y-%m-%d")
    tomorrow = (datetime.now() + timedelta(days=1)).strftime("%Y-%m-%d")
    assert len(actions(date_from=today, date_to=today)) == total  # the 'to' day is included
    assert actions(date_from=tomorrow) == []
    row = cells(admin.audit_table_rows(store, ADMIN, {"outcome": "refused"})[0][0])
    assert row[1:5] == [NURSE.name, "nurse", "limit_change", "refused"] and row[6] == str(trail)
    assert "clinician" in row[7]  # the refusal names the role it needs


def test_bad_filters_name_their_field(store, trail):
    for filters, field in (({"session_id": "12a"}, "Session id"), ({"session_id": "0"}, "Session id"),
                           ({"session_id": str(2**64)}, "Session id"), ({"outcome": "maybe"}, "Outcome"),
                           ({"date_from": "yesterday"}, "Date from")):
        with pytest.raises(RuleError, match=field):
            admin.audit_query(filters)
        table, count, _ = admin.audit_view(store, ADMIN, filters)
        assert field in text(table) and count == "No entries shown."


def test_the_page_is_limited_and_says_how_many_match(store, trail, monkeypatch):
    monkeypatch.setattr(admin, "PAGE_SIZE", 2)
    total = people.audit_count(store)
    table, count, n = admin.audit_view(store, ADMIN, {})
    assert n == total and count == f"Entries 1–2 of {total} matching, newest first"
    second, _ = admin.audit_table_rows(store, ADMIN, {}, page=1)
    first, _ = admin.audit_table_rows(store, ADMIN, {}, page=0)
    assert len(second) == 2 and [cells(r) for r in second] != [cells(r) for r in first]
    assert admin.audit_view(store, ADMIN, {"action": "no-such"})[1] == "No entries match."


def test_csv_holds_every_match_with_formulas_neutralised_and_the_download_is_audited(store, trail, monkeypatch):
    monkeypatch.setattr(admin, "PAGE_SIZE", 1)  # the download is not limited to the page shown
    filters = {"action": "login"}
    got = admin.audit_download(store, ADMIN, filters)
    assert got["filename"].startswith("audit-") and got["filename"].endswith(".csv") and got["type"] == "text/csv"
    table = list(csv.reader(io.StringIO(got["content"])))
    assert table[0] == list(audit_csv.COLUMNS)
    assert len(table) == 3  # header and both logins
    failed = dict(zip(table[0], table[1] if table[1][4] == "failed" else table[2]))
    assert failed["user"] == "'=cmd|' /C calc'!A0" and restore(failed["user"]) == "=cmd|' /C calc'!A0"
    assert failed["ts"].endswith("Z") and "T" in failed["ts"] and failed["address"] == "10.0.0.9"
    note = list(csv.DictReader(io.StringIO(admin.audit_csv_text(store, ADMIN, {"action": "note"}))))
    assert note[0]["session_id"] == str(trail) and note[0]["role"] == "nurse"
    export = people.audit_rows(store, action="audit_export")
    assert [(e["user"], e["outcome"], e["detail"]) for e in export] == [(ADMIN.name, "ok", "action=login")]
    assert admin.filters_text({}) == "all entries"


def test_a_nurse_or_clinician_is_refused_everything_and_a_refused_download_is_audited(store, trail):
    impostor = Actor(ADMIN.name, "nurse", "AD", "test")  # the role is the login's, whatever the name
    for actor in (NURSE, CLINICIAN, impostor):
        with pytest.raises(AccessError, match="administrator"):
            admin.audit_table_rows(store, actor, {})
        with pytest.raises(AccessError):
            admin.audit_csv_text(store, actor, {})
        with pytest.raises(AccessError):
            admin.audit_download(store, actor, {})
        with pytest.raises(AccessError):
            admin.users_table_rows(store, actor)
        page = text(admin.page(store, actor))
        others = {NURSE.name, CLINICIAN.name, ADMIN.name} - {actor.name}
        assert "Not for your role" in page and not any(n in page for n in others) and "10.0.0.5" not in page
        message, ok = admin.add_user_action(store, actor, "mallory", "admin", None, TEST_PASSWORD, TEST_PASSWORD)
        assert not ok and "administrator" in message
        message, ok = admin.change_user_action(store, actor, ADMIN.name, role="nurse")
        assert not ok and "administrator" in message
    assert people.user(store, "mallory") is None and people.user(store, ADMIN.name)["role"] == "admin"
    refused = people.audit_rows(store, action="audit_export", outcome="refused")
    assert {r["user"] for r in refused} == {NURSE.name, CLINICIAN.name, ADMIN.name}
    assert people.audit_rows(store, action="audit_export", outcome="ok") == []


def test_the_users_table_shows_role_initials_login_state_and_last_sign_in(store, trail):
    rows = {getattr(r, "data-user"): cells(r) for r in admin.users_table_rows(store, ADMIN)}
    assert set(rows) == {ADMIN.name, CLINICIAN.name, NURSE.name}
    assert rows[NURSE.name][:4] == [NURSE.name, "nurse", "RN", "active"]
    assert rows[NURSE.name][5] != "never" and rows[CLINICIAN.name][5] == "never"
    assert rows[ADMIN.name][1] == "administrator"
    page = text(admin.page(store, ADMIN))
    assert "Audit trail" in page and NURSE.name in page and "Entries 1–" in page


@pytest.mark.slow
def test_add_change_disable_enable_with_the_rules_messages(store, trail):
    def add(name, role="nurse", initials=None, password=TEST_PASSWORD, again=TEST_PASSWORD):
        return admin.add_user_action(store, ADMIN, name, role, initials, password, again)
    assert add("mary.jones") == ("Added mary.jones (MJ, nurse).", True)
    assert add("mary.jones") == ("Not added: user mary.jones already exists", False)
    assert add("bob", again="different pw") == ("Not added: Password: the two passwords differ", False)
    assert add("bob", password="short", again="short")[0] == "Not added: Password: at least 8 characters"
    assert add("bad name!")[0].startswith("Not added: User name:")
    assert add("bob", initials="X")[0].startswith("Not added: Initials:")
    assert add("bob", role=None)[0].startswith("Not added: Role:")
    assert people.user(store, "bob") is None
    assert all(TEST_PASSWORD not in (r["detail"] or "") for r in people.audit_rows(store, limit=None))

    assert admin.change_user_action(store, ADMIN, "mary.jones", role="clinician")[1]
    assert people.user(store, "mary.jones")["role"] == "clinician"
    assert admin.change_user_action(store, ADMIN, "mary.jones", role="clinician") == \
        ("mary.jones is already a clinician.", False)
    assert admin.change_user_action(store, ADMIN, "mary.jones", active=False) == \
        ("mary.jones is disabled: they can no longer sign in.", True)
    assert people.verify_password(store, "mary.jones", TEST_PASSWORD) is None
    assert admin.change_user_action(store, ADMIN, "mary.jones", active=True)[1]
    assert people.verify_password(store, "mary.jones", TEST_PASSWORD) is not None
    assert admin.change_user_action(store, ADMIN, None, active=False)[0] == "Not changed: User: choose one from the list"
    assert admin.change_user_action(store, ADMIN, NURSE.name, role="")[0].startswith("Not changed: Role:")

    # the last active administrator can be neither disabled nor demoted
    for change in ({"active": False}, {"role": "clinician"}):
        message, ok = admin.change_user_action(store, ADMIN, ADMIN.name, **change)
        assert not ok and "only active administrator" in message
    assert people.user(store, ADMIN.name)["role"] == "admin" and people.user(store, ADMIN.name)["active"]
    done = [r["detail"] for r in people.audit_rows(store, user=ADMIN.name, action="users", outcome="ok")]
    assert "add mary.jones as nurse" in done and any("mary.jones: active=0" in d for d in done)


def test_audit_csv_writes_numbers_as_numbers_and_keeps_a_lone_cr_in_one_cell():
    row = {"ts": 1_700_000_000, "user": "@x", "role": "nurse", "action": "note", "outcome": "ok", "chair": "-1",
           "session_id": 7, "detail": "a\rb", "address": ""}
    out = audit_csv.to_csv([row])
    parsed = list(csv.reader(io.StringIO(out, newline="")))
    assert parsed[1] == ["2023-11-14T22:13:20Z", "'@x", "nurse", "note", "ok", "'-1", "7", "a\rb", ""]
