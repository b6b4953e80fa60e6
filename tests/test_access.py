"""Who may do what (monitor/access.py), the users and the append-only audit trail
(store/people.py, migration 4), and the sign-in gate's own tables and cookies
(web/auth.py), in process: real SQLite, the real Flask app through its test client."""
from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest

from conftest import ADMIN, CLINICIAN, NURSE, TEST_PASSWORD, add_test_users, login_form_token
from monitor import access
from monitor.access import LEAST_ROLE, ROLES, AccessError, Actor
from monitor.sessions import RuleError
from monitor.store import Store, people
from monitor.store.errors import Conflict

pytestmark = pytest.mark.both_engines  # on SQLite and on PostgreSQL (conftest.py)

ROOT = Path(__file__).resolve().parent.parent


# ----------------------------------------------------------------- the roles
def allowed(role: str) -> set[str]:
    return {a for a in LEAST_ROLE if access.permits(role, a)}


def test_the_roles_nest_nurse_within_clinician_within_admin():
    nurse, clinician, admin = (allowed(r) for r in ROLES)
    assert nurse < clinician < admin
    assert admin == set(LEAST_ROLE)  # an administrator may do everything a person may


@pytest.mark.parametrize("action", ["view", "open_session", "acknowledge", "stat_bp", "infusion_start",
                                    "infusion_stop", "note", "medication", "dose_change", "manual_vitals",
                                    "aldrete", "correction"])
def test_bedside_work_is_a_nurses(action):
    assert [access.permits(r, action) for r in ROLES] == [True, True, True]


@pytest.mark.parametrize("action", ["limit_change", "baseline_set", "session_end", "review", "review_signoff",
                                    "export"])
def test_the_prescribers_decisions_and_the_record_are_a_clinicians(action):
    assert [access.permits(r, action) for r in ROLES] == [False, True, True]


@pytest.mark.parametrize("action", ["users", "audit"])
def test_users_and_the_audit_trail_are_an_administrators(action):
    assert [access.permits(r, action) for r in ROLES] == [False, False, True]


@pytest.mark.parametrize("role", [None, "", "doctor", "ADMIN", "anonymous"])
def test_no_role_or_an_unknown_role_may_do_nothing(role):
    assert allowed(role) == set()


def test_an_action_nobody_is_listed_for_is_nobodys():
    assert not any(access.permits(r, "monitoring_interrupted") for r in ROLES)
    with pytest.raises(AccessError, match="charted by the monitor, not by a person"):
        access.check(ADMIN, "monitoring_interrupted")


def test_a_refusal_names_the_role_needed_and_the_users_role():
    with pytest.raises(AccessError) as e:
        access.check(NURSE, "limit_change")
    assert str(e.value) == "Limit change needs a clinician login; you are signed in as nurse1 (nurse)"
    assert isinstance(e.value, RuleError)  # the page shows it as any rule's refusal
    with pytest.raises(AccessError, match="needs an administrator login; you are signed in as doc1 .clinician."):
        access.check(CLINICIAN, "audit")
    access.check(CLINICIAN, "limit_change")  # no exception


@pytest.mark.parametrize("struck, least", [("note", "nurse"), ("manual_vitals", "nurse"), (None, "nurse"),
                                           ("limit_change", "clinician"), ("baseline_set", "clinician"),
                                           ("session_end", "clinician"), ("users", "admin")])
def test_striking_an_entry_needs_the_role_that_may_make_it(struck, least):
    assert access.needed_for_correction(struck) == least


# ----------------------------------------------------------------- login throttle
def test_five_failures_in_the_window_make_the_sixth_wait():
    now = 100_000.0
    four = [now - 60 * k for k in range(4)]
    assert access.login_wait(four, now) == 0.0
    five = four + [now - 300]
    # five: the next try waits LOGIN_FIRST_WAIT_S after the last failure (now)
    assert access.login_wait(five, now) == pytest.approx(access.LOGIN_FIRST_WAIT_S)
    assert access.login_wait(five, now + access.LOGIN_FIRST_WAIT_S) == 0.0
    # each failure beyond doubles it, never beyond the window
    seven = five + [now + 40, now + 150]
    assert access.login_wait(seven, now + 150) == pytest.approx(4 * access.LOGIN_FIRST_WAIT_S)
    many = [now - k for k in range(60)]
    assert access.login_wait(many, now) == pytest.approx(access.LOGIN_WINDOW_S)
    assert access.login_wait(five, now + access.LOGIN_WINDOW_S) == 0.0  # the window has passed
    old = [now - access.LOGIN_WINDOW_S - k for k in range(1, 20)]  # many, but all outside the window
    assert access.login_wait(old, now) == 0.0


# ----------------------------------------------------------------- names, initials, passwords
@pytest.mark.parametrize("raw", ["nurse1", "mary.jones", "a", "x@clinic", "Dr_Who-2", " padded "])
def test_user_names_that_are_allowed(raw):
    assert access.user_name(raw) == raw.strip()


@pytest.mark.parametrize("raw", ["", None, ".dot", "-dash", "with space", "x" * 41, "semi;colon", "ü"])
def test_user_names_that_are_refused_name_the_field(raw):
    with pytest.raises(RuleError, match="^User name: "):
        access.user_name(raw)


@pytest.mark.parametrize("name, initials", [("mary.jones", "MJ"), ("alice", "AL"), ("j_r_r_tolkien", "JRRT"),
                                            ("doc1", "DO")])
def test_default_initials(name, initials):
    assert access.default_initials(name) == initials


def test_password_length_rules():
    assert access.check_password("x" * access.PASSWORD_MIN) == "x" * access.PASSWORD_MIN
    with pytest.raises(RuleError, match="^Password: at least 8 characters"):
        access.check_password("short")
    with pytest.raises(RuleError, match="^Password: at most 256 characters"):
        access.check_password("x" * 257)
    with pytest.raises(RuleError, match="^Password: "):
        access.check_password(None)


# ----------------------------------------------------------------- users in the store
@pytest.fixture(scope="module")
def users_template(tmp_path_factory) -> Path:
    """A database holding the three test users, made once (each argon2 hash takes a while)."""
    db = tmp_path_factory.mktemp("users") / "template.db"
    s = Store(db)
    add_test_users(s)
    s.close()
    return db


@pytest.fixture
def users_store(users_template, tmp_path):
    """A test's own copy of the database with the three test users."""
    db = tmp_path / "users.db"
    source, copy = sqlite3.connect(users_template), sqlite3.connect(db)
    try:
        source.backup(copy)  # the whole database, its write-ahead log included
    finally:
        source.close()
        copy.close()
    s = Store(db)
    yield s
    s.close()


@pytest.mark.slow
def test_a_users_password_is_an_argon2_hash_never_returned(store):
    row = people.add_user(store, "mary.jones", "nurse", "correct horse battery")
    assert row["role"] == "nurse" and row["initials"] == "MJ" and row["active"] == 1
    assert not any("hash" in k for k in row)
    digest = store._one("SELECT password_hash FROM users WHERE name = 'mary.jones'")["password_hash"]
    assert digest.startswith("$argon2id$") and "correct horse battery" not in digest
    ok = people.verify_password(store, "mary.jones", "correct horse battery")
    assert ok["name"] == "mary.jones" and not any("hash" in k for k in ok)
    assert people.verify_password(store, "mary.jones", "wrong horse battery") is None
    assert people.verify_password(store, "nobody", "correct horse battery") is None
    assert all(not any("hash" in k for k in u) for u in people.users(store))


@pytest.mark.slow
def test_a_new_user_is_checked_by_the_access_rules(store):
    people.add_user(store, "nurse1", "nurse", TEST_PASSWORD)
    with pytest.raises(Conflict, match="user nurse1 already exists"):
        people.add_user(store, "nurse1", "nurse", TEST_PASSWORD)
    with pytest.raises(AccessError, match="unknown role 'doctor'"):
        people.add_user(store, "doc2", "doctor", TEST_PASSWORD)
    with pytest.raises(RuleError, match="^Password: at least"):
        people.add_user(store, "doc2", "clinician", "short")
    with pytest.raises(RuleError, match="^User name: "):
        people.add_user(store, "doc two", "clinician", TEST_PASSWORD)
    assert [u["name"] for u in people.users(store)] == ["nurse1"]


@pytest.mark.slow
def test_adding_a_user_from_the_page_needs_an_administrator_and_is_audited(store):
    with pytest.raises(AccessError, match="Users needs an administrator login"):
        people.add_user(store, "rn2", "nurse", TEST_PASSWORD, by=CLINICIAN)
    assert people.user(store, "rn2") is None
    people.add_user(store, "rn2", "nurse", TEST_PASSWORD, by=ADMIN)
    (row,) = people.audit_rows(store, action="users")
    assert (row["user"], row["role"], row["outcome"]) == ("admin1", "admin", "ok") and "rn2" in row["detail"]


@pytest.mark.slow
@pytest.mark.parametrize("change", [{"role": "clinician"}, {"password": "a new password"}, {"active": False}])
def test_any_change_to_a_user_ends_their_logins(users_store, change):
    before = people.user(users_store, "nurse1")["login_version"]
    people.change_user(users_store, "nurse1", **change)
    assert people.user(users_store, "nurse1")["login_version"] == before + 1


@pytest.mark.slow
def test_a_disabled_user_cannot_sign_in_and_a_new_password_replaces_the_old(users_store):
    people.change_user(users_store, "nurse1", password="a new password")
    assert people.verify_password(users_store, "nurse1", TEST_PASSWORD) is None
    assert people.verify_password(users_store, "nurse1", "a new password")["name"] == "nurse1"
    people.change_user(users_store, "nurse1", active=False)
    assert people.verify_password(users_store, "nurse1", "a new password") is None
    people.change_user(users_store, "nurse1", active=True)
    assert people.verify_password(users_store, "nurse1", "a new password") is not None


@pytest.mark.slow
def test_the_last_administrator_cannot_be_disabled_or_demoted(users_store):
    for change in ({"active": False}, {"role": "clinician"}):
        with pytest.raises(RuleError, match="admin1 is the only active administrator: add another first"):
            people.change_user(users_store, "admin1", **change)
    assert people.user(users_store, "admin1")["role"] == "admin" and people.user(users_store, "admin1")["active"] == 1
    people.add_user(users_store, "admin2", "admin", TEST_PASSWORD)
    people.change_user(users_store, "admin1", active=False)  # another administrator: now it may
    with pytest.raises(RuleError, match="admin2 is the only active administrator"):
        people.change_user(users_store, "admin2", role="nurse")


# ----------------------------------------------------------------- the audit trail
@pytest.mark.sqlite_only  # its PostgreSQL twin: tests/test_postgres_store.py
def test_the_audit_trail_refuses_update_and_delete_in_the_database_itself(store, db_path):
    people.record(store, NURSE, "login")
    raw = sqlite3.connect(db_path)
    try:
        for sql in ("UPDATE audit SET user = 'someone else'", "UPDATE audit SET outcome = 'ok' WHERE id = 1",
                    "DELETE FROM audit", "DELETE FROM audit WHERE id = 1"):
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                raw.execute(sql)
        raw.execute("INSERT INTO audit (ts, user, role, action, outcome, detail, address) "
                    "VALUES (1, 'x', 'nurse', 'login', 'ok', '', '')")  # appending is allowed
        raw.commit()
    finally:
        raw.close()
    rows = people.audit_rows(store)
    assert len(rows) == 2 and {r["user"] for r in rows} == {"nurse1", "x"}


def test_no_code_updates_or_deletes_the_audit_trail():
    """Only the triggers' own text names an UPDATE or DELETE on audit (store/schema.py)."""
    writes = re.compile(r"\b(UPDATE\s+audit|DELETE\s+FROM\s+audit|INSERT\s+OR\s+REPLACE\s+INTO\s+audit|"
                        r"REPLACE\s+INTO\s+audit)\b", re.IGNORECASE)
    found = []
    for path in sorted((ROOT / "monitor").rglob("*.py")):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if writes.search(line):
                found.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert found == []
    schema = (ROOT / "monitor" / "store" / "schema.py").read_text()
    assert re.search(r"BEFORE UPDATE ON audit\s+BEGIN SELECT RAISE\(ABORT, 'the audit trail is append-only'\)",
                     schema)
    assert re.search(r"BEFORE DELETE ON audit\s+BEGIN SELECT RAISE\(ABORT, 'the audit trail is append-only'\)",
                     schema)


@pytest.mark.slow
def test_a_refused_write_is_audited_as_refused(users_store):
    sid = users_store.open_session("P-AUD", "AUD", "ketamine-iv", 1000.0, actor=NURSE)[0]
    from monitor.model import Event
    with pytest.raises(AccessError, match="Session end needs a clinician login"):
        users_store.record_event(sid, Event(1100.0, "session_end", "", "RN"), actor=NURSE)
    refused = people.audit_rows(users_store, outcome="refused")
    assert [(r["user"], r["role"], r["action"], r["session_id"]) for r in refused] == [
        ("nurse1", "nurse", "session_end", sid)]
    assert "needs a clinician login" in refused[0]["detail"]
    assert users_store._one("SELECT ended_at FROM sessions WHERE id = ?", (sid,))["ended_at"] is None


# ----------------------------------------------------------------- the gate's tables and cookies
@pytest.fixture(scope="module")
def app(tmp_path_factory, protocol):
    from monitor.web import create_app
    store = Store(tmp_path_factory.mktemp("gate") / "monitor.db")
    add_test_users(store)
    yield create_app(store, protocol)
    store.close()


def output_ids(callback_key: str) -> list[str]:
    """The output component ids (a pattern id's "type") of one registered callback."""
    outs = callback_key[2:-2].split("...") if callback_key.startswith("..") else [callback_key]
    ids = []
    for out in outs:
        cid = out.rsplit(".", 1)[0]
        ids.append(json.loads(cid)["type"] if cid.startswith("{") else cid)
    return ids


def test_every_callback_belongs_to_one_action_of_the_gate(app):
    from monitor.web.auth import CALLBACK_ACTIONS
    assert len(app.callback_map) > 10
    for key in app.callback_map:
        prefixes = {cid.split("-", 1)[0] for cid in output_ids(key)}
        unlisted = prefixes - set(CALLBACK_ACTIONS)
        assert not unlisted, f"callback {key[:80]}: id prefix {unlisted} not in auth.CALLBACK_ACTIONS"
        assert len({CALLBACK_ACTIONS[p] for p in prefixes}) == 1, f"callback {key[:80]} spans actions"
        assert all(a in LEAST_ROLE for a in {CALLBACK_ACTIONS[p] for p in prefixes})


def test_callback_action_from_a_body(app):
    from monitor.web.auth import callback_action

    def out(cid):
        return {"id": cid, "property": "children"}
    assert callback_action({"output": "page.children", "outputs": out("page")}) == "view"
    assert callback_action({"output": "..sl-table.children...sl-count.children..",
                            "outputs": [out("sl-table"), out("sl-count")]}) == "review"
    assert callback_action({"output": '..{"i":["ALL"],"type":"adm-x"}.children..',
                            "outputs": [[out({"type": "adm-x", "i": 1})]]}) == "audit"
    assert callback_action({"output": "sv-download.data", "outputs": []}) == "review"  # a legacy renderer's
    for body in (None, [], {}, {"outputs": [out("bed-x")]}, {"output": 5, "outputs": out("bed-x")},
                 {"output": "zz-x.children", "outputs": out("zz-x")},
                 {"output": "..bed-x.children...sl-x.children..", "outputs": [out("bed-x"), out("sl-x")]},
                 {"output": ".children", "outputs": out("")}, {"output": "bed-x.children", "outputs": [{"id": 5}]},
                 {"output": "bed-x.children", "outputs": "bed-x"},
                 # Dash runs the callback `output` names: a bedside id in `outputs` does not make it bedside work
                 {"output": "sv-download.data", "outputs": out("bed-x")},
                 {"output": "bed-x.children", "outputs": out("sv-download")}):
        assert callback_action(body) is None, body


def set_cookies(response) -> dict[str, str]:
    return {h.split("=", 1)[0]: h for h in response.headers.getlist("Set-Cookie")}


def login_response(app, user=NURSE):
    client = app.server.test_client()
    token = login_form_token(client.get("/login").get_data(as_text=True))
    r = client.post("/login", data={"name": user.name, "password": TEST_PASSWORD, "csrf_token": token, "next": "/"})
    assert r.status_code == 302
    return client, r


@pytest.mark.slow
def test_the_login_cookie_is_httponly_and_samesite_strict(app):
    client, r = login_response(app)
    cookie = set_cookies(r)["infusion_monitor_session"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie
    page = client.get("/")
    csrf = set_cookies(page)["_csrf_token"]  # read by the page's script: not HttpOnly, but Strict
    assert "SameSite=Strict" in csrf and "HttpOnly" not in csrf
    assert page.headers["X-Frame-Options"] == "DENY"


@pytest.mark.slow
def test_behind_tls_the_cookies_are_secure(tmp_path, protocol):
    from monitor.web import create_app
    store = Store(tmp_path / "tls.db")
    add_test_users(store)
    try:
        app = create_app(store, protocol, behind_tls=True)
        client = app.server.test_client()
        https = {"base_url": "https://monitor.example", "headers": {"X-Forwarded-Proto": "https"}}
        form = client.get("/login", **https).get_data(as_text=True)
        form_data = {"name": "nurse1", "password": TEST_PASSWORD, "csrf_token": login_form_token(form), "next": "/"}
        r = client.post("/login", data=form_data, base_url=https["base_url"],
                        headers={**https["headers"], "Referer": "https://monitor.example/login"})
        assert r.status_code == 302, r.get_data(as_text=True)[:300]
        cookie = set_cookies(r)["infusion_monitor_session"]
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
        csrf = set_cookies(client.get("/", **https))["_csrf_token"]
        assert "Secure" in csrf and "SameSite=Strict" in csrf
    finally:
        store.close()


@pytest.mark.slow
def test_a_changed_user_is_signed_out_at_the_next_request(app):
    client, _ = login_response(app, CLINICIAN)
    assert "_dash-config" in client.get("/").get_data(as_text=True)
    store = app.server.config["infusion_store"]
    people.change_user(store, "doc1", password=TEST_PASSWORD)  # same password, still a change: login ended
    assert "login-password" in client.get("/").get_data(as_text=True)


def test_actor_carries_the_login_not_a_field():
    a = Actor("nurse1", "nurse", "RN", "10.0.0.5")
    assert (a.name, a.role, a.initials, a.address) == ("nurse1", "nurse", "RN", "10.0.0.5")
    with pytest.raises(Exception):
        a.initials = "ZZ"  # frozen: nothing downstream can re-sign a write
