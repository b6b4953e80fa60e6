"""`--behind-tls`: the proxy on this machine says who the client is and that it came over
HTTPS; nobody else can say so (README "Security"; cli_web.serve_dashboard)."""
from __future__ import annotations

import re

import pytest
import requests

from conftest import TEST_PASSWORD, Server, login_form_token
from monitor import access
from monitor.store import Store, people

pytestmark = pytest.mark.slow


def _sign_in(url, name, password, headers):
    """As the browser behind the proxy does: its cookies are Secure (requests would not send
    them over this test's plain HTTP, so they go by hand), and over HTTPS the form's
    Referer must be this site (Flask-WTF's strict check)."""
    s = requests.Session()
    first = s.get(url + "/login", headers=headers)
    token = login_form_token(first.text)
    cookie = re.search(r"(infusion_monitor_session=[^;]+)", first.headers["Set-Cookie"]).group(1)
    r = s.post(url + "/login", allow_redirects=False,
               headers={**headers, "Cookie": cookie, "Referer": url.replace("http://", "https://") + "/login"},
               data={"name": name, "password": password, "csrf_token": token, "next": "/"})
    return s, r


def test_one_clients_typos_do_not_lock_out_the_clinic_behind_the_proxy(db_path):
    srv = Server(db_path, "serve", ("--behind-tls",))
    try:
        typo = {"X-Forwarded-For": "10.0.0.1", "X-Forwarded-Proto": "https"}
        for k in range(access.LOGIN_FAILURES_PER_ADDRESS):
            _, r = _sign_in(srv.url, f"somebody{k}", "wrong password", typo)
            assert r.status_code == 401
        _, r = _sign_in(srv.url, "someone", "wrong password", typo)
        assert r.status_code == 429  # that client waits
        other = {"X-Forwarded-For": "10.0.0.2", "X-Forwarded-Proto": "https"}
        s, r = _sign_in(srv.url, "doc1", TEST_PASSWORD, other)
        assert r.status_code == 302  # another client at another chair does not
        cookie = r.headers["Set-Cookie"]
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    finally:
        srv.stop()
    store = Store(db_path, readonly=True)
    try:
        addresses = {r["address"] for r in people.audit_rows(store, action="login")}
    finally:
        store.close()
    assert addresses == {"10.0.0.1", "10.0.0.2"}


def test_without_the_flag_a_forwarded_header_changes_nothing(db_path):
    srv = Server(db_path, "serve")
    try:
        for k in range(access.LOGIN_FAILURES_PER_ADDRESS):
            _sign_in(srv.url, f"somebody{k}", "wrong password", {"X-Forwarded-For": f"10.0.1.{k}"})
        _, r = _sign_in(srv.url, "doc1", TEST_PASSWORD, {"X-Forwarded-For": "10.0.9.9"})
        assert r.status_code == 429  # all from 127.0.0.1, whatever they claim
        assert "Secure" not in requests.get(srv.url + "/login").headers.get("Set-Cookie", "")
    finally:
        srv.stop()
