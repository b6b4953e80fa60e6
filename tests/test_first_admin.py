"""The first administrator on a fresh database: the one-time setup link `serve` prints,
and nothing else (README "Security"; web/auth.py `/setup`)."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from conftest import ROOT, free_port, interrupt, wait_until
from monitor.store import Store, people

pytestmark = pytest.mark.slow


@pytest.fixture
def fresh_server(tmp_path):
    """`serve` over a database with no users; yields (url, setup link, store path)."""
    db = tmp_path / "m.db"
    Store(db).close()
    port = free_port()
    proc = subprocess.Popen([str(Path(sys.executable).parent / "infusion-monitor"), "--db", str(db), "serve",
                             "--port", str(port)], cwd=ROOT, stderr=subprocess.PIPE, text=True)
    lines = []

    def link():
        line = proc.stderr.readline()
        lines.append(line)
        m = re.search(r"(http://\S+/setup\?token=\S+)", line)
        return m.group(1) if m else (proc.poll() is not None and pytest.fail("".join(lines)))
    setup = wait_until(link, timeout=30)
    try:
        yield f"http://127.0.0.1:{port}", setup, db
    finally:
        interrupt(proc)


def _form_token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_the_setup_link_makes_the_first_administrator_once(fresh_server):
    url, setup, db = fresh_server
    anon = requests.Session()
    page = anon.get(url + "/")
    assert 'id="login-name"' in page.text and "No administrator yet" in page.text
    # without the printed token: the login page, nothing to fill in
    wrong = anon.get(url + "/setup?token=guess")
    assert wrong.status_code == 403 and 'id="setup-name"' not in wrong.text
    form = anon.get(setup)
    assert form.status_code == 200 and 'id="setup-name"' in form.text
    token = re.search(r"token=(\S+)", setup).group(1)
    differ = anon.post(url + "/setup", data={"csrf_token": _form_token(form.text), "token": token, "name": "boss",
                                             "password": "long enough 1", "again": "long enough 2"})
    assert differ.status_code == 400 and "differ" in differ.text
    short = anon.post(url + "/setup", data={"csrf_token": _form_token(form.text), "token": token, "name": "boss",
                                            "password": "short", "again": "short"})
    assert short.status_code == 400 and "at least 8 characters" in short.text
    made = anon.post(url + "/setup", data={"csrf_token": _form_token(form.text), "token": token, "name": "boss",
                                           "password": "long enough 1", "again": "long enough 1"})
    assert made.ok and made.url.endswith("/login")
    s = Store(db, readonly=True)
    try:
        assert people.user(s, "boss")["role"] == "admin"
        assert [r["action"] for r in people.audit_rows(s, user="boss")] == ["users"]
    finally:
        s.close()
    # the link is spent: an administrator exists
    again = anon.get(setup)
    assert again.url.endswith("/login") and 'id="setup-name"' not in again.text
    # and the new administrator signs in
    login = anon.get(url + "/login")
    signed = anon.post(url + "/login", data={"csrf_token": _form_token(login.text), "name": "boss",
                                             "password": "long enough 1", "next": "/"})
    assert signed.ok and not signed.url.endswith("/login")
    assert anon.get(url + "/_dash-layout").status_code == 200


def test_setup_without_the_csrf_token_is_refused(fresh_server):
    url, setup, db = fresh_server
    token = re.search(r"token=(\S+)", setup).group(1)
    r = requests.post(url + "/setup", data={"token": token, "name": "evil", "password": "long enough 1",
                                            "again": "long enough 1"}, headers={"Origin": "http://evil.example"})
    assert r.status_code in (400, 401, 403)
    s = Store(db, readonly=True)
    try:
        assert people.users(s) == []
    finally:
        s.close()
