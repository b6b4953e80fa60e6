"""A note typed while another program holds the database's write lock: the page says it was
not recorded and keeps the text, and the same click records it once the lock is gone
(issue 10 item 1), in headless Chromium against a real server."""
from __future__ import annotations

import sqlite3
import time

import pytest
from selenium.webdriver.common.by import By

from conftest import text_of, wait_until
from monitor.model import Reading
from monitor.store import Store, queries

pytestmark = pytest.mark.browser


def value_of(browser, element_id):
    return browser.execute_script("return document.getElementById(arguments[0]).value;", element_id)


def test_a_note_during_a_long_foreign_write_is_refused_and_kept_then_recorded(browser, server, db_path):
    store = Store(db_path)
    t0 = time.time() - 60
    sid = store.open_session("P-BUSY", "BZ", "ketamine-iv", t0)[0]
    store.put_reading(sid, Reading(t0 + 1, "hr", 72, "ok", "ox"))
    store.flush()
    srv = server("serve")
    srv.login(browser, "nurse", "/chair/BZ")
    wait_until(lambda: browser.find_elements(By.ID, "note-text"), timeout=30)
    browser.find_element(By.ID, "note-text").send_keys("patient anxious, reassured")
    blocker = sqlite3.connect(db_path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        browser.find_element(By.ID, "note-save").click()
        status = wait_until(lambda: "Not recorded" in text_of(browser, "#chart-status")
                            and text_of(browser, "#chart-status"), timeout=30)
        assert "locked" in status
        assert value_of(browser, "note-text") == "patient anxious, reassured"
    finally:
        blocker.rollback()
        blocker.close()
    browser.find_element(By.ID, "note-save").click()
    wait_until(lambda: text_of(browser, "#chart-status").startswith("Recorded"), timeout=30)
    assert value_of(browser, "note-text") == ""
    assert [e["text"] for e in queries.events(store, sid) if e["type"] == "note"] == ["patient anxious, reassured"]
    store.close()
