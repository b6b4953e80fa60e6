"""N-chair ingest from real acquisition: of the samples the devices sent, how many were stored.

For each N (12, 50, 100 by default): N emulated Masimo Radical-7s on ptys, one line a
second each with a distinct HR from the seconds around it (benchmarks/live_harness.py),
under `infusion-monitor run --config` (every chair with an open session) on a fresh temp
database. After a warm-up, SECONDS of lines count; then the devices stop, acquisition is
stopped the way Ctrl-C stops it (every held row flushed) and each counted line is looked
for among the chair's stored HR rows (same value, nearest in time).

Prints per N: lines sent, stored, written/expected (issue 12: 1.000 wanted; 0.954-0.959
measured before), the worst chair, how far each stored `ts` is from its line's write
(item 1: within 50 ms), and the acquisition process's CPU.

    .venv/bin/python benchmarks/ingest_chairs.py [--seconds 30] [--chairs 12 50 100]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_machine import MachineLoad, pct_cells  # noqa: E402
from live_harness import (MasimoWriters, Product, clinic_toml, match_writes, prepare_database, sawtooth,  # noqa: E402
                          session_ids, stored_hr)

WARMUP_S = 5
TAIL_S = 3


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=int, default=30, help="seconds of lines counted per run")
    p.add_argument("--chairs", type=int, nargs="+", default=[12, 50, 100], help="chair counts, one run each")
    return p.parse_args(argv)


def one_run(n: int, seconds: int) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix=f"im-ingest-{n}-"))
    db = tmp / "monitor.db"
    prepare_database(db)
    writers = MasimoWriters(n, lambda i, k: sawtooth(k, 3 * i)).start()
    config = clinic_toml(tmp / "clinic.toml", [(str(i + 1), [f"masimo:{p.path}"], f"ING-{i + 1}")
                                               for i, p in enumerate(writers.ports)])
    load = MachineLoad()
    acquisition = None
    try:
        started = time.monotonic()
        acquisition = Product(db, "run", "--config", str(config), log=tmp / "run.log")
        start_s = time.monotonic() - started
        time.sleep(WARMUP_S)
        lo, cpu0 = time.time(), acquisition.cpu_seconds()
        time.sleep(seconds)
        hi, cpu = time.time(), acquisition.cpu_seconds() - cpu0
        time.sleep(TAIL_S)
        load.stop()
        writers.stop()
    finally:
        if acquisition:
            acquisition.stop()
        writers.close()
    sids = session_ids(db)
    per_chair, offsets = [], []
    for i in range(n):
        counted = [(t, hr) for c, t, hr in writers.writes if c == i and lo <= t <= hi]
        matches = match_writes(counted, stored_hr(db, sids[str(i + 1)]))
        per_chair.append((sum(m[2] is not None for m in matches), len(matches)))
        offsets += [(row["ts"] - t) * 1000 for t, _, row in matches if row is not None]
    return {"n": n, "per_chair": per_chair, "offsets": offsets, "cpu": cpu / (hi - lo), "load": load,
            "start_s": start_s}


def main(argv=None) -> None:
    args = parse_args(argv)
    runs = [one_run(n, args.seconds) for n in args.chairs]
    print(f"Emulated Masimos on ptys, one line a second each, under `infusion-monitor run --config`; "
          f"{args.seconds} s of lines counted per run after {WARMUP_S} s warm-up.\n")
    print("| chairs | lines sent | HR rows stored | **written / expected** | worst chair | stored `ts` − write, "
          "ms p50 / p95 / max | acquisition CPU (cores) | `run` up in |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in runs:
        written, sent = sum(w for w, _ in r["per_chair"]), sum(s for _, s in r["per_chair"])
        worst = min(r["per_chair"], key=lambda ws: ws[0] / max(ws[1], 1))
        print(f"| {r['n']} | {sent:,} | {written:,} | **{written / max(sent, 1):.3f}** | {worst[0]} / {worst[1]} "
              f"| {pct_cells(r['offsets'])} | {r['cpu']:.2f} | {r['start_s']:.1f} s |")
    print()
    for r in runs:
        print(f"- {r['n']} chairs: {r['load'].line()}")


if __name__ == "__main__":
    main()
