"""The rule that turns an oximeter's samples into readings (adapters/period_thinner.py): a device
no faster than once a second loses nothing and waits for nothing; a faster one gives about one
reading a second, the last of each; every reading carries its sample's arrival time."""
from __future__ import annotations

from hypothesis import example, given, settings, strategies as st

from adapters.period_thinner import OWN_PACE, PeriodThinner

PERIOD = 1.0
IDLE_EVERY = 0.1  # SerialLink calls idle about every read timeout


def run(arrivals, flush_at_end=True):
    """Feed (ts, samples) arrivals with idle calls in between, as the link does; returns
    [(emitted at, ts, sample)] and the thinner."""
    thinner = PeriodThinner(PERIOD)
    out = []
    now = arrivals[0][0] if arrivals else 0.0
    for ts, samples in arrivals:
        while now + IDLE_EVERY < ts:
            now += IDLE_EVERY
            out += [(now, t, s) for t, s in thinner.window_closed(now)]
        now = ts
        out += [(now, t, s) for t, s in thinner.arrived(ts, samples)]
        out += [(now, t, s) for t, s in thinner.window_closed(now)]
    end = now + 3 * PERIOD
    while now < end:
        now += IDLE_EVERY
        out += [(now, t, s) for t, s in thinner.window_closed(now)]
    if flush_at_end:
        out += [(now, t, s) for t, s in thinner.flush()]
    return out, thinner


def times(gaps, start=100.0):
    t, out = start, []
    for g in gaps:
        t += g
        out.append(round(t, 9))
    return out


def one_each(ts_list):
    """Arrivals of one sample each; sample k is the integer k, so an output names its input."""
    return [(t, [k]) for k, t in enumerate(ts_list)]


# ------------------------------------------------------------------ examples
def test_a_once_a_second_device_gives_every_sample_at_once_at_its_arrival():
    arrivals = one_each(times([1.0] * 10))
    out, _ = run(arrivals)
    assert [(t, s) for _, t, s in out] == [(t, samples[0]) for t, samples in arrivals]
    assert all(emitted == t for emitted, t, _ in out)  # no added latency


def test_three_packets_a_second_give_the_last_of_each_second():
    arrivals = one_each([k / 3 for k in range(10)])  # DF2: 0, 1/3, ..., 3
    out, _ = run(arrivals, flush_at_end=False)
    # the first at once; then windows [0, 1), [1, 2), [2, 3), [3, 4): the last of each, at its own time
    assert [s for _, _, s in out] == [0, 2, 5, 8, 9]
    assert [t for _, t, _ in out] == [0.0, 2 / 3, 5 / 3, 8 / 3, 3.0]
    # each goes out when its window closes: with the next packet, or the next idle call
    assert [round(e, 6) for e, _, _ in out] == [0.0, 1.0, 2.0, 3.0, 4.0]


def test_sixty_packets_a_second_read_in_batches_give_one_a_second():
    # Contec: 60 packets a second, several in each read (one read every 50 ms, 3 packets each)
    arrivals = [(k * 0.05, [3 * k, 3 * k + 1, 3 * k + 2]) for k in range(200)]  # 10 s
    out, thinner = run(arrivals)
    ts = [t for _, t, _ in out]
    assert len(out) == 11  # the first at once, then the last of each of the 10 windows
    assert all(abs(b - a - 1.0) < 1e-9 for a, b in zip(ts[1:], ts[2:]))
    assert out[-1][2] == 599  # the newest sample is never lost
    assert thinner.merged == 400  # per read, the older two share its instant with the newest


def test_a_doublet_from_a_once_a_second_device_is_kept_a_little_late():
    # one line 0.5 s after the one before (an extra line), then on time again
    arrivals = one_each([10.0, 11.0, 11.5, 12.0, 13.0, 14.0])
    out, _ = run(arrivals, flush_at_end=False)
    assert [s for _, _, s in out] == [0, 1, 2, 3, 4, 5]
    assert [t for _, t, _ in out] == [10.0, 11.0, 11.5, 12.0, 13.0, 14.0]
    late = {s: round(e - t, 6) for e, t, s in out if e != t}
    assert set(late) == {2, 3} and max(late.values()) <= PERIOD


def test_a_held_sample_goes_out_when_the_link_drops():
    thinner = PeriodThinner(PERIOD)
    assert thinner.arrived(0.0, ["a"]) == [(0.0, "a")]
    assert thinner.arrived(0.3, ["b"]) == []  # held: its window is still open
    assert thinner.flush() == [(0.3, "b")]   # the port went away: recorded, not forgotten
    assert thinner.arrived(0.5, ["c"]) == [(0.5, "c")]  # a fresh stream: the first goes out at once
    assert thinner.flush() == []


# ------------------------------------------------------------------ properties
# (gap since the previous read, samples in this read)
reads = st.lists(st.tuples(st.floats(min_value=0.001, max_value=3.0, allow_nan=False),
                           st.integers(min_value=1, max_value=4)), min_size=1, max_size=60)


def batched(reads):
    arrivals, k = [], 0
    for t, n in zip(times([g for g, _ in reads]), [n for _, n in reads]):
        arrivals.append((t, list(range(k, k + n))))
        k += n
    return arrivals


@settings(max_examples=60, deadline=None)
@given(reads)
def test_for_any_arrivals_readings_are_inputs_in_time_order_and_none_lost_but_to_a_newer_one(reads):
    arrivals = batched(reads)
    out, thinner = run(arrivals)
    stamped = {(t, samples[-1]) for t, samples in arrivals}
    assert all((t, s) in stamped for _, t, s in out), "every reading is a sample, at its own arrival time"
    ts = [t for _, t, _ in out]
    assert all(a < b for a, b in zip(ts, ts[1:])), "readings in strictly increasing time order"
    emitted = [e for e, _, _ in out]
    assert emitted == sorted(emitted)
    for t, samples in arrivals:  # a sample is left out only when a newer one goes out within its period
        assert any(t <= u < t + PERIOD for u in ts), t
    assert out[-1][1:] == (arrivals[-1][0], arrivals[-1][1][-1]), "the newest sample is never lost"
    assert all(e - t <= PERIOD + IDLE_EVERY + 1e-9 for e, t, _ in out), "held at most a period"
    assert thinner.merged == sum(len(s) - 1 for _, s in arrivals)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=0.001, max_value=OWN_PACE * PERIOD * 0.999, allow_nan=False),
                min_size=1, max_size=200))
def test_a_device_faster_than_its_pace_gives_about_one_reading_a_period(gaps):
    ts_list = times(gaps)
    out, _ = run(one_each(ts_list))
    span = ts_list[-1] - ts_list[0]
    assert len(out) <= span / PERIOD + 2
    for x in [t for _, t, _ in out]:  # never more than two in any period
        assert sum(1 for _, t, _ in out if x <= t < x + PERIOD) <= 2


jittered_gap = st.floats(min_value=0.8, max_value=1.2, allow_nan=False)


def _with_doublets(draws):
    gaps = []
    for jittered, doublet, short in draws:
        gaps.append(short if doublet and gaps and gaps[-1] >= 0.8 else jittered)
    return gaps


# Gaps of 0.8-1.2 s, and now and then one of 0.3-0.59 s (an extra or a delayed line) after a normal one.
once_a_second_with_doublets = st.lists(
    st.tuples(jittered_gap, st.integers(min_value=0, max_value=5).map(lambda k: k == 0),
              st.floats(min_value=0.3, max_value=0.59)),
    min_size=1, max_size=60).map(_with_doublets)


@settings(max_examples=60, deadline=None)
@given(once_a_second_with_doublets)
def test_a_once_a_second_device_with_jitter_and_doublets_loses_nothing(gaps):
    ts_list = times(gaps)
    out, _ = run(one_each(ts_list))
    assert [(t, s) for _, t, s in out] == [(t, k) for k, t in enumerate(ts_list)]
    normal = {round(t, 9) for t, g in zip(ts_list, gaps) if g >= 0.8}
    assert all(e == t for e, t, _ in out if round(t, 9) in normal), "an on-pace sample waits for nothing"


def _no_two_short_running(gaps):
    out = []
    for g in gaps:
        short = g < OWN_PACE * PERIOD
        out.append(g + OWN_PACE * PERIOD if short and out and out[-1] < OWN_PACE * PERIOD else g)
    return out


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=0.001, max_value=3.0, allow_nan=False), min_size=1, max_size=60)
       .map(_no_two_short_running))
@example(gaps=[1.0, 0.6, 0.25])  # 101.6 - 101.0 is 0.59999…: on pace all the same (period_thinner.TIME_EPS_S)
def test_a_device_never_twice_running_faster_than_its_pace_loses_nothing(gaps):
    # e.g. an extra line 0.3 s after a beat, the next beat 0.65 s later: in one period window,
    # so the held line goes out just before the beat that goes out at once
    ts_list = times(gaps)
    out, _ = run(one_each(ts_list))
    assert [(t, s) for _, t, s in out] == [(t, k) for k, t in enumerate(ts_list)]
