"""The shared vocabulary lives once, in monitor/model.py, and every page and export uses it."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from monitor import model
from monitor.model import (EVENT_LABELS, EVENT_TYPES, FLAGGED, PRIORITIES, PRIORITY, STATUSES, Reading,
                           is_valid, mean_arterial, priority_mark, priority_table)

ROOT = Path(__file__).resolve().parent.parent


def test_priority_table_most_urgent_first():
    assert PRIORITIES == ("high", "medium", "low")
    assert [PRIORITY[p].rank for p in PRIORITIES] == [0, 1, 2]
    assert [PRIORITY[p].symbol for p in PRIORITIES] == ["!!!", "!!", "!"]
    assert priority_mark("high") == "!!! HIGH" and priority_mark("low") == "! LOW"
    table = priority_table()
    assert [row["name"] for row in table] == list(PRIORITIES)
    assert set(table[0]) == {"name", "rank", "symbol", "word", "colour", "print_colour"}


def test_every_event_type_has_a_label():
    assert set(EVENT_LABELS) == set(EVENT_TYPES)
    assert model.event_label("infusion_start") == "Infusion start"
    assert model.event_label("something_new") == "something_new"


@pytest.mark.parametrize("status", STATUSES)
def test_valid_reading_means_what_the_engine_alarms_on(status):
    assert is_valid(status, 95.0) == (status not in FLAGGED)
    assert is_valid(status, 95.0) == Reading(0.0, "spo2", 95.0, status).valid
    assert not is_valid(status, None)
    if status == "low_perfusion":
        assert is_valid(status, 95.0)  # a value with a warning, not a gap


def test_mean_arterial():
    assert mean_arterial(120, 80) == pytest.approx(93.333, abs=1e-3)
    assert round(mean_arterial(185, 105)) == 132


def _python_sources():
    for base in ("monitor", "adapters"):
        yield from (p for p in (ROOT / base).rglob("*.py") if p.name != "model.py")


@pytest.mark.parametrize("pattern,what", [
    (r'["\']!!!["\']', "the HIGH symbol"),
    (r'\{\s*["\']high["\']\s*:\s*0', "a priority rank table"),
    (r'["\']<=["\']\s*:\s*["\']≤["\']', "an operator symbol table"),
    (r'\(sbp\s*-\s*dbp\)\s*/\s*3|\(data\["sbp"\]\s*-\s*data\["dbp"\]\)\s*/\s*3', "the MAP formula"),
    (r'["\']infusion_start["\']\s*:\s*\(?["\']Infusion start["\']', "an event label table"),
])
def test_vocabulary_is_not_copied(pattern, what):
    copies = [str(p.relative_to(ROOT)) for p in _python_sources() if re.search(pattern, p.read_text())]
    assert not copies, f"{what} copied outside monitor/model.py: {copies}"


def test_alarm_script_takes_its_priority_table_from_the_server():
    js = (ROOT / "assets" / "alarm-audio.js").read_text()
    assert not re.search(r"RANK\s*=\s*\{[^}]*(high|medium|low)", js)
    assert not re.search(r"[\"'](HIGH|MEDIUM|LOW)[\"']|MEDIUM/HIGH", js)
    from monitor.protocol import load_protocol
    from monitor.web.alarms import controls
    stores = [c for c in controls("bed", load_protocol()).children if getattr(c, "id", None) == "bed-priorities"]
    assert stores and stores[0].data == priority_table()


@pytest.mark.slow
def test_stylesheets_take_the_priority_colours_from_the_model(tmp_path):
    from monitor.protocol import load_protocol
    from monitor.store import Store
    from monitor.web import create_app
    for css in (ROOT / "assets").glob("*.css"):
        assert not re.search(r"--(high|medium|low)\s*:", css.read_text()), css.name
    from conftest import add_test_users, sign_in_test_client
    store = Store(tmp_path / "m.db")
    add_test_users(store)
    try:
        client = sign_in_test_client(create_app(store, load_protocol()).server.test_client(), "nurse")
        page = client.get("/").get_data(as_text=True)
    finally:
        store.close()
    for p in PRIORITIES:
        assert f"--{p}: {PRIORITY[p].colour};" in page
