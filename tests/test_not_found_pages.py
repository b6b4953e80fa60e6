"""A page path naming nothing stored answers HTTP 404 with the normal "not found" page, never
a 500 and a blank page (issue 10 item 10): garbage, zero, negative and out-of-range session
ids, unknown patients, unknown paths. Real WSGI app, in process, signed in as an administrator
(who may see every page: an anonymous client gets the login page instead)."""
from __future__ import annotations

import json

import pytest

from conftest import add_test_users, sign_in_test_client
from monitor.playback import replay
from monitor.replay_csv import parse_text
from monitor.store import Store
from monitor.web import PAGES, create_app

RECORDING = "t_s,parameter,value,status\n0,hr,70,\n1,spo2,97,\n2,event,session_end,\n"
NOT_FOUND = [
    ("/session/99999999999999999999999", "No session"),  # the report's: beyond a 64-bit id
    ("/session/9223372036854775808", "No session"),  # one past the largest id SQLite holds
    ("/session/9223372036854775807", "No session 9223372036854775807"),  # the largest: just not stored
    ("/session/" + "9" * 5000, "No session"),  # longer than Python will turn into an int
    ("/session/0", "No session"), ("/session/-1", "No session"), ("/session/1.5", "No session"),
    ("/session/abc", "No session"), ("/session/%00", "No session"), ("/session/%EF%BC%91", "No session"),
    ("/session/", "No session"), ("/session/2", "No session 2"),
    ("/patient/NOBODY", "No sessions for patient"), ("/patient/", "No sessions for patient"),
    ("/patient/%00%FF", "No sessions for patient"), ("/patient/" + "x" * 3000, "No sessions for patient"),
    ("/nosuchpage", "Page not found"), ("/sessions/1", "Page not found"),
]
FOUND = ["/", "/sessions", "/session/1", "/patient/PT-404", "/chair/1", "/chair/a-new-chair", "/alarms", "/admin"]


@pytest.fixture(scope="module")
def client(tmp_path_factory, protocol):
    """One app over a database holding session 1 of patient PT-404 (the pages only read it)."""
    store = Store(tmp_path_factory.mktemp("pages") / "monitor.db")
    replay(store, protocol, parse_text(RECORDING), patient_ref="PT-404")
    add_test_users(store)
    yield sign_in_test_client(create_app(store, protocol).server.test_client(), "admin")
    store.close()


def rendered(client, path: str) -> tuple[int, str]:
    """What the page shell's router callback answers for this path (status, JSON text)."""
    body = {"output": "page.children", "outputs": {"id": "page", "property": "children"},
            "inputs": [{"id": "url", "property": "pathname", "value": path}], "changedPropIds": ["url.pathname"],
            "state": []}
    r = client.post("/_dash-update-component", json=body)
    return r.status_code, r.get_data(as_text=True)


@pytest.mark.slow
@pytest.mark.parametrize("path,words", NOT_FOUND)
def test_a_path_naming_nothing_is_a_404_with_the_not_found_page(client, path, words):
    shell = client.get(path)
    assert shell.status_code == 404
    assert "infusion-monitor" in shell.get_data(as_text=True)  # the normal page shell, not a blank error
    status, page = rendered(client, path)
    assert status == 200
    assert "page-error" in page and words in json.loads(page)["response"]["page"]["children"]["props"][
        "children"][0]["props"]["children"]


@pytest.mark.parametrize("path", FOUND)
def test_pages_that_exist_are_200(client, path):
    assert client.get(path).status_code == 200
    status, page = rendered(client, path)
    assert status == 200 and "page-error" not in page


def test_every_page_kind_is_covered():
    paths = [p for p, _ in NOT_FOUND] + FOUND
    for prefix in PAGES:
        assert any(p == prefix or (prefix.endswith("/") and p.startswith(prefix)) for p in paths), prefix


@pytest.mark.browser
def test_the_reported_url_shows_the_not_found_page_in_chromium(browser, server, db_path, protocol):
    """Not a blank page: the real server, the real browser, the URL from the report."""
    from conftest import wait_until
    store = Store(db_path)
    store.close()
    srv = server("serve")
    srv.login(browser, "clinician", "/session/99999999999999999999999")
    text = wait_until(lambda: browser.execute_script(
        "const e = document.querySelector('.page-error h2'); return e && e.innerText"), timeout=30)
    assert text == "No session '99999999999999999999999'"
    assert browser.find_elements("link text", "All sessions")
