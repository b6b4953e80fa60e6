"""The browser's cost of one bedside page kept open while its session gets long: main
thread per tick, JS heap and DOM nodes at session minute 1, 60 and 240 (issue 12 item 3).

One simulated session on a temp database, written through the same recorder acquisition
uses (engine + store's batched writer) with a heartbeat a second (`LiveFeed`, in this
process); `infusion-monitor serve` shows it; a signed-in headless Chromium keeps its
bedside page open from minute 1. At each sampling point the session runs in real time
(one second of readings a second) and Chrome's own counters (CDP Performance.getMetrics)
are read every second for SAMPLE_S: TaskDuration (main thread busy, less the
benchmark's own DevTools calls), ScriptDuration, ThreadTime (main thread CPU), and
JSHeapUsedSize and Nodes after a forced garbage collection; the page's long tasks
(> 50 ms) are counted. Between sampling points the session is accelerated (`--speed`
session seconds per wall second, the readings stamped ahead of the wall clock, which
the session clock allows), so the page is extended tick by tick to four hours of data
as a page open for four hours would be, in a few minutes.

    .venv/bin/python benchmarks/browser_cost.py [--sample 20] [--minutes 1 60 240] [--speed 240]
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
from typing import Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_machine import MachineLoad  # noqa: E402
from live_harness import (SimSession, Product, chromium, chromium_cpu, close_chromium, metrics, page_record, prepare_database,  # noqa: E402
                          sign_in)

WARMUP_S = 5
DRAW_TIMEOUT_S = 180
SATURATED_MS = 950  # main thread busy per second at which the page no longer keeps up
# drawn: the HR numeric and at least one trend trace with points (Plotly's SVG or WebGL layer)
DRAWN_JS = """return !!document.getElementById('num-hr') && [...document.querySelectorAll('#bed-trend .js-plotly-plot')]
  .some(p => (p.data || []).some(t => (t.x || []).length > 0))"""


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sample", type=int, default=20, help="seconds of ticks sampled per page")
    p.add_argument("--minutes", type=int, nargs="+", default=[1, 60, 240], help="session minutes to sample at")
    p.add_argument("--speed", type=float, default=240.0, help="session seconds per wall second between samples")
    p.add_argument("--screenshots", metavar="DIR", help="save each page as it was sampled (to check what was drawn)")
    return p.parse_args(argv)


class LiveFeed:
    """One session on chair "long", started a minute ago, fed every wall second with `rate`
    session seconds of readings (1: real time), with acquisition's heartbeat."""

    CHAIR = "long"

    def __init__(self, db: Path):
        from monitor.protocol import load_protocol
        from monitor.store import Store
        self.store = Store(db)
        now = time.time()
        self.session = SimSession(self.store, load_protocol(), self.CHAIR, now - 55)
        self.clock = now  # the session's newest second
        self.readings = self.session.run_until(self.clock)
        self.store.flush()
        self.store.start_writer()  # the batched writer acquisition runs (Acquisition.start)
        self.started, self.rate, self.target = now, 1.0, now
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="live-feed", daemon=True)
        self._thread.start()

    @property
    def minute(self) -> float:
        return (self.clock - self.session.t0) / 60

    def _run(self) -> None:
        while not self._stop.wait(1.0 - (time.time() % 1.0)):
            self.clock = min(self.clock + self.rate, self.target) if self.rate > 1 else self.clock + 1
            self.readings += self.session.run_until(self.clock)
            now = time.time()
            self.store.heartbeat([self.CHAIR], now, os.getpid(), socket.gethostname(), self.started)

    def run_to(self, minute: float, speed: float) -> float:
        """Accelerate until the session reaches `minute`; then real time again. Returns wall s."""
        began = time.monotonic()
        if self.minute < minute:
            self.target = self.session.t0 + minute * 60
            self.rate = speed
            while self.clock < self.target:
                time.sleep(0.2)
            self.rate = 1.0
        return time.monotonic() - began

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.store.close()


def open_page(drv, url: str) -> float:
    """Open the page and wait for its first tick to be drawn (numerics and trend); seconds taken."""
    opened = time.time()
    drv.get(url)
    end = time.monotonic() + DRAW_TIMEOUT_S
    while not drv.execute_script(DRAWN_JS):
        if time.monotonic() > end:
            raise RuntimeError(f"{url}: not drawn in {DRAW_TIMEOUT_S} s")
        time.sleep(0.1)
    return time.time() - opened


def sample_page(drv, seconds: int, screenshot: Optional[Path] = None) -> dict:
    """The open page ticking in real time: WARMUP_S to settle, then one getMetrics a second."""
    time.sleep(WARMUP_S)
    drv.execute_cdp_cmd("HeapProfiler.collectGarbage", {})
    first = metrics(drv)
    began = time.time()
    cpu_before = chromium_cpu(drv)
    samples = [first]
    for _ in range(seconds):
        time.sleep(1.0)
        samples.append(metrics(drv))
    ended = time.time()
    cpu_after = chromium_cpu(drv)
    per_kind = {k: (cpu_after.get(k, 0.0) - cpu_before.get(k, 0.0)) * 1000 / (ended - began) for k in cpu_after}
    drv.execute_cdp_cmd("HeapProfiler.collectGarbage", {})
    last = metrics(drv)
    if screenshot:
        drv.save_screenshot(str(screenshot))
    pairs = list(zip(samples, samples[1:]))
    # per second of the page's own clock (Timestamp): a loaded machine stretches the 1 s between samples
    delta = lambda key: [(b[key] - a[key]) * 1000 / (b["Timestamp"] - a["Timestamp"]) for a, b in pairs]  # noqa: E731
    # the benchmark's own getMetrics calls run on the main thread too: taken out
    per_s = [t - d for t, d in zip(delta("TaskDuration"), delta("DevToolsCommandDuration"))]
    script, cpu = delta("ScriptDuration"), delta("ThreadTime")
    record = page_record(drv)
    ticks = [n for n in record["net"] if n["tick"] and began * 1000 <= n["t0"] <= ended * 1000]
    long_tasks = [t["ms"] for t in record["longtasks"] if began * 1000 <= t["t"] <= ended * 1000]
    return {"renderer_ms": per_kind.get("renderer", 0.0), "gpu_ms": per_kind.get("gpu-process", 0.0),
            "task_ms": statistics.median(per_s), "task_max": max(per_s), "script_ms": statistics.median(script),
            "cpu_ms": statistics.median(cpu),
            "ticks": len(ticks), "seconds": ended - began,
            "heap_mb": last["JSHeapUsedSize"] / 1e6, "nodes": int(last["Nodes"]),
            "long_n": len(long_tasks), "long_max": max(long_tasks, default=0.0)}


def main(argv=None) -> None:
    args = parse_args(argv)
    load = MachineLoad()
    tmp = Path(tempfile.mkdtemp(prefix="im-browser-cost-"))
    db = tmp / "monitor.db"
    prepare_database(db)
    feed = LiveFeed(db)
    web = drv = None
    rows, reach = {}, {}
    try:
        web = Product(db, "serve", log=tmp / "serve.log")
        drv = chromium(perf_log=False)
        sign_in(drv, web.url, "/")
        first_draw = open_page(drv, f"{web.url}/chair/{LiveFeed.CHAIR}")
        for m in args.minutes:
            reach[m] = feed.run_to(m, args.speed)
            at = feed.minute
            shot = Path(args.screenshots) / f"minute-{m}.png" if args.screenshots else None
            rows[m] = dict(sample_page(drv, args.sample, shot), minute=at)
        load.stop()
    finally:
        if drv:
            close_chromium(drv)
        if web:
            web.stop()
        feed.stop()
    first = rows[args.minutes[0]]
    print(load.line())
    print(f"\nOne bedside page kept open (`serve` in a subprocess; first drawn {first_draw:.1f} s after opening) while "
          f"its simulated session ran to minute {args.minutes[-1]} ({feed.readings:,} readings), accelerated "
          f"{args.speed:g}× between sampling points; at each, {WARMUP_S} s in real time to settle, then {args.sample} "
          "s sampled (Chrome DevTools Protocol Performance.getMetrics; heap and nodes after a forced GC).\n")
    print("| session minute | main thread busy ms per second (1 tick/s), median / max | of which script | main thread CPU ms "
          "per second | renderer process / GPU process CPU ms per second | ticks answered / s | long tasks (> 50 ms): "
          "n, longest | JS heap MB | DOM nodes | wall s to get here |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for m, r in rows.items():
        print(f"| {r['minute']:.0f} | {r['task_ms']:.0f} / {r['task_max']:.0f} | {r['script_ms']:.0f} | {r['cpu_ms']:.0f} "
              f"| {r['renderer_ms']:.0f} / {r['gpu_ms']:.0f} "
              f"| {r['ticks']} / {r['seconds']:.0f} | {r['long_n']}, {r['long_max']:.0f} ms | {r['heap_mb']:.1f} "
              f"| {r['nodes']:,} | {reach[m]:.0f} |")
    saturated = [m for m, r in rows.items() if r["task_ms"] >= SATURATED_MS]
    if saturated:
        print(f"\nAt minute {', '.join(map(str, saturated))} the main thread was busy the whole second (≥ "
              f"{SATURATED_MS} ms): the page could not keep up, and a ratio against a full second is a floor, not "
              "the cost.")
    last = rows[args.minutes[-1]]
    print(f"\n**main thread per tick, minute {args.minutes[-1]} / minute {args.minutes[0]}: "
          f"{last['task_ms'] / max(first['task_ms'], 1e-9):.2f}×** busy time (issue 12 asks ≤ 1.5×), "
          f"{last['cpu_ms'] / max(first['cpu_ms'], 1e-9):.2f}× its CPU time, "
          f"{(last['renderer_ms'] + last['gpu_ms']) / max(first['renderer_ms'] + first['gpu_ms'], 1e-9):.2f}× "
          f"renderer + GPU process CPU; heap "
          f"{last['heap_mb'] / max(first['heap_mb'], 1e-9):.2f}×, DOM nodes {last['nodes'] / max(first['nodes'], 1):.2f}×.")


if __name__ == "__main__":
    main()
