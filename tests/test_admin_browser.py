"""The administrator's page in real headless Chromium against a real server: the users with
their last sign-in, the audit trail with the admin's own login, a filter, adding a user
through the form, and a clinician who opens /admin seeing the refusal and no user names."""
from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By

from monitor.store import Store, people

from conftest import ADMIN, CLINICIAN, NURSE, TEST_PASSWORD, wait_until

pytestmark = pytest.mark.browser


def rows(browser, table: str, attribute: str) -> list[str]:
    return browser.execute_script(
        f"return Array.from(document.querySelectorAll('#{table} tr[{attribute}]'))"
        f".map(r => r.getAttribute('{attribute}'))") or []


def row_text(browser, table: str, attribute: str, value: str) -> str:
    return browser.find_element(By.CSS_SELECTOR, f"#{table} tr[{attribute}='{value}']").text


def choose(browser, dropdown_id: str, option: str) -> None:
    """Pick an option of a dcc.Dropdown the way a person does: open it, click the option."""
    browser.find_element(By.ID, dropdown_id).click()
    wait_until(lambda: browser.find_elements(By.XPATH, f"//*[@role='option'][normalize-space()='{option}']"),
               timeout=10)[0].click()


def test_admin_sees_users_last_sign_in_and_the_trail_filters_it_and_adds_a_user(browser, server, db_path, tmp_path):
    srv = server()
    browser.delete_all_cookies()
    srv.login(browser, "admin", "/admin")
    wait_until(lambda: len(rows(browser, "adm-users", "data-user")) == 3, timeout=30)
    assert rows(browser, "adm-users", "data-user") == [ADMIN.name, CLINICIAN.name, NURSE.name]
    admin_row = row_text(browser, "adm-users", "data-user", ADMIN.name)
    assert "administrator" in admin_row and "AD" in admin_row and "active" in admin_row
    assert not admin_row.endswith("never")  # this sign-in is its last one
    assert row_text(browser, "adm-users", "data-user", NURSE.name).endswith("never")
    own_login = browser.find_element(By.CSS_SELECTOR, "#adm-audit tr[data-action='login']").text
    assert ADMIN.name in own_login and "ok" in own_login and "127.0.0.1" in own_login

    # a user added through the form (a wrong repeat first: the rule's message, nothing added)
    browser.find_element(By.ID, "adm-new-name").send_keys("mary.jones")
    browser.find_element(By.ID, "adm-new-password").send_keys(TEST_PASSWORD)
    browser.find_element(By.ID, "adm-new-again").send_keys(TEST_PASSWORD + "x")
    browser.find_element(By.ID, "adm-add").click()
    wait_until(lambda: "the two passwords differ" in browser.find_element(By.ID, "adm-user-status").text)
    assert browser.find_element(By.ID, "adm-new-password").get_attribute("value") == ""  # never kept on the page
    browser.find_element(By.ID, "adm-new-password").send_keys(TEST_PASSWORD)
    browser.find_element(By.ID, "adm-new-again").send_keys(TEST_PASSWORD)
    browser.find_element(By.ID, "adm-add").click()
    wait_until(lambda: browser.find_element(By.ID, "adm-user-status").text == "Added mary.jones (MJ, nurse).")
    wait_until(lambda: "mary.jones" in rows(browser, "adm-users", "data-user"))
    wait_until(lambda: "add mary.jones as nurse" in browser.find_element(By.ID, "adm-audit").text,
               timeout=15)  # the trail shows the change at once
    assert TEST_PASSWORD not in browser.page_source

    choose(browser, "adm-f-action", "login")
    wait_until(lambda: set(rows(browser, "adm-audit", "data-action")) == {"login"}, timeout=20)
    assert "Entries 1–1 of 1 matching" in browser.find_element(By.ID, "adm-count").text
    browser.save_screenshot(str(tmp_path / "admin.png"))

    downloads = tmp_path / "downloads"
    downloads.mkdir()
    browser.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    browser.find_element(By.ID, "adm-dl-csv").click()
    done = wait_until(lambda: not any(p.suffix == ".crdownload" for p in downloads.iterdir())
                      and [p for p in downloads.iterdir() if p.suffix == ".csv"], timeout=30)
    lines = done[0].read_text(encoding="utf-8").splitlines()
    assert lines[0] == "ts,user,role,action,outcome,chair,session_id,detail,address"
    assert len(lines) == 2 and f",{ADMIN.name},admin,login,ok," in lines[1]
    store = Store(db_path)
    try:
        assert [r["detail"] for r in people.audit_rows(store, action="audit_export")] == ["action=login"]
    finally:
        store.close()


def test_a_clinician_opening_admin_sees_not_for_your_role_and_no_user_names(browser, server):
    srv = server()
    browser.delete_all_cookies()
    srv.login(browser, "clinician", "/admin")
    wait_until(lambda: "Not for your role" in browser.find_element(By.ID, "page").text, timeout=30)
    body = browser.find_element(By.TAG_NAME, "body").text
    assert ADMIN.name not in body and NURSE.name not in body
    assert not browser.find_elements(By.ID, "adm-users") and not browser.find_elements(By.ID, "adm-audit")
    assert not browser.find_elements(By.LINK_TEXT, "Admin")  # the nav offers it to administrators only
