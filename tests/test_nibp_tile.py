"""The NIBP numbers say how current they are: the live cuff pressure on the tile while a
measurement runs, and the age of the last BP on the overview."""
from __future__ import annotations

import time

import pytest
from selenium.webdriver.common.by import By

from conftest import wait_until, watched
from monitor.model import Reading
from monitor.store import Store
from monitor.web.bedside import KEYS, bedside_tick
from monitor.web.overview import overview_tick



def _session_with_bp(store, chair: str, bp_age_s: float) -> int:
    now = time.time()
    sid = store.open_session("P-BP", chair, "ketamine-iv", now - 1200)[0]
    for p, v in (("sbp", 128.0), ("dbp", 82.0), ("map", 97.0)):
        store.put_reading(sid, Reading(now - bp_age_s, p, v, "ok", "cuff"))
    store.flush()
    return sid


def test_tile_shows_cuff_pressure_while_measuring_and_overview_the_bp_age(store, protocol):
    _session_with_bp(store, "T1", 300)
    watched(store, "T1")  # the cuff pressure is live only while an acquisition process watches the chair
    store.device_status("chairT1-suntech", chair="T1", kind="suntech", connected=1, cuff_pressure=142.0,
                        updated_at=time.time())
    store.flush()  # device states are written with the next batch
    out = dict(zip(KEYS, bedside_tick(store, protocol, {"chair": "T1", "session_id": None})))
    assert "measuring · cuff 142 mmHg" in str(out["bed-numerics.children"])
    store.device_status("chairT1-suntech", cuff_pressure=None, updated_at=time.time())
    store.flush()  # device states are written with the next batch
    out = dict(zip(KEYS, bedside_tick(store, protocol, out["bed-state.data"])))
    assert "measuring" not in str(out["bed-numerics.children"]) and "5 min ago" in str(out["bed-numerics.children"])
    _classes, bodies, *_ = overview_tick(store, ["T1"], protocol)
    assert "128/82 · 5 min" in str(bodies[0])


@pytest.mark.browser
def test_cuff_pressure_on_the_tile_in_chromium(browser, server, db_path, watching):
    store = Store(db_path)
    _session_with_bp(store, "T2", 120)
    watching(store, "T2")
    store.device_status("chairT2-suntech", chair="T2", kind="suntech", connected=1, cuff_pressure=96.0,
                        updated_at=time.time())
    store.flush()  # device states are written with the next batch
    srv = server("serve")
    srv.login(browser, "nurse", "/chair/T2")
    tile = lambda: browser.execute_script(  # noqa: E731
        "const t = document.querySelector('#bed-numerics'); return t ? t.innerText : '';")
    wait_until(lambda: "cuff 96 mmHg" in tile(), timeout=30)
    store.device_status("chairT2-suntech", cuff_pressure=None, updated_at=time.time())
    store.flush()  # device states are written with the next batch
    wait_until(lambda: "cuff" not in tile() and "2 min ago" in tile(), timeout=15)
    assert browser.find_elements(By.ID, "bed-numerics")
    store.close()
