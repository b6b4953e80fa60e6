"""The bedside trend's bounded window: the newest half hour of HR and SpO2 at full
resolution, older minutes decimated to their lowest and highest reading, and ticks that
send only what is new (the browser side is tests/test_trend_browser.py)."""
from __future__ import annotations

import json

from monitor.formatting import local_iso
from monitor.web import trend
from monitor.web.trend import BUCKET_S, HISTORY_TRACE, TRACE_INDEX, WINDOW_S

T0 = 1_790_000_000.0 - 1_790_000_000.0 % BUCKET_S  # a minute boundary
HR, SPO2 = TRACE_INDEX["hr"], TRACE_INDEX["spo2"]


def rows_for(seconds, start_id=1, dip_at=None, flagged=()):
    """1 Hz HR and SpO2 rows for these session seconds; SpO2 dips to 84 at `dip_at`."""
    rows, rid = [], start_id
    for s in seconds:
        for p, v in (("hr", 70 + s % 7), ("spo2", 84 if s == dip_at else 97)):
            rows.append({"id": rid, "ts": T0 + s, "parameter": p, "value": v,
                         "status": "sensor_off" if s in flagged else "ok", "source": "ox", "detail": None})
            rid += 1
    return rows


def test_a_long_session_opens_light_with_its_whole_history_decimated(protocol):
    minutes = 240
    fig, state = trend.start(rows_for(range(minutes * 60), dip_at=600 + 17), [], protocol, {}, "fig-1")
    window = fig["data"][HR]
    history = fig["data"][HISTORY_TRACE["hr"]]
    boundary = local_iso(trend.window_start(T0 + minutes * 60 - 1))
    assert all(x >= boundary for x in window["x"])  # full resolution only inside the window
    assert WINDOW_S <= len(window["x"]) <= WINDOW_S + BUCKET_S
    assert history["x"][0] == local_iso(T0) and all(x < boundary for x in history["x"])  # all of it is there
    assert len(history["x"]) <= 2 * (minutes * 60 - WINDOW_S) // BUCKET_S  # at most 2 points a minute
    # the one-second desaturation at minute 10 survives decimation, at its true time and value
    spo2 = fig["data"][HISTORY_TRACE["spo2"]]
    assert (local_iso(T0 + 617), 84) in zip(spo2["x"], spo2["y"])
    hr = dict(zip(history["x"], history["y"]))
    assert min(hr.values()) == 70 and max(hr.values()) == 76  # each minute's lowest and highest kept
    # the closed minutes inside the window wait in the figure for the browser to retire them
    pending = fig["layout"]["meta"]["trend"]["pending"][str(HR)]
    assert len(pending) == WINDOW_S // BUCKET_S and all(b["n"] == BUCKET_S for b in pending)
    assert len(json.dumps(state)) < 600  # what travels in bed-state does not grow with the session


def test_a_flagged_stretch_stays_a_gap_after_decimation(protocol):
    fig, _ = trend.start(rows_for(range(3600), flagged=set(range(120, 180))), [], protocol, {}, "f")
    history = fig["data"][HISTORY_TRACE["hr"]]
    assert history["y"][history["x"].index(local_iso(T0 + 120))] is None  # the minute with no valid HR
    assert not [y for x, y in zip(history["x"], history["y"]) if local_iso(T0 + 120) <= x < local_iso(T0 + 180)
                if y is not None]


def apply(figure: dict, pending: dict, message: dict) -> None:
    """What assets/trend-extend.js does with a message, on plain lists: append the new points,
    then move every pending minute the window start has passed into the older-part trace."""
    for k, (xs, ys) in message["extend"].items():
        figure["data"][int(k)]["x"] += xs
        figure["data"][int(k)]["y"] += ys
    for k, closed in message["closed"].items():
        pending.setdefault(k, []).extend(closed)
    for k, queue in pending.items():
        while queue and queue[0]["end"] <= message["boundary"]:
            b = queue.pop(0)
            live, older = figure["data"][int(k)], figure["data"][trend.HISTORY_TRACE[trend.TRACE_PARAMETER[int(k)]]]
            del live["x"][:b["n"]], live["y"][:b["n"]]
            older["x"] += b["x"]
            older["y"] += b["y"]


def test_ticks_keep_an_open_page_equal_to_a_page_opened_now(protocol):
    """A page open since minute 31 and ticked second by second (some ticks carrying several
    seconds) holds exactly what a page opened at minute 36 is sent."""
    first = rows_for(range(31 * 60), dip_at=30)
    fig, state = trend.start(first, [], protocol, {}, "fig-1")
    pending = {k: list(v) for k, v in fig["layout"]["meta"]["trend"]["pending"].items()}
    later = rows_for(range(31 * 60, 36 * 60 + 7), start_id=len(first) + 1, dip_at=33 * 60 + 5)
    i, seq, steps = 0, 0, [2, 1, 1, 3]
    while i < len(later):
        step = 2 * steps[seq % len(steps)]  # HR and SpO2 rows per second
        message = trend.increment(state, later[i:i + step])
        seq += 1
        assert message["base"] == "fig-1" and message["seq"] == seq
        assert set(message["extend"]) == {str(HR), str(SPO2)}
        apply(fig, pending, message)
        i += step
    assert json.loads(json.dumps(state)) == state  # bed-state is JSON both ways
    fresh, _ = trend.start(first + later, [], protocol, {}, "fig-2")
    for t in (HR, SPO2, HISTORY_TRACE["hr"], HISTORY_TRACE["spo2"]):
        assert fig["data"][t]["x"] == fresh["data"][t]["x"] and fig["data"][t]["y"] == fresh["data"][t]["y"], t
    assert pending == fresh["layout"]["meta"]["trend"]["pending"]
    assert (local_iso(T0 + 30), 84) in zip(fig["data"][HISTORY_TRACE["spo2"]]["x"],
                                           fig["data"][HISTORY_TRACE["spo2"]]["y"])


def test_a_tick_with_nothing_new_sends_nothing_and_a_cuff_result_only_its_point(protocol):
    fig, state = trend.start(rows_for(range(90)), [], protocol, {}, "fig-1")
    assert trend.increment(state, []) is None
    cuff = {"id": 999, "ts": T0 + 91, "parameter": "sbp", "value": 131, "status": "ok", "source": "cuff",
            "detail": None}
    message = trend.increment(state, [cuff])
    assert message["extend"] == {str(TRACE_INDEX["sbp"]): [[local_iso(T0 + 91)], [131]]}
    assert message["closed"] == {} and message["seq"] == 1
    typed = dict(cuff, id=1000, source="manual")  # a typed BP is the "Manual obs" mark, not a cuff point
    assert trend.increment(state, [typed]) is None


def test_a_late_reading_joins_the_open_minute_and_is_kept(protocol):
    fig, state = trend.start(rows_for(range(125)), [], protocol, {}, "fig-1")
    late = rows_for([50], start_id=500)[:1]  # an HR stamped in a minute already closed
    late[0]["value"] = 150
    trend.increment(state, late)
    assert state["open"]["hr"]["hi"] == [T0 + 50, 150] and state["open"]["hr"]["n"] == 6
