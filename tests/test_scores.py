"""NEWS2 (RCP chart, SpO2 scale 1) and modified Aldrete, checked at every band edge."""
from __future__ import annotations

import pytest

from monitor import scores
from monitor.scores import aldrete, aldrete_circulation, aldrete_spo2, news2


@pytest.mark.parametrize("rr, pts", [
    (0, 3), (8, 3), (9, 1), (11, 1), (12, 0), (20, 0), (21, 2), (24, 2), (25, 3), (60, 3),
    (8.4, 3), (8.5, 1), (20.49, 0), (20.5, 2),
])
def test_news2_respiration_rate(rr, pts):
    assert scores.news2_rr(rr) == pts


@pytest.mark.parametrize("spo2, pts", [
    (70, 3), (91, 3), (92, 2), (93, 2), (94, 1), (95, 1), (96, 0), (100, 0), (91.5, 2), (95.4, 1),
])
def test_news2_spo2_scale_1(spo2, pts):
    assert scores.news2_spo2(spo2) == pts


def test_news2_air_or_oxygen():
    assert scores.news2_o2(True) == 2 and scores.news2_o2(False) == 0


@pytest.mark.parametrize("sbp, pts", [
    (60, 3), (90, 3), (91, 2), (100, 2), (101, 1), (110, 1), (111, 0), (219, 0), (220, 3), (260, 3),
])
def test_news2_systolic_bp(sbp, pts):
    assert scores.news2_sbp(sbp) == pts


@pytest.mark.parametrize("hr, pts", [
    (30, 3), (40, 3), (41, 1), (50, 1), (51, 0), (90, 0), (91, 1), (110, 1), (111, 2), (130, 2),
    (131, 3), (180, 3),
])
def test_news2_pulse(hr, pts):
    assert scores.news2_hr(hr) == pts


@pytest.mark.parametrize("code, pts", [("A", 0), ("C", 3), ("V", 3), ("P", 3), ("U", 3), ("alert", 0)])
def test_news2_consciousness_acvpu(code, pts):
    assert scores.news2_consciousness(code) == pts


def test_news2_consciousness_rejects_unknown():
    with pytest.raises(ValueError, match="consciousness"):
        scores.news2_consciousness("X")


@pytest.mark.parametrize("temp, pts", [
    (34.0, 3), (35.0, 3), (35.1, 1), (36.0, 1), (36.1, 0), (38.0, 0), (38.1, 1), (39.0, 1), (39.1, 2),
    (41.0, 2), (35.04, 3), (35.05, 1),
])
def test_news2_temperature(temp, pts):
    assert scores.news2_temp(temp) == pts


@pytest.mark.parametrize("total, max_single, band", [
    (0, 0, "0"), (1, 1, "1-4"), (4, 2, "1-4"), (3, 3, "3-in-one"), (4, 3, "3-in-one"),
    (5, 2, "5-6"), (6, 3, "5-6"), (7, 3, "7+"), (12, 3, "7+"),
])
def test_news2_aggregate_bands(total, max_single, band):
    assert scores.news2_band(total, max_single) == band


def test_news2_aggregate_from_values():
    full = {"rr": 16, "spo2": 97, "o2": False, "sbp": 125, "hr": 72, "consciousness": "A", "temp": 36.8}
    n = news2(full)
    assert (n.total, n.band, n.risk, n.partial) == (0, "0", "low", False)
    n = news2({**full, "hr": 95, "spo2": 94})  # 1 + 1
    assert (n.total, n.band, n.risk) == (2, "1-4", "low")
    n = news2({**full, "rr": 26})  # a single 3
    assert (n.total, n.band, n.risk) == (3, "3-in-one", "low-medium")
    n = news2({**full, "spo2": 93, "hr": 115, "temp": 38.5})  # 2 + 2 + 1
    assert (n.total, n.band, n.risk) == (5, "5-6", "medium")
    n = news2({**full, "spo2": 90, "o2": True, "sbp": 105, "hr": 100})  # 3 + 2 + 1 + 1
    assert (n.total, n.band, n.risk) == (7, "7+", "high")
    assert n.scores == {"rr": 0, "spo2": 3, "o2": 2, "sbp": 1, "hr": 1, "consciousness": 0, "temp": 0}


def test_news2_partial_lists_missing_and_none_when_empty():
    n = news2({"spo2": 97, "hr": 72, "sbp": 120})
    assert n.total == 0 and n.partial and set(n.missing) == {"rr", "o2", "consciousness", "temp"}
    assert news2({}) is None
    assert news2({"hr": None, "spo2": None}) is None


# ---------------------------------------------------------------- Aldrete
@pytest.mark.parametrize("sbp, base, pts", [
    (120, 120, 2), (140, 120, 2), (100, 120, 2), (141, 120, 1), (99, 120, 1), (169, 120, 1),
    (71, 120, 1), (170, 120, 0), (70, 120, 0), (200, 120, 0),
])
def test_aldrete_circulation_vs_baseline(sbp, base, pts):
    assert aldrete_circulation(sbp, base) == pts


@pytest.mark.parametrize("spo2, on_o2, pts", [
    (100, False, 2), (93, False, 2), (92, False, 1), (91, False, 1), (90, False, 0), (85, False, 0),
    (99, True, 1), (91, True, 1), (90, True, 0), (89, True, 0),
])
def test_aldrete_spo2(spo2, on_o2, pts):
    assert aldrete_spo2(spo2, on_o2) == pts


def test_aldrete_total_and_discharge_edge():
    nine = {"activity": 2, "respiration": 2, "circulation": 2, "consciousness": 2, "spo2": 1}
    a = aldrete(nine)
    assert (a.total, a.ready, a.missing) == (9, True, ())
    a = aldrete({**nine, "consciousness": 1})
    assert (a.total, a.ready) == (8, False)
    a = aldrete({k: 2 for k in scores.ALDRETE_ITEMS})
    assert (a.total, a.ready) == (10, True)
    a = aldrete({k: 0 for k in scores.ALDRETE_ITEMS})
    assert (a.total, a.ready) == (0, False)


def test_aldrete_incomplete_is_not_ready_and_bad_scores_rejected():
    a = aldrete({"activity": 2, "respiration": 2, "circulation": 2, "consciousness": 2})
    assert a.total == 8 and not a.ready and a.missing == ("spo2",)
    with pytest.raises(ValueError, match="Activity"):
        aldrete({"activity": 3})
    with pytest.raises(ValueError, match="SpO2"):
        aldrete({"spo2": True})


def test_aldrete_prefill_decides_from_fresh_data_only():
    from monitor.scores import aldrete_prefill
    now = 10_000.0
    sbp, spo2 = {"ts": now - 120, "value": 150.0}, {"ts": now - 5, "value": 97.0, "status": "ok"}
    pre = aldrete_prefill(sbp, 122.0, spo2, True, now, bp_max_age_s=1800, spo2_max_age_s=60)
    assert pre["circulation"] == (1, "SBP 150 vs baseline 122 (+28 mmHg), 2 min ago")
    assert pre["spo2"] == (1, "SpO2 97 % on oxygen (last charted)")
    stale = aldrete_prefill(sbp, 122.0, spo2, False, now + 1800, bp_max_age_s=1800, spo2_max_age_s=60)
    assert stale["circulation"][0] is None and stale["spo2"][0] is None
    assert aldrete_prefill(sbp, None, None, False, now, 1800, 60)["circulation"] == \
        (None, "no baseline SBP: score by hand")
    flagged = {"ts": now, "value": 97.0, "status": "sensor_off"}
    assert aldrete_prefill(None, None, flagged, False, now, 1800, 60)["spo2"] == (None, "no current SpO2: score by hand")
