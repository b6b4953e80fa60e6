"""The browser's cost of a bedside page as the session gets long: main thread per tick,
JS heap and DOM nodes at session minute 1, 60 and 240 (issue 12 item 3's figure).

Three chairs on one temp database, each with a simulated session already 1, 60 or 240
minutes old: its history written at full speed through the same recorder acquisition uses
(engine + store), then fed live once a second with a heartbeat, as acquisition would
(`LiveFeed`, in this process). `infusion-monitor serve` shows them; a signed-in headless
Chromium opens each bedside page in turn, lets it draw and tick for WARMUP_S, then
samples Chrome's own counters (CDP Performance.getMetrics) every second for SAMPLE_S:
TaskDuration and ScriptDuration (main-thread time, per 1 s tick), JSHeapUsedSize and
Nodes after a forced garbage collection, and the page's long tasks (> 50 ms).

A page opened at minute 240 holds the whole history at once, as a page open for four
hours does; what it does not show is growth that only a page kept open would accumulate
(the heap's growth while it ticks is printed as kB per minute for that).

    .venv/bin/python benchmarks/browser_cost.py [--sample 20] [--minutes 1 60 240]
"""
from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_machine import MachineLoad  # noqa: E402
from live_harness import (Product, chromium, close_chromium, metrics, page_record, prepare_database,  # noqa: E402
                          sign_in)

WARMUP_S = 8


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sample", type=int, default=20, help="seconds of ticks sampled per page")
    p.add_argument("--minutes", type=int, nargs="+", default=[1, 60, 240], help="session ages to open")
    return p.parse_args(argv)


class SimSession:
    """A simulated patient's session fed second by second through the recorder (as
    benchmarks/live_tick.py's LiveSession): infusion from minute 5."""

    def __init__(self, store, protocol, chair: str, t0: float):
        from adapters.nibp_cycle import NibpCycle
        from adapters.sim import Patient, SimBedside
        from monitor.recording import SessionRecorder
        self.t0 = t0
        self.sid = store.open_session(f"COST-{chair}", chair, protocol.name, t0)[0]
        self.rec = SessionRecorder(store, self.sid, protocol)
        self.cycle = NibpCycle(protocol.nibp_cycle_infusion_s, protocol.nibp_cycle_other_s)
        self.bed = SimBedside(Patient("normal", 1), self.cycle, t0)
        self.k = 0

    def run_until(self, ts: float) -> int:
        from monitor.model import Event, Reading
        n = 0
        while self.t0 + self.k <= ts:
            t = self.t0 + self.k
            if self.k == 300:
                self.rec.event(Event(t, "infusion_start", "", "bench"))
            self.cycle.follow(self.sid, self.rec.engine.state)
            items, _ = self.bed.step(t)
            for it in items:
                if isinstance(it, Reading):
                    self.rec.reading(it)
                    n += 1
                else:
                    self.rec.signal(it)
            self.k += 1
        return n


class LiveFeed:
    """Sessions 1, 60, 240 minutes old on chairs m1, m60, m240, fed once a second with a heartbeat."""

    def __init__(self, db: Path, minutes: list[int]):
        from monitor.protocol import load_protocol
        from monitor.store import Store
        self.store = Store(db)
        protocol = load_protocol()
        now = time.time()
        self.chairs = {f"m{m}": SimSession(self.store, protocol, f"m{m}", now - m * 60) for m in minutes}
        self.readings = sum(s.run_until(now) for s in self.chairs.values())
        self.store.flush()
        self.started = now
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="live-feed", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(1.0 - (time.time() % 1.0)):
            now = time.time()
            for s in self.chairs.values():
                s.run_until(now)
            self.store.heartbeat(list(self.chairs), now, os.getpid(), socket.gethostname(), self.started)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.store.close()


def sample_page(drv, url: str, seconds: int) -> dict:
    """Open the page, let it draw and tick, then one getMetrics a second."""
    drv.get(url)
    time.sleep(WARMUP_S)
    drv.execute_cdp_cmd("HeapProfiler.collectGarbage", {})
    first = metrics(drv)
    began = time.time()
    samples = [first]
    for _ in range(seconds):
        time.sleep(1.0)
        samples.append(metrics(drv))
    ended = time.time()
    drv.execute_cdp_cmd("HeapProfiler.collectGarbage", {})
    last = metrics(drv)
    pairs = list(zip(samples, samples[1:]))
    delta = lambda key: [(b[key] - a[key]) * 1000 for a, b in pairs]  # noqa: E731
    # the benchmark's own getMetrics calls run on the main thread too: taken out
    per_s = [t - d for t, d in zip(delta("TaskDuration"), delta("DevToolsCommandDuration"))]
    script, cpu = delta("ScriptDuration"), delta("ThreadTime")
    record = page_record(drv)
    ticks = [n for n in record["net"] if n["tick"] and began * 1000 <= n["t0"] <= ended * 1000]
    long_tasks = [t["ms"] for t in record["longtasks"] if began * 1000 <= t["t"] <= ended * 1000]
    return {"task_ms": statistics.median(per_s), "task_max": max(per_s), "script_ms": statistics.median(script),
            "cpu_ms": statistics.median(cpu),
            "ticks": len(ticks), "seconds": ended - began,
            "heap_mb": last["JSHeapUsedSize"] / 1e6, "heap_growth_kb_min": (last["JSHeapUsedSize"] - first["JSHeapUsedSize"])
            / 1e3 / ((ended - began) / 60), "nodes": int(last["Nodes"]),
            "long_n": len(long_tasks), "long_max": max(long_tasks, default=0.0)}


def main(argv=None) -> None:
    args = parse_args(argv)
    load = MachineLoad()
    tmp = Path(tempfile.mkdtemp(prefix="im-browser-cost-"))
    db = tmp / "monitor.db"
    prepare_database(db)
    t = time.perf_counter()
    feed = LiveFeed(db, args.minutes)
    prefill_s = time.perf_counter() - t
    web = drv = None
    rows = {}
    try:
        web = Product(db, "serve", log=tmp / "serve.log")
        drv = chromium(perf_log=False)
        sign_in(drv, web.url, "/")
        for m in args.minutes:
            rows[m] = sample_page(drv, f"{web.url}/chair/m{m}", args.sample)
        load.stop()
    finally:
        if drv:
            close_chromium(drv)
        if web:
            web.stop()
        feed.stop()
    first = rows[args.minutes[0]]
    print(load.line())
    print(f"\nSessions prefilled through engine + store ({feed.readings:,} readings in {prefill_s:.1f} s), then fed "
          f"live at 1 Hz; `serve` in a subprocess; each bedside page sampled {args.sample} s after {WARMUP_S} s "
          "to draw (Chrome DevTools Protocol Performance.getMetrics; heap and nodes after a forced GC).\n")
    print("| session minute | main thread busy ms per tick (1 s), median / max | of which script | main thread CPU "
          "ms per tick | ticks answered | long tasks (> 50 ms): n, longest | JS heap MB | heap growth while ticking "
          "kB/min | DOM nodes |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for m, r in rows.items():
        print(f"| {m} | {r['task_ms']:.0f} / {r['task_max']:.0f} | {r['script_ms']:.0f} | {r['cpu_ms']:.0f} | {r['ticks']} "
              f"| {r['long_n']}, {r['long_max']:.0f} ms | {r['heap_mb']:.1f} | {r['heap_growth_kb_min']:+.0f} "
              f"| {r['nodes']:,} |")
    last = rows[args.minutes[-1]]
    print(f"\n**main thread per tick, minute {args.minutes[-1]} / minute {args.minutes[0]}: "
          f"{last['task_ms'] / max(first['task_ms'], 1e-9):.2f}×** busy time (issue 12 asks ≤ 1.5×), "
          f"{last['cpu_ms'] / max(first['cpu_ms'], 1e-9):.2f}× CPU time (less moved by other load); heap "
          f"{last['heap_mb'] / max(first['heap_mb'], 1e-9):.2f}×, DOM nodes {last['nodes'] / max(first['nodes'], 1):.2f}×.")


if __name__ == "__main__":
    main()
