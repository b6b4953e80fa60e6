"""The nurse-side benchmarks (benchmarks/live_latency.py, browser_cost.py, ingest_chairs.py,
scale_store.py) load, take their options, and drive the devices the way their tables assume.
Cheap checks only: the benchmarks themselves run under `make bench`, and no speed is asserted here."""
from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCH))


@pytest.mark.parametrize("script,argv,expect", [
    ("live_latency", ["--seconds", "5", "--server", "run"], {"seconds": 5, "chairs": 12, "server": "run"}),
    ("browser_cost", ["--minutes", "1", "240"], {"sample": 20, "minutes": [1, 240]}),
    ("ingest_chairs", [], {"seconds": 30, "chairs": [12, 50, 100]}),
    ("scale_store", [], {"seconds": 60, "warmup": 10, "chairs": [100], "sqlite_chairs": [100, 200],
                         "processes": 4, "clients": 20}),
])
def test_each_benchmark_imports_and_takes_its_options(script, argv, expect):
    args = vars(importlib.import_module(script).parse_args(argv))
    assert {k: args[k] for k in expect} == expect


def test_run_py_runs_every_new_script_and_skips_the_helpers():
    text = (BENCH / "run.py").read_text()  # read, not imported: importing it runs every benchmark
    for name in ("bench_machine.py", "live_harness.py"):
        assert f'"{name}"' in text
    for name in ("live_latency.py", "browser_cost.py", "ingest_chairs.py", "scale_store.py"):
        assert (BENCH / name).is_file() and f'"{name}"' not in text


def test_every_hr_step_passes_the_masimo_cross_frame_check():
    """A step beyond the check's tolerance would be stored as an artifact, not shown:
    the latency table would then count a value the page could never show."""
    from adapters.frame_check import ONE_PER_SECOND
    from live_harness import alarm_schedule, sawtooth
    schedule, _ = alarm_schedule(400)
    for values in (schedule, [sawtooth(k, 7) for k in range(400)]):
        steps = [(abs(b - a), a) for a, b in zip(values, values[1:])]
        assert all(0 < step <= ONE_PER_SECOND.hr(ref) for step, ref in steps)


def test_the_latency_run_raises_the_high_tachycardia_alarm_and_no_medium_one(protocol):
    """Each climb holds HR above hr_critical's limit at least its for_s (so the HIGH alarm the
    table times is raised), and never stays above hr_high's limit as long as its for_s."""
    from live_harness import alarm_schedule
    critical, high = protocol.rule("hr_critical"), protocol.rule("hr_high")
    crit_limit, high_limit = critical.clauses[0].limit, high.clauses[0].limit
    schedule, starts = alarm_schedule(300)
    assert len(starts) >= 3

    def runs_above(limit):
        out, n = [], 0
        for v in schedule + [0]:
            if v > limit:
                n += 1
            elif n:
                out.append(n)
                n = 0
        return out
    assert runs_above(crit_limit) and min(runs_above(crit_limit)) > critical.for_s
    assert max(runs_above(high_limit)) < high.for_s


def test_values_recur_no_sooner_than_twenty_seconds():
    """The tables match a page's text and a stored row to the write of the same value; a
    value sent again within seconds would be matched to the wrong write."""
    from live_harness import alarm_schedule
    schedule, _ = alarm_schedule(400)
    last = {}
    for k, v in enumerate(schedule):
        assert k - last.get(v, -100) >= 20, (k, v)
        last[v] = k


def test_machine_line_states_cores_model_memory_and_load():
    from bench_machine import MachineLoad, machine
    import os
    assert f"{os.cpu_count()} cores" in machine() and "GB RAM" in machine()
    line = MachineLoad().stop().line()
    assert "Load average" in line and "other processes" in line
