"""A clinic under load: 12 live chairs, 10 bedside pages and 2 overview screens, then the
same while another process replays a big recording at max speed into the same database.

Reports requests answered, bedside tick latency (p50/p95/max), readings in (handed to
the chairs) vs stored, device_disconnected alarms, the longest gap between a chair's
stored readings, the most rows held in memory, memory of the server process, and the
machine's load. Prints Markdown (benchmarks/RESULTS-load.md keeps a run).

    .venv/bin/python benchmarks/load.py [SECONDS]      (default 120 per run; each run in its own process)
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from load_harness import percentiles, run_load, write_replay_csv  # noqa: E402

CHAIRS, BEDSIDE, OVERVIEW = 12, 10, 2
BULK_HOURS, BULK_HZ = 24, 2  # a 24-hour recording, HR/SpO2/PI twice a second: ~8 MB, ~520,000 rows


def describe(title: str, run) -> list[str]:
    ok = sum(r["ok"] for r in run.requests)
    ticks = percentiles(run.latencies())
    overview = percentiles(run.latencies(bedside=False))
    gap = max(c["longest_gap_s"] for c in run.chairs.values())
    alarms = sum(len(c["disconnected"]) for c in run.chairs.values())
    lines = [f"### {title}", "",
             f"{run.seconds:.0f} s; load average {run.load_start[0]:.2f} at start, {run.load_end[0]:.2f} at end "
             f"({os.cpu_count()} cores)", "",
             "| measure | value |", "|---|---:|",
             f"| requests answered (valid Dash answer) / sent | {ok:,} / {len(run.requests):,} |",
             f"| bedside tick ms p50 / p95 / max (n={ticks['n']:,}) | "
             f"{ticks['p50']:.0f} / {ticks['p95']:.0f} / {ticks['max']:.0f} |",
             f"| overview poll ms p50 / p95 / max (n={overview['n']:,}) | "
             f"{overview['p50']:.0f} / {overview['p95']:.0f} / {overview['max']:.0f} |",
             f"| readings in (handed to the chairs) / stored | {run.received:,} / {run.stored:,} |",
             f"| device_disconnected alarms | {alarms} |",
             f"| longest gap between a chair's stored readings | {gap:.1f} s |",
             f"| most rows held in memory at once | {run.max_held:,} |",
             f"| write problems shown | {len(run.write_problems)} |",
             f"| requests queued behind waitress's 8 busy threads, deepest | {run.queue_deepest} |",
             f"| server RSS start / end / peak | {run.rss_start_mb:.0f} / {run.rss_end_mb:.0f} / "
             f"{run.rss_peak_mb:.0f} MB |"]
    if run.writer:
        during = percentiles(run.latencies(window=run.writer_window))
        lines += [f"| bulk replay: rows / stored / seconds | {run.writer['readings']:,} / "
                  f"{run.writer_rows_stored:,} / {run.writer_window[1] - run.writer_window[0]:.0f} |",
                  f"| bedside tick ms while it ran p50 / p95 / max (n={during['n']:,}) | "
                  f"{during['p50']:.0f} / {during['p95']:.0f} / {during['max']:.0f} |"]
    bad = [r for r in run.requests if not r["ok"]]
    if bad:
        lines += ["", f"First failed request: {bad[0]}"]
    return lines + [""]


def one_run(kind: str, seconds: float) -> None:
    """One run in this process (so its memory figures are its own)."""
    with tempfile.TemporaryDirectory(prefix="im-load-") as tmp:
        tmp = Path(tmp)
        if kind == "plain":
            print("\n".join(describe("Live load", run_load(tmp, CHAIRS, BEDSIDE, OVERVIEW, seconds))))
            return
        bulk = tmp / "bulk.csv"
        rows = write_replay_csv(bulk, BULK_HOURS * 3600, BULK_HZ)
        run = run_load(tmp, CHAIRS, BEDSIDE, OVERVIEW, seconds, bulk_csv=bulk, bulk_after=10.0, tail=10.0)
        print("\n".join(describe(f"With `replay --speed max` of a {bulk.stat().st_size / 1e6:.1f} MB recording "
                                 f"({rows:,} rows) on the same database", run)))


def main() -> None:
    if len(sys.argv) > 2:  # python load.py plain|bulk SECONDS: one run
        one_run(sys.argv[1], float(sys.argv[2]))
        return
    seconds = sys.argv[1] if len(sys.argv) > 1 else "120"
    print(f"{CHAIRS} simulated chairs under live acquisition; {BEDSIDE} bedside pages and {OVERVIEW} overview "
          "screens polling once a second (real waitress; the pages in a separate client process)\n", flush=True)
    for kind in ("plain", "bulk"):
        subprocess.run([sys.executable, __file__, kind, seconds], check=False)


if __name__ == "__main__":
    main()
