"""Issue 11's proof over HTTP: today's anonymous and cross-origin writes, replayed against a real
`infusion-monitor serve`, are each refused, and the database is left as it was.

The writes are the page's own callbacks, sent as Dash's renderer sends them to
/_dash-update-component: the bodies are built from the app's callback_map (the app made in
process over a scratch database), so they name the exact callback keys, inputs and state the
page does. Each write is replayed (i) with no cookie, (ii) from another origin with no cookie,
(iii) signed in but without the CSRF header, and (iv) signed in as a nurse where it needs a
clinician. Only the signed-in clinician's own requests (the last test) write, and they are
signed with the login's initials, never with the page's.
"""
from __future__ import annotations

import html
import json
import sqlite3
import time

import pytest

from conftest import Server
from monitor.model import Alert, Event
from monitor.store import Store

pytestmark = pytest.mark.slow

EVIL = "http://evil.example"
PATIENTS = ("PT-ANON-OPEN", "PT-ANON-ENDED")
LONG_CHAIR = "C" * 5000
# What the tables hold is compared before and after every refused request (the audit trail,
# which records the refusals, and the users' last sign-in are not among them).
TABLES = ("sessions", "events", "alerts", "commands", "baselines")
# What the page says when its own rules refuse a write the gate let through.
REFUSALS = ("needs a clinician login", "Chair name: 1–32", "This page is out of date", "not on this chair")


# ----------------------------------------------------------------- the page's callbacks
@pytest.fixture(scope="module")
def callbacks(tmp_path_factory, protocol) -> dict:
    """The app's registered callbacks, by their output key (as Dash's renderer knows them)."""
    from monitor.web import create_app
    store = Store(tmp_path_factory.mktemp("callbacks") / "scratch.db")
    try:
        return dict(create_app(store, protocol).callback_map)
    finally:
        store.close()


def _id_text(cid) -> str:
    """A component id as the renderer writes it in changedPropIds (a pattern id: sorted JSON)."""
    return json.dumps(cid, sort_keys=True, separators=(",", ":")) if isinstance(cid, dict) else cid


def callback_body(callbacks: dict, output_id: str, values: dict, changed: tuple) -> dict:
    """The renderer's request for the callback writing `output_id`: every input and state the
    callback declares, valued from `values` ({(id, property): value} or {id: value}; the
    pattern-matched acknowledge buttons: {("ack", "n_clicks"): [(alert id, clicks), ...]}),
    with `changed` ((id, property)) as the prop that fired it."""
    (key,) = [k for k in callbacks if f"{output_id}." in k and
              any(part.rsplit(".", 1)[0] == output_id for part in k.strip(".").split("..."))]
    parts = key[2:-2].split("...") if key.startswith("..") else [key]
    outputs = [{"id": p.rsplit(".", 1)[0], "property": p.rsplit(".", 1)[1]} for p in parts]

    def spec(dep):
        cid, prop = dep["id"], dep["property"]
        if cid.startswith("{"):  # a pattern (ALL): one entry per matching component on the page
            pattern = json.loads(cid)
            return [{"id": {**pattern, "id": i}, "property": prop, "value": v}
                    for i, v in values.get((pattern["type"], prop), [])]
        return {"id": cid, "property": prop, "value": values.get((cid, prop), values.get(cid))}
    cb = callbacks[key]
    return {"output": key, "outputs": outputs if key.startswith("..") else outputs[0],
            "inputs": [spec(d) for d in cb["inputs"]], "state": [spec(d) for d in cb["state"]],
            "changedPropIds": [f"{_id_text(cid)}.{prop}" for cid, prop in changed]}


# ----------------------------------------------------------------- the clinic's database
@pytest.fixture(scope="module")
def clinic(tmp_path_factory):
    """Chair A with an open session and an unacknowledged alarm; chair B's session ended with
    its latched alarm unacknowledged; `serve` over them."""
    db = tmp_path_factory.mktemp("anonymous") / "monitor.db"
    store = Store(db)
    now = time.time()
    ended = store.open_session(PATIENTS[1], "B", "ketamine-iv", now - 7200)[0]
    store.put_change(ended, Alert("bp_critical#1", "bp_critical", "sbp", "physiological", "high", now - 6000, 190,
                                  180, "BP 190/104: SBP 190 ≥ 180", ended_at=now - 5900))
    store.flush()
    store.record_event(ended, Event(now - 5000, "session_end", "", "RN"), override="test: ended over the alarm")
    live = store.open_session(PATIENTS[0], "A", "ketamine-iv", now - 600)[0]
    store.put_change(live, Alert("spo2_low#1", "spo2_low", "spo2", "physiological", "medium", now - 60, 90, 92,
                                 "SpO2 90 < 92"))
    store.flush()
    alert = {sid: store._one("SELECT id FROM alerts WHERE session_id = ?", (sid,))["id"] for sid in (live, ended)}
    store.close()
    srv = Server(db, "serve")
    yield {"db": db, "srv": srv, "live": live, "ended": ended, "alert": alert}
    srv.stop()


def snapshot(db) -> dict:
    """Every row of the tables a write could change, read past the server (read-only)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return {t: sorted(map(tuple, conn.execute(f"SELECT * FROM {t}").fetchall()), key=repr) for t in TABLES}
    finally:
        conn.close()


def writes(c, callbacks) -> dict:
    """Today's anonymous writes, each as the page sends it (name: (body, clinician only))."""
    on_a = {"chair": "A", "session_id": c["live"]}
    return {
        "acknowledge chair A's alarm as ZZ": (callback_body(callbacks, "bed-ack-status", {
            ("ack", "n_clicks"): [(c["alert"][c["live"]], 1)], "bed-user-initials": "ZZ", "bed-state": on_a},
            [({"id": c["alert"][c["live"]], "type": "ack"}, "n_clicks")]), False),
        "acknowledge chair B's ended session through the page state": (callback_body(callbacks, "bed-ack-status", {
            ("ack", "n_clicks"): [(c["alert"][c["ended"]], 1)], "bed-user-initials": "ZZ",
            "bed-state": {"chair": "A", "session_id": c["ended"]}},
            [({"id": c["alert"][c["ended"]], "type": "ack"}, "n_clicks")]), False),
        "end chair A's session": (callback_body(callbacks, "act-status", {
            ("act-end", "submit_n_clicks"): 1, "bed-user-initials": "ZZ", "bed-state": on_a},
            [("act-end", "submit_n_clicks")]), True),
        "lower spo2_critical to 80": (callback_body(callbacks, "limit-status", {
            ("limit-save", "n_clicks"): 1, "limit-rule": "spo2_critical:0", "limit-new": "80",
            "bed-user-initials": "ZZ", "bed-state": on_a}, [("limit-save", "n_clicks")]), True),
        "raise hr_critical to 160": (callback_body(callbacks, "limit-status", {
            ("limit-save", "n_clicks"): 1, "limit-rule": "hr_critical:0", "limit-new": "160",
            "bed-user-initials": "ZZ", "bed-state": on_a}, [("limit-save", "n_clicks")]), True),
        "set a baseline": (callback_body(callbacks, "bl-status", {
            ("bl-save", "n_clicks"): 1, "bl-hr": "70", "bl-spo2": "97", "bl-sbp": "120", "bl-dbp": "80",
            "bl-reason": "forged", "bed-user-initials": "ZZ", "bed-state": on_a}, [("bl-save", "n_clicks")]), True),
        "request STAT BP without initials": (callback_body(callbacks, "act-status", {
            ("act-stat", "n_clicks"): 1, "bed-state": on_a}, [("act-stat", "n_clicks")]), False),
        "open a session on a 5,000-character chair": (callback_body(callbacks, "open-status", {
            ("open-session", "n_clicks"): 1, "open-patient": "PT-FORGED",
            "bed-state": {"chair": LONG_CHAIR, "session_id": None}}, [("open-session", "n_clicks")]), False),
        "download chair B's session CSV": (callback_body(callbacks, "sv-download", {
            ("sv-dl-csv", "n_clicks"): 1, "sv-session": c["ended"]}, [("sv-dl-csv", "n_clicks")]), True),
    }


def assert_refused(response, name: str) -> None:
    try:  # a Dash answer: read its text as the page would show it (JSON escapes "–")
        text = json.dumps(response.json(), ensure_ascii=False)
    except ValueError:
        text = response.text
    assert "record,time_utc" not in text, f"{name}: the CSV was sent"
    assert not any(p in text for p in PATIENTS), f"{name}: a patient reference was sent"
    if response.status_code == 200:  # let through to the page's own rules: it must have said no
        assert any(why in text for why in REFUSALS), f"{name}: answered 200 without a refusal: {text[:300]}"


def post_update(client, url, body, **headers):
    return client.post(url + "/_dash-update-component", json=body, timeout=30, headers=headers)


# ----------------------------------------------------------------- the refusals
def test_every_write_without_a_login_is_refused_and_nothing_changes(clinic, callbacks):
    srv, before = clinic["srv"], snapshot(clinic["db"])
    anonymous = srv.http(None)
    for name, (body, _) in writes(clinic, callbacks).items():
        for headers in ({}, {"Origin": EVIL, "Referer": EVIL + "/attack.html"}):
            r = post_update(anonymous, srv.url, body, **headers)
            # signed out (401) or, checked first, without a CSRF token (400): refused either way
            assert r.status_code in (400, 401), f"{name} {headers}: {r.status_code} {r.text[:200]}"
            assert_refused(r, name)
            assert snapshot(clinic["db"]) == before, f"{name} {headers}: the database changed"


def test_a_signed_in_write_without_the_csrf_token_is_refused(clinic, callbacks):
    """Signed in, but the request carries no CSRF token (what another site's form or fetch can send
    at most): refused by the CSRF check (400), nothing written. A wrong token fares no better."""
    srv, before = clinic["srv"], snapshot(clinic["db"])
    signed_in = srv.http("clinician")
    token = signed_in.headers.pop("X-CSRFToken")
    for name, (body, _) in writes(clinic, callbacks).items():
        for headers in ({}, {"Origin": EVIL}, {"X-CSRFToken": "forged-" + token[7:]}):
            r = post_update(signed_in, srv.url, body, **headers)
            assert r.status_code == 400 and "refused" in r.text and "CSRF" in r.text, \
                f"{name} {headers}: {r.status_code} {r.text[:200]}"
            assert_refused(r, name)
            assert snapshot(clinic["db"]) == before, f"{name} {headers}: the database changed"


def test_a_nurse_cannot_make_a_clinicians_writes(clinic, callbacks):
    srv, before = clinic["srv"], snapshot(clinic["db"])
    nurse = srv.http("nurse")
    for name, (body, clinician_only) in writes(clinic, callbacks).items():
        if not clinician_only:
            continue
        r = post_update(nurse, srv.url, body)
        assert r.status_code == 403 or (r.status_code == 200 and "needs a clinician login" in r.text), \
            f"{name}: {r.status_code} {r.text[:300]}"
        assert_refused(r, name)
        assert snapshot(clinic["db"]) == before, f"{name}: the database changed"


def test_a_nurse_cannot_pass_a_review_callback_off_as_bedside_work(clinic, callbacks):
    """Dash runs the callback the body's `output` names; the gate must judge that one, not the
    `outputs` list the answer is keyed by."""
    srv, before = clinic["srv"], snapshot(clinic["db"])
    body, _ = writes(clinic, callbacks)["download chair B's session CSV"]
    disguised = {**body, "outputs": {"id": "bed-header", "property": "children"}}
    r = post_update(srv.http("nurse"), srv.url, disguised)
    assert r.status_code == 403, r.text[:300]
    assert_refused(r, "a disguised CSV download")
    assert snapshot(clinic["db"]) == before


def test_a_signed_in_nurses_forged_page_state_and_chair_name_are_refused(clinic, callbacks):
    """Allowed to acknowledge and to open sessions, a nurse still cannot acknowledge another
    chair's ended session through the page's state, nor name a chair 5,000 characters long."""
    srv, before = clinic["srv"], snapshot(clinic["db"])
    nurse = srv.http("nurse")
    all_writes = writes(clinic, callbacks)
    for name in ("acknowledge chair B's ended session through the page state",
                 "open a session on a 5,000-character chair"):
        r = post_update(nurse, srv.url, all_writes[name][0])
        assert r.status_code in (200, 403), f"{name}: {r.status_code} {r.text[:300]}"
        assert_refused(r, name)
        assert snapshot(clinic["db"]) == before, f"{name}: the database changed"
    assert LONG_CHAIR not in json.dumps(snapshot(clinic["db"]))


@pytest.mark.parametrize("path", ["/", "/chair/A", "/chair/B", "/sessions", "/session/{live}", "/session/{ended}",
                                  "/patient/PT-ANON-OPEN", "/patient/PT-ANON-ENDED", "/admin"])
def test_an_anonymous_page_is_the_login_page_without_patient_data(clinic, path):
    srv = clinic["srv"]
    path = path.format(live=clinic["live"], ended=clinic["ended"])
    for headers in ({}, {"Origin": EVIL}):
        r = srv.http(None).get(srv.url + path, timeout=30, headers=headers)
        assert r.status_code == 200 and "login-password" in r.text, f"{path}: {r.status_code}"
        # the login form sends the browser back to the path it asked for (its hidden "next"
        # field): that is the client's own request echoed, nothing read from the database
        page = r.text.replace(f'name="next" value="{html.escape(path)}"', 'name="next" value=""')
        assert not any(p in page for p in PATIENTS), f"{path}: a patient reference on the login page"
    for dash_path in ("/_dash-layout", "/_dash-dependencies"):
        r = srv.http(None).get(srv.url + dash_path, timeout=30)
        assert r.status_code == 401 and not any(p in r.text for p in PATIENTS)


# ----------------------------------------------------------------- the same bodies, signed in
def test_the_same_bodies_signed_in_as_a_clinician_write_signed_by_the_login(server, db_path, callbacks):
    """The replayed bodies are the page's real requests: sent by a signed-in clinician with the
    CSRF header they do what the page does, signed DR (doc1's initials), not the ZZ they carry."""
    store = Store(db_path)
    now = time.time()
    sid = store.open_session("PT-SIGNED", "A", "ketamine-iv", now - 600)[0]
    store.put_change(sid, Alert("spo2_low#1", "spo2_low", "spo2", "physiological", "medium", now - 60, 90, 92,
                                "SpO2 90 < 92"))
    store.flush()
    aid = store._one("SELECT id FROM alerts WHERE session_id = ?", (sid,))["id"]
    srv = server("serve")
    c = {"live": sid, "ended": sid, "alert": {sid: aid}}
    doc = srv.http("clinician")
    all_writes = writes(c, callbacks)
    for name in ("acknowledge chair A's alarm as ZZ", "lower spo2_critical to 80"):
        r = post_update(doc, srv.url, all_writes[name][0])
        assert r.status_code == 200, f"{name}: {r.status_code} {r.text[:300]}"
    assert store._one("SELECT acknowledged_by FROM alerts WHERE id = ?", (aid,))["acknowledged_by"] == "DR"
    (limit,) = [e for e in store._query("SELECT type, author FROM events WHERE session_id = ?", (sid,))
                if e["type"] == "limit_change"]
    assert limit["author"] == "DR"
    r = post_update(doc, srv.url, all_writes["download chair B's session CSV"][0])
    assert r.status_code == 200 and "record,time_utc" in r.json()["response"]["sv-download"]["data"]["content"]
    store.close()
