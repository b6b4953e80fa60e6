"""Live-page cost: ingest rate, and one bedside tick at minute 1 vs minute 60.

Compares the incremental tick (cursor + Patch) with the naive pattern (rebuild the
whole figure from SQL every second) in the same run. Prints a Markdown table.

    .venv/bin/python benchmarks/live_tick.py
"""
from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent.parent), str(Path(__file__).resolve().parent)]

from dash._utils import to_json  # noqa: E402

from bench_machine import MachineLoad  # noqa: E402
from live_harness import SimSession  # noqa: E402

from monitor.protocol import load_protocol  # noqa: E402
from monitor.store import Store, queries  # noqa: E402
from monitor.web import trend  # noqa: E402
from monitor.web.bedside import KEYS, bedside_tick  # noqa: E402

STATE = KEYS.index("bed-state.data")  # the page's cursor among the tick's outputs
TREND_NEW = KEYS.index("bed-trend-new.data")  # the trend's new points, which the browser adds in place

REPEAT = 30


class LiveSession(SimSession):
    """A session on chair 1, fed second by second as acquisition would, counted from its start."""

    def __init__(self, store, protocol, t0):
        self.store = store
        super().__init__(store, protocol, "1", t0)

    def run_until(self, seconds: int) -> int:  # noqa: D401 (seconds into the session, then committed)
        n = super().run_until(self.t0 + seconds)
        self.store.flush()
        return n


def measure(fn):
    times = []
    out = None
    for _ in range(REPEAT):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000, out


def main() -> None:
    protocol = load_protocol()
    load = MachineLoad()
    tmp = Path(tempfile.mkdtemp())
    rows = []

    # ingest: a 60-minute session through engine and store
    store = Store(tmp / "ingest.db")
    t = time.perf_counter()
    n = LiveSession(store, protocol, time.time() - 4000).run_until(3600)
    dt = time.perf_counter() - t
    ingest = n / dt

    for minute in (1, 60):
        store = Store(tmp / f"m{minute}.db")
        live = LiveSession(store, protocol, time.time() - 4000)
        live.run_until(minute * 60 - 1)
        state = {"chair": "1", "session_id": None}
        state = bedside_tick(store, protocol, state)[STATE]  # the page has been open
        live.run_until(minute * 60)  # one more second of data arrives

        def incremental():
            return bedside_tick(store, protocol, dict(state, last=dict(state["last"])))

        def naive():
            sid = live.sid
            return trend.full_figure(queries.readings(store, sid, trend.TRACES),
                                     queries.events(store, sid), protocol, queries.baselines(store, sid))

        inc_ms, inc_out = measure(incremental)
        naive_ms, naive_out = measure(naive)
        inc_bytes = len(to_json([o for k, o in enumerate(inc_out) if k != STATE]))
        fig_bytes = len(to_json(inc_out[TREND_NEW]))
        naive_bytes = len(to_json(naive_out))
        rows.append((minute, inc_ms, inc_bytes, fig_bytes, naive_ms, naive_bytes))

    load.stop()
    print(load.line() + "\n")
    print(f"ingest: {ingest:,.0f} readings/s through engine + store, in one process with no devices or pages "
          "(60-min session, 1 Hz oximeter + NIBP)\n")
    print("| session minute | incremental tick ms | tick bytes (all outputs) | of which trend patch | "
          "naive rebuild ms | naive figure bytes |")
    print("|---:|---:|---:|---:|---:|---:|")
    for m, a, b, c, d, e in rows:
        print(f"| {m} | {a:.1f} | {b:,} | {c:,} | {d:.1f} | {e:,} |")
    print("\nServer side only: what the browser then does with the answer is benchmarks/browser_cost.py; the bytes "
          "here are the answer's outputs, without the request (which carries `bed-state` up again) or headers: "
          "the wire, both ways, is benchmarks/live_latency.py.")


if __name__ == "__main__":
    main()
