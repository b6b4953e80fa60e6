"""Issue 11's proof in the browser: signed in as each role in turn, headless Chromium shows what
each may and may not do; an anonymous browser gets the login page and no patient data; wrong
passwords are said, then throttled; signing out ends the login. Real `serve`, real SQLite."""
from __future__ import annotations

import html
import time

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from conftest import Server, TEST_PASSWORD, Watching, text_of, wait_until
from monitor.model import Alert, Event
from monitor.store import Store, people, queries

pytestmark = pytest.mark.browser

OPEN_REF, ENDED_REF = "PT-LOGIN-OPEN", "PT-LOGIN-ENDED"


@pytest.fixture(scope="module")
def clinic(tmp_path_factory):
    """Chair 1 in infusion with an unacknowledged alarm; chair 2's session ended (for review)."""
    db = tmp_path_factory.mktemp("login") / "monitor.db"
    store = Store(db)
    now = time.time()
    ended = store.open_session(ENDED_REF, "2", "ketamine-iv", now - 7200)[0]
    store.record_event(ended, Event(now - 5000, "session_end", "", "DR"))
    sid = store.open_session(OPEN_REF, "1", "ketamine-iv", now - 900)[0]
    store.record_event(sid, Event(now - 600, "infusion_start", "", "RN"))
    store.put_change(sid, Alert("spo2_low#1", "spo2_low", "spo2", "physiological", "medium", now - 60, 90, 92,
                                "SpO2 90 < 92"))
    store.flush()
    beats = Watching(store)
    beats.add("1")  # an acquisition process watches the chair
    srv = Server(db, "serve")
    yield {"store": store, "srv": srv, "live": sid, "ended": ended}
    srv.stop()
    beats.stop()
    store.close()


def nav_links(browser) -> list[str]:
    return browser.execute_script(
        "return Array.from(document.querySelectorAll('nav.topnav a')).map(a => a.innerText.trim())") or []


def signed_in_as(browser) -> str:
    return wait_until(lambda: text_of(browser, "#signed-in-as"), timeout=30)


def control(browser, element_id) -> dict:
    return browser.execute_script(
        "const e = document.getElementById(arguments[0]);"
        "return e ? {disabled: e.disabled, title: e.title || ''} : null;", element_id) or {}


def without_echoed_path(source: str, path: str) -> str:
    """The page source less the login form's hidden "next" field, which sends the browser back to
    the path it asked for: the browser's own request echoed, nothing read from the database."""
    for form in (path, html.escape(path)):
        source = source.replace(f'value="{form}"', 'value=""')
    return source


# ----------------------------------------------------------------- a nurse
def test_a_nurse_works_at_the_bedside_but_not_on_the_record_or_the_limits(browser, clinic):
    srv, store, sid = clinic["srv"], clinic["store"], clinic["live"]
    srv.login(browser, "nurse", "/")
    assert signed_in_as(browser) == "nurse1 (RN, nurse)"
    wait_until(lambda: OPEN_REF in text_of(browser, '.tile-wrap[data-chair="1"]'), timeout=30)  # the overview
    links = nav_links(browser)
    assert "All chairs" in links and "Sessions" not in links and "Admin" not in links

    browser.get(srv.url + "/sessions")  # typed in: the page says no, and shows nobody
    wait_until(lambda: "Not for your role" in text_of(browser, ".page-error h2"), timeout=30)
    assert "needs a clinician login" in text_of(browser, ".page-error")
    assert OPEN_REF not in browser.page_source and ENDED_REF not in browser.page_source
    browser.get(srv.url + f"/session/{clinic['ended']}")
    wait_until(lambda: "Not for your role" in text_of(browser, ".page-error h2"), timeout=30)
    assert ENDED_REF not in browser.page_source

    browser.get(srv.url + "/chair/1")  # the bedside: acknowledging is a nurse's work
    (aid,) = [a["id"] for a in queries.alerts(store, sid)]
    wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, f'[data-alert-id="{aid}"] .btn-ack'), timeout=30)[0] \
        .click()
    row = wait_until(lambda: store._one("SELECT acknowledged_by FROM alerts WHERE id = ? AND acknowledged_at "
                                        "IS NOT NULL", (aid,)), timeout=15)
    assert row["acknowledged_by"] == "RN"
    wait_until(lambda: "RN" in text_of(browser, "#bed-history"), timeout=15)
    (ack,) = [e for e in queries.events(store, sid) if e["type"] == "acknowledge"]
    assert ack["author"] == "RN"
    audited = people.audit_rows(store, user="nurse1", action="acknowledge")
    assert [(a["outcome"], a["session_id"], a["chair"]) for a in audited] == [("ok", sid, "1")]

    # ending the session and changing a limit are a clinician's: disabled, or refused when tried
    end = wait_until(lambda: control(browser, "act-end-btn"), timeout=15)
    if end["disabled"]:
        assert "clinician" in end["title"]
    else:
        browser.find_element(By.ID, "act-end-btn").click()
        WebDriverWait(browser, 10).until(lambda d: d.switch_to.alert).accept()  # "End this session?"
        wait_until(lambda: "needs a clinician login" in text_of(browser, "#act-status"), timeout=15)
    limit = control(browser, "limit-save")
    if limit["disabled"]:
        assert "clinician" in limit["title"]
    else:
        choose_limit(browser, "spo2_critical")
        browser.find_element(By.ID, "limit-new").send_keys("80")
        browser.find_element(By.ID, "limit-save").click()
        wait_until(lambda: "needs a clinician login" in text_of(browser, "#limit-status"), timeout=15)
    assert queries.session(store, sid)["ended_at"] is None
    assert not [e for e in queries.events(store, sid) if e["type"] in ("session_end", "limit_change")]


def choose_limit(browser, key: str) -> None:
    """Pick a limit in the page's dropdown as a person does: open it, type, take the match."""
    from selenium.webdriver.common.keys import Keys
    box = browser.find_element(By.ID, "limit-rule")
    box.click()
    typed = browser.switch_to.active_element
    typed.send_keys(key)
    time.sleep(0.3)  # the dropdown filters its options as it is typed into
    typed.send_keys(Keys.ENTER)
    wait_until(lambda: key in text_of(browser, "#limit-rule"), timeout=10)


# ----------------------------------------------------------------- a clinician, an administrator
def test_a_clinician_reviews_sessions(browser, clinic):
    srv = clinic["srv"]
    srv.login(browser, "clinician", "/sessions")
    assert signed_in_as(browser) == "doc1 (DR, clinician)"
    links = nav_links(browser)
    assert "Sessions" in links and "Admin" not in links
    wait_until(lambda: ENDED_REF in text_of(browser, "#sl-table"), timeout=30)
    browser.find_element(By.CSS_SELECTOR, f"#sl-table tr[data-session='{clinic['ended']}'] td a").click()
    wait_until(lambda: browser.find_elements(By.ID, "sv-dl-csv"), timeout=30)
    assert browser.current_url.endswith(f"/session/{clinic['ended']}")
    assert ENDED_REF in text_of(browser, "#page")


def test_an_administrator_sees_the_admin_link(browser, clinic):
    clinic["srv"].login(browser, "admin", "/")
    assert signed_in_as(browser) == "admin1 (AD, administrator)"
    wait_until(lambda: "Admin" in nav_links(browser), timeout=15)
    assert "Sessions" in nav_links(browser)
    assert browser.find_element(By.LINK_TEXT, "Admin").get_attribute("href").endswith("/admin")


# ----------------------------------------------------------------- nobody signed in
@pytest.mark.parametrize("path", ["/", "/chair/1", "/chair/2", "/sessions", "/session/{ended}", "/session/{live}",
                                  f"/patient/{OPEN_REF}", f"/patient/{ENDED_REF}"])
def test_an_anonymous_browser_gets_the_login_page_and_no_patient_data(browser, clinic, path):
    path = path.format(**clinic)
    browser.execute_cdp_cmd("Network.clearBrowserCookies", {})
    browser.get(clinic["srv"].url + path)
    wait_until(lambda: browser.find_elements(By.ID, "login-password"), timeout=15)
    time.sleep(0.5)  # nothing else arrives later: no page script runs on the login page
    source = without_echoed_path(browser.page_source, path)
    assert OPEN_REF not in source and ENDED_REF not in source
    assert "Sign in" in browser.title and not browser.find_elements(By.ID, "page")


# ----------------------------------------------------------------- passwords, throttle, sign-out
def try_password(browser, srv, name: str, password: str) -> str:
    browser.get(srv.url + "/login")
    browser.find_element(By.ID, "login-name").send_keys(name)
    browser.find_element(By.ID, "login-password").send_keys(password)
    browser.find_element(By.ID, "login-submit").click()
    wait_until(lambda: browser.execute_script("return document.readyState") == "complete", timeout=15)
    return text_of(browser, "#login-message")


def test_wrong_passwords_are_said_then_throttled(browser, server):
    srv = server("serve")  # its own audit trail: the failures here throttle no other test's logins
    browser.execute_cdp_cmd("Network.clearBrowserCookies", {})
    for _ in range(5):
        assert try_password(browser, srv, "nurse1", "not the password") == "Wrong name or password."
    # the sixth is refused even with the right password, for half a minute after the last failure
    # (access.LOGIN_FIRST_WAIT_S; each try here takes a second or two)
    assert try_password(browser, srv, "nurse1", TEST_PASSWORD).startswith("Too many failed sign-ins: try again in ")
    assert browser.find_elements(By.ID, "login-password") and not browser.find_elements(By.ID, "signed-in-as")
    # the next person at this computer is not locked out by those typos
    assert try_password(browser, srv, "doc1", TEST_PASSWORD) == ""
    assert browser.find_elements(By.ID, "signed-in-as")


def test_signing_out_returns_to_the_login_page_and_ends_the_login(browser, clinic):
    import requests
    srv = clinic["srv"]
    srv.login(browser, "clinician", "/sessions")
    wait_until(lambda: ENDED_REF in text_of(browser, "#sl-table"), timeout=30)
    cookie = browser.get_cookie("infusion_monitor_session")["value"]
    browser.find_element(By.ID, "sign-out").click()
    wait_until(lambda: browser.find_elements(By.ID, "login-password"), timeout=15)
    assert browser.current_url.endswith("/login")
    browser.get(srv.url + "/sessions")
    wait_until(lambda: browser.find_elements(By.ID, "login-password"), timeout=15)
    replayed = requests.get(srv.url + "/sessions", cookies={"infusion_monitor_session": cookie}, timeout=10)
    assert "login-password" in replayed.text, "the cookie from before signing out still signs in"
    layout = requests.get(srv.url + "/_dash-layout", cookies={"infusion_monitor_session": cookie}, timeout=10)
    assert layout.status_code == 401


def test_a_live_bedside_whose_login_ends_says_so_and_sounds(browser, clinic):
    """An administrator disables the nurse signed in at a bedside: within seconds that screen
    says it is signed out and not monitoring, greys its values and sounds (connection-watch.js)."""
    srv, store = clinic["srv"], clinic["store"]
    if people.user(store, "nurse9") is None:
        people.add_user(store, "nurse9", "nurse", TEST_PASSWORD, "NN")
    browser.execute_cdp_cmd("Network.clearBrowserCookies", {})
    try_password(browser, srv, "nurse9", TEST_PASSWORD)
    browser.get(srv.url + "/chair/1")
    wait_until(lambda: OPEN_REF in text_of(browser, "#bed-header"), timeout=30)
    people.change_user(store, "nurse9", active=False)
    wait_until(lambda: "SIGNED OUT: THIS SCREEN IS NOT MONITORING" in text_of(browser, "#connection-banner"),
               timeout=20)
    assert "sign in again" in text_of(browser, "#connection-banner")
    wait_until(lambda: browser.execute_script("return window.infusionAudio && window.infusionAudio.level()")
               in ("medium", "high"), timeout=10)
